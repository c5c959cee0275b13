//! `plugboard doctor`: what protects plugin processes on this machine, and whether the data
//! directory the settings name is usable. A table for people, `--json` for scripts.
//!
//! Exit code 0 when plugins can run (even with protections missing: those are printed, and
//! `serve` logs them at start), 1 when something plugins need is broken, with what to do.
//! It changes nothing: no directory is created, no store opened.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::plugins::confinement::Confinement;
use crate::plugins::protections::{Protections, Status};
use crate::settings::{Settings, SettingsArgs};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

/// A check beyond the protections: something plugboard needs to run plugins here.
struct Check {
    id: &'static str,
    name: &'static str,
    ok: bool,
    detail: String,
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<i32> {
    // The user plugins run as comes from the flags, the environment or the config file, as for
    // `serve`; settings that do not resolve are reported by the data directory check.
    let plugin_user = Settings::resolve(&args.settings)
        .map(|settings| settings.plugin_user)
        .unwrap_or(crate::plugins::identity::PluginUser::Auto);
    let confinement = Confinement::inspect(plugin_user);
    let protections = Protections::probe(&confinement);
    let checks = vec![data_dir_check(&args.settings)];
    let ok = protections.ok() && checks.iter().all(|check| check.ok);
    if args.json {
        let checks: Vec<_> = checks
            .iter()
            .map(|check| json!({"id": check.id, "name": check.name, "ok": check.ok, "detail": check.detail}))
            .collect();
        let report = json!({
            "ok": ok,
            "landlock_abi": protections.landlock_abi,
            "protections": protections.protections,
            "checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&protections, &checks, ok);
    }
    Ok(if ok { 0 } else { 1 })
}

fn print_table(protections: &Protections, checks: &[Check], ok: bool) {
    let rows: Vec<(&str, &str, &str)> = protections
        .protections
        .iter()
        .map(|protection| {
            (
                protection.name,
                protection.status.as_str(),
                protection.detail.as_str(),
            )
        })
        .chain(checks.iter().map(|check| {
            (
                check.name,
                if check.ok { "ok" } else { "broken" },
                check.detail.as_str(),
            )
        }))
        .collect();
    let name_width = rows.iter().map(|row| row.0.len()).max().unwrap_or(0);
    let status_width = rows.iter().map(|row| row.1.len()).max().unwrap_or(0);
    println!("Protections of plugin processes on this machine:");
    println!();
    println!(
        "{:name_width$}  {:status_width$}  detail",
        "protection", "status"
    );
    for (name, status, detail) in rows {
        println!("{name:name_width$}  {status:status_width$}  {detail}");
    }
    println!();
    let missing: Vec<&str> = protections
        .protections
        .iter()
        .filter(|protection| protection.status == Status::Missing)
        .map(|protection| protection.name)
        .collect();
    if !ok {
        println!("Plugins cannot run as configured: fix what is marked broken above.");
    } else if missing.is_empty() {
        println!("Every protection is in force.");
    } else {
        println!(
            "Plugins can run; missing here: {}. `plugboard serve` logs this at start.",
            missing.join(", ")
        );
    }
}

fn data_dir_check(args: &SettingsArgs) -> Check {
    let name = "data directory";
    let id = "data_dir";
    let settings = match Settings::resolve(args) {
        Ok(settings) => settings,
        Err(error) => {
            return Check {
                id,
                name,
                ok: false,
                detail: format!("the settings do not resolve: {error:#}"),
            }
        }
    };
    let directory =
        std::path::absolute(&settings.data_dir).unwrap_or_else(|_| settings.data_dir.clone());
    let (ok, detail) = writable(&directory);
    Check {
        id,
        name,
        ok,
        detail,
    }
}

/// Whether plugboard could write `directory` (or create it), without writing anything.
fn writable(directory: &Path) -> (bool, String) {
    let shown = directory.display();
    if directory.is_dir() {
        return if may_write(directory) {
            (
                true,
                format!("{shown} is writable; plugin data goes to {shown}/plugin-data"),
            )
        } else {
            (false, format!("{shown} is not writable by this user; fix its permissions or choose another with --data-dir"))
        };
    }
    if directory.exists() {
        return (
            false,
            format!("{shown} is not a directory; choose another with --data-dir"),
        );
    }
    let ancestor: Option<PathBuf> = directory
        .ancestors()
        .skip(1)
        .find(|ancestor| ancestor.is_dir())
        .map(Path::to_path_buf);
    match ancestor {
        Some(ancestor) if may_write(&ancestor) => (
            true,
            format!("{shown} does not exist yet; `serve` will create it"),
        ),
        Some(ancestor) => (
            false,
            format!(
                "{shown} does not exist and {} is not writable by this user; create it yourself or choose another with --data-dir",
                ancestor.display()
            ),
        ),
        None => (false, format!("{shown} has no existing parent folder; choose another with --data-dir")),
    }
}

fn may_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) reads the NUL-terminated path, which lives for the call.
    unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}
