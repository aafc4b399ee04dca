//! The person's page (`/usagers/{id}`): places of birth in words, mandates titled by
//! their dates, "remplacé" after a renewal, "Renouveler" only where it makes sense, the
//! revocation attestation found again, and the remaining validity.

use chrono::Duration;
use procura::domain::mandate::MandateDuration;

use crate::helpers::*;

/// The texts of the mandates' titles (`<h2 id="mandat-…">…<span`).
fn titles(body: &str) -> Vec<String> {
    body.split("<h2 id=\"mandat-")
        .skip(1)
        .map(|s| {
            let s = &s[s.find('>').expect("title") + 1..];
            s[..s.find("<span").expect("badge")].trim().to_string()
        })
        .collect()
}

/// The section of the page about mandate `id`.
fn section<'a>(body: &'a str, id: &str) -> &'a str {
    let start = body
        .find(&format!(
            "<section class=\"fr-mt-4w\" aria-labelledby=\"mandat-{id}\">"
        ))
        .unwrap_or_else(|| panic!("no section for {id}"));
    let rest = &body[start..];
    &rest[..rest.find("</section>").expect("end of section")]
}

#[test]
fn places_of_birth_are_said_in_words() {
    let (app, clock, s, a) = lone_aidant(741);
    let month = MandateDuration::Month;
    // Paris 7e (the fixture's identity), La Réunion, a commune merged in 1973, abroad.
    let paris = seed_mandate(&app.store, &clock, &a, &s, "sub-paris", &["social"], month);
    let mut reunion = person_named("sub-reunion", "Paul", "HOARAU");
    reunion.birthplace = "97411".into();
    let reunion = seed_mandate_for(&app.store, &clock, &a, &s, &reunion, &["social"], month);
    let mut old = person_named("sub-ancien", "Jeanne", "LEGRAND");
    old.birthplace = "14624".into();
    let old = seed_mandate_for(&app.store, &clock, &a, &s, &old, &["social"], month);
    let mut abroad = person_named("sub-maroc", "Karim", "BENALI");
    abroad.birthplace = String::new();
    abroad.birthcountry = "99350".into();
    let abroad = seed_mandate_for(&app.store, &clock, &a, &s, &abroad, &["social"], month);
    let mut unknown = person_named("sub-inconnu", "Zoé", "INCONNUE");
    unknown.birthplace = "00000".into();
    let unknown = seed_mandate_for(&app.store, &clock, &a, &s, &unknown, &["social"], month);
    let web = logged_in(&app, &clock, &a);
    for (created, expected) in [
        (&paris, " à Paris 7e Arrondissement."),
        (&reunion, "à Saint-Denis (La Réunion)."),
        (&old, "à Saint-Martin-de-Fresnay."),
        (&abroad, "à l’étranger (Maroc)."),
        (&unknown, "dans la commune de code INSEE 00000."),
    ] {
        let page = web.get(&format!("/usagers/{}", created.mandate.usager_id));
        assert_eq!(page.status, 200);
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
        if !expected.contains("00000") {
            assert!(!page.body.contains("INSEE"), "{}", page.body);
        }
    }
}

#[test]
fn renewed_revoked_and_expired_mandates_read_clearly() {
    let (app, clock, s, a) = lone_aidant(742);
    // An expired mandate (one day), then a mandate renewed the same day, then a revoked one.
    let expired = seed_mandate(
        &app.store,
        &clock,
        &a,
        &s,
        "sub-p",
        &["famille"],
        MandateDuration::Short,
    );
    clock.advance(Duration::days(3));
    let long = MandateDuration::Long;
    let first = seed_mandate(
        &app.store,
        &clock,
        &a,
        &s,
        "sub-p",
        &["social", "logement"],
        long,
    );
    clock.advance(Duration::minutes(10));
    let renewal = seed_mandate(
        &app.store,
        &clock,
        &a,
        &s,
        "sub-p",
        &["social", "logement"],
        long,
    );
    clock.advance(Duration::minutes(10));
    let revoked = seed_mandate(&app.store, &clock, &a, &s, "sub-p", &["travail"], long);
    revoke_seeded(&app.store, &clock, &s, &revoked.mandate.id);
    let usager = format!("/usagers/{}", first.mandate.usager_id);
    let web = logged_in(&app, &clock, &a);
    let page = web.get(&usager);
    assert_eq!(page.status, 200);
    let body = &page.body;

    // Titles by dates in words, never twice the same.
    let all = titles(body);
    assert_eq!(all.len(), 4, "{all:?}");
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "two mandates share a title: {all:?}");
    assert!(
        all.iter()
            .all(|t| t.starts_with("Mandat du ") && t.contains(" au ")),
        "{all:?}"
    );

    // The replaced mandate: "remplacé", linked to its renewal, not renewable.
    let old = section(body, &first.mandate.id);
    assert!(old.contains(">remplacé</span>"), "{old}");
    assert!(!old.contains("révoqué</span>"), "{old}");
    assert!(
        old.contains(&format!("href=\"#mandat-{}\"", renewal.mandate.id)),
        "{old}"
    );
    assert!(!old.contains("renouveler="), "{old}");

    // The active renewal: renewable, its remaining validity shown.
    let new = section(body, &renewal.mandate.id);
    assert!(new.contains(">actif</span>"), "{new}");
    assert!(new.contains(&format!("renouveler={}", renewal.mandate.id)));
    assert!(new.contains("Validité : encore 365 jours"), "{new}");

    // The revoked one: not renewable, its revocation attestation one click away.
    let gone = section(body, &revoked.mandate.id);
    assert!(gone.contains(">révoqué</span>"), "{gone}");
    assert!(!gone.contains("renouveler="), "{gone}");
    let attestation = format!("/mandats/{}/revocation", revoked.mandate.id);
    assert!(gone.contains(&format!("href=\"{attestation}\"")), "{gone}");
    let r = web.get(&attestation);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Attestation de révocation"));
    assert!(!old.contains("/revocation\""), "nothing was revoked there");

    // The expired one stays renewable.
    let ended = section(body, &expired.mandate.id);
    assert!(ended.contains(">expiré</span>"), "{ended}");
    assert!(ended.contains(&format!("renouveler={}", expired.mandate.id)));
    assert!(!ended.contains("Validité"), "{ended}");

    // On its last day: "se termine aujourd’hui à …", in Paris time.
    clock.set(
        chrono::DateTime::from_naive_utc_and_offset(renewal.mandate.expires_at, chrono::Utc)
            - Duration::hours(1),
    );
    let web = logged_in(&app, &clock, &a);
    let page = web.get(&usager);
    let new = section(&page.body, &renewal.mandate.id);
    let end = procura::domain::french::paris(renewal.mandate.expires_at);
    let expected = format!(
        "Validité : se termine aujourd’hui à {} h {}",
        end.format("%-H"),
        end.format("%M")
    );
    assert!(new.contains(&expected), "{expected}: {new}");
}
