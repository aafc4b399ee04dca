//! The domain's one error type. A variant is either a refusal (the user's input or a
//! state the user can act on; its French message is shown as is) or a failure of the
//! service (storage, journal, keys), logged and shown as a generic message.

use crate::crypto::CryptoError;
use crate::domain::identity::FcError;
use crate::journal::JournalError;
use crate::store::StoreError;

/// Why a use case was refused or failed. Messages are French: refusals reach users.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad e-mail.
    #[error("L’adresse électronique n’est pas valide.")]
    Email,
    /// Bad account name.
    #[error("Le nom est obligatoire (200 caractères au plus).")]
    Name,
    /// No role given.
    #[error("Au moins un rôle est nécessaire (aidant, manager, auditor, admin ou trainer).")]
    NoRole,
    /// E-mail taken.
    #[error("Un compte existe déjà avec cette adresse électronique.")]
    DuplicateEmail,
    /// Structure unknown.
    #[error("Cette structure n’existe pas.")]
    UnknownStructure,
    /// Bad structure name.
    #[error("le nom de la structure est obligatoire (200 caractères au plus)")]
    StructureName,
    /// Bad SIRET.
    #[error("le SIRET doit comporter 14 chiffres et être valide (clé de Luhn)")]
    Siret,
    /// Bad postal address of a structure.
    #[error("l’adresse est trop longue (500 caractères au plus)")]
    Address,
    /// Duplicate SIRET.
    #[error("une structure avec ce SIRET existe déjà")]
    DuplicateSiret,
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
    /// A line of an imported CSV is malformed (nothing is imported then).
    #[error("line {line}: {message}")]
    CsvRow {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Bad input (démarches, duration, client settings…), with its explanation.
    #[error("{0}")]
    Invalid(String),
    /// The consent request is unknown, used, expired or not this browser's.
    #[error("Cette demande de mandat n’est plus valable (déjà utilisée, expirée ou ouverte dans un autre navigateur). Recommencez la création du mandat.")]
    RequestInvalid,
    /// Already revoked or expired.
    #[error("Cette autorisation n’est plus active.")]
    NotActive,
    /// Unknown or out-of-scope object (an account, a mandate, a client…).
    #[error("introuvable")]
    NotFound,
    /// Not logged in.
    #[error("authentification requise")]
    LoginRequired,
    /// Logged in but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Missing or wrong CSRF token.
    #[error(
        "Le formulaire a expiré ou ne provient pas de ce site. Rechargez la page et recommencez."
    )]
    Csrf,
    /// Not found, with an explanation (an expired link or interaction).
    #[error("{0}")]
    Gone(String),
    /// The FranceConnect round trip failed (its reason is journaled).
    #[error(transparent)]
    FranceConnect(#[from] FcError),
    /// A signing key could not be used.
    #[error("clé de signature invalide")]
    Key,
    /// Encryption at rest failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Journal failure.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Storage failure.
    #[error("erreur de base de données : {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection or another storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// True when the error is the user's input (4xx), not the service's fault.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Error::Key | Error::Crypto(_) | Error::Journal(_) | Error::Query(_) | Error::Store(_)
        )
    }
}

/// Result of a use case.
pub type Result<T, E = Error> = std::result::Result<T, E>;
