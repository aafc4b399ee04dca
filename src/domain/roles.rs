//! Roles and what each may do.

use std::fmt;
use std::str::FromStr;

/// A role; an account may hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Accredited helper: creates and uses mandates of the current structure.
    Aidant,
    /// Oversees a structure's aidants.
    Manager,
    /// Read-only accountability reviewer.
    Auditor,
    /// Operator: structures, accounts, clients, cards, keys.
    Admin,
    /// Training organisation: records the trainings that accredit aidants.
    Trainer,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 5] = [
        Role::Aidant,
        Role::Manager,
        Role::Auditor,
        Role::Admin,
        Role::Trainer,
    ];

    /// The code used in the CLI and the database.
    pub fn code(self) -> &'static str {
        match self {
            Role::Aidant => "aidant",
            Role::Manager => "manager",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Trainer => "trainer",
        }
    }

    /// French label.
    pub fn label(self) -> &'static str {
        match self {
            Role::Aidant => "Aidant",
            Role::Manager => "Responsable de structure",
            Role::Auditor => "Auditeur",
            Role::Admin => "Administrateur",
            Role::Trainer => "Organisme de formation",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}: expected aidant, manager, auditor, admin or trainer")
            })
    }
}

/// A set of roles, stored as comma-separated codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    /// From a list (deduplicated, ordered).
    pub fn new(mut roles: Vec<Role>) -> Self {
        roles.sort();
        roles.dedup();
        Roles(roles)
    }

    /// Parses the stored form; unknown codes are ignored (never grant by accident).
    pub fn parse(stored: &str) -> Self {
        Roles::new(
            stored
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect(),
        )
    }

    /// The stored form.
    pub fn stored(&self) -> String {
        self.0
            .iter()
            .map(|r| r.code())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// True when the set holds `r`.
    pub fn has(&self, r: Role) -> bool {
        self.0.contains(&r)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// French labels, comma-separated.
    pub fn labels(&self) -> String {
        self.0
            .iter()
            .map(|r| r.label())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_ignore_unknown() {
        let r = Roles::parse("manager,aidant,root");
        assert_eq!(r.stored(), "aidant,manager");
        assert!(r.has(Role::Manager) && !r.has(Role::Admin));
        assert!("superuser".parse::<Role>().is_err());
    }
}
