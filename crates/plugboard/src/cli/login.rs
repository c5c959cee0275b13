//! `plugboard login`: checks a server's URL and token, then saves them as a profile of the
//! profile file (`profile.rs`), readable by its owner only.

use std::io::BufRead;

use anyhow::{bail, Context};
use reqwest::Method;

use super::client::ApiClient;
use super::profile::{profile_path, Profile, ProfileFile};

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The server (http://HOST:PORT)
    #[arg(long, env = "PLUGBOARD_URL", value_name = "URL")]
    pub url: String,
    /// The token [default: PLUGBOARD_TOKEN, else one line read from standard input, which keeps
    /// it out of the shell's history]
    #[arg(
        long,
        env = "PLUGBOARD_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The profile's name
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub profile: String,
    /// Save without checking the token against the server
    #[arg(long)]
    pub no_check: bool,
}

pub async fn run(args: LoginArgs) -> anyhow::Result<i32> {
    let token = match args.token {
        Some(token) => token,
        None => {
            eprintln!("token for {} (one line on standard input):", args.url);
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the token from standard input")?;
            line.trim().to_owned()
        }
    };
    if token.is_empty() {
        bail!("no token given: pass --token, set PLUGBOARD_TOKEN, or type it on standard input");
    }
    let valid_name = !args.profile.is_empty()
        && args
            .profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid_name {
        bail!(
            "`{}` is not a profile name; use letters, digits, `_`, `-` or `.`",
            args.profile
        );
    }
    let client = ApiClient::new(&args.url, Some(&token))?;
    if !args.no_check {
        client
            .call(Method::GET, "/api/v1/health", None)
            .await
            .with_context(|| format!("checking the token against {}", args.url))?;
    }
    let path = profile_path().context(
        "neither XDG_CONFIG_HOME nor HOME is set, so there is no place for the profile file",
    )?;
    let mut file = ProfileFile::load(&path)?;
    file.profiles.insert(
        args.profile.clone(),
        Profile {
            url: Some(client.base().to_owned()),
            token: Some(token),
        },
    );
    if file.default.is_none() {
        file.default = Some(args.profile.clone());
    }
    file.save(&path)?;
    let default = file.default.as_deref() == Some(args.profile.as_str());
    println!(
        "saved profile {} for {} in {}{}",
        args.profile,
        client.base(),
        path.display(),
        if default {
            " (the default)"
        } else {
            "; use it with --profile NAME or PLUGBOARD_PROFILE"
        }
    );
    Ok(0)
}
