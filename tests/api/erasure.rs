//! Erasing a person's identity (GDPR): the operator's `procura usager erase` and the
//! retention schedule. Ids, digests and the journal stay, and every hash and checkpoint
//! still verifies afterwards.

use chrono::Duration;
use procura::clock::{Clock, FixedClock, SystemClock};
use procura::domain::mandate::MandateDuration;
use procura::mandates::Usager;
use procura::person::erase;

use crate::helpers::*;

fn usager_row(app: &TestApp, id: &str) -> Usager {
    let mut conn = app.store.conn().expect("conn");
    procura::mandates::usager_by_id(&mut conn, id)
        .expect("query")
        .expect("the usager row stays")
}

fn journal_verifies(app: &TestApp) -> serde_json::Value {
    let (status, out) = run_procura(&app.db.url, &["journal", "verify", "--json"], None);
    assert_eq!(status, Some(0), "{out}");
    serde_json::from_str(out.trim()).expect("json")
}

#[test]
fn erasing_a_person_keeps_ids_digests_and_a_journal_that_still_verifies() {
    // The binary runs on the system clock: the service's clock starts there too.
    let clock = FixedClock::new(SystemClock.now());
    let app = TestApp::builder().clock(&clock).spawn();
    let s = structure(&app.store, &clock, "Structure Effacement", 61);
    let a = account(
        &app.store,
        &clock,
        "effacement@exemple.fr",
        AIDANT_AND_MANAGER,
        Some(&s),
    );
    let gone = seed_mandate(
        &app.store,
        &clock,
        &a,
        &s,
        "sub-gone",
        &["social"],
        MandateDuration::Long,
    );
    let kept_identity = person_named("sub-kept", "Bernard", "MARTIN");
    let kept = seed_mandate_for(
        &app.store,
        &clock,
        &a,
        &s,
        &kept_identity,
        &["social"],
        MandateDuration::Long,
    );
    let uid = gone.mandate.usager_id.clone();
    let before = checkpoint_of(&app, &clock);
    let digest_before: Vec<String> = journal_entries(&app.store)
        .iter()
        .map(|e| e.hash.clone())
        .collect();

    let (status, out) = run_procura(
        &app.db.url,
        &["usager", "erase", "--id", &uid, "--json"],
        None,
    );
    assert_eq!(status, Some(0), "{out}");
    let done: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(done["erased"], true, "{done}");
    assert_eq!(
        done["mandates_revoked"], 1,
        "the active mandate ends first: {done}"
    );

    // The identity is gone, the row and its id stay; the other person is untouched.
    let u = usager_row(&app, &uid);
    assert_eq!(
        (u.given_name.as_str(), u.family_name.as_str()),
        ("Identité", "effacée")
    );
    assert_eq!(
        (
            u.birthdate.as_str(),
            u.birthplace.as_str(),
            u.gender.as_str()
        ),
        ("", "", "")
    );
    assert_eq!(u.email, None);
    assert_ne!(u.fc_sub, "sub-gone");
    let other = usager_row(&app, &kept.mandate.usager_id);
    assert_eq!(other.family_name, "MARTIN");
    assert_eq!(other.fc_sub, "sub-kept");

    // Pages show what happened, never the old identity.
    let web = logged_in(&app, &clock, &a);
    let page = web.get(&format!("/usagers/{uid}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Identité effacée"), "{}", page.body);
    assert!(!page.body.contains("DUBOIS") && !page.body.contains("Angela"));
    let attestation = web.get(&format!("/mandats/{}/attestation", gone.mandate.id));
    assert_eq!(attestation.status, 200);
    assert!(!attestation.body.contains("DUBOIS"));

    // The journal: the revocation, then the erasure, by the operator; no entry ever held
    // the identity, every earlier hash is unchanged, and the chain and both checkpoints
    // (one made before the erasure) verify.
    let entries = journal_entries(&app.store);
    let erased = entries
        .iter()
        .find(|e| e.action == "usager.erased")
        .expect("usager.erased");
    assert_eq!(erased.actor.as_deref(), Some("cli"));
    assert_eq!(erased.usager_id.as_deref(), Some(uid.as_str()));
    assert!(
        erased.details.contains("\"reason\":\"request\""),
        "{}",
        erased.details
    );
    let revoked = entries.iter().position(|e| e.action == "mandate.revoked");
    let erased_at = entries.iter().position(|e| e.action == "usager.erased");
    assert!(revoked.is_some() && revoked < erased_at, "revocation first");
    assert!(entries.iter().all(|e| !e.details.contains("DUBOIS")));
    let hashes: Vec<String> = entries.iter().map(|e| e.hash.clone()).collect();
    assert_eq!(hashes[..digest_before.len()], digest_before[..]);
    let after = checkpoint_of(&app, &clock);
    assert!(after.size > before.size);
    let v = journal_verifies(&app);
    assert_eq!(v["checkpoints"], 2, "{v}");

    // Again: nothing changes, nothing is journaled.
    let (status, out) = run_procura(
        &app.db.url,
        &["usager", "erase", "--id", &uid, "--json"],
        None,
    );
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("\"erased\":false"), "{out}");
    assert_eq!(journal_entries(&app.store).len(), entries.len());
    // An unknown id: a clear refusal, nothing changes.
    let (status, out) = run_procura(
        &app.db.url,
        &["usager", "erase", "--id", "nobody", "--json"],
        None,
    );
    assert_eq!(status, Some(2), "{out}");
    assert!(out.contains("Aucune personne"), "{out}");
    assert_eq!(journal_entries(&app.store).len(), entries.len());
}

#[test]
fn the_retention_schedule_erases_people_whose_last_mandate_ended_long_ago() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "Structure Rétention", 62);
    let a = account(
        &app.store,
        &clock,
        "retention@exemple.fr",
        AIDANT_AND_MANAGER,
        Some(&s),
    );
    let old = seed_mandate(
        &app.store,
        &clock,
        &a,
        &s,
        "sub-old",
        &["social"],
        MandateDuration::Short,
    );
    let long_identity = person_named("sub-long", "Claire", "LEROY");
    let long = seed_mandate_for(
        &app.store,
        &clock,
        &a,
        &s,
        &long_identity,
        &["social"],
        MandateDuration::Long,
    );
    let revoked_identity = person_named("sub-revoked", "Denis", "PETIT");
    let revoked = seed_mandate_for(
        &app.store,
        &clock,
        &a,
        &s,
        &revoked_identity,
        &["social"],
        MandateDuration::Long,
    );
    // Revoked one month later: the mandate ended then, not at its end date.
    clock.advance(Duration::days(31));
    revoke_seeded(&app.store, &clock, &s, &revoked.mandate.id);

    let mut conn = app.store.conn().expect("conn");
    // Twelve months after the first mandate's one-day end: only that person is due.
    clock.advance(Duration::days(365 - 31 + 2));
    assert_eq!(
        erase::due(&mut conn, clock.now(), 12).expect("due"),
        vec![old.mandate.usager_id.clone()]
    );
    assert_eq!(
        erase::erase_expired(&mut conn, clock.now(), 12).expect("erase"),
        1
    );
    assert_eq!(
        erase::erase_expired(&mut conn, clock.now(), 12).expect("again"),
        0
    );
    drop(conn);
    assert_eq!(
        usager_row(&app, &old.mandate.usager_id).family_name,
        "effacée"
    );
    assert_eq!(
        usager_row(&app, &long.mandate.usager_id).family_name,
        "LEROY"
    );
    assert_eq!(
        usager_row(&app, &revoked.mandate.usager_id).family_name,
        "PETIT"
    );
    let entry = journal_entries(&app.store)
        .into_iter()
        .find(|e| e.action == "usager.erased")
        .expect("usager.erased");
    assert_eq!(entry.actor.as_deref(), Some("system"));
    assert!(
        entry.details.contains("\"reason\":\"retention\""),
        "{}",
        entry.details
    );

    // A month later, the revoked mandate's person is due too; the long one's never while
    // it runs.
    clock.advance(Duration::days(31));
    let mut conn = app.store.conn().expect("conn");
    assert_eq!(
        erase::due(&mut conn, clock.now(), 12).expect("due"),
        vec![revoked.mandate.usager_id.clone()]
    );
    drop(conn);
    let v = journal_verifies(&app);
    assert_eq!(v["intact"], true, "{v}");
}

#[test]
fn a_manager_erases_a_person_of_the_structure_on_request_only_when_no_other_structure_holds_them() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "Structure Demande", 63);
    let other = structure(&app.store, &clock, "Autre Structure", 64);
    let m = member(
        &app,
        &clock,
        "resp.efface@exemple.fr",
        AIDANT_AND_MANAGER,
        &s,
    );
    let a = member(
        &app,
        &clock,
        "aidant.efface@exemple.fr",
        &[procura::domain::roles::Role::Aidant],
        &s,
    );
    let o = member(
        &app,
        &clock,
        "autre.efface@exemple.fr",
        AIDANT_AND_MANAGER,
        &other,
    );
    let ours = seed_mandate(
        &app.store,
        &clock,
        &a,
        &s,
        "sub-ours",
        &["social"],
        MandateDuration::Long,
    );
    let shared_identity = person_named("sub-shared", "Eve", "MOREAU");
    let shared = seed_mandate_for(
        &app.store,
        &clock,
        &a,
        &s,
        &shared_identity,
        &["social"],
        MandateDuration::Long,
    );
    seed_mandate_for(
        &app.store,
        &clock,
        &o,
        &other,
        &shared_identity,
        &["famille"],
        MandateDuration::Long,
    );
    let uid = ours.mandate.usager_id.clone();
    let path = format!("/usagers/{uid}/effacer");

    // An aidant, or a manager of another structure, cannot.
    let aidant = logged_in(&app, &clock, &a);
    assert!(!aidant.get(&format!("/usagers/{uid}")).body.contains(&path));
    assert_eq!(aidant.get(&path).status, 403);
    assert_eq!(
        aidant.submit(&format!("/usagers/{uid}"), &path, &[]).status,
        403
    );
    let stranger = logged_in(&app, &clock, &o);
    assert_eq!(stranger.get(&path).status, 404);

    // The manager asks first, needs the form's token, then erases.
    let manager = logged_in(&app, &clock, &m);
    let before = journal_entries(&app.store).len();
    assert!(manager.get(&format!("/usagers/{uid}")).body.contains(&path));
    let ask = manager.get(&path);
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("Effacer l’identité de"), "{}", ask.body);
    assert_eq!(manager.post(&path, &[]).status, 403);
    assert_eq!(journal_entries(&app.store).len(), before);
    let done = manager.submit(&path, &path, &[]);
    assert_eq!(done.status, 303, "{}", done.body);
    let page = manager.get(&format!("/usagers/{uid}"));
    assert!(
        page.body.contains("L’identité de la personne est effacée"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Identité effacée"));
    let erased = journal_entries(&app.store)
        .into_iter()
        .find(|e| e.action == "usager.erased")
        .expect("usager.erased");
    assert_eq!(erased.actor, Some(format!("user:{}", m.user.id)));

    // A person also known to another structure: refused, nothing changes.
    let shared_path = format!("/usagers/{}/effacer", shared.mandate.usager_id);
    let count = journal_entries(&app.store).len();
    let refused = manager.submit(
        &format!("/usagers/{}", shared.mandate.usager_id),
        &shared_path,
        &[],
    );
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("autres structures"),
        "{}",
        refused.body
    );
    assert_eq!(journal_entries(&app.store).len(), count);
    assert_eq!(
        usager_row(&app, &shared.mandate.usager_id).family_name,
        "MOREAU"
    );
}
