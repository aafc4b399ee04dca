//! Accreditation (issue 14, item 4): an aidant creates and uses mandates only while a
//! recorded training accredits them; a training organisation or an administrator records
//! it at `/formations`; it ends after `PROCURA_ACCREDITATION_MONTHS`, and until then the
//! aidant sees what is missing.

use chrono::Duration;
use procura::accounts::accreditation;
use procura::clock::Clock;
use procura::domain::roles::Role;

use crate::helpers::oidc::*;
use crate::helpers::person::*;
use crate::helpers::*;

#[test]
fn an_untrained_aidant_sees_what_is_missing_and_can_neither_create_nor_request() {
    let (app, clock, s, _m, _a) = team(71);
    let u = untrained_aidant(&app, &clock, "nouveau@exemple.fr", &s);
    let web = logged_in(&app, &clock, &u);
    let home = web.get("/espace");
    assert_eq!(home.status, 200);
    assert!(home.body.contains(r#"id="habilitation""#), "{}", home.body);
    assert!(home.body.contains("pas encore habilité"), "{}", home.body);
    let form = web.get("/mandats/nouveau");
    assert_eq!(form.status, 403, "{}", form.body);
    assert!(form
        .body
        .contains("formation d’aidant n’est pas enregistrée"));
    // Neither at the desk nor remotely: nothing is started.
    let before = journal_actions(&app.store).len();
    let csrf = web.csrf("/espace");
    let r = web.post(
        "/mandats/nouveau",
        &[
            ("csrf_token", &csrf),
            ("demarches", "social"),
            ("duration", "MONTH"),
            ("consent_mode", "presence"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = web.post(
        "/mandats/nouveau",
        &[
            ("csrf_token", &csrf),
            ("demarches", "social"),
            ("duration", "MONTH"),
            ("consent_mode", "distance"),
            ("usager_email", ANGELA[0]),
            ("usager_family_name", ANGELA[1]),
            ("usager_given_name", ANGELA[2]),
            ("usager_birthdate", ANGELA[3]),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(count_rows(&app.store, "consent_requests"), 0);
    assert_eq!(count_rows(&app.store, "remote_consents"), 0);
    assert_eq!(journal_actions(&app.store).len(), before);
    // The manager sees it in the accounts table.
    let manager = logged_in(&app, &clock, &_m);
    let page = manager.get("/gestion");
    assert!(
        page.body.contains("formation à enregistrer"),
        "{}",
        page.body
    );
}

#[test]
fn a_training_organisation_records_a_training_and_the_aidant_is_accredited() {
    let (app, clock, s, m, _a) = team(72);
    let u = untrained_aidant(&app, &clock, "nouveau@exemple.fr", &s);
    let (t, trainer_web) = trainer(&app, &clock, "formation@exemple.fr");
    let page = trainer_web.get("/formations");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Enregistrer une formation terminée"));
    let r = record_training(
        &trainer_web,
        "Nouveau@Exemple.fr",
        &paris_day(&clock, -3),
        "AC-2030-0042",
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/formations"));
    let page = trainer_web.get("/formations");
    assert!(page.body.contains("Formation enregistrée"), "{}", page.body);
    assert!(page.body.contains("AC-2030-0042"));
    // 36 months from the training's day, by default.
    let until = accredited_until(&app, &u.user.id).expect("accredited");
    let expected = accreditation::expiry(
        chrono::NaiveDate::parse_from_str(&paris_day(&clock, -3), "%Y-%m-%d").expect("day"),
        36,
    );
    assert_eq!(until, expected);
    let entry = last_journal_entry(&app.store);
    assert_eq!(entry.action, "accreditation.recorded");
    assert_eq!(entry.actor, Some(format!("user:{}", t.user.id)));
    assert!(entry.details.contains("AC-2030-0042"), "{}", entry.details);
    assert!(entry.details.contains(&u.user.id));
    // The aidant now creates mandates and sees until when.
    let web = logged_in(&app, &clock, &u);
    assert!(web.get("/espace").body.contains("Vous êtes habilité"));
    assert_eq!(web.get("/mandats/nouveau").status, 200);
    let manager = logged_in(&app, &clock, &m);
    assert!(!manager
        .get("/gestion")
        .body
        .contains("formation à enregistrer"));
}

#[test]
fn bad_trainings_are_refused_beside_their_field_and_record_nothing() {
    let (app, clock, s, _m, _a) = team(73);
    untrained_aidant(&app, &clock, "nouveau@exemple.fr", &s);
    let (_t, web) = trainer(&app, &clock, "formation@exemple.fr");
    let before = count_rows(&app.store, "trainings");
    let old = paris_day(&clock, -(37 * 31));
    let cases = [
        (
            "nouveau@exemple.fr",
            paris_day(&clock, 2),
            "R-1",
            "completed_on",
            "dans le futur",
        ),
        (
            "nouveau@exemple.fr",
            "2030-02-31".to_string(),
            "R-1",
            "completed_on",
            "Indiquez la date",
        ),
        (
            "nouveau@exemple.fr",
            old,
            "R-1",
            "completed_on",
            "déjà pris fin",
        ),
        (
            "nouveau@exemple.fr",
            paris_day(&clock, -1),
            "   ",
            "reference",
            "Indiquez la référence",
        ),
        (
            "personne@exemple.fr",
            paris_day(&clock, -1),
            "R-1",
            "email",
            "Aucun compte d’aidant",
        ),
        // A manager-only account is no aidant.
        (
            "m@exemple.fr",
            paris_day(&clock, -1),
            "R-1",
            "email",
            "Aucun compte d’aidant",
        ),
        (
            "pas-une-adresse",
            paris_day(&clock, -1),
            "R-1",
            "email",
            "Indiquez l’adresse",
        ),
    ];
    for (email, date, reference, field, message) in cases {
        let r = record_training(&web, email, &date, reference);
        assert_eq!(r.status, 400, "{email} {date}: {}", r.body);
        assert!(r.body.contains(message), "{email} {date}: {}", r.body);
        assert!(
            r.body
                .contains(&format!(r#"aria-describedby="{field}-error""#)),
            "{field}: {}",
            r.body
        );
        // What was typed is kept.
        assert!(
            r.body.contains(&format!(r#"value="{email}""#)),
            "{}",
            r.body
        );
    }
    assert_eq!(count_rows(&app.store, "trainings"), before);
    assert_eq!(
        count_of(&journal_actions(&app.store), "accreditation.recorded"),
        2 - 1
    );
}

#[test]
fn only_trainers_and_admins_reach_the_trainings_page() {
    let (app, clock, s, m, a) = team(74);
    let anonymous = Web::new(&app);
    let r = anonymous.get("/formations");
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap_or("").starts_with("/connexion"));
    let auditor = auditor_of(&app, &clock, &s, "audit@exemple.fr");
    for web in [
        logged_in(&app, &clock, &m),
        logged_in(&app, &clock, &a),
        auditor,
    ] {
        assert_eq!(web.get("/formations").status, 403);
        let csrf = web.csrf("/espace");
        let r = web.post(
            "/formations",
            &[
                ("csrf_token", &csrf),
                ("email", "a@exemple.fr"),
                ("completed_on", &paris_day(&clock, -1)),
                ("reference", "R"),
            ],
        );
        assert_eq!(r.status, 403);
    }
    assert_eq!(
        count_of(&journal_actions(&app.store), "accreditation.recorded"),
        1
    );
    // An administrator does.
    let admin = member(&app, &clock, "admin@exemple.fr", &[Role::Admin], &s);
    let web = logged_in(&app, &clock, &admin);
    assert_eq!(web.get("/formations").status, 200);
    assert!(web.get("/espace").body.contains(r#"href="/formations""#));
}

#[test]
fn a_cancelled_record_ends_the_accreditation_and_trainers_cancel_only_their_own() {
    let (app, clock, s, _m, _a) = team(75);
    let u = untrained_aidant(&app, &clock, "nouveau@exemple.fr", &s);
    let (t1, first) = trainer(&app, &clock, "formation1@exemple.fr");
    let (_t2, second) = trainer(&app, &clock, "formation2@exemple.fr");
    assert_eq!(
        record_training(&first, &u.email, &paris_day(&clock, -1), "R-1").status,
        303
    );
    let id = {
        let mut conn = app.store.conn().expect("conn");
        accreditation::of_account(&mut conn, &u.user.id).expect("q")[0]
            .id
            .clone()
    };
    let path = format!("/formations/{id}/annuler");
    // Another organisation neither sees a cancel link nor may cancel.
    assert!(!second.get("/formations").body.contains(&path));
    let r = second.submit("/formations", &path, &[]);
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(accredited_until(&app, &u.user.id).is_some());
    // Its author confirms, then cancels.
    let confirm = first.get(&path);
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Annuler cet enregistrement"));
    let r = first.submit(&path, &path, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(accredited_until(&app, &u.user.id), None);
    let entry = last_journal_entry(&app.store);
    assert_eq!(entry.action, "accreditation.cancelled");
    assert_eq!(entry.actor, Some(format!("user:{}", t1.user.id)));
    assert!(first.get("/formations").body.contains("annulée"));
    // Twice is refused, and the aidant is back to what is missing.
    assert_eq!(first.submit(&path, &path, &[]).status, 400);
    let web = logged_in(&app, &clock, &u);
    assert!(web.get("/espace").body.contains("pas encore habilité"));
}

#[test]
fn an_accreditation_that_ends_stops_the_use_of_mandates_at_once() {
    let w = world(&[]);
    // The chooser says which structure's mandates it offers.
    let r = new_req();
    let start = w.web.get(&authorize_path(&w.rp, &r, "openid", &[]));
    let page = w.web.get(start.header("location").expect("interaction"));
    assert!(
        page.body
            .contains("Vous agissez pour la structure <strong>France Services Provider</strong>"),
        "{}",
        page.body
    );
    // A token obtained while accredited.
    let token = access_token(&w, "openid", "social");
    assert_eq!(userinfo(&w, &token).status, 200);
    // The record is cancelled (as at its end): the token and the chooser stop.
    let id = {
        let mut conn = w.app.store.conn().expect("conn");
        accreditation::of_account(&mut conn, &w.aidant.user.id).expect("q")[0]
            .id
            .clone()
    };
    {
        let mut conn = w.app.store.conn().expect("conn");
        accreditation::cancel(&mut conn, w.clock.now(), "test", true, &id).expect("cancel");
    }
    assert_eq!(userinfo(&w, &token).status, 401);
    let r = new_req();
    let start = w.web.get(&authorize_path(&w.rp, &r, "openid", &[]));
    assert_eq!(start.status, 303, "{}", start.body);
    let page = w.web.get(start.header("location").expect("interaction"));
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("pas encore habilité"), "{}", page.body);
}

#[test]
fn the_accreditation_ends_after_the_configured_months_and_says_so_before() {
    let (app, clock) = app_with_clock(&[("PROCURA_ACCREDITATION_MONTHS", "12")]);
    let s = structure(&app.store, &clock, "S", 76);
    let u = untrained_aidant(&app, &clock, "nouveau@exemple.fr", &s);
    let (_t, trainer_web) = trainer(&app, &clock, "formation@exemple.fr");
    assert_eq!(
        record_training(&trainer_web, &u.email, &paris_day(&clock, 0), "R-12").status,
        303
    );
    // Within 60 days of the end, the home says so.
    clock.advance(Duration::days(365 - 30));
    let web = logged_in(&app, &clock, &u);
    let home = web.get("/espace");
    assert!(home.body.contains("prend fin le"), "{}", home.body);
    assert_eq!(web.get("/mandats/nouveau").status, 200);
    // After twelve months, it has ended.
    clock.advance(Duration::days(31));
    let web = logged_in(&app, &clock, &u);
    let home = web.get("/espace");
    assert!(home.body.contains("a pris fin le"), "{}", home.body);
    assert_eq!(web.get("/mandats/nouveau").status, 403);
}

#[test]
fn the_command_line_accredits_and_refuses_clearly() {
    let db = TestDb::new();
    let run = |args: &[&str]| run_procura(&db.url, args, None);
    let (code, out) = run(&[
        "user",
        "create",
        "--email",
        "cli@exemple.fr",
        "--name",
        "Par Commande",
        "--role",
        "aidant",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    // Created by the operator without a training: the operator vouches for it.
    assert!(v["accredited_until"].is_string(), "{out}");
    let (code, out) = run(&[
        "user",
        "create",
        "--email",
        "t@exemple.fr",
        "--name",
        "Formé",
        "--role",
        "aidant",
        "--training-date",
        "2999-01-01",
        "--training-reference",
        "R",
        "--json",
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--training-date"), "{out}");
    let (code, out) = run(&[
        "user",
        "create",
        "--email",
        "x@exemple.fr",
        "--name",
        "Auditeur",
        "--role",
        "auditor",
        "--training-date",
        "2020-01-01",
        "--training-reference",
        "R",
        "--json",
    ]);
    assert_eq!(code, Some(2), "{out}");
    let (code, out) = run(&[
        "user",
        "accredit",
        "--email",
        "cli@exemple.fr",
        "--date",
        "1999-12-31",
        "--reference",
        "R",
        "--json",
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--date"), "{out}");
    let today = procura::domain::french::paris(procura::clock::SystemClock.now().naive_utc())
        .date()
        .to_string();
    let (code, out) = run(&[
        "user",
        "accredit",
        "--email",
        "cli@exemple.fr",
        "--date",
        &today,
        "--reference",
        "AC-CLI-1",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert!(v["training"].is_string(), "{out}");
    let (code, out) = run(&[
        "user",
        "accredit",
        "--email",
        "nobody@exemple.fr",
        "--date",
        &today,
        "--reference",
        "R",
        "--json",
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--email"), "{out}");
}

#[test]
fn the_upgrade_carries_existing_aidants_over() {
    let db = TestDb::new();
    let store = db.store(2);
    store.migrate().expect("migrate");
    let clock = clock();
    let s = structure(&store, &clock, "S", 77);
    let a = untrained_account(&store, &clock, "a@exemple.fr", &[Role::Aidant], Some(&s));
    let both = untrained_account(
        &store,
        &clock,
        "am@exemple.fr",
        AIDANT_AND_MANAGER,
        Some(&s),
    );
    let m = untrained_account(&store, &clock, "m@exemple.fr", &[Role::Manager], Some(&s));
    // Back to the database as it was before this version, then upgraded again.
    // The same in both trees (migrations::both_backends_have_the_same_migrations).
    let down = include_str!("../../migrations/sqlite/2026-12-13-000001_accreditation/down.sql");
    for statement in down.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        exec_sql(&store, statement);
    }
    exec_sql(
        &store,
        "DELETE FROM __diesel_schema_migrations WHERE version = '20261213000001'",
    );
    let applied = store.migrate().expect("upgrade");
    assert_eq!(applied.len(), 1, "{applied:?}");
    // Every account with the aidant role is accredited for a year from the upgrade.
    let upgraded = procura::clock::SystemClock.now();
    for (account, carried) in [(&a, true), (&both, true), (&m, false)] {
        let until = user_row(&store, &account.user.id).accredited_until;
        assert_eq!(until.is_some(), carried, "{}", account.email);
        let mut conn = store.conn().expect("conn");
        let records = accreditation::of_account(&mut conn, &account.user.id).expect("q");
        assert_eq!(records.len(), usize::from(carried));
        if let (Some(until), Some(r)) = (until, records.first()) {
            assert_eq!(r.reference, "reprise à la mise à jour");
            assert_eq!(r.recorded_by, "migration");
            assert_eq!(r.expires_at, until);
            let days = (until - upgraded.naive_utc()).num_days();
            assert!((364..=366).contains(&days), "{days}");
        }
    }
}
