//! Interoperability with a real, independent OpenID provider: panva's `oidc-provider`
//! (npm, installed by scripts/test under tests/interop) plays FranceConnect.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};

use diesel::prelude::*;
use procura::clock::{Clock, SystemClock};
use procura::crypto::SecretBox;
use procura::domain::roles::Role;
use procura::federation::client::FlowSecrets;
use procura::store::schema::{consent_requests, usagers};

use crate::accounts::{account, structure, Account, TEST_KEY};
use crate::harness::*;
use crate::mandates::local;

const CLIENT_ID: &str = "procura-interop";
const CLIENT_SECRET: &str = "interop-secret-0123456789abcdef0123456789abcdef";

/// A running `fc-provider.mjs`, stopped at drop.
pub struct Provider {
    /// Issuer URL.
    pub issuer: String,
    child: Child,
    _stdin: ChildStdin,
}

impl Provider {
    /// Starts the provider for a relying party whose callback is `redirect_uri`.
    pub fn start(redirect_uri: &str, alg: &str) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/oidc-provider")
                .is_dir(),
            "oidc-provider is not installed: run bash scripts/test (npm ci in tests/interop)"
        );
        let mut child = Command::new("node")
            .arg(format!("{dir}/fc-provider.mjs"))
            .args([
                "--port",
                "0",
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
            ])
            .args(["--redirect-uri", redirect_uri, "--alg", alg])
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
        Provider {
            issuer,
            child,
            _stdin: stdin,
        }
    }

    fn control(&self, path: &str, body: serde_json::Value) {
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
    pub fn identity(&self, v: serde_json::Value) {
        self.control("identity", v);
    }

    /// The last authorization request's parameters.
    pub fn last(&self) -> serde_json::Value {
        get(&format!("{}/__test/last", self.issuer)).json()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service relying on a fresh provider signing with `alg`, and a logged-in aidant.
fn setup(alg: &str) -> (TestApp, Provider, Web, Account) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let provider = Provider::start(
        &format!("http://127.0.0.1:{port}/franceconnect/callback"),
        alg,
    );
    let env = [
        ("PROCURA_FC_ISSUER", provider.issuer.as_str()),
        ("PROCURA_FC_CLIENT_ID", CLIENT_ID),
        ("PROCURA_FC_CLIENT_SECRET", CLIENT_SECRET),
    ];
    // The provider's tokens carry real times: this service runs on the system clock.
    let app = TestApp::spawn_with(AppOptions {
        env: &env,
        listener: Some(listener),
        ..Default::default()
    });
    let clock = procura::clock::FixedClock::new(SystemClock.now());
    let s = structure(&app.store, &clock, "France Services Interop", 500);
    let a = account(
        &app.store,
        &clock,
        "interop@exemple.fr",
        &[Role::Aidant],
        Some(&s),
    );
    let web = Web::new(&app);
    let r = web.submit(
        "/connexion",
        "/connexion",
        &[("email", &a.email), ("password", &a.password)],
    );
    assert_eq!(r.status, 303);
    let code = procura::accounts::totp::code_for_step(
        &a.secret,
        procura::accounts::totp::step_at(SystemClock.now()),
    );
    assert_eq!(
        web.submit("/connexion/code", "/connexion/code", &[("otp", &code)])
            .status,
        303
    );
    (app, provider, web, a)
}

/// Starts a creation and follows the provider's redirects; returns the callback path.
fn round_trip(app: &TestApp, web: &Web) -> String {
    let mut fields: Vec<(&str, &str)> = vec![
        ("demarches", "social"),
        ("demarches", "logement"),
        ("duration", "SEMESTER"),
    ];
    let token = web.csrf("/mandats/nouveau");
    fields.push(("csrf_token", &token));
    let r = web.post("/mandats/nouveau", &fields);
    assert_eq!(r.status, 303, "{}", r.body);
    let mut url = r.header("location").expect("authorize URL").to_string();
    for _ in 0..6 {
        if url.starts_with(&app.base) {
            return local(app, &url);
        }
        let r = web.get_abs(&url);
        assert_eq!(r.status, 303, "{url}: {}", r.body);
        url = r.header("location").expect("redirect").to_string();
    }
    panic!("the provider never redirected back: {url}");
}

fn counts(app: &TestApp) -> (i64, i64) {
    let mut conn = app.store.conn().expect("conn");
    let m: i64 = procura::store::schema::mandates::table
        .count()
        .get_result(&mut *conn)
        .expect("m");
    let u: i64 = usagers::table.count().get_result(&mut *conn).expect("u");
    (m, u)
}

fn last_failure(app: &TestApp) -> String {
    let mut conn = app.store.conn().expect("conn");
    let entries = procura::journal::entries_after(&mut conn, 0, 100_000).expect("entries");
    let e = entries
        .iter()
        .rev()
        .find(|e| e.action == "mandate.consent_failed")
        .expect("failure journaled");
    e.details.clone()
}

#[test]
fn the_whole_creation_flow_against_oidc_provider_for_each_algorithm() {
    for alg in ["ES256", "RS256", "HS256"] {
        let (app, provider, web, _) = setup(alg);
        provider.identity(serde_json::json!({
            "sub": format!("fc-interop-{alg}"),
            "given_name": "Jean Pierre Marie",
            "family_name": "MARTIN",
            "birthdate": "1962-00-00",
            "gender": "male",
            "birthplace": "",
            "birthcountry": "99134",
            "email": "jp.martin@exemple.fr"
        }));
        let callback = round_trip(&app, &web);
        let last = provider.last();
        assert_eq!(last["code_challenge_method"], "S256", "{last}");
        assert!(
            last["state"]
                .as_str()
                .map(|s| s.len() >= 16)
                .unwrap_or(false),
            "{last}"
        );
        assert!(
            last["nonce"]
                .as_str()
                .map(|s| s.len() >= 16)
                .unwrap_or(false),
            "{last}"
        );
        assert_eq!(last["acr_values"], "eidas1", "{last}");
        let r = web.get(&callback);
        assert_eq!(r.status, 303, "{alg}: {}", r.body);
        let consent = r.header("location").expect("consent").to_string();
        let page = web.get(&consent);
        assert!(
            page.body.contains("Jean Pierre Marie MARTIN"),
            "{}",
            page.body
        );
        let r = web.submit(&consent, &consent, &[("consent", "oui")]);
        assert_eq!(r.status, 303, "{}", r.body);
        let mut conn = app.store.conn().expect("conn");
        let (birthdate, birthplace, preferred): (String, String, Option<String>) = usagers::table
            .filter(usagers::fc_sub.eq(format!("fc-interop-{alg}")))
            .select((
                usagers::birthdate,
                usagers::birthplace,
                usagers::preferred_username,
            ))
            .first(&mut *conn)
            .expect("usager");
        assert_eq!(
            (birthdate.as_str(), birthplace.as_str(), preferred),
            ("1962-00-00", "", None)
        );
    }
}

#[test]
fn a_bad_signature_creates_nothing() {
    let (app, provider, web, _) = setup("ES256");
    provider.mode("bad-keys");
    let before = counts(&app);
    let callback = round_trip(&app, &web);
    let r = web.get(&callback);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("signature"), "{}", r.body);
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("bad_signature"));
}

#[test]
fn a_wrong_nonce_creates_nothing() {
    let (app, _provider, web, _) = setup("RS256");
    let before = counts(&app);
    let callback = round_trip(&app, &web);
    // Change the nonce Procura remembers for this request (as if the id_token had been
    // issued for another request): the check must refuse the id_token.
    {
        let mut conn = app.store.conn().expect("conn");
        let (id, sealed): (String, String) = consent_requests::table
            .filter(consent_requests::status.eq("pending_fc"))
            .select((consent_requests::id, consent_requests::secrets_enc))
            .first(&mut *conn)
            .expect("request");
        let b = SecretBox::new(Some(TEST_KEY));
        let ctx = format!("consent:{id}");
        let mut flow: FlowSecrets =
            serde_json::from_slice(&b.open(&ctx, &sealed).expect("open")).expect("json");
        flow.nonce = "another-nonce-entirely".into();
        let resealed = b
            .seal(&ctx, serde_json::to_string(&flow).expect("json").as_bytes())
            .expect("seal");
        diesel::update(consent_requests::table.filter(consent_requests::id.eq(&id)))
            .set(consent_requests::secrets_enc.eq(resealed))
            .execute(&mut *conn)
            .expect("update");
    }
    let r = web.get(&callback);
    assert_eq!(r.status, 400);
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("nonce_mismatch"));
}

#[test]
fn a_replayed_state_creates_nothing() {
    let (app, _provider, web, _) = setup("HS256");
    let callback = round_trip(&app, &web);
    assert_eq!(web.get(&callback).status, 303);
    let before = counts(&app);
    let r = web.get(&callback);
    assert_eq!(r.status, 400);
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("replayed_state"));
}

#[test]
fn the_person_cancelling_creates_nothing() {
    let (app, provider, web, _) = setup("ES256");
    provider.mode("deny");
    let before = counts(&app);
    let callback = round_trip(&app, &web);
    assert!(callback.contains("error=access_denied"), "{callback}");
    let r = web.get(&callback);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("annulée"));
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("access_denied"));
}

#[test]
fn a_response_naming_another_issuer_creates_nothing() {
    let (app, _provider, web, _) = setup("ES256");
    let before = counts(&app);
    let callback = round_trip(&app, &web);
    assert!(
        callback.contains("iss="),
        "oidc-provider sends iss (RFC 9207): {callback}"
    );
    let forged = url::Url::parse(&format!("{}{}", app.base, callback)).expect("url");
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://evil.example.com".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let r = web.get(&format!("{}?{q}", forged.path()));
    assert_eq!(r.status, 400);
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("issuer_mismatch"));
}
