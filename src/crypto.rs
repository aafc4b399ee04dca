//! Randomness, hashing and encryption at rest: the one place that touches `ring`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// Fills `buf` from the system's secure random source.
pub fn fill_random(buf: &mut [u8]) {
    // The system source failing is unrecoverable: no secret can be made safely.
    SystemRandom::new()
        .fill(buf)
        .expect("system random source unavailable");
}

/// A new 256-bit token, base64url without padding (43 characters).
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    fill_random(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256 of `data`, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Errors from encryption at rest.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// No master key is configured.
    #[error("PROCURA_MASTER_KEY is required for this operation")]
    NoKey,
    /// The ciphertext is malformed or was not made with this key and context.
    #[error("a secret could not be decrypted (wrong master key or altered data)")]
    Decrypt,
}

/// AES-256-GCM with the master key; each value is bound to a context string (AAD) so a
/// ciphertext cannot be moved to another row or purpose.
#[derive(Clone)]
pub struct SecretBox {
    key: Option<[u8; 32]>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

impl SecretBox {
    /// A box over the master key (None: every operation fails with [`CryptoError::NoKey`]).
    pub fn new(key: Option<[u8; 32]>) -> Self {
        SecretBox { key }
    }

    fn key(&self) -> Result<LessSafeKey, CryptoError> {
        let k = self.key.ok_or(CryptoError::NoKey)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &k).map_err(|_| CryptoError::NoKey)?;
        Ok(LessSafeKey::new(unbound))
    }

    /// 20 bytes derived from the master key for `context` (HMAC-SHA256, truncated): a
    /// secret that needs no storage, recomputed the same each time.
    pub fn derive(&self, context: &str) -> Result<Vec<u8>, CryptoError> {
        let k = self.key.ok_or(CryptoError::NoKey)?;
        let outer = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &k);
        let sub = ring::hmac::sign(&outer, b"procura derived secrets v1");
        let inner = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, sub.as_ref());
        Ok(ring::hmac::sign(&inner, context.as_bytes()).as_ref()[..20].to_vec())
    }

    /// Encrypts `plain` for `context`: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<String, CryptoError> {
        let key = self.key()?;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut buf,
        )
        .map_err(|_| CryptoError::Decrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`SecretBox::seal`] made for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let key = self.key()?;
        let raw = STANDARD.decode(sealed).map_err(|_| CryptoError::Decrypt)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
        let mut buf = rest.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

/// Signs short messages that travel through the browser (flash messages): the browser
/// may drop them but cannot forge them.
pub struct MessageKey(ring::hmac::Key);

impl std::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageKey(<redacted>)")
    }
}

impl MessageKey {
    /// A key derived from the master key (stable across instances), or random.
    pub fn new(master: Option<[u8; 32]>) -> Self {
        let mut raw = [0u8; 32];
        match master {
            Some(m) => {
                let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &m);
                raw.copy_from_slice(ring::hmac::sign(&k, b"procura message key v1").as_ref());
            }
            None => fill_random(&mut raw),
        }
        MessageKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw))
    }

    /// `base64url(message).issued.base64url(tag)`, the tag covering `binding` (what the
    /// message belongs to, such as a session) and the time it was issued (seconds).
    pub fn seal(&self, binding: &str, issued: i64, message: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let body = URL_SAFE_NO_PAD.encode(message.as_bytes());
        let tag = ring::hmac::sign(&self.0, Self::signed(binding, issued, &body).as_bytes());
        format!("{body}.{issued}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn signed(binding: &str, issued: i64, body: &str) -> String {
        format!("{binding}\u{0}{issued}\u{0}{body}")
    }

    /// The message of a sealed value, if its tag is right for `binding` and it was issued
    /// at most `max_age` seconds before `now`.
    pub fn open(&self, binding: &str, now: i64, max_age: i64, sealed: &str) -> Option<String> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let mut parts = sealed.splitn(3, '.');
        let (body, issued, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let issued: i64 = issued.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        ring::hmac::verify(
            &self.0,
            Self::signed(binding, issued, body).as_bytes(),
            &tag,
        )
        .ok()?;
        if issued > now || now - issued > max_age {
            return None;
        }
        String::from_utf8(URL_SAFE_NO_PAD.decode(body).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_bind_the_context() {
        let b = SecretBox::new(Some([7u8; 32]));
        let s = b.seal("totp:u1", b"secret").expect("seal");
        assert_eq!(b.open("totp:u1", &s).expect("open"), b"secret");
        assert!(b.open("totp:u2", &s).is_err());
        assert!(SecretBox::new(Some([8u8; 32])).open("totp:u1", &s).is_err());
        assert!(SecretBox::new(None).seal("x", b"y").is_err());
    }

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn sealed_messages_open_only_untouched_bound_and_fresh() {
        let k = MessageKey::new(Some([7u8; 32]));
        let sealed = k.seal("session-a", 1000, "Votre compte est activé.");
        let open = |k: &MessageKey, b: &str, now: i64, s: &str| k.open(b, now, 600, s);
        let msg = Some("Votre compte est activé.");
        assert_eq!(open(&k, "session-a", 1010, &sealed).as_deref(), msg);
        let same_key = MessageKey::new(Some([7u8; 32]));
        assert_eq!(open(&same_key, "session-a", 1010, &sealed).as_deref(), msg);
        let other_key = MessageKey::new(Some([8u8; 32]));
        assert!(open(&other_key, "session-a", 1010, &sealed).is_none());
        assert!(
            open(&k, "session-b", 1010, &sealed).is_none(),
            "bound to its session"
        );
        assert!(open(&k, "session-a", 1601, &sealed).is_none(), "expired");
        assert!(
            open(&k, "session-a", 999, &sealed).is_none(),
            "from the future"
        );
        let forged = format!("{}{}", &sealed[..1], &sealed[2..]);
        assert!(open(&k, "session-a", 1010, &forged).is_none());
        let redated = sealed.replace(".1000.", ".1500.");
        assert!(open(&k, "session-a", 1510, &redated).is_none());
        assert!(open(&k, "session-a", 1010, "bm9wZQ").is_none());
    }
}
