//! The admin's consent to what a plugin asks for in `[permissions]` (`network`, `read`, `write`,
//! `env`), checked by install, update and rollback before anything is kept, placed or started.
//!
//! - Refused outright, whoever asks: `env` naming a `PLUGBOARD_*` variable (the host's settings
//!   and secrets: the admin token, the database URL, the secret key), and `read` or `write` of `/`,
//!   of the data directory or anything holding it, or of anything inside it. Every reason is
//!   listed, and nothing changes.
//! - Consent: a version that asks for nothing beyond what the plugin was granted goes through. One
//!   that asks for more stops, awaiting approval, unless the job carries `grant_permissions` equal
//!   to what it asks for (only the admin token can put it there). The plugin keeps every grant it
//!   was given (the union), so going back to a version it ran before needs no new consent.
//!
//! Must not touch: the processes (spawn-time confinement is `process.rs` and `sandbox.rs`) and
//! SQL; the grant is a JSON value on the registry row.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use plugboard_protocol::manifest::Permissions;
use plugboard_protocol::Manifest;
use serde_json::{json, Value};

use super::{InstallError, Installer};
use crate::plugins::package::PackageError;
use crate::queue::JobContext;
use crate::store::LogLevel;

/// The job progress step of an install or update that waits for the admin's consent.
pub const AWAITING_APPROVAL: &str = "awaiting approval";

/// How a job may be approved, for the message that says it awaits approval.
pub(super) enum Approval<'a> {
    Install,
    Update {
        plugin: &'a str,
    },
    /// To a kept version (`update --to`, a rollback, which carries no grant).
    Kept {
        plugin: &'a str,
        version: &'a str,
    },
}

/// What a plugin asks for, or was granted, as the fields of `[permissions]`, whatever the manifest
/// holds: a boolean is asked for when `true`, a list item by item, any other value as a whole. A
/// field the manifest gains later needs consent too, with no change here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PermissionSet(BTreeMap<String, Value>);

impl PermissionSet {
    /// The permissions of a manifest.
    pub fn of(permissions: &Permissions) -> PermissionSet {
        PermissionSet::from_json(&serde_json::to_value(permissions).unwrap_or_default())
    }

    /// Permissions as JSON (a stored grant, a job's progress); anything but an object is none.
    pub fn from_json(value: &Value) -> PermissionSet {
        let Some(fields) = value.as_object() else {
            return PermissionSet::default();
        };
        PermissionSet(
            fields
                .iter()
                .map(|(name, value)| (name.clone(), normalized(value)))
                .collect(),
        )
    }

    /// The JSON of these permissions, as grants are stored and sent.
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone().into_iter().collect())
    }

    /// True when nothing is asked for.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|value| !asks(value))
    }

    /// What `self` asks for that `granted` does not give.
    pub fn beyond(&self, granted: &PermissionSet) -> PermissionSet {
        let mut more = BTreeMap::new();
        for (name, asked) in &self.0 {
            let given = granted.0.get(name).unwrap_or(&Value::Null);
            let missing = match (asked, given) {
                (Value::Array(asked), Value::Array(given)) => Value::Array(
                    asked
                        .iter()
                        .filter(|item| !given.contains(item))
                        .cloned()
                        .collect(),
                ),
                (Value::Bool(true), Value::Bool(true)) => Value::Bool(false),
                (asked, given) if asked == given => Value::Null,
                (asked, _) => asked.clone(),
            };
            if asks(&missing) {
                more.insert(name.clone(), missing);
            }
        }
        PermissionSet(more)
    }

    /// Everything either gives.
    pub fn union(&self, other: &PermissionSet) -> PermissionSet {
        let mut all = self.0.clone();
        for (name, value) in &other.0 {
            let merged = match (all.get(name), value) {
                (Some(Value::Array(mine)), Value::Array(theirs)) => {
                    normalized(&Value::Array([mine.as_slice(), theirs].concat()))
                }
                (Some(Value::Bool(mine)), Value::Bool(theirs)) => Value::Bool(*mine || *theirs),
                (Some(mine), value) if !asks(value) => mine.clone(),
                _ => value.clone(),
            };
            all.insert(name.clone(), merged);
        }
        PermissionSet(all)
    }

    /// `env HTTPS_PROXY; network; read /srv/a, /srv/b` (fields in name order), or `nothing`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .filter(|(_, value)| asks(value))
            .map(|(name, value)| match value {
                Value::Bool(_) => name.clone(),
                Value::Array(items) => {
                    let items: Vec<String> = items
                        .iter()
                        .map(|item| match item {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        })
                        .collect();
                    format!("{name} {}", items.join(", "))
                }
                other => format!("{name} {other}"),
            })
            .collect();
        if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// `describe` of permissions as JSON, for the CLI.
pub fn describe_json(value: &Value) -> String {
    PermissionSet::from_json(value).describe()
}

/// Lists sorted and without repeats, so that two orders of one list compare equal.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(Value::to_string);
            items.dedup();
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// Whether a field's value asks for something: `true`, a list with items, any other value but
/// `null` and `false`.
fn asks(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::Array(items) => !items.is_empty(),
        _ => true,
    }
}

/// `path` with `.` and `..` resolved as text and no trailing slash.
fn lexical(path: &Path) -> PathBuf {
    let mut clean = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::ParentDir => {
                clean.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    clean
}

/// Both forms of a path worth comparing: as written (cleaned) and, when it exists, with its links
/// resolved.
fn forms(path: &Path) -> Vec<PathBuf> {
    let mut forms = vec![lexical(path)];
    if let Ok(real) = std::fs::canonicalize(path) {
        if !forms.contains(&real) {
            forms.push(real);
        }
    }
    forms
}

/// Every reason these permissions are refused whoever asks; empty when none. `protected` are the
/// folders no plugin may name, or name a folder holding, or name anything inside (the data
/// directory).
pub(super) fn refusals(permissions: &Permissions, protected: &[PathBuf]) -> Vec<String> {
    let mut reasons = Vec::new();
    for name in &permissions.env {
        if name.to_ascii_uppercase().starts_with("PLUGBOARD_") {
            reasons.push(format!(
                "permissions.env names {name}: the host's own PLUGBOARD_* settings and secrets (the admin token, the database URL, the secret key) are never passed to a plugin"
            ));
        } else if name.contains('\0') || name.contains('=') || name.is_empty() {
            reasons.push(format!(
                "permissions.env names {name:?}, which is not an environment variable's name"
            ));
        }
    }
    let protected: Vec<PathBuf> = protected.iter().flat_map(|path| forms(path)).collect();
    for (field, list) in [
        ("permissions.read", &permissions.read),
        ("permissions.write", &permissions.write),
    ] {
        for text in list {
            if text.contains('\0') {
                reasons.push(format!("{field} names {text:?}, which is not a path"));
                continue;
            }
            let asked = forms(Path::new(text));
            if asked.iter().any(|path| path == Path::new("/")) {
                reasons.push(format!(
                    "{field} names {text}: the whole file system, which holds plugboard's data directory"
                ));
                continue;
            }
            let clash = protected.iter().find(|folder| {
                asked
                    .iter()
                    .any(|path| folder.starts_with(path) || path.starts_with(folder))
            });
            if let Some(folder) = clash {
                let how = if asked.iter().any(|path| path.starts_with(folder)) {
                    "is inside"
                } else {
                    "holds"
                };
                reasons.push(format!(
                    "{field} names {text}, which {how} plugboard's data directory {} (its database, tokens, keys and every plugin's data)",
                    folder.display()
                ));
            }
        }
    }
    reasons
}

impl Installer {
    /// The folders no plugin may reach through its permissions: the data directory (the parent
    /// of `plugins/`) and the plugins' data folder, wherever it is.
    fn protected_folders(&self) -> Vec<PathBuf> {
        let mut folders = Vec::new();
        if let Some(data_dir) = self.config.plugins_dir.parent() {
            folders.push(data_dir.to_path_buf());
        }
        folders.push(self.config.plugins_dir.clone());
        folders.push(self.host.data_root().to_path_buf());
        folders
    }

    /// Refuses to start an installed version whose permissions no plugin may have (one installed
    /// before these checks existed): the caller marks it failed with the reasons.
    ///
    /// # Errors
    /// [`InstallError::PermissionsRefused`]; the manifest's own errors.
    pub(super) fn check_installed(&self, dir: &Path) -> Result<(), InstallError> {
        let manifest = crate::plugins::read_manifest(dir).map_err(PackageError::from)?;
        let reasons = refusals(&manifest.permissions, &self.protected_folders());
        if reasons.is_empty() {
            return Ok(());
        }
        Err(InstallError::PermissionsRefused {
            plugin: manifest.id,
            version: manifest.version,
            reasons: reasons.join("; "),
        })
    }

    /// Decides whether `manifest`'s permissions may be installed, and answers the grant the
    /// plugin holds afterwards (as JSON, for the registry row).
    ///
    /// # Errors
    /// [`InstallError::PermissionsRefused`] with every reason; [`InstallError::GrantMismatch`]
    /// when `grant` is not exactly what the manifest asks for; [`InstallError::AwaitingApproval`]
    /// when it asks for more than `granted` and carries no grant (the job's progress then holds
    /// what it asks for, for a client to show and grant).
    pub(super) async fn consent(
        &self,
        context: &JobContext,
        manifest: &Manifest,
        granted: Option<&Value>,
        grant: Option<&Permissions>,
        approval: Approval<'_>,
    ) -> Result<Value, InstallError> {
        let (plugin, version) = (manifest.id.clone(), manifest.version.clone());
        let asked = PermissionSet::of(&manifest.permissions);
        let reasons = refusals(&manifest.permissions, &self.protected_folders());
        if !reasons.is_empty() {
            return Err(InstallError::PermissionsRefused {
                plugin,
                version,
                reasons: reasons.join("; "),
            });
        }
        let granted = granted.map(PermissionSet::from_json).unwrap_or_default();
        if let Some(grant) = grant {
            let grant = PermissionSet::of(grant);
            if grant != asked {
                return Err(InstallError::GrantMismatch {
                    plugin,
                    version,
                    asked: asked.describe(),
                    granted: grant.describe(),
                });
            }
            let _ = context
                .log(
                    LogLevel::Info,
                    format!(
                        "permissions granted by the admin to {plugin} {version}: {}",
                        asked.describe()
                    ),
                )
                .await;
            return Ok(granted.union(&asked).to_json());
        }
        let more = asked.beyond(&granted);
        if more.is_empty() {
            let _ = context
                .log(
                    LogLevel::Info,
                    format!(
                        "permissions of {plugin} {version}: {}; nothing beyond what was granted",
                        asked.describe()
                    ),
                )
                .await;
            return Ok(granted.to_json());
        }
        let grant_json = asked.to_json();
        let how = match approval {
            Approval::Install => format!(
                "the admin approves by installing it again with the admin token and \"grant_permissions\": {grant_json} (`plugboard plugin install SOURCE --grant`)"
            ),
            Approval::Update { plugin } => format!(
                "the admin approves by updating again with the admin token and \"grant_permissions\": {grant_json} (`plugboard plugin update {plugin} SOURCE --grant`)"
            ),
            Approval::Kept { plugin, version } => format!(
                "the admin approves by updating to it with the admin token and \"grant_permissions\": {grant_json} (`plugboard plugin update {plugin} --to {version} --grant`, with --allow-downgrade for an older version)"
            ),
        };
        let message = format!(
            "{AWAITING_APPROVAL}: plugin {plugin} {version} asks for permissions that were not granted: {}; nothing was changed; {how}",
            more.describe()
        );
        let _ = context
            .progress(json!({
                "step": AWAITING_APPROVAL,
                "message": message,
                "plugin": plugin,
                "version": version,
                "permissions": grant_json,
                "not_granted": more.to_json(),
            }))
            .await;
        Err(InstallError::AwaitingApproval { message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permissions(network: bool, read: &[&str], write: &[&str], env: &[&str]) -> Permissions {
        let owned = |list: &[&str]| list.iter().map(|item| (*item).to_owned()).collect();
        Permissions {
            network,
            read: owned(read),
            write: owned(write),
            env: owned(env),
            unix_sockets: false,
        }
    }

    #[test]
    fn host_secrets_the_root_and_the_data_directory_are_refused_with_every_reason() {
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().join("data");
        std::fs::create_dir_all(data_dir.join("plugin-data")).unwrap();
        let parent = data.path().display().to_string();
        let inside = data_dir.join("plugin-data/other").display().to_string();
        let sneaky = format!("{}/../data/", data_dir.join("plugin-data").display());
        let asked = permissions(
            true,
            &["/", &parent, "/srv/shared"],
            &[&inside, &sneaky, "/tmp/out"],
            &[
                "PLUGBOARD_ADMIN_TOKEN",
                "plugboard_database_url",
                "HTTPS_PROXY",
            ],
        );
        let reasons = refusals(&asked, std::slice::from_ref(&data_dir));
        assert_eq!(reasons.len(), 6, "{reasons:#?}");
        assert!(reasons[0].contains("PLUGBOARD_ADMIN_TOKEN"), "{reasons:#?}");
        assert!(
            reasons[1].contains("plugboard_database_url"),
            "{reasons:#?}"
        );
        assert!(
            reasons[2].contains("permissions.read names /:"),
            "{reasons:#?}"
        );
        assert!(reasons[3].contains("holds"), "{reasons:#?}");
        assert!(reasons[4].contains("is inside"), "{reasons:#?}");
        assert!(reasons[5].contains(&sneaky), "{reasons:#?}");
        assert!(refusals(
            &permissions(true, &["/srv/shared"], &["/tmp/out"], &["HTTPS_PROXY"]),
            &[data_dir]
        )
        .is_empty());
    }

    #[test]
    fn a_symbolic_link_to_the_data_directory_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let link = root.path().join("innocent");
        std::os::unix::fs::symlink(&data_dir, &link).unwrap();
        let reasons = refusals(
            &permissions(false, &[link.to_str().unwrap()], &[], &[]),
            &[data_dir],
        );
        assert_eq!(reasons.len(), 1, "{reasons:#?}");
    }

    #[test]
    fn what_is_beyond_a_grant_and_the_union_of_grants() {
        let granted = PermissionSet::of(&permissions(false, &["/srv/a"], &[], &["HTTPS_PROXY"]));
        let asked = PermissionSet::of(&permissions(
            true,
            &["/srv/b", "/srv/a"],
            &[],
            &["HTTPS_PROXY"],
        ));
        assert_eq!(asked.beyond(&granted).describe(), "network; read /srv/b");
        assert!(granted.beyond(&asked).is_empty());
        assert_eq!(granted.union(&asked), asked);
        assert_eq!(PermissionSet::default().describe(), "nothing");
        // Lists compare as sets.
        assert_eq!(
            PermissionSet::of(&permissions(
                true,
                &["/srv/a", "/srv/b", "/srv/a"],
                &[],
                &[]
            )),
            PermissionSet::of(&permissions(true, &["/srv/b", "/srv/a"], &[], &[])),
        );
        // A plugin installed before grants were recorded has none.
        assert_eq!(
            asked.beyond(&PermissionSet::default()).describe(),
            "env HTTPS_PROXY; network; read /srv/a, /srv/b"
        );
        assert_eq!(
            PermissionSet::from_json(&asked.to_json()),
            asked,
            "a stored grant reads back"
        );
    }

    #[test]
    fn a_permission_the_manifest_gains_later_needs_consent_too() {
        let granted =
            PermissionSet::from_json(&json!({"network": true, "read": [], "write": [], "env": []}));
        let asked = PermissionSet::from_json(
            &json!({"network": true, "read": [], "write": [], "env": [], "unix_sockets": true}),
        );
        assert_eq!(asked.beyond(&granted).describe(), "unix_sockets");
        assert!(asked.beyond(&granted.union(&asked)).is_empty());
    }
}
