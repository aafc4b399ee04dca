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
    append_test_entries(store, n);
}

fn sql(store: &Store, q: &str) {
    let mut conn = store.conn().expect("conn");
    diesel::sql_query(q)
        .execute(&mut *conn)
        .unwrap_or_else(|e| panic!("{q}: {e}"));
}

/// A real Ed25519 public key, not Procura's.
fn stranger_key(name: &str) -> VerifierKey {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("key");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
    VerifierKey {
        name: name.into(),
        public: pair.public_key().as_ref().try_into().expect("32 bytes"),
    }
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
    let other = stranger_key("procura.example.fr/journal");
    let (code, v) = verify(&db, &["--checkpoint", kept, "--key", &other.vkey()]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["problem"]["kind"], "checkpoint_signature", "{v}");
    // A key of another origin: the checkpoint is nobody's (malformed), seq 0.
    let elsewhere = stranger_key("ailleurs.example/journal");
    let (code, v) = verify(&db, &["--key", &elsewhere.vkey()]);
    assert_eq!(
        (code, v["problem"]["kind"].clone()),
        (1, "checkpoint_malformed".into()),
        "{v}"
    );
    // Unreadable inputs are usage errors: a missing file, a malformed key, bytes that are
    // no Ed25519 point, a small-order point (it verifies forged signatures), white space
    // around a key given inline, an empty key file.
    let not_a_point = format!(
        "procura.example.fr/journal+{}+AQcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH",
        hex::encode(procura::journal::note::key_id(
            "procura.example.fr/journal",
            &[7u8; 32]
        ))
    );
    let identity = {
        let mut p = [0u8; 32];
        p[0] = 1;
        format!(
            "procura.example.fr/journal+{}+{}",
            hex::encode(procura::journal::note::key_id(
                "procura.example.fr/journal",
                &p
            )),
            STANDARD.encode([&[1u8][..], &p].concat())
        )
    };
    let empty = db.dir.path().join("empty.txt");
    std::fs::write(&empty, "\n\n").expect("write");
    let empty = format!("@{}", empty.display());
    let spaced = format!(" {vkey}");
    for args in [
        vec!["journal", "verify", "--checkpoint", "/nonexistent/cp.txt"],
        vec!["journal", "verify", "--key", "pas une clé"],
        vec!["journal", "verify", "--key", &not_a_point],
        vec!["journal", "verify", "--key", &identity],
        vec!["journal", "verify", "--key", &spaced],
        vec!["journal", "verify", "--key", &empty],
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
    let key_id = checkpoint_now(&db)["key_id"].as_str().unwrap().to_string();
    let head = head_seq(&store);
    for q in [
        "UPDATE journal_checkpoints SET root = 'x'".to_string(),
        "DELETE FROM journal_checkpoints".to_string(),
        "UPDATE journal_tree SET hash = 'x'".to_string(),
        "DELETE FROM journal_tree".to_string(),
        // Inserts by SQL: a checkpoint beyond the journal, or not above the last one, or
        // absurdly large; a node beyond the journal, or a leaf.
        format!(
            "INSERT INTO journal_checkpoints VALUES ({}, 'x', '{key_id}', 'junk', CURRENT_TIMESTAMP)",
            head + 1
        ),
        format!("INSERT INTO journal_checkpoints VALUES (1, 'x', '{key_id}', 'junk', CURRENT_TIMESTAMP)"),
        format!(
            "INSERT INTO journal_checkpoints VALUES (4611686018427387904, 'x', '{key_id}', 'junk', CURRENT_TIMESTAMP)"
        ),
        format!("INSERT INTO journal_tree VALUES (1, {}, 'x')", head / 2 + 1),
        "INSERT INTO journal_tree VALUES (62, 4611686018427387903, 'x')".to_string(),
        "INSERT INTO journal_tree VALUES (0, 0, 'x')".to_string(),
        // Keys: only retiring is allowed.
        "UPDATE journal_keys SET name = 'evil.example/journal'".to_string(),
        "UPDATE journal_keys SET public_key = 'x'".to_string(),
        "DELETE FROM journal_keys".to_string(),
    ] {
        assert!(try_sql(&store, &q).is_err(), "{q} was accepted");
    }
    if is_postgres() {
        for t in ["journal_checkpoints", "journal_tree", "journal_keys"] {
            assert!(
                try_sql(&store, &format!("TRUNCATE {t} CASCADE")).is_err(),
                "TRUNCATE {t}"
            );
        }
    }
    assert_eq!(verify(&db, &[]).0, 0);
    // Retiring is what rotation does.
    assert_eq!(cli(&db, &["journal", "rotate-key"]).status.code(), Some(0));
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
    // The start-up's entries get a first checkpoint, kept for a consistency proof; then
    // the background checkpointer covers new entries within seconds.
    let mut first_note = None;
    for _ in 0..100 {
        let r = get(&app.url("/journal/checkpoint"));
        if r.status == 200 {
            first_note = Some(r.body);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let first_note = first_note.expect("a first checkpoint within 10 s");
    let first_size = Checkpoint::parse(&first_note).expect("note").size;
    append_n(&app.store, 7);
    let mut note = None;
    for _ in 0..100 {
        let r = get(&app.url("/journal/checkpoint"));
        if r.status == 200 && Checkpoint::parse(&r.body).expect("note").size >= first_size + 7 {
            assert!(r.header("content-type").unwrap().starts_with("text/plain"));
            note = Some(r.body);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let cp_note = note.expect("a checkpoint within 10 s");
    let cp = Checkpoint::parse(&cp_note).expect("note");
    let key = get(&app.url("/journal/key"));
    assert_eq!(key.status, 200);
    let vk = VerifierKey::parse(key.body.trim_end_matches('\n')).expect("vkey");
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

    // The independent verifier checks the same proofs from files, as an auditor would.
    let dir = app.db.dir.path();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().unwrap().to_string()
    };
    let cp_file = file("cp.txt", &cp_note);
    let key_arg = key.body.trim().to_string();
    let seq = n / 2;
    let proof = file(
        "inclusion.json",
        &get(&app.url(&format!("/journal/proof/inclusion?seq={seq}&size={n}"))).body,
    );
    let py = |args: &[&str]| -> (Option<i32>, serde_json::Value) {
        let out = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/docs/verify_journal.py"
            ))
            .arg("--json")
            .args(args)
            .output()
            .expect("python3");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (
            out.status.code(),
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    };
    let right = entries[seq as usize - 1].hash.clone();
    let wrong = entries[seq as usize].hash.clone();
    for (hash, intact) in [(&right, true), (&wrong, false)] {
        let (code, v) = py(&[
            "--inclusion",
            &proof,
            "--entry-hash",
            hash,
            "--checkpoint",
            &cp_file,
            "--key",
            &key_arg,
        ]);
        assert_eq!(
            (code, v["intact"].as_bool()),
            (Some(if intact { 0 } else { 1 }), Some(intact)),
            "{v}"
        );
        if !intact {
            assert_eq!(v["problem"]["kind"], "inclusion_invalid");
        }
    }
    let old_file = file("old.txt", &first_note);
    let old_size = first_size;
    assert!(
        old_size < n,
        "a real consistency proof, not from a size to itself"
    );
    let cons = file(
        "consistency.json",
        &get(&app.url(&format!(
            "/journal/proof/consistency?from={old_size}&to={n}"
        )))
        .body,
    );
    let (code, v) = py(&[
        "--consistency",
        &cons,
        "--checkpoint",
        &old_file,
        "--checkpoint",
        &cp_file,
        "--key",
        &key_arg,
    ]);
    assert_eq!((code, v["intact"].as_bool()), (Some(0), Some(true)), "{v}");

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
        "inclusion?seq=-0&size=3".to_string(),
        "inclusion?seq=01&size=3".to_string(),
        "inclusion?seq=+1&size=3".to_string(),
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
    assert_eq!(v["problem"]["kind"], "checkpoint_signature", "{v}");
    // A saved copy with one more line feed, and a file that is not UTF-8: malformed for
    // both.
    let extra_lf = write(
        "extra_lf.txt",
        &format!("{}\n", first["note"].as_str().unwrap()),
    );
    let v = agree(&db, &export, &[&extra_lf], &key);
    assert_eq!(v["problem"]["kind"], "checkpoint_malformed", "{v}");
    let latin1 = dir.join("latin1.txt");
    std::fs::write(&latin1, b"procura.example.fr/journal\n1\n\xe9\n\n").expect("write");
    let v = agree(&db, &export, &[latin1.to_str().unwrap()], &key);
    assert_eq!(v["problem"]["kind"], "checkpoint_malformed", "{v}");
    let junk = write("junk.txt", "pas un point de contrôle\n");
    let v = agree(&db, &export, &[&cp1, &junk], &key);
    assert_eq!(v["problem"]["kind"], "checkpoint_malformed", "{v}");

    // The tail rewritten after the second checkpoint, chained again: the chain is intact,
    // the root is not.
    let size = second["size"].as_i64().unwrap();
    disable_guards(&store);
    cut_after(&store, size - 2);
    append_n(&store, 2);
    let rewritten = procura_run(&db, &["journal", "export"]).stdout;
    let v = agree(&db, &rewritten, &[&cp1, &cp2], &key);
    assert_eq!(v["problem"]["kind"], "checkpoint_root", "{v}");
    assert_eq!(
        (v["problem"]["seq"].clone(), v["checkpoints"].clone()),
        (size.into(), 1.into())
    );

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

/// A journal longer than one step (after an upgrade, say) is covered in several short
/// transactions: the command loops, each checkpoint extends the last.
#[test]
fn a_long_journal_is_covered_in_steps() {
    let db = TestDb::new();
    let store = db.store(2);
    let n = journal::checkpoint::MAX_STEP as usize + 10;
    // In transactions of 500: on PostgreSQL each append updates the head row, and many
    // updates of one row in one transaction make each next one slower.
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        store
            .write(|c: &mut DbConn| -> anyhow::Result<()> {
                let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time");
                for i in chunk {
                    journal::append(c, at, NewEntry::new("test.entry").detail("i", *i as i64))?;
                }
                Ok(())
            })
            .expect("append");
    }
    let cp = checkpoint_now(&db);
    let head = head_seq(&store);
    assert_eq!(cp["size"], head);
    assert_eq!(count_rows(&store, "journal_checkpoints"), 2);
    let (code, v) = verify(&db, &[]);
    assert_eq!((code, v["checkpoints"].clone()), (0, 2.into()), "{v}");
}

/// The checkpointer signs only what extends what it signed: checkpoints and nodes removed
/// from the database (guards disabled) stop it, loudly, instead of being signed again.
#[test]
fn the_service_refuses_to_sign_a_journal_that_no_longer_extends_its_checkpoints() {
    let app = TestApp::builder()
        .env(&[("PROCURA_CHECKPOINT_ENTRIES", "1")])
        .spawn();
    let mut signed = 0;
    for _ in 0..100 {
        let r = get(&app.url("/journal/checkpoint"));
        if r.status == 200 {
            signed = Checkpoint::parse(&r.body).expect("note").size;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(signed > 0, "a first checkpoint within 10 s");
    disable_guards(&app.store);
    if is_postgres() {
        sql(
            &app.store,
            "ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_in_chain",
        );
    }
    sql(&app.store, "DELETE FROM journal_checkpoints");
    sql(&app.store, "DELETE FROM journal_tree");
    append_n(&app.store, 3);
    std::thread::sleep(std::time::Duration::from_millis(3000));
    assert_eq!(
        count_rows(&app.store, "journal_checkpoints"),
        0,
        "nothing signed again"
    );
    assert_eq!(get(&app.url("/journal/checkpoint")).status, 404);
}

/// A wrong master key (a database restored elsewhere, say): the key cannot be opened, and
/// nothing is written.
#[test]
fn a_key_that_cannot_be_opened_stops_checkpoints() {
    let db = TestDb::new();
    let store = db.store(2);
    append_n(&store, 3);
    checkpoint_now(&db);
    append_n(&store, 3);
    let nodes = count_rows(&store, "journal_tree");
    let out = procura(&db)
        .env(
            "PROCURA_MASTER_KEY",
            "ERERERERERERERERERERERERERERERERERERERERERE=",
        )
        .env("PROCURA_PUBLIC_URL", "https://procura.example.fr")
        .args(["journal", "checkpoint", "--json"])
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(count_rows(&store, "journal_checkpoints"), 1);
    assert_eq!(count_rows(&store, "journal_tree"), nodes);
}
