//! Database access: backend choice from the URL, the connection pool, migrations and
//! the write-transaction helper every feature uses.
//!
//! One query code path serves SQLite and PostgreSQL through diesel's `MultiConnection`.

pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

diesel::define_sql_function! {
    /// SQL `lower`. On SQLite it is replaced on each connection by Rust's Unicode
    /// lowercase (SQLite's own folds ASCII only), so searches fold "LÉGER" as PostgreSQL does.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

mod multi {
    // The derive generates undocumented public items.
    #![allow(missing_docs)]
    use diesel::pg::PgConnection;
    use diesel::sqlite::SqliteConnection;

    /// A connection to either backend; queries are written once against it.
    #[derive(diesel::MultiConnection)]
    pub enum DbConn {
        /// Embedded SQLite (default, demo, small deployments).
        Sqlite(SqliteConnection),
        /// PostgreSQL (production).
        Pg(PgConnection),
    }
}
pub use multi::DbConn;

/// Which backend a database URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file at this path.
    Sqlite(PathBuf),
    /// PostgreSQL server, libpq URL.
    Postgres(String),
}

impl Backend {
    /// Parses `sqlite://PATH` or `postgres://...` / `postgresql://...`.
    pub fn from_url(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// URL without a file path".into());
            }
            Ok(Backend::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url::Url::parse(url).map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
            Ok(Backend::Postgres(url.to_string()))
        } else {
            Err("expected sqlite://PATH or postgres://USER@HOST:PORT/DB".into())
        }
    }

    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be obtained.
    #[error("database unavailable: {0}")]
    Pool(#[from] r2d2::Error),
    /// A connection could not be opened.
    #[error("database connection failed: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Anything else (a blocking task was cancelled, a file is missing).
    #[error("{0}")]
    Other(String),
}

/// r2d2 manager that opens the right backend and prepares SQLite connections.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
}

/// Opens one connection to `backend`, with SQLite pragmas applied.
pub fn connect(backend: &Backend) -> Result<DbConn, StoreError> {
    match backend {
        Backend::Sqlite(path) => {
            let path_str = path
                .to_str()
                .ok_or_else(|| StoreError::Other("SQLite path is not UTF-8".into()))?;
            let mut c = SqliteConnection::establish(path_str)?;
            // WAL lets readers run beside the single writer; the busy timeout makes a
            // second writer wait instead of failing; foreign keys are off by default.
            c.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
            )?;
            lower_utils::register_impl(&mut c, |s: String| s.to_lowercase())?;
            Ok(DbConn::Sqlite(c))
        }
        Backend::Postgres(url) => Ok(DbConn::Pg(PgConnection::establish(url)?)),
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConn, StoreError> {
        connect(&self.backend)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        conn.batch_execute("SELECT 1").map_err(StoreError::from)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        match conn {
            DbConn::Sqlite(c) => AnsiTransactionManager::is_broken_transaction_manager(c),
            DbConn::Pg(c) => AnsiTransactionManager::is_broken_transaction_manager(c),
        }
    }
}

/// A pooled connection.
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The connection pool and the backend it serves.
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.name())
            .finish()
    }
}

impl Store {
    /// Opens a pool of `size` connections. The first connection is made at once, so an
    /// unreachable database is reported here.
    pub fn open(backend: Backend, size: u32) -> Result<Self, StoreError> {
        if let Backend::Sqlite(path) = &backend {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Other(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let pool = r2d2::Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(1))
            // A checkout test is one more round trip (and transaction) per request; a
            // broken connection is noticed by `has_broken` and replaced instead.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build(Manager {
                backend: backend.clone(),
            })?;
        Ok(Store { pool, backend })
    }

    /// A connection from the pool (blocking: call from a blocking thread).
    pub fn conn(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Pool state: (connections open, idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }

    /// Maximum pool size.
    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// Applies pending migrations; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        run_migrations(&mut conn)
    }

    /// Checks that the database answers within `timeout` (readiness).
    pub fn check(&self, timeout: Duration) -> Result<(), StoreError> {
        if let Backend::Sqlite(path) = &self.backend {
            // An open SQLite handle keeps working on an unlinked file; readiness must
            // notice that the database the service was started on is gone.
            if !Path::new(path).exists() {
                return Err(StoreError::Other(format!(
                    "database file {} is missing",
                    path.display()
                )));
            }
        }
        let mut conn = self.pool.get_timeout(timeout)?;
        conn.batch_execute("SELECT 1")?;
        Ok(())
    }

    /// Runs `f` in a write transaction on a pooled connection (see [`write_tx`]).
    pub fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<StoreError> + From<diesel::result::Error>,
    {
        let mut conn = self.conn()?;
        write_tx(&mut conn, f)
    }
}

/// Applies pending migrations on one connection.
pub fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect()),
        DbConn::Pg(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect()),
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Runs `f` inside a transaction that is a writer from its first statement.
///
/// On SQLite this is `BEGIN IMMEDIATE`: the write lock is taken at the start, so a
/// transaction never fails half-way when it first writes after reading a stale snapshot.
/// On PostgreSQL it is a plain `BEGIN` (row locks serialise what must be serialised).
/// The closure's error rolls everything back.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    transaction(conn, "BEGIN IMMEDIATE", "BEGIN", f)
}

/// Runs `f` inside a read-only transaction: one consistent snapshot, and one transaction
/// instead of one per statement. The closure's error rolls back.
pub fn read_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    transaction(conn, "BEGIN", "BEGIN READ ONLY", f)
}

/// Runs `f` inside a read-only transaction that sees one snapshot from its first
/// statement to its last, on PostgreSQL too (`REPEATABLE READ`): for reads that must agree
/// with each other across many statements, such as the journal's head and its entries.
pub fn snapshot_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    transaction(
        conn,
        "BEGIN",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        f,
    )
}

fn transaction<T, E, F>(conn: &mut DbConn, sqlite: &str, pg: &str, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, sqlite)?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction_sql(c, pg)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Both migration trees hold the same migration names (checked by a test).
pub fn migration_names() -> (Vec<String>, Vec<String>) {
    use diesel::migration::MigrationSource;
    let names = |src: EmbeddedMigrations, sqlite: bool| -> Vec<String> {
        if sqlite {
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&src)
                .unwrap_or_default()
                .iter()
                .map(|m| m.name().to_string())
                .collect()
        } else {
            MigrationSource::<diesel::pg::Pg>::migrations(&src)
                .unwrap_or_default()
                .iter()
                .map(|m| m.name().to_string())
                .collect()
        }
    };
    (
        names(SQLITE_MIGRATIONS, true),
        names(POSTGRES_MIGRATIONS, false),
    )
}
