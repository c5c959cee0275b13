//! PostgreSQL schema migrations, applied in order at connect, one transaction each.
//!
//! Every transaction first takes a transaction-scoped advisory lock named after the schema, so
//! several nodes starting at once apply each migration exactly once: the others wait, then see
//! the new version and skip it.

use tokio_postgres::Transaction;

use super::connect::quote_identifier;
use crate::store::StoreError;

/// Every migration, oldest first. Append only: a released migration never changes.
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
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

/// Brings the schema (created when missing) to the newest version this build knows.
pub(super) async fn apply(
    client: &mut tokio_postgres::Client,
    schema: Option<&str>,
) -> Result<(), StoreError> {
    let lock_name = format!("plugboard migrations {}", schema.unwrap_or(""));
    let known = MIGRATIONS
        .last()
        .map(|(version, _, _)| *version)
        .unwrap_or(0);

    let transaction = begin_locked(client, &lock_name, 0).await?;
    // Look before creating: `CREATE … IF NOT EXISTS` needs the CREATE privilege even when the
    // object exists, and logs a notice on every start.
    if let Some(schema) = schema {
        let exists: bool = transaction
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(failed(0))?;
        if !exists {
            transaction
                .batch_execute(&format!("CREATE SCHEMA {}", quote_identifier(schema)))
                .await
                .map_err(failed(0))?;
        }
    }
    let table_exists: bool = transaction
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(failed(0))?;
    if !table_exists {
        transaction
            .batch_execute(
                "CREATE TABLE schema_migrations (
                 version    bigint      PRIMARY KEY,
                 name       text        NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
            )
            .await
            .map_err(failed(0))?;
    }
    let current = current_version(&transaction, 0).await?;
    if current > known {
        return Err(StoreError::TooNew {
            found: current,
            known,
        });
    }
    let applied = applied_versions(&transaction, 0).await?;
    transaction.commit().await.map_err(failed(0))?;

    // By set, not by maximum: a migration numbered below one already applied (merged later from
    // another line of work) is still applied.
    for (version, name, sql) in MIGRATIONS
        .iter()
        .filter(|(version, _, _)| !applied.contains(version))
    {
        let transaction = begin_locked(client, &lock_name, *version).await?;
        // Another node may have applied it while we waited for the lock.
        let current = current_version(&transaction, *version).await?;
        if current > known {
            return Err(StoreError::TooNew {
                found: current,
                known,
            });
        }
        if applied_versions(&transaction, *version)
            .await?
            .contains(version)
        {
            continue;
        }
        transaction
            .batch_execute(sql)
            .await
            .map_err(failed(*version))?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await
            .map_err(failed(*version))?;
        transaction.commit().await.map_err(failed(*version))?;
        tracing::info!(version, name, "applied PostgreSQL migration");
    }
    Ok(())
}

async fn begin_locked<'a>(
    client: &'a mut tokio_postgres::Client,
    lock_name: &str,
    version: i64,
) -> Result<Transaction<'a>, StoreError> {
    let transaction = client.transaction().await.map_err(failed(version))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_name])
        .await
        .map_err(failed(version))?;
    Ok(transaction)
}

async fn current_version(transaction: &Transaction<'_>, version: i64) -> Result<i64, StoreError> {
    transaction
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(failed(version))
}

async fn applied_versions(
    transaction: &Transaction<'_>,
    version: i64,
) -> Result<Vec<i64>, StoreError> {
    transaction
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(failed(version))?
        .iter()
        .map(|row| row.try_get::<_, i64>(0).map_err(failed(version)))
        .collect()
}

fn failed(version: i64) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| StoreError::Migration {
        backend: "postgres",
        version,
        reason: super::describe(&error),
    }
}
