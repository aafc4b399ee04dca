//! Fresh databases on the backend of this pass, and ways to look into them.

use std::path::PathBuf;

use diesel::prelude::*;
use diesel::RunQueryDsl;
use procura::store::Store;

/// Base URL of the PostgreSQL server used by the PostgreSQL pass.
pub fn pg_base() -> String {
    std::env::var("PROCURA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// True on the PostgreSQL pass.
pub fn is_postgres() -> bool {
    matches!(
        std::env::var("PROCURA_TEST_DATABASE").as_deref(),
        Ok("postgres")
    )
}

/// A fresh, empty database, removed at drop.
pub struct TestDb {
    /// `sqlite://...` or `postgres://...`.
    pub url: String,
    /// PostgreSQL database name (None on SQLite).
    pub pg_name: Option<String>,
    /// Folder holding the SQLite file (and anything else the test writes).
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// A new database on the backend of this pass.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if is_postgres() {
            let name = format!("procura_t_{}", uuid::Uuid::new_v4().simple());
            let mut admin = PgConnection::establish(&format!("{}/postgres", pg_base())).expect(
                "PostgreSQL reachable at 127.0.0.1:5432 (run the test command, which starts it)",
            );
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .expect("create test database");
            TestDb {
                url: format!("{}/{name}", pg_base()),
                pg_name: Some(name),
                dir,
            }
        } else {
            let path = dir.path().join("procura.db");
            TestDb {
                url: format!("sqlite://{}", path.display()),
                pg_name: None,
                dir,
            }
        }
    }

    /// Path of the SQLite file (SQLite pass only).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }

    /// Drops the PostgreSQL database now, terminating connections (readiness tests).
    pub fn drop_pg_now(&self) {
        if let Some(name) = &self.pg_name {
            let mut admin =
                PgConnection::establish(&format!("{}/postgres", pg_base())).expect("admin");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .expect("drop database");
        }
    }

    /// A migrated pool on this database.
    pub fn store(&self, size: u32) -> Store {
        let store = Store::open(
            procura::store::Backend::from_url(&self.url).expect("url"),
            size,
        )
        .expect("open");
        store.migrate().expect("migrate");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.pg_name.is_some() {
            // Best effort: a test that failed half-way must not fail again here.
            if let Ok(mut admin) = PgConnection::establish(&format!("{}/postgres", pg_base())) {
                let name = self.pg_name.as_deref().unwrap_or_default();
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// The journal's actions, in order.
pub fn journal_actions(store: &Store) -> Vec<String> {
    let mut conn = store.conn().expect("conn");
    procura::journal::entries_after(&mut conn, 0, 1_000_000)
        .expect("entries")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// The number of rows in `table`.
pub fn count_rows(store: &Store, table: &str) -> i64 {
    let mut conn = store.conn().expect("conn");
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<N>(&mut *conn)
        .expect("count")
        .n
}

/// Makes every INSERT into `table` fail inside the database (a failure injected in the
/// middle of a feature's transaction), on the backend of this pass.
pub fn inject_insert_failure(store: &Store, table: &str) {
    let mut conn = store.conn().expect("conn");
    let name = format!("inject_failure_{table}");
    let sql = if is_postgres() {
        vec![
            format!("CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END; $$"),
            format!("CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"),
        ]
    } else {
        vec![format!("CREATE TRIGGER {name} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected failure'); END")]
    };
    for q in sql {
        diesel::sql_query(q).execute(&mut *conn).expect("inject");
    }
}

/// Runs one SQL statement of a test's setup.
pub fn exec_sql(store: &Store, sql: &str) {
    let mut conn = store.conn().expect("conn");
    diesel::sql_query(sql)
        .execute(&mut *conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Adds `user_id` as a member of `structure_id` (a second structure for one account).
pub fn add_membership(store: &Store, user_id: &str, structure_id: &str) {
    exec_sql(store, &format!(
        "INSERT INTO memberships (user_id, structure_id, created_at) VALUES ('{user_id}', '{structure_id}', '2030-01-01 00:00:00')"
    ));
}

/// How many times `action` stands in `actions` (from [`journal_actions`]).
pub fn count_of(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

/// Whether the journal holds an entry `action` (any action if empty) whose details contain
/// `detail`.
pub fn journal_has(store: &Store, action: &str, detail: &str) -> bool {
    let mut conn = store.conn().expect("conn");
    procura::journal::entries_after(&mut conn, 0, 1_000_000)
        .expect("entries")
        .iter()
        .any(|e| (action.is_empty() || e.action == action) && e.details.contains(detail))
}

/// Whether any journal entry's details contain `detail`.
pub fn journal_mentions(store: &Store, detail: &str) -> bool {
    journal_has(store, "", detail)
}

/// The journal's last entry.
pub fn last_journal_entry(store: &Store) -> procura::journal::Entry {
    let mut conn = store.conn().expect("conn");
    procura::journal::entries_after(&mut conn, 0, 1_000_000)
        .expect("entries")
        .pop()
        .expect("entry")
}

/// How many journal entries `action` have details containing `detail`.
pub fn journal_count(store: &Store, action: &str, detail: &str) -> usize {
    let mut conn = store.conn().expect("conn");
    procura::journal::entries_after(&mut conn, 0, 1_000_000)
        .expect("entries")
        .iter()
        .filter(|e| e.action == action && e.details.contains(detail))
        .count()
}

/// Lets entries be updated and deleted, as someone with the database's rights can (the
/// chain triggers on inserts stay).
pub fn allow_journal_edits(store: &Store) {
    if is_postgres() {
        exec_sql(store, "ALTER TABLE journal_entries DISABLE TRIGGER USER");
    } else {
        exec_sql(store, "DROP TRIGGER journal_entries_no_update");
        exec_sql(store, "DROP TRIGGER journal_entries_no_delete");
    }
}

/// Appends `n` entries `test.entry` (details `{"i": …}`) directly, as a busy service would.
pub fn append_entries(store: &Store, n: usize) {
    use procura::journal::{self, NewEntry};
    let mut conn = store.conn().expect("conn");
    procura::store::write_tx(&mut conn, |c| -> Result<(), journal::JournalError> {
        for i in 0..n {
            journal::append(
                c,
                chrono::DateTime::from_timestamp(1_900_000_000 + i as i64, 0).expect("time"),
                NewEntry::new("test.entry")
                    .actor("system")
                    .detail("i", i as i64),
            )?;
        }
        Ok(())
    })
    .expect("append");
}

/// The journal's entries, in order.
pub fn journal_entries(store: &Store) -> Vec<procura::journal::Entry> {
    let mut conn = store.conn().expect("conn");
    procura::journal::entries_after(&mut conn, 0, 1_000_000).expect("entries")
}

/// Appends `n` entries `test.entry` (details `{"i": i}`), one transaction each, at
/// consecutive seconds from 2027-01-15.
pub fn append_test_entries(store: &Store, n: usize) {
    use procura::journal::{self, NewEntry};
    for i in 0..n {
        store
            .write(|c: &mut procura::store::DbConn| -> anyhow::Result<_> {
                Ok(journal::append(
                    c,
                    chrono::DateTime::from_timestamp(1_800_000_000 + i as i64, 0).expect("time"),
                    NewEntry::new("test.entry")
                        .actor("system")
                        .detail("i", i as i64),
                )?)
            })
            .expect("append");
    }
}
