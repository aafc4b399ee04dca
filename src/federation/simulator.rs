//! A FranceConnect simulator for demo mode only: a few fictional identities, an
//! authorization endpoint where one is picked, and token, userinfo and JWKS endpoints that
//! Procura's relying-party code reaches over HTTP through discovery, like the real one.
//! It remembers who signed in from which browser until the relying party signs them out
//! at its end_session endpoint.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::client::Identity;
use super::jose::{EcSigningKey, KeyError, SigningKey};
use crate::crypto::{constant_time_eq, new_token, sha256_hex};

/// Path prefix of the simulator's routes.
pub const PREFIX: &str = "/demo/franceconnect";
/// Client id Procura uses with the simulator.
pub const CLIENT_ID: &str = "procura-demo";
/// Client secret Procura uses with the simulator (public: demo only).
pub const CLIENT_SECRET: &str = "simulateur-franceconnect-demo";
/// How long a simulated sign-in lasts (FranceConnect keeps its session about as long).
const SIGN_IN_MINUTES: i64 = 30;

/// The fictional identities offered.
pub fn identities() -> Vec<Identity> {
    let id = |sub: &str,
              given: &str,
              family: &str,
              pref: Option<&str>,
              birth: &str,
              gender: &str,
              place: &str,
              country: &str,
              email: Option<&str>| Identity {
        sub: sub.into(),
        given_name: given.into(),
        family_name: family.into(),
        preferred_username: pref.map(Into::into),
        birthdate: birth.into(),
        gender: gender.into(),
        birthplace: place.into(),
        birthcountry: country.into(),
        email: email.map(Into::into),
    };
    vec![
        id(
            "demo-fc-angela",
            "Angela Claire Louise",
            "DUBOIS",
            None,
            "1962-08-24",
            "female",
            "75107",
            "99100",
            Some("angela.dubois@exemple.fr"),
        ),
        id(
            "demo-fc-karim",
            "Karim",
            "BELKACEM",
            None,
            "1985-00-00",
            "male",
            "",
            "99350",
            None,
        ),
        id(
            "demo-fc-marie",
            "Marie-Thérèse",
            "NGUYEN",
            Some("MARTIN"),
            "1948-03-00",
            "female",
            "69123",
            "99100",
            Some("mt.nguyen@exemple.fr"),
        ),
    ]
}

struct Grant {
    identity: usize,
    nonce: String,
    challenge: String,
    redirect_uri: String,
    browser: String,
    expires: DateTime<Utc>,
}

/// A simulated sign-in: who, from which browser, until when.
struct SignIn {
    identity: usize,
    browser: String,
    expires: DateTime<Utc>,
}

/// The simulator's state (in memory: codes and tokens live a few minutes).
pub struct Simulator {
    key: SigningKey,
    issuer: String,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, (usize, DateTime<Utc>)>>,
    /// Sign-ins by SHA-256 of the id_token issued for them: enough to recognise an
    /// `id_token_hint` without verifying signatures.
    signed_in: Mutex<HashMap<String, SignIn>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// An OAuth error answered to the relying party.
pub type OAuthError = (&'static str, String);

impl Simulator {
    /// A simulator whose issuer is `issuer`.
    pub fn new(issuer: String) -> Result<Self, KeyError> {
        Ok(Simulator {
            key: SigningKey::Ec(EcSigningKey::generate()?),
            issuer,
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            signed_in: Mutex::new(HashMap::new()),
        })
    }

    /// The discovery document.
    pub fn metadata(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "userinfo_endpoint": format!("{i}/userinfo"),
            "jwks_uri": format!("{i}/jwks"),
            "end_session_endpoint": format!("{i}/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": ["eidas1"],
            "scopes_supported": ["openid", "given_name", "family_name", "preferred_username", "birthdate", "gender", "birthplace", "birthcountry", "email"],
            "claims_supported": ["sub", "given_name", "family_name", "preferred_username", "birthdate", "gender", "birthplace", "birthcountry", "email"],
        })
    }

    /// The JWKS.
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.key.jwk()]})
    }

    /// Checks an authorization request; the error is shown on the simulator's page.
    #[allow(clippy::too_many_arguments)]
    pub fn check_request(
        &self,
        client_id: &str,
        redirect_uri: &str,
        expected_redirect: &str,
        challenge: &str,
        method: &str,
        nonce: &str,
        state: &str,
    ) -> Result<(), String> {
        if client_id != CLIENT_ID {
            return Err("client_id inconnu".into());
        }
        if redirect_uri != expected_redirect {
            return Err("redirect_uri non enregistrée".into());
        }
        if method != "S256" || challenge.len() < 43 {
            return Err("PKCE S256 obligatoire".into());
        }
        if nonce.is_empty() || state.is_empty() {
            return Err("state et nonce obligatoires".into());
        }
        Ok(())
    }

    /// Issues a code for the chosen identity, signed in from `browser` (an opaque id of
    /// the browser's session).
    #[allow(clippy::too_many_arguments)]
    pub fn issue_code(
        &self,
        identity: usize,
        nonce: &str,
        challenge: &str,
        redirect_uri: &str,
        browser: &str,
        now: DateTime<Utc>,
    ) -> String {
        let code = new_token();
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, g| g.expires > now);
        codes.insert(
            code.clone(),
            Grant {
                identity,
                nonce: nonce.into(),
                challenge: challenge.into(),
                redirect_uri: redirect_uri.into(),
                browser: browser.into(),
                expires: now + Duration::seconds(60),
            },
        );
        code
    }

    /// The token endpoint.
    pub fn token(
        &self,
        client: (&str, &str),
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        if client.0 != CLIENT_ID || !constant_time_eq(client.1.as_bytes(), CLIENT_SECRET.as_bytes())
        {
            return Err((
                "invalid_client",
                "authentification du client refusée".into(),
            ));
        }
        let grant = self
            .codes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(code)
            .filter(|g| g.expires > now)
            .ok_or((
                "invalid_grant",
                "code inconnu, expiré ou déjà utilisé".to_string(),
            ))?;
        let computed = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            verifier.as_bytes(),
        ));
        if computed != grant.challenge {
            return Err(("invalid_grant", "code_verifier incorrect".into()));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(("invalid_grant", "redirect_uri différente".into()));
        }
        let person = identities()
            .into_iter()
            .nth(grant.identity)
            .ok_or(("invalid_grant", "identité inconnue".to_string()))?;
        let id_token = self
            .key
            .sign_id_token(&json!({
                "iss": self.issuer,
                "sub": person.sub,
                "aud": CLIENT_ID,
                "exp": (now + Duration::seconds(60)).timestamp(),
                "iat": now.timestamp(),
                "nonce": grant.nonce,
                "acr": "eidas1",
                "amr": ["pwd"],
            }))
            .map_err(|_| ("server_error", "signature impossible".to_string()))?;
        {
            let mut signed_in = self.signed_in.lock().unwrap_or_else(|p| p.into_inner());
            signed_in.retain(|_, s| s.expires > now);
            signed_in.insert(
                sha256_hex(id_token.as_bytes()),
                SignIn {
                    identity: grant.identity,
                    browser: grant.browser.clone(),
                    expires: now + Duration::minutes(SIGN_IN_MINUTES),
                },
            );
        }
        let access = new_token();
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                access.clone(),
                (grant.identity, now + Duration::seconds(60)),
            );
        Ok(
            json!({"access_token": access, "token_type": "Bearer", "expires_in": 60, "id_token": id_token}),
        )
    }

    /// The userinfo endpoint.
    pub fn userinfo(&self, access: &str, now: DateTime<Utc>) -> Option<Identity> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let (i, exp) = tokens.get(access)?;
        if *exp <= now {
            return None;
        }
        identities().into_iter().nth(*i)
    }

    /// Who is signed in from `browser`, if anyone.
    pub fn signed_in(&self, browser: &str, now: DateTime<Utc>) -> Option<Identity> {
        let signed_in = self.signed_in.lock().unwrap_or_else(|p| p.into_inner());
        let i = signed_in
            .values()
            .filter(|s| s.browser == browser && s.expires > now)
            .max_by_key(|s| s.expires)?
            .identity;
        identities().into_iter().nth(i)
    }

    /// The end_session endpoint (RP-initiated logout): `id_token_hint` must be an
    /// id_token issued here to a sign-in still open, `post_logout_redirect_uri` the one
    /// registered (`expected_redirect`), `state` present. The browser's sign-in is
    /// forgotten; the answer is where to send the browser. A refusal is shown as is.
    pub fn end_session(
        &self,
        id_token_hint: &str,
        post_logout_redirect_uri: &str,
        expected_redirect: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        if post_logout_redirect_uri != expected_redirect {
            return Err("post_logout_redirect_uri non enregistrée".into());
        }
        if state.is_empty() {
            return Err("state obligatoire".into());
        }
        let mut signed_in = self.signed_in.lock().unwrap_or_else(|p| p.into_inner());
        let browser = signed_in
            .get(&sha256_hex(id_token_hint.as_bytes()))
            .filter(|s| s.expires > now)
            .map(|s| s.browser.clone())
            .ok_or("id_token_hint inconnu ou session déjà terminée")?;
        // The browser's sign-in ends, whichever id_token of it was presented.
        signed_in.retain(|_, s| s.browser != browser && s.expires > now);
        let state = url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>();
        Ok(format!("{post_logout_redirect_uri}?state={state}"))
    }
}
