//! Procura as a relying party of FranceConnect: discovery, authorization code flow with
//! state, nonce and PKCE S256, id_token checks, identity read from userinfo.

use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

/// Identity claims asked from FranceConnect.
pub const SCOPES: [&str; 8] = [
    "given_name",
    "family_name",
    "preferred_username",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
];

/// Accepted `acr` values (eIDAS levels), weakest first.
pub const ACCEPTED_ACR: [&str; 3] = ["eidas1", "eidas2", "eidas3"];

/// The identité pivot, kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// FranceConnect subject.
    pub sub: String,
    /// Given names (possibly several, space-separated).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Usage name, when any.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Birth date, `YYYY-MM-DD` where month and day may be `00` (presumed dates).
    pub birthdate: String,
    /// `male` or `female`.
    pub gender: String,
    /// INSEE code of the birth place; empty for people born abroad.
    #[serde(default)]
    pub birthplace: String,
    /// INSEE code of the birth country.
    pub birthcountry: String,
    /// E-mail, when shared.
    #[serde(default)]
    pub email: Option<String>,
}

impl Identity {
    /// "Given names FAMILY NAME".
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// Why a FranceConnect round trip failed. `reason()` is journaled; the French message shown.
#[derive(Debug, thiserror::Error)]
pub enum FcError {
    /// FranceConnect is not configured.
    #[error("FranceConnect n’est pas configuré sur ce service.")]
    NotConfigured,
    /// Discovery or an HTTP exchange failed.
    #[error("FranceConnect ne répond pas correctement ({0}). Réessayez dans quelques minutes.")]
    Unreachable(String),
    /// The person cancelled.
    #[error("La connexion FranceConnect a été annulée. Aucun mandat n’a été créé.")]
    Cancelled,
    /// FranceConnect returned another error.
    #[error("FranceConnect a renvoyé une erreur ({0}). Aucun mandat n’a été créé.")]
    Provider(String),
    /// The id_token's signature is wrong.
    #[error("La réponse de FranceConnect n’a pas pu être authentifiée (signature invalide). Aucun mandat n’a été créé.")]
    BadSignature(String),
    /// The nonce does not match.
    #[error("La réponse de FranceConnect ne correspond pas à cette demande (nonce). Aucun mandat n’a été créé.")]
    Nonce,
    /// Other id_token claims are wrong.
    #[error("La réponse de FranceConnect est invalide ({0}). Aucun mandat n’a été créé.")]
    Claims(String),
    /// The level of assurance is too low.
    #[error(
        "Le niveau d’authentification FranceConnect est insuffisant. Aucun mandat n’a été créé."
    )]
    Acr,
    /// Userinfo is missing claims or inconsistent.
    #[error(
        "L’identité transmise par FranceConnect est incomplète ({0}). Aucun mandat n’a été créé."
    )]
    Identity(String),
}

impl FcError {
    /// A short code for the journal.
    pub fn reason(&self) -> &'static str {
        match self {
            FcError::NotConfigured => "not_configured",
            FcError::Unreachable(_) => "unreachable",
            FcError::Cancelled => "access_denied",
            FcError::Provider(_) => "provider_error",
            FcError::BadSignature(_) => "bad_signature",
            FcError::Nonce => "nonce_mismatch",
            FcError::Claims(_) => "invalid_claims",
            FcError::Acr => "acr_too_low",
            FcError::Identity(_) => "invalid_identity",
        }
    }
}

/// What a started flow must remember until the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowSecrets {
    /// The nonce sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

/// FranceConnect as configured.
#[derive(Debug, Clone)]
pub struct FranceConnect {
    /// Issuer.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Our callback URL.
    pub redirect_uri: String,
}

/// The HTTP client for outgoing OpenID calls. No redirects: an OpenID exchange never
/// needs one, and following them invites SSRF.
pub fn http() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(10))
        .build()
}

impl FranceConnect {
    fn discover(&self) -> Result<CoreProviderMetadata, FcError> {
        let issuer =
            IssuerUrl::new(self.issuer.clone()).map_err(|e| FcError::Unreachable(e.to_string()))?;
        CoreProviderMetadata::discover(&issuer, &http())
            .map_err(|e| FcError::Unreachable(format!("découverte : {e}")))
    }

    /// Starts a flow: the URL to send the browser to, the `state`, and what to keep.
    pub fn start(&self) -> Result<(String, String, FlowSecrets), FcError> {
        let metadata = self.discover()?;
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| FcError::Claims(e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in SCOPES {
            req = req.add_scope(Scope::new(s.to_string()));
        }
        let (url, state, nonce) = req
            .set_pkce_challenge(challenge)
            .add_auth_context_value(AuthenticationContextClass::new("eidas1".into()))
            .url();
        Ok((
            url.to_string(),
            state.secret().clone(),
            FlowSecrets {
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Completes a flow from the callback's `code`: token exchange, id_token checks
    /// (signature, iss, aud, exp, nonce, acr), then userinfo.
    pub fn finish(
        &self,
        code: &str,
        secrets: &FlowSecrets,
        now: DateTime<Utc>,
    ) -> Result<Identity, FcError> {
        let metadata = self.discover()?;
        let userinfo_url = metadata
            .userinfo_endpoint()
            .map(|u| u.url().to_string())
            .ok_or_else(|| FcError::Unreachable("pas de userinfo_endpoint".into()))?;
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| FcError::Claims(e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        let http = http();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| FcError::Unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier.clone()))
            .request(&http)
            .map_err(|e| FcError::Provider(format!("échange du code : {e}")))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| FcError::Claims("pas d’id_token".into()))?;
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(vec![
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                CoreJwsSigningAlgorithm::HmacSha256,
            ])
            .set_time_fn(move || now);
        let claims = id_token
            .claims(&verifier, &Nonce::new(secrets.nonce.clone()))
            .map_err(|e| {
                use openidconnect::ClaimsVerificationError as C;
                match e {
                    C::SignatureVerification(s) => FcError::BadSignature(s.to_string()),
                    C::InvalidNonce(_) => FcError::Nonce,
                    other => FcError::Claims(other.to_string()),
                }
            })?;
        let acr = claims
            .auth_context_ref()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        if !ACCEPTED_ACR.contains(&acr.as_str()) {
            return Err(FcError::Acr);
        }
        let sub = claims.subject().as_str().to_string();
        let access = openidconnect::OAuth2TokenResponse::access_token(&tokens)
            .secret()
            .clone();
        let resp = http
            .get(&userinfo_url)
            .set("Authorization", &format!("Bearer {access}"))
            .set("Accept", "application/json")
            .call()
            .map_err(|e| FcError::Unreachable(format!("userinfo : {e}")))?;
        let identity: Identity = resp
            .into_json()
            .map_err(|e| FcError::Identity(format!("userinfo illisible : {e}")))?;
        if identity.sub != sub {
            return Err(FcError::Identity(
                "le sujet de userinfo diffère de celui de l’id_token".into(),
            ));
        }
        if identity.given_name.trim().is_empty()
            || identity.family_name.trim().is_empty()
            || identity.birthdate.is_empty()
        {
            return Err(FcError::Identity(
                "nom, prénoms ou date de naissance absents".into(),
            ));
        }
        Ok(identity)
    }
}
