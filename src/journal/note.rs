//! Checkpoints as C2SP `tlog-checkpoint` bodies signed as C2SP `signed-note`s with Ed25519,
//! and verifier keys in the C2SP `vkey` form (docs/journal.md, "Checkpoints"). Pure.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

use super::merkle::Hash;

/// The signature type byte of Ed25519 in C2SP notes.
const ED25519_TYPE: u8 = 0x01;

/// The C2SP key ID: the first 4 bytes of SHA-256(name ‖ LF ‖ 0x01 ‖ public key).
pub fn key_id(name: &str, public: &[u8]) -> [u8; 4] {
    let mut c = ring::digest::Context::new(&ring::digest::SHA256);
    c.update(name.as_bytes());
    c.update(b"\n");
    c.update(&[ED25519_TYPE]);
    c.update(public);
    let d = c.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

/// A key that verifies checkpoints: its name (the origin) and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// The key's name, equal to the checkpoints' origin.
    pub name: String,
    /// The 32-byte Ed25519 public key.
    pub public: [u8; 32],
}

impl VerifierKey {
    /// The key ID (4 bytes).
    pub fn id(&self) -> [u8; 4] {
        key_id(&self.name, &self.public)
    }

    /// The key ID as 8 lowercase hex digits.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id())
    }

    /// The C2SP vkey: `<name>+<key id hex>+<base64(0x01 ‖ public key)>`.
    pub fn vkey(&self) -> String {
        let mut typed = vec![ED25519_TYPE];
        typed.extend_from_slice(&self.public);
        format!("{}+{}+{}", self.name, self.id_hex(), STANDARD.encode(typed))
    }

    /// Parses a vkey; the key ID must match the name and key.
    pub fn parse(vkey: &str) -> Result<Self, String> {
        let vkey = vkey.trim();
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("a verifier key reads <name>+<key id>+<key>".into());
        };
        if !valid_name(name) {
            return Err("the key's name is empty or holds a space or a '+'".into());
        }
        let raw = STANDARD
            .decode(key)
            .map_err(|_| "the key is not standard base64".to_string())?;
        let public: [u8; 32] = match raw.split_first() {
            Some((&ED25519_TYPE, rest)) => rest
                .try_into()
                .map_err(|_| "an Ed25519 key has 32 bytes".to_string())?,
            _ => return Err("only Ed25519 keys (type 0x01) are known".into()),
        };
        let k = VerifierKey {
            name: name.to_string(),
            public,
        };
        if id.len() != 8 || id != k.id_hex() {
            return Err("the key id does not match the name and key".into());
        }
        Ok(k)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

/// The checkpoint body: origin, tree size and root hash, one per line.
pub fn body(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", STANDARD.encode(root))
}

/// Signs `body` as a signed note by `key` named `name`: the body, a blank line, and one
/// signature line.
pub fn sign(body: &str, name: &str, key: &Ed25519KeyPair) -> String {
    let public = key.public_key().as_ref();
    let mut sig = key_id(name, public).to_vec();
    sig.extend_from_slice(key.sign(body.as_bytes()).as_ref());
    format!("{body}\n\u{2014} {name} {}\n", STANDARD.encode(sig))
}

/// A checkpoint read from a signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// First line: who keeps the log.
    pub origin: String,
    /// Number of entries covered.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
    /// The signed text (three lines).
    pub body: String,
    /// Signature lines: key name, key ID, signature bytes.
    pub signatures: Vec<(String, [u8; 4], Vec<u8>)>,
}

/// Why a checkpoint is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteProblem {
    /// Not a checkpoint note at all.
    Malformed(String),
    /// No valid signature by a trusted key.
    Signature(String),
}

impl Checkpoint {
    /// Parses a signed note holding a checkpoint (signatures are not checked here).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.chars().any(|c| (c as u32) < 0x20 && c != '\n') {
            return Err("the note holds control characters".into());
        }
        let (body, sigs) = text
            .split_once("\n\n")
            .ok_or("no blank line between the checkpoint and its signatures")?;
        let body = format!("{body}\n");
        let lines: Vec<&str> = body.trim_end_matches('\n').split('\n').collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err("a checkpoint has exactly three lines: origin, size, root".into());
        };
        if origin.is_empty() {
            return Err("the origin line is empty".into());
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == &"0" || !size.starts_with('0'));
        let size: u64 = size
            .parse()
            .ok()
            .filter(|n| size_ok && *n < (1u64 << 63))
            .ok_or("the tree size is not a decimal number")?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or("the root hash is not 32 bytes of standard base64")?;
        if !sigs.ends_with('\n') || sigs.len() < 2 {
            return Err("the signature lines do not end with a line feed".into());
        }
        let mut signatures = Vec::new();
        for line in sigs.trim_end_matches('\n').split('\n') {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or("a signature line starts with an em dash and a space")?;
            let (name, sig) = rest
                .split_once(' ')
                .ok_or("a signature line reads — <name> <signature>")?;
            if !valid_name(name) {
                return Err("a signature's key name is empty or holds a space or a '+'".into());
            }
            let raw = STANDARD
                .decode(sig)
                .map_err(|_| "a signature is not standard base64".to_string())?;
            if raw.len() < 5 {
                return Err("a signature is too short".into());
            }
            let mut id = [0u8; 4];
            id.copy_from_slice(&raw[..4]);
            signatures.push((name.to_string(), id, raw[4..].to_vec()));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            body,
            signatures,
        })
    }

    /// Checks that one of `keys` named as the origin signed the body.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<(), NoteProblem> {
        let named: Vec<&VerifierKey> = keys.iter().filter(|k| k.name == self.origin).collect();
        if named.is_empty() {
            return Err(NoteProblem::Malformed(format!(
                "no trusted key is named after the origin {:?}",
                self.origin
            )));
        }
        for (name, id, sig) in &self.signatures {
            for k in &named {
                if &k.name == name
                    && &k.id() == id
                    && UnparsedPublicKey::new(&ED25519, k.public)
                        .verify(self.body.as_bytes(), sig)
                        .is_ok()
                {
                    return Ok(());
                }
            }
        }
        Err(NoteProblem::Signature(format!(
            "the checkpoint of size {} has no valid signature by a trusted key",
            self.size
        )))
    }
}

/// The origin of checkpoints for a public URL: its host (no port, no scheme) and
/// `/journal`.
pub fn origin(public_url: &url::Url) -> String {
    let host = match public_url.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string().to_ascii_lowercase(),
        None => "localhost".to_string(),
    };
    format!("{host}/journal")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example (docs/journal.md): the key whose seed is the bytes 0..31.
    fn example_key() -> Ed25519KeyPair {
        let seed: Vec<u8> = (0u8..32).collect();
        Ed25519KeyPair::from_seed_unchecked(&seed).unwrap()
    }

    #[test]
    fn vkey_round_trip_and_documented_example() {
        let k = example_key();
        let vk = VerifierKey {
            name: "procura.example.fr/journal".into(),
            public: k.public_key().as_ref().try_into().unwrap(),
        };
        assert_eq!(
            vk.vkey(),
            "procura.example.fr/journal+8047cc2b+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
        );
        assert_eq!(VerifierKey::parse(&vk.vkey()).unwrap(), vk);
        for bad in [
            "",
            "a+b",
            "procura.example.fr/journal+8047cc2c+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
            "procura.example.fr/journal+8047cc2b+AgOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
            "procura.example.fr/journal+8047cc2b+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVT",
            "pro cura+8047cc2b+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        ] {
            assert!(VerifierKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signed_checkpoints_verify_and_tampering_fails() {
        let k = example_key();
        let name = "procura.example.fr/journal";
        let vk = VerifierKey {
            name: name.into(),
            public: k.public_key().as_ref().try_into().unwrap(),
        };
        let root = super::super::merkle::leaf_hash(&[7u8; 32]);
        let note = sign(&body(name, 1, &root), name, &k);
        let cp = Checkpoint::parse(&note).unwrap();
        assert_eq!((cp.size, cp.root, cp.origin.as_str()), (1, root, name));
        assert_eq!(cp.verify(std::slice::from_ref(&vk)), Ok(()));

        // Another size, another root, another key: refused.
        let forged = note.replacen("\n1\n", "\n2\n", 1);
        assert!(matches!(
            Checkpoint::parse(&forged)
                .unwrap()
                .verify(std::slice::from_ref(&vk)),
            Err(NoteProblem::Signature(_))
        ));
        let other = Ed25519KeyPair::from_seed_unchecked(&[9u8; 32]).unwrap();
        let by_other = sign(&body(name, 1, &root), name, &other);
        assert!(matches!(
            Checkpoint::parse(&by_other)
                .unwrap()
                .verify(std::slice::from_ref(&vk)),
            Err(NoteProblem::Signature(_))
        ));
        // A key of another name: malformed (the origin is nobody's).
        let elsewhere = VerifierKey {
            name: "ailleurs.example/journal".into(),
            ..vk.clone()
        };
        assert!(matches!(
            cp.verify(&[elsewhere]),
            Err(NoteProblem::Malformed(_))
        ));
        for bad in [
            "",
            "a\n1\nAAAA\n",
            &note.replace("\n\n", "\n"),
            &note.replace("\n1\n", "\n01\n"),
            &note.replace("\n1\n", "\n-1\n"),
            &note.replace('\u{2014}', "-"),
            &format!("{note}\t"),
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_documented_checkpoint_is_signed_byte_for_byte() {
        // docs/journal.md, "Keys and signed notes": Ed25519 is deterministic.
        let root = super::super::merkle::leaf_hash(
            &hex::decode("26cfa1356ad3c7db45acd1de84b4ae174a2c8472b0b01ced64310c5a4497fbad")
                .unwrap(),
        );
        let name = "procura.example.fr/journal";
        assert_eq!(
            sign(&body(name, 1, &root), name, &example_key()),
            "procura.example.fr/journal\n1\nm9m5DRUFyYaKNIqLAV3ROKuvGMjM/9HxNIf5SlVvZoA=\n\n\
             \u{2014} procura.example.fr/journal gEfMK8TnorztOVM62A7rLdrVqg272cZO9Uot5Z2p68hifCDQeiLmNDOMR+gVCD+jczHnCusNRTd6QmEeqecj2qJQrgA=\n"
        );
    }

    #[test]
    fn origin_is_the_host_and_journal() {
        let o = |u: &str| origin(&url::Url::parse(u).unwrap());
        assert_eq!(
            o("https://Procura.Example.fr:8443/x"),
            "procura.example.fr/journal"
        );
        assert_eq!(o("http://127.0.0.1:8080"), "127.0.0.1/journal");
        assert_eq!(o("http://[::1]:8080"), "[::1]/journal");
    }
}
