//! `plugboard console-link`: a new one-time sign-in link for the admin console, made by a
//! running server (`POST /api/v1/session/links`, admin only). `plugboard serve` prints the
//! first one at start; this makes another when that one was used or expired.

use anyhow::Context;
use reqwest::Method;

use super::client::ClientArgs;

#[derive(Debug, clap::Args)]
pub struct ConsoleLinkArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: ConsoleLinkArgs) -> anyhow::Result<i32> {
    let client = args.client.connect()?;
    let link = client
        .call(Method::POST, "/api/v1/session/links", None)
        .await
        .context("asking the server for a sign-in link")?;
    let path = link["path"]
        .as_str()
        .context("the server's answer has no `path`; is it a plugboard server of this version?")?;
    println!("{}{path}", client.base().trim_end_matches('/'));
    eprintln!(
        "one-time sign-in link for the console, valid until {}",
        link["expires_at"].as_str().unwrap_or("15 minutes from now")
    );
    Ok(0)
}
