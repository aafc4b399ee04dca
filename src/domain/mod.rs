//! Pure rules of the domain: no I/O, no clock reads.

pub mod identity;
pub mod mandate;
pub mod password_policy;
pub mod roles;

/// Checks a SIRET: 14 digits passing the Luhn check (La Poste's SIRETs, which start
/// with SIREN 356000000, use a digit-sum-multiple-of-5 rule instead).
pub fn valid_siret(s: &str) -> bool {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
    if s.starts_with("356000000") {
        return digits.iter().sum::<u32>() % 5 == 0;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siret_luhn() {
        assert!(valid_siret("73282932000074"));
        assert!(!valid_siret("73282932000075"));
        assert!(!valid_siret("7328293200007"));
        assert!(!valid_siret("7328293200007a"));
        assert!(valid_siret("35600000009075"));
    }
}
