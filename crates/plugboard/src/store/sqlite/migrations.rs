//! SQLite schema migrations, applied in order at open inside one transaction each.

use rusqlite::Connection;

use crate::store::{StoreError, Timestamp};

/// Every migration, oldest first. Append only: a released migration never changes.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "jobs", include_str!("migrations/0001_jobs.sql")),
    (
        2,
        "kv and events",
        include_str!("migrations/0002_kv_events.sql"),
    ),
    (
        3,
        "plugin registry",
        include_str!("migrations/0003_plugin_registry.sql"),
    ),
    (
        4,
        "tenants and configs",
        include_str!("migrations/0004_tenants_configs.sql"),
    ),
    (
        5,
        "api tokens",
        include_str!("migrations/0005_api_tokens.sql"),
    ),
    (
        6,
        "job limits",
        include_str!("migrations/0006_job_limits.sql"),
    ),
    (7, "nodes", include_str!("migrations/0007_nodes.sql")),
    (
        8,
        "job changes",
        include_str!("migrations/0008_job_changes.sql"),
    ),
    (
        9,
        "plugin uploads",
        include_str!("migrations/0009_plugin_uploads.sql"),
    ),
    (
        10,
        "plugin grants",
        include_str!("migrations/0010_plugin_grants.sql"),
    ),
    (
        11,
        "config webhooks",
        include_str!("migrations/0011_config_webhooks.sql"),
    ),
    (
        12,
        "job minutes and console sessions",
        include_str!("migrations/0012_job_minutes.sql"),
    ),
];

/// Brings the database to the newest schema this build knows.
pub(super) fn apply(connection: &Connection) -> Result<(), StoreError> {
    let failed = |version: i64, error: rusqlite::Error| StoreError::Migration {
        backend: "sqlite",
        version,
        reason: error.to_string(),
    };
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT    NOT NULL,
                 applied_at INTEGER NOT NULL
             )",
        )
        .map_err(|error| failed(0, error))?;
    let current: i64 = connection
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(|error| failed(0, error))?;
    let known = MIGRATIONS
        .last()
        .map(|(version, _, _)| *version)
        .unwrap_or(0);
    if current > known {
        return Err(StoreError::TooNew {
            found: current,
            known,
        });
    }
    let applied: Vec<i64> = connection
        .prepare("SELECT version FROM schema_migrations")
        .and_then(|mut select| {
            select
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<i64>, _>>()
        })
        .map_err(|error| failed(0, error))?;
    for (version, name, sql) in MIGRATIONS
        .iter()
        .filter(|(version, _, _)| !applied.contains(version))
    {
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|error| failed(*version, error))?;
        let outcome = connection.execute_batch(sql).and_then(|()| {
            connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![version, name, Timestamp::now().0],
            )
        });
        match outcome {
            Ok(_) => connection
                .execute_batch("COMMIT")
                .map_err(|error| failed(*version, error))?,
            Err(error) => {
                let _ = connection.execute_batch("ROLLBACK");
                return Err(failed(*version, error));
            }
        }
    }
    Ok(())
}
