//! The `migrate` command and the two migration trees (SQLite and PostgreSQL).

use crate::helpers::*;

#[test]
fn migrate_on_an_empty_database_then_again() {
    let db = TestDb::new();
    let out = procura(&db).arg("migrate").output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Migration appliquée"));
    if let Some(p) = db.sqlite_path() {
        assert!(p.is_file(), "SQLite file created");
    }
    let out = procura(&db).arg("migrate").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Aucune migration en attente"));
}

#[test]
fn both_backends_have_the_same_migrations() {
    let (sqlite, pg) = procura::store::migration_names();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, pg);
}
