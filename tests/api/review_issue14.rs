//! Review of issue 14, item 4 (accreditation), as an attacker: what the landed work let
//! through, each test failing before its fix.

use procura::accounts::accreditation::{self, NewTraining};
use procura::clock::Clock;
use procura::domain::roles::Role;

use crate::helpers::*;

/// Finding (medium, PostgreSQL): `users.accredited_until` was recomputed from the records
/// without locking the account first, so a training recorded while another record of the
/// same account was being cancelled wrote back an end computed before the cancellation
/// committed: the cancelled record kept accrediting the aidant.
#[test]
fn a_record_made_during_a_cancellation_does_not_revive_the_cancelled_one() {
    let (app, clock, s, _m, _a) = team(141);
    let u = untrained_aidant(&app, &clock, "nouveau@exemple.fr", &s);
    let now = clock.now();
    let training = |completed_on: String, reference: &str| NewTraining {
        email: u.email.clone(),
        completed_on,
        reference: reference.into(),
    };
    // A recent training (it ends last), about to be cancelled as a mistake.
    let mistaken = {
        let mut conn = app.store.conn().expect("conn");
        accreditation::record(
            &mut conn,
            now,
            "user:first",
            36,
            &training(paris_day(&clock, 0), "B"),
        )
        .expect("record")
        .expect("accepted")
    };
    let held = held_cancellation(&app.store, &mistaken.training.id, &u.user.id);
    // Meanwhile another organisation records an older, real training.
    let real = std::thread::scope(|scope| {
        let recording = scope.spawn(|| {
            let mut conn = app.store.conn().expect("conn");
            accreditation::record(
                &mut conn,
                now,
                "user:second",
                36,
                &training(paris_day(&clock, -365), "A"),
            )
            .expect("record")
            .expect("accepted")
        });
        std::thread::sleep(std::time::Duration::from_millis(700));
        commit_held(held);
        recording.join().expect("thread")
    });
    assert_eq!(
        accredited_until(&app, &u.user.id),
        Some(real.training.expires_at),
        "only the record in force counts, not the cancelled one"
    );
}

/// Finding (low): an account holding both the trainer and the aidant roles (a training
/// organisation's account invited into a structure gets the aidant role when it accepts)
/// recorded its own training, and so accredited itself.
#[test]
fn nobody_records_their_own_training() {
    let (app, clock, s, _m, _a) = team(142);
    let both = untrained_account(
        &app.store,
        &clock,
        "formateur@exemple.fr",
        &[Role::Trainer, Role::Aidant],
        Some(&s),
    );
    let web = logged_in(&app, &clock, &both);
    let records = count_rows(&app.store, "trainings");
    let r = record_training(&web, &both.email, &paris_day(&clock, -1), "AUTO-1");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("votre propre formation"), "{}", r.body);
    assert!(r.body.contains(r#"aria-describedby="email-error""#));
    assert_eq!(accredited_until(&app, &both.user.id), None);
    assert_eq!(count_rows(&app.store, "trainings"), records);
    // Another organisation records it.
    let (_t, other) = trainer(&app, &clock, "autre@exemple.fr");
    let r = record_training(&other, &both.email, &paris_day(&clock, -1), "AUTO-1");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(accredited_until(&app, &both.user.id).is_some());
}

/// Finding (low, privacy): every training organisation saw the records of all the others,
/// with the names and e-mail addresses of every aidant they trained, and could search
/// them by e-mail. A training organisation now lists only its own records; an
/// administrator lists all.
#[test]
fn a_training_organisation_lists_only_its_own_records() {
    let (app, clock, s, _m, _a) = team(143);
    let u = untrained_aidant(&app, &clock, "confidentiel@exemple.fr", &s);
    let (_t1, first) = trainer(&app, &clock, "formation1@exemple.fr");
    let (_t2, second) = trainer(&app, &clock, "formation2@exemple.fr");
    assert_eq!(
        record_training(&first, &u.email, &paris_day(&clock, -1), "REF-PREMIER").status,
        303
    );
    let own = first.get("/formations");
    assert!(own.body.contains("REF-PREMIER"), "{}", own.body);
    for page in [
        second.get("/formations"),
        second.get("/formations?q=confidentiel"),
    ] {
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("REF-PREMIER"), "{}", page.body);
        assert!(
            !page.body.contains("confidentiel@exemple.fr"),
            "{}",
            page.body
        );
    }
    let admin = logged_in(
        &app,
        &clock,
        &account(&app.store, &clock, "admin@exemple.fr", &[Role::Admin], None),
    );
    assert!(admin.get("/formations").body.contains("REF-PREMIER"));
}
