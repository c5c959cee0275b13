//! `kv/list` through the host's services: a page ends at its byte budget, far below what a
//! plugin could otherwise make the host build for one request, and says so with a cursor.

use serde_json::{json, Value};

use super::super::rpc::HostServices;
use super::super::services::PluginServices;
use crate::store::testing::TestStore;

async fn list(services: &PluginServices, cursor: Option<&str>) -> Value {
    services
        .request(
            "kv/list",
            Some(json!({"tenant": "acme", "prefix": "v:", "cursor": cursor})),
        )
        .await
        .expect("a page")
}

#[tokio::test]
async fn a_page_of_large_values_ends_at_its_byte_budget_with_a_cursor() {
    let store = TestStore::sqlite().await;
    let services = PluginServices::start("pages".to_owned(), store.store.clone());
    // Twelve values of just under 1 MiB: about 12 MiB, three times a page's budget.
    let value = json!("x".repeat(1_000_000));
    for index in 0..12 {
        services
            .request(
                "kv/set",
                Some(json!({"tenant": "acme", "key": format!("v:{index:02}"), "value": value})),
            )
            .await
            .expect("stored");
    }
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = list(&services, cursor.as_deref()).await;
        let items = page["items"].as_array().expect("items");
        assert!(
            page.to_string().len() <= 5 * 1024 * 1024 + 100_000,
            "a page stays near its 4 MiB budget: {} bytes",
            page.to_string().len()
        );
        seen.extend(
            items
                .iter()
                .map(|item| item["key"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..12).map(|index| format!("v:{index:02}")).collect();
    assert_eq!(seen, expected, "every value once, in order");
    assert!(pages >= 3, "{pages} pages");
    store.finish().await;
}
