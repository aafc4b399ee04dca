//! The person's side: logging in to `/moi` through the demo's FranceConnect simulator,
//! remote consent requests from the creation form, the links and notices in the outbox,
//! uses of a mandate as the journal records them.

use procura::clock::{Clock, FixedClock};
use procura::federation::client::Identity;
use procura::journal::NewEntry;
use procura::mail::Queued;
use procura::store::{write_tx, Store};

use super::app::TestApp;
use super::fc::simulator;
use super::http::{Resp, Web};

/// The demo's sample OpenID client (registered in demo mode).
pub const DEMO_CLIENT: &str = "demo-site-administratif";

/// The simulator's identity number `i` ("0" Angela DUBOIS, "1" Karim BELKACEM,
/// "2" Marie-Thérèse NGUYEN).
pub fn sim_identity(i: usize) -> Identity {
    procura::federation::simulator::identities()[i].clone()
}

/// Starts a login to `/moi` in `web` and goes through the simulator as `identity`;
/// returns FranceConnect's callback path (not yet followed).
pub fn moi_login_callback(app: &TestApp, web: &Web, identity: &str) -> String {
    let r = web.get("/moi/connexion");
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.header("location").expect("redirect to FranceConnect");
    app.local(&simulator(app, web, to, identity, "connexion"))
}

/// Logs in to `/moi` as the simulator's `identity`; the callback's answer.
pub fn moi_login(app: &TestApp, web: &Web, identity: &str) -> Resp {
    let callback = moi_login_callback(app, web, identity);
    web.get(&callback)
}

/// Posts the creation form in remote mode (`consent_mode=distance`); the answer.
pub fn remote_request(web: &Web, demarches: &[&str], duration: &str, person: [&str; 4]) -> Resp {
    let [email, family, given, birth] = person;
    let mut fields: Vec<(&str, &str)> = demarches.iter().map(|d| ("demarches", *d)).collect();
    fields.extend([
        ("duration", duration),
        ("consent_mode", "distance"),
        ("usager_email", email),
        ("usager_family_name", family),
        ("usager_given_name", given),
        ("usager_birthdate", birth),
    ]);
    web.submit("/mandats/nouveau", "/mandats/nouveau", &fields)
}

/// Angela DUBOIS (the simulator's identity "0") as an aidant would enter her.
pub const ANGELA: [&str; 4] = ["angela.dubois@exemple.fr", "Dubois", "Angela", "1962-08-24"];

/// The outbox's messages of `kind`, newest first.
pub fn mails(store: &Store, kind: &str) -> Vec<Queued> {
    let mut conn = store.conn().expect("conn");
    procura::mail::recent(&mut conn, 1000)
        .expect("outbox")
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

/// The path of the consent link in the newest `usager.remote_consent` message.
pub fn remote_link(app: &TestApp) -> String {
    let m = mails(&app.store, "usager.remote_consent")
        .into_iter()
        .next()
        .expect("a remote consent e-mail");
    let start = m
        .body_text
        .find(&app.url("/consentement/"))
        .expect("the link in the e-mail");
    let link: String = m.body_text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    app.local(&link)
}

/// Opens a consent link in `web`, uses it (the form's POST) and goes through the
/// simulator as `identity`; FranceConnect's callback answer.
pub fn answer_link(app: &TestApp, web: &Web, link: &str, identity: &str) -> Resp {
    let page = web.get(link);
    assert_eq!(page.status, 200, "{}", page.body);
    let r = web.submit(link, link, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let callback = simulator(
        app,
        web,
        r.header("location").expect("to FranceConnect"),
        identity,
        "connexion",
    );
    web.get(&app.local(&callback))
}

/// The status of every remote consent request, oldest first.
pub fn remote_statuses(store: &Store) -> Vec<String> {
    use diesel::prelude::*;
    use procura::store::schema::remote_consents;
    let mut conn = store.conn().expect("conn");
    remote_consents::table
        .order(remote_consents::created_at.asc())
        .select(remote_consents::status)
        .load(&mut *conn)
        .expect("statuses")
}

/// Journals a use of `mandate` as the acting-on-behalf flow does (`mandate.used`).
pub fn record_use(
    store: &Store,
    clock: &FixedClock,
    aidant_id: &str,
    created: &procura::mandates::Created,
    client_id: &str,
) {
    let m = &created.mandate;
    let a = &created.authorisations[0];
    let mut conn = store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        procura::journal::append(
            c,
            clock.now(),
            NewEntry::new("mandate.used")
                .actor(format!("user:{aidant_id}"))
                .structure(&m.structure_id)
                .usager(&m.usager_id)
                .mandate(&m.id)
                .authorisation(&a.id)
                .client(client_id)
                .detail("demarche", a.demarche.as_str())
                .detail("scope", "openid"),
        )
    })
    .expect("use journaled");
}

/// Runs the service's housekeeping now, as its timer does.
pub fn housekeeping(app: &TestApp, clock: &FixedClock) {
    let mut conn = app.store.conn().expect("conn");
    procura::maintenance::housekeeping(
        &mut conn,
        clock.now(),
        &procura::accounts::sessions::Policy {
            idle: chrono::Duration::minutes(30),
            absolute: chrono::Duration::hours(12),
            second_factor: chrono::Duration::minutes(5),
        },
    )
    .expect("housekeeping");
}

/// Deactivates or reactivates an account, as the operator would (`procura user`).
pub fn set_account_active(app: &TestApp, clock: &FixedClock, user_id: &str, active: bool) {
    let mut conn = app.store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        procura::accounts::users::set_active(c, clock.now(), "test", None, user_id, active)
    })
    .expect("set_active");
}
