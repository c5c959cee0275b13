//! API token statements for PostgreSQL.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::database_error;
use crate::store::{ApiToken, NewApiToken, StoreError, Timestamp, TokenAccess};

const COLUMNS: &str = "id, name, hash, tenant, access, created_at, expires_at, revoked_at";

fn token_from(row: &Row, op: &'static str) -> Result<ApiToken, StoreError> {
    let error = database_error(op);
    let access: String = row.try_get(4).map_err(&error)?;
    let optional_time = |index: usize| {
        row.try_get::<_, Option<SystemTime>>(index)
            .map(|time| time.map(Timestamp::from))
            .map_err(&error)
    };
    Ok(ApiToken {
        id: row.try_get(0).map_err(&error)?,
        name: row.try_get(1).map_err(&error)?,
        hash: row.try_get(2).map_err(&error)?,
        tenant: row.try_get(3).map_err(&error)?,
        access: TokenAccess::parse(&access).map_err(StoreError::Corrupt)?,
        created_at: Timestamp::from(row.try_get::<_, SystemTime>(5).map_err(&error)?),
        expires_at: optional_time(6)?,
        revoked_at: optional_time(7)?,
    })
}

pub(super) async fn create<C: GenericClient>(
    client: &C,
    token: &NewApiToken,
) -> Result<ApiToken, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "INSERT INTO api_tokens (id, name, hash, tenant, access, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        ))
        .await
        .map_err(database_error("token_create"))?;
    let expires_at = token.expires_at.map(SystemTime::from);
    let row = client
        .query_one(
            &statement,
            &[
                &token.id,
                &token.name,
                &token.hash,
                &token.tenant,
                &token.access.as_str(),
                &expires_at,
            ],
        )
        .await
        .map_err(database_error("token_create"))?;
    token_from(&row, "token_create")
}

pub(super) async fn find_by_hash<C: GenericClient>(
    client: &C,
    hash: &str,
) -> Result<Option<ApiToken>, StoreError> {
    let statement = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM api_tokens WHERE hash = $1"))
        .await
        .map_err(database_error("token_find_by_hash"))?;
    client
        .query_opt(&statement, &[&hash])
        .await
        .map_err(database_error("token_find_by_hash"))?
        .map(|row| token_from(&row, "token_find_by_hash"))
        .transpose()
}

pub(super) async fn list<C: GenericClient>(client: &C) -> Result<Vec<ApiToken>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at DESC, id COLLATE \"C\" DESC"
        ))
        .await
        .map_err(database_error("token_list"))?;
    client
        .query(&statement, &[])
        .await
        .map_err(database_error("token_list"))?
        .iter()
        .map(|row| token_from(row, "token_list"))
        .collect()
}

pub(super) async fn revoke<C: GenericClient>(
    client: &C,
    id: &str,
) -> Result<Option<ApiToken>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 \
             RETURNING {COLUMNS}"
        ))
        .await
        .map_err(database_error("token_revoke"))?;
    client
        .query_opt(&statement, &[&id])
        .await
        .map_err(database_error("token_revoke"))?
        .map(|row| token_from(&row, "token_revoke"))
        .transpose()
}
