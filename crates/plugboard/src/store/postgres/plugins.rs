//! Plugin registry, package and admin lock statements for PostgreSQL.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::database_error;
use crate::store::{
    InstalledPlugin, JobId, LockOutcome, PackageInfo, PackageRecord, PluginRemoval, PluginState,
    StoreError, Timestamp,
};

const PLUGIN_COLUMNS: &str =
    "id, active_version, previous_version, state, error, source, changed_by, \
     (extract(epoch from updated_at) * 1000000)::bigint, granted_permissions";

fn plugin_from(row: &Row, op: &'static str) -> Result<InstalledPlugin, StoreError> {
    let error = database_error(op);
    let state: String = row.try_get(3).map_err(&error)?;
    Ok(InstalledPlugin {
        id: row.try_get(0).map_err(&error)?,
        active_version: row.try_get(1).map_err(&error)?,
        previous_version: row.try_get(2).map_err(&error)?,
        state: PluginState::parse(&state).map_err(StoreError::Corrupt)?,
        error: row.try_get(4).map_err(&error)?,
        source: row.try_get(5).map_err(&error)?,
        changed_by: row.try_get::<_, Option<i64>>(6).map_err(&error)?.map(JobId),
        granted_permissions: row.try_get(8).map_err(&error)?,
        updated_at: Timestamp(row.try_get(7).map_err(&error)?),
    })
}

pub(super) async fn get<C: GenericClient>(
    client: &C,
    id: &str,
) -> Result<Option<InstalledPlugin>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id = $1"
        ))
        .await
        .map_err(database_error("plugin_get"))?;
    client
        .query_opt(&statement, &[&id])
        .await
        .map_err(database_error("plugin_get"))?
        .map(|row| plugin_from(&row, "plugin_get"))
        .transpose()
}

pub(super) async fn list<C: GenericClient>(client: &C) -> Result<Vec<InstalledPlugin>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins ORDER BY id COLLATE \"C\""
        ))
        .await
        .map_err(database_error("plugin_list"))?;
    client
        .query(&statement, &[])
        .await
        .map_err(database_error("plugin_list"))?
        .iter()
        .map(|row| plugin_from(row, "plugin_list"))
        .collect()
}

pub(super) async fn put<C: GenericClient>(
    client: &C,
    plugin: &InstalledPlugin,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO plugins (id, active_version, previous_version, state, error, source, changed_by, granted_permissions) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET active_version = excluded.active_version, \
             previous_version = excluded.previous_version, state = excluded.state, error = excluded.error, \
             source = excluded.source, changed_by = excluded.changed_by, \
             granted_permissions = excluded.granted_permissions, updated_at = now()",
        )
        .await
        .map_err(database_error("plugin_put"))?;
    client
        .execute(
            &statement,
            &[
                &plugin.id,
                &plugin.active_version,
                &plugin.previous_version,
                &plugin.state.as_str(),
                &plugin.error.as_deref().map(super::storable_text),
                &plugin.source,
                &plugin.changed_by.map(|job| job.0),
                &plugin.granted_permissions,
            ],
        )
        .await
        .map_err(database_error("plugin_put"))?;
    Ok(())
}

pub(super) async fn remove(
    client: &mut deadpool_postgres::Client,
    removal: &PluginRemoval,
) -> Result<bool, StoreError> {
    let error = database_error("plugin_remove");
    let transaction = client.transaction().await.map_err(&error)?;
    let removed = transaction
        .execute("DELETE FROM plugins WHERE id = $1", &[&removal.plugin])
        .await
        .map_err(&error)?;
    transaction
        .execute(
            "DELETE FROM plugin_packages WHERE plugin = $1",
            &[&removal.plugin],
        )
        .await
        .map_err(&error)?;
    if removal.delete_data {
        transaction
            .execute("DELETE FROM kv WHERE plugin = $1", &[&removal.plugin])
            .await
            .map_err(&error)?;
        transaction
            .execute(
                "DELETE FROM plugin_metadata WHERE plugin = $1",
                &[&removal.plugin],
            )
            .await
            .map_err(&error)?;
        transaction
            .execute("DELETE FROM configs WHERE plugin = $1", &[&removal.plugin])
            .await
            .map_err(&error)?;
    }
    transaction.commit().await.map_err(&error)?;
    Ok(removed > 0)
}

pub(super) async fn lock_acquire<C: GenericClient>(
    client: &C,
    plugin: &str,
    job: JobId,
) -> Result<LockOutcome, StoreError> {
    // One statement: the upsert takes a free or abandoned lock, and the outer select reads
    // whoever holds it afterwards (the upsert's row, or the existing one when it did nothing).
    let statement = client
        .prepare_cached(
            "WITH taken AS ( \
               INSERT INTO plugin_locks (plugin, job) VALUES ($1, $2) \
               ON CONFLICT (plugin) DO UPDATE SET job = excluded.job, acquired_at = now() \
               WHERE plugin_locks.job = excluded.job OR NOT EXISTS \
               (SELECT 1 FROM jobs WHERE jobs.id = plugin_locks.job AND jobs.status IN ('queued', 'running')) \
               RETURNING job) \
             SELECT job FROM taken UNION ALL \
             SELECT job FROM plugin_locks WHERE plugin = $1 AND NOT EXISTS (SELECT 1 FROM taken)",
        )
        .await
        .map_err(database_error("plugin_lock_acquire"))?;
    // A lock row inserted by a concurrent transaction that committed after this statement's
    // snapshot is neither taken nor seen: the next statement sees it.
    for _ in 0..3 {
        let row = client
            .query_opt(&statement, &[&plugin, &job.0])
            .await
            .map_err(database_error("plugin_lock_acquire"))?;
        if let Some(row) = row {
            let holder: i64 = row
                .try_get(0)
                .map_err(database_error("plugin_lock_acquire"))?;
            return Ok(if holder == job.0 {
                LockOutcome::Acquired
            } else {
                LockOutcome::Held { by: JobId(holder) }
            });
        }
    }
    Err(StoreError::Backend {
        op: "plugin_lock_acquire",
        message: "the plugin's lock kept changing hands; try again".to_owned(),
    })
}

pub(super) async fn lock_release<C: GenericClient>(
    client: &C,
    plugin: &str,
    job: JobId,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached("DELETE FROM plugin_locks WHERE plugin = $1 AND job = $2")
        .await
        .map_err(database_error("plugin_lock_release"))?;
    client
        .execute(&statement, &[&plugin, &job.0])
        .await
        .map_err(database_error("plugin_lock_release"))?;
    Ok(())
}

pub(super) async fn lock_holder<C: GenericClient>(
    client: &C,
    plugin: &str,
) -> Result<Option<JobId>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT plugin_locks.job FROM plugin_locks JOIN jobs ON jobs.id = plugin_locks.job \
             WHERE plugin_locks.plugin = $1 AND jobs.status IN ('queued', 'running')",
        )
        .await
        .map_err(database_error("plugin_lock_holder"))?;
    let row = client
        .query_opt(&statement, &[&plugin])
        .await
        .map_err(database_error("plugin_lock_holder"))?;
    row.map(|row| row.try_get::<_, i64>(0).map(JobId))
        .transpose()
        .map_err(database_error("plugin_lock_holder"))
}

pub(super) async fn package_put<C: GenericClient>(
    client: &C,
    package: &PackageRecord,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO plugin_packages (plugin, version, sha256, archive, manifest, source) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (plugin, version) DO UPDATE SET sha256 = excluded.sha256, archive = excluded.archive, \
             manifest = excluded.manifest, source = excluded.source, created_at = now()",
        )
        .await
        .map_err(database_error("package_put"))?;
    client
        .execute(
            &statement,
            &[
                &package.plugin,
                &package.version,
                &package.sha256,
                &package.archive,
                &super::storable_text(&package.manifest),
                &package.source,
            ],
        )
        .await
        .map_err(database_error("package_put"))?;
    Ok(())
}

pub(super) async fn package_get<C: GenericClient>(
    client: &C,
    plugin: &str,
    version: &str,
) -> Result<Option<PackageRecord>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT plugin, version, sha256, archive, manifest, source, \
             (extract(epoch from created_at) * 1000000)::bigint \
             FROM plugin_packages WHERE plugin = $1 AND version = $2",
        )
        .await
        .map_err(database_error("package_get"))?;
    let Some(row) = client
        .query_opt(&statement, &[&plugin, &version])
        .await
        .map_err(database_error("package_get"))?
    else {
        return Ok(None);
    };
    let error = database_error("package_get");
    Ok(Some(PackageRecord {
        plugin: row.try_get(0).map_err(&error)?,
        version: row.try_get(1).map_err(&error)?,
        sha256: row.try_get(2).map_err(&error)?,
        archive: row.try_get(3).map_err(&error)?,
        manifest: row.try_get(4).map_err(&error)?,
        source: row.try_get(5).map_err(&error)?,
        created_at: Timestamp(row.try_get(6).map_err(&error)?),
    }))
}

pub(super) async fn package_list<C: GenericClient>(
    client: &C,
    plugin: &str,
) -> Result<Vec<PackageInfo>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT plugin, version, sha256, length(archive)::bigint, source, \
             (extract(epoch from created_at) * 1000000)::bigint \
             FROM plugin_packages WHERE plugin = $1 ORDER BY created_at, version",
        )
        .await
        .map_err(database_error("package_list"))?;
    let error = database_error("package_list");
    client
        .query(&statement, &[&plugin])
        .await
        .map_err(&error)?
        .iter()
        .map(|row| {
            Ok(PackageInfo {
                plugin: row.try_get(0).map_err(&error)?,
                version: row.try_get(1).map_err(&error)?,
                sha256: row.try_get(2).map_err(&error)?,
                size: row.try_get(3).map_err(&error)?,
                source: row.try_get(4).map_err(&error)?,
                created_at: Timestamp(row.try_get(5).map_err(&error)?),
            })
        })
        .collect()
}

pub(super) async fn package_delete<C: GenericClient>(
    client: &C,
    plugin: &str,
    version: &str,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached("DELETE FROM plugin_packages WHERE plugin = $1 AND version = $2")
        .await
        .map_err(database_error("package_delete"))?;
    let deleted = client
        .execute(&statement, &[&plugin, &version])
        .await
        .map_err(database_error("package_delete"))?;
    Ok(deleted > 0)
}

pub(super) async fn upload_put<C: GenericClient>(
    client: &C,
    name: &str,
    sha256: &str,
    data: &[u8],
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO plugin_uploads (name, sha256, data) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, data = excluded.data",
        )
        .await
        .map_err(database_error("upload_put"))?;
    client
        .execute(&statement, &[&name, &sha256, &data])
        .await
        .map_err(database_error("upload_put"))?;
    Ok(())
}

pub(super) async fn upload_get<C: GenericClient>(
    client: &C,
    name: &str,
) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    let statement = client
        .prepare_cached("SELECT sha256, data FROM plugin_uploads WHERE name = $1")
        .await
        .map_err(database_error("upload_get"))?;
    let row = client
        .query_opt(&statement, &[&name])
        .await
        .map_err(database_error("upload_get"))?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .transpose()
        .map_err(database_error("upload_get"))
}

pub(super) async fn upload_delete<C: GenericClient>(
    client: &C,
    name: &str,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached("DELETE FROM plugin_uploads WHERE name = $1")
        .await
        .map_err(database_error("upload_delete"))?;
    client
        .execute(&statement, &[&name])
        .await
        .map(|deleted| deleted > 0)
        .map_err(database_error("upload_delete"))
}

pub(super) async fn upload_prune<C: GenericClient>(
    client: &C,
    before: Timestamp,
) -> Result<u64, StoreError> {
    let statement = client
        .prepare_cached("DELETE FROM plugin_uploads WHERE created_at < $1")
        .await
        .map_err(database_error("upload_prune"))?;
    client
        .execute(&statement, &[&std::time::SystemTime::from(before)])
        .await
        .map_err(database_error("upload_prune"))
}
