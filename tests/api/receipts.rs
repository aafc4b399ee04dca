//! Receipts on attestations (issue 11): the attestation shows its entry, the inclusion
//! proof against the first checkpoint covering it (or that one is coming), and a QR code
//! of the public `/verifier` page, which checks digest and inclusion without showing any
//! personal data.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;
use procura::journal::merkle;
use procura::journal::note::{Checkpoint, VerifierKey};

use crate::helpers::*;

struct Setup {
    app: TestApp,
    clock: procura::clock::FixedClock,
    structure: procura::accounts::structures::Structure,
    aidant: Account,
    web: Web,
    mandate: procura::mandates::Mandate,
    seq: i64,
}

/// A structure named "Maison France Services de Trappes", its aidant logged in, and a
/// mandate for Angela DUBOIS; no checkpoint is due for an hour.
fn setup() -> Setup {
    let (app, clock) = app_with_clock(&[("PROCURA_CHECKPOINT_SECONDS", "3600")]);
    let structure = structure(&app.store, &clock, "Maison France Services de Trappes", 21);
    let aidant = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &structure);
    let web = logged_in(&app, &clock, &aidant);
    let created = seed_mandate(
        &app.store,
        &clock,
        &aidant,
        &structure,
        "sub-r",
        &["papiers"],
        MandateDuration::Month,
    );
    let seq = created.mandate.journal_seq.expect("journaled");
    Setup {
        app,
        clock,
        structure,
        aidant,
        web,
        mandate: created.mandate,
        seq,
    }
}

fn verifier_url(t: &Setup) -> String {
    format!(
        "/verifier?seq={}&empreinte={}",
        t.seq, t.mandate.attestation_digest
    )
}

#[test]
fn the_attestation_carries_its_receipt_and_a_qr_code_of_the_verifier() {
    let t = setup();
    let page = format!("/mandats/{}/attestation", t.mandate.id);
    let r = t.web.get(&page);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(&format!("id=\"journal-seq\">{}<", t.seq)));
    // No checkpoint covers it yet: the page says when one will.
    assert!(r.body.contains("id=\"receipt-pending\""), "{}", r.body);
    assert!(r.body.contains("3600 secondes"));
    assert!(!r.body.contains("id=\"receipt-proof\""));
    // The QR code, inline SVG, of the public address.
    let url = format!(
        "{}/verifier?seq={}&amp;empreinte={}",
        t.app.base, t.seq, t.mandate.attestation_digest
    );
    assert!(r.body.contains(&url), "{}", r.body);
    let svg = between(&r.body, "<div class=\"fr-qr\">", "</div>");
    assert!(
        svg.starts_with("<svg role=\"img\" aria-label=") && svg.contains("<path"),
        "{svg}"
    );
    assert!(!svg.contains("style=") && !r.body.contains("<script"));

    // Once a checkpoint covers it: its size, the link, and the proof.
    let cp = checkpoint_of(&t.app, &t.clock);
    let r = t.web.get(&page);
    assert!(!r.body.contains("id=\"receipt-pending\""));
    assert!(
        r.body
            .contains(&format!("id=\"receipt-size\">{}<", cp.size)),
        "{}",
        r.body
    );
    assert!(r.body.contains("href=\"/journal/checkpoint\""));
    let mut conn = t.app.store.conn().expect("conn");
    let proof = procura::journal::checkpoint::inclusion(&mut conn, t.seq, cp.size).expect("proof");
    assert!(!proof.is_empty());
    let listed = between(&r.body, "id=\"receipt-proof\">", "</ol>");
    for h in &proof {
        assert!(
            listed.contains(&html_escape(&STANDARD.encode(h))),
            "{listed}"
        );
    }
    // A later checkpoint does not change the receipt: the first covering one stays.
    t.clock.advance(chrono::Duration::seconds(1));
    seed_mandate(
        &t.app.store,
        &t.clock,
        &t.aidant,
        &t.structure,
        "sub-s",
        &["famille"],
        MandateDuration::Month,
    );
    let later = checkpoint_of(&t.app, &t.clock);
    assert!(later.size > cp.size);
    let r = t.web.get(&page);
    assert!(r
        .body
        .contains(&format!("id=\"receipt-size\">{}<", cp.size)));
}

/// What askama writes for text (base64 holds `/`, `+` and `=`).
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[test]
fn the_verifier_confirms_a_covered_attestation_with_evidence_and_no_personal_data() {
    let t = setup();
    let anonymous = Web::new(&t.app);
    // Before any checkpoint covers it: recorded, not yet verified.
    let pending = anonymous
        .get(&format!("{}&format=json", verifier_url(&t)))
        .json();
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["verified"], false);

    let cp = checkpoint_of(&t.app, &t.clock);
    let r = anonymous.get(&verifier_url(&t));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "Cette attestation est enregistrée au journal : entrée n° {}, du ",
            t.seq
        )),
        "{}",
        r.body
    );
    assert!(r.body.contains(&format!(
        "couverte par le point de contrôle signé de taille {}",
        cp.size
    )));
    assert!(
        r.body.contains("id=\"receipt-checkpoint\"") && r.body.contains("id=\"receipt-proof\"")
    );

    let v = anonymous
        .get(&format!("{}&format=json", verifier_url(&t)))
        .json();
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["status"], "verified");
    assert_eq!(v["seq"], t.seq);
    assert_eq!(v["action"], "mandate.created");
    assert_eq!(v["checkpoint_size"], cp.size);
    assert_eq!(v["checkpoint"], cp.note.as_str());
    let key = get(&t.app.url("/journal/key")).body;
    assert_eq!(v["key"].as_str().expect("key"), key.trim_end());
    // The evidence checks independently: the key signed the checkpoint, and the proof
    // leads from the entry's hash to its root.
    let checkpoint = Checkpoint::parse(&cp.note).expect("note");
    checkpoint
        .verify(&[VerifierKey::parse(key.trim_end()).expect("vkey")])
        .expect("signed");
    let mut leaf = [0u8; 32];
    hex::decode_to_slice(v["entry_hash"].as_str().expect("hash"), &mut leaf).expect("hex");
    let proof: Vec<merkle::Hash> = v["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| {
            STANDARD
                .decode(h.as_str().expect("b64"))
                .expect("b64")
                .try_into()
                .expect("32")
        })
        .collect();
    assert!(merkle::verify_inclusion(
        t.seq as u64 - 1,
        checkpoint.size,
        &merkle::leaf_hash(&leaf),
        &proof,
        &checkpoint.root
    ));

    // No personal data, in the page or the JSON: no names, no ids of the usager, the
    // structure, the mandate or the aidant.
    let json = anonymous
        .get(&format!("{}&format=json", verifier_url(&t)))
        .body;
    for body in [&r.body, &json] {
        for secret in [
            "Angela",
            "DUBOIS",
            "angela@exemple.fr",
            t.mandate.usager_id.as_str(),
            t.mandate.id.as_str(),
            t.structure.id.as_str(),
            t.structure.name.as_str(),
            "Trappes",
            t.aidant.user.id.as_str(),
            "a@exemple.fr",
        ] {
            assert!(!body.contains(secret), "{secret} shown: {body}");
        }
    }
}

#[test]
fn the_verifier_says_no_for_a_wrong_digest_an_unknown_entry_or_another_action() {
    let t = setup();
    checkpoint_of(&t.app, &t.clock);
    let web = Web::new(&t.app);
    let wrong = "0".repeat(64);
    let r = web.get(&format!("/verifier?seq={}&empreinte={wrong}", t.seq));
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Non vérifiée") && r.body.contains("une autre empreinte"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Cette attestation est enregistrée"));
    let v = web
        .get(&format!(
            "/verifier?seq={}&empreinte={wrong}&format=json",
            t.seq
        ))
        .json();
    assert_eq!(
        (v["verified"].clone(), v["status"].clone()),
        (false.into(), "digest_mismatch".into())
    );
    assert!(v["checkpoint"].is_null() && v["proof"].as_array().is_some_and(Vec::is_empty));

    let digest = &t.mandate.attestation_digest;
    let r = web.get(&format!("/verifier?seq=999999&empreinte={digest}"));
    assert!(r.status == 200 || r.status == 404);
    assert!(r.body.contains("pas d’entrée n° 999999"), "{}", r.body);
    let v = web
        .get(&format!(
            "/verifier?seq=999999&empreinte={digest}&format=json"
        ))
        .json();
    assert_eq!(v["status"], "unknown_entry");
    let v = web
        .get(&format!("/verifier?seq=1&empreinte={digest}&format=json"))
        .json();
    assert_eq!(v["status"], "not_an_attestation");
    assert_eq!(v["verified"], false);
    // Upper-case hex is the same digest.
    let v = web
        .get(&format!(
            "/verifier?seq={}&empreinte={}&format=json",
            t.seq,
            digest.to_uppercase()
        ))
        .json();
    assert_eq!(v["status"], "verified");
}

#[test]
fn the_verifier_refuses_malformed_input_with_a_400_and_shows_a_form_without_input() {
    let t = setup();
    let web = Web::new(&t.app);
    let form = web.get("/verifier");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"seq\"") && form.body.contains("name=\"empreinte\""));
    let digest = &t.mandate.attestation_digest;
    for q in [
        format!("seq=abc&empreinte={digest}"),
        format!("seq=0&empreinte={digest}"),
        format!("seq=-3&empreinte={digest}"),
        format!("seq=99999999999999999999&empreinte={digest}"),
        "seq=1&empreinte=xyz".to_string(),
        format!("seq=1&empreinte={digest}0"),
        format!("seq={}", t.seq),
        format!("empreinte={digest}"),
        format!("seq=1&seq=2&empreinte={digest}"),
        format!("seq=1&empreinte={digest}&nom=DUBOIS"),
        format!("seq=1&empreinte={digest}&format=pdf"),
        "format=json".to_string(),
    ] {
        let r = web.get(&format!("/verifier?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(
            ["seq", "empreinte", "Paramètre", "format"]
                .iter()
                .any(|w| r.body.contains(w)),
            "{q}: {}",
            r.body
        );
    }
}

#[test]
fn a_tampered_entry_is_not_verified() {
    let t = setup();
    checkpoint_of(&t.app, &t.clock);
    let web = Web::new(&t.app);
    let url = format!("{}&format=json", verifier_url(&t));
    assert_eq!(web.get(&url).json()["status"], "verified");
    allow_journal_edits(&t.app.store);
    // Someone rewrites who recorded the mandate, keeping the digest.
    exec_sql(
        &t.app.store,
        &format!(
            "UPDATE journal_entries SET actor = 'cli' WHERE seq = {}",
            t.seq
        ),
    );
    let v = web.get(&url).json();
    assert_eq!(v["status"], "altered", "{v}");
    assert_eq!(v["verified"], false);
    let r = web.get(&verifier_url(&t));
    assert!(r.body.contains("a été altérée"), "{}", r.body);

    // And an entry rewritten with a matching hash no longer has the checkpoint's proof.
    let mut e = last_entry_at(&t.app, t.seq);
    e.actor = Some("cli".into());
    e.at += chrono::Duration::seconds(1);
    let hash = e.compute_hash();
    exec_sql(
        &t.app.store,
        &format!(
            "UPDATE journal_entries SET hash = '{hash}', at = '{}' WHERE seq = {}",
            e.at.format("%Y-%m-%d %H:%M:%S%.6f"),
            t.seq
        ),
    );
    let v = web.get(&url).json();
    assert_eq!(v["status"], "inclusion_invalid", "{v}");
    assert_eq!(v["verified"], false);
}

/// Entry `seq` as stored.
fn last_entry_at(app: &TestApp, seq: i64) -> procura::journal::Entry {
    let mut conn = app.store.conn().expect("conn");
    procura::journal::entries_after(&mut conn, seq - 1, 1)
        .expect("entry")
        .remove(0)
}

#[test]
fn the_verifier_is_rate_limited_per_address() {
    let t = setup();
    let web = Web::new(&t.app);
    let url = verifier_url(&t);
    let statuses: Vec<u16> = (0..130).map(|_| web.get(&url).status).collect();
    assert_eq!(statuses[0], 200);
    let r = web.get(&url);
    assert_eq!(r.status, 429, "{statuses:?}");
    assert!(r.body.contains("réessayez dans une minute"), "{}", r.body);
}
