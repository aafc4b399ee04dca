//! Inactive aidants: warned by e-mail after months without a login, deactivated after a
//! longer delay with their managers told; a login in between starts over.

use chrono::Duration;
use procura::accounts::inactivity::{self, Delays, Pass};
use procura::clock::Clock;

use crate::helpers::*;

const DELAYS: Delays = Delays {
    warning_months: 5,
    deactivation_months: 6,
};

fn pass(app: &TestApp, clock: &procura::clock::FixedClock) -> Pass {
    let mut conn = app.store.conn().expect("conn");
    inactivity::run(&mut conn, clock.now(), DELAYS).expect("pass")
}

#[test]
fn an_inactive_aidant_is_warned_once_then_deactivated_and_the_managers_told() {
    let (app, clock, s, m, a) = team(71);
    let other = member(
        &app,
        &clock,
        "active@exemple.fr",
        &[procura::domain::roles::Role::Aidant],
        &s,
    );
    assert_eq!(login(&Web::new(&app), &clock, &a).status, 303);
    assert_eq!(pass(&app, &clock), Pass::default(), "everyone is recent");
    // Five months and a day later: the aidant is warned, once; the manager (no aidant
    // role) never is.
    clock.advance(Duration::days(153));
    assert_eq!(login(&Web::new(&app), &clock, &other).status, 303);
    clock.advance(Duration::days(1));
    let first = pass(&app, &clock);
    assert_eq!(first.warned, 1, "{first:?}");
    assert_eq!(first.deactivated, 0);
    let warning = one_mail(&app.store, "aidant.inactivity_warning");
    assert_eq!(warning.recipient, a.email);
    assert!(
        warning.body_text.contains("sera désactivé le"),
        "{}",
        warning.body_text
    );
    assert_eq!(pass(&app, &clock), Pass::default(), "warned once");
    // A month after the warning's period began: deactivated, sessions gone, the manager
    // told, all journaled with the system as actor.
    clock.advance(Duration::days(31));
    let second = pass(&app, &clock);
    assert_eq!(second.deactivated, 1, "{second:?}");
    assert!(!user_row(&app.store, &a.user.id).active);
    assert!(
        user_row(&app.store, &other.user.id).active,
        "logged in since"
    );
    assert!(
        user_row(&app.store, &m.user.id).active,
        "a manager only is not an aidant"
    );
    let told = one_mail(&app.store, "manager.aidant_deactivated");
    assert_eq!(told.recipient, m.email);
    assert!(told.body_text.contains(&a.email), "{}", told.body_text);
    let entries = journal_entries(&app.store);
    for action in [
        "account.inactivity_warned",
        "account.deactivated",
        "account.inactivity_deactivated",
    ] {
        let e = entries
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("{action}"));
        assert_eq!(e.actor.as_deref(), Some("system"), "{action}");
        assert!(e.details.contains(&a.user.id), "{action}");
    }
    let web = Web::new(&app);
    assert_eq!(submit_password(&web, &a.email, &a.password).status, 401);
    assert_eq!(pass(&app, &clock), Pass::default(), "nothing more to do");
}

#[test]
fn a_login_after_the_warning_starts_a_new_period() {
    let (app, clock, _s, _m, a) = team(72);
    clock.advance(Duration::days(155));
    assert_eq!(
        pass(&app, &clock).warned,
        1,
        "never logged in: counted from creation"
    );
    assert_eq!(login(&Web::new(&app), &clock, &a).status, 303);
    clock.advance(Duration::days(40));
    assert_eq!(pass(&app, &clock), Pass::default(), "active again");
    clock.advance(Duration::days(120));
    assert_eq!(
        pass(&app, &clock).warned,
        1,
        "warned again for the new period"
    );
    assert_eq!(
        mails_of_kind(&app.store, "aidant.inactivity_warning").len(),
        2
    );
    assert!(user_row(&app.store, &a.user.id).active);
}

#[test]
fn the_delays_are_checked_at_start_up() {
    let db = TestDb::new();
    for (warning, off) in [("6", "6"), ("7", "6"), ("0", "6"), ("5", "douze")] {
        let out = procura(&db)
            .args(["config"])
            .env("PROCURA_INACTIVITY_WARNING_MONTHS", warning)
            .env("PROCURA_INACTIVITY_DEACTIVATION_MONTHS", off)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{warning}/{off}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("PROCURA_INACTIVITY_"), "{err}");
    }
}
