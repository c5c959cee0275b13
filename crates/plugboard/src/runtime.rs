//! What a process that opens the store starts with (`plugboard serve` and `plugboard bench`):
//! the data directory made and closed to others, the store the settings name, and this
//! process's name as a lease owner. Owns nothing else; the CLI and the benchmarks both build on
//! it, so neither imports the other.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::settings::{Database, Settings, SettingsArgs};
use crate::store::postgres::{PostgresOptions, PostgresStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::Store;

/// Creates the data directory if needed and checks that it is writable.
pub fn prepare_data_dir(directory: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(directory).with_context(|| {
        format!(
            "cannot create the data directory {}; create it yourself, fix its permissions or choose another with --data-dir",
            directory.display()
        )
    })?;
    let probe = tempfile::NamedTempFile::new_in(directory).with_context(|| {
        format!(
            "the data directory {} is not writable by this user; fix its permissions or choose another with --data-dir",
            directory.display()
        )
    })?;
    drop(probe);
    // Others may pass through to the folders of their own (plugins run as users of their own)
    // but list and read nothing: the store, its key and the admin token are plugboard's.
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(directory) {
        let mode = meta.permissions().mode() & 0o777;
        let wanted = (mode & 0o700) | 0o011;
        if mode != wanted {
            std::fs::set_permissions(directory, std::fs::Permissions::from_mode(wanted))
                .with_context(|| {
                    format!(
                        "cannot close the data directory {} to other users (mode {wanted:o})",
                        directory.display()
                    )
                })?;
        }
    }
    Ok(())
}

/// Opens the store the settings name.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &settings.database {
        Database::Sqlite { path, synchronous } => {
            prepare_data_dir(&settings.data_dir)?;
            Arc::new(
                SqliteStore::open(SqliteOptions {
                    path: path.clone(),
                    synchronous: *synchronous,
                })
                .await?,
            )
        }
        Database::Postgres { url, schema } => Arc::new(
            PostgresStore::connect(PostgresOptions {
                url: url.clone(),
                schema: schema.clone(),
                pool_size: 8,
            })
            .await?,
        ),
    })
}

/// Resolves settings and opens their store: what every store-using command starts with.
pub async fn settings_and_store(args: &SettingsArgs) -> anyhow::Result<(Settings, Arc<dyn Store>)> {
    let settings = Settings::resolve(args)?;
    let store = open_store(&settings).await?;
    Ok((settings, store))
}

/// This machine's host name (`host` when it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

/// A lease owner name that is unique per process: host, process id and a random suffix.
pub fn worker_id() -> String {
    let host = hostname();
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

/// A database URL fit for logs: the password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
