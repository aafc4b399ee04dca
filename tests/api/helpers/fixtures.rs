//! Things a test starts from: a fixed clock, apps with it, structures, accounts (created
//! directly or seeded by the demo), logins, usagers with mandates.

use chrono::Duration;
use procura::accounts::structures::{self, Structure};
use procura::accounts::users::{self, NewUser, User};
use procura::accounts::{accreditation, terms, totp};
use procura::clock::{Clock, FixedClock, SystemClock};
use procura::crypto::SecretBox;
use procura::domain::mandate::{parse_demarches, MandateDuration};
use procura::domain::roles::Role;
use procura::federation::client::Identity;
use procura::mandates::Created;
use procura::store::{write_tx, Store};

use super::app::{TestApp, TEST_KEY};
use super::http::{Resp, Web};

/// A fixed clock at a round time.
pub fn clock() -> FixedClock {
    FixedClock::new(chrono::DateTime::from_timestamp(1_900_000_020, 0).expect("time"))
}

/// A service with a settable clock.
pub fn app_with_clock(env: &[(&str, &str)]) -> (TestApp, FixedClock) {
    let c = clock();
    let app = TestApp::builder().env(env).clock(&c).spawn();
    (app, c)
}

/// A demo-mode service (simulator mounted, demo data seeded) with a settable clock.
pub fn demo_app() -> (TestApp, FixedClock) {
    let c = clock();
    let app = TestApp::builder().demo(true).clock(&c).spawn();
    (app, c)
}

/// A structure with a valid SIRET derived from `n`.
pub fn structure(store: &Store, clock: &FixedClock, name: &str, n: u32) -> Structure {
    let base = format!("{:013}", 4_000_000_000_000u64 + u64::from(n));
    let siret = (0..10)
        .map(|d| format!("{base}{d}"))
        .find(|s| procura::domain::valid_siret(s))
        .expect("a check digit exists");
    let mut conn = store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        structures::create(c, clock.now(), "test", name, &siret, "")
    })
    .expect("structure")
}

/// A known account: its password and TOTP secret.
#[derive(Clone)]
pub struct Account {
    pub user: User,
    pub email: String,
    pub password: String,
    pub secret: Vec<u8>,
}

/// The password of accounts made by [`account`].
pub const PASSWORD: &str = "correct horse battery";

/// Both roles of a structure's usual first account (stored sorted: order does not matter).
pub const AIDANT_AND_MANAGER: &[Role] = &[Role::Aidant, Role::Manager];

/// Creates an enrolled account in `structure` with `roles`, which has accepted the terms
/// of use in force (through the use case, journaled, as at a first login).
pub fn account(
    store: &Store,
    clock: &FixedClock,
    email: &str,
    roles: &[Role],
    structure: Option<&Structure>,
) -> Account {
    let a = account_before_terms(store, clock, email, roles, structure);
    accept_terms(store, clock, &a.user.id);
    a
}

/// As [`account`], without accepting the terms of use: its first login leads to them.
pub fn account_before_terms(
    store: &Store,
    clock: &FixedClock,
    email: &str,
    roles: &[Role],
    structure: Option<&Structure>,
) -> Account {
    enrolled(store, clock, email, roles, structure, true)
}

/// As [`account`], but an aidant's training is not recorded: it is not accredited.
pub fn untrained_account(
    store: &Store,
    clock: &FixedClock,
    email: &str,
    roles: &[Role],
    structure: Option<&Structure>,
) -> Account {
    let a = enrolled(store, clock, email, roles, structure, false);
    accept_terms(store, clock, &a.user.id);
    a
}

/// An enrolled account; an aidant's training recorded when `trained`.
fn enrolled(
    store: &Store,
    clock: &FixedClock,
    email: &str,
    roles: &[Role],
    structure: Option<&Structure>,
    trained: bool,
) -> Account {
    let secret = totp::new_secret();
    let mut conn = store.conn().expect("conn");
    let user = write_tx(&mut conn, |c| {
        users::create(
            c,
            clock.now(),
            "test",
            &SecretBox::new(Some(TEST_KEY)),
            NewUser {
                email: email.into(),
                name: format!("Compte {email}"),
                roles: roles.to_vec(),
                structure: structure.map(|s| s.id.clone()),
                password: Some(PASSWORD.into()),
                totp_secret: Some(secret.clone()),
            },
        )
        .and_then(|u| {
            // An aidant is accredited, as after a recorded training (journaled).
            if !trained || !roles.contains(&Role::Aidant) {
                return Ok(u);
            }
            let training = accreditation::vouched(clock.now(), 36, "formation de test");
            Ok(accreditation::record_in(c, clock.now(), "test", &u, &training)?.user)
        })
    })
    .expect("account");
    Account {
        user,
        email: email.into(),
        password: PASSWORD.into(),
        secret,
    }
}

/// The account accepts the terms of use in force, through the use case (journaled).
pub fn accept_terms(store: &Store, clock: &FixedClock, user_id: &str) {
    let mut conn = store.conn().expect("conn");
    terms::accept(&mut conn, clock.now(), user_id, terms::current(), true).expect("accepted");
}

/// Ticks and posts the terms of use form of a session sent to `/conditions`; the answer.
pub fn accept_terms_form(web: &Web) -> Resp {
    web.submit("/conditions", "/conditions", &[("accepte", "oui")])
}

/// The code step's answer, or when it leads to the terms of use (an account that has not
/// accepted them yet), the answer to accepting them, which goes on where the login went.
fn through_terms(web: &Web, r: Resp) -> Resp {
    if r.status == 303 && r.header("location") == Some("/conditions") {
        let accepted = accept_terms_form(web);
        assert_eq!(accepted.status, 303, "terms accepted: {}", accepted.body);
        accepted
    } else {
        r
    }
}

/// The `i`-th demo account of a demo-mode app, with its public password and secret.
pub fn demo_account(app: &TestApp, i: usize) -> Account {
    let demo = procura::demo::DEMO_ACCOUNTS[i];
    let mut conn = app.store.conn().expect("conn");
    Account {
        user: users::find_by_email(&mut conn, demo.email)
            .expect("q")
            .expect("seeded"),
        email: demo.email.into(),
        password: demo.password.into(),
        secret: totp::from_base32(demo.totp_secret).expect("secret"),
    }
}

/// The account's row as stored now.
pub fn user_row(store: &Store, id: &str) -> User {
    let mut conn = store.conn().expect("conn");
    users::find(&mut conn, id).expect("query").expect("exists")
}

/// The code of `secret` at the clock's time shifted by `steps`.
pub fn code(secret: &[u8], clock: &FixedClock, steps: i64) -> String {
    totp::code_for_step(secret, totp::step_at(clock.now()) + steps)
}

/// Posts the login form's password step (with its CSRF token); the answer, unchecked.
pub fn submit_password(web: &Web, email: &str, password: &str) -> Resp {
    web.submit(
        "/connexion",
        "/connexion",
        &[("email", email), ("password", password)],
    )
}

/// Logs in through the forms; the clock moves one step first so codes are never replays.
/// An account that has not accepted the terms of use in force accepts them (the answer
/// is then the acceptance's).
pub fn login(web: &Web, clock: &FixedClock, a: &Account) -> Resp {
    clock.advance(Duration::seconds(30));
    let r = submit_password(web, &a.email, &a.password);
    assert_eq!(r.status, 303, "password step: {}", r.body);
    assert_eq!(r.header("location"), Some("/connexion/code"));
    let c = code(&a.secret, clock, 0);
    let r = web.submit("/connexion/code", "/connexion/code", &[("otp", &c)]);
    through_terms(web, r)
}

/// Logs in through the forms on a service running on the system clock (outside programs
/// check real times); both steps must succeed.
pub fn login_now(web: &Web, a: &Account) {
    let r = submit_password(web, &a.email, &a.password);
    assert_eq!(r.status, 303);
    let code = totp::code_for_step(&a.secret, totp::step_at(SystemClock.now()));
    let r = web.submit("/connexion/code", "/connexion/code", &[("otp", &code)]);
    assert_eq!(r.status, 303);
    through_terms(web, r);
}

/// A logged-in aidant (and manager) of a new structure numbered `n`.
pub fn aidant_of(app: &TestApp, clock: &FixedClock, n: u32, email: &str) -> (Account, Web) {
    let s = structure(&app.store, clock, &format!("Structure {n}"), 100 + n);
    let a = account(&app.store, clock, email, AIDANT_AND_MANAGER, Some(&s));
    let web = Web::new(app);
    assert_eq!(login(&web, clock, &a).status, 303);
    (a, web)
}

/// A FranceConnect identity (Angela DUBOIS, presumed day of birth) under `sub`.
pub fn identity(sub: &str) -> Identity {
    Identity {
        sub: sub.into(),
        given_name: "Angela Claire Louise".into(),
        family_name: "DUBOIS".into(),
        preferred_username: None,
        birthdate: "1962-08-00".into(),
        gender: "female".into(),
        birthplace: "75107".into(),
        birthcountry: "99100".into(),
        email: Some("angela@exemple.fr".into()),
    }
}

/// A mandate for the usager [`identity`]`(sub)`, created directly (not through the web).
pub fn seed_mandate(
    store: &Store,
    clock: &FixedClock,
    aidant: &Account,
    structure: &Structure,
    sub: &str,
    demarches: &[&str],
    duration: MandateDuration,
) -> Created {
    let id = identity(sub);
    seed_mandate_for(store, clock, aidant, structure, &id, demarches, duration)
}

/// A mandate for the usager `id`, created directly (not through the web).
pub fn seed_mandate_for(
    store: &Store,
    clock: &FixedClock,
    aidant: &Account,
    structure: &Structure,
    id: &Identity,
    demarches: &[&str],
    duration: MandateDuration,
) -> Created {
    let mut conn = store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        procura::mandates::create_mandate(
            c,
            clock.now(),
            "test",
            &aidant.user.id,
            &structure.id,
            id,
            &parse_demarches(demarches).expect("d"),
            duration,
        )
    })
    .expect("mandate")
}

/// An enrolled account of `app` in structure `s` with `roles` (see [`account`]).
pub fn member(
    app: &TestApp,
    clock: &FixedClock,
    email: &str,
    roles: &[Role],
    s: &Structure,
) -> Account {
    account(&app.store, clock, email, roles, Some(s))
}

/// A new browser session of `app`, logged in as `a` (the login must succeed).
pub fn logged_in(app: &TestApp, clock: &FixedClock, a: &Account) -> Web {
    let web = Web::new(app);
    assert_eq!(login(&web, clock, a).status, 303);
    web
}

/// A browser session logged in as `email`, the manager of a new structure `name` (SIRET
/// derived from `n`).
pub fn new_manager(app: &TestApp, clock: &FixedClock, name: &str, n: u32, email: &str) -> Web {
    let s = structure(&app.store, clock, name, n);
    let m = member(app, clock, email, &[Role::Manager], &s);
    logged_in(app, clock, &m)
}

/// A service with a settable clock, a structure "S" (SIRET derived from `n`), its manager
/// m@exemple.fr and its aidant a@exemple.fr.
pub fn team(n: u32) -> (TestApp, FixedClock, Structure, Account, Account) {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "S", n);
    let manager = member(&app, &clock, "m@exemple.fr", &[Role::Manager], &s);
    let aidant = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    (app, clock, s, manager, aidant)
}

/// A service with a settable clock, a structure "S" (SIRET derived from `n`) and its
/// aidant a@exemple.fr.
pub fn lone_aidant(n: u32) -> (TestApp, FixedClock, Structure, Account) {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "S", n);
    let aidant = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    (app, clock, s, aidant)
}

/// Tries the two login steps as `a` with a code from `secret` (the clock moves one step
/// first); the code step's answer, with no check on the password step.
pub fn try_login(web: &Web, clock: &FixedClock, a: &Account, secret: &[u8]) -> Resp {
    clock.advance(Duration::seconds(30));
    submit_password(web, &a.email, PASSWORD);
    let otp = code(secret, clock, 0);
    web.submit("/connexion/code", "/connexion/code", &[("otp", &otp)])
}

/// The structure's row as stored now.
pub fn structure_row(store: &Store, id: &str) -> Structure {
    let mut conn = store.conn().expect("conn");
    structures::by_id(&mut conn, id)
        .expect("query")
        .expect("exists")
}

/// Posts the manager's form adding an aidant (with its CSRF token); the answer, unchecked.
pub fn add_aidant(web: &Web, email: &str, name: &str) -> Resp {
    web.submit(
        "/gestion",
        "/gestion/aidants",
        &[("email", email), ("name", name)],
    )
}

/// Makes the structure offer only these démarches (directly, not through the web).
pub fn offer_only(store: &Store, clock: &FixedClock, structure_id: &str, codes: &[&str]) {
    let set = procura::domain::mandate::DemarcheSet::parse(codes).expect("codes");
    let mut conn = store.conn().expect("conn");
    structures::set_demarches(&mut conn, clock.now(), "test", structure_id, &set)
        .expect("démarches set");
}

/// Posts the manager's démarches page with these boxes ticked (and its CSRF token).
pub fn post_demarches(web: &Web, codes: &[&str]) -> Resp {
    let fields: Vec<(&str, &str)> = codes.iter().map(|c| ("demarches", *c)).collect();
    web.submit("/gestion/demarches", "/gestion/demarches", &fields)
}

/// Makes a signed checkpoint of `app`'s whole journal now (as the service's checkpointer
/// does), and returns the latest one.
pub fn checkpoint_of(app: &TestApp, clock: &FixedClock) -> procura::journal::checkpoint::Stored {
    let origin = procura::journal::note::origin(&url::Url::parse(&app.base).expect("url"));
    let mut conn = app.store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        procura::journal::checkpoint::make(
            c,
            clock.now(),
            &SecretBox::new(Some(TEST_KEY)),
            &origin,
            None,
            procura::journal::checkpoint::MAX_STEP,
        )
    })
    .expect("checkpoint");
    procura::journal::checkpoint::latest(&mut conn)
        .expect("query")
        .expect("a checkpoint")
}

/// An auditor of structure `s` (auditors act from a current structure too), logged in.
pub fn auditor_of(app: &TestApp, clock: &FixedClock, s: &Structure, email: &str) -> Web {
    let a = member(app, clock, email, &[Role::Auditor], s);
    logged_in(app, clock, &a)
}

/// The usager [`identity`]`(sub)` renamed `given` `family`.
pub fn person_named(sub: &str, given: &str, family: &str) -> Identity {
    let mut id = identity(sub);
    id.given_name = given.into();
    id.family_name = family.into();
    id
}

/// Revokes every authorisation of a mandate directly (not through the web).
pub fn revoke_seeded(store: &Store, clock: &FixedClock, structure: &Structure, mandate_id: &str) {
    let mut conn = store.conn().expect("conn");
    procura::mandates::revoke_mandate(&mut conn, clock.now(), "test", &structure.id, mandate_id)
        .expect("revoke");
}
