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

/// A transaction in progress on its own connection, as a concurrent cancellation leaves
/// it before its commit: training `training_id` of account `user_id` is marked cancelled
/// and the account's row is updated (so locked, on PostgreSQL) but nothing is committed.
/// [`commit_held`] ends it.
pub fn held_cancellation(
    store: &procura::store::Store,
    training_id: &str,
    user_id: &str,
) -> procura::store::PooledConn {
    use diesel::RunQueryDsl;
    let mut conn = store.conn().expect("conn");
    for sql in [
        "BEGIN".to_string(),
        format!(
            "UPDATE trainings SET cancelled_at = recorded_at, cancelled_by = 'test' WHERE id = '{training_id}'"
        ),
        format!("UPDATE users SET accredited_until = NULL WHERE id = '{user_id}'"),
    ] {
        diesel::sql_query(&sql)
            .execute(&mut *conn)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn
}

/// Commits the transaction of [`held_cancellation`].
pub fn commit_held(mut conn: procura::store::PooledConn) {
    use diesel::RunQueryDsl;
    diesel::sql_query("COMMIT")
        .execute(&mut *conn)
        .expect("commit");
}

/// The Paris day of the test clock, `YYYY-MM-DD`, shifted by `days`.
pub fn paris_day(clock: &FixedClock, days: i64) -> String {
    use procura::clock::Clock;
    let now = clock.now() + chrono::Duration::days(days);
    procura::domain::french::paris(now.naive_utc())
        .date()
        .to_string()
}
