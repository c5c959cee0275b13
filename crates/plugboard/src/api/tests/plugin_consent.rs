//! What reaches beyond a plugin's sandbox is the admin token's alone: installing or updating
//! from a path on the server, and granting permissions. The grant a plugin holds is shown with it.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Server, ADMIN, NO_LIMITS};
use crate::store::{InstalledPlugin, PluginState, Store, Timestamp};

crate::store::testing::for_each_store!(
    server_paths_and_grants_are_the_admin_tokens_alone,
    a_plugins_grant_is_shown_with_it,
);

async fn server_paths_and_grants_are_the_admin_tokens_alone(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let (_, global) = server.token(None, "write").await;
    let grant = json!({"network": true, "read": [], "write": [], "env": ["HTTPS_PROXY"], "unix_sockets": false});
    let refused = [
        (
            "/api/v1/plugins",
            json!({"source": "/srv/packages/evil"}),
            "only the admin token may install or update from a path on the server",
        ),
        (
            "/api/v1/plugins/hello/update",
            json!({"source": "/srv/packages/evil.tar.gz"}),
            "only the admin token may install or update from a path on the server",
        ),
        (
            "/api/v1/plugins",
            json!({"source": "https://example.test/hello.tar.gz", "grant_permissions": grant}),
            "only the admin token may grant a plugin permissions",
        ),
        (
            "/api/v1/plugins/hello/update",
            json!({"version": "1.0.0", "grant_permissions": grant}),
            "only the admin token may grant a plugin permissions",
        ),
    ];
    for (path, body, says) in refused {
        let (status, problem) = server.post(path, &global, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    // A URL without a grant stays open to global write tokens.
    let (status, job) = server
        .post(
            "/api/v1/plugins",
            &global,
            json!({"source": "https://example.test/hello.tar.gz"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(
        job["payload"],
        json!({"source": "https://example.test/hello.tar.gz"})
    );

    // The admin's grant goes into the job, for the installer to compare with the manifest.
    let (status, job) = server
        .post(
            "/api/v1/plugins",
            ADMIN,
            json!({"source": "/srv/packages/hello", "grant_permissions": {"network": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(
        job["payload"]["grant_permissions"],
        json!({"network": true, "read": [], "write": [], "env": [], "unix_sockets": false})
    );
    let (status, job) = server
        .post(
            "/api/v1/plugins/hello/update",
            ADMIN,
            json!({"source": "/srv/packages/hello-2", "grant_permissions": grant}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["payload"]["grant_permissions"], grant);
    let (status, problem) = server
        .post(
            "/api/v1/plugins",
            ADMIN,
            json!({"source": "/srv/packages/hello", "grant_permissions": {"root": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // An upload carries its grant in the query.
    let archive = b"\x1f\x8b not really a package, the job would find out".to_vec();
    let query = format!("?grant_permissions={}", percent_encoded(&grant.to_string()));
    let (status, job) = server
        .upload(
            &format!("/api/v1/plugins{query}"),
            Some(ADMIN),
            "application/gzip",
            archive.clone(),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["payload"]["grant_permissions"], grant);
    let (status, problem) = server
        .upload(
            "/api/v1/plugins?grant_permissions=network",
            Some(ADMIN),
            "application/gzip",
            archive,
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "grant_permissions");
    let (status, problem) = server
        .call(
            Method::POST,
            "/api/v1/plugins?grant_permissions=%7B%7D",
            Some(ADMIN),
            Some(json!({"source": "https://example.test/hello.tar.gz"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    server.finish().await;
}

async fn a_plugins_grant_is_shown_with_it(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let row = |id: &str, granted| InstalledPlugin {
        id: id.to_owned(),
        active_version: Some("1.0.0".to_owned()),
        previous_version: None,
        state: PluginState::Enabled,
        error: None,
        source: None,
        changed_by: None,
        granted_permissions: granted,
        updated_at: Timestamp(0),
    };
    let granted = json!({"network": true, "read": ["/srv/shared"], "write": [], "env": []});
    store
        .plugin_put(row("hello", Some(granted.clone())))
        .await
        .unwrap();
    store.plugin_put(row("legacy", None)).await.unwrap();
    let (_, reader) = server.token(Some("acme"), "read").await;
    let (status, hello) = server.get("/api/v1/plugins/hello", &reader).await;
    assert_eq!(status, StatusCode::OK, "{hello}");
    assert_eq!(hello["granted_permissions"], granted);
    let (_, list) = server.get("/api/v1/plugins", &reader).await;
    assert_eq!(list["plugins"][0]["granted_permissions"], granted);
    assert_eq!(list["plugins"][1]["granted_permissions"], json!(null));
    server.finish().await;
}

/// Every byte but letters and digits as `%XX`.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}
