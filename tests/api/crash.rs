//! Crash safety: the `procura` binary is killed with SIGKILL under a load of acting-on-behalf
//! flows, then started again on the same database, `PROCURA_CRASH_CYCLES` times (3 by
//! default; `scripts/crash-test N` runs more). After each restart the service is ready,
//! every acknowledged action has its journal entry, and the chain verifies.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use procura::clock::{Clock, FixedClock, SystemClock};
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;

use crate::helpers::oidc::{authorize_path, choose_demarche, choose_usager, new_req, register, Rp};
use crate::helpers::*;

/// How many times the service is killed.
fn cycles() -> usize {
    std::env::var("PROCURA_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Starts `procura serve` on `db` at `port` and waits until it is ready.
fn serve(db: &TestDb, port: u16) -> Child {
    let base = format!("http://127.0.0.1:{port}");
    let mut child = procura(db)
        .args(["serve"])
        .env("PROCURA_BIND", format!("127.0.0.1:{port}"))
        .env("PROCURA_PUBLIC_URL", &base)
        .env("PROCURA_MASTER_KEY", TEST_MASTER_KEY_B64)
        .env("PROCURA_DATA_DIR", db.dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn procura serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client().get(&format!("{base}/readyz")).call() {
            if r.status() == 200 {
                return child;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("procura serve exited with {status} before it was ready");
        }
        assert!(
            Instant::now() < deadline,
            "procura serve never became ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Acknowledged actions: codes received (each after its `mandate.used`) and tokens
/// received (each after its `token.issued`).
#[derive(Default)]
struct Acks {
    codes: AtomicUsize,
    tokens: AtomicUsize,
}

/// One acting-on-behalf flow; counts what the service acknowledged. Errors (the service
/// is being killed) end the flow without counting.
fn flow(web: &Web, rp: &Rp, usager: &str, acks: &Acks) -> Option<()> {
    let r = new_req();
    let resp = try_send(|| web.get(&authorize_path(rp, &r, "openid", &[])))?;
    let i = resp.header("location")?.to_string();
    try_send(|| choose_usager(web, &i, usager))?;
    let resp = try_send(|| choose_demarche(web, &i, "social"))?;
    let code = query_param(resp.header("location")?, "code")?;
    acks.codes.fetch_add(1, Ordering::SeqCst);
    let secret = rp.secret.as_deref().unwrap_or_default();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", rp.id))
    );
    let resp = try_send(|| {
        send_form(
            client()
                .post(&format!("{}/oidc/token", web.base))
                .set("Authorization", &basic),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &rp.redirect),
                ("code_verifier", &r.verifier),
            ],
        )
    })?;
    if resp.status == 200 {
        acks.tokens.fetch_add(1, Ordering::SeqCst);
    }
    Some(())
}

/// A request that may fail because the service is down: None then (the helpers panic on
/// transport errors; the panic is caught here, and its message is not printed for the
/// load threads, see [`LOAD`]).
fn try_send(f: impl FnOnce() -> Resp) -> Option<Resp> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// Name of the load threads, whose panics (requests cut by the kill) are expected.
const LOAD: &str = "crash-load";

#[test]
fn kill_9_under_load_loses_no_acknowledged_action() {
    let db = TestDb::new();
    let store = db.store(2);
    let clock = FixedClock::new(SystemClock.now());
    let s = structure(&store, &clock, "France Services Crash", 500);
    let aidant = account(
        &store,
        &clock,
        "aidant.crash@exemple.fr",
        &[Role::Aidant],
        Some(&s),
    );
    let created = seed_mandate(
        &store,
        &clock,
        &aidant,
        &s,
        "fc-crash",
        &["social"],
        MandateDuration::Month,
    );
    let usager = created.mandate.usager_id.clone();
    let rp = register(
        &store,
        &clock,
        "client_secret_basic",
        "https://site.example.fr/cb",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = serve(&db, port);
    let web = Arc::new(Web::at(&format!("http://127.0.0.1:{port}")));
    login_now(&web, &aidant);
    let acks = Arc::new(Acks::default());
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(LOAD) {
            print(info);
        }
    }));
    for cycle in 0..cycles() {
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (web, rp, usager, acks, stop) = (
                    web.clone(),
                    rp.clone(),
                    usager.clone(),
                    acks.clone(),
                    stop.clone(),
                );
                std::thread::Builder::new()
                    .name(LOAD.into())
                    .spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            if flow(&web, &rp, &usager, &acks).is_none() {
                                std::thread::sleep(Duration::from_millis(5));
                            }
                        }
                    })
                    .expect("thread")
            })
            .collect();
        // Let the load run, then kill in the middle of it.
        std::thread::sleep(Duration::from_millis(800 + 300 * cycle as u64));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().expect("worker");
        }
        child = serve(&db, port);
        let actions = journal_actions(&store);
        let (codes, tokens) = (
            acks.codes.load(Ordering::SeqCst),
            acks.tokens.load(Ordering::SeqCst),
        );
        assert!(codes > 0, "cycle {cycle}: the load acknowledged nothing");
        assert!(
            count_of(&actions, "mandate.used") >= codes,
            "cycle {cycle}: {codes} codes acknowledged, {} mandate.used",
            count_of(&actions, "mandate.used")
        );
        assert!(
            count_of(&actions, "token.issued") >= tokens,
            "cycle {cycle}: {tokens} tokens acknowledged, {} token.issued",
            count_of(&actions, "token.issued")
        );
        let (code, out) = run_procura(&db.url, &["journal", "verify", "--json"], None);
        assert_eq!(code, Some(0), "cycle {cycle}: {out}");
    }
    child.kill().expect("stop");
    let _ = child.wait();
}
