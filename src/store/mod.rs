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

/// How hard SQLite works to keep the last commits through a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: a commit is on disk before it is acknowledged (production).
    #[default]
    Full,
    /// `synchronous = NORMAL`: a process crash loses nothing, a power loss may lose the
    /// last commits; faster (demo mode).
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// How much of the SQLite file is read through a memory map (address space, not memory:
/// pages are shared with the kernel's cache).
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// r2d2 manager that opens the right backend and prepares SQLite connections.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    durability: Durability,
}

/// Opens one connection to `backend`, with SQLite pragmas applied (durable: see
/// [`connect_with`]).
pub fn connect(backend: &Backend) -> Result<DbConn, StoreError> {
    connect_with(backend, Durability::Full)
}

/// Opens one connection to `backend`; a SQLite file is kept private to its owner.
pub fn connect_with(backend: &Backend, durability: Durability) -> Result<DbConn, StoreError> {
    match backend {
        Backend::Sqlite(path) => {
            let path_str = path
                .to_str()
                .ok_or_else(|| StoreError::Other("SQLite path is not UTF-8".into()))?;
            private_files(path)?;
            let mut c = SqliteConnection::establish(path_str)?;
            // WAL lets readers run beside the single writer; the busy timeout makes a
            // second writer wait instead of failing; foreign keys are off by default.
            c.batch_execute(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                durability.pragma()
            ))?;
            lower_utils::register_impl(&mut c, |s: String| s.to_lowercase())?;
            Ok(DbConn::Sqlite(c))
        }
        Backend::Postgres(url) => Ok(DbConn::Pg(PgConnection::establish(url)?)),
    }
}

/// Makes the SQLite database readable by its owner only: its folder 700 (created so if
/// missing), the file and its `-wal`/`-shm` companions 600. SQLite gives the companions
/// the database file's mode, so the file is created 600 before SQLite opens it.
fn private_files(path: &Path) -> Result<(), StoreError> {
    let other = |what: &Path, e: std::io::Error| {
        StoreError::Other(format!("cannot protect {}: {e}", what.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir).map_err(|e| other(dir, e))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // Only a missing file is opened here: closing a descriptor of a file drops every
        // POSIX lock this process holds on it, SQLite's included.
        if !path.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| other(path, e))?;
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            match std::fs::metadata(&file) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| other(&file, e))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Creates the database's folder 700, or narrows an existing one to 700 unless it is
/// a shared folder (sticky, like /tmp).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            return std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 && mode & 0o1000 == 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConn, StoreError> {
        let mut c = connect_with(&self.backend, self.durability)?;
        if let DbConn::Sqlite(s) = &mut c {
            // The service's connections read through a memory map: a pooled connection's
            // page cache is emptied whenever another one commits, and refilling it by
            // `pread` copied every page through the kernel on each request. (Commands
            // that scan the whole file once, such as `journal verify`, read without it:
            // mapped pages would count in their resident memory.)
            s.batch_execute(&format!("PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"))?;
        }
        Ok(c)
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
    /// Opens a pool of `size` durable connections. The first connection is made at
    /// once, so an unreachable database is reported here.
    pub fn open(backend: Backend, size: u32) -> Result<Self, StoreError> {
        Self::open_with(backend, size, Durability::Full)
    }

    /// As [`Store::open`], with SQLite's durability chosen (relaxed in demo mode only).
    pub fn open_with(
        backend: Backend,
        size: u32,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let pool = r2d2::Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(1))
            // A checkout test is one more round trip (and transaction) per request; a
            // broken connection is noticed by `has_broken` and replaced instead.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build(Manager {
                backend: backend.clone(),
                durability,
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
    // A use case called inside another's transaction (a usager's revocation runs the
    // structure's revocation, then notifies in the same transaction) joins it, inside a
    // savepoint: the outer transaction already holds the write lock.
    if in_transaction(conn) {
        return nested(conn, f);
    }
    // SQLite has one writer at a time, and its busy handler polls with growing sleeps: with
    // many writers (and a flush per commit, `synchronous = FULL`) a waiting writer can lose
    // every round until its timeout. This process's writers queue on a lock instead.
    let _turn = match conn {
        DbConn::Sqlite(_) => Some(SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner())),
        DbConn::Pg(_) => None,
    };
    transaction(conn, "BEGIN IMMEDIATE", "BEGIN", f)
}

/// True when the connection is inside a transaction.
fn in_transaction(conn: &mut DbConn) -> bool {
    use diesel::connection::TransactionManager as _;
    let depth = match conn {
        DbConn::Sqlite(c) => {
            AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()
        }
        DbConn::Pg(c) => {
            AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()
        }
    };
    matches!(depth, Ok(Some(_)))
}

/// Runs `f` in a savepoint of the transaction in progress; its error rolls back to it.
fn nested<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    <DbConn as Connection>::TransactionManager::begin_transaction(conn)?;
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

/// Held by the outermost SQLite write transaction in progress in this process (one
/// database per process; a nested one runs in a savepoint of it).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
