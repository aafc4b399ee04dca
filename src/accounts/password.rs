//! Password hashing with Argon2id.
//!
//! Parameters: 19 MiB of memory, 2 passes, 1 lane — OWASP's Password Storage Cheat Sheet
//! minimum for Argon2id (m=19456 KiB, t=2, p=1), documented in SECURITY.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::crypto::fill_random;

/// Memory cost in KiB.
pub const M_COST_KIB: u32 = 19_456;
/// Passes.
pub const T_COST: u32 = 2;
/// Lanes.
pub const P_COST: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, Some(32)).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (PHC string, with a fresh 128-bit salt).
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    fill_random(&mut salt);
    let salt_string = SaltString::encode_b64(&salt).expect("16-byte salt encodes");
    let h = hasher();
    let params = h.params().clone();
    let mut out = [0u8; 32];
    with_workspace(params.block_count(), |memory| {
        h.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
    })
    .expect("Argon2 hashing with valid parameters");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().expect("Argon2 parameters encode"),
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&out).expect("32-byte output")),
    }
    .to_string()
}

static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// Argon2's working memory (19 MiB), reused: one hash or verification runs at a time (about
/// 30 ms each, so logins still pass at some 30 a second), so a burst of logins neither
/// multiplies memory by the number of threads nor leaves 19 MiB retained in every
/// thread's allocator arena.
struct Workspaces {
    free: Mutex<Vec<Vec<Block>>>,
    returned: Condvar,
}

fn workspaces() -> &'static Workspaces {
    static W: OnceLock<Workspaces> = OnceLock::new();
    W.get_or_init(|| Workspaces {
        free: Mutex::new(vec![Vec::new()]),
        returned: Condvar::new(),
    })
}

/// Runs `f` with a workspace of at least `blocks` blocks, waiting for one to be free.
fn with_workspace<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let w = workspaces();
    let mut buf = {
        let mut free = w.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(b) = free.pop() {
                break b;
            }
            free = w.returned.wait(free).unwrap_or_else(|e| e.into_inner());
        }
    };
    if buf.len() < blocks {
        buf.resize(blocks, Block::default());
    }
    let out = f(&mut buf[..blocks]);
    w.free.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
    w.returned.notify_one();
    out
}

/// Checks a password against a stored PHC string (parameters are read from it).
pub fn verify(stored: &str, password: &str) -> bool {
    let Ok(h) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(&h), Algorithm::try_from(h.algorithm))
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
    let blocks = params.block_count();
    let mut out = vec![0u8; expected.len()];
    let hashed = with_workspace(blocks, |memory| {
        Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            memory,
        )
    });
    hashed.is_ok() && crate::crypto::constant_time_eq(&out, expected.as_bytes())
}

/// Argon2 verifications run since start (exposed in `/metrics`: an unknown e-mail must
/// cost one, like a wrong password).
pub fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

/// A real hash of a random password, verified against when the e-mail is unknown, so
/// that an unknown account costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::crypto::new_token()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, "correct horse battery"));
        assert!(!verify(&h, "correct horse batterY"));
        assert!(!verify("not a hash", "x"));
        assert_ne!(hash("same"), hash("same"));
    }

    #[test]
    fn hashes_interoperate_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let reference = hasher()
            .hash_password(b"pass phrase", &salt)
            .unwrap()
            .to_string();
        assert!(verify(&reference, "pass phrase"));
        assert!(!verify(&reference, "pass phrasE"));
        let ours = hash("pass phrase");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(hasher().verify_password(b"pass phrase", &parsed).is_ok());
    }
}
