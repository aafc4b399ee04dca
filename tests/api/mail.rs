//! The outbox against a real SMTP server (aiosmtpd): delivery, a server down then back,
//! a permanent refusal, a restart with messages pending, the demo mailbox, and bad
//! settings.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use procura::mail::MailStatus;

use crate::helpers::*;

fn smtp_app(url: &str, clock: Option<&procura::clock::FixedClock>) -> TestApp {
    let mut b = TestApp::builder().env(&[
        ("PROCURA_SMTP_URL", url),
        (
            "PROCURA_MAIL_FROM",
            "Procura <ne-pas-repondre@procura.test>",
        ),
    ]);
    if let Some(c) = clock {
        b = b.clock(c);
    }
    b.spawn()
}

#[test]
fn a_queued_message_is_delivered_once_with_text_and_html_and_journaled_by_id() {
    let sink = SmtpSink::start();
    let app = smtp_app(&sink.url(), None);
    let id = queue_mail(
        &app.store,
        "jeanne.martin@example.org",
        "Votre mandat « Social »",
        "Bonjour,\n\nVotre espace : https://procura.test/moi\n\n<script>",
    );
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "delivered");
    let m = &got[0];
    assert!(
        m.contains("X-Envelope-To: jeanne.martin@example.org"),
        "{m}"
    );
    assert!(
        m.contains("From: Procura <ne-pas-repondre@procura.test>"),
        "{m}"
    );
    assert!(m.contains(&format!("Message-ID: <{id}@127.0.0.1>")), "{m}");
    assert!(m.contains("multipart/alternative"), "{m}");
    assert!(m.contains("text/plain") && m.contains("text/html"), "{m}");
    assert!(!m.to_lowercase().contains("<img"), "no tracking image");
    let o = wait_outbox(&app.store, |o| {
        o.iter().all(|m| m.status == MailStatus::Sent)
    });
    assert_eq!(o[0].status, MailStatus::Sent);
    assert_eq!(o[0].attempts, 1);
    assert!(journal_has(&app.store, "mail.queued", &id));
    assert!(journal_has(&app.store, "mail.sent", &id));
    // By id, never by content.
    assert!(!journal_mentions(&app.store, "jeanne.martin@example.org"));
    assert!(!journal_mentions(&app.store, "Votre mandat"));
    // Nothing more arrives (no second send).
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(sink.messages().len(), 1);
}

#[test]
fn a_server_down_delays_the_message_which_is_sent_once_the_server_is_back() {
    let port = free_port();
    let clock = clock();
    let app = smtp_app(&smtp_url(port), Some(&clock));
    let id = queue_mail(&app.store, "paul@example.org", "Essai", "Texte.");
    let o = wait_outbox(&app.store, |o| o[0].attempts >= 1);
    assert_eq!(o[0].status, MailStatus::Pending, "kept for a retry");
    assert_eq!(o[0].attempts, 1);
    assert!(journal_has(&app.store, "mail.failed", &id));
    assert!(journal_has(&app.store, "mail.failed", "connection"));
    // Not retried before its backoff (30 s on the service's clock).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(outbox(&app.store)[0].attempts, 1);
    let sink = SmtpSink::start_on(port);
    clock.advance(chrono::Duration::seconds(31));
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1);
    let o = wait_outbox(&app.store, |o| o[0].status == MailStatus::Sent);
    assert_eq!((o[0].status, o[0].attempts), (MailStatus::Sent, 2));
    assert!(journal_has(&app.store, "mail.sent", &id));
}

#[test]
fn a_permanent_refusal_ends_the_message_and_a_transient_one_retries() {
    let sink = SmtpSink::start();
    let clock = clock();
    let app = smtp_app(&sink.url(), Some(&clock));
    let refused = queue_mail(&app.store, "refuse@example.org", "Essai", "Texte.");
    let o = wait_outbox(&app.store, |o| o[0].status == MailStatus::Failed);
    assert_eq!((o[0].status, o[0].attempts), (MailStatus::Failed, 1));
    assert!(journal_has(&app.store, "mail.failed", &refused));
    let later = queue_mail(&app.store, "later@example.org", "Essai", "Texte.");
    let o = wait_outbox(&app.store, |o| {
        o.iter().any(|m| m.id == later && m.attempts == 1)
    });
    let m = o.iter().find(|m| m.id == later).expect("queued");
    assert_eq!(m.status, MailStatus::Pending, "a 451 is retried");
    // A permanent refusal is not tried again, whatever the time.
    clock.advance(chrono::Duration::hours(2));
    let o = wait_outbox(&app.store, |o| {
        o.iter().any(|m| m.id == later && m.attempts == 2)
    });
    assert_eq!(
        o.iter().find(|m| m.id == refused).map(|m| m.attempts),
        Some(1)
    );
    assert!(sink.messages().is_empty());
}

/// `procura serve` on `db` with an SMTP server at `port`.
fn serve(db: &TestDb, port: u16, smtp_port: u16) -> Child {
    let base = format!("http://127.0.0.1:{port}");
    let child = procura(db)
        .args(["serve"])
        .env("PROCURA_BIND", format!("127.0.0.1:{port}"))
        .env("PROCURA_PUBLIC_URL", &base)
        .env("PROCURA_MASTER_KEY", TEST_MASTER_KEY_B64)
        .env("PROCURA_DATA_DIR", db.dir.path().join("data"))
        .env("PROCURA_SMTP_URL", smtp_url(smtp_port))
        .env("PROCURA_MAIL_FROM", "ne-pas-repondre@procura.test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn procura serve");
    assert!(ready_within_a_minute(&base), "procura serve not ready");
    child
}

#[test]
fn messages_pending_when_the_process_is_killed_are_sent_once_after_a_restart() {
    let db = TestDb::new();
    let store = db.store(2);
    let smtp_port = free_port();
    // The server is down: everything stays in the outbox.
    let mut first = serve(&db, free_port(), smtp_port);
    let ids: Vec<String> = (0..5)
        .map(|i| queue_mail(&store, &format!("p{i}@example.org"), "Essai", "Texte."))
        .collect();
    let o = wait_outbox(&store, |o| o.iter().any(|m| m.attempts >= 1));
    assert!(o
        .iter()
        .all(|m| m.status == MailStatus::Pending || m.status == MailStatus::Sending));
    // Killed as a crash would: no shutdown.
    first.kill().expect("kill");
    first.wait().expect("wait");
    // As a worker killed while sending leaves one: leased, its lease over.
    exec_sql(
        &store,
        &format!(
            "UPDATE mail_outbox SET status = 'sending', next_attempt_at = '2000-01-01 00:00:00' WHERE id = '{}'",
            ids[0]
        ),
    );
    exec_sql(
        &store,
        "UPDATE mail_outbox SET next_attempt_at = '2000-01-01 00:00:00'",
    );
    let sink = SmtpSink::start_on(smtp_port);
    let mut second = serve(&db, free_port(), smtp_port);
    let got = sink.wait_for(5);
    assert_eq!(got.len(), 5, "each pending message delivered");
    let o = wait_outbox(&store, |o| o.iter().all(|m| m.status == MailStatus::Sent));
    assert!(o.iter().all(|m| m.status == MailStatus::Sent));
    for id in &ids {
        assert_eq!(
            got.iter()
                .filter(|m| m.contains(&format!("<{id}@")))
                .count(),
            1,
            "{id} delivered once"
        );
    }
    // No second delivery later either.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sink.messages().len(), 5);
    assert!(sigterm(&second));
    let deadline = Instant::now() + Duration::from_secs(30);
    while second.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, out) = run_procura(&db.url, &["journal", "verify", "--json"], None);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn the_demo_mailbox_shows_messages_in_demo_mode_only() {
    let (demo, _clock) = demo_app();
    let id = queue_mail(
        &demo.store,
        "aidant@example.org",
        "Bienvenue dans Procura",
        "Votre lien.",
    );
    let o = wait_outbox(&demo.store, |o| {
        o.iter().any(|m| m.id == id && m.status == MailStatus::Sent)
    });
    assert!(o.iter().any(|m| m.id == id && m.status == MailStatus::Sent));
    assert!(journal_has(&demo.store, "mail.sent", "demo"));
    let r = get(&demo.url("/demo/courriels"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Bienvenue dans Procura"), "{}", r.body);
    assert!(r.body.contains("aidant@example.org"));
    let app = TestApp::spawn();
    assert_eq!(get(&app.url("/demo/courriels")).status, 404);
    // Without SMTP outside demo mode, messages wait in the outbox.
    let id = queue_mail(&app.store, "aidant@example.org", "Essai", "Texte.");
    std::thread::sleep(Duration::from_millis(1500));
    let o = outbox(&app.store);
    assert!(o
        .iter()
        .any(|m| m.id == id && m.status == MailStatus::Pending && m.attempts == 0));
}

#[test]
fn malformed_mail_settings_stop_start_up_naming_them() {
    let db = TestDb::new();
    for (env, named) in [
        (
            vec![("PROCURA_SMTP_URL", "mail.example.org")],
            "PROCURA_SMTP_URL",
        ),
        (
            vec![(
                "PROCURA_SMTP_URL",
                "smtp://u:s3cr3t@mail.example.org?tls=maybe",
            )],
            "PROCURA_SMTP_URL",
        ),
        (
            vec![("PROCURA_SMTP_URL", "smtp://user@mail.example.org")],
            "PROCURA_SMTP_URL",
        ),
        (
            vec![("PROCURA_SMTP_URL", "smtp://mail.example.org:25")],
            "PROCURA_MAIL_FROM",
        ),
        (
            vec![
                ("PROCURA_SMTP_URL", "smtp://mail.example.org:25"),
                ("PROCURA_MAIL_FROM", "pas une adresse"),
            ],
            "PROCURA_MAIL_FROM",
        ),
        (
            vec![("PROCURA_USE_NOTICE_MINUTES", "0")],
            "PROCURA_USE_NOTICE_MINUTES",
        ),
    ] {
        let mut c = procura(&db);
        c.args(["serve"])
            .env("PROCURA_MASTER_KEY", TEST_MASTER_KEY_B64);
        for (k, v) in &env {
            c.env(k, v);
        }
        let out = c.output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(named), "{named} not named: {err}");
        assert!(!err.contains("s3cr3t"), "no secret echoed: {err}");
    }
}

#[test]
fn workers_racing_for_the_outbox_never_claim_a_message_twice() {
    let db = TestDb::new();
    let store = db.store(8);
    let ids: Vec<String> = (0..40)
        .map(|i| queue_mail(&store, &format!("p{i}@example.org"), "Essai", "Texte."))
        .collect();
    let now =
        procura::clock::Clock::now(&procura::clock::SystemClock) + chrono::Duration::seconds(1);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = store.conn().expect("conn");
                barrier.wait();
                let mut got = Vec::new();
                for _ in 0..20 {
                    got.extend(
                        procura::mail::worker::claim_due(&mut conn, now, 3)
                            .expect("claim")
                            .into_iter()
                            .map(|m| m.id),
                    );
                }
                got
            })
        })
        .collect();
    let mut all: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "each message claimed exactly once");
}
