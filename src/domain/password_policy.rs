//! What makes a password acceptable.

/// Minimum length, in characters.
pub const MIN_LENGTH: usize = 12;
/// Maximum length (Argon2 input is bounded to keep hashing cost predictable).
pub const MAX_LENGTH: usize = 256;

/// Checks `password` for the account `email`; the error is a French sentence.
pub fn check(password: &str, email: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err("Le mot de passe doit comporter au moins 12 caractères.");
    }
    if n > MAX_LENGTH {
        return Err("Le mot de passe doit comporter au plus 256 caractères.");
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    let lower = password.to_lowercase();
    // Very short local parts ("a@…") would forbid most passwords; they only count when whole.
    if !local.is_empty()
        && (lower == local || (local.chars().count() >= 3 && lower.contains(&local)))
    {
        return Err(
            "Le mot de passe ne doit pas contenir l’identifiant de l’adresse électronique.",
        );
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err("Le mot de passe ne doit pas répéter un seul caractère.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check("short", "a@b.fr").is_err());
        assert!(check("camille.durand2026!", "camille.durand@exemple.fr").is_err());
        assert!(check("CAMILLE.DURAND", "camille.durand@exemple.fr").is_err());
        assert!(check("aaaaaaaaaaaaaa", "x@y.fr").is_err());
        assert!(check("correct horse battery", "camille.durand@exemple.fr").is_ok());
    }
}
