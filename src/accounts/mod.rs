//! Structures, accounts, passwords, TOTP, sessions and lockout.

pub mod accreditation;
pub mod cards;
pub mod inactivity;
pub mod login;
pub mod manage;
pub mod memberships;
pub mod password;
pub mod sessions;
pub mod structures;
pub mod terms;
pub mod totp;
pub mod users;

/// An account acting for one of its structures: every scoped query and journal entry of
/// a use case takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    /// The account.
    pub user_id: String,
    /// Its current structure.
    pub structure_id: String,
}

impl Acting {
    /// The account `user_id` acting for `structure_id`.
    pub fn new(user_id: &str, structure_id: &str) -> Self {
        Acting {
            user_id: user_id.to_string(),
            structure_id: structure_id.to_string(),
        }
    }

    /// The journal's actor string.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user_id)
    }
}
