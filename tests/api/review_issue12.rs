//! Review of issue 12 (the represented person) as an attacker: each test is a finding,
//! failing before its fix.

use crate::helpers::fc::*;
use crate::helpers::person::*;
use crate::helpers::*;

/// A demo app and a logged-in aidant (and manager) of "Structure 1".
fn desk() -> (TestApp, procura::clock::FixedClock, Account, Web) {
    let (app, clock) = demo_app();
    let (a, web) = aidant_of(&app, &clock, 1, "marie.curie@exemple.fr");
    (app, clock, a, web)
}

/// The person follows the link, logs in as Angela and ticks the consent box.
fn consent_as_angela(app: &TestApp, link: &str) -> (Web, Resp) {
    let person = Web::new(app);
    let r = answer_link(app, &person, link, "0");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/moi/consentement"));
    let r = person.submit(
        "/moi/consentement",
        "/moi/consentement",
        &[("consent", "oui")],
    );
    (person, r)
}

/// Finding (medium): a remote request outlived the rights of the aidant who sent it. An
/// aidant deactivated (or deactivated and reactivated, whose earlier codes and tokens are
/// void) after sending the link still got a mandate in his name, in his former structure,
/// once the person consented: the consent did not check who asked could still act.
#[test]
fn a_consent_after_the_aidant_lost_his_rights_creates_no_mandate() {
    for reactivated in [false, true] {
        let (app, clock, a, aidant) = desk();
        assert_eq!(
            remote_request(&aidant, &["social"], "MONTH", ANGELA).status,
            303
        );
        let link = remote_link(&app);
        clock.advance(chrono::Duration::minutes(5));
        set_account_active(&app, &clock, &a.user.id, false);
        if reactivated {
            clock.advance(chrono::Duration::minutes(5));
            set_account_active(&app, &clock, &a.user.id, true);
        }
        let before = count_rows(&app.store, "mandates");
        let (_, r) = consent_as_angela(&app, &link);
        assert_eq!(r.status, 410, "reactivated={reactivated}: {}", r.body);
        assert!(
            html_unescape(&r.body).contains("aucun mandat n’a été créé"),
            "{}",
            r.body
        );
        assert_eq!(count_rows(&app.store, "mandates"), before);
        assert_eq!(remote_statuses(&app.store), ["expired"]);
        let e = journal_entries(&app.store)
            .into_iter()
            .rfind(|e| e.action == "mandate.remote_consent_expired")
            .expect("journaled");
        assert!(e.details.contains("aidant_rights"), "{}", e.details);
    }
}

/// Finding (low): the names an aidant types for a remote request went verbatim into an
/// e-mail that Procura sends to any address: a "given name" such as
/// `https://faux-site.example/consentement` became a clickable link (and any sentence
/// became text) in a message signed by the service, a phishing vector. Names hold
/// letters, spaces, hyphens and apostrophes only.
#[test]
fn names_of_a_remote_request_cannot_carry_links_or_text() {
    let (app, _clock, _a, aidant) = desk();
    for (family, given) in [
        ("Dubois", "https://faux-site.example/consentement"),
        ("Dubois", "Angela, cliquez sur faux-site.example"),
        ("Dubois <b>urgent</b>", "Angela"),
        ("Dubois", "Angela http:"),
        ("Dubois; Bcc", "Angela"),
    ] {
        let r = remote_request(
            &aidant,
            &["social"],
            "MONTH",
            ["a@exemple.fr", family, given, "1962-08-24"],
        );
        assert_eq!(r.status, 400, "{family} / {given}");
    }
    assert!(mails(&app.store, "usager.remote_consent").is_empty());
    assert_eq!(count_rows(&app.store, "remote_consents"), 0);
    // Real names still pass: accents, hyphens, apostrophes, several words.
    for (family, given) in [
        ("D’Arc-Dubois", "Jeanne Éloïse"),
        ("N'Diaye", "Marie-Thérèse"),
        ("Lætitia", "Œdipe"),
    ] {
        let r = remote_request(
            &aidant,
            &["social"],
            "MONTH",
            ["a@exemple.fr", family, given, "1962-08-24"],
        );
        assert_eq!(r.status, 303, "{family} / {given}: {}", r.body);
    }
}

/// Finding (medium, denial of service): anyone could start FranceConnect logins to `/moi`
/// without limit, each writing a session, and bring each answer back from another
/// browser (or cancelled), each journaled forever as `usager.login_failed`: an anonymous
/// loop grew the append-only journal and the sessions table without bound. The aidants'
/// login has a per-address limit; the person's logins now have one too.
#[test]
fn anonymous_login_starts_are_limited_per_address() {
    let (app, _clock) = demo_app();
    let tries = 60;
    let mut started = 0;
    for _ in 0..tries {
        let r = Web::new(&app).get("/moi/connexion");
        if r.status != 303 {
            assert_eq!(r.status, 429, "{}", r.body);
            continue;
        }
        started += 1;
        let to = r.header("location").expect("to FranceConnect");
        let state: String = to
            .split("state=")
            .nth(1)
            .expect("a state")
            .chars()
            .take_while(|c| *c != '&')
            .collect();
        let r = Web::new(&app).get(&format!(
            "/franceconnect/callback?state={state}&error=access_denied"
        ));
        assert_eq!(r.status, 400, "{}", r.body);
    }
    assert!(started < tries, "no limit: {started} logins started");
    assert!(journal_count(&app.store, "usager.login_failed", "") <= 20);
    assert!(count_rows(&app.store, "usager_sessions") <= 20);
}

/// Finding (low, abuse): an aidant (or whoever holds a stolen aidant account) could send
/// remote consent e-mails from the service to any address, without limit: a mass mailer
/// signed by the service. At most 30 requests per aidant in 24 hours.
#[test]
fn remote_requests_per_aidant_are_limited() {
    let (app, clock, a, aidant) = desk();
    let limit = procura::person::remote::REQUESTS_PER_AIDANT as usize;
    for i in 0..limit {
        let email = format!("personne{i}@exemple.fr");
        let r = remote_request(
            &aidant,
            &["social"],
            "MONTH",
            [&email, "Dubois", "Angela", "1962-08-24"],
        );
        assert_eq!(r.status, 303, "{i}: {}", r.body);
    }
    let r = remote_request(
        &aidant,
        &["social"],
        "MONTH",
        ["encore@exemple.fr", "Dubois", "Angela", "1962-08-24"],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        html_unescape(&r.body).contains("en 24 heures"),
        "{}",
        r.body
    );
    assert_eq!(mails(&app.store, "usager.remote_consent").len(), limit);
    // A day later, the aidant may send again.
    clock.advance(chrono::Duration::hours(24) + chrono::Duration::minutes(1));
    let aidant = Web::new(&app);
    assert_eq!(login(&aidant, &clock, &a).status, 303);
    let r = remote_request(
        &aidant,
        &["social"],
        "MONTH",
        ["encore@exemple.fr", "Dubois", "Angela", "1962-08-24"],
    );
    assert_eq!(r.status, 303, "{}", r.body);
}

/// Finding (medium, availability): the mail worker kept the SMTP server's error for the
/// operator cut at 500 bytes with `String::truncate`, which panics when byte 500 falls
/// inside a character. A server answer with an accented letter there (a French refusal
/// message, an internationalised address echoed back) panicked the worker's thread,
/// which nothing restarts: no e-mail left the service any more.
#[test]
fn a_long_accented_smtp_error_does_not_kill_the_mail_worker() {
    // No SMTP and no demo: no worker races this test for the message.
    let (app, _clock) = app_with_clock(&[]);
    let now = procura::clock::Clock::now(&procura::clock::SystemClock) + chrono::Duration::hours(1);
    let id = queue_mail(&app.store, "personne@exemple.fr", "Sujet", "Texte");
    let mut conn = app.store.conn().expect("conn");
    let claimed = procura::mail::worker::claim_due(&mut conn, now, 100).expect("claim");
    let m = claimed.iter().find(|m| m.id == id).expect("claimed");
    let detail = format!("{}é boîte pleine", "a".repeat(499));
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        procura::mail::worker::mark_failed(
            &mut conn,
            now,
            m,
            &procura::mail::worker::SendError {
                permanent: false,
                reason: "smtp_452".into(),
                detail: detail.clone(),
            },
        )
    }));
    assert!(failed.is_ok(), "the worker's thread panicked");
    failed.unwrap().expect("recorded");
    let row = outbox(&app.store)
        .into_iter()
        .find(|q| q.id == id)
        .expect("row");
    let kept = row.last_error.expect("error kept");
    assert!(kept.len() <= 500 && detail.starts_with(&kept), "{kept}");
}

/// Finding (low, accountability): every step of a remote request was journaled with the
/// request's id but the consent itself. The only trace was `mandate.created`, with the
/// aidant as actor and no request id: once the request row is purged (30 days), the
/// journal could no longer show that the person (and not the aidant) consented, nor to
/// which request the mandate answered. The consent is now journaled
/// (`mandate.remote_consent_given`, actor `usager:<id>`, request and mandate ids).
#[test]
fn the_persons_remote_consent_is_journaled_as_theirs() {
    let (app, _clock, _a, aidant) = desk();
    assert_eq!(
        remote_request(&aidant, &["social"], "MONTH", ANGELA).status,
        303
    );
    let link = remote_link(&app);
    let (_, r) = consent_as_angela(&app, &link);
    assert_eq!(r.status, 303, "{}", r.body);
    let usager = usager_by_sub(&app.store, "demo-fc-angela").expect("usager");
    let entries = journal_entries(&app.store);
    let requested = entries
        .iter()
        .find(|e| e.action == "mandate.remote_consent_requested")
        .expect("requested");
    let created = entries
        .iter()
        .rfind(|e| e.action == "mandate.created")
        .expect("created");
    let given = entries
        .iter()
        .find(|e| e.action == "mandate.remote_consent_given")
        .expect("the consent is journaled");
    assert_eq!(
        given.actor.as_deref(),
        Some(format!("usager:{}", usager.id).as_str())
    );
    assert_eq!(given.usager_id.as_deref(), Some(usager.id.as_str()));
    assert_eq!(given.mandate_id, created.mandate_id);
    let request_of = |details: &str| -> String {
        serde_json::from_str::<serde_json::Value>(details).expect("json")["request"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(request_of(&given.details), request_of(&requested.details));
    for personal in ["Angela", "DUBOIS", "1962", "angela.dubois"] {
        assert!(!given.details.contains(personal), "{}", given.details);
    }
}

/// Finding (low, from the review's notes): the person's login and the desk's identity
/// check let a FranceConnect session left open in the browser stand in for the person
/// (no `prompt=login`): on a shared computer an aidant could answer a remote link he sent
/// to his own address. Every request to FranceConnect now asks for a fresh login.
#[test]
fn every_request_to_franceconnect_asks_for_a_fresh_login() {
    let (app, _clock, _a, aidant) = desk();
    let desk = start(&aidant, &["social"], "MONTH");
    assert_eq!(desk.status, 303, "{}", desk.body);
    let person = Web::new(&app);
    let moi = person.get("/moi/connexion");
    assert_eq!(moi.status, 303, "{}", moi.body);
    for r in [&desk, &moi] {
        let to = url::Url::parse(r.header("location").expect("to FranceConnect")).expect("url");
        let prompt: Vec<String> = to
            .query_pairs()
            .filter(|(k, _)| k == "prompt")
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(prompt, vec!["login".to_string()], "{to}");
    }
}
