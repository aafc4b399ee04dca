//! The person as FranceConnect proves them, and what a started consent flow remembers.

use serde::{Deserialize, Serialize};

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

/// What a started flow must remember until the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowSecrets {
    /// The nonce sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
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
