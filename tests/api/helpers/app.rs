//! The service under test: settings for a fresh database, an in-process server on a
//! random port, built with [`TestApp::builder`].

use std::net::TcpListener;
use std::sync::Arc;

use procura::clock::{FixedClock, SharedClock, SystemClock};
use procura::config::{Layers, Settings};
use procura::store::Store;

use super::db::TestDb;

/// Master key of the test settings, base64 (bytes 0 to 31).
pub const TEST_MASTER_KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Master key of the test settings, as bytes (the same key as [`TEST_MASTER_KEY_B64`]).
pub const TEST_KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};

/// Settings for a test: defaults, the given environment, the test database.
pub fn settings(db: &TestDb, env: &[(String, String)], demo: bool) -> Settings {
    let mut vars: Vec<(String, String)> = vec![
        ("PROCURA_DATABASE_URL".into(), db.url.clone()),
        ("PROCURA_BIND".into(), "127.0.0.1:0".into()),
        (
            "PROCURA_DATA_DIR".into(),
            db.dir.path().join("data").display().to_string(),
        ),
        ("PROCURA_MASTER_KEY".into(), TEST_MASTER_KEY_B64.into()),
    ];
    vars.extend(env.iter().cloned());
    Layers::load_with_env(None, vars)
        .expect("layers")
        .validate(demo)
        .expect("valid test settings")
}

/// A running service on a random port, stopped gracefully at drop.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The service's pool (to inspect the database).
    pub store: Store,
    /// Keeps the database alive as long as the app.
    pub db: TestDb,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

/// How to start a [`TestApp`]: `TestApp::builder().demo(true).clock(&c).spawn()`.
#[derive(Default)]
#[must_use = "a builder does nothing until spawn()"]
pub struct TestAppBuilder {
    env: Vec<(String, String)>,
    demo: bool,
    clock: Option<FixedClock>,
    listener: Option<TcpListener>,
}

impl TestAppBuilder {
    /// Extra `PROCURA_*` settings (added to those already given).
    pub fn env(mut self, vars: &[(&str, &str)]) -> Self {
        self.env
            .extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Demo mode (FranceConnect simulator, demo site, seeded accounts).
    pub fn demo(mut self, demo: bool) -> Self {
        self.demo = demo;
        self
    }

    /// A settable clock instead of the system clock; the test keeps its own handle.
    pub fn clock(mut self, clock: &FixedClock) -> Self {
        self.clock = Some(clock.clone());
        self
    }

    /// A listener bound by the test (when the port must be known in advance).
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Starts the service on a fresh database.
    pub fn spawn(self) -> TestApp {
        let db = TestDb::new();
        let mut settings = settings(&db, &self.env, self.demo);
        let listener = match self.listener {
            Some(l) => l,
            None => TcpListener::bind("127.0.0.1:0").expect("bind"),
        };
        let port = listener.local_addr().expect("addr").port();
        if !self.env.iter().any(|(k, _)| k == "PROCURA_PUBLIC_URL") {
            settings.public_url =
                url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        }
        let clock: SharedClock = match self.clock {
            Some(c) => Arc::new(c),
            None => Arc::new(SystemClock),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || -> anyhow::Result<()> {
            actix_web::rt::System::new().block_on(async move {
                let app =
                    procura::web::Application::build_with_listener(settings, clock, listener)?;
                tx.send((app.handle(), app.store())).expect("send");
                app.run_until_stopped().await
            })
        });
        let (handle, store) = rx.recv().expect("application started");
        if self.demo {
            // The demo's seeded mandate queues a notice: let the demo mailbox show it
            // before the test starts comparing journals.
            super::mail::wait_for_outbox(&store);
        }
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            store,
            db,
            handle: Some(handle),
            thread: Some(thread),
        }
    }
}

impl TestApp {
    /// A builder for a service with settings, demo mode, a clock or a listener.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// A service with default settings on a fresh database.
    pub fn spawn() -> Self {
        Self::builder().spawn()
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The path and query of an absolute URL on this app (other URLs unchanged).
    pub fn local(&self, url: &str) -> String {
        url.strip_prefix(&self.base).unwrap_or(url).to_string()
    }

    /// Stops the service gracefully and waits for it.
    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            let rt = actix_web::rt::System::new();
            rt.block_on(h.stop(true));
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread").expect("server ran");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let rt = actix_web::rt::System::new();
            rt.block_on(h.stop(false));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
