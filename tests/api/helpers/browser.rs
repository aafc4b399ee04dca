//! A real headless browser for the integration tests: a small synchronous WebDriver client
//! (W3C protocol over `ureq`) driving Debian's Chromium through `chromedriver`, plus an
//! accessibility check with axe-core.
//!
//! [`browser()`] starts `/usr/bin/chromedriver` on a free port and opens a session on
//! `/usr/bin/chromium` (headless, fresh temporary profile). Everything is torn down when
//! the [`Browser`] is dropped, also when a test panics. `bash scripts/test` installs
//! Chromium, its driver and axe-core (`tests/browser/node_modules`).
//!
//! Scripts run through WebDriver (`execute/sync`, `execute/async`) are not subject to the
//! page's Content-Security-Policy in Chromium, so axe-core can be injected into Procura's
//! pages even though their CSP forbids inline scripts.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::app::TestApp;
use super::fixtures::{code, Account};

/// The Chromium binary (Debian package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The WebDriver server (Debian package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long [`Browser::find`] polls for an element before giving up.
pub const FIND_TIMEOUT: Duration = Duration::from_secs(5);

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Path of axe-core's browser bundle, installed by `scripts/test`.
pub fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules/axe-core/axe.min.js")
}

/// A WebDriver error response (`{"value": {"error": ..., "message": ...}}`).
#[derive(Debug)]
pub struct WdError {
    /// The W3C error code, such as `no such element`.
    pub error: String,
    /// The driver's message.
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// A headless Chromium session and the chromedriver process serving it.
pub struct Browser {
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT` of chromedriver.
    driver_url: String,
    /// The WebDriver session id.
    session: String,
    driver: Child,
    /// Holds Chromium's profile and chromedriver's log; removed after both are gone.
    profile: tempfile::TempDir,
}

/// A started headless browser; panics with a clear message when Chromium or chromedriver
/// is missing (`bash scripts/test` installs them).
pub fn browser() -> Browser {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing (Debian package {package}): run bash scripts/test, which installs them"
        );
    }
    Browser::start()
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub fn start() -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let profile = tempfile::tempdir().expect("temporary folder for the browser profile");
        let (driver, driver_url) = start_driver(&agent, profile.path());
        let mut browser = Browser {
            agent,
            driver_url,
            session: String::new(),
            driver,
            profile,
        };
        let user_data_dir = browser.profile.path().join("chromium");
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1280,900",
                            format!("--user-data-dir={}", user_data_dir.display()),
                        ],
                    },
                },
            },
        });
        let url = format!("{}/session", browser.driver_url);
        let value = match call(browser.agent.post(&url), Some(&caps)) {
            Ok(v) => v,
            Err(e) => panic!(
                "cannot open a Chromium session ({e}); chromedriver log:\n{}",
                browser.driver_log()
            ),
        };
        browser.session = value["sessionId"]
            .as_str()
            .expect("new session answer carries a sessionId")
            .to_string();
        browser
    }

    /// The last lines of chromedriver's log, for panic messages.
    fn driver_log(&self) -> String {
        driver_log_tail(self.profile.path())
    }

    /// URL of a session endpoint.
    fn endpoint(&self, path: &str) -> String {
        format!("{}/session/{}{}", self.driver_url, self.session, path)
    }

    /// GET on a session endpoint.
    fn get(&self, path: &str) -> Result<Value, WdError> {
        call(self.agent.get(&self.endpoint(path)), None)
    }

    /// POST on a session endpoint.
    fn post(&self, path: &str, body: &Value) -> Result<Value, WdError> {
        call(self.agent.post(&self.endpoint(path)), Some(body))
    }

    /// A GET that must succeed (`what` names it in the panic message).
    fn get_ok(&self, path: &str, what: &str) -> Value {
        self.get(path)
            .unwrap_or_else(|e| panic!("WebDriver {what} failed: {e}"))
    }

    /// A POST that must succeed (`what` names it in the panic message).
    fn post_ok(&self, path: &str, body: &Value, what: &str) -> Value {
        self.post(path, body)
            .unwrap_or_else(|e| panic!("WebDriver {what} failed: {e}"))
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.post_ok("/url", &json!({ "url": url }), &format!("goto {url}"));
    }

    /// The URL of the current page.
    pub fn current_url(&self) -> String {
        as_string(self.get_ok("/url", "current_url"))
    }

    /// The title of the current page.
    pub fn title(&self) -> String {
        as_string(self.get_ok("/title", "title"))
    }

    /// The serialized DOM of the current page.
    pub fn source(&self) -> String {
        as_string(self.get_ok("/source", "source"))
    }

    /// The id of the first element matching the CSS selector `css`, polling up to
    /// [`FIND_TIMEOUT`] for it to appear; panics naming the selector otherwise.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + FIND_TIMEOUT;
        let body = json!({ "using": "css selector", "value": css });
        loop {
            match self.post("/element", &body) {
                Ok(v) => {
                    return v[ELEMENT_KEY]
                        .as_str()
                        .expect("element reference in a find answer")
                        .to_string()
                }
                Err(e) if e.error == "no such element" && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!(
                    "no element matches the selector `{css}` on {} after {:?} ({e})",
                    self.current_url(),
                    FIND_TIMEOUT
                ),
            }
        }
    }

    /// Types `text` into the element matching `css` (appended to its current value).
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.post_ok(
            &format!("/element/{id}/value"),
            &json!({ "text": text }),
            &format!("type into `{css}`"),
        );
    }

    /// Clicks the element matching `css` (waits for a navigation it starts).
    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.post_ok(
            &format!("/element/{id}/click"),
            &json!({}),
            &format!("click on `{css}`"),
        );
    }

    /// The rendered text of the element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        as_string(self.get_ok(&format!("/element/{id}/text"), &format!("text of `{css}`")))
    }

    /// Submits the form matching `form_css` by clicking its first submit button, as a
    /// person would.
    pub fn submit_form(&self, form_css: &str) {
        self.click(&format!(
            "{form_css} button[type=submit], {form_css} button:not([type]), \
             {form_css} input[type=submit]"
        ));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns
    /// its return value.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.post_ok(
            "/execute/sync",
            &json!({ "script": script, "args": args }),
            "execute/sync",
        )
    }

    /// Renders the page with the print stylesheet (Chrome DevTools media emulation).
    pub fn print_media(&self) {
        self.post_ok(
            "/goog/cdp/execute",
            &json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": "print"}}),
            "emulate print media",
        );
    }

    /// Back to the screen stylesheet after [`Browser::print_media`].
    pub fn screen_media(&self) {
        self.post_ok(
            "/goog/cdp/execute",
            &json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": ""}}),
            "emulate screen media",
        );
    }

    /// Lays pages out as on a phone `width` × `height` CSS pixels wide (Chrome DevTools
    /// device metrics); applies to the pages loaded afterwards too.
    pub fn phone_viewport(&self, width: u32, height: u32) {
        self.post_ok(
            "/goog/cdp/execute",
            &json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}}),
            "emulate a phone viewport",
        );
    }

    /// Takes a screenshot of the viewport, keeps it as `<name>.png` under the build's
    /// temporary folder (to look at after a failure), and returns its size in pixels.
    pub fn screenshot(&self, name: &str) -> (u32, u32) {
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(as_string(self.get_ok("/screenshot", "screenshot")))
            .expect("a base64 PNG");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
        // The PNG header: signature (8), IHDR length and type (8), width, height.
        assert_eq!(&png[1..4], b"PNG", "not a PNG");
        let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
        (be(16), be(20))
    }

    /// Whether the current page is wider than its viewport (horizontal page scrolling).
    pub fn overflows_horizontally(&self) -> bool {
        self.execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            &[],
        ) == json!(true)
    }

    /// Prints the page to PDF (WebDriver "Print Page"); returns the PDF bytes, base64.
    pub fn print_pdf(&self) -> String {
        as_string(self.post_ok("/print", &json!({}), "print"))
    }

    /// Runs `script` in the page and waits for it to call its last argument (the callback)
    /// with the result.
    fn execute_async(&self, script: &str, args: &[Value]) -> Value {
        self.post_ok(
            "/execute/async",
            &json!({ "script": script, "args": args }),
            "execute/async",
        )
    }

    /// Runs axe-core on the current page and describes each `serious` or `critical`
    /// violation: rule id, impact, help text and the first offending node's target.
    pub fn axe_check(&self) -> Vec<String> {
        let path = axe_path();
        let axe = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}): run bash scripts/test, which installs axe-core",
                path.display()
            )
        });
        self.execute(&axe, &[]);
        let loaded = self.execute("return typeof window.axe;", &[]);
        assert_eq!(
            loaded,
            "object",
            "axe-core did not load into {}",
            self.current_url()
        );
        let result = self.execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(
               (r) => done({ violations: r.violations.map((v) => ({
                 id: v.id, impact: v.impact, help: v.help,
                 target: v.nodes.length ? v.nodes[0].target : [],
                 nodes: v.nodes.length })) }),
               (e) => done({ error: String(e) }));",
            &[],
        );
        if let Some(e) = result.get("error") {
            panic!("axe.run failed on {}: {e}", self.current_url());
        }
        result["violations"]
            .as_array()
            .expect("axe answer lists violations")
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| {
                format!(
                    "{} ({}): {} — first of {} node(s): {}",
                    v["id"].as_str().unwrap_or("?"),
                    v["impact"].as_str().unwrap_or("?"),
                    v["help"].as_str().unwrap_or("?"),
                    v["nodes"],
                    v["target"]
                )
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Best effort: closes Chromium; a failure must not hide the test's own.
            let _ = self
                .agent
                .delete(&self.endpoint(""))
                .timeout(Duration::from_secs(10))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a free port (a few tries, in case another process takes the
/// port in between) and waits until its `/status` says ready.
fn start_driver(agent: &ureq::Agent, dir: &Path) -> (Child, String) {
    let mut last = String::new();
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port for chromedriver")
            .port();
        let log = File::create(dir.join("chromedriver.log")).expect("chromedriver log file");
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("chromedriver log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                last = format!("chromedriver exited ({status})");
                break;
            }
            let ready = agent
                .get(&format!("{url}/status"))
                .timeout(Duration::from_secs(2))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return (child, url);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                last = "chromedriver not ready after 10 s".into();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!(
        "cannot start chromedriver: {last}; its log:\n{}",
        driver_log_tail(dir)
    );
}

/// The last 40 lines of chromedriver's log in `dir`.
fn driver_log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Sends a WebDriver command and returns its `value`, or the driver's error.
fn call(req: ureq::Request, body: Option<&Value>) -> Result<Value, WdError> {
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => {
            let mut v: Value = r.into_json().map_err(|e| WdError {
                error: "invalid answer".into(),
                message: e.to_string(),
            })?;
            Ok(v["value"].take())
        }
        Err(ureq::Error::Status(code, r)) => {
            let v: Value = r.into_json().unwrap_or(Value::Null);
            Err(WdError {
                error: v["value"]["error"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_string(),
                message: format!(
                    "HTTP {code}: {}",
                    v["value"]["message"].as_str().unwrap_or_default()
                ),
            })
        }
        Err(e) => Err(WdError {
            error: "transport".into(),
            message: e.to_string(),
        }),
    }
}

/// A string `value`, panicking with the value otherwise.
fn as_string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => panic!("WebDriver answered {other} where a string was expected"),
    }
}

/// Fails with axe-core's findings when the current page has a serious or critical violation.
pub fn assert_accessible(b: &Browser, what: &str) {
    let violations = b.axe_check();
    assert!(
        violations.is_empty(),
        "axe-core found {} serious or critical violation(s) on {what} ({}):\n{}",
        violations.len(),
        b.current_url(),
        violations.join("\n")
    );
}

/// Logs in through the real forms with a code computed from the service's clock; an
/// account that has not accepted the terms of use in force accepts them.
pub fn browser_login(b: &Browser, app: &TestApp, clock: &procura::clock::FixedClock, a: &Account) {
    browser_login_steps(b, app, clock, a);
    if b.current_url().ends_with("/conditions") {
        assert_accessible(b, "the terms of use to accept");
        b.click("#accepte");
        b.submit_form("form[action='/conditions']");
        b.find("#navigation");
    }
}

/// The two steps of the login forms, ending on the page the login leads to.
pub fn browser_login_steps(
    b: &Browser,
    app: &TestApp,
    clock: &procura::clock::FixedClock,
    a: &Account,
) {
    clock.advance(chrono::Duration::seconds(30));
    b.goto(&app.url("/connexion"));
    assert_accessible(b, "the login page");
    b.type_into("#email", &a.email);
    b.type_into("#password", &a.password);
    b.submit_form("form[action='/connexion']");
    b.find("#otp");
    assert_accessible(b, "the code page");
    b.type_into("#otp", &code(&a.secret, clock, 0));
    b.submit_form("form[action='/connexion/code']");
    b.find("form[action='/deconnexion']");
}
