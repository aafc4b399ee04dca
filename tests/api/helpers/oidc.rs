//! Procura as an OpenID provider: a registered client, a "world" (structure, logged-in
//! aidant, usager with a mandate, client), authorization requests, the interaction, the
//! token request and checks of what was issued.

use base64::Engine;
use procura::clock::{Clock, FixedClock};
use procura::domain::mandate::{DemarcheSet, MandateDuration};
use procura::domain::roles::Role;
use procura::federation::jose::verify_jwt;
use procura::federation::provider::{self as op, s256};
use procura::store::{write_tx, Store};
use serde_json::Value;

use super::app::TestApp;
use super::db::{count_rows, journal_actions};
use super::fixtures::{
    account, app_with_clock, logged_in, login, member, seed_mandate, structure, structure_row,
    Account,
};
use super::http::{client, get, query_param, send_form, Resp, Web};

/// A registered client with its secret.
#[derive(Clone)]
pub struct Rp {
    pub id: String,
    pub secret: Option<String>,
    pub redirect: String,
}

/// Everything a provider test needs.
pub struct World {
    pub app: TestApp,
    pub clock: FixedClock,
    pub aidant: Account,
    pub web: Web,
    pub rp: Rp,
    pub usager_id: String,
    pub mandate_id: String,
    pub structure_id: String,
}

impl World {
    /// Revokes the world's mandate (every authorisation).
    pub fn revoke_mandate(&self) {
        let mut conn = self.app.store.conn().expect("conn");
        procura::mandates::revoke_mandate(
            &mut conn,
            self.clock.now(),
            "test",
            &self.structure_id,
            &self.mandate_id,
        )
        .expect("revoke");
    }

    /// Revokes the world's authorisation for `demarche`.
    pub fn revoke_authorisation(&self, demarche: &str) {
        let mut conn = self.app.store.conn().expect("conn");
        let now = self.clock.now();
        let view =
            procura::mandates::mandate_in(&mut conn, now, &self.structure_id, &self.mandate_id)
                .expect("q")
                .expect("mandate");
        let (a, _) = view
            .authorisations
            .iter()
            .find(|(a, _)| a.demarche == demarche)
            .expect("authorisation");
        procura::mandates::revoke_authorisation(&mut conn, now, "test", &self.structure_id, &a.id)
            .expect("revoke");
    }

    /// Deactivates the world's aidant (as the operator would).
    /// Removes the world's aidant from its structure (the manager's use case).
    pub fn remove_aidant_from_structure(&self) {
        let mut conn = self.app.store.conn().expect("conn");
        write_tx(&mut conn, |c| {
            procura::accounts::users::remove_member(
                c,
                self.clock.now(),
                "test",
                &self.structure_id,
                &self.aidant.user.id,
            )
        })
        .expect("remove");
    }

    pub fn deactivate_aidant(&self) {
        self.set_aidant_active(false);
    }

    /// Deactivates or reactivates the world's aidant (as the operator would).
    pub fn set_aidant_active(&self, active: bool) {
        let mut conn = self.app.store.conn().expect("conn");
        write_tx(&mut conn, |c| {
            procura::accounts::users::set_active(
                c,
                self.clock.now(),
                "test",
                None,
                &self.aidant.user.id,
                active,
            )
        })
        .expect("set_active");
    }

    /// Registers another client of the world's service (see [`register`]).
    pub fn register(&self, method: &str, redirect: &str) -> Rp {
        register(&self.app.store, &self.clock, method, redirect)
    }

    /// A browser session logged in as a new account of the world's structure with `roles`.
    pub fn logged_in_member(&self, email: &str, roles: &[Role]) -> Web {
        let s = structure_row(&self.app.store, &self.structure_id);
        let a = member(&self.app, &self.clock, email, roles, &s);
        logged_in(&self.app, &self.clock, &a)
    }
}

/// Registers a client authenticating with `method`, redirecting to `redirect`, for every
/// démarche.
pub fn register(store: &Store, clock: &FixedClock, method: &str, redirect: &str) -> Rp {
    register_with(
        store,
        clock,
        redirect,
        op::ClientSettings {
            auth_method: Some(method.into()),
            ..Default::default()
        },
    )
}

/// Registers a client with these settings (by default: named "Site de test", every
/// démarche, one post-logout URI).
pub fn register_with(
    store: &Store,
    clock: &FixedClock,
    redirect: &str,
    settings: op::ClientSettings,
) -> Rp {
    let settings = op::ClientSettings {
        name: settings.name.or(Some("Site de test".into())),
        redirect_uris: settings.redirect_uris.or(Some(vec![redirect.to_string()])),
        post_logout_redirect_uris: settings
            .post_logout_redirect_uris
            .or(Some(vec!["https://site.example.fr/au-revoir".to_string()])),
        demarches: settings.demarches.or(Some(DemarcheSet::All)),
        ..settings
    };
    let mut conn = store.conn().expect("conn");
    let (c, secret) = write_tx(&mut conn, |c| {
        op::create_client(c, clock.now(), "test", &settings)
    })
    .expect("client");
    Rp {
        id: c.id,
        secret,
        redirect: redirect.into(),
    }
}

/// A structure, an aidant logged in, a usager with a mandate for social + logement, a client.
pub fn world(env: &[(&str, &str)]) -> World {
    let (app, clock) = app_with_clock(env);
    let s = structure(&app.store, &clock, "France Services Provider", 300);
    let aidant = account(
        &app.store,
        &clock,
        "aidant.op@exemple.fr",
        &[Role::Aidant],
        Some(&s),
    );
    let created = seed_mandate(
        &app.store,
        &clock,
        &aidant,
        &s,
        "fc-sub-op",
        &["social", "logement"],
        MandateDuration::Month,
    );
    let rp = register(
        &app.store,
        &clock,
        "client_secret_basic",
        "https://site.example.fr/callback",
    );
    let web = Web::new(&app);
    assert_eq!(login(&web, &clock, &aidant).status, 303);
    World {
        usager_id: created.mandate.usager_id.clone(),
        mandate_id: created.mandate.id.clone(),
        structure_id: s.id.clone(),
        app,
        clock,
        aidant,
        web,
        rp,
    }
}

/// A request's PKCE verifier, nonce and state.
pub struct Req {
    pub verifier: String,
    pub nonce: String,
    pub state: String,
}

/// Fresh PKCE verifier, nonce and state.
pub fn new_req() -> Req {
    Req {
        verifier: procura::crypto::new_token(),
        nonce: procura::crypto::new_token(),
        state: procura::crypto::new_token(),
    }
}

/// The authorization request's path; `extra` replaces defaults, an empty value removes one.
pub fn authorize_path(rp: &Rp, r: &Req, scope: &str, extra: &[(&str, &str)]) -> String {
    let challenge = s256(&r.verifier);
    let mut pairs: Vec<(&str, &str)> = vec![
        ("client_id", &rp.id),
        ("redirect_uri", &rp.redirect),
        ("response_type", "code"),
        ("scope", scope),
        ("state", &r.state),
        ("nonce", &r.nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        pairs.retain(|(n, _)| n != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/oidc/authorize?{q}")
}

/// Runs the interaction: choose the usager then the démarche; returns the client redirect.
pub fn interact(web: &Web, path: &str, usager: &str, demarche: &str) -> String {
    let r = web.get(path);
    assert_eq!(r.status, 303, "{}", r.body);
    let interaction = r.header("location").expect("interaction").to_string();
    let page = web.get(&interaction);
    assert_eq!(page.status, 200, "{}", page.body);
    let r = choose_usager(web, &interaction, usager);
    assert_eq!(r.status, 303, "{}", r.body);
    let page = web.get(&interaction);
    assert!(page.body.contains("Pour quelle démarche"), "{}", page.body);
    let r = choose_demarche(web, &interaction, demarche);
    assert_eq!(r.status, 302, "{}", r.body);
    r.header("location").expect("client redirect").to_string()
}

/// Posts the usager choice of the interaction page `i` (with its CSRF token).
pub fn choose_usager(web: &Web, i: &str, usager: &str) -> Resp {
    web.submit(i, &format!("{i}/usager"), &[("usager", usager)])
}

/// Posts the démarche choice of the interaction page `i` (with its CSRF token).
pub fn choose_demarche(web: &Web, i: &str, demarche: &str) -> Resp {
    web.submit(i, &format!("{i}/demarche"), &[("demarche", demarche)])
}

/// Asserts that the démarche page preselects `checked` and does not offer `absent`.
pub fn assert_preselected(page: &Resp, checked: &str, absent: &str) {
    let preselected = format!(r#"value="{checked}" checked"#);
    assert!(page.body.contains(&preselected), "{}", page.body);
    let offered = format!(r#"value="{absent}""#);
    assert!(!page.body.contains(&offered), "{}", page.body);
}

/// Authorizes `rp` with request `r` and `scope`, chooses the world's usager and
/// `demarche`; returns the code the client receives.
pub fn code_for(w: &World, rp: &Rp, r: &Req, scope: &str, demarche: &str) -> String {
    let path = authorize_path(rp, r, scope, &[]);
    let redirect = interact(&w.web, &path, &w.usager_id, demarche);
    query_param(&redirect, "code").expect("code")
}

/// A whole flow for the world's client: authorize with `scope`, choose the usager and
/// `demarche`, redeem the code; returns the token response (checked to be 200).
pub fn tokens(w: &World, scope: &str, demarche: &str) -> Value {
    let r = new_req();
    let code = code_for(w, &w.rp, &r, scope, demarche);
    let t = token_request(w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    t.json()
}

/// The access token of [`tokens`].
pub fn access_token(w: &World, scope: &str, demarche: &str) -> String {
    let t = tokens(w, scope, demarche);
    t["access_token"].as_str().expect("at").to_string()
}

/// Redeems `code` at the token endpoint: HTTP Basic with `secret`, else `client_id` in
/// the form.
pub fn token_request(w: &World, rp: &Rp, code: &str, verifier: &str, secret: Option<&str>) -> Resp {
    let mut req = client().post(&w.app.url("/oidc/token"));
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &rp.redirect),
        ("code_verifier", verifier),
    ];
    match secret {
        Some(s) => {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", rp.id, s));
            req = req.set("Authorization", &format!("Basic {basic}"));
        }
        None => form.push(("client_id", &rp.id)),
    }
    send_form(req, &form)
}

/// GET /oidc/userinfo with `access_token` as a bearer token.
pub fn userinfo(w: &World, access_token: &str) -> Resp {
    super::http::send(
        client()
            .get(&w.app.url("/oidc/userinfo"))
            .set("Authorization", &format!("Bearer {access_token}")),
    )
}

/// The published key set.
pub fn jwks(w: &World) -> Value {
    get(&w.app.url("/oidc/jwks")).json()
}

/// The claims of `jwt` if one of the published keys verifies it.
pub fn verify(w: &World, jwt: &str) -> Option<Value> {
    let set: openidconnect::core::CoreJsonWebKeySet =
        serde_json::from_value(jwks(w)).expect("a JWK set");
    verify_jwt(jwt, set.keys())
}

/// The decoded JOSE header of a compact JWT.
pub fn jwt_header(jwt: &str) -> Value {
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().expect("h"))
            .expect("b64"),
    )
    .expect("json")
}

/// Authorization codes stored.
pub fn issued_codes(w: &World) -> i64 {
    count_rows(&w.app.store, "authorization_codes")
}

/// Access tokens stored.
pub fn issued_tokens(w: &World) -> i64 {
    count_rows(&w.app.store, "access_tokens")
}

/// `mandate.used` entries in the journal.
pub fn uses(w: &World) -> usize {
    journal_actions(&w.app.store)
        .iter()
        .filter(|a| *a == "mandate.used")
        .count()
}

/// A logged-in aidant's answer to a site asking for a new login (`prompt=login`,
/// `max_age`): the interaction shows the question, nothing changed yet; the aidant
/// confirms and goes to the login page.
pub fn confirm_reconnection(web: &Web, interaction: &str) {
    let page = web.get(interaction);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Ce site demande que vous vous reconnectiez"),
        "{}",
        page.body
    );
    let r = web.submit(interaction, &format!("{interaction}/reconnexion"), &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/connexion"));
}

/// Sends the world's logged-in aidant to an authorization request with `extra` parameters
/// that asks for a new login (`prompt=login`, `max_age`): the aidant confirms and logs in
/// again, and the login leads back to the interaction, whose path is returned.
pub fn log_in_again_for(w: &World, extra: &[(&str, &str)]) -> String {
    let path = authorize_path(&w.rp, &new_req(), "openid", extra);
    let resp = w.web.get(&path);
    let interaction = resp.header("location").expect("interaction").to_string();
    confirm_reconnection(&w.web, &interaction);
    let back = login(&w.web, &w.clock, &w.aidant);
    assert_eq!(back.header("location"), Some(interaction.as_str()));
    interaction
}
