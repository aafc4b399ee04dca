//! Mandate creation through FranceConnect, played by the demo's simulator over real HTTP:
//! starting a creation, the simulator's form, the consent page; reading mandates back.

use diesel::prelude::*;
use procura::clock::{Clock, FixedClock};
use procura::mandates::{self, Usager};
use procura::store::schema::{mandates as mandates_t, usagers};
use procura::store::Store;

use super::app::TestApp;
use super::http::{csrf_in, form_submission, query_param, Resp, Web};

/// Starts a creation: the response redirects to the simulator's authorization URL.
pub fn start(web: &Web, demarches: &[&str], duration: &str) -> Resp {
    let mut fields: Vec<(&str, &str)> = demarches.iter().map(|d| ("demarches", *d)).collect();
    fields.push(("duration", duration));
    web.submit("/mandats/nouveau", "/mandats/nouveau", &fields)
}

/// Goes through the simulator choosing `identity` (or cancelling); returns the callback URL.
pub fn simulator(
    app: &TestApp,
    web: &Web,
    authorize_url: &str,
    identity: &str,
    action: &str,
) -> String {
    let path = app.local(authorize_url);
    let page = web.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Simulateur FranceConnect"));
    let names = [
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ];
    let values: Vec<String> = names
        .iter()
        .map(|n| query_param(authorize_url, n).unwrap_or_default())
        .collect();
    let mut fields: Vec<(&str, &str)> = names
        .iter()
        .zip(values.iter())
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    fields.push(("identity", identity));
    fields.push(("action", action));
    let csrf = csrf_in(&page.body).expect("csrf");
    fields.push(("csrf_token", &csrf));
    let r = web.post("/demo/franceconnect/authorize", &fields);
    assert_eq!(r.status, 303, "{}", r.body);
    r.header("location").expect("redirect").to_string()
}

/// Starts a creation and goes through the simulator as `identity`: the consent page's path.
pub fn to_consent(
    app: &TestApp,
    web: &Web,
    demarches: &[&str],
    duration: &str,
    identity: &str,
) -> String {
    let r = start(web, demarches, duration);
    assert_eq!(r.status, 303, "{}", r.body);
    let callback = simulator(
        app,
        web,
        r.header("location").expect("location"),
        identity,
        "connexion",
    );
    let r = web.get(&app.local(&callback));
    assert_eq!(r.status, 303, "callback: {}", r.body);
    let consent = through_sign_out(app, web, r.header("location").expect("redirect"));
    assert!(consent.starts_with("/mandats/consentement/"), "{consent}");
    consent
}

/// Follows the browser from the callback's redirect to the consent page, through
/// FranceConnect's end_session when the redirect goes there: redirects are followed and
/// a logout confirmation form (oidc-provider's) is submitted with its "yes" button, as a
/// person would. Returns the consent page's path.
pub fn through_sign_out(app: &TestApp, web: &Web, location: &str) -> String {
    follow_until(app, web, location, "/mandats/consentement/")
}

/// As [`through_sign_out`], until a path starting with `prefix` (the consent page, or
/// the creation form after a dead end); returns that path.
pub fn follow_until(app: &TestApp, web: &Web, location: &str, prefix: &str) -> String {
    let mut url = app.local(location);
    for _ in 0..8 {
        if url.starts_with(prefix) {
            return url;
        }
        let r = web.visit(&url);
        let next = match r.status {
            302 | 303 => r.header("location").expect("redirect").to_string(),
            200 => {
                let (action, fields) = form_submission(&r.body, "yes")
                    .unwrap_or_else(|| panic!("{url}: no logout confirmation form: {}", r.body));
                let fields: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let r = web.post_abs(&absolute(&url, &action), &fields);
                assert!(matches!(r.status, 302 | 303), "{action}: {}", r.body);
                r.header("location").expect("redirect").to_string()
            }
            s => panic!("{url}: {s} {}", r.body),
        };
        url = app.local(&absolute(&url, &next));
    }
    panic!("the sign-out never came back to {prefix}: {url}");
}

/// `target` resolved against `base` (a path on the app, or an absolute URL).
fn absolute(base: &str, target: &str) -> String {
    if target.starts_with('/') && !base.starts_with('/') {
        let u = url::Url::parse(base).expect("url");
        u.join(target).expect("join").to_string()
    } else {
        target.to_string()
    }
}

/// Creates a mandate end to end; returns its id.
pub fn create(
    app: &TestApp,
    web: &Web,
    demarches: &[&str],
    duration: &str,
    identity: &str,
) -> String {
    let consent = to_consent(app, web, demarches, duration, identity);
    let page = web.get(&consent);
    assert_eq!(page.status, 200);
    let r = web.submit(&consent, &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let att = r.header("location").expect("attestation").to_string();
    // The person's notice: shown by the demo mailbox before the test goes on.
    super::mail::wait_for_outbox(&app.store);
    att.trim_start_matches("/mandats/")
        .trim_end_matches("/attestation")
        .to_string()
}

/// The usager FranceConnect knows as `sub`, if any.
pub fn usager_by_sub(store: &Store, sub: &str) -> Option<Usager> {
    let mut conn = store.conn().expect("conn");
    usagers::table
        .filter(usagers::fc_sub.eq(sub))
        .select(Usager::as_select())
        .first(&mut *conn)
        .optional()
        .expect("query")
}

/// Each authorisation of a mandate with its state at the clock's time.
pub fn auth_states(
    store: &Store,
    mandate_id: &str,
    now: &FixedClock,
) -> Vec<(String, &'static str)> {
    let mut conn = store.conn().expect("conn");
    let (sid,): (String,) = mandates_t::table
        .filter(mandates_t::id.eq(mandate_id))
        .select((mandates_t::structure_id,))
        .first(&mut *conn)
        .expect("mandate");
    let v = mandates::mandate_in(&mut conn, now.now(), &sid, mandate_id)
        .expect("q")
        .expect("exists");
    v.authorisations
        .iter()
        .map(|(a, s)| (a.demarche.clone(), s.code()))
        .collect()
}

/// The claims of an ES256 `jwt` when a key of the JWKS at `jwks_url` verifies its
/// signature (checked here with `ring`, independently of Procura's own JOSE code).
pub fn verified_es256(jwks_url: &str, jwt: &str) -> Option<serde_json::Value> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let mut parts = jwt.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    let header: serde_json::Value = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
    if header["alg"] != "ES256" {
        return None;
    }
    let signature = B64.decode(s).ok()?;
    let jwks = super::http::get(jwks_url).json();
    let verified = jwks["keys"].as_array()?.iter().any(|k| {
        let (Some(x), Some(y)) = (k["x"].as_str(), k["y"].as_str()) else {
            return false;
        };
        let (Ok(x), Ok(y)) = (B64.decode(x), B64.decode(y)) else {
            return false;
        };
        let point = [&[4u8][..], &x, &y].concat();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(format!("{h}.{p}").as_bytes(), &signature)
            .is_ok()
    });
    verified.then(|| serde_json::from_slice(&B64.decode(p).ok()?).ok())?
}

/// The data object of every session, as stored.
pub fn sessions_data(store: &Store) -> Vec<String> {
    use procura::store::schema::sessions;
    let mut conn = store.conn().expect("conn");
    sessions::table
        .select(sessions::data)
        .load(&mut *conn)
        .expect("sessions")
}
