//! API token statements for SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::backend_error;
use crate::store::{ApiToken, NewApiToken, StoreError, Timestamp, TokenAccess};

const COLUMNS: &str = "id, name, hash, tenant, access, created_at, expires_at, revoked_at";

fn token_row(row: &Row<'_>) -> rusqlite::Result<(ApiToken, String)> {
    Ok((
        ApiToken {
            id: row.get(0)?,
            name: row.get(1)?,
            hash: row.get(2)?,
            tenant: row.get(3)?,
            access: TokenAccess::Read,
            created_at: Timestamp(row.get(5)?),
            expires_at: row.get::<_, Option<i64>>(6)?.map(Timestamp),
            revoked_at: row.get::<_, Option<i64>>(7)?.map(Timestamp),
        },
        row.get(4)?,
    ))
}

fn with_access((mut token, access): (ApiToken, String)) -> Result<ApiToken, StoreError> {
    token.access = TokenAccess::parse(&access).map_err(StoreError::Corrupt)?;
    Ok(token)
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

pub(super) fn create(connection: &Connection, token: &NewApiToken) -> Result<ApiToken, StoreError> {
    let now = Timestamp::now();
    connection
        .prepare_cached(
            "INSERT INTO api_tokens (id, name, hash, tenant, access, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                token.id,
                token.name,
                token.hash,
                token.tenant,
                token.access.as_str(),
                now.0,
                token.expires_at.map(|time| time.0),
            ])
        })
        .map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::Conflict(format!(
                    "token_create: a token with id {} or the same secret exists",
                    token.id
                ))
            } else {
                backend_error("token_create")(error)
            }
        })?;
    Ok(ApiToken {
        id: token.id.clone(),
        name: token.name.clone(),
        hash: token.hash.clone(),
        tenant: token.tenant.clone(),
        access: token.access,
        created_at: now,
        expires_at: token.expires_at,
        revoked_at: None,
    })
}

pub(super) fn find_by_hash(
    connection: &Connection,
    hash: &str,
) -> Result<Option<ApiToken>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM api_tokens WHERE hash = ?1"))
        .and_then(|mut select| select.query_row([hash], token_row).optional())
        .map_err(backend_error("token_find_by_hash"))?
        .map(with_access)
        .transpose()
}

fn get(connection: &Connection, id: &str) -> Result<Option<ApiToken>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"))
        .and_then(|mut select| select.query_row([id], token_row).optional())
        .map_err(backend_error("token_get"))?
        .map(with_access)
        .transpose()
}

pub(super) fn list(connection: &Connection) -> Result<Vec<ApiToken>, StoreError> {
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at DESC, id DESC"
        ))
        .map_err(backend_error("token_list"))?;
    let rows = select
        .query_map([], token_row)
        .map_err(backend_error("token_list"))?;
    let mut tokens = Vec::new();
    for row in rows {
        tokens.push(with_access(row.map_err(backend_error("token_list"))?)?);
    }
    Ok(tokens)
}

pub(super) fn revoke(connection: &Connection, id: &str) -> Result<Option<ApiToken>, StoreError> {
    connection
        .prepare_cached("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")
        .and_then(|mut update| update.execute(params![id, Timestamp::now().0]))
        .map_err(backend_error("token_revoke"))?;
    get(connection, id)
}
