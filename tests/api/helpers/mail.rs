//! The outbox as tests read it: messages queued by the service, the links they carry,
//! and waiting for the demo mailbox to show what was queued.

use procura::mail::Queued;
use procura::store::Store;
use std::time::{Duration, Instant};

/// Every queued message, oldest first.
pub fn outbox(store: &Store) -> Vec<Queued> {
    let mut conn = store.conn().expect("conn");
    let mut all = procura::mail::recent(&mut conn, 1000).expect("outbox");
    all.reverse();
    all
}

/// The queued messages of `kind`, oldest first.
pub fn mails_of_kind(store: &Store, kind: &str) -> Vec<Queued> {
    outbox(store)
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

/// The only queued message of `kind` (fails when there is not exactly one).
pub fn one_mail(store: &Store, kind: &str) -> Queued {
    let found = mails_of_kind(store, kind);
    assert_eq!(found.len(), 1, "{kind}: {:#?}", found);
    found.into_iter().next().expect("one")
}

/// The first `https?://…` word of `text` containing `path`.
pub fn url_in(text: &str, path: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| (w.starts_with("http://") || w.starts_with("https://")) && w.contains(path))
        .map(str::to_string)
}

/// Waits (10 s at most) until the outbox has nothing left to send: in demo mode, the
/// mail worker shows messages in the demo mailbox and journals `mail.sent` on its own
/// schedule, so a test that compares journals waits for it first.
pub fn wait_for_outbox(store: &Store) {
    for _ in 0..200 {
        let mut conn = store.conn().expect("conn");
        if procura::mail::pending_count(&mut conn).expect("count") == 0 {
            return;
        }
        drop(conn);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the outbox was not emptied within 10 s");
}

/// Queues a message as an action would (in its own transaction); its id.
pub fn queue_mail(store: &Store, to: &str, subject: &str, text: &str) -> String {
    let mut conn = store.conn().expect("conn");
    procura::store::write_tx(&mut conn, |c| {
        procura::mail::enqueue(
            c,
            procura::clock::Clock::now(&procura::clock::SystemClock),
            &procura::mail::Mail {
                kind: "test.message",
                to: to.into(),
                subject: subject.into(),
                text: text.into(),
                usager: None,
                structure: None,
            },
        )
    })
    .expect("enqueue")
    .expect("a valid address")
}

/// Waits up to 30 s for `pred` over the outbox (oldest first).
pub fn wait_outbox(store: &Store, pred: impl Fn(&[Queued]) -> bool) -> Vec<Queued> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = outbox(store);
        if pred(&o) || Instant::now() > deadline {
            return o;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
