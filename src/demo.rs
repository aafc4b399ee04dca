//! Demo mode: a fresh machine gets a working service with fictional data.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};

use crate::accounts::structures;
use crate::store::{Store, StoreError};

/// SIRET of the demo structure (fictional, Luhn-valid).
pub const DEMO_SIRET: &str = "12345678900007";
/// Name of the demo structure.
pub const DEMO_STRUCTURE: &str = "Maison France Services de démonstration";

/// Seeds the demo data once (idempotent), journaled.
pub fn seed(store: &Store, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut conn = store.conn()?;
    if structures::by_siret(&mut conn, DEMO_SIRET)
        .map_err(StoreError::from)?
        .is_some()
    {
        return Ok(());
    }
    crate::store::write_tx(&mut conn, |c| {
        structures::create(
            c,
            now,
            "system",
            DEMO_STRUCTURE,
            DEMO_SIRET,
            "1 place de la République, 75003 Paris",
        )
    })?;
    Ok(())
}

/// Reads the demo master key from `dir/master.key`, creating it (mode 600) if absent.
pub fn master_key(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        return crate::config::parse_master_key(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message));
    }
    std::fs::create_dir_all(dir)?;
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let mut f = open_private(&path)?;
    writeln!(
        f,
        "{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )?;
    Ok(key)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
