//! `plugboard plugin check DIR`: runs the conformance steps of `plugins/check.rs` on a package
//! folder here, confined as `serve` would confine it, and prints what passed and what to fix.
//! Exit 0 when every step passed or did not apply, 1 otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use super::output::print_json;
use super::plugin::CheckArgs;
use crate::plugins::check::{self, CheckOptions, Verdict};
use crate::plugins::confinement::Confinement;

pub async fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let parse = |flag: &str, text: &str| -> anyhow::Result<Value> {
        serde_json::from_str(text).with_context(|| format!("{flag} is not JSON: {text}"))
    };
    let options = CheckOptions {
        config: args
            .config
            .as_deref()
            .map(|text| parse("--config", text))
            .transpose()?,
        payload: parse("--payload", &args.payload)?,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        ..CheckOptions::default()
    };
    let package = check::package_folder(&args.dir)
        .with_context(|| format!("resolving the path {}", args.dir.display()))?;
    let scratch = tempfile::tempdir().context("a temporary data folder for the plugin")?;
    {
        // A plugin that runs as a user of its own must reach its data folder inside.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755))
            .context("opening the temporary data folder to the plugin")?;
    }
    let confinement = Confinement::shared_default();
    let steps = check::check(&package, scratch.path(), &confinement, &options).await;
    let failed = steps
        .iter()
        .filter(|step| step.verdict == Verdict::Failed)
        .count();
    if args.json {
        let steps: Vec<Value> = steps
            .iter()
            .map(|step| {
                json!({
                    "step": step.name,
                    "verdict": match step.verdict {
                        Verdict::Passed => "passed",
                        Verdict::Failed => "failed",
                        Verdict::Skipped => "skipped",
                    },
                    "detail": step.detail,
                })
            })
            .collect();
        print_json(&json!({"package": package, "passed": failed == 0, "steps": steps}))?;
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        println!("checking {}", package.display());
        for step in &steps {
            let (word, code) = match step.verdict {
                Verdict::Passed => ("ok  ", "32"),
                Verdict::Failed => ("FAIL", "31"),
                Verdict::Skipped => ("skip", "2"),
            };
            let word = if colour {
                format!("\u{1b}[{code}m{word}\u{1b}[0m")
            } else {
                word.to_owned()
            };
            println!("  {word}  {:<10} {}", step.name, step.detail);
        }
        if failed == 0 {
            println!("the plugin passed every check");
        } else {
            println!(
                "{} failed; fix {} and run the check again",
                crate::words::count(failed as u64, "check"),
                if failed == 1 { "it" } else { "them" }
            );
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
