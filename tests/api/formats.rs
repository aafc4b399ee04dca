//! Human formats on the pages (issue 13): Europe/Paris times in words, birth dates in
//! words with unknown parts said plainly, "née"/"né" from the gender.

use procura::clock::Clock;
use procura::domain::mandate::MandateDuration;

use crate::helpers::*;

#[test]
fn the_persons_page_says_dates_in_words_in_paris_time() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Nord", 31);
    let a = account(
        &app.store,
        &clock,
        "lea@exemple.fr",
        AIDANT_AND_MANAGER,
        Some(&s),
    );
    let web = Web::new(&app);
    assert_eq!(login(&web, &clock, &a).status, 303);
    let mut man = identity("fc-sub-formats");
    man.gender = "male".into();
    man.birthdate = "1985-00-00".into();
    let created = seed_mandate_for(
        &app.store,
        &clock,
        &a,
        &s,
        &man,
        &["social"],
        MandateDuration::Month,
    );
    let page = web.get(&format!("/usagers/{}", created.mandate.usager_id));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Né en 1985 (jour et mois inconnus)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("1985-00-00"));
    assert!(
        !page.body.contains("UTC"),
        "times are in Paris time, not UTC"
    );
    // The mandate's day, in words and in Paris time.
    let today = procura::domain::french::day(clock.now().naive_utc());
    assert!(
        page.body.contains(&today),
        "{today} not on the page: {}",
        page.body
    );
    // A woman with a full birth date.
    let woman = identity("fc-sub-formats-2");
    let mut woman = woman;
    woman.birthdate = "1962-08-24".into();
    let created = seed_mandate_for(
        &app.store,
        &clock,
        &a,
        &s,
        &woman,
        &["social"],
        MandateDuration::Month,
    );
    let page = web.get(&format!("/usagers/{}", created.mandate.usager_id));
    assert!(page.body.contains("Née le 24 août 1962"), "{}", page.body);
}

#[test]
fn a_created_mandate_is_announced_once_on_its_attestation() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 32, "annonce@exemple.fr");
    let id = crate::helpers::fc::create(&app, &web, &["social"], "MONTH", "2");
    let page = web.get(&format!("/mandats/{id}/attestation"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Mandat créé."), "{}", page.body);
    // Once only: the message is not shown again.
    let again = web.get(&format!("/mandats/{id}/attestation"));
    assert!(!again.body.contains("Mandat créé."));
}
