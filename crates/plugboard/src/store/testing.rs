//! Fresh, isolated stores for tests: a new SQLite file in a temporary directory, or a new schema
//! in the PostgreSQL database named by `PLUGBOARD_TEST_DATABASE_URL`. Each test gets its own, so
//! tests run in parallel; dropping a [`TestStore`] removes what it made.

use std::sync::Arc;

use super::postgres::{PostgresOptions, PostgresStore};
use super::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use super::Store;

/// The variable that names the PostgreSQL database the tests may use.
pub const DATABASE_URL_VARIABLE: &str = "PLUGBOARD_TEST_DATABASE_URL";

/// A store made for one test.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    /// Kept so the SQLite file lives as long as the test.
    _directory: Option<tempfile::TempDir>,
    postgres_schema: Option<(String, String)>,
}

impl TestStore {
    /// A new SQLite store in its own temporary directory.
    pub async fn sqlite() -> TestStore {
        let directory = tempfile::tempdir().expect("a temporary directory for the test database");
        let store = SqliteStore::open(SqliteOptions {
            path: directory.path().join("plugboard.db"),
            synchronous: Synchronous::Normal,
        })
        .await
        .expect("a fresh SQLite store opens");
        TestStore {
            store: Arc::new(store),
            _directory: Some(directory),
            postgres_schema: None,
        }
    }

    /// A new PostgreSQL store in its own schema, or `None` (with a loud note) when
    /// `PLUGBOARD_TEST_DATABASE_URL` is not set. When it is set, failing to connect fails the test.
    pub async fn postgres(test_name: &str) -> Option<TestStore> {
        let Ok(url) = std::env::var(DATABASE_URL_VARIABLE) else {
            eprintln!(
                "SKIPPED {test_name} on PostgreSQL: set {DATABASE_URL_VARIABLE} (for example postgres://postgres@127.0.0.1/test) to run it"
            );
            return None;
        };
        let schema = format!("pb_test_{}_{}", std::process::id(), rand::random::<u32>());
        let store = PostgresStore::connect(PostgresOptions {
            url: url.clone(),
            schema: Some(schema.clone()),
            pool_size: 4,
        })
        .await
        .unwrap_or_else(|error| {
            panic!("{DATABASE_URL_VARIABLE} is set but PostgreSQL cannot be used: {error}")
        });
        Some(TestStore {
            store: Arc::new(store),
            _directory: None,
            postgres_schema: Some((url, schema)),
        })
    }

    /// Closes the store and removes its schema (PostgreSQL).
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((url, schema)) = &self.postgres_schema {
            PostgresStore::drop_schema(url, schema)
                .await
                .unwrap_or_else(|error| panic!("dropping test schema {schema}: {error}"));
        }
    }
}

/// Generates, for each listed `async fn NAME(store: Arc<dyn Store>)` of the invoking module, a
/// test on a fresh SQLite store (`sqlite::NAME`) and one on a fresh PostgreSQL schema
/// (`postgres::NAME`, skipped with a note without `PLUGBOARD_TEST_DATABASE_URL`).
macro_rules! for_each_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test_store = crate::store::testing::TestStore::sqlite().await;
                    super::$name(test_store.store.clone()).await;
                    test_store.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(test_store) =
                        crate::store::testing::TestStore::postgres(stringify!($name)).await
                    else {
                        return;
                    };
                    super::$name(test_store.store.clone()).await;
                    test_store.finish().await;
                }
            )*
        }
    };
}

pub(crate) use for_each_store;
