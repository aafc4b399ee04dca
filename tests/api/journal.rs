//! The journal: gap-free chain under concurrency, database-enforced append-only,
//! tampering caught by `verify`, rollbacks leave nothing.

use std::process::Command;

use diesel::RunQueryDsl;
use procura::journal::{self, NewEntry};
use procura::store::{write_tx, DbConn, Store};

use crate::helpers::*;

fn append_n(store: &Store, n: usize) {
    append_test_entries(store, n);
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
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    // The header says what follows: from entry 2, linked to entry 1, head at 4.
    let header = lines.remove(0);
    assert_eq!(header["format"], "procura-journal-export-1");
    assert_eq!(
        (header["since"].as_i64(), header["head_seq"].as_i64()),
        (Some(2), Some(4))
    );
    assert_eq!(header["prev_hash"], lines[0]["prev_hash"]);
    assert_eq!(header["head_hash"], lines[2]["hash"]);
    assert!(header.get("seq").is_none());
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
    let (code, text) = python(&export(&db), false);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("intact: 5 entries checked"), "{text}");
    disable_triggers(&store);
    sql(
        &store,
        "UPDATE journal_entries SET actor = 'cli' WHERE seq = 2",
    )
    .expect("tamper");
    let (code, text) = python(&export(&db), false);
    assert_eq!(code, Some(1));
    assert!(text.contains("entry 2 was altered"), "{text}");
}

/// Runs docs/verify_journal.py on `input`: exit code and standard output.
fn python(input: &[u8], json: bool) -> (Option<i32>, String) {
    let mut child = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/verify_journal.py"
        ))
        .args(json.then_some("--json"))
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
        .skip(1)
        .map(|l| serde_json::from_str(l).expect("entry"))
        .collect();
    assert_eq!(lines, entries);
}

/// The chain head as the database records it.
fn head(store: &Store) -> (i64, String) {
    let mut conn = store.conn().expect("conn");
    journal::head(&mut conn).expect("head")
}

/// A raw `INSERT` of an entry at `seq` linked to `prev_hash`, with the hash its content
/// has: what someone with SQL access, and no Procura, can write.
fn raw_insert(store: &Store, seq: i64, prev_hash: &str) -> Result<usize, diesel::result::Error> {
    let at = chrono::NaiveDate::from_ymd_opt(2027, 1, 2)
        .and_then(|d| d.and_hms_opt(3, 4, 5))
        .expect("time");
    let mut e = journal::Entry {
        seq,
        at,
        action: "forged.entry".into(),
        actor: Some("system".into()),
        structure_id: None,
        usager_id: None,
        mandate_id: None,
        authorisation_id: None,
        client_id: None,
        details: "{}".into(),
        prev_hash: prev_hash.into(),
        hash: String::new(),
    };
    e.hash = e.compute_hash();
    sql(
        store,
        &format!(
            "INSERT INTO journal_entries (seq, at, action, actor, details, prev_hash, hash) \
             VALUES ({seq}, '2027-01-02 03:04:05', 'forged.entry', 'system', '{{}}', '{prev_hash}', '{}')",
            e.hash
        ),
    )
}

#[test]
fn the_database_accepts_an_insert_only_at_the_head() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 3);
    let (seq, hash) = head(&store);
    assert_eq!(seq, 3);
    let mut conn = store.conn().expect("conn");
    let second = journal::entries_after(&mut conn, 1, 1).expect("entry")[0]
        .hash
        .clone();
    drop(conn);
    // Recomputed hashes, but not at the head's next number or not linked to the head:
    // refused by the database itself, on both backends.
    for (at, prev) in [
        (seq + 1, second.as_str()),
        (seq + 1, journal::GENESIS_HASH),
        (seq + 2, hash.as_str()),
        (seq, hash.as_str()),
        (seq + 1, &"f".repeat(64)),
    ] {
        let e = raw_insert(&store, at, prev).expect_err("refused");
        assert!(e.to_string().contains("not at the chain head"), "{at}: {e}");
    }
    // The head moves only with the entry it names, and stays.
    for q in [
        "UPDATE journal_head SET seq = seq + 1".to_string(),
        format!("UPDATE journal_head SET hash = '{second}'"),
        format!("UPDATE journal_head SET seq = 2, hash = '{second}'"),
    ] {
        let e = sql(&store, &q).expect_err("head update refused");
        assert!(
            e.to_string().contains("moves only with a new entry"),
            "{q}: {e}"
        );
    }
    let e = sql(&store, "DELETE FROM journal_head").expect_err("head delete refused");
    assert!(e.to_string().contains("never deleted"), "{e}");
    if is_postgres() {
        let e = sql(&store, "TRUNCATE journal_head").expect_err("truncate refused");
        assert!(e.to_string().contains("never deleted"), "{e}");
    }
    assert_eq!(head(&store), (seq, hash.clone()));
    // An insert exactly at the head, linked to it, is an append like any other: the
    // database moves the head with it, so later writes go on and the chain verifies
    // (before issue 10 it left the head behind and every later append failed).
    raw_insert(&store, seq + 1, &hash).expect("a linked insert is an append");
    assert_eq!(head(&store).0, seq + 1);
    append_n(&store, 2);
    assert_eq!(head(&store).0, seq + 3);
    let (code, v) = verify_with_binary(&db);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["entries"].as_i64(), v["last_seq"].as_i64()),
        (Some(6), Some(6))
    );
}

/// Lets tests move the head by hand, as someone who can drop triggers can.
fn disable_head_guard(store: &Store) {
    if is_postgres() {
        sql(store, "ALTER TABLE journal_head DISABLE TRIGGER USER").expect("disable triggers");
    } else {
        sql(store, "DROP TRIGGER journal_head_follows_entries").expect("drop trigger");
    }
}

#[test]
fn verify_reports_a_forged_head_in_both_directions() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 5);
    let (_, hash) = head(&store);
    let mut conn = store.conn().expect("conn");
    let fourth = journal::entries_after(&mut conn, 3, 1).expect("entry")[0]
        .hash
        .clone();
    drop(conn);
    disable_head_guard(&store);
    for (q, seq, kind) in [
        // Ahead: the entries it counts are missing.
        (
            format!("UPDATE journal_head SET seq = 7, hash = '{hash}'"),
            6,
            "missing",
        ),
        // Behind: entries beyond the head.
        (
            format!("UPDATE journal_head SET seq = 4, hash = '{fourth}'"),
            5,
            "head_mismatch",
        ),
        // Same number, another hash.
        (
            format!("UPDATE journal_head SET seq = 5, hash = '{fourth}'"),
            5,
            "head_mismatch",
        ),
    ] {
        sql(&store, &q).expect("forge the head");
        let (code, v) = verify_with_binary(&db);
        assert_eq!(code, 1, "{q}: {v}");
        assert_eq!(v["intact"], false);
        assert_eq!(v["problem"]["seq"], seq, "{q}: {v}");
        assert_eq!(v["problem"]["kind"], kind, "{q}: {v}");
        // An export states the head it was taken with: its verifiers agree.
        agree_on(&db, &procura_run(&db, &["journal", "export"]).stdout, &v);
    }
    sql(
        &store,
        &format!("UPDATE journal_head SET seq = 5, hash = '{hash}'"),
    )
    .expect("restore the head");
    assert_eq!(verify_with_binary(&db).0, 0);
}

/// The verdict of `procura journal verify --export` and of docs/verify_journal.py on the
/// same export; asserts that they agree (all but the message) and returns it.
fn both_verdicts(db: &TestDb, export: &[u8]) -> serde_json::Value {
    let path = db.dir.path().join("crafted.jsonl");
    std::fs::write(&path, export).expect("write");
    let out = procura_run(
        db,
        &[
            "journal",
            "verify",
            "--json",
            "--export",
            path.to_str().expect("path"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rust: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    let (code, text) = python(export, true);
    let mut py: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    let shown = String::from_utf8_lossy(export)
        .chars()
        .take(2000)
        .collect::<String>();
    assert_eq!(out.status.code(), code, "exit codes\n{rust}\n{py}\n{shown}");
    for v in [&mut rust, &mut py] {
        if let Some(p) = v["problem"].as_object_mut() {
            p.remove("message");
        }
    }
    assert_eq!(rust, py, "the two verifiers disagree on\n{shown}");
    assert_eq!(code, Some(if rust["intact"] == true { 0 } else { 1 }));
    rust
}

/// Both verifiers of `export` agree with `expected` (a report of `procura journal verify`).
fn agree_on(db: &TestDb, export: &[u8], expected: &serde_json::Value) {
    let v = both_verdicts(db, export);
    for k in ["intact", "entries", "last_seq", "last_hash"] {
        assert_eq!(v[k], expected[k], "{k}: {v} vs {expected}");
    }
    assert_eq!(
        v["problem"]["seq"], expected["problem"]["seq"],
        "{v} vs {expected}"
    );
    assert_eq!(
        v["problem"]["kind"], expected["problem"]["kind"],
        "{v} vs {expected}"
    );
}

/// A crafted export's expected verdict: intact, or the problem's seq and kind.
fn expect(db: &TestDb, name: &str, export: &[u8], problem: Option<(i64, &str)>) {
    let v = both_verdicts(db, export);
    match problem {
        None => assert_eq!(v["intact"], true, "{name}: {v}"),
        Some((seq, kind)) => {
            assert_eq!(v["intact"], false, "{name}: {v}");
            assert_eq!(
                (v["problem"]["seq"].as_i64(), v["problem"]["kind"].as_str()),
                (Some(seq), Some(kind)),
                "{name}: {v}"
            );
        }
    }
}

/// Export lines, each with its LF.
fn lines_of(export: &[u8]) -> Vec<String> {
    String::from_utf8(export.to_vec())
        .expect("utf-8")
        .split_inclusive('\n')
        .map(str::to_string)
        .collect()
}

/// An entry line with its hash recomputed as the documented encoding gives it for the
/// parsed entry (so that only the form, not the hash, is wrong).
fn rehash(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    let mut m = v.as_object().expect("object").clone();
    let old = m.remove("hash").expect("hash");
    let canonical = serde_json::Value::Object(m).to_string();
    let hash = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ));
    line.replace(old.as_str().expect("hash"), &hash)
}

fn header_with(header: &str, key: &str, value: serde_json::Value) -> String {
    let mut h: serde_json::Value = serde_json::from_str(header).expect("header");
    h[key] = value;
    format!("{h}\n")
}

#[test]
fn both_verifiers_agree_on_crafted_exports() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 5);
    let full = procura_run(&db, &["journal", "export"]).stdout;
    let l = lines_of(&full);
    assert_eq!(l.len(), 6, "a header and five entries");
    let join = |parts: &[String]| parts.concat().into_bytes();
    let with = |i: usize, line: String| {
        let mut v = l.clone();
        v[i] = line;
        join(&v)
    };
    let without = |drop: &[usize]| {
        join(
            &l.iter()
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, x)| x.clone())
                .collect::<Vec<_>>(),
        )
    };
    let v = both_verdicts(&db, &full);
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(
        (v["entries"].as_i64(), v["last_seq"].as_i64()),
        (Some(5), Some(5))
    );
    // Truncated: the header says since 1, so lost first lines are missing entries, not
    // an export --since; lost last lines are caught by the head it states.
    expect(&db, "head cut", &without(&[1, 2]), Some((1, "missing")));
    expect(&db, "tail cut", &without(&[5]), Some((5, "missing")));
    expect(
        &db,
        "no header",
        &without(&[0, 1, 2]),
        Some((0, "malformed")),
    );
    expect(&db, "empty", b"", Some((0, "malformed")));
    // --since N includes N and links it to entry N - 1 through the header.
    let since = procura_run(&db, &["journal", "export", "--since", "3"]).stdout;
    let v = both_verdicts(&db, &since);
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(
        (v["entries"].as_i64(), v["last_seq"].as_i64()),
        (Some(3), Some(5))
    );
    let s = lines_of(&since);
    expect(
        &db,
        "since, first cut",
        &[s[0].clone(), s[2].clone(), s[3].clone()]
            .concat()
            .into_bytes(),
        Some((3, "missing")),
    );
    let beyond = procura_run(&db, &["journal", "export", "--since", "99"]).stdout;
    assert_eq!(lines_of(&beyond).len(), 1, "only the header");
    expect(&db, "since past the head", &beyond, None);
    // The header must be exactly as written.
    let h = l[0].trim_end();
    expect(
        &db,
        "header since 2",
        &with(0, header_with(h, "since", 2.into())),
        Some((1, "reordered")),
    );
    expect(
        &db,
        "header since 1, linked elsewhere",
        &with(0, header_with(h, "prev_hash", "1".repeat(64).into())),
        Some((0, "malformed")),
    );
    expect(
        &db,
        "header spaced",
        &with(0, h.replace(",", ", ") + "\n"),
        Some((0, "malformed")),
    );
    expect(
        &db,
        "head ahead",
        &with(0, header_with(h, "head_seq", 6.into())),
        Some((6, "missing")),
    );
    expect(
        &db,
        "head behind",
        &with(0, header_with(h, "head_seq", 4.into())),
        Some((5, "head_mismatch")),
    );
    expect(
        &db,
        "head hash",
        &with(0, header_with(h, "head_hash", "0".repeat(64).into())),
        Some((5, "head_mismatch")),
    );
    // Entries: tampered, reordered, duplicated.
    expect(
        &db,
        "tampered",
        &with(3, l[3].replace("\"i\":2", "\"i\":9")),
        Some((3, "altered")),
    );
    let mut swapped = l.clone();
    swapped.swap(2, 3);
    expect(&db, "swap", &join(&swapped), Some((2, "missing")));
    let mut doubled = l.clone();
    doubled.insert(3, l[3].clone());
    expect(&db, "duplicate", &join(&doubled), Some((3, "reordered")));
    let relinked = |to: &str| {
        let v: serde_json::Value = serde_json::from_str(&l[4]).expect("json");
        rehash(&l[4].replace(v["prev_hash"].as_str().expect("prev"), to))
    };
    let second: serde_json::Value = serde_json::from_str(&l[2]).expect("json");
    let second = second["hash"].as_str().expect("hash").to_string();
    expect(
        &db,
        "links back",
        &with(4, relinked(&second)),
        Some((4, "reordered")),
    );
    expect(
        &db,
        "links nowhere",
        &with(4, relinked(&"e".repeat(64))),
        Some((4, "broken_link")),
    );
    // Not canonical, even with the hash recomputed: duplicate keys, whitespace, floats,
    // number forms, another time form, members, keys.
    let canonical_cases: &[(&str, &str, &str)] = &[
        (
            "duplicate keys",
            "\"details\":{\"i\":1}",
            "\"details\":{\"i\":1,\"i\":1}",
        ),
        (
            "forged duplicate",
            "\"details\":{\"i\":1}",
            "\"details\":{\"i\":7,\"i\":1}",
        ),
        ("space", "\"details\":{\"i\":1}", "\"details\":{\"i\": 1}"),
        ("float", "\"details\":{\"i\":1}", "\"details\":{\"i\":1.0}"),
        (
            "exponent",
            "\"details\":{\"i\":1}",
            "\"details\":{\"i\":1e0}",
        ),
        (
            "big",
            "\"details\":{\"i\":1}",
            "\"details\":{\"i\":9223372036854775808}",
        ),
        (
            "minus zero",
            "\"details\":{\"i\":1}",
            "\"details\":{\"i\":-0}",
        ),
        (
            "escape",
            "\"details\":{\"i\":1}",
            "\"details\":{\"i\":\"\\u0041\"}",
        ),
        (
            "non-ascii key",
            "\"details\":{\"i\":1}",
            "\"details\":{\"é\":1}",
        ),
        (
            "details string",
            "\"details\":{\"i\":1}",
            "\"details\":\"{\\\"i\\\":1}\"",
        ),
        ("time", ".000000Z\"", "Z\""),
        ("time stored", "\"at\":\"", "\"at\":\"stored:"),
        ("missing member", "\"client\":null,", ""),
        (
            "extra member",
            "\"client\":null,",
            "\"client\":null,\"note\":1,",
        ),
        (
            "member order",
            "\"actor\":\"system\",\"structure\":null",
            "\"structure\":null,\"actor\":\"system\"",
        ),
        ("actor number", "\"actor\":\"system\"", "\"actor\":1"),
    ];
    for (name, from, to) in canonical_cases {
        assert!(l[2].contains(from), "{name}");
        let line = l[2].replacen(from, to, 1);
        let line = if line.contains("\"i\":9223372036854775808") || line.contains("\"é\"") {
            line
        } else {
            rehash(&line)
        };
        expect(&db, name, &with(2, line), Some((2, "altered")));
    }
    expect(
        &db,
        "trailing space",
        &with(2, l[2].replace("}\n", "} \n")),
        Some((2, "altered")),
    );
    // Malformed lines.
    let malformed: &[(&str, Vec<u8>)] = &[
        (
            "CRLF",
            String::from_utf8_lossy(&full)
                .replace('\n', "\r\n")
                .into_bytes(),
        ),
        ("CR", with(2, l[2].replace('\n', "\r\n"))),
        ("bad JSON", with(2, "{\"seq\":2,\n".into())),
        ("empty line", with(2, "\n".into())),
        ("array", with(2, "[2]\n".into())),
        ("no seq", with(2, l[2].replacen("\"seq\":2,", "", 1))),
        (
            "seq string",
            with(2, l[2].replacen("\"seq\":2", "\"seq\":\"2\"", 1)),
        ),
        (
            "seq float",
            with(2, l[2].replacen("\"seq\":2", "\"seq\":2.0", 1)),
        ),
        (
            "seq minus zero",
            with(2, l[2].replacen("\"seq\":2", "\"seq\":-0", 1)),
        ),
        ("NaN", with(2, l[2].replacen("\"i\":1", "\"i\":NaN", 1))),
        ("huge", with(2, l[2].replacen("\"i\":1", "\"i\":1e400", 1))),
        (
            "huge integer",
            with(
                2,
                l[2].replacen("\"i\":1", &format!("\"i\":1{}", "0".repeat(400)), 1),
            ),
        ),
        (
            "lone surrogate",
            with(2, l[2].replacen("\"i\":1", "\"i\":\"\\ud800\"", 1)),
        ),
        (
            "lone low surrogate",
            with(2, l[2].replacen("\"i\":1", "\"i\":\"\\udc00x\"", 1)),
        ),
        (
            "deep",
            with(
                2,
                l[2].replacen(
                    "\"i\":1",
                    &format!("\"i\":{}{}", "[".repeat(120), "]".repeat(120)),
                    1,
                ),
            ),
        ),
    ];
    for (name, export) in malformed {
        let seq = if *name == "CRLF" { 0 } else { 2 };
        expect(&db, name, export, Some((seq, "malformed")));
    }
    let mut bad_utf8 = l[2].clone().into_bytes();
    let at = bad_utf8.len() - 3;
    bad_utf8.insert(at, 0xff);
    let mut bytes = join(&l[..2]);
    bytes.extend_from_slice(&bad_utf8);
    expect(&db, "not UTF-8", &bytes, Some((2, "malformed")));
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&full);
    expect(&db, "BOM", &bom, Some((0, "malformed")));
    // Nesting: 32 levels of details are allowed, 33 are not; awkward but valid strings.
    let nest = |levels: usize| "{\"a\":".repeat(levels - 1) + "{}" + &"}".repeat(levels - 1);
    let deep_ok = rehash(&l[2].replacen("{\"i\":1}", &nest(32), 1));
    let deep_bad = rehash(&l[2].replacen("{\"i\":1}", &nest(33), 1));
    expect(&db, "33 levels", &with(2, deep_bad), Some((2, "altered")));
    let v = both_verdicts(&db, &with(2, deep_ok));
    assert_eq!(
        v["problem"]["seq"], 3,
        "32 levels pass, so entry 3 no longer links: {v}"
    );
    // An export that cannot be read is a usage error.
    let out = procura_run(&db, &["journal", "verify", "--export", "absent.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.jsonl"));
}

#[test]
fn both_verifiers_agree_with_verify_on_the_stored_journal() {
    // The database and its export, judged alike: an empty journal, then stored entries
    // that are not canonical (an export writes them so that no verifier accepts them).
    let db = TestDb::new();
    let store = db.store(2);
    let export = |db: &TestDb| procura_run(db, &["journal", "export"]).stdout;
    let (code, v) = verify_with_binary(&db);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["entries"].as_i64(), v["last_seq"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(v["last_hash"], journal::GENESIS_HASH);
    agree_on(&db, &export(&db), &v);
    append_n(&store, 4);
    let (code, v) = verify_with_binary(&db);
    assert_eq!(code, 0, "{v}");
    agree_on(&db, &export(&db), &v);
    disable_triggers(&store);
    let mut cases = vec![
        (
            "duplicate keys",
            "UPDATE journal_entries SET details = '{\"i\":1,\"i\":1}' WHERE seq = 2",
        ),
        (
            "forged duplicate",
            "UPDATE journal_entries SET details = '{\"i\":9,\"i\":1}' WHERE seq = 2",
        ),
        (
            "whitespace",
            "UPDATE journal_entries SET details = '{\"i\": 1}' WHERE seq = 2",
        ),
        (
            "float",
            "UPDATE journal_entries SET details = '{\"i\":1.0}' WHERE seq = 2",
        ),
        (
            "not JSON",
            "UPDATE journal_entries SET details = 'x' WHERE seq = 2",
        ),
        (
            "newline",
            "UPDATE journal_entries SET details = '{\n\"i\":1}' WHERE seq = 2",
        ),
    ];
    if !is_postgres() {
        // SQLite keeps times as text: only what diesel writes reads as the time.
        cases.extend([
            (
                "time with T",
                "UPDATE journal_entries SET at = '2030-01-15T08:00:01' WHERE seq = 2",
            ),
            (
                "time padded",
                "UPDATE journal_entries SET at = '2030-01-15 08:00:01.000000' WHERE seq = 2",
            ),
            (
                "time as a number",
                "UPDATE journal_entries SET at = 2462516.83334491 WHERE seq = 2",
            ),
        ]);
    }
    let mut conn = store.conn().expect("conn");
    let original = journal::entries_after(&mut conn, 1, 1)
        .expect("entry")
        .remove(0);
    drop(conn);
    for (name, q) in cases {
        sql(&store, q).expect(name);
        let (code, v) = verify_with_binary(&db);
        assert_eq!(code, 1, "{name}: {v}");
        assert_eq!(v["problem"]["seq"], 2, "{name}: {v}");
        assert_eq!(v["problem"]["kind"], "altered", "{name}: {v}");
        agree_on(&db, &export(&db), &v);
        sql(
            &store,
            &format!(
                "UPDATE journal_entries SET details = '{}', at = '{}' WHERE seq = 2",
                original.details,
                original.at.format("%F %T%.f")
            ),
        )
        .expect("restore");
        assert_eq!(verify_with_binary(&db).0, 0, "{name}: restored");
    }
}
