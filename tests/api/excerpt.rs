//! Excerpts of the journal (issue 11): `/audit/export` and `/gestion/journal/export` give
//! the filtered entries with the latest signed checkpoint and an inclusion proof each;
//! `procura journal verify --excerpt` and `docs/verify_journal.py --excerpt` agree on
//! them, clean or tampered.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use procura::clock::Clock;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;
use procura::journal::merkle;
use procura::journal::note::{Checkpoint, VerifierKey};
use serde_json::Value;

use crate::helpers::*;

/// A structure with an aidant, two usagers with a mandate each, a second structure with
/// one mandate, an auditor (logged in) and a checkpoint covering all of it.
struct Setup {
    app: TestApp,
    clock: procura::clock::FixedClock,
    s: procura::accounts::structures::Structure,
    other: procura::accounts::structures::Structure,
    manager: Account,
    aidant: Account,
    usager_a: String,
    auditor: Web,
    size: i64,
}

fn setup(n: u32) -> Setup {
    let (app, clock, s, manager, aidant) = team(n);
    let other = structure(&app.store, &clock, "Autre structure", n + 1);
    let other_aidant = member(&app, &clock, "b@exemple.fr", &[Role::Aidant], &other);
    let a = seed_mandate(
        &app.store,
        &clock,
        &aidant,
        &s,
        "sub-a",
        &["papiers"],
        MandateDuration::Month,
    );
    seed_mandate(
        &app.store,
        &clock,
        &aidant,
        &s,
        "sub-b",
        &["famille"],
        MandateDuration::Month,
    );
    seed_mandate(
        &app.store,
        &clock,
        &other_aidant,
        &other,
        "sub-c",
        &["social"],
        MandateDuration::Month,
    );
    let auditor = auditor_of(&app, &clock, &s, "audit@exemple.fr");
    let size = checkpoint_of(&app, &clock).size;
    Setup {
        usager_a: a.mandate.usager_id.clone(),
        app,
        clock,
        s,
        other,
        manager,
        aidant,
        auditor,
        size,
    }
}

/// The header and the lines of an excerpt.
fn lines(body: &str) -> (Value, Vec<Value>) {
    let mut it = body.lines();
    let header: Value = serde_json::from_str(it.next().expect("a header")).expect("JSON header");
    (
        header,
        it.map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect(),
    )
}

/// Every proof of the excerpt leads to its checkpoint's root, signed by its key.
fn assert_proofs_verify(header: &Value, lines: &[Value]) {
    let key = VerifierKey::parse(header["key"].as_str().expect("key")).expect("vkey");
    let cp = Checkpoint::parse(header["checkpoint"].as_str().expect("checkpoint")).expect("note");
    cp.verify(&[key]).expect("signed by the header's key");
    assert_eq!(cp.size as i64, header["size"].as_i64().expect("size"));
    for l in lines {
        let seq = l["entry"]["seq"].as_u64().expect("seq");
        let mut leaf = [0u8; 32];
        hex::decode_to_slice(l["entry"]["hash"].as_str().expect("hash"), &mut leaf).expect("hex");
        let proof: Vec<merkle::Hash> = l["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(|h| {
                STANDARD
                    .decode(h.as_str().expect("b64"))
                    .expect("b64")
                    .try_into()
                    .expect("32 bytes")
            })
            .collect();
        assert!(
            merkle::verify_inclusion(
                seq - 1,
                cp.size,
                &merkle::leaf_hash(&leaf),
                &proof,
                &cp.root
            ),
            "proof of entry {seq}"
        );
    }
}

fn seqs(lines: &[Value]) -> Vec<i64> {
    lines
        .iter()
        .map(|l| l["entry"]["seq"].as_i64().expect("seq"))
        .collect()
}

/// The export lines of `procura journal export`, by seq (without their LF).
fn export_lines(app: &TestApp) -> std::collections::HashMap<i64, String> {
    let mut conn = app.store.conn().expect("conn");
    let mut out = Vec::new();
    procura::journal::export(&mut conn, 1, &mut out).expect("export");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .skip(1)
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (v["seq"].as_i64().expect("seq"), l.to_string())
        })
        .collect()
}

#[test]
fn an_excerpt_holds_every_covered_entry_with_a_proof_against_the_latest_checkpoint() {
    let t = setup(11);
    let r = t.auditor.get("/audit/export");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r
        .header("content-disposition")
        .expect("disposition")
        .starts_with("attachment"));
    let (header, lines) = lines(&r.body);
    assert_eq!(header["format"], "procura-journal-excerpt-1");
    assert_eq!(header["size"], t.size);
    assert_eq!(header["filters"], serde_json::json!({}));
    // The header is canonical: keys sorted, no whitespace.
    assert_eq!(r.body.lines().next().expect("header"), header.to_string());
    let published = get(&t.app.url("/journal/key"));
    assert_eq!(
        header["key"].as_str().expect("key"),
        published.body.trim_end()
    );
    // Every entry up to the checkpoint, none after it (the auditor's login came before the
    // checkpoint; the export itself writes nothing).
    assert_eq!(seqs(&lines), (1..=t.size).collect::<Vec<_>>());
    // Each entry exactly as an export writes it.
    let export = export_lines(&t.app);
    let body_lines: Vec<&str> = r.body.lines().skip(1).collect();
    for (l, raw) in lines.iter().zip(&body_lines) {
        let seq = l["entry"]["seq"].as_i64().expect("seq");
        assert!(
            raw.starts_with(&format!("{{\"entry\":{},\"proof\":[", export[&seq])),
            "{raw}"
        );
    }
    assert_proofs_verify(&header, &lines);
    // Entries added after the checkpoint wait for the next one.
    t.clock.advance(chrono::Duration::seconds(1));
    seed_mandate(
        &t.app.store,
        &t.clock,
        &t.aidant,
        &t.s,
        "sub-d",
        &["travail"],
        MandateDuration::Month,
    );
    let (_, again) = self::lines(&t.auditor.get("/audit/export").body);
    assert_eq!(seqs(&again).last().copied(), Some(t.size));
    let size = checkpoint_of(&t.app, &t.clock).size;
    assert!(size > t.size);
    let (header, again) = self::lines(&t.auditor.get("/audit/export").body);
    assert_eq!(header["size"], size);
    assert_eq!(seqs(&again).last().copied(), Some(size));
    assert_proofs_verify(&header, &again);
}

#[test]
fn filters_select_entries_and_are_stated_in_the_header() {
    let t = setup(12);
    let (header, created) = lines(&t.auditor.get("/audit/export?action=mandate.created").body);
    assert_eq!(
        header["filters"],
        serde_json::json!({"action": "mandate.created"})
    );
    assert_eq!(created.len(), 3);
    assert!(created
        .iter()
        .all(|l| l["entry"]["action"] == "mandate.created"));
    assert_proofs_verify(&header, &created);

    let (_, of_a) = lines(
        &t.auditor
            .get(&format!("/audit/export?usager={}", t.usager_a))
            .body,
    );
    assert!(!of_a.is_empty());
    assert!(of_a
        .iter()
        .all(|l| l["entry"]["usager"] == t.usager_a.as_str()));

    let (_, of_other) = lines(
        &t.auditor
            .get(&format!(
                "/audit/export?structure={}&action=mandate.created",
                t.other.id
            ))
            .body,
    );
    assert_eq!(of_other.len(), 1);
    // The seeded mandates are recorded by the actor "test"; logins by their account.
    let (_, by) = lines(&t.auditor.get("/audit/export?actor=test").body);
    assert!(by.len() >= 3 && by.iter().all(|l| l["entry"]["actor"] == "test"));
    let actor = format!("user:{}", t.manager.user.id);
    let (_, by) = lines(&t.auditor.get(&format!("/audit/export?actor={actor}")).body);
    // The manager never logged in: only the terms accepted when the fixture made it.
    assert_eq!(by.len(), 1);
    assert_eq!(by[0]["entry"]["action"], "account.terms_accepted");

    let mandate = created[0]["entry"]["mandate"]
        .as_str()
        .expect("mandate")
        .to_string();
    let (_, of_m) = lines(
        &t.auditor
            .get(&format!("/audit/export?mandate={mandate}"))
            .body,
    );
    assert!(
        of_m.iter()
            .all(|l| l["entry"]["mandate"] == mandate.as_str())
            && !of_m.is_empty()
    );

    // Days are UTC and inclusive.
    let today = t.clock.now().date_naive();
    let (_, on_day) = lines(
        &t.auditor
            .get(&format!("/audit/export?from={today}&to={today}"))
            .body,
    );
    assert_eq!(on_day.len() as i64, t.size);
    let tomorrow = today.succ_opt().expect("day");
    let (h, none) = lines(
        &t.auditor
            .get(&format!("/audit/export?from={tomorrow}"))
            .body,
    );
    assert!(none.is_empty());
    assert_eq!(h["filters"]["from"], tomorrow.to_string());
    let yesterday = today.pred_opt().expect("day");
    let (_, before) = lines(&t.auditor.get(&format!("/audit/export?to={yesterday}")).body);
    assert!(before.is_empty());

    // Keyset pagination.
    let (_, after) = lines(&t.auditor.get("/audit/export?after=5").body);
    assert_eq!(seqs(&after), (6..=t.size).collect::<Vec<_>>());
}

#[test]
fn bad_filters_get_a_french_400() {
    let t = setup(13);
    for (q, says) in [
        ("?foo=1", "Filtre inconnu"),
        ("?action=a&action=b", "deux fois"),
        ("?from=2026-13-01", "AAAA-MM-JJ"),
        ("?to=hier", "AAAA-MM-JJ"),
        ("?from=2026-11-02&to=2026-11-01", "période est vide"),
        ("?after=-1", "after"),
        ("?after=1.5", "after"),
        ("?after=99999999", "point de contrôle"),
        ("?structure=a%20b", "identifiant"),
    ] {
        let r = t.auditor.get(&format!("/audit/export{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.body.contains(says), "{q}: {}", r.body);
    }
}

#[test]
fn only_auditors_export_everything_and_managers_only_their_structure() {
    let t = setup(14);
    let aidant = logged_in(&t.app, &t.clock, &t.aidant);
    assert_eq!(aidant.get("/audit/export").status, 403);
    assert_eq!(aidant.get("/gestion/journal/export").status, 403);
    assert_eq!(Web::new(&t.app).get("/audit/export").status, 303);
    let manager = logged_in(&t.app, &t.clock, &t.manager);
    assert_eq!(manager.get("/audit/export").status, 403);
    checkpoint_of(&t.app, &t.clock);
    let r = manager.get("/gestion/journal/export");
    assert_eq!(r.status, 200, "{}", r.body);
    let (header, lines) = lines(&r.body);
    assert!(!lines.is_empty());
    assert!(lines
        .iter()
        .all(|l| l["entry"]["structure"] == t.s.id.as_str()));
    assert_proofs_verify(&header, &lines);
    let all = self::lines(&t.auditor.get("/audit/export").body).1;
    let ours = all
        .iter()
        .filter(|l| l["entry"]["structure"] == t.s.id.as_str())
        .count();
    assert_eq!(lines.len(), ours);
    let r = manager.get(&format!("/gestion/journal/export?structure={}", t.other.id));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = manager.get("/gestion/journal/export?when=now");
    assert_eq!(r.status, 400);
}

/// `docs/verify_journal.py --excerpt --json`: (exit code, verdict).
fn python(excerpt: &str, key: Option<&str>) -> (i32, Value) {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/verify_journal.py"
    ))
    .args(["--excerpt", "--json"]);
    if let Some(k) = key {
        cmd.args(["--key", k]);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(excerpt.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

/// `procura journal verify --excerpt FILE --json`: (exit code, verdict).
fn rust(db: &TestDb, excerpt: &str, key: Option<&str>) -> (i32, Value) {
    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), excerpt).expect("write");
    let path = file.path().display().to_string();
    let mut args = vec!["journal", "verify", "--json", "--excerpt", path.as_str()];
    if let Some(k) = key {
        args.extend(["--key", k]);
    }
    let out = procura(db).args(&args).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr))),
    )
}

/// The verdict without its message (the tools word it differently).
fn facts(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(p) = v.get_mut("problem").and_then(Value::as_object_mut) {
        p.remove("message");
    }
    v
}

/// Replaces line `i` (0: the header) of an excerpt.
fn with_line(excerpt: &str, i: usize, line: &str) -> String {
    let mut lines: Vec<&str> = excerpt.lines().collect();
    lines[i] = line;
    lines.join("\n") + "\n"
}

/// The header with one member changed, re-encoded canonically.
fn with_header(excerpt: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut h: Value = serde_json::from_str(excerpt.lines().next().expect("header")).expect("json");
    f(&mut h);
    with_line(excerpt, 0, &h.to_string())
}

#[test]
fn the_rust_and_python_verifiers_agree_on_clean_and_tampered_excerpts() {
    let t = setup(15);
    let clean = t.auditor.get("/audit/export").body;
    let (header, lines) = lines(&clean);
    let key = header["key"].as_str().expect("key").to_string();
    let size = t.size;
    assert!(size >= 4, "a tree with non-empty proofs");
    let line = |i: usize| clean.lines().nth(i).expect("line").to_string();

    let mut swapped: Vec<&str> = clean.lines().collect();
    swapped.swap(2, 3);
    let other_root = STANDARD.encode([7u8; 32]);
    let note = header["checkpoint"].as_str().expect("note").to_string();
    let root_line = note.lines().nth(2).expect("root").to_string();
    let other_key = {
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[9u8; 32]).expect("key");
        use ring::signature::KeyPair;
        VerifierKey {
            name: Checkpoint::parse(&note).expect("note").origin,
            public: pair.public_key().as_ref().try_into().expect("32"),
        }
        .vkey()
    };
    let first_proof_hash = lines[1]["proof"][0].as_str().expect("a proof").to_string();
    // (what, the excerpt, --key, the expected problem's seq and kind)
    type Case<'a> = (&'a str, String, Option<&'a str>, Option<(i64, &'a str)>);
    let cases: Vec<Case> = vec![
        ("clean", clean.clone(), None, None),
        (
            "clean, trusted key",
            clean.clone(),
            Some(key.as_str()),
            None,
        ),
        (
            "header not JSON",
            with_line(&clean, 0, "{"),
            None,
            Some((0, "malformed")),
        ),
        (
            "header not canonical",
            with_line(&clean, 0, &format!(" {}", line(0))),
            None,
            Some((0, "malformed")),
        ),
        (
            "checkpoint unreadable",
            with_header(&clean, |h| h["checkpoint"] = "garbage".into()),
            None,
            Some((0, "checkpoint_malformed")),
        ),
        (
            "checkpoint root changed",
            with_header(&clean, |h| {
                h["checkpoint"] = note.replace(&root_line, &other_root).into()
            }),
            None,
            Some((size, "checkpoint_signature")),
        ),
        (
            "another trusted key",
            clean.clone(),
            Some(other_key.as_str()),
            Some((size, "checkpoint_signature")),
        ),
        (
            "line not JSON",
            with_line(&clean, 2, "nope"),
            None,
            Some((2, "malformed")),
        ),
        (
            "lines swapped",
            swapped.join("\n") + "\n",
            None,
            Some((2, "reordered")),
        ),
        (
            "entry edited",
            with_line(
                &clean,
                3,
                &line(3).replacen("\"seq\":3,\"at\":\"", "\"seq\":3,\"at\":\"1", 1),
            ),
            None,
            Some((3, "altered")),
        ),
        (
            "entry action edited",
            with_line(
                &clean,
                2,
                &line(2).replacen("\"action\":\"", "\"action\":\"x", 1),
            ),
            None,
            Some((2, "altered")),
        ),
        (
            "proof changed",
            with_line(
                &clean,
                2,
                &line(2).replacen(&first_proof_hash, &other_root, 1),
            ),
            None,
            Some((2, "inclusion_invalid")),
        ),
        (
            "entry beyond the checkpoint",
            with_line(
                &clean,
                1,
                &line(1).replacen("\"seq\":1,", &format!("\"seq\":{},", size + 1), 1),
            ),
            None,
            Some((size + 1, "malformed")),
        ),
    ];
    for (what, excerpt, key, expected) in cases {
        let (rc_py, py) = python(&excerpt, key);
        let (rc_rs, rs) = rust(&t.app.db, &excerpt, key);
        assert_eq!(facts(&py), facts(&rs), "{what}: python {py} / rust {rs}");
        assert_eq!(rc_py, rc_rs, "{what}");
        match expected {
            None => {
                assert_eq!(rs["intact"], true, "{what}: {rs}");
                assert_eq!(rs["entries"], size, "{what}");
                assert_eq!(rc_rs, 0);
            }
            Some((seq, kind)) => {
                assert_eq!(rs["intact"], false, "{what}: {rs}");
                assert_eq!(rs["problem"]["kind"], kind, "{what}: {rs}");
                assert_eq!(rs["problem"]["seq"], seq, "{what}: {rs}");
                assert_eq!(rc_rs, 1, "{what}");
            }
        }
    }
}

#[test]
fn a_long_excerpt_comes_in_several_batches_each_line_with_its_proof() {
    let t = setup(16);
    append_entries(&t.app.store, 1_234);
    let size = checkpoint_of(&t.app, &t.clock).size;
    let r = t.auditor.get("/audit/export");
    assert_eq!(r.status, 200);
    let (header, all) = lines(&r.body);
    assert_eq!(header["size"], size);
    assert_eq!(seqs(&all), (1..=size).collect::<Vec<_>>());
    assert_proofs_verify(&header, &all);
    let (_, some) = lines(
        &t.auditor
            .get("/audit/export?action=test.entry&after=600")
            .body,
    );
    assert_eq!(some.len() as i64, size - 600);
    assert!(some.iter().all(|l| l["entry"]["action"] == "test.entry"));
    let (rc, v) = python(&r.body, None);
    assert_eq!(
        (rc, v["intact"].clone(), v["entries"].clone()),
        (0, true.into(), size.into())
    );
}

#[test]
fn without_a_checkpoint_there_is_no_excerpt_yet() {
    // A fixed clock: one login is 30 seconds, less than the 60 after which the service
    // makes its first checkpoint.
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "S", 17);
    let auditor = auditor_of(&app, &clock, &s, "audit@exemple.fr");
    let mut conn = app.store.conn().expect("conn");
    assert!(procura::journal::checkpoint::latest(&mut conn)
        .expect("q")
        .is_none());
    let r = auditor.get("/audit/export");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("Aucun point de contrôle"), "{}", r.body);
    checkpoint_of(&app, &clock);
    assert_eq!(auditor.get("/audit/export").status, 200);
}
