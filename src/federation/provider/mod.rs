//! Procura as the OpenID provider of the federation: clients, signing keys, interactions,
//! authorization codes, tokens, the ID token and userinfo claims.

pub mod claims;
pub mod clients;
pub mod codes;
pub mod interactions;
pub mod keys;
pub mod logout;
pub mod tokens;

pub use claims::*;
pub use clients::*;
pub use codes::*;
pub use interactions::*;
pub use keys::*;
pub use logout::*;
pub use tokens::*;

/// Lifetime of an authorization code.
pub const CODE_SECONDS: i64 = 60;
/// Lifetime of an interaction (login and choices).
pub const INTERACTION_MINUTES: i64 = 15;
/// The level of assurance Procura asserts (two factors, accredited aidant).
pub const ACR: &str = "eidas1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_is_stable_per_client_and_differs_across() {
        let k = [9u8; 32];
        assert_eq!(
            pairwise(&k, "usager", "a", "u1"),
            pairwise(&k, "usager", "a", "u1")
        );
        assert_ne!(
            pairwise(&k, "usager", "a", "u1"),
            pairwise(&k, "usager", "b", "u1")
        );
        assert_ne!(
            pairwise(&k, "usager", "a", "u1"),
            pairwise(&k, "aidant", "a", "u1")
        );
    }

    #[test]
    fn scopes_map_to_claims() {
        assert!(allowed_claims("openid").is_empty());
        assert_eq!(allowed_claims("openid email"), vec!["email"]);
        let p = allowed_claims("openid profile birth");
        for c in [
            "given_name",
            "family_name",
            "birthdate",
            "birthplace",
            "birthcountry",
            "gender",
        ] {
            assert!(p.contains(&c), "{c}");
        }
        assert_eq!(allowed_claims("openid family_name"), vec!["family_name"]);
    }

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        // Python: base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=")
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXk-kEjXk"),
            "JIR41DDhPj7MhvjRSfrWp1B4L4s-HZqJOIzA-517L3k"
        );
    }
}
