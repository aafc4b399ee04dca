//! The administrator's screens (`/admin`): an administrator logged in beside a structure's
//! manager and aidant, valid SIRETs, and the journal entries an action leaves.

use procura::accounts::structures::Structure;
use procura::clock::FixedClock;
use procura::domain::roles::Role;
use procura::journal::Entry;
use procura::store::Store;

use super::app::TestApp;
use super::db::journal_entries;
use super::fixtures::{account, app_with_clock, logged_in, member, structure, Account};
use super::http::{Resp, Web};

/// A service with a structure "S" (SIRET from `n`), its manager m@exemple.fr and aidant
/// a@exemple.fr, and an administrator (no structure) logged in.
pub struct AdminWorld {
    pub app: TestApp,
    pub clock: FixedClock,
    pub s: Structure,
    pub manager: Account,
    pub aidant: Account,
    pub admin: Account,
    pub web: Web,
}

impl AdminWorld {
    /// The journal actor of the administrator (`user:<id>`).
    pub fn actor(&self) -> String {
        format!("user:{}", self.admin.user.id)
    }

    /// A new session logged in as `a`.
    pub fn as_(&self, a: &Account) -> Web {
        logged_in(&self.app, &self.clock, a)
    }
}

/// See [`AdminWorld`].
pub fn admin_world(n: u32) -> AdminWorld {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "S", n);
    let manager = member(&app, &clock, "m@exemple.fr", &[Role::Manager], &s);
    let aidant = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    let admin = account(&app.store, &clock, "admin@exemple.fr", &[Role::Admin], None);
    let web = logged_in(&app, &clock, &admin);
    AdminWorld {
        app,
        clock,
        s,
        manager,
        aidant,
        admin,
        web,
    }
}

/// A valid SIRET (Luhn) derived from `n`, unused by [`structure`]'s (which start 4…).
pub fn valid_siret(n: u32) -> String {
    let base = format!("{:013}", 7_000_000_000_000u64 + u64::from(n));
    (0..10)
        .map(|d| format!("{base}{d}"))
        .find(|s| procura::domain::valid_siret(s))
        .expect("a check digit exists")
}

/// The last journal entry `action`, if any.
pub fn last_entry(store: &Store, action: &str) -> Option<Entry> {
    journal_entries(store)
        .into_iter()
        .rev()
        .find(|e| e.action == action)
}

/// Asserts that the journal's last entry `action` has `actor` as actor.
pub fn assert_journaled_by(store: &Store, action: &str, actor: &str) -> Entry {
    let e = last_entry(store, action).unwrap_or_else(|| panic!("no {action} entry"));
    assert_eq!(e.actor.as_deref(), Some(actor), "{action}: {e:?}");
    e
}

/// Asserts a form refused with its error beside field `id` (status 400, `aria-invalid`,
/// the message's element) mentioning `words`.
pub fn assert_field_error(r: &Resp, id: &str, words: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains(&format!("aria-describedby=\"{id}-error\""))
            || r.body.contains(&format!("{id}-error\"")),
        "no error beside {id}: {}",
        r.body
    );
    let at = r
        .body
        .find(&format!("id=\"{id}-error\""))
        .unwrap_or_else(|| panic!("no #{id}-error: {}", r.body));
    let rest = &r.body[at..];
    let end = rest.find("</p>").unwrap_or(rest.len());
    assert!(
        rest[..end].contains(words),
        "error beside {id} says {:?}, expected {words:?}",
        &rest[..end]
    );
}
