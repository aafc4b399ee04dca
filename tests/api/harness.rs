//! Test support: fresh databases, an in-process server on a random port, HTTP client.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use diesel::prelude::*;
use diesel::RunQueryDsl;
use procura::clock::{FixedClock, SharedClock, SystemClock};
use procura::config::{Layers, Settings};
use procura::store::Store;

/// Base URL of the PostgreSQL server used by the PostgreSQL pass.
pub fn pg_base() -> String {
    std::env::var("PROCURA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// True on the PostgreSQL pass.
pub fn is_postgres() -> bool {
    matches!(
        std::env::var("PROCURA_TEST_DATABASE").as_deref(),
        Ok("postgres")
    )
}

/// A fresh, empty database, removed at drop.
pub struct TestDb {
    /// `sqlite://...` or `postgres://...`.
    pub url: String,
    /// PostgreSQL database name (None on SQLite).
    pub pg_name: Option<String>,
    /// Folder holding the SQLite file (and anything else the test writes).
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// A new database on the backend of this pass.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if is_postgres() {
            let name = format!("procura_t_{}", uuid::Uuid::new_v4().simple());
            let mut admin = PgConnection::establish(&format!("{}/postgres", pg_base())).expect(
                "PostgreSQL reachable at 127.0.0.1:5432 (run the test command, which starts it)",
            );
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .expect("create test database");
            TestDb {
                url: format!("{}/{name}", pg_base()),
                pg_name: Some(name),
                dir,
            }
        } else {
            let path = dir.path().join("procura.db");
            TestDb {
                url: format!("sqlite://{}", path.display()),
                pg_name: None,
                dir,
            }
        }
    }

    /// Path of the SQLite file (SQLite pass only).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }

    /// Drops the PostgreSQL database now, terminating connections (readiness tests).
    pub fn drop_pg_now(&self) {
        if let Some(name) = &self.pg_name {
            let mut admin =
                PgConnection::establish(&format!("{}/postgres", pg_base())).expect("admin");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .expect("drop database");
        }
    }

    /// A migrated pool on this database.
    pub fn store(&self, size: u32) -> Store {
        let store = Store::open(
            procura::store::Backend::from_url(&self.url).expect("url"),
            size,
        )
        .expect("open");
        store.migrate().expect("migrate");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.pg_name.is_some() {
            // Best effort: a test that failed half-way must not fail again here.
            if let Ok(mut admin) = PgConnection::establish(&format!("{}/postgres", pg_base())) {
                let name = self.pg_name.as_deref().unwrap_or_default();
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// Settings for a test: defaults, the given environment, the test database.
pub fn settings(db: &TestDb, env: &[(&str, &str)], demo: bool) -> Settings {
    let mut vars: Vec<(String, String)> = vec![
        ("PROCURA_DATABASE_URL".into(), db.url.clone()),
        ("PROCURA_BIND".into(), "127.0.0.1:0".into()),
        (
            "PROCURA_DATA_DIR".into(),
            db.dir.path().join("data").display().to_string(),
        ),
        (
            "PROCURA_MASTER_KEY".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
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
    /// The clock, when the test set one.
    #[allow(dead_code)]
    pub clock: Option<FixedClock>,
    /// Keeps the database alive as long as the app.
    pub db: TestDb,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct AppOptions<'a> {
    /// Extra `PROCURA_*` settings.
    pub env: &'a [(&'a str, &'a str)],
    /// Demo mode.
    pub demo: bool,
    /// A settable clock instead of the system clock.
    pub clock: Option<FixedClock>,
    /// A listener bound by the test (when the port must be known in advance).
    pub listener: Option<TcpListener>,
}

impl TestApp {
    /// A service with default settings on a fresh database.
    pub fn spawn() -> Self {
        Self::spawn_with(AppOptions::default())
    }

    /// A service with options on a fresh database.
    pub fn spawn_with(opts: AppOptions<'_>) -> Self {
        let db = TestDb::new();
        let mut settings = settings(&db, opts.env, opts.demo);
        let listener = match opts.listener {
            Some(l) => l,
            None => TcpListener::bind("127.0.0.1:0").expect("bind"),
        };
        let port = listener.local_addr().expect("addr").port();
        if !opts.env.iter().any(|(k, _)| *k == "PROCURA_PUBLIC_URL") {
            settings.public_url =
                url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        }
        let clock: SharedClock = match &opts.clock {
            Some(c) => Arc::new(c.clone()),
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
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            store,
            clock: opts.clock,
            db,
            handle: Some(handle),
            thread: Some(thread),
        }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
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

/// An HTTP client that does not follow redirects and keeps cookies.
pub fn client() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(std::time::Duration::from_secs(30))
        .build()
}

/// A response, whatever its status.
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn read(r: ureq::Response) -> Resp {
    let status = r.status();
    let headers = r
        .headers_names()
        .into_iter()
        .filter_map(|n| {
            r.header(&n)
                .map(|v| (n.to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    let body = r.into_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// Sends a request and returns the response whatever the status.
pub fn send(req: ureq::Request) -> Resp {
    match req.call() {
        Ok(r) => read(r),
        Err(ureq::Error::Status(_, r)) => read(r),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Sends a request with a body.
pub fn send_body(req: ureq::Request, body: &str) -> Resp {
    match req.send_string(body) {
        Ok(r) => read(r),
        Err(ureq::Error::Status(_, r)) => read(r),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// GET `url`.
pub fn get(url: &str) -> Resp {
    send(client().get(url))
}

/// The journal's actions, in order.
pub fn journal_actions(store: &Store) -> Vec<String> {
    let mut conn = store.conn().expect("conn");
    procura::journal::entries_after(&mut conn, 0, 1_000_000)
        .expect("entries")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// A browser-like HTTP client: keeps cookies, does not follow redirects.
pub struct Web {
    /// Base URL.
    pub base: String,
    agent: ureq::Agent,
}

impl Web {
    /// A new client (empty cookie jar) for `app`.
    pub fn new(app: &TestApp) -> Self {
        Web {
            base: app.base.clone(),
            agent: client(),
        }
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Resp {
        send(self.agent.get(&format!("{}{}", self.base, path)))
    }

    /// POST an urlencoded form to `path`.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let req = self.agent.post(&format!("{}{}", self.base, path));
        match req.send_form(fields) {
            Ok(r) => read(r),
            Err(ureq::Error::Status(_, r)) => read(r),
            Err(e) => panic!("request failed: {e}"),
        }
    }

    /// GET an absolute URL (another server, such as an OpenID provider).
    pub fn get_abs(&self, url: &str) -> Resp {
        send(self.agent.get(url))
    }

    /// The CSRF token of the session, read from the form on `path`.
    pub fn csrf(&self, path: &str) -> String {
        let r = self.get(path);
        csrf_in(&r.body)
            .unwrap_or_else(|| panic!("no csrf_token on {path} ({}): {}", r.status, r.body))
    }

    /// GET `form_page` for its token, then POST `fields` plus the token to `action`.
    pub fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.csrf(form_page);
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post(action, &all)
    }

    /// The session cookie's value, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.agent
            .cookie_store()
            .iter_any()
            .find(|c| c.name().ends_with("procura_session"))
            .map(|c| c.value().to_string())
    }
}

/// The `csrf_token` hidden field's value in an HTML page.
pub fn csrf_in(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    let rest = &html[i..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Master key of the test settings, base64 (bytes 0 to 31).
pub const TEST_MASTER_KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Runs the `procura` binary on `db_url` with the test master key; returns the exit code
/// and standard output.
pub fn run_procura(db_url: &str, args: &[&str], stdin: Option<&str>) -> (Option<i32>, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_procura"));
    c.args(args)
        .env_remove("RUST_LOG")
        .env("PROCURA_DATABASE_URL", db_url)
        .env("PROCURA_MASTER_KEY", TEST_MASTER_KEY_B64)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().expect("spawn procura");
    if let Some(text) = stdin {
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), text.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// Makes every INSERT into `table` fail inside the database (a failure injected in the
/// middle of a feature's transaction), on the backend of this pass.
pub fn inject_insert_failure(store: &Store, table: &str) {
    use diesel::RunQueryDsl;
    let mut conn = store.conn().expect("conn");
    let name = format!("inject_failure_{table}");
    let sql = if is_postgres() {
        vec![
            format!("CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END; $$"),
            format!("CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"),
        ]
    } else {
        vec![format!("CREATE TRIGGER {name} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected failure'); END")]
    };
    for q in sql {
        diesel::sql_query(q).execute(&mut *conn).expect("inject");
    }
}
