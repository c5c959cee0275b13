//! The PostgreSQL store (placeholder while it is written; never committed).
use super::StoreError;
pub struct PostgresOptions {
    pub url: String,
    pub schema: Option<String>,
    pub pool_size: usize,
}
pub struct PostgresStore;
impl PostgresStore {
    pub async fn connect(_o: PostgresOptions) -> Result<super::sqlite::SqliteStore, StoreError> {
        Err(StoreError::Closed)
    }
    pub async fn drop_schema(_u: &str, _s: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
