//! Plugin registry, package and admin lock statements for SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::backend_error;
use crate::store::{
    InstalledPlugin, JobId, LockOutcome, PackageInfo, PackageRecord, PluginRemoval, PluginState,
    StoreError, Timestamp,
};

const PLUGIN_COLUMNS: &str =
    "id, active_version, previous_version, state, error, source, changed_by, updated_at, granted_permissions";

fn plugin_row(row: &Row<'_>) -> rusqlite::Result<(InstalledPlugin, String)> {
    Ok((
        InstalledPlugin {
            id: row.get(0)?,
            active_version: row.get(1)?,
            previous_version: row.get(2)?,
            state: PluginState::Installing,
            error: row.get(4)?,
            source: row.get(5)?,
            changed_by: row.get::<_, Option<i64>>(6)?.map(JobId),
            granted_permissions: row
                .get::<_, Option<String>>(8)?
                .map(|text| {
                    serde_json::from_str(&text).map_err(|error| {
                        rusqlite::Error::FromSqlConversionFailure(
                            8,
                            rusqlite::types::Type::Text,
                            Box::new(error),
                        )
                    })
                })
                .transpose()?,
            updated_at: Timestamp(row.get(7)?),
        },
        row.get(3)?,
    ))
}

fn with_state(
    (mut plugin, state): (InstalledPlugin, String),
) -> Result<InstalledPlugin, StoreError> {
    plugin.state = PluginState::parse(&state).map_err(StoreError::Corrupt)?;
    Ok(plugin)
}

pub(super) fn get(
    connection: &Connection,
    id: &str,
) -> Result<Option<InstalledPlugin>, StoreError> {
    connection
        .prepare_cached(&format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id = ?1"
        ))
        .and_then(|mut select| select.query_row([id], plugin_row).optional())
        .map_err(backend_error("plugin_get"))?
        .map(with_state)
        .transpose()
}

pub(super) fn list(connection: &Connection) -> Result<Vec<InstalledPlugin>, StoreError> {
    let mut select = connection
        .prepare_cached(&format!("SELECT {PLUGIN_COLUMNS} FROM plugins ORDER BY id"))
        .map_err(backend_error("plugin_list"))?;
    let rows = select
        .query_map([], plugin_row)
        .map_err(backend_error("plugin_list"))?;
    let mut plugins = Vec::new();
    for row in rows {
        plugins.push(with_state(row.map_err(backend_error("plugin_list"))?)?);
    }
    Ok(plugins)
}

pub(super) fn put(connection: &Connection, plugin: &InstalledPlugin) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO plugins (id, active_version, previous_version, state, error, source, changed_by, updated_at, granted_permissions) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (id) DO UPDATE SET active_version = excluded.active_version, \
             previous_version = excluded.previous_version, state = excluded.state, error = excluded.error, \
             source = excluded.source, changed_by = excluded.changed_by, updated_at = excluded.updated_at, \
             granted_permissions = excluded.granted_permissions",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                plugin.id,
                plugin.active_version,
                plugin.previous_version,
                plugin.state.as_str(),
                plugin.error,
                plugin.source,
                plugin.changed_by.map(|job| job.0),
                Timestamp::now().0,
                plugin
                    .granted_permissions
                    .as_ref()
                    .map(serde_json::Value::to_string)
            ])
        })
        .map_err(backend_error("plugin_put"))?;
    Ok(())
}

pub(super) fn remove(connection: &Connection, removal: &PluginRemoval) -> Result<bool, StoreError> {
    let error = backend_error("plugin_remove");
    let removed = connection
        .execute("DELETE FROM plugins WHERE id = ?1", [&removal.plugin])
        .map_err(&error)?;
    connection
        .execute(
            "DELETE FROM plugin_packages WHERE plugin = ?1",
            [&removal.plugin],
        )
        .map_err(&error)?;
    if removal.delete_data {
        connection
            .execute("DELETE FROM kv WHERE plugin = ?1", [&removal.plugin])
            .map_err(&error)?;
        connection
            .execute(
                "DELETE FROM plugin_metadata WHERE plugin = ?1",
                [&removal.plugin],
            )
            .map_err(&error)?;
        connection
            .execute("DELETE FROM configs WHERE plugin = ?1", [&removal.plugin])
            .map_err(&error)?;
    }
    Ok(removed > 0)
}

pub(super) fn lock_acquire(
    connection: &Connection,
    plugin: &str,
    job: JobId,
) -> Result<LockOutcome, StoreError> {
    let error = backend_error("plugin_lock_acquire");
    connection
        .prepare_cached(
            "INSERT INTO plugin_locks (plugin, job, acquired_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (plugin) DO UPDATE SET job = excluded.job, acquired_at = excluded.acquired_at \
             WHERE plugin_locks.job = excluded.job OR NOT EXISTS \
             (SELECT 1 FROM jobs WHERE jobs.id = plugin_locks.job AND jobs.status IN ('queued', 'running'))",
        )
        .and_then(|mut upsert| upsert.execute(params![plugin, job.0, Timestamp::now().0]))
        .map_err(&error)?;
    let holder: i64 = connection
        .prepare_cached("SELECT job FROM plugin_locks WHERE plugin = ?1")
        .and_then(|mut select| select.query_row([plugin], |row| row.get(0)))
        .map_err(&error)?;
    Ok(if holder == job.0 {
        LockOutcome::Acquired
    } else {
        LockOutcome::Held { by: JobId(holder) }
    })
}

pub(super) fn lock_release(
    connection: &Connection,
    plugin: &str,
    job: JobId,
) -> Result<(), StoreError> {
    connection
        .prepare_cached("DELETE FROM plugin_locks WHERE plugin = ?1 AND job = ?2")
        .and_then(|mut delete| delete.execute(params![plugin, job.0]))
        .map_err(backend_error("plugin_lock_release"))?;
    Ok(())
}

pub(super) fn lock_holder(
    connection: &Connection,
    plugin: &str,
) -> Result<Option<JobId>, StoreError> {
    connection
        .prepare_cached(
            "SELECT plugin_locks.job FROM plugin_locks JOIN jobs ON jobs.id = plugin_locks.job \
             WHERE plugin_locks.plugin = ?1 AND jobs.status IN ('queued', 'running')",
        )
        .and_then(|mut select| select.query_row([plugin], |row| row.get(0)).optional())
        .map(|holder| holder.map(JobId))
        .map_err(backend_error("plugin_lock_holder"))
}

pub(super) fn package_put(
    connection: &Connection,
    package: &PackageRecord,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO plugin_packages (plugin, version, sha256, archive, manifest, source, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (plugin, version) DO UPDATE SET sha256 = excluded.sha256, archive = excluded.archive, \
             manifest = excluded.manifest, source = excluded.source, created_at = excluded.created_at",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                package.plugin,
                package.version,
                package.sha256,
                package.archive,
                package.manifest,
                package.source,
                Timestamp::now().0
            ])
        })
        .map_err(backend_error("package_put"))?;
    Ok(())
}

pub(super) fn package_get(
    connection: &Connection,
    plugin: &str,
    version: &str,
) -> Result<Option<PackageRecord>, StoreError> {
    connection
        .prepare_cached(
            "SELECT plugin, version, sha256, archive, manifest, source, created_at \
             FROM plugin_packages WHERE plugin = ?1 AND version = ?2",
        )
        .and_then(|mut select| {
            select
                .query_row([plugin, version], |row| {
                    Ok(PackageRecord {
                        plugin: row.get(0)?,
                        version: row.get(1)?,
                        sha256: row.get(2)?,
                        archive: row.get(3)?,
                        manifest: row.get(4)?,
                        source: row.get(5)?,
                        created_at: Timestamp(row.get(6)?),
                    })
                })
                .optional()
        })
        .map_err(backend_error("package_get"))
}

pub(super) fn package_list(
    connection: &Connection,
    plugin: &str,
) -> Result<Vec<PackageInfo>, StoreError> {
    let mut select = connection
        .prepare_cached(
            "SELECT plugin, version, sha256, length(archive), source, created_at \
             FROM plugin_packages WHERE plugin = ?1 ORDER BY created_at, version",
        )
        .map_err(backend_error("package_list"))?;
    let rows = select
        .query_map([plugin], |row| {
            Ok(PackageInfo {
                plugin: row.get(0)?,
                version: row.get(1)?,
                sha256: row.get(2)?,
                size: row.get(3)?,
                source: row.get(4)?,
                created_at: Timestamp(row.get(5)?),
            })
        })
        .map_err(backend_error("package_list"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(backend_error("package_list"))
}

pub(super) fn package_delete(
    connection: &Connection,
    plugin: &str,
    version: &str,
) -> Result<bool, StoreError> {
    let deleted = connection
        .prepare_cached("DELETE FROM plugin_packages WHERE plugin = ?1 AND version = ?2")
        .and_then(|mut delete| delete.execute([plugin, version]))
        .map_err(backend_error("package_delete"))?;
    Ok(deleted > 0)
}

pub(super) fn upload_put(
    connection: &Connection,
    name: &str,
    sha256: &str,
    data: &[u8],
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO plugin_uploads (name, sha256, data, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, data = excluded.data",
        )
        .and_then(|mut insert| insert.execute(params![name, sha256, data, Timestamp::now().0]))
        .map_err(backend_error("upload_put"))?;
    Ok(())
}

pub(super) fn upload_get(
    connection: &Connection,
    name: &str,
) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    connection
        .prepare_cached("SELECT sha256, data FROM plugin_uploads WHERE name = ?1")
        .and_then(|mut select| {
            select
                .query_row([name], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(backend_error("upload_get"))
}

pub(super) fn upload_delete(connection: &Connection, name: &str) -> Result<bool, StoreError> {
    connection
        .prepare_cached("DELETE FROM plugin_uploads WHERE name = ?1")
        .and_then(|mut delete| delete.execute([name]))
        .map(|deleted| deleted > 0)
        .map_err(backend_error("upload_delete"))
}

pub(super) fn upload_prune(connection: &Connection, before: Timestamp) -> Result<u64, StoreError> {
    connection
        .prepare_cached("DELETE FROM plugin_uploads WHERE created_at < ?1")
        .and_then(|mut delete| delete.execute([before.0]))
        .map(|deleted| deleted as u64)
        .map_err(backend_error("upload_prune"))
}
