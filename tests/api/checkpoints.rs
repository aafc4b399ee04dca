//! Signed checkpoints over the journal (issue 11): made by the command and in the
//! background, checked by `journal verify` (stored, or kept elsewhere), published with
//! proofs that an outside verifier checks, and the same verdicts from
//! docs/verify_journal.py.

use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use diesel::RunQueryDsl;
use procura::journal::merkle;
use procura::journal::note::{Checkpoint, VerifierKey};
use procura::journal::{self, NewEntry};
use procura::store::{DbConn, Store};

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

fn sql(store: &Store, q: &str) {
    let mut conn = store.conn().expect("conn");
    diesel::sql_query(q)
        .execute(&mut *conn)
        .unwrap_or_else(|e| panic!("{q}: {e}"));
}

fn try_sql(store: &Store, q: &str) -> Result<usize, diesel::result::Error> {
    let mut conn = store.conn().expect("conn");
    diesel::sql_query(q).execute(&mut *conn)
}

/// `procura …` with the test master key and a public URL.
fn cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    procura(db)
        .env("PROCURA_MASTER_KEY", TEST_MASTER_KEY_B64)
        .env("PROCURA_PUBLIC_URL", "https://procura.example.fr")
        .args(args)
        .output()
        .expect("run")
}

fn checkpoint_now(db: &TestDb) -> serde_json::Value {
    json_of(&cli(db, &["journal", "checkpoint", "--json"]))
}

fn verify(db: &TestDb, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["journal", "verify", "--json"];
    args.extend_from_slice(extra);
    let out = cli(db, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn head_seq(store: &Store) -> i64 {
    let mut conn = store.conn().expect("conn");
    journal::head(&mut conn).expect("head").0
}

/// Removes the guards an attacker with the database's rights would remove to cut the
/// journal and change checkpoints (the chain triggers stay: see [`cut_after`]).
fn disable_guards(store: &Store) {
    if is_postgres() {
        for t in [
            "journal_entries",
            "journal_head",
            "journal_checkpoints",
            "journal_tree",
        ] {
            sql(store, &format!("ALTER TABLE {t} DISABLE TRIGGER USER"));
        }
    } else {
        for t in [
            "journal_entries_no_update",
            "journal_entries_no_delete",
            "journal_head_follows_entries",
            "journal_checkpoints_no_update",
            "journal_checkpoints_no_delete",
            "journal_tree_no_update",
            "journal_tree_no_delete",
        ] {
            sql(store, &format!("DROP TRIGGER {t}"));
        }
    }
}

/// Cuts the journal after entry `keep` and rolls the head back to it, as someone with
/// the database's rights can.
fn cut_after(store: &Store, keep: i64) {
    let mut conn = store.conn().expect("conn");
    let hash = journal::entries_after(&mut conn, keep - 1, 1).expect("entry")[0]
        .hash
        .clone();
    drop(conn);
    sql(
        store,
        &format!("DELETE FROM journal_entries WHERE seq > {keep}"),
    );
    sql(
        store,
        &format!("UPDATE journal_head SET seq = {keep}, hash = '{hash}' WHERE id = 1"),
    );
    if is_postgres() {
        // The chain trigger (which moves the head) again, for appends after the cut.
        sql(
            store,
            "ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_in_chain",
        );
    }
}

#[test]
fn a_checkpoint_covers_the_journal_and_verify_checks_it() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 5);
    let first = checkpoint_now(&db);
    // The first checkpoint made the key (journaled), then covered everything.
    assert_eq!(first["created"], true);
    let size = head_seq(&store);
    assert_eq!(first["size"], size);
    assert!(journal_actions(&store).contains(&"journal.key_created".to_string()));
    let cp = Checkpoint::parse(first["note"].as_str().expect("note")).expect("a signed note");
    assert_eq!(cp.origin, "procura.example.fr/journal");
    assert_eq!(cp.size, size as u64);
    assert_eq!(STANDARD.encode(cp.root), first["root"]);
    // Nothing new: no new checkpoint.
    let again = checkpoint_now(&db);
    assert_eq!(
        (again["created"].clone(), again["size"].clone()),
        (false.into(), size.into())
    );
    let (code, v) = verify(&db, &[]);
    assert_eq!((code, v["checkpoints"].clone()), (0, 1.into()), "{v}");

    // More entries, another checkpoint from the stored nodes: both verify.
    append_n(&store, 9);
    let second = checkpoint_now(&db);
    assert_eq!(second["size"], size + 9);
    let (code, v) = verify(&db, &[]);
    assert_eq!((code, v["checkpoints"].clone()), (0, 2.into()), "{v}");
    // The text form prints the signed note.
    let out = cli(&db, &["journal", "checkpoint"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        second["note"].as_str().unwrap()
    );
}

#[test]
fn a_cut_tail_with_the_head_rolled_back_is_caught_only_by_a_checkpoint_kept_elsewhere() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 6);
    let cp = checkpoint_now(&db);
    let size = cp["size"].as_i64().unwrap();
    let kept = db.dir.path().join("kept-checkpoint.txt");
    std::fs::write(&kept, cp["note"].as_str().unwrap()).expect("write");
    let kept = kept.to_str().unwrap().to_string();

    disable_guards(&store);
    cut_after(&store, size - 2);
    // The attacker removes the stored checkpoints and nodes too.
    sql(&store, "DELETE FROM journal_checkpoints");
    sql(&store, "DELETE FROM journal_tree");
    let (code, v) = verify(&db, &[]);
    assert_eq!(code, 0, "the chain alone cannot tell: {v}");
    let (code, v) = verify(&db, &["--checkpoint", &kept]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["problem"]["kind"], "checkpoint_beyond_head", "{v}");
    assert_eq!(v["problem"]["seq"], size - 1);
    assert_eq!(v["checkpoints"], 0);

    // The attacker now writes a different tail up to the same size: the root differs.
    append_n(&store, 2);
    assert_eq!(head_seq(&store), size);
    let (code, v) = verify(&db, &[]);
    assert_eq!(code, 0, "{v}");
    let (code, v) = verify(&db, &["--checkpoint", &kept]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["problem"]["kind"], "checkpoint_root", "{v}");
    assert_eq!(v["problem"]["seq"], size);
}

#[test]
fn a_kept_checkpoint_needs_a_trusted_key() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 3);
    let cp = checkpoint_now(&db);
    let kept = db.dir.path().join("kept.txt");
    std::fs::write(&kept, cp["note"].as_str().unwrap()).expect("write");
    let kept = kept.to_str().unwrap();
    // The database's key, given as a vkey: intact.
    let mut conn = store.conn().expect("conn");
    let key = journal::checkpoint::current_key(&mut conn)
        .expect("read")
        .expect("a key");
    drop(conn);
    let vkey = key.verifier().expect("key").vkey();
    let (code, v) = verify(&db, &["--checkpoint", kept, "--key", &vkey]);
    assert_eq!((code, v["checkpoints"].clone()), (0, 2.into()), "{v}");
    // Another key of the same name: the stored and kept checkpoints are not trusted.
    let other = VerifierKey {
        name: "procura.example.fr/journal".into(),
        public: [7u8; 32],
    };
    let (code, v) = verify(&db, &["--checkpoint", kept, "--key", &other.vkey()]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["problem"]["kind"], "checkpoint_signature", "{v}");
    // A key of another origin: the checkpoint is nobody's (malformed), seq 0.
    let elsewhere = VerifierKey {
        name: "ailleurs.example/journal".into(),
        public: [7u8; 32],
    };
    let (code, v) = verify(&db, &["--key", &elsewhere.vkey()]);
    assert_eq!(
        (code, v["problem"]["kind"].clone()),
        (1, "checkpoint_malformed".into()),
        "{v}"
    );
    // Unreadable inputs are usage errors.
    for args in [
        vec!["journal", "verify", "--checkpoint", "/nonexistent/cp.txt"],
        vec!["journal", "verify", "--key", "pas une clé"],
    ] {
        let out = cli(&db, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn a_stored_checkpoint_altered_is_caught() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 4);
    let cp = checkpoint_now(&db);
    let size = cp["size"].as_i64().unwrap();
    disable_guards(&store);
    // Another root in the note and its column: the signature no longer verifies.
    let other = STANDARD.encode([9u8; 32]);
    let root = cp["root"].as_str().unwrap();
    sql(
        &store,
        &format!(
            "UPDATE journal_checkpoints SET note = REPLACE(note, '{root}', '{other}'), root = '{other}'"
        ),
    );
    let (code, v) = verify(&db, &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["problem"]["kind"], "checkpoint_signature", "{v}");
    assert_eq!(v["problem"]["seq"], size);
    // Only the column changed: the row disagrees with its note.
    sql(
        &store,
        &format!("UPDATE journal_checkpoints SET note = REPLACE(note, '{other}', '{root}')"),
    );
    let (code, v) = verify(&db, &[]);
    assert_eq!(
        (code, v["problem"]["kind"].clone()),
        (1, "checkpoint_malformed".into()),
        "{v}"
    );
}

#[test]
fn the_database_refuses_to_change_checkpoints_and_nodes() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 5);
    checkpoint_now(&db);
    for q in [
        "UPDATE journal_checkpoints SET root = 'x'",
        "DELETE FROM journal_checkpoints",
        "UPDATE journal_tree SET hash = 'x'",
        "DELETE FROM journal_tree",
    ] {
        assert!(try_sql(&store, q).is_err(), "{q} was accepted");
    }
    if is_postgres() {
        for t in ["journal_checkpoints", "journal_tree"] {
            assert!(
                try_sql(&store, &format!("TRUNCATE {t}")).is_err(),
                "TRUNCATE {t}"
            );
        }
    }
    assert_eq!(verify(&db, &[]).0, 0);
}

#[test]
fn rotating_the_key_is_journaled_and_old_checkpoints_still_verify() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 3);
    checkpoint_now(&db);
    let out = json_of(&cli(&db, &["journal", "rotate-key", "--json"]));
    let vk = VerifierKey::parse(out["vkey"].as_str().unwrap()).expect("vkey");
    assert_eq!(out["key_id"], vk.id_hex());
    assert!(journal_has(&store, "journal.key_rotated", &vk.id_hex()));
    let second = checkpoint_now(&db);
    assert_eq!(second["key_id"], vk.id_hex());
    let (code, v) = verify(&db, &[]);
    assert_eq!((code, v["checkpoints"].clone()), (0, 2.into()), "{v}");
}

/// The proof endpoints' answers, checked as an outside verifier would: against the
/// signed checkpoint and the published key.
#[test]
fn published_checkpoints_and_proofs_verify() {
    let app = TestApp::builder()
        .env(&[("PROCURA_CHECKPOINT_ENTRIES", "3")])
        .spawn();
    append_n(&app.store, 7);
    // The background checkpointer covers them within seconds.
    let mut note = None;
    for _ in 0..100 {
        let r = get(&app.url("/journal/checkpoint"));
        if r.status == 200 && Checkpoint::parse(&r.body).expect("note").size >= 7 {
            assert!(r.header("content-type").unwrap().starts_with("text/plain"));
            note = Some(r.body);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let cp = Checkpoint::parse(&note.expect("a checkpoint within 10 s")).expect("note");
    let key = get(&app.url("/journal/key"));
    assert_eq!(key.status, 200);
    let vk = VerifierKey::parse(&key.body).expect("vkey");
    assert!(key.body.ends_with('\n'));
    cp.verify(std::slice::from_ref(&vk))
        .expect("signed by the published key");
    assert_eq!(get(&app.url("/journal/keys")).body, key.body);

    let mut conn = app.store.conn().expect("conn");
    let entries = journal::entries_after(&mut conn, 0, 1000).expect("entries");
    drop(conn);
    let leaf = |seq: usize| {
        let mut d = [0u8; 32];
        hex::decode_to_slice(&entries[seq - 1].hash, &mut d).expect("hex");
        merkle::leaf_hash(&d)
    };
    let hashes = |v: &serde_json::Value| -> Vec<[u8; 32]> {
        v["hashes"]
            .as_array()
            .expect("hashes")
            .iter()
            .map(|h| {
                STANDARD
                    .decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect()
    };
    let n = cp.size;
    for seq in [1, 2, n / 2, n] {
        let r = get(&app.url(&format!("/journal/proof/inclusion?seq={seq}&size={n}")));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(
            (v["leaf_index"].as_u64(), v["tree_size"].as_u64()),
            (Some(seq - 1), Some(n))
        );
        assert!(merkle::verify_inclusion(
            seq - 1,
            n,
            &leaf(seq as usize),
            &hashes(&v),
            &cp.root
        ));
        // Another entry's leaf does not pass.
        let other = if seq == 1 { 2 } else { 1 };
        assert!(!merkle::verify_inclusion(
            seq - 1,
            n,
            &leaf(other),
            &hashes(&v),
            &cp.root
        ));
    }
    // Consistency from the first entry alone (its root is its leaf hash) to the checkpoint.
    let r = get(&app.url(&format!("/journal/proof/consistency?from=1&to={n}")));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!((v["from"].as_u64(), v["to"].as_u64()), (Some(1), Some(n)));
    assert!(merkle::verify_consistency(
        1,
        n,
        &leaf(1),
        &cp.root,
        &hashes(&v)
    ));
    assert!(!merkle::verify_consistency(
        1,
        n,
        &leaf(2),
        &cp.root,
        &hashes(&v)
    ));

    // Bad input: a clear 400, whatever is wrong.
    for q in [
        format!("inclusion?seq=0&size={n}"),
        format!("inclusion?seq={}&size={n}", n + 1),
        format!("inclusion?seq=1&size={}", n + 1000),
        "inclusion?seq=abc&size=3".to_string(),
        "inclusion?seq=1".to_string(),
        "inclusion?seq=1&size=3&x=1".to_string(),
        "inclusion?seq=1&seq=2&size=3".to_string(),
        "inclusion?seq=-1&size=3".to_string(),
        "inclusion?seq=99999999999999999999999&size=3".to_string(),
        "consistency?from=3&to=2".to_string(),
        format!("consistency?from=1&to={}", n + 1000),
        "consistency?to=2".to_string(),
    ] {
        let r = get(&app.url(&format!("/journal/proof/{q}")));
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
}

#[test]
fn proofs_are_rate_limited_per_address() {
    let app = TestApp::spawn();
    let mut limited = 0;
    for _ in 0..130 {
        if get(&app.url("/journal/key")).status == 429 {
            limited += 1;
        }
    }
    assert_eq!(limited, 10, "120 requests a minute per address, then 429");
}

/// `procura journal verify --export … --checkpoint … --key …` and docs/verify_journal.py
/// give the same verdict, intact or not.
#[test]
fn both_verifiers_agree_on_checkpoints() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 10);
    let first = checkpoint_now(&db);
    append_n(&store, 5);
    let second = checkpoint_now(&db);
    let mut conn = store.conn().expect("conn");
    let vkey = journal::checkpoint::current_key(&mut conn)
        .expect("read")
        .expect("key")
        .verifier()
        .expect("key")
        .vkey();
    drop(conn);
    let dir = db.dir.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().unwrap().to_string()
    };
    let cp1 = write("cp1.txt", first["note"].as_str().unwrap());
    let cp2 = write("cp2.txt", second["note"].as_str().unwrap());
    let key = write("key.txt", &format!("{vkey}\n"));
    let export = procura_run(&db, &["journal", "export"]).stdout;

    let intact = agree(&db, &export, &[&cp2, &cp1], &key);
    assert_eq!(
        (intact["intact"].clone(), intact["checkpoints"].clone()),
        (true.into(), 2.into())
    );

    // The export cut before the second checkpoint's end (with a matching header).
    let short = procura_run(&db, &["journal", "export"]).stdout;
    let text = String::from_utf8(short).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let keep = first["size"].as_i64().unwrap() as usize + 2;
    lines.truncate(keep + 1);
    let last: serde_json::Value = serde_json::from_str(lines[keep]).unwrap();
    let header = format!(
        "{{\"format\":\"procura-journal-export-1\",\"head_hash\":\"{}\",\"head_seq\":{},\"prev_hash\":\"{}\",\"since\":1}}",
        last["hash"].as_str().unwrap(),
        keep,
        journal::GENESIS_HASH
    );
    lines[0] = &header;
    let cut = format!("{}\n", lines.join("\n"));
    let v = agree(&db, cut.as_bytes(), &[&cp1, &cp2], &key);
    assert_eq!(v["problem"]["kind"], "checkpoint_beyond_head", "{v}");
    assert_eq!(v["checkpoints"], 1);

    // A checkpoint signed by another key; a note that is not one.
    let forged = write(
        "forged.txt",
        &second["note"].as_str().unwrap().replacen("\n1", "\n2", 1),
    );
    let v = agree(&db, &export, &[&forged], &key);
    assert!(
        ["checkpoint_signature", "checkpoint_malformed"]
            .contains(&v["problem"]["kind"].as_str().unwrap()),
        "{v}"
    );
    let junk = write("junk.txt", "pas un point de contrôle\n");
    let v = agree(&db, &export, &[&cp1, &junk], &key);
    assert_eq!(v["problem"]["kind"], "checkpoint_malformed", "{v}");

    // A chain problem comes first: checkpoints are not looked at.
    let altered = String::from_utf8(export.clone())
        .unwrap()
        .replacen("\"i\":3", "\"i\":4", 1);
    let v = agree(&db, altered.as_bytes(), &[&cp1], &key);
    assert_eq!(
        (v["problem"]["kind"].clone(), v["checkpoints"].clone()),
        ("altered".into(), 0.into())
    );
}

/// Runs both verifiers with the checkpoints and key file; asserts they agree (all but
/// the message) and returns the verdict.
fn agree(db: &TestDb, export: &[u8], checkpoints: &[&str], key_file: &str) -> serde_json::Value {
    let path = db.dir.path().join("export.jsonl");
    std::fs::write(&path, export).expect("write");
    let mut args = vec![
        "journal",
        "verify",
        "--json",
        "--export",
        path.to_str().unwrap(),
    ];
    let key_arg = format!("@{key_file}");
    for c in checkpoints {
        args.extend(["--checkpoint", c]);
    }
    args.extend(["--key", &key_arg]);
    let out = cli(db, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rust: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    let mut py_cmd = Command::new("python3");
    py_cmd
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/verify_journal.py"
        ))
        .arg("--json");
    for c in checkpoints {
        py_cmd.args(["--checkpoint", c]);
    }
    py_cmd.args(["--key", &key_arg]);
    let py_out = py_cmd
        .stdin(std::fs::File::open(&path).expect("open"))
        .output()
        .expect("python3");
    let py_text = String::from_utf8_lossy(&py_out.stdout);
    let mut py: serde_json::Value = serde_json::from_str(py_text.trim())
        .unwrap_or_else(|e| panic!("{e}: {py_text} {}", String::from_utf8_lossy(&py_out.stderr)));
    assert_eq!(
        out.status.code(),
        py_out.status.code(),
        "exit codes\n{rust}\n{py}"
    );
    for v in [&mut rust, &mut py] {
        if let Some(p) = v["problem"].as_object_mut() {
            p.remove("message");
        }
    }
    assert_eq!(rust, py, "the two verifiers disagree");
    rust
}
