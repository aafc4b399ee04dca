//! Oversight of the journal: the auditor's view of every structure (with the names of
//! what entries link to, from live tables), the manager's view of their structure, and
//! verifications started from the page, run in the background and journaled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::accounts::{structures, users, Acting};
use crate::clock::SharedClock;
use crate::error::Error;
use crate::federation::provider::clients;
use crate::journal::browse::{self, Filter, Page, Status};
use crate::journal::{self, Checkpoints};
use crate::mandates;
use crate::store::{read_tx, write_tx, DbConn, Store};

/// Names of the objects a page's entries link to, by id (auditors only).
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Structures.
    pub structures: HashMap<String, String>,
    /// Accounts (actors `user:<id>`).
    pub accounts: HashMap<String, String>,
    /// Usagers.
    pub usagers: HashMap<String, String>,
    /// OpenID clients.
    pub clients: HashMap<String, String>,
}

/// A journal page as shown.
#[derive(Debug, Clone)]
pub struct JournalView {
    /// The entries.
    pub page: Page,
    /// Names (empty for managers).
    pub names: Names,
    /// The chain's status (auditors only).
    pub status: Option<Status>,
}

fn ids<'a>(it: impl Iterator<Item = Option<&'a str>>) -> Vec<&'a str> {
    let mut v: Vec<&str> = it.flatten().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The names of what `page` links to: one query per kind, whatever the page.
fn names_of(conn: &mut DbConn, page: &Page) -> Result<Names, Error> {
    let e = &page.entries;
    let map = |v: Vec<(String, String)>| v.into_iter().collect::<HashMap<_, _>>();
    let s = ids(e.iter().map(|e| e.structure_id.as_deref()));
    let a = ids(e
        .iter()
        .map(|e| e.actor.as_deref().and_then(|a| a.strip_prefix("user:"))));
    let u = ids(e.iter().map(|e| e.usager_id.as_deref()));
    let c = ids(e.iter().map(|e| e.client_id.as_deref()));
    Ok(Names {
        structures: map(structures::names(conn, &s)?),
        accounts: map(users::names(conn, &a)?),
        usagers: map(mandates::usager_names(conn, &u)?),
        clients: map(clients::names(conn, &c)?),
    })
}

/// The auditor's page: every structure, names from live tables, the chain's status. One
/// read transaction, at most ten queries.
pub fn audit_page(conn: &mut DbConn, f: &Filter) -> Result<JournalView, Error> {
    read_tx(conn, |c| {
        let page = browse::page(c, f, None)?;
        let names = names_of(c, &page)?;
        let status = browse::status(c)?;
        Ok(JournalView {
            page,
            names,
            status: Some(status),
        })
    })
}

/// The manager's page: entries of their current structure only. A `structure` filter
/// naming another structure is refused (403) rather than ignored, so a link never shows
/// a page that seems to answer it.
pub fn structure_page(conn: &mut DbConn, by: &Acting, f: &Filter) -> Result<JournalView, Error> {
    if f.structure.as_deref().is_some_and(|s| s != by.structure_id) {
        return Err(Error::Forbidden(
            "Ce journal est limité à votre structure : le filtre structure ne peut pas désigner une autre structure.".into(),
        ));
    }
    read_tx(conn, |c| {
        let page = browse::page(c, f, Some(&by.structure_id))?;
        Ok(JournalView {
            page,
            names: Names::default(),
            status: None,
        })
    })
}

/// A verification started from the auditor's page.
#[derive(Debug)]
pub struct Run {
    /// Who started it (`user:<id>`).
    pub actor: String,
    /// When.
    pub started: DateTime<Utc>,
    /// Entries checked so far.
    pub checked: AtomicU64,
}

/// What the page shows about verifications started here.
#[derive(Debug, Clone)]
pub enum Progress {
    /// None runs.
    Idle,
    /// One runs: who started it, when, entries checked so far.
    Running(String, DateTime<Utc>, u64),
}

/// The one verification a process runs at a time, and the last failure (a verification
/// that could not finish: the database failed, not the chain).
#[derive(Debug, Default)]
pub struct Verifications {
    running: Mutex<Option<Arc<Run>>>,
    failed: Mutex<Option<String>>,
}

impl Verifications {
    /// The running verification, if any.
    pub fn progress(&self) -> Progress {
        let r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match r.as_ref() {
            Some(run) => Progress::Running(
                run.actor.clone(),
                run.started,
                run.checked.load(Ordering::Relaxed),
            ),
            None => Progress::Idle,
        }
    }

    /// Why the last verification could not finish, if it could not.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Starts a verification of the whole journal and its checkpoints for `actor` on a
/// thread of its own, unless one runs already (then nothing starts: the page shows the
/// running one). It reads one snapshot (`journal::verify_with`), then journals
/// `journal.verified` in its own write transaction. True when this call started one.
pub fn start_verification(
    runs: Arc<Verifications>,
    store: Store,
    clock: SharedClock,
    actor: String,
) -> Result<bool, Error> {
    let run = {
        let mut slot = runs.running.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Ok(false);
        }
        let run = Arc::new(Run {
            actor,
            started: clock.now(),
            checked: AtomicU64::new(0),
        });
        *slot = Some(run.clone());
        run
    };
    let spawned = std::thread::Builder::new()
        .name("journal-verify".into())
        .spawn({
            let runs = runs.clone();
            move || {
                let result = verify_and_record(&store, &clock, &run);
                let mut failed = runs.failed.lock().unwrap_or_else(|p| p.into_inner());
                *failed = result.err().map(|e| {
                    tracing::error!(error = %e, "journal verification failed");
                    "La dernière vérification n’a pas pu aboutir (erreur du service) : relancez-la."
                        .to_string()
                });
                drop(failed);
                *runs.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        });
    if let Err(e) = spawned {
        *runs.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
        return Err(Error::Store(crate::store::StoreError::Other(format!(
            "cannot start the verification: {e}"
        ))));
    }
    Ok(true)
}

fn verify_and_record(store: &Store, clock: &SharedClock, run: &Run) -> Result<(), Error> {
    let mut conn = store.conn()?;
    let report = journal::verify_with(&mut conn, Checkpoints::default(), &|n| {
        run.checked.store(n, Ordering::Relaxed)
    })?;
    let now = clock.now();
    write_tx(&mut conn, |c| {
        browse::record_verification(c, now, &run.actor, &report).map_err(Error::from)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::Backend;

    #[test]
    fn a_second_verification_shows_the_running_one() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(Backend::Sqlite(dir.path().join("p.db")), 1).expect("store");
        let at = DateTime::from_timestamp(1_900_000_000, 0).expect("time");
        let clock: SharedClock = Arc::new(FixedClock::new(at));
        let runs = Arc::new(Verifications::default());
        assert!(matches!(runs.progress(), Progress::Idle));
        *runs.running.lock().expect("lock") = Some(Arc::new(Run {
            actor: "user:a".into(),
            started: at,
            checked: AtomicU64::new(7),
        }));
        let started = start_verification(runs.clone(), store, clock, "user:b".into());
        assert!(!started.expect("no error"), "one at a time");
        match runs.progress() {
            Progress::Running(actor, when, checked) => {
                assert_eq!((actor.as_str(), when, checked), ("user:a", at, 7));
            }
            Progress::Idle => panic!("the running one is shown"),
        }
    }
}
