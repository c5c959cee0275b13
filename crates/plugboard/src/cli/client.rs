//! The CLI's HTTP client of `/api/v1`: `--url` (env `PLUGBOARD_URL`) and `--token` (env
//! `PLUGBOARD_TOKEN`). A problem document becomes an error with its detail, so the user reads
//! what the server said to do.

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::Value;

/// Where the API is and who calls it. Without `--url`, commands that can open the store
/// directly do so.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteArgs {
    /// The plugboard server to call (http://HOST:PORT); without it, the store is opened directly
    #[arg(long, env = "PLUGBOARD_URL", value_name = "URL")]
    pub url: Option<String>,
    /// The API token (or the admin token) sent with every request
    #[arg(
        long,
        env = "PLUGBOARD_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// A client of one server.
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// # Errors
    /// No token given.
    pub fn new(url: &str, token: Option<&str>) -> anyhow::Result<ApiClient> {
        let Some(token) = token else {
            bail!("--url needs a token: pass --token or set PLUGBOARD_TOKEN (the admin token is in DATA_DIR/admin-token)");
        };
        Ok(ApiClient {
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        })
    }

    /// Sends a request and answers the JSON body of a success.
    ///
    /// # Errors
    /// The server unreachable, or its problem document's detail.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let response = self.send(method, path, body, None).await?;
        let text = response
            .text()
            .await
            .context("reading the server's answer")?;
        serde_json::from_str(&text)
            .with_context(|| format!("the server answered something that is not JSON: {text}"))
    }

    /// Sends a request and answers the response of a success, for streams.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        accept: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach plugboard at {}; is `plugboard serve` running there? (--url, PLUGBOARD_URL)", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|problem| problem["detail"].as_str().map(str::to_owned))
            .unwrap_or(text);
        bail!("{detail} (HTTP {})", status.as_u16())
    }

    /// Sends a request and answers the status with the JSON body, problem documents included,
    /// for commands that show a refusal themselves (a validation's field errors).
    ///
    /// # Errors
    /// The server unreachable, or an answer that is not JSON.
    pub async fn call_answer(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach plugboard at {}; is `plugboard serve` running there? (--url, PLUGBOARD_URL)", self.base))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .context("reading the server's answer")?;
        let value = serde_json::from_str(&text)
            .with_context(|| format!("the server answered something that is not JSON: {text}"))?;
        Ok((status, value))
    }
}
