//! Habilitation requests (issue 14, item 1): the public form at /habilitation, its link
//! mailed through the outbox, the steps saved and resumed, the thread, and the
//! administrators' review at /admin/habilitations (accept in one transaction, refuse, ask
//! for changes), each journaled with the right actor.

use chrono::Duration;
use procura::accounts::{structures, users};
use procura::domain::roles::Role;

use crate::helpers::*;

const LINK_SENT: &str =
    "Si cette adresse peut recevoir des courriels, un lien vient d’y être envoyé";

fn journal_by(app: &TestApp, action: &str) -> Vec<procura::journal::Entry> {
    journal_entries(&app.store)
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

#[test]
fn a_request_goes_from_the_public_form_to_an_accepted_structure() {
    let (app, clock) = app_with_clock(&[]);
    let (admin_account, admin_web) = admin(&app, &clock, "admin@exemple.fr");
    let admin_actor = format!("user:{}", admin_account.user.id);
    let siret = fresh_siret(1);

    // The first form: the same answer, a link by e-mail, the request journaled.
    let web = Web::new(&app);
    let r = ask_link(&web, "Demandeur@Exemple.fr");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(LINK_SENT), "{}", r.body);
    assert_eq!(count_rows(&app.store, "habilitation_requests"), 1);
    let link = link_for(&app, "demandeur@exemple.fr");
    let id = request_id(&link);
    assert_eq!(request_field(&app, &id, "status"), "email_pending");
    assert_eq!(journal_by(&app, "habilitation.requested").len(), 1);
    // The secret is stored only hashed.
    let secret = link.rsplit('/').next().expect("secret").to_string();
    assert_eq!(secret.len(), 43);
    assert_ne!(request_field(&app, &id, "token_hash"), secret);
    assert!(!journal_mentions(&app.store, &secret));

    // Opening the link confirms the address, once.
    let r = web.get(&link);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("en cours de saisie"), "{}", r.body);
    assert_eq!(request_field(&app, &id, "status"), "draft");
    web.get(&link);
    assert_eq!(journal_by(&app, "habilitation.email_confirmed").len(), 1);

    // The steps, each saved and leading to the next.
    let r = save_structure(&web, &link, &siret, "Maison France Services");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("{link}/responsable").as_str())
    );
    assert_eq!(request_field(&app, &id, "siret"), siret);
    let r = save_manager(&web, &link, "Rose Responsable", "manager@exemple.fr", true);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("{link}/aidants").as_str())
    );
    for (name, email) in [
        ("Alain Aidant", "aidant@exemple.fr"),
        ("Bea Temporaire", "bea@exemple.fr"),
    ] {
        assert_eq!(
            add_request_aidant(&web, &link, name, email, "aidant").status,
            303
        );
    }
    // Rows are removed as they are added.
    let page = web.get(&format!("{link}/aidants")).body;
    assert!(page.contains("bea@exemple.fr"));
    // Remove the second row (Bea's): find its id beside its address.
    let i = page.find("bea@exemple.fr").expect("bea");
    let rest = &page[i..];
    let bea_id = between(rest, "/aidants/", "/retirer");
    let r = web.submit(
        &format!("{link}/aidants"),
        &format!("{link}/aidants/{bea_id}/retirer"),
        &[],
    );
    assert_eq!(r.status, 303);
    assert_eq!(count_rows(&app.store, "habilitation_aidants"), 1);

    // Resumed later in another browser, with the same link.
    let other = Web::new(&app);
    let r = other.get(&format!("{link}/envoi"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Maison France Services"));
    assert!(r.body.contains("aidant@exemple.fr"));
    assert!(!r.body.contains("bea@exemple.fr"));

    // Sent: acknowledged to the applicant, announced to each active administrator.
    let r = send_request(&other, &link);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(request_field(&app, &id, "status"), "submitted");
    assert_eq!(
        one_mail(&app.store, "habilitation.submitted").recipient,
        "demandeur@exemple.fr"
    );
    let to_admins = one_mail(&app.store, "habilitation.admin_submitted");
    assert_eq!(to_admins.recipient, "admin@exemple.fr");
    assert!(to_admins
        .body_text
        .contains(&format!("/admin/habilitations/{id}")));
    // No longer editable.
    let r = save_structure(&web, &link, &siret, "Autre nom");
    assert_eq!(r.status, 400);
    assert_eq!(request_field(&app, &id, "name"), "Maison France Services");

    // The administrator lists and opens it.
    let r = admin_web.get("/admin/habilitations?statut=submitted");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Maison France Services"));
    let r = admin_web.get(&format!("/admin/habilitations/{id}"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("aidant@exemple.fr"));

    // Asking for changes: confirmed first, nothing changes before.
    let r = decide(
        &admin_web,
        &id,
        "modifications",
        "Précisez l’adresse.",
        false,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Demander des modifications"));
    assert_eq!(request_field(&app, &id, "status"), "submitted");
    let r = decide(
        &admin_web,
        &id,
        "modifications",
        "Précisez l’adresse.",
        true,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(request_field(&app, &id, "status"), "changes_requested");
    let asked = journal_by(&app, "habilitation.changes_requested");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].actor.as_deref(), Some(admin_actor.as_str()));
    assert!(one_mail(&app.store, "habilitation.changes_requested")
        .body_text
        .contains("Précisez l’adresse."));

    // The applicant reads the thread, answers, edits and sends again.
    let r = web.get(&link);
    assert!(r.body.contains("Précisez l’adresse."), "{}", r.body);
    assert!(r.body.contains("modifications demandées"));
    let r = web.submit(
        &link,
        &format!("{link}/message"),
        &[("body", "C’est fait.")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let said = journal_by(&app, "habilitation.message");
    assert_eq!(said.len(), 1);
    assert_eq!(
        said[0].actor.as_deref(),
        Some(format!("applicant:{id}").as_str())
    );
    assert!(admin_web
        .get(&format!("/admin/habilitations/{id}"))
        .body
        .contains("C’est fait."));
    assert_eq!(
        save_structure(&web, &link, &siret, "Maison France Services du Centre").status,
        303
    );
    assert_eq!(send_request(&web, &link).status, 303);
    assert_eq!(request_field(&app, &id, "status"), "submitted");

    // Accepted: the structure, both accounts, their enrolment links, in one go.
    let users_before = count_rows(&app.store, "users");
    let r = decide(&admin_web, &id, "accepter", "Bienvenue.", true);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(request_field(&app, &id, "status"), "accepted");
    let mut conn = app.store.conn().expect("conn");
    let s = structures::by_siret(&mut conn, &siret)
        .expect("query")
        .expect("the structure exists");
    assert_eq!(s.name, "Maison France Services du Centre");
    assert_eq!(s.kind.as_deref(), Some("france_services"));
    assert_eq!(request_field(&app, &id, "structure_id"), s.id);
    assert_eq!(count_rows(&app.store, "users"), users_before + 2);
    let manager = users::find_by_email(&mut conn, "manager@exemple.fr")
        .expect("query")
        .expect("manager account");
    assert!(manager.has(Role::Manager) && manager.has(Role::Aidant));
    assert!(manager.password_hash.is_none());
    let aidant = users::find_by_email(&mut conn, "aidant@exemple.fr")
        .expect("query")
        .expect("aidant account");
    assert!(aidant.has(Role::Aidant) && !aidant.has(Role::Manager));
    for u in [&manager, &aidant] {
        assert!(users::is_member(&mut conn, &u.id, &s.id).expect("query"));
    }
    drop(conn);
    let enrolments = mails_of_kind(&app.store, "aidant.enrolment");
    let mut to: Vec<&str> = enrolments.iter().map(|m| m.recipient.as_str()).collect();
    to.sort();
    assert_eq!(to, ["aidant@exemple.fr", "manager@exemple.fr"]);
    assert!(enrolments
        .iter()
        .all(|m| url_in(&m.body_text, "/activation/").is_some()));
    // The links are mailed, never shown to the administrator.
    let page = admin_web.get(&format!("/admin/habilitations/{id}")).body;
    assert!(!page.contains("/activation/"));
    assert_eq!(
        one_mail(&app.store, "habilitation.accepted").recipient,
        "demandeur@exemple.fr"
    );
    // Journaled with the administrator as actor.
    for action in [
        "habilitation.accepted",
        "structure.created",
        "account.created",
        "enrolment.issued",
    ] {
        let entries: Vec<_> = journal_by(&app, action)
            .into_iter()
            .filter(|e| e.structure_id.as_deref() == Some(s.id.as_str()))
            .collect();
        assert!(!entries.is_empty(), "{action}");
        assert!(
            entries
                .iter()
                .all(|e| e.actor.as_deref() == Some(admin_actor.as_str())),
            "{action}"
        );
    }
    // Closed: nothing more to decide, nothing to edit.
    assert_eq!(decide(&admin_web, &id, "refuser", "Non.", true).status, 400);
    assert_eq!(request_field(&app, &id, "status"), "accepted");
    assert_eq!(
        add_request_aidant(&web, &link, "Tard", "tard@exemple.fr", "aidant").status,
        400
    );
}

#[test]
fn acceptance_changes_nothing_when_an_address_was_taken_meanwhile() {
    let (app, clock) = app_with_clock(&[]);
    let (_, admin_web) = admin(&app, &clock, "admin@exemple.fr");
    let siret = fresh_siret(2);
    let (_, link) = submitted(&app, "demandeur@exemple.fr", &siret);
    let id = request_id(&link);
    // The aidant got an account elsewhere since the request was sent.
    let elsewhere = structure(&app.store, &clock, "Ailleurs", 3);
    account(
        &app.store,
        &clock,
        "aidant@exemple.fr",
        &[Role::Aidant],
        Some(&elsewhere),
    );
    let (users_before, structures_before, journal_before) = (
        count_rows(&app.store, "users"),
        count_rows(&app.store, "structures"),
        journal_entries(&app.store).len(),
    );
    let mails_before = outbox(&app.store).len();
    // The administrator sees it on the request before deciding.
    let page = admin_web.get(&format!("/admin/habilitations/{id}"));
    assert!(
        page.body.contains(r#"id="adresses-prises""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("aidant@exemple.fr"));
    let r = decide(&admin_web, &id, "accepter", "", true);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("rien n’a été créé"), "{}", r.body);
    assert!(r.body.contains("aidant@exemple.fr"));
    assert_eq!(count_rows(&app.store, "users"), users_before);
    assert_eq!(count_rows(&app.store, "structures"), structures_before);
    assert_eq!(journal_entries(&app.store).len(), journal_before);
    assert_eq!(outbox(&app.store).len(), mails_before);
    assert_eq!(request_field(&app, &id, "status"), "submitted");
    let mut conn = app.store.conn().expect("conn");
    assert!(structures::by_siret(&mut conn, &siret)
        .expect("q")
        .is_none());
    assert!(users::find_by_email(&mut conn, "manager@exemple.fr")
        .expect("q")
        .is_none());
}

#[test]
fn a_refusal_needs_a_message_and_closes_the_request() {
    let (app, clock) = app_with_clock(&[]);
    let (admin_account, admin_web) = admin(&app, &clock, "admin@exemple.fr");
    let (web, link) = submitted(&app, "demandeur@exemple.fr", &fresh_siret(4));
    let id = request_id(&link);
    // Without a message: the error beside the field, nothing changed.
    let r = decide(&admin_web, &id, "refuser", "  ", false);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("id=\"body-refuser-error\""), "{}", r.body);
    assert!(r.body.contains("aria-invalid=\"true\""));
    let r = decide(&admin_web, &id, "refuser", "", true);
    assert_eq!(r.status, 400);
    assert_eq!(request_field(&app, &id, "status"), "submitted");
    assert!(journal_by(&app, "habilitation.refused").is_empty());
    // With one, confirmed.
    let r = decide(&admin_web, &id, "refuser", "Structure hors du champ.", true);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(request_field(&app, &id, "status"), "refused");
    let refused = journal_by(&app, "habilitation.refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0].actor,
        Some(format!("user:{}", admin_account.user.id))
    );
    assert!(one_mail(&app.store, "habilitation.refused")
        .body_text
        .contains("Structure hors du champ."));
    assert_eq!(count_rows(&app.store, "habilitation_messages"), 1);
    // The applicant sees it and can change nothing more.
    let r = web.get(&link);
    assert!(r.body.contains("refusée"));
    assert!(r.body.contains("Structure hors du champ."));
    assert_eq!(
        web.get(&format!("{link}/structure")).header("location"),
        Some(link.as_str())
    );
    assert_eq!(send_request(&web, &link).status, 400);
    assert_eq!(request_field(&app, &id, "status"), "refused");
}

#[test]
fn bad_inputs_are_refused_beside_their_fields_and_save_nothing() {
    let (app, clock) = app_with_clock(&[]);
    // A malformed address: nothing created, no mail.
    let web = Web::new(&app);
    let r = ask_link(&web, "pas-une-adresse");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("id=\"email-error\""), "{}", r.body);
    assert!(r.body.contains("aria-describedby=\"email-error\""));
    assert_eq!(count_rows(&app.store, "habilitation_requests"), 0);
    assert!(mails_of_kind(&app.store, "habilitation.link").is_empty());

    let (web, link) = started(&app, "demandeur@exemple.fr");
    let id = request_id(&link);
    let used = structure(&app.store, &clock, "Déjà là", 5);
    let mut bad_siret = fresh_siret(6);
    let last = bad_siret.pop().expect("digit");
    bad_siret.push(if last == '9' { '0' } else { '9' });
    let journal_before = journal_entries(&app.store).len();
    for (siret, says) in [
        (bad_siret.as_str(), "Ce SIRET n’est pas valide"),
        ("1234", "Ce SIRET n’est pas valide"),
        (used.siret.as_str(), "déjà inscrite"),
    ] {
        let r = save_structure(&web, &link, siret, "Ma structure");
        assert_eq!(r.status, 400, "{siret}");
        assert!(r.body.contains("id=\"siret-error\""), "{siret}: {}", r.body);
        assert!(r.body.contains(says), "{siret}");
        assert!(r.body.contains("aria-describedby=\"siret-error\""));
        // What was typed is kept.
        assert!(r.body.contains("value=\"Ma structure\""));
    }
    let page = format!("{link}/structure");
    let r = web.submit(
        &page,
        &page,
        &[("siret", ""), ("name", ""), ("address", ""), ("kind", "x")],
    );
    assert_eq!(r.status, 400);
    for f in ["siret", "name", "address", "kind"] {
        assert!(r.body.contains(&format!("id=\"{f}-error\"")), "{f}");
    }
    assert_eq!(request_field(&app, &id, "siret"), "");
    assert_eq!(journal_entries(&app.store).len(), journal_before);

    // The manager: a bad address; an account's address is not told apart (anyone can
    // open a request: no oracle of which addresses have accounts).
    account(
        &app.store,
        &clock,
        "pris@exemple.fr",
        &[Role::Aidant],
        Some(&used),
    );
    let r = save_manager(&web, &link, "Rose", "rose@", false);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("id=\"manager_email-error\""));
    assert_eq!(request_field(&app, &id, "manager_email"), "");
    let r = save_manager(&web, &link, "Rose", "pris@exemple.fr", false);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(request_field(&app, &id, "manager_email"), "pris@exemple.fr");

    // The aidants: unique within the request, not the manager's.
    assert_eq!(
        save_manager(&web, &link, "Rose", "rose@exemple.fr", false).status,
        303
    );
    assert_eq!(
        add_request_aidant(&web, &link, "Alain", "alain@exemple.fr", "aidant").status,
        303
    );
    for (email, says) in [
        ("ALAIN@exemple.fr", "figure déjà dans la liste des aidants"),
        ("rose@exemple.fr", "celle du responsable"),
        ("nope", "n’est pas valide"),
    ] {
        let r = add_request_aidant(&web, &link, "Quelqu’un", email, "aidant");
        assert_eq!(r.status, 400, "{email}");
        assert!(r.body.contains("id=\"email-error\""), "{email}: {}", r.body);
        assert!(r.body.contains(says), "{email}");
    }
    let r = add_request_aidant(&web, &link, "Quelqu’un", "q@exemple.fr", "chef");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("id=\"role-error\""));
    assert_eq!(count_rows(&app.store, "habilitation_aidants"), 1);
    // An account's address is taken like any other, and nothing tells it apart.
    let r = add_request_aidant(&web, &link, "Pris", "PRIS@exemple.fr", "aidant");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!web
        .get(&format!("{link}/aidants"))
        .body
        .contains("existe déjà"));
    assert_eq!(count_rows(&app.store, "habilitation_aidants"), 2);

    // Sending an incomplete request says what is missing.
    let (web2, link2) = started(&app, "autre@exemple.fr");
    let r = send_request(&web2, &link2);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Renseignez la structure"));
    assert_eq!(request_field(&app, &request_id(&link2), "status"), "draft");
}

#[test]
fn a_wrong_or_altered_link_reveals_nothing() {
    let (app, _clock) = app_with_clock(&[]);
    let (web, link) = started(&app, "demandeur@exemple.fr");
    let id = request_id(&link);
    assert_eq!(
        save_structure(&web, &link, &fresh_siret(7), "Structure secrète").status,
        303
    );
    let secret = link.rsplit('/').next().expect("secret").to_string();
    let mut altered = secret.clone();
    let c = altered.pop().expect("char");
    altered.push(if c == 'A' { 'B' } else { 'A' });
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/habilitation/{id}/{altered}"),
        format!("/habilitation/{id}/{altered}/structure"),
        format!("/habilitation/{id}/{altered}/envoi"),
        format!("/habilitation/{unknown}/{secret}"),
        format!("/habilitation/{id}/x"),
    ] {
        let r = web.get(&path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.body.contains("Structure secrète"), "{path}");
        assert!(!r.body.contains("demandeur@exemple.fr"), "{path}");
    }
    // A post with a valid CSRF token but an altered link changes nothing.
    let token = web.csrf(&format!("{link}/structure"));
    let r = web.post(
        &format!("/habilitation/{id}/{altered}/structure"),
        &[
            ("csrf_token", &token),
            ("siret", &fresh_siret(8)),
            ("name", "Piratée"),
            ("address", "x"),
            ("kind", "autre"),
        ],
    );
    assert_eq!(r.status, 404);
    assert_eq!(request_field(&app, &id, "name"), "Structure secrète");
    // Without the CSRF token, refused too.
    let r = web.post(
        &format!("{link}/structure"),
        &[
            ("siret", &fresh_siret(8)),
            ("name", "Sans jeton"),
            ("address", "x"),
            ("kind", "autre"),
        ],
    );
    assert_ne!(r.status, 303);
    assert_eq!(request_field(&app, &id, "name"), "Structure secrète");
}

#[test]
fn a_second_request_for_the_same_address_sends_a_new_link_only() {
    let (app, clock) = app_with_clock(&[]);
    let (web, first) = started(&app, "demandeur@exemple.fr");
    // At once: the same answer, no new mail.
    let r = ask_link(&web, "demandeur@exemple.fr");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(LINK_SENT));
    assert_eq!(mails_of_kind(&app.store, "habilitation.link").len(), 1);
    // Later: a new link to the same request; the old one stops working.
    clock.advance(Duration::minutes(6));
    let r = ask_link(&Web::new(&app), "demandeur@exemple.fr");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(LINK_SENT));
    assert_eq!(mails_of_kind(&app.store, "habilitation.link").len(), 2);
    assert_eq!(count_rows(&app.store, "habilitation_requests"), 1);
    let second = link_for(&app, "demandeur@exemple.fr");
    assert_ne!(first, second);
    assert_eq!(request_id(&first), request_id(&second));
    assert_eq!(web.get(&first).status, 404);
    assert_eq!(web.get(&second).status, 200);
    assert_eq!(journal_by(&app, "habilitation.link_resent").len(), 1);
}

#[test]
fn only_administrators_review_requests() {
    let (app, clock, _s, manager, aidant) = team(9);
    let (_, link) = submitted(&app, "demandeur@exemple.fr", &fresh_siret(10));
    let id = request_id(&link);
    // Anonymous: to the login page.
    let anonymous = Web::new(&app);
    let r = anonymous.get("/admin/habilitations");
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap_or("").starts_with("/connexion"));
    for who in [&manager, &aidant] {
        let web = logged_in(&app, &clock, who);
        for path in [
            "/admin/habilitations".to_string(),
            format!("/admin/habilitations/{id}"),
        ] {
            let r = web.get(&path);
            assert_eq!(r.status, 403, "{} {path}", who.email);
            assert!(!r.body.contains("Maison France Services"));
        }
        let token = web.csrf("/espace");
        for action in ["accepter", "refuser", "modifications", "message"] {
            let r = web.post(
                &format!("/admin/habilitations/{id}/{action}"),
                &[("csrf_token", &token), ("body", "x"), ("confirm", "oui")],
            );
            assert_eq!(r.status, 403, "{} {action}", who.email);
        }
    }
    assert_eq!(request_field(&app, &id, "status"), "submitted");
    assert_eq!(count_rows(&app.store, "habilitation_messages"), 0);
}
