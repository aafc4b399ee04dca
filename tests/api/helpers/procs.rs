//! Processes outside the test: the `procura` binary, and the independent OpenID
//! implementations of tests/interop (panva's `oidc-provider` and `openid-client`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::app::TEST_MASTER_KEY_B64;
use super::db::TestDb;
use super::http::{client, get};

/// The `procura` binary in the test database's folder, on that database, without RUST_LOG.
pub fn procura(db: &TestDb) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_procura"));
    c.current_dir(db.dir.path())
        .env_remove("RUST_LOG")
        .env("PROCURA_DATABASE_URL", &db.url);
    c
}

/// Starts `procura serve --demo` on a free port, on the demo's own default database when
/// the test runs on SQLite (under ./data of the working folder); the child and its base URL.
pub fn spawn_demo(db: &TestDb, stdout: Stdio, stderr: Stdio) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut cmd = procura(db);
    if db.sqlite_path().is_some() {
        cmd.env_remove("PROCURA_DATABASE_URL");
    }
    let child = cmd
        .args(["serve", "--demo"])
        .env_remove("PROCURA_MASTER_KEY")
        .env("PROCURA_BIND", format!("127.0.0.1:{port}"))
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn");
    (child, format!("http://127.0.0.1:{port}"))
}

/// Waits up to a minute for `{base}/readyz` to answer; whether its answer was 200.
pub fn ready_within_a_minute(base: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("{base}/readyz");
    loop {
        if let Ok(r) = client().get(&url).call() {
            return r.status() == 200;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM to `child`; whether `kill` succeeded.
pub fn sigterm(child: &Child) -> bool {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the `procura` binary on `db_url` with the test master key; returns the exit code
/// and standard output.
pub fn run_procura(db_url: &str, args: &[&str], stdin: Option<&str>) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_procura"));
    c.args(args)
        .env_remove("RUST_LOG")
        .env("PROCURA_DATABASE_URL", db_url)
        .env("PROCURA_MASTER_KEY", TEST_MASTER_KEY_B64)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
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

/// Folder of the Node programs and their packages (installed by `bash scripts/test`).
const INTEROP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

/// Client id Procura uses at [`FcProvider`].
pub const FC_CLIENT_ID: &str = "procura-interop";
/// Client secret Procura uses at [`FcProvider`].
pub const FC_CLIENT_SECRET: &str = "interop-secret-0123456789abcdef0123456789abcdef";

/// A running `fc-provider.mjs` (panva's `oidc-provider` playing FranceConnect), stopped
/// at drop.
pub struct FcProvider {
    /// Issuer URL.
    pub issuer: String,
    child: Child,
    _stdin: ChildStdin,
}

impl FcProvider {
    /// Starts the provider for a relying party whose callback is `redirect_uri` and whose
    /// post-logout redirect URI is `post_logout` (RP-initiated logout enabled).
    pub fn start(redirect_uri: &str, post_logout: &str, alg: &str) -> Self {
        Self::spawn(&[
            "--redirect-uri",
            redirect_uri,
            "--post-logout-redirect-uri",
            post_logout,
            "--alg",
            alg,
        ])
    }

    /// Starts the provider without RP-initiated logout: its discovery has no
    /// `end_session_endpoint`.
    pub fn without_end_session(redirect_uri: &str, alg: &str) -> Self {
        Self::spawn(&[
            "--redirect-uri",
            redirect_uri,
            "--alg",
            alg,
            "--no-end-session",
        ])
    }

    fn spawn(args: &[&str]) -> Self {
        assert!(
            std::path::Path::new(INTEROP_DIR)
                .join("node_modules/oidc-provider")
                .is_dir(),
            "oidc-provider is not installed: run bash scripts/test (npm ci in tests/interop)"
        );
        let mut child = Command::new("node")
            .arg(format!("{INTEROP_DIR}/fc-provider.mjs"))
            .args([
                "--port",
                "0",
                "--client-id",
                FC_CLIENT_ID,
                "--client-secret",
                FC_CLIENT_SECRET,
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("READY line");
        let issuer = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("unexpected: {line}"))
            .to_string();
        FcProvider {
            issuer,
            child,
            _stdin: stdin,
        }
    }

    fn control(&self, path: &str, body: Value) {
        let r = client()
            .post(&format!("{}/__test/{path}", self.issuer))
            .send_json(body);
        assert!(r.is_ok(), "control {path}: {r:?}");
    }

    /// `ok`, `deny` or `bad-keys`.
    pub fn mode(&self, mode: &str) {
        self.control("mode", serde_json::json!({"mode": mode}));
    }

    /// Sets the identity FranceConnect returns.
    pub fn identity(&self, v: Value) {
        self.control("identity", v);
    }

    /// The last authorization request's parameters.
    pub fn last(&self) -> Value {
        get(&format!("{}/__test/last", self.issuer)).json()
    }
}

impl Drop for FcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `rp-client.mjs` (panva's `openid-client` as a relying party of Procura).
pub struct RpClient {
    log: tempfile::NamedTempFile,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Answer lines, read by a thread so that a missing answer fails with the log instead
    /// of waiting forever.
    answers: std::sync::mpsc::Receiver<String>,
}

/// How long an answer of rp-client may take (it makes HTTP requests to the service).
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Sends each line of `stdout` on a channel until it closes.
fn lines_of(stdout: ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl RpClient {
    /// Starts the client for `issuer`.
    pub fn start(
        issuer: &str,
        client_id: &str,
        secret: Option<&str>,
        redirect: &str,
        method: &str,
    ) -> Self {
        Self::start_with(issuer, client_id, secret, redirect, method, &[])
    }

    /// Starts the client for `issuer` with more command-line options (`extra`).
    pub fn start_with(
        issuer: &str,
        client_id: &str,
        secret: Option<&str>,
        redirect: &str,
        method: &str,
        extra: &[&str],
    ) -> Self {
        assert!(
            std::path::Path::new(INTEROP_DIR)
                .join("node_modules/openid-client")
                .is_dir(),
            "openid-client is not installed: run bash scripts/test (npm ci in tests/interop)"
        );
        let mut cmd = Command::new("node");
        cmd.arg(format!("{INTEROP_DIR}/rp-client.mjs")).args([
            "--issuer",
            issuer,
            "--client-id",
            client_id,
            "--redirect-uri",
            redirect,
            "--auth-method",
            method,
        ]);
        if let Some(s) = secret {
            // One argument, `--name=value`: a secret is base64url and may start with '-',
            // which Node's parseArgs then refuses as an ambiguous option (1 secret in 64:
            // the interop tests' intermittent failure, found by the log this now prints).
            cmd.arg(format!("--client-secret={s}"));
        }
        cmd.args(extra);
        // Diagnostics go to a file, shown if an answer is missing or malformed.
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut child = cmd
            .arg("--verbose")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("node");
        let stdin = child.stdin.take();
        let answers = lines_of(child.stdout.take().expect("stdout"));
        RpClient {
            log,
            child,
            stdin,
            answers,
        }
    }

    /// Sends one command, returns its answer.
    pub fn cmd(&mut self, v: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{v}").expect("write");
        stdin.flush().expect("flush");
        let line = self
            .answers
            .recv_timeout(ANSWER_WITHIN)
            .unwrap_or_else(|e| {
                let status = self.child.try_wait();
                let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
                panic!(
                    "rp-client gave no answer to {v} ({e}); process: {status:?}; its log:\n{log}"
                )
            });
        serde_json::from_str(&line).unwrap_or_else(|e| {
            let status = self.child.try_wait();
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            panic!("rp-client answered {line:?} to {v} ({e}); process: {status:?}; its log:\n{log}")
        })
    }
}

impl Drop for RpClient {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The words of a command line (arguments without spaces in them), for [`run_procura`].
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs the `procura` binary on `db` (see [`procura`]) with `args` and waits for its end.
pub fn procura_run(db: &TestDb, args: &[&str]) -> std::process::Output {
    procura(db).args(args).output().expect("run")
}

/// The standard output, as JSON, of a run that must have exited 0 (else its stderr).
pub fn json_of(out: &std::process::Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Creates the structure "S" with `procura structure create`; its id.
pub fn structure_by_cli(db: &TestDb) -> String {
    let v = json_of(&procura_run(
        db,
        &words("structure create --name S --siret 73282932000074 --json"),
    ));
    v["id"].as_str().expect("id").to_string()
}
