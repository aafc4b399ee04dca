//! The mandate document (issue 13, docs/attestation.md): template v2 for new mandates (a
//! readable page, its canonical text, its PDF checked with poppler's pdftotext and
//! pdfinfo), v1 mandates still shown and verified as before.

use procura::accounts::structures;
use procura::domain::mandate::{parse_demarches, MandateDuration, ATTESTATION_V1, ATTESTATION_V2};
use procura::mandates::{Consent, ConsentMode, Created};
use procura::store::write_tx;

use crate::helpers::*;

/// A structure with a postal address, its aidant logged in, and Angela's v2 mandate.
struct World {
    app: TestApp,
    clock: procura::clock::FixedClock,
    structure: procura::accounts::structures::Structure,
    aidant: Account,
    web: Web,
    created: Created,
}

fn world() -> World {
    let (app, clock) = app_with_clock(&[]);
    let structure = {
        let base = format!("{:013}", 4_000_000_000_077u64);
        let siret = (0..10)
            .map(|d| format!("{base}{d}"))
            .find(|s| procura::domain::valid_siret(s))
            .expect("a valid SIRET");
        let mut conn = app.store.conn().expect("conn");
        write_tx(&mut conn, |c| {
            structures::create(
                c,
                procura::clock::Clock::now(&clock),
                "test",
                "Maison France Services du Centre",
                &siret,
                "12 rue de la Paix, 75002 Paris",
            )
        })
        .expect("structure")
    };
    let aidant = member(
        &app,
        &clock,
        "lea@exemple.fr",
        AIDANT_AND_MANAGER,
        &structure,
    );
    let web = logged_in(&app, &clock, &aidant);
    let mut angela = identity("fc-angela");
    angela.birthdate = "1962-08-24".into();
    let created = seed_mandate_for(
        &app.store,
        &clock,
        &aidant,
        &structure,
        &angela,
        &["social", "logement"],
        MandateDuration::Semester,
    );
    World {
        app,
        clock,
        structure,
        aidant,
        web,
        created,
    }
}

/// A mandate made with template `version` through the domain's creation (the way
/// mandates made before v2 were: same function, older template).
fn mandate_with_version(w: &World, sub: &str, version: &'static str) -> Created {
    let mut conn = w.app.store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        procura::mandates::create_mandate_with(
            c,
            procura::clock::Clock::now(&w.clock),
            "test",
            &w.aidant.user.id,
            &w.structure.id,
            &identity(sub),
            &parse_demarches(&["famille"]).expect("d"),
            MandateDuration::Month,
            &Consent {
                attestation_version: version,
                ..Consent::new(ConsentMode::Presence)
            },
        )
    })
    .expect("mandate")
}

/// Whitespace runs as one space (pdftotext cuts lines where the PDF wraps them).
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs a poppler tool on `pdf`; its standard output.
fn poppler(tool: &str, pdf: &[u8], extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("mandat.pdf");
    std::fs::write(&file, pdf).expect("write");
    let out = std::process::Command::new(tool)
        .args(extra)
        .arg(&file)
        .args(if tool == "pdftotext" {
            vec!["-"]
        } else {
            vec![]
        })
        .output()
        .unwrap_or_else(|e| panic!("{tool} (poppler-utils, installed by scripts/test): {e}"));
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn a_new_mandate_is_a_readable_document_with_the_proof_in_a_footer() {
    let w = world();
    let m = &w.created.mandate;
    assert_eq!(m.attestation_version, ATTESTATION_V2);
    let page = w.web.get(&format!("/mandats/{}/attestation", m.id));
    assert_eq!(page.status, 200, "{}", page.body);
    let body = html_unescape(&page.body);
    for s in [
        "MANDAT POUR RÉALISER DES DÉMARCHES ADMINISTRATIVES",
        "articles 1984 et suivants du Code civil",
        "Angela Claire Louise DUBOIS, née le 24 août 1962",
        "Maison France Services du Centre, SIRET ",
        "12 rue de la Paix, 75002 Paris",
        "Social - Santé : assurance maladie, aides sociales, handicap, retraite.",
        "Logement : aides au logement",
        "(heure de Paris)",
        "ni tutelle, ni curatelle, ni habilitation familiale, ni mandat de protection future",
        "auprès de la structure Maison France Services du Centre, 12 rue de la Paix, 75002 Paris ;",
        "page /moi",
        "Vos données personnelles",
        "CNIL",
        "Fait à Paris, le ",
        "La personne représentée : Angela Claire Louise DUBOIS",
        "Pour la structure Maison France Services du Centre, l’aidant : ",
        "Télécharger le mandat en PDF",
    ] {
        assert!(body.contains(s), "{s:?} not on the page: {}", page.body);
    }
    // A document, not a dump: headings and paragraphs; the proof in the footer.
    assert!(page
        .body
        .contains("<article class=\"fr-mandate\" lang=\"fr\""));
    let footer = between(
        &page.body,
        "<footer class=\"fr-mandate__proof\"",
        "</footer>",
    );
    assert!(footer.contains(&format!(
        "id=\"journal-seq\">{}<",
        m.journal_seq.expect("seq")
    )));
    assert!(footer.contains(&m.attestation_digest) && footer.contains(ATTESTATION_V2));
    assert!(footer.contains("<div class=\"fr-qr\"><svg"), "{footer}");
    assert!(!body.contains("sha256sum") && !body.contains("UTC"));
    // The canonical text: on the page (not printed) and as text/plain; its digest is the
    // recorded one.
    let shown = html_unescape(&between(&page.body, "id=\"attestation-text\">", "</pre>"));
    let text = w
        .web
        .get(&format!("/mandats/{}/attestation?format=texte", m.id));
    assert_eq!(text.status, 200);
    assert!(text
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/plain"));
    assert_eq!(text.body, shown);
    assert_eq!(
        procura::crypto::sha256_hex(text.body.as_bytes()),
        m.attestation_digest
    );
    assert!(text.body.ends_with("\n") && !text.body.ends_with("\n\n"));
    assert!(text.body.contains("\n\nFait à Paris, le "));
    // The journal records v2 and its digest.
    let created = journal_entries(&w.app.store)
        .into_iter()
        .rfind(|e| e.action == "mandate.created")
        .expect("entry");
    assert!(created
        .details
        .contains("\"attestation_version\":\"procura-attestation-v2\""));
    assert!(created.details.contains(&m.attestation_digest));
    // A bad format is a clear refusal.
    let bad = w
        .web
        .get(&format!("/mandats/{}/attestation?format=pdf", m.id));
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("Le paramètre format vaut"),
        "{}",
        bad.body
    );
}

#[test]
fn the_pdf_holds_the_document_and_its_proof_on_one_or_two_a4_pages() {
    let w = world();
    let m = &w.created.mandate;
    let before = journal_entries(&w.app.store).len();
    let (status, kind, pdf) = w
        .web
        .get_bytes(&format!("/mandats/{}/attestation.pdf", m.id));
    assert_eq!(status, 200);
    assert_eq!(kind, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let info = poppler("pdfinfo", &pdf, &[]);
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .expect("pages")
        .trim()
        .parse()
        .expect("number");
    assert!((1..=2).contains(&pages), "{info}");
    assert!(info.contains("595 x 842 pts (A4)"), "{info}");
    let text = flat(&poppler("pdftotext", &pdf, &["-enc", "UTF-8"]));
    for s in [
        "MANDAT POUR RÉALISER DES DÉMARCHES ADMINISTRATIVES",
        "Mandat régi par les articles 1984 et suivants du Code civil",
        "Angela Claire Louise DUBOIS, née le 24 août 1962",
        "Je déclare ne faire l’objet d’aucune mesure de protection juridique",
        "Social - Santé : assurance maladie",
        "Comment mettre fin au mandat",
        "réclamation à la CNIL",
        "Fait à Paris, le ",
        "La personne représentée : Angela Claire Louise DUBOIS",
        "l’aidant : ",
        &format!("entrée n° {} du journal", m.journal_seq.expect("seq")),
        &m.attestation_digest,
    ] {
        assert!(text.contains(s), "{s:?} not extracted from the PDF: {text}");
    }
    // Every sentence of the canonical text is in the PDF, in order.
    let canonical = w
        .web
        .get(&format!("/mandats/{}/attestation?format=texte", m.id))
        .body;
    let mut at = 0;
    for line in canonical.lines().filter(|l| !l.is_empty()) {
        let line = flat(line.trim_start_matches("- "));
        let found = text[at..]
            .find(&line)
            .unwrap_or_else(|| panic!("{line:?} not in the PDF after {at}: {text}"));
        at += found + line.len();
    }
    // Reading it journals nothing, as reading the page.
    assert_eq!(journal_entries(&w.app.store).len(), before);
    // Another structure's aidant gets nothing.
    let (_, other) = aidant_of(&w.app, &w.clock, 9, "autre@exemple.fr");
    let (status, _, _) = other.get_bytes(&format!("/mandats/{}/attestation.pdf", m.id));
    assert_eq!(status, 404);
    // Signed out: to the login page.
    let (status, _, _) = Web::new(&w.app).get_bytes(&format!("/mandats/{}/attestation.pdf", m.id));
    assert!(matches!(status, 303 | 401 | 403), "{status}");
}

#[test]
fn a_v1_mandate_renders_as_before_and_both_versions_verify() {
    let w = world();
    let old = mandate_with_version(&w, "fc-v1", ATTESTATION_V1);
    assert_eq!(old.mandate.attestation_version, ATTESTATION_V1);
    let page = w
        .web
        .get(&format!("/mandats/{}/attestation", old.mandate.id));
    assert_eq!(page.status, 200, "{}", page.body);
    // The v1 page: its text dump with its instructions, no v2 document.
    assert!(page.body.contains(
        "<pre class=\"fr-attestation\" id=\"attestation-text\">Modèle : procura-attestation-v1\n"
    ));
    assert!(page.body.contains("sha256sum") && !page.body.contains("fr-mandate"));
    let text = html_unescape(&between(&page.body, "id=\"attestation-text\">", "</pre>"));
    assert!(text.contains("Date de création : ") && text.contains(" UTC\n"));
    assert_eq!(
        procura::crypto::sha256_hex(text.as_bytes()),
        old.mandate.attestation_digest
    );
    assert!(page.body.contains(&format!(
        "id=\"attestation-digest\">{}<",
        old.mandate.attestation_digest
    )));
    // Its canonical text and its PDF (its lines).
    let plain = w.web.get(&format!(
        "/mandats/{}/attestation?format=texte",
        old.mandate.id
    ));
    assert_eq!(plain.body, text);
    let (status, _, pdf) = w
        .web
        .get_bytes(&format!("/mandats/{}/attestation.pdf", old.mandate.id));
    assert_eq!(status, 200);
    let extracted = flat(&poppler("pdftotext", &pdf, &["-enc", "UTF-8"]));
    assert!(
        extracted.contains("Modèle : procura-attestation-v1"),
        "{extracted}"
    );
    // Both verify on /verifier once a checkpoint covers them.
    checkpoint_of(&w.app, &w.clock);
    let anonymous = Web::new(&w.app);
    for m in [&old.mandate, &w.created.mandate] {
        let r = anonymous.get(&format!(
            "/verifier?seq={}&empreinte={}&format=json",
            m.journal_seq.expect("seq"),
            m.attestation_digest
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json()["verified"],
            true,
            "{} {}",
            m.attestation_version,
            r.body
        );
    }
    // The v2 page of the same structure is still the document.
    let v2 = w
        .web
        .get(&format!("/mandats/{}/attestation", w.created.mandate.id));
    assert!(v2.body.contains("fr-mandate"));
}

#[test]
fn without_an_address_the_place_is_left_blank_and_the_person_is_sent_to_the_structure() {
    let (app, clock, s, _manager, aidant) = team(61);
    let web = logged_in(&app, &clock, &aidant);
    let mut man = identity("fc-blank");
    man.gender = "male".into();
    let created = seed_mandate_for(
        &app.store,
        &clock,
        &aidant,
        &s,
        &man,
        &["justice"],
        MandateDuration::Short,
    );
    let text = web
        .get(&format!(
            "/mandats/{}/attestation?format=texte",
            created.mandate.id
        ))
        .body;
    assert!(
        text.contains("\nFait à ________________________, le "),
        "{text}"
    );
    assert!(
        text.contains("Angela Claire Louise DUBOIS, né en août 1962 (jour inconnu)"),
        "{text}"
    );
    assert!(text.contains("adressez-vous à elle directement"), "{text}");
}
