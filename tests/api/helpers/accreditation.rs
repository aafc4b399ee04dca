//! Accreditation: aidants without a recorded training, training organisations, and the
//! `/formations` form.

use procura::clock::FixedClock;
use procura::domain::roles::Role;

use super::app::TestApp;
use super::fixtures::{logged_in, untrained_account, Account};
use super::http::{Resp, Web};

/// An enrolled aidant of `s` whose training is not recorded (not accredited).
pub fn untrained_aidant(
    app: &TestApp,
    clock: &FixedClock,
    email: &str,
    s: &procura::accounts::structures::Structure,
) -> Account {
    untrained_account(&app.store, clock, email, &[Role::Aidant], Some(s))
}

/// A training organisation's account (no structure), logged in.
pub fn trainer(app: &TestApp, clock: &FixedClock, email: &str) -> (Account, Web) {
    let a = untrained_account(&app.store, clock, email, &[Role::Trainer], None);
    let web = logged_in(app, clock, &a);
    (a, web)
}

/// Posts the `/formations` form.
pub fn record_training(web: &Web, email: &str, completed_on: &str, reference: &str) -> Resp {
    web.submit(
        "/formations",
        "/formations",
        &[
            ("email", email),
            ("completed_on", completed_on),
            ("reference", reference),
        ],
    )
}

/// The `accredited_until` of account `id`, as stored.
pub fn accredited_until(app: &TestApp, id: &str) -> Option<chrono::NaiveDateTime> {
    super::fixtures::user_row(&app.store, id).accredited_until
}
