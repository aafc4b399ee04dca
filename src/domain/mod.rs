//! Pure rules of the domain: no I/O, no clock reads.

/// An enum stored as text: `as_str`, `parse`, `TryFrom<String>` (for diesel's
/// `deserialize_as`) and `Serialize` as its text, from one list of variants and texts.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value of a stored text.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $name::parse(&s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($name)))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

pub mod attestation;
pub mod french;
pub mod identity;
pub mod mandate;
pub mod password_policy;
pub mod places;
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
