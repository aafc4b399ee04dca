//! Procura as a relying party of FranceConnect: discovery, authorization code flow with
//! state, nonce and PKCE S256, id_token checks, identity read from userinfo.

use std::time::Duration;

pub use crate::domain::identity::{FcError, FlowSecrets, Identity};
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, LogoutRequest, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse,
};

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

/// A client built from discovery: authorization endpoint set, token and userinfo
/// endpoints as discovered.
type FcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How to sign the person out of FranceConnect once their identity is proven
/// (RP-initiated logout): the discovered `end_session_endpoint` and the id_token just
/// received, kept in memory only for the redirect.
#[derive(Clone)]
pub struct SignOut {
    endpoint: EndSessionUrl,
    id_token: CoreIdToken,
}

impl std::fmt::Debug for SignOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOut")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl SignOut {
    /// The end_session URL to send the browser to, with `id_token_hint`,
    /// `post_logout_redirect_uri` and `state`.
    pub fn url(&self, post_logout_redirect_uri: &str, state: &str) -> Result<String, FcError> {
        let back = PostLogoutRedirectUrl::new(post_logout_redirect_uri.to_string())
            .map_err(|e| FcError::Claims(e.to_string()))?;
        Ok(LogoutRequest::from(self.endpoint.clone())
            .set_id_token_hint(&self.id_token)
            .set_post_logout_redirect_uri(back)
            .set_state(CsrfToken::new(state.to_string()))
            .http_get_url()
            .to_string())
    }
}

/// A completed flow: the proven identity and, when FranceConnect offers it, how to sign
/// the person out.
#[derive(Debug)]
pub struct Proven {
    /// The identity read from userinfo.
    pub identity: Identity,
    /// None when the discovery gives no `end_session_endpoint`.
    pub sign_out: Option<SignOut>,
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
    fn discover(&self) -> Result<ProviderMetadataWithLogout, FcError> {
        let issuer =
            IssuerUrl::new(self.issuer.clone()).map_err(|e| FcError::Unreachable(e.to_string()))?;
        ProviderMetadataWithLogout::discover(&issuer, &http())
            .map_err(|e| FcError::Unreachable(format!("découverte : {e}")))
    }

    /// Our client of the discovered provider, with our callback URL.
    fn client(&self, metadata: ProviderMetadataWithLogout) -> Result<FcClient, FcError> {
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| FcError::Claims(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a flow: the URL to send the browser to, the `state`, and what to keep. The
    /// person always authenticates anew (`prompt=login`): a FranceConnect session left
    /// open in the browser (a shared computer at a desk) never stands in for them.
    pub fn start(&self) -> Result<(String, String, FlowSecrets), FcError> {
        let metadata = self.discover()?;
        let client = self.client(metadata)?;
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
            .add_prompt(openidconnect::core::CoreAuthPrompt::Login)
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
    ) -> Result<Proven, FcError> {
        let metadata = self.discover()?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let userinfo_url = metadata
            .userinfo_endpoint()
            .map(|u| u.url().to_string())
            .ok_or_else(|| FcError::Unreachable("pas de userinfo_endpoint".into()))?;
        let client = self.client(metadata)?;
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
        Ok(Proven {
            identity,
            sign_out: end_session.map(|endpoint| SignOut {
                endpoint,
                id_token: id_token.clone(),
            }),
        })
    }
}
