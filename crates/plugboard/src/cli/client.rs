//! The CLI's HTTP client of `/api/v1`. The server and the token come from `--url` and `--token`,
//! then `PLUGBOARD_URL` and `PLUGBOARD_TOKEN`, then a profile of the profile file
//! (`profile.rs`; `--profile` or `PLUGBOARD_PROFILE`, else the file's `default`). A problem
//! document becomes an [`ApiProblem`] error with its title, detail and field errors, so the user
//! reads what the server said to do.

use std::path::Path;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;

use super::profile::{profile_path, ProfileFile};

/// Which server to call and with which token, as named on the command line, in the environment
/// or by a profile.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteArgs {
    /// The plugboard server to call (http://HOST:PORT) [default: a profile's, else the server
    /// running on the data directory]
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
    /// A profile of ~/.config/plugboard/config.toml to take the URL and token from [default: the
    /// file's `default`]
    #[arg(long, env = "PLUGBOARD_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
}

impl RemoteArgs {
    /// The client of the server named by the flags, the environment or a profile, in that
    /// order; `None` when nothing names one.
    ///
    /// A profile's token is used with the profile's URL only: when the URL comes from `--url`
    /// or `PLUGBOARD_URL` and differs from the profile's, the token must come from `--token` or
    /// `PLUGBOARD_TOKEN`, so a token is never sent to a server it was not saved for.
    ///
    /// # Errors
    /// The profile file cannot be read, is readable by others while holding a token, or lacks
    /// the profile named; a URL without a token.
    pub fn client(&self) -> anyhow::Result<Option<ApiClient>> {
        if let (Some(url), Some(token)) = (&self.url, &self.token) {
            return ApiClient::new(url, Some(token)).map(Some);
        }
        let path = profile_path();
        let file = match &path {
            Some(path) => ProfileFile::load(path)?,
            None if self.profile.is_some() => bail!(
                "--profile needs the profile file, and neither XDG_CONFIG_HOME nor HOME is set to find it"
            ),
            None => ProfileFile::default(),
        };
        let profile = match &path {
            Some(path) => file.select(self.profile.as_deref(), path)?,
            None => None,
        };
        let profile_url = profile.and_then(|profile| profile.url.as_deref());
        let Some(url) = self.url.as_deref().or(profile_url) else {
            return Ok(None);
        };
        let same_server = profile_url.is_some_and(|saved| same_url(saved, url));
        let token = self.token.as_deref().or_else(|| {
            profile
                .filter(|_| same_server)
                .and_then(|profile| profile.token.as_deref())
        });
        ApiClient::new(url, token).map(Some)
    }
}

/// Where a client command finds its server: `--url`, `PLUGBOARD_URL` or a profile, else the
/// server running on the data directory (`local_server.rs`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// With no server named: the data directory of the local `plugboard serve` to call (with the
    /// admin token it keeps there) [default: ./plugboard-data]
    #[arg(long, env = "PLUGBOARD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
}

impl ClientArgs {
    /// The client of the server named, or of the one running on the data directory.
    ///
    /// # Errors
    /// As [`RemoteArgs::client`], and no server found: each message says what to do.
    pub fn connect(&self) -> anyhow::Result<ApiClient> {
        if let Some(client) = self.remote.client()? {
            return Ok(client);
        }
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| crate::settings::DEFAULT_DATA_DIR.into());
        super::local_server::client(&data_dir, self.remote.token.as_deref())
    }
}

fn same_url(left: &str, right: &str) -> bool {
    left.trim_end_matches('/') == right.trim_end_matches('/')
}

/// A problem document the server answered, as an error.
#[derive(Debug, Clone)]
pub struct ApiProblem {
    pub status: u16,
    pub title: String,
    pub detail: String,
    /// (pointer, detail) of each invalid field.
    pub errors: Vec<(String, String)>,
}

impl std::fmt::Display for ApiProblem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.title.is_empty() {
            write!(formatter, "{} (HTTP {})", self.detail, self.status)?;
        } else {
            write!(
                formatter,
                "{}: {} (HTTP {})",
                self.title, self.detail, self.status
            )?;
        }
        for (pointer, detail) in &self.errors {
            write!(formatter, "\n  {pointer}: {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiProblem {}

impl ApiProblem {
    /// The problem in an error answer's body; the body itself as the detail when it is not one.
    fn parse(status: u16, text: &str) -> ApiProblem {
        let problem = serde_json::from_str::<Value>(text).ok();
        let field = |name: &str| {
            problem
                .as_ref()
                .and_then(|problem| problem[name].as_str())
                .map(str::to_owned)
        };
        let errors = problem
            .as_ref()
            .and_then(|problem| problem["errors"].as_array())
            .into_iter()
            .flatten()
            .map(|error| {
                (
                    error["pointer"].as_str().unwrap_or("").to_owned(),
                    error["detail"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        ApiProblem {
            status,
            title: field("title").unwrap_or_default(),
            detail: field("detail").unwrap_or_else(|| {
                if text.trim().is_empty() {
                    "the server answered with an empty error".to_owned()
                } else {
                    text.trim().to_owned()
                }
            }),
            errors,
        }
    }
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
            bail!("the server {url} needs a token: pass --token, set PLUGBOARD_TOKEN, or save it with `plugboard login --url {url} --token TOKEN` (the admin token is in DATA_DIR/admin-token)");
        };
        if !url.starts_with("http://") && !url.starts_with("https://") {
            bail!("`{url}` is not an http:// or https:// URL; give the server's address, e.g. http://127.0.0.1:7700");
        }
        Ok(ApiClient {
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        })
    }

    /// The server's address, as given.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token sent.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Sends a request and answers the JSON body of a success (`null` for an empty one).
    ///
    /// # Errors
    /// The server unreachable, or its problem document as an [`ApiProblem`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let response = self.send(method, path, body, None).await?;
        json_of(response).await
    }

    /// Sends a request and answers the response of a success, for streams.
    ///
    /// # Errors
    /// As [`ApiClient::call`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        accept: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        self.answer(request).await
    }

    /// Sends the file at `file` as the request body, as `content_type`, calling `sent` with the
    /// bytes sent so far; answers the JSON body of a success.
    ///
    /// # Errors
    /// The file cannot be read, the server unreachable, or its problem document.
    pub async fn upload(
        &self,
        path: &str,
        file: &Path,
        content_type: &str,
        sent: impl Fn(u64) + Send + Sync + 'static,
    ) -> anyhow::Result<Value> {
        let opened = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot read {}", file.display()))?;
        let length = opened
            .metadata()
            .await
            .with_context(|| format!("cannot read {}", file.display()))?
            .len();
        let mut total = 0u64;
        let stream = tokio_util::io::ReaderStream::new(opened).map(move |chunk| {
            if let Ok(bytes) = &chunk {
                total += bytes.len() as u64;
                sent(total);
            }
            chunk
        });
        let request = self
            .request(Method::POST, path)
            .header("content-type", content_type)
            .header("content-length", length)
            .body(reqwest::Body::wrap_stream(stream));
        json_of(self.answer(request).await?).await
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let response = request.send().await.with_context(|| {
            format!(
                "cannot reach plugboard at {}; is `plugboard serve` running there? (--url, PLUGBOARD_URL, --profile)",
                self.base
            )
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Err(ApiProblem::parse(status, &text).into())
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

async fn json_of(response: reqwest::Response) -> anyhow::Result<Value> {
    let text = response
        .text()
        .await
        .context("reading the server's answer")?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text)
        .with_context(|| format!("the server answered something that is not JSON: {text}"))
}
