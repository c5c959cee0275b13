//! `plugboard token create|list|revoke`: the admin's API tokens, over the HTTP API only (the
//! store keeps the sha256 of a secret, so a secret exists only in the server's answer).

use reqwest::Method;
use serde_json::json;

use super::client::ClientArgs;
use super::output::{encode, or_dash, print_json, text, Table};

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create an API token; its secret is printed this once
    Create(CreateArgs),
    /// List API tokens (never their secrets)
    List(ListArgs),
    /// Revoke a token: it stops working at once
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// What the token is for (1 to 200 characters)
    pub name: String,
    /// Confine the token to one tenant [default: every tenant]
    #[arg(long)]
    pub tenant: Option<String>,
    /// `read` (GET only) or `write`
    #[arg(long, default_value = "read", value_parser = ["read", "write"])]
    pub access: String,
    /// Expire after this long (`30d`, `12h`, `90min`) [default: never]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub expires_in: Option<std::time::Duration>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The token's id (tok_…)
    pub id: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(command: TokenCommand) -> anyhow::Result<i32> {
    match command {
        TokenCommand::Create(args) => {
            let client = args.client.connect()?;
            let mut body = json!({"name": args.name, "tenant": args.tenant, "access": args.access});
            if let Some(expires_in) = args.expires_in {
                body["expires_in_seconds"] = json!(expires_in.as_secs().max(1));
            }
            let token = client
                .call(Method::POST, "/api/v1/tokens", Some(body))
                .await?;
            if args.json {
                print_json(&token)?;
            } else {
                println!("{}", text(&token["secret"]));
                eprintln!(
                    "token {} ({}, {}) created; the secret above is shown this once: keep it now",
                    text(&token["id"]),
                    or_dash(&token["tenant"]),
                    text(&token["access"])
                );
            }
        }
        TokenCommand::List(args) => {
            let client = args.client.connect()?;
            let answer = client.call(Method::GET, "/api/v1/tokens", None).await?;
            if args.json {
                print_json(&answer)?;
            } else {
                let mut table =
                    Table::new(["id", "name", "tenant", "access", "expires", "revoked"]);
                for token in answer["tokens"].as_array().into_iter().flatten() {
                    table.row([
                        text(&token["id"]),
                        text(&token["name"]),
                        or_dash(&token["tenant"]),
                        text(&token["access"]),
                        or_dash(&token["expires_at"]),
                        or_dash(&token["revoked_at"]),
                    ]);
                }
                table.print()?;
            }
        }
        TokenCommand::Revoke(args) => {
            let client = args.client.connect()?;
            let answer = client
                .call(
                    Method::DELETE,
                    &format!("/api/v1/tokens/{}", encode(&args.id)),
                    None,
                )
                .await?;
            if args.json {
                print_json(&answer)?;
            } else {
                println!("token {} revoked", args.id);
            }
        }
    }
    Ok(0)
}
