//! The journal: gap-free chain under concurrency, database-enforced append-only,
//! tampering caught by `verify`, rollbacks leave nothing.

use std::process::Command;

use diesel::RunQueryDsl;
use procura::journal::{self, NewEntry};
use procura::store::{write_tx, DbConn, Store};

use crate::helpers::*;

fn append_n(store: &Store, n: usize) {
    for i in 0..n {
        store
            .write(|c: &mut DbConn| -> anyhow::Result<_> {
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

fn sql(store: &Store, q: &str) -> Result<usize, diesel::result::Error> {
    let mut conn = store.conn().expect("conn");
    diesel::sql_query(q).execute(&mut *conn)
}

fn disable_triggers(store: &Store) {
    if is_postgres() {
        sql(store, "ALTER TABLE journal_entries DISABLE TRIGGER USER").expect("disable triggers");
    } else {
        sql(store, "DROP TRIGGER journal_entries_no_update").expect("drop trigger");
        sql(store, "DROP TRIGGER journal_entries_no_delete").expect("drop trigger");
    }
}

fn verify_with_binary(db: &TestDb) -> (i32, serde_json::Value) {
    let out = procura_run(db, &["journal", "verify", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn concurrent_writers_make_one_gap_free_chain() {
    let db = TestDb::new();
    let store = db.store(34);
    let threads: Vec<_> = (0..32)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    store
                        .write(|c: &mut DbConn| -> anyhow::Result<_> {
                            Ok(journal::append(
                                c,
                                chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time"),
                                NewEntry::new("test.concurrent")
                                    .detail("writer", w)
                                    .detail("i", i),
                            )?)
                        })
                        .expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let mut conn = store.conn().expect("conn");
    let entries = journal::entries_after(&mut conn, 0, 100_000).expect("entries");
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=6400).collect::<Vec<_>>());
    assert_eq!(journal::length(&mut conn).expect("length"), 6400);
    let report = journal::verify(&mut conn).expect("verify");
    assert!(report.intact, "{report:?}");
    assert_eq!(report.entries, 6400);
    drop(conn);
    let (code, v) = verify_with_binary(&db);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["intact"], true);
}

#[test]
fn the_database_refuses_update_delete_and_truncate() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 3);
    let e = sql(
        &store,
        "UPDATE journal_entries SET action = 'forged' WHERE seq = 2",
    )
    .expect_err("update refused");
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = sql(&store, "DELETE FROM journal_entries WHERE seq = 3").expect_err("delete refused");
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = sql(&store, "DELETE FROM journal_entries").expect_err("delete all refused");
    assert!(e.to_string().contains("append-only"), "{e}");
    if is_postgres() {
        let e = sql(&store, "TRUNCATE journal_entries").expect_err("truncate refused");
        assert!(e.to_string().contains("append-only"), "{e}");
    }
    let mut conn = store.conn().expect("conn");
    let entries = journal::entries_after(&mut conn, 0, 10).expect("entries");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1].action, "test.entry");
    assert!(journal::verify(&mut conn).expect("verify").intact);
}

#[test]
fn verify_names_an_altered_entry() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 6);
    assert_eq!(verify_with_binary(&db).0, 0);
    disable_triggers(&store);
    sql(
        &store,
        "UPDATE journal_entries SET details = '{\"i\":99}' WHERE seq = 3",
    )
    .expect("tamper");
    let (code, v) = verify_with_binary(&db);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["intact"], false);
    assert_eq!(v["problem"]["seq"], 3);
    assert_eq!(v["problem"]["kind"], "altered");
    // The text output names the entry too.
    let out = procura_run(&db, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("n° 3"));
}

#[test]
fn verify_names_a_deleted_entry_and_a_cut_end() {
    // An entry in the middle; then the last entries, caught from the chain head.
    for (deleted, first_missing) in [("seq = 4", 4), ("seq >= 5", 5)] {
        let db = TestDb::new();
        let store = db.store(2);
        append_n(&store, 6);
        disable_triggers(&store);
        sql(
            &store,
            &format!("DELETE FROM journal_entries WHERE {deleted}"),
        )
        .expect("tamper");
        let (code, v) = verify_with_binary(&db);
        assert_eq!(code, 1, "{deleted}");
        assert_eq!(v["problem"]["seq"], first_missing);
        assert_eq!(v["problem"]["kind"], "missing");
    }
}

#[test]
fn verify_names_reordered_entries() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 5);
    disable_triggers(&store);
    // Swap the content of entries 2 and 3 (keeping their numbers): hashes no longer match.
    let mut conn = store.conn().expect("conn");
    let entries = journal::entries_after(&mut conn, 0, 10).expect("entries");
    drop(conn);
    let (a, b) = (&entries[1], &entries[2]);
    for (target, src) in [(a.seq, b), (b.seq, a)] {
        sql(
            &store,
            &format!(
                "UPDATE journal_entries SET details = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
                src.details, src.prev_hash, src.hash, target
            ),
        )
        .expect("swap");
    }
    let (code, v) = verify_with_binary(&db);
    assert_eq!(code, 1);
    assert_eq!(v["problem"]["seq"], 2);
    let kind = v["problem"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(kind == "altered" || kind == "reordered", "{v}");
}

#[test]
fn a_rolled_back_transaction_leaves_no_entry_and_no_gap() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 2);
    let mut conn = store.conn().expect("conn");
    let r: Result<(), anyhow::Error> = write_tx(&mut conn, |c| {
        journal::append(
            c,
            chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("t"),
            NewEntry::new("test.doomed"),
        )?;
        anyhow::bail!("injected failure after the append")
    });
    assert!(r.is_err());
    assert_eq!(journal::length(&mut conn).expect("length"), 2);
    drop(conn);
    append_n(&store, 1);
    let mut conn = store.conn().expect("conn");
    let entries = journal::entries_after(&mut conn, 0, 10).expect("entries");
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(entries.iter().all(|e| e.action != "test.doomed"));
    assert!(journal::verify(&mut conn).expect("verify").intact);
}

#[test]
fn export_is_json_lines_that_an_outside_program_can_verify() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 4);
    let out = procura_run(&db, &["journal", "export", "--since", "2"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["seq"], 2);
    assert_eq!(lines[0]["details"]["i"], 1);
    // Re-implement the documented hash (docs/journal.md): SHA-256 over the entry
    // without `hash`, keys sorted, no whitespace.
    for l in &lines {
        let mut m = l.as_object().expect("object").clone();
        let hash = m.remove("hash").expect("hash");
        let canonical = serde_json::Value::Object(m).to_string();
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        assert_eq!(hex::encode(digest), hash.as_str().expect("hex"));
    }
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    // Bad input: a non-numeric --since is refused with exit 2.
    let out = procura_run(&db, &["journal", "export", "--since", "abc"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn details_refuse_floats() {
    let db = TestDb::new();
    let store = db.store(1);
    let r = store.write(|c: &mut DbConn| -> anyhow::Result<_> {
        Ok(journal::append(
            c,
            chrono::DateTime::from_timestamp(0, 0).expect("t"),
            NewEntry::new("x").detail("f", 1.5),
        )?)
    });
    assert!(r.is_err());
    let mut conn = store.conn().expect("conn");
    assert_eq!(journal::length(&mut conn).expect("len"), 0);
}

#[test]
fn the_documented_python_verifier_agrees() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 5);
    let export = |db: &TestDb| procura_run(db, &["journal", "export"]).stdout;
    let python = |input: &[u8]| {
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/docs/verify_journal.py"
            ))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), input).expect("write");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, text) = python(&export(&db));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("intact: 5 entries"), "{text}");
    disable_triggers(&store);
    sql(
        &store,
        "UPDATE journal_entries SET actor = 'cli' WHERE seq = 2",
    )
    .expect("tamper");
    let (code, text) = python(&export(&db));
    assert_eq!(code, Some(1));
    assert!(text.contains("entry 2 was altered"), "{text}");
}

/// Rewrites entry `seq` to link to `prev_hash`, with a hash that matches its new content:
/// only the link is wrong.
fn relink(store: &Store, seq: i64, prev_hash: &str) {
    let mut conn = store.conn().expect("conn");
    let mut e = journal::entries_after(&mut conn, seq - 1, 1)
        .expect("entry")
        .remove(0);
    drop(conn);
    e.prev_hash = prev_hash.to_string();
    e.hash = e.compute_hash();
    sql(
        store,
        &format!(
            "UPDATE journal_entries SET prev_hash = '{}', hash = '{}' WHERE seq = {seq}",
            e.prev_hash, e.hash
        ),
    )
    .expect("relink");
}

#[test]
fn verify_tells_a_reordering_from_a_broken_link() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 6);
    disable_triggers(&store);
    let mut conn = store.conn().expect("conn");
    let second = journal::entries_after(&mut conn, 1, 1).expect("entry")[0]
        .hash
        .clone();
    drop(conn);
    // Entry 4 links to entry 2: an earlier entry, so a reordering.
    relink(&store, 4, &second);
    let (code, v) = verify_with_binary(&db);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["problem"]["seq"], 4, "{v}");
    assert_eq!(v["problem"]["kind"], "reordered", "{v}");
    assert!(
        v["problem"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("links to entry 2"),
        "{v}"
    );
    // Entry 4 links to a hash no entry has: its predecessor was replaced.
    relink(&store, 4, &"f".repeat(64));
    let mut conn = store.conn().expect("conn");
    let p = journal::verify(&mut conn)
        .expect("verify")
        .problem
        .expect("problem");
    assert_eq!((p.seq, p.kind), (4, journal::ProblemKind::BrokenLink));
}

#[test]
fn verify_refuses_details_not_stored_in_canonical_form() {
    // What is hashed is what is stored: details re-written with a space (same JSON
    // value) no longer verify, although re-encoding them would give the same hash.
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 4);
    disable_triggers(&store);
    sql(
        &store,
        "UPDATE journal_entries SET details = '{\"i\": 2}' WHERE seq = 3",
    )
    .expect("tamper");
    let (code, v) = verify_with_binary(&db);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["problem"]["seq"], 3, "{v}");
    assert_eq!(v["problem"]["kind"], "altered", "{v}");
    assert!(
        v["problem"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("canonical"),
        "{v}"
    );
}

#[test]
fn verify_and_export_read_the_stored_entries() {
    // Both read rows without building entries; what they report must be what
    // `entries_after` loads.
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 3);
    let mut conn = store.conn().expect("conn");
    let report = journal::verify(&mut conn).expect("verify");
    assert!(report.intact, "{report:?}");
    assert_eq!((report.entries, report.last_seq), (3, 3));
    let entries = journal::entries_after(&mut conn, 0, 10).expect("entries");
    assert_eq!(report.last_hash, entries[2].hash);
    let mut out = Vec::new();
    assert_eq!(journal::export(&mut conn, 1, &mut out).expect("export"), 3);
    let lines: Vec<journal::Entry> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("entry"))
        .collect();
    assert_eq!(lines, entries);
}
