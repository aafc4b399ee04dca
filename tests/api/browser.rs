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

use crate::harness::TestApp;

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

/// The home page and an error page render in a real browser with the expected title and
/// skip link, and axe-core finds no serious or critical violation on them.
#[test]
fn home_and_error_pages_pass_axe() {
    let app = TestApp::spawn();
    let b = browser();
    for path in ["/", "/page-inexistante"] {
        b.goto(&app.url(path));
        let title = b.title();
        assert!(
            title.contains("Procura"),
            "title of {path} is {title:?}, expected it to contain \"Procura\""
        );
        b.find(r##"a[href="#contenu"]"##);
        b.find("#contenu");
        let violations = b.axe_check();
        assert!(
            violations.is_empty(),
            "axe-core found {} serious or critical violation(s) on {path}:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }
}

/// The harness itself: the page's CSP blocks inline scripts while WebDriver's scripts
/// still run, and axe_check does report a critical violation when there is one.
#[test]
fn the_harness_sees_csp_and_violations() {
    let app = TestApp::spawn();
    let b = browser();
    b.goto(&app.url("/page-inexistante"));
    assert_eq!(b.text("h1"), "Page introuvable");
    assert!(
        b.source().contains("contenu"),
        "page source lacks the main landmark"
    );
    assert_eq!(
        b.execute("return arguments[0].length;", &[json!([1, 2])]),
        2
    );
    let inline_ran = b.execute(
        "const s = document.createElement('script');
         s.textContent = 'window.inlineRan = true;';
         document.head.appendChild(s);
         return window.inlineRan === true;",
        &[],
    );
    assert_eq!(inline_ran, false, "the page's CSP let an inline script run");
    let bad = "<!doctype html><html lang=fr><title>Mauvais</title><main>\
               <img src=\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\"></main></html>";
    b.goto(&format!(
        "data:text/html;charset=utf-8,{}",
        percent_encode(bad)
    ));
    let violations = b.axe_check();
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("image-alt (critical)")),
        "axe_check missed the image without alt: {violations:?}"
    );
}

fn assert_accessible(b: &Browser, what: &str) {
    let violations = b.axe_check();
    assert!(
        violations.is_empty(),
        "axe-core found {} serious or critical violation(s) on {what} ({}):\n{}",
        violations.len(),
        b.current_url(),
        violations.join("\n")
    );
}

/// Logs in through the real forms with a code computed from the service's clock.
fn browser_login(
    b: &Browser,
    app: &TestApp,
    clock: &procura::clock::FixedClock,
    a: &crate::accounts::Account,
) {
    clock.advance(chrono::Duration::seconds(30));
    b.goto(&app.url("/connexion"));
    assert_accessible(b, "the login page");
    b.type_into("#email", &a.email);
    b.type_into("#password", &a.password);
    b.submit_form("form[action='/connexion']");
    b.find("#otp");
    assert_accessible(b, "the code page");
    b.type_into("#otp", &crate::accounts::code(&a.secret, clock, 0));
    b.submit_form("form[action='/connexion/code']");
    b.find("form[action='/deconnexion']");
}

/// An aidant logs in with password and a computed TOTP code and reaches the home page.
#[test]
fn aidant_logs_in_and_reaches_home() {
    use crate::accounts::*;
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Centre", 21);
    let a = account(
        &app.store,
        &clock,
        "camille@exemple.fr",
        &[procura::domain::roles::Role::Aidant],
        Some(&s),
    );
    let b = browser();
    browser_login(&b, &app, &clock, &a);
    assert!(b.current_url().ends_with("/espace"), "{}", b.current_url());
    assert!(b.text("h1").contains("Bonjour"));
    assert!(b.source().contains("France Services Centre"));
    assert_accessible(&b, "the home page");
}

/// A manager adds an aidant, and the new aidant completes enrolment through the link;
/// every page of the manager's space passes axe.
#[test]
fn manager_adds_an_aidant_who_enrols() {
    use crate::accounts::*;
    use procura::domain::roles::Role;
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Est", 22);
    let m = account(
        &app.store,
        &clock,
        "dominique@exemple.fr",
        &[Role::Manager, Role::Aidant],
        Some(&s),
    );
    let b = browser();
    browser_login(&b, &app, &clock, &m);
    b.goto(&app.url("/gestion"));
    assert_accessible(&b, "the manager's list");
    b.type_into("#name", "Sacha Nouveau");
    b.type_into("#email", "sacha@exemple.fr");
    b.submit_form("form[action='/gestion/aidants']");
    let link = b.text("#enrolment-link");
    assert!(link.contains("/activation/"), "{link}");
    assert_accessible(&b, "the enrolment link page");
    b.goto(&app.url("/gestion"));
    b.click(&format!("a[href='/gestion/comptes/{}']", m.user.id));
    b.find("form[action$='/carte']");
    assert_accessible(&b, "the account page");
    b.goto(&app.url(&format!("/gestion/comptes/{}/second-facteur", m.user.id)));
    b.find("form button[type='submit']");
    assert_accessible(&b, "a confirmation page");

    // The new aidant, in another browser, opens the link.
    let n = browser();
    n.goto(&link);
    n.find("#totp-secret");
    assert_accessible(&n, "the enrolment page");
    let secret = procura::accounts::totp::from_base32(&n.text("#totp-secret")).expect("secret");
    n.type_into("#password", "une phrase de passe solide");
    n.type_into("#password_confirm", "une phrase de passe solide");
    n.type_into("#otp", &code(&secret, &clock, 0));
    n.submit_form("form.fr-form");
    n.find("form[action='/connexion']");
    assert!(n.source().contains("Votre compte est activé"));
    let fresh = Account {
        user: m.user.clone(),
        email: "sacha@exemple.fr".into(),
        password: "une phrase de passe solide".into(),
        secret,
    };
    browser_login(&n, &app, &clock, &fresh);
    assert!(n.text("h1").contains("Sacha Nouveau"));
}

/// Percent-encodes everything but ASCII letters and digits (for a `data:` URL).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

/// The whole mandate creation in Chromium against the demo's FranceConnect simulator,
/// through the printable attestation; every page passes axe.
#[test]
fn mandate_creation_in_the_browser_through_the_attestation() {
    use crate::accounts::*;
    let (app, clock) = crate::mandates::demo_app();
    let s = structure(&app.store, &clock, "France Services Ouest", 23);
    let a = account(
        &app.store,
        &clock,
        "claude@exemple.fr",
        &[procura::domain::roles::Role::Aidant],
        Some(&s),
    );
    let b = browser();
    browser_login(&b, &app, &clock, &a);
    b.goto(&app.url("/mandats/nouveau"));
    assert_accessible(&b, "the mandate form");
    b.click("#demarche-social");
    b.click("#demarche-logement");
    b.click("#duration-SEMESTER");
    b.submit_form("form[action='/mandats/nouveau']");
    b.find("#identity-1");
    assert!(b.source().contains("Simulateur FranceConnect"));
    assert_accessible(&b, "the FranceConnect simulator");
    b.click("#identity-1");
    b.click("button[value='connexion']");
    b.find("#consent");
    assert!(b.source().contains("BELKACEM"));
    assert_accessible(&b, "the consent page");
    b.click("#consent");
    b.submit_form("form[action^='/mandats/consentement/']");
    b.find("#attestation-digest");
    assert_accessible(&b, "the attestation");
    let text = b.text("#attestation-text");
    assert!(
        text.contains("Logement") && text.contains("Social - Santé"),
        "{text}"
    );
    // Printing: the print stylesheet hides the navigation and keeps the attestation.
    let hidden = b.execute(
        "return getComputedStyle(document.querySelector('.fr-header')).display;",
        &[],
    );
    assert_eq!(hidden, "block", "on screen the header shows");
    let pdf = b.print_pdf();
    assert!(pdf.starts_with("JVBERi"), "a PDF came out of printing");
    b.print_media();
    let hidden = b.execute(
        "return getComputedStyle(document.querySelector('.fr-header')).display;",
        &[],
    );
    assert_eq!(hidden, "none", "printed, the header is hidden");
    let shown = b.execute(
        "return getComputedStyle(document.querySelector('#attestation-text')).display;",
        &[],
    );
    assert_eq!(shown, "block");
    b.goto(&app.url("/espace"));
    assert!(b.source().contains("BELKACEM"));
    assert_accessible(&b, "the home page with mandates");
    b.click("a[href^='/usagers/']");
    b.find("a[href$='/revoquer']");
    assert_accessible(&b, "the usager page");
}
