//! RFC 6238 time-based one-time passwords: SHA-1, 6 digits, 30-second steps, ±1 step,
//! each step accepted once only (the caller stores the last accepted step).

use chrono::{DateTime, Utc};
use totp_rs::{Algorithm, TOTP};

/// Seconds per step.
pub const STEP: i64 = 30;

/// The time step containing `now`.
pub fn step_at(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(STEP)
}

fn totp(secret: &[u8]) -> TOTP {
    // new_unchecked: physical cards carry 80-bit seeds, below totp-rs's 128-bit minimum.
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, STEP as u64, secret.to_vec())
}

/// The code for a given step.
pub fn code_for_step(secret: &[u8], step: i64) -> String {
    totp(secret).generate((step.max(0) * STEP) as u64)
}

/// Outcome of checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Accepted for this step (store it as the last accepted step).
    Accepted(i64),
    /// The code matches a step already used: a replay.
    Replayed,
    /// No match within ±1 step.
    Wrong,
}

/// Checks `code` at `now`, refusing steps at or before `last_step`.
pub fn check(secret: &[u8], code: &str, now: DateTime<Utc>, last_step: Option<i64>) -> Check {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Check::Wrong;
    }
    let current = step_at(now);
    let mut replayed = false;
    for step in [current - 1, current, current + 1] {
        if crate::crypto::constant_time_eq(code_for_step(secret, step).as_bytes(), code.as_bytes())
        {
            if last_step.is_some_and(|last| step <= last) {
                replayed = true;
                continue;
            }
            return Check::Accepted(step);
        }
    }
    if replayed {
        Check::Replayed
    } else {
        Check::Wrong
    }
}

/// A new random secret (160 bits, as RFC 4226 recommends).
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    crate::crypto::fill_random(&mut s);
    s
}

/// Base32 (RFC 4648, no padding) as authenticator apps expect.
pub fn to_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Parses a base32 secret (spaces, case and padding tolerated); at least 80 bits.
pub fn from_base32(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
        .collect::<String>()
        .to_ascii_uppercase();
    let bytes = data_encoding::BASE32_NOPAD
        .decode(clean.as_bytes())
        .map_err(|_| "expected a base32 secret (letters A-Z and digits 2-7)".to_string())?;
    if bytes.len() < 10 {
        return Err("the secret is too short: at least 80 bits (16 base32 characters)".into());
    }
    Ok(bytes)
}

/// The `otpauth://` URI shown as a QR code.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        to_base32(secret),
        enc(issuer)
    )
}

/// The QR code of `data` as an accessible inline SVG.
pub fn qr_svg(data: &str) -> String {
    match qrcode::QrCode::new(data.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build()
            .replacen("<svg ", "<svg role=\"img\" aria-label=\"QR code à scanner avec l’application d’authentification\" ", 1),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 (8 digits there; we check the last 6).
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(code_for_step(secret, 59 / 30), "287082");
        assert_eq!(code_for_step(secret, 1_111_111_109 / 30), "081804");
        assert_eq!(code_for_step(secret, 2_000_000_000 / 30), "279037");
    }

    #[test]
    fn window_and_replay() {
        let secret = b"12345678901234567890";
        let now = DateTime::from_timestamp(1_800_000_015, 0).expect("t");
        let s = step_at(now);
        for (delta, ok) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_for_step(secret, s + delta);
            let r = check(secret, &code, now, None);
            assert_eq!(matches!(r, Check::Accepted(_)), ok, "delta {delta}");
        }
        let code = code_for_step(secret, s);
        assert_eq!(check(secret, &code, now, None), Check::Accepted(s));
        assert_eq!(check(secret, &code, now, Some(s)), Check::Replayed);
        assert_eq!(check(secret, "12345", now, None), Check::Wrong);
        assert_eq!(check(secret, "abcdef", now, None), Check::Wrong);
    }

    #[test]
    fn base32_round_trip() {
        let s = new_secret();
        assert_eq!(from_base32(&to_base32(&s)).expect("decode"), s);
        assert!(from_base32("not base32!").is_err());
        assert!(from_base32("JBSWY3DP").is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn at(step: i64, second: i64) -> DateTime<Utc> {
            DateTime::from_timestamp(step * STEP + second, 0).expect("time")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            /// A code is accepted within one step either side of now and nowhere else
            /// (unless, by chance, it equals a code of the window), at any second of
            /// the step, and the step accepted is the one whose code it is.
            #[test]
            fn codes_are_accepted_within_one_step_either_side(
                secret in proptest::collection::vec(any::<u8>(), 10..40),
                now_step in 1_000i64..100_000_000,
                offset in -4i64..=4,
                second in 0i64..STEP,
            ) {
                let code = code_for_step(&secret, now_step + offset);
                let window: Vec<i64> = (now_step - 1..=now_step + 1).collect();
                let in_window = window
                    .iter()
                    .find(|s| code_for_step(&secret, **s) == code)
                    .copied();
                let got = check(&secret, &code, at(now_step, second), None);
                match in_window {
                    Some(step) => {
                        prop_assert_eq!(got, Check::Accepted(step));
                        if offset.abs() <= 1 {
                            prop_assert_eq!(step, now_step + offset);
                        }
                    }
                    None => {
                        prop_assert!(offset.abs() > 1);
                        prop_assert_eq!(got, Check::Wrong);
                    }
                }
            }

            /// A step at or before the last accepted one is never accepted again.
            #[test]
            fn an_accepted_step_is_never_accepted_again(
                secret in proptest::collection::vec(any::<u8>(), 10..40),
                now_step in 1_000i64..100_000_000,
                offset in -1i64..=1,
                last_delta in 0i64..3,
            ) {
                let step = now_step + offset;
                let code = code_for_step(&secret, step);
                let got = check(&secret, &code, at(now_step, 0), Some(step + last_delta));
                prop_assert!(!matches!(got, Check::Accepted(s) if s <= step + last_delta));
            }

            /// Anything but six digits (spaces aside) is wrong, whatever the secret.
            #[test]
            fn malformed_codes_are_wrong(
                secret in proptest::collection::vec(any::<u8>(), 10..40),
                code in "\\PC{0,12}",
            ) {
                let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
                prop_assume!(!(digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())));
                prop_assert_eq!(check(&secret, &code, at(50_000_000, 0), None), Check::Wrong);
            }
        }
    }
}
