//! Notices by e-mail (issue 12): to the person on mandate creation, each use (windowed),
//! revocation and before expiry, with a link that stops use notices; to helpers, their
//! enrolment link and weekly digests. Messages are read from the outbox.

use chrono::Duration;
use procura::clock::Clock;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;
use procura::notify::jobs;

use crate::helpers::oidc::{code_for, new_req, world, World};
use crate::helpers::*;

const PERSON: &str = "angela@exemple.fr";

fn use_once(w: &World, demarche: &str) {
    let _ = code_for(w, &w.rp, &new_req(), "openid", demarche);
}

fn use_digests(w: &World) -> usize {
    let mut conn = w.app.store.conn().expect("conn");
    jobs::use_digests(&mut conn, w.clock.now()).expect("use digests")
}

#[test]
fn a_new_mandate_tells_the_person_what_until_when_by_whom_and_how_to_revoke() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 41, "a41@exemple.fr");
    let id = fc::create(&app, &web, &["social", "logement"], "LONG", "0");
    let digest = fixtures_digest(&app, &id);
    let mails: Vec<_> = mails_of_kind(&app.store, "usager.mandate_created")
        .into_iter()
        .filter(|m| m.body_text.contains(&digest))
        .collect();
    assert_eq!(mails.len(), 1, "one notice for this mandate");
    let m = &mails[0];
    assert_eq!(m.recipient, "angela.dubois@exemple.fr");
    for part in [
        "« Social - Santé » et « Logement »",
        "(heure de Paris)",
        "« Structure 41 »",
        &app.url("/moi"),
        "révoquer",
    ] {
        assert!(m.body_text.contains(part), "{part}: {}", m.body_text);
    }
    assert!(!m.body_text.contains("/notifications/arret"));
    assert!(!m.body_html.contains("<img"), "no tracking image");
    // Journaled by message id and kind, never by content.
    assert!(journal_has(&app.store, "mail.queued", &m.id));
    assert!(!journal_mentions(&app.store, "angela.dubois"));
}

/// The attestation digest of a mandate.
fn fixtures_digest(app: &TestApp, mandate_id: &str) -> String {
    use diesel::prelude::*;
    use procura::store::schema::mandates;
    let mut conn = app.store.conn().expect("conn");
    mandates::table
        .filter(mandates::id.eq(mandate_id))
        .select(mandates::attestation_digest)
        .first(&mut *conn)
        .expect("digest")
}

#[test]
fn the_first_use_is_told_at_once_and_later_uses_in_the_window_in_one_summary() {
    let w = world(&[]);
    use_once(&w, "social");
    let first = one_mail(&w.app.store, "usager.mandate_used");
    assert_eq!(first.recipient, PERSON);
    for part in [
        "« Social - Santé »",
        "« Site de test »",
        "Compte A.",
        "« France Services Provider »",
        "(heure de Paris)",
    ] {
        assert!(
            first.body_text.contains(part),
            "{part}: {}",
            first.body_text
        );
    }
    let stop = url_in(&first.body_text, "/notifications/arret?").expect("stop link");
    assert!(
        stop.starts_with(&w.app.url("/notifications/arret?usager=")),
        "{stop}"
    );
    // Two more uses within the hour: nothing more now, nothing at the job's pass either.
    w.clock.advance(Duration::minutes(10));
    use_once(&w, "logement");
    w.clock.advance(Duration::minutes(10));
    use_once(&w, "social");
    assert_eq!(mails_of_kind(&w.app.store, "usager.mandate_used").len(), 1);
    assert_eq!(use_digests(&w), 0, "the window is still open");
    // At the window's end: one summary of both, once.
    w.clock.advance(Duration::minutes(41));
    assert_eq!(use_digests(&w), 1);
    assert_eq!(use_digests(&w), 0, "sent once");
    let digest = one_mail(&w.app.store, "usager.mandate_used_digest");
    assert_eq!(digest.subject, "Votre mandat a été utilisé 2 autres fois");
    assert_eq!(
        digest.body_text.matches("- le ").count(),
        2,
        "{}",
        digest.body_text
    );
    assert!(digest.body_text.contains("« Logement »"));
    assert!(url_in(&digest.body_text, "/notifications/arret?").is_some());
    assert_eq!(count_of(&journal_actions(&w.app.store), "mandate.used"), 3);
    // The next use opens a new window and is told at once.
    assert_eq!(login(&w.web, &w.clock, &w.aidant).status, 303);
    use_once(&w, "logement");
    assert_eq!(mails_of_kind(&w.app.store, "usager.mandate_used").len(), 2);
}

#[test]
fn uses_left_pending_by_the_job_are_summarised_before_a_new_window_opens() {
    let w = world(&[("PROCURA_USE_NOTICE_MINUTES", "5")]);
    use_once(&w, "social");
    w.clock.advance(Duration::minutes(1));
    use_once(&w, "logement");
    // The window ended and the job has not passed: the next use sends both messages.
    w.clock.advance(Duration::minutes(5));
    use_once(&w, "social");
    assert_eq!(mails_of_kind(&w.app.store, "usager.mandate_used").len(), 2);
    let digest = one_mail(&w.app.store, "usager.mandate_used_digest");
    assert_eq!(digest.subject, "Votre mandat a été utilisé une autre fois");
    assert!(digest.body_text.contains("« Logement »"));
    assert_eq!(use_digests(&w), 0);
}

#[test]
fn the_stop_link_asks_then_stops_use_notices_and_a_forged_one_changes_nothing() {
    let w = world(&[]);
    use_once(&w, "social");
    let first = one_mail(&w.app.store, "usager.mandate_used");
    let stop = w
        .app
        .local(&url_in(&first.body_text, "/notifications/arret?").expect("link"));
    let person = Web::new(&w.app);
    // Forged or damaged links: a clear 400, nothing changed.
    let before = journal_actions(&w.app.store).len();
    let forged = stop.replace("jeton=", "jeton=x");
    let other = stop.replace(&w.usager_id, "00000000-0000-0000-0000-000000000000");
    for bad in [
        forged.as_str(),
        other.as_str(),
        "/notifications/arret",
        "/notifications/arret?usager=&jeton=",
    ] {
        let r = person.get(bad);
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.body.contains("Ce lien n’est pas valable"), "{}", r.body);
    }
    let page = person.get(&stop);
    assert_eq!(page.status, 200);
    let r = person.submit(&stop, &forged, &[]);
    assert_eq!(r.status, 400);
    assert_eq!(
        journal_actions(&w.app.store).len(),
        before,
        "nothing journaled"
    );
    // The page asks first; the POST stops them.
    assert!(
        page.body.contains("Ne plus recevoir ces avis"),
        "{}",
        page.body
    );
    assert_eq!(person.post(&stop, &[]).status, 403, "CSRF token needed");
    let r = person.submit(&stop, &stop, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Avis d’utilisation arrêtés"));
    let e = last_of(&w.app.store, "usager.use_notices_stopped");
    assert_eq!(
        e.actor.as_deref(),
        Some(format!("usager:{}", w.usager_id).as_str())
    );
    assert_eq!(e.usager_id.as_deref(), Some(w.usager_id.as_str()));
    // The link again: already done, nothing to confirm, nothing changed.
    let again = person.get(&stop);
    assert_eq!(again.status, 200);
    assert!(again.body.contains("déjà arrêtés"), "{}", again.body);
    assert!(!again.body.contains("csrf_token"));
    assert_eq!(
        count_of(&journal_actions(&w.app.store), "usager.use_notices_stopped"),
        1
    );
    // Later uses: journaled, not notified, not summarised.
    w.clock.advance(Duration::minutes(5));
    use_once(&w, "logement");
    w.clock.advance(Duration::minutes(120));
    assert_eq!(use_digests(&w), 0);
    assert_eq!(login(&w.web, &w.clock, &w.aidant).status, 303);
    use_once(&w, "social");
    assert_eq!(mails_of_kind(&w.app.store, "usager.mandate_used").len(), 1);
    assert!(mails_of_kind(&w.app.store, "usager.mandate_used_digest").is_empty());
    // The way back: the resume link of the confirmation page.
    let resume = between(&r.body, "href=\"/notifications/reprise", "\"").replace("&amp;", "&");
    let resume = format!("/notifications/reprise{resume}");
    assert_eq!(person.submit(&resume, &resume, &[]).status, 200);
    assert!(journal_has(&w.app.store, "usager.use_notices_resumed", ""));
    w.clock.advance(Duration::minutes(1));
    use_once(&w, "logement");
    assert_eq!(mails_of_kind(&w.app.store, "usager.mandate_used").len(), 2);
}

/// The last journal entry of `action`.
fn last_of(store: &procura::store::Store, action: &str) -> procura::journal::Entry {
    journal_entries(store)
        .into_iter()
        .rev()
        .find(|e| e.action == action)
        .unwrap_or_else(|| panic!("no {action}"))
}

#[test]
fn revocations_are_told_whoever_revoked() {
    let w = world(&[]);
    // An aidant revokes one démarche through the web.
    let auth = {
        use diesel::prelude::*;
        use procura::store::schema::authorisations;
        let mut conn = w.app.store.conn().expect("conn");
        authorisations::table
            .filter(authorisations::mandate_id.eq(&w.mandate_id))
            .filter(authorisations::demarche.eq("logement"))
            .select(authorisations::id)
            .first::<String>(&mut *conn)
            .expect("auth")
    };
    let one = format!("/autorisations/{auth}/revoquer");
    assert_eq!(w.web.submit(&one, &one, &[]).status, 303);
    let m = one_mail(&w.app.store, "usager.mandate_revoked");
    assert_eq!(m.recipient, PERSON);
    assert!(m.subject.contains("démarche"), "{}", m.subject);
    assert!(m.body_text.contains("« Logement »"), "{}", m.body_text);
    assert!(
        m.body_text
            .contains("par Compte A. de la structure « France Services Provider »"),
        "{}",
        m.body_text
    );
    // The person revokes the rest from their space (actor usager:<id>).
    let mut conn = w.app.store.conn().expect("conn");
    procura::mandates::revoke_mandate(
        &mut conn,
        w.clock.now(),
        &format!("usager:{}", w.usager_id),
        &w.structure_id,
        &w.mandate_id,
    )
    .expect("revoked");
    let mails = mails_of_kind(&w.app.store, "usager.mandate_revoked");
    assert_eq!(mails.len(), 2);
    let whole = mails
        .iter()
        .find(|m| m.subject == "Votre mandat a été révoqué")
        .expect("the whole mandate");
    assert!(
        whole.body_text.contains("par vous-même"),
        "{}",
        whole.body_text
    );
    assert!(whole.body_text.contains("« Social - Santé »"));
}

#[test]
fn a_person_without_an_address_gets_nothing_and_every_action_succeeds() {
    let w = world(&[]);
    exec_sql(&w.app.store, "UPDATE usagers SET email = NULL");
    let before = outbox(&w.app.store).len();
    use_once(&w, "social");
    w.clock.advance(Duration::minutes(1));
    use_once(&w, "logement");
    w.clock.advance(Duration::minutes(90));
    assert_eq!(use_digests(&w), 0);
    w.revoke_authorisation("logement");
    w.revoke_mandate();
    let s = structure_row(&w.app.store, &w.structure_id);
    seed_mandate_for(
        &w.app.store,
        &w.clock,
        &w.aidant,
        &s,
        &procura::federation::client::Identity {
            email: None,
            ..identity("fc-sans-adresse")
        },
        &["social"],
        MandateDuration::Long,
    );
    assert_eq!(outbox(&w.app.store).len(), before, "nothing queued");
    let actions = journal_actions(&w.app.store);
    assert_eq!(count_of(&actions, "mandate.used"), 2);
    assert_eq!(count_of(&actions, "mandate.revoked"), 1);
    assert_eq!(count_of(&actions, "mandate.created"), 2);
}

#[test]
fn an_unreachable_smtp_server_never_fails_an_action() {
    let w = world(&[
        ("PROCURA_SMTP_URL", "smtp://127.0.0.1:9"),
        ("PROCURA_MAIL_FROM", "Procura <ne-pas-repondre@exemple.fr>"),
    ]);
    use_once(&w, "social");
    w.revoke_mandate();
    assert_eq!(mails_of_kind(&w.app.store, "usager.mandate_used").len(), 1);
    assert_eq!(
        mails_of_kind(&w.app.store, "usager.mandate_revoked").len(),
        1
    );
    assert!(journal_has(&w.app.store, "mandate.revoked", ""));
}

#[test]
fn the_person_is_reminded_once_seven_days_before_the_end() {
    let w = world(&[]);
    let remind = |w: &World| {
        let mut conn = w.app.store.conn().expect("conn");
        jobs::expiry_reminders(&mut conn, w.clock.now()).expect("reminders")
    };
    // The world's mandate lasts 31 days.
    w.clock.advance(Duration::days(23));
    assert_eq!(remind(&w), 0);
    w.clock.advance(Duration::days(1) + Duration::minutes(1));
    assert_eq!(remind(&w), 1);
    assert_eq!(remind(&w), 0, "once");
    let m = one_mail(&w.app.store, "usager.mandate_ending");
    assert_eq!(m.recipient, PERSON);
    assert!(
        m.subject.starts_with("Votre mandat prend fin le "),
        "{}",
        m.subject
    );
    assert!(m.body_text.contains("« Social - Santé » et « Logement »"));
    // A one-day mandate is never reminded.
    let s = structure_row(&w.app.store, &w.structure_id);
    seed_mandate(
        &w.app.store,
        &w.clock,
        &w.aidant,
        &s,
        "fc-court",
        &["papiers"],
        MandateDuration::Short,
    );
    assert_eq!(remind(&w), 0);
}

#[test]
fn aidants_get_a_weekly_digest_of_mandates_ending_within_30_days() {
    let w = world(&[]);
    let s = structure_row(&w.app.store, &w.structure_id);
    let other = member(&w.app, &w.clock, "collegue@exemple.fr", &[Role::Aidant], &s);
    let _manager_only = member(&w.app, &w.clock, "resp@exemple.fr", &[Role::Manager], &s);
    let digest = |w: &World| {
        let mut conn = w.app.store.conn().expect("conn");
        jobs::aidant_digests(&mut conn, w.clock.now()).expect("digests")
    };
    assert_eq!(digest(&w), 0, "31 days left: nothing to say");
    w.clock.advance(Duration::days(2));
    assert_eq!(digest(&w), 2, "both aidants");
    assert_eq!(digest(&w), 0, "once a week");
    let mails = mails_of_kind(&w.app.store, jobs::AIDANT_DIGEST);
    let to: Vec<&str> = mails.iter().map(|m| m.recipient.as_str()).collect();
    assert!(
        to.contains(&"aidant.op@exemple.fr") && to.contains(&other.email.as_str()),
        "{to:?}"
    );
    assert!(
        mails[0].body_text.contains("Angela Claire Louise DUBOIS"),
        "{}",
        mails[0].body_text
    );
    w.clock.advance(Duration::days(7));
    assert_eq!(digest(&w), 2, "a week later, still ending");
    w.revoke_mandate();
    w.clock.advance(Duration::days(7));
    assert_eq!(digest(&w), 0, "nothing ends any more");
}

#[test]
fn enrolment_links_are_mailed_and_managers_told_of_accounts_without_second_factor() {
    let (app, clock, _s, m, a) = team(42);
    let manager = logged_in(&app, &clock, &m);
    let r = add_aidant(&manager, "nouvelle@exemple.fr", "Nouvelle Aidante");
    assert_eq!(r.status, 200, "{}", r.body);
    let shown = between(&r.body, "id=\"enrolment-link\" href=\"", "\"");
    let mail = one_mail(&app.store, "aidant.enrolment");
    assert_eq!(mail.recipient, "nouvelle@exemple.fr");
    assert!(mail.body_text.contains(&shown), "{}", mail.body_text);
    assert!(mail.body_text.contains("« S »"));
    // The copy button: a script file (no inline script) and a readonly field.
    assert!(r
        .body
        .contains("<script src=\"/static/copie.js\" defer></script>"));
    assert!(r.body.contains(&format!("readonly value=\"{shown}\"")));
    let js = get(&app.url("/static/copie.js"));
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap_or_default()
        .contains("javascript"));
    // A second-factor reset mails the new link too.
    let path = format!("/gestion/comptes/{}/second-facteur", a.user.id);
    let r = manager.submit(&path, &path, &[]);
    assert_eq!(r.status, 200);
    let shown = between(&r.body, "id=\"enrolment-link\" href=\"", "\"");
    let mails = mails_of_kind(&app.store, "aidant.enrolment");
    assert_eq!(mails.len(), 2);
    let reset = mails
        .iter()
        .find(|m| m.recipient == a.email)
        .expect("to the aidant");
    assert!(reset.body_text.contains(&shown));
    // The manager's weekly reminder lists both accounts without a second factor.
    let remind = || {
        let mut conn = app.store.conn().expect("conn");
        jobs::manager_digests(&mut conn, clock.now()).expect("digests")
    };
    assert_eq!(remind(), 1);
    assert_eq!(remind(), 0, "once a week");
    let r = one_mail(&app.store, jobs::MANAGER_DIGEST);
    assert_eq!(r.recipient, m.email);
    assert!(
        r.body_text
            .contains("Nouvelle Aidante <nouvelle@exemple.fr>"),
        "{}",
        r.body_text
    );
    assert!(r.body_text.contains(&a.email));
    clock.advance(Duration::days(7));
    assert_eq!(remind(), 1, "a week later, still not enrolled");
}

#[test]
fn managers_with_every_account_enrolled_hear_nothing() {
    let (app, clock, _s, _m, _a) = team(43);
    let mut conn = app.store.conn().expect("conn");
    assert_eq!(
        jobs::manager_digests(&mut conn, clock.now()).expect("digests"),
        0
    );
    assert!(outbox(&app.store).is_empty());
}

#[test]
fn the_command_line_mails_the_enrolment_link_it_prints() {
    let db = TestDb::new();
    let (code, out) = run_procura(
        &db.url,
        &[
            "user",
            "create",
            "--email",
            "cli@exemple.fr",
            "--name",
            "Par Commande",
            "--role",
            "auditor",
            "--json",
        ],
        None,
    );
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let link = v["enrolment_url"].as_str().expect("link").to_string();
    let mail = one_mail(&db.store(1), "aidant.enrolment");
    assert_eq!(mail.recipient, "cli@exemple.fr");
    assert!(mail.body_text.contains(&link), "{}", mail.body_text);
}

/// How many uses a use notice tells: 1 for a first use, N for a summary.
fn uses_told(m: &procura::mail::Queued) -> usize {
    match m.kind.as_str() {
        "usager.mandate_used" => 1,
        "usager.mandate_used_digest" if m.subject.ends_with("une autre fois") => 1,
        "usager.mandate_used_digest" => m
            .subject
            .trim_start_matches("Votre mandat a été utilisé ")
            .trim_end_matches(" autres fois")
            .parse()
            .expect("count"),
        _ => 0,
    }
}

#[test]
fn under_concurrent_uses_and_summaries_every_use_is_told_exactly_once() {
    let w = world(&[("PROCURA_USE_NOTICE_MINUTES", "1")]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let job_errors = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        // The clock runs fast, so windows end while uses and summaries go on.
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                w.clock.advance(Duration::seconds(10));
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut conn = w.app.store.conn().expect("conn");
                if jobs::use_digests(&mut conn, w.clock.now()).is_err() {
                    job_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                drop(conn);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let users: Vec<_> = (0..3)
            .map(|i| {
                let w = &w;
                s.spawn(move || {
                    for _ in 0..8 {
                        use_once(w, if i % 2 == 0 { "social" } else { "logement" });
                    }
                })
            })
            .collect();
        for u in users {
            u.join().expect("uses succeed");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(job_errors.into_inner(), 0, "no pass failed");
    w.clock.advance(Duration::minutes(2));
    use_digests(&w);
    let used = count_of(&journal_actions(&w.app.store), "mandate.used");
    assert_eq!(used, 24);
    let mails = outbox(&w.app.store);
    let windows = mails
        .iter()
        .filter(|m| m.kind == "usager.mandate_used")
        .count();
    assert!(windows >= 2, "windows ended during the uses: {windows}");
    let told: usize = mails.iter().map(uses_told).sum();
    assert_eq!(told, used, "each use told once");
}
