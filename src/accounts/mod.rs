//! Structures, accounts, passwords, TOTP, sessions and lockout.

pub mod cards;
pub mod login;
pub mod password;
pub mod sessions;
pub mod structures;
pub mod totp;
pub mod users;

use crate::crypto::CryptoError;
use crate::journal::JournalError;

/// Why an account operation was refused or failed. Messages are French: they reach users.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Bad e-mail.
    #[error("L’adresse électronique n’est pas valide.")]
    Email,
    /// Bad name.
    #[error("Le nom est obligatoire (200 caractères au plus).")]
    Name,
    /// No role given.
    #[error("Au moins un rôle est nécessaire (aidant, manager, auditor ou admin).")]
    NoRole,
    /// E-mail taken.
    #[error("Un compte existe déjà avec cette adresse électronique.")]
    DuplicateEmail,
    /// Structure unknown.
    #[error("Cette structure n’existe pas.")]
    UnknownStructure,
    /// Password refused by the policy.
    #[error("{0}")]
    Password(&'static str),
    /// Enrolment link unknown, used or expired.
    #[error("Ce lien d’activation n’est plus valable (déjà utilisé ou expiré). Demandez-en un nouveau à votre responsable de structure.")]
    LinkInvalid,
    /// Wrong TOTP code.
    #[error("Le code saisi n’est pas valide. Vérifiez l’heure de votre téléphone et saisissez le code affiché.")]
    WrongCode,
    /// Card unknown or already assigned.
    #[error("Aucune carte disponible ne porte ce numéro de série.")]
    CardUnavailable,
    /// Account or target not found.
    #[error("Compte introuvable.")]
    NotFound,
    /// Encryption at rest failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Journal failure.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Storage failure.
    #[error("erreur de base de données : {0}")]
    Query(#[from] diesel::result::Error),
}

impl AccountError {
    /// True when the error is the user's input (4xx), not the service's fault.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            AccountError::Crypto(_) | AccountError::Journal(_) | AccountError::Query(_)
        )
    }
}
