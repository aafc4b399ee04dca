//! Review of issue 13 (the aidant's working day) as an attacker: each test is a finding,
//! failing before its fix.

use chrono::Duration;
use procura::accounts::login::{self, Policy, ResetStep};
use procura::accounts::users;
use procura::clock::Clock;
use procura::crypto::SecretBox;
use procura::domain::roles::Role;
use procura::store::write_tx;

use crate::helpers::*;

/// Finding (medium): the password-reset step read the link's account (its lock state
/// and failure count) before taking the account's row lock, so on PostgreSQL concurrent
/// submissions of one link all saw the account unlocked and each had a code checked:
/// far more guesses than the lock threshold, where the login allows exactly the
/// threshold. Only the threshold's worth of codes may ever be checked.
#[test]
fn concurrent_reset_submissions_check_no_more_codes_than_the_lock_allows() {
    let db = TestDb::new();
    let store = db.store(24);
    let clock = clock();
    let s = structure(&store, &clock, "S", 31);
    let a = account(&store, &clock, "a@exemple.fr", &[Role::Aidant], Some(&s));
    let now = clock.now();
    let mut conn = store.conn().expect("conn");
    let token = write_tx(&mut conn, |c| {
        users::reset_password(c, now, "test", &s.id, &a.user.id)
    })
    .expect("reset");
    drop(conn);
    let policy = Policy {
        threshold: 5,
        lock: Duration::minutes(15),
        per_address: 1000,
        window: Duration::minutes(15),
    };
    let n = 20;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (store, token, barrier) = (store.clone(), token.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = store.conn().expect("conn");
                barrier.wait();
                login::reset_password_step(
                    &mut conn,
                    now,
                    &policy,
                    &SecretBox::new(Some(TEST_KEY)),
                    &token,
                    "une toute nouvelle phrase",
                    "000000",
                )
                .expect("step")
            })
        })
        .collect();
    let outcomes: Vec<ResetStep> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let wrong = outcomes
        .iter()
        .filter(|o| matches!(o, ResetStep::WrongCode))
        .count();
    let failed = journal_actions(&store)
        .iter()
        .filter(|x| *x == "login.failed")
        .count();
    assert!(
        failed <= 5 && wrong <= 4,
        "{failed} codes checked, {wrong} answered as wrong rather than locked: {outcomes:?}"
    );
    let user = {
        let mut conn = store.conn().expect("conn");
        users::find(&mut conn, &a.user.id)
            .expect("find")
            .expect("user")
    };
    assert_eq!(user.failed_logins, 5);
    assert!(user.locked_until.is_some());
}

fn figure(body: &str, id: &str) -> i64 {
    between(body, &format!("id=\"{id}\">"), "<")
        .parse()
        .unwrap_or_else(|_| panic!("{id} in {body}"))
}

/// Finding (medium): every anonymous view of `/statistiques` read a whole year of the
/// journal's `mandate.used` entries (each parsed), so a flood from many addresses (the
/// limit is per address) made the database do that work again and again; and figures
/// read live told anyone polling the page the minute each use happened (with one small
/// structure, which démarche a person at its desk just did). The public page reuses its
/// figures for ten minutes.
#[test]
fn the_public_statistics_are_read_at_most_once_in_ten_minutes() {
    use crate::helpers::oidc::*;
    let w = world(&[]);
    let anonymous = Web::new(&w.app);
    let before = anonymous.get("/statistiques");
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(figure(&before.body, "stat-total"), 0);
    let r = new_req();
    code_for(&w, &w.rp, &r, "openid", "social");
    w.clock.advance(Duration::minutes(5));
    let again = Web::new(&w.app).get("/statistiques");
    assert_eq!(
        figure(&again.body, "stat-total"),
        0,
        "the same figures within ten minutes"
    );
    w.clock.advance(Duration::minutes(6));
    let later = Web::new(&w.app).get("/statistiques");
    assert_eq!(figure(&later.body, "stat-total"), 1, "{}", later.body);
}
