//! Demo mode: a fresh machine gets a working service with fictional data.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};

use crate::accounts::users::{self, NewUser};
use crate::accounts::{structures, totp};
use crate::crypto::SecretBox;
use crate::domain::roles::Role;
use crate::store::{Store, StoreError};

/// SIRET of the demo structure (fictional, Luhn-valid).
pub const DEMO_SIRET: &str = "12345678900007";
/// Name of the demo structure.
pub const DEMO_STRUCTURE: &str = "Maison France Services de démonstration";

/// A demo login (demo mode only: these values are public).
#[derive(Debug, Clone, Copy)]
pub struct DemoAccount {
    /// Role description for the banner.
    pub label: &'static str,
    /// E-mail.
    pub email: &'static str,
    /// Name.
    pub name: &'static str,
    /// Roles.
    pub roles: &'static [Role],
    /// Password.
    pub password: &'static str,
    /// TOTP secret, base32.
    pub totp_secret: &'static str,
}

/// The demo accounts, printed in the console banner.
pub const DEMO_ACCOUNTS: [DemoAccount; 3] = [
    DemoAccount {
        label: "aidant",
        email: "aidant@demo.procura.fr",
        name: "Camille Aidant",
        roles: &[Role::Aidant],
        password: "bonjour procura demo",
        totp_secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    },
    DemoAccount {
        label: "responsable (et aidante)",
        email: "responsable@demo.procura.fr",
        name: "Dominique Responsable",
        roles: &[Role::Aidant, Role::Manager],
        password: "bonsoir procura demo",
        totp_secret: "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
    },
    DemoAccount {
        label: "auditeur",
        email: "auditeur@demo.procura.fr",
        name: "Alix Auditeur",
        roles: &[Role::Auditor],
        password: "bonne nuit procura demo",
        totp_secret: "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
    },
];

/// Seeds the demo data once (idempotent), journaled.
pub fn seed(store: &Store, now: DateTime<Utc>, secrets: &SecretBox) -> anyhow::Result<()> {
    let mut conn = store.conn()?;
    if structures::by_siret(&mut conn, DEMO_SIRET)
        .map_err(StoreError::from)?
        .is_some()
    {
        return Ok(());
    }
    crate::store::write_tx(&mut conn, |c| -> anyhow::Result<()> {
        let s = structures::create(
            c,
            now,
            "system",
            DEMO_STRUCTURE,
            DEMO_SIRET,
            "1 place de la République, 75003 Paris",
        )?;
        let mut aidant_id = String::new();
        for a in DEMO_ACCOUNTS {
            let u = users::create(
                c,
                now,
                "system",
                secrets,
                NewUser {
                    email: a.email.into(),
                    name: a.name.into(),
                    roles: a.roles.to_vec(),
                    structure: Some(s.id.clone()),
                    password: Some(a.password.into()),
                    totp_secret: Some(
                        totp::from_base32(a.totp_secret).map_err(anyhow::Error::msg)?,
                    ),
                },
            )?;
            if a.roles.contains(&Role::Aidant) {
                use crate::accounts::accreditation as acc;
                let training = acc::vouched(now, acc::DEFAULT_MONTHS, "démonstration");
                acc::record_in(c, now, "system", &u, &training)?;
            }
            if aidant_id.is_empty() {
                aidant_id = u.id;
            }
        }
        // One usager with an active mandate, so acting on behalf can be tried at once.
        let person = crate::federation::simulator::identities().remove(0);
        let demarches = crate::domain::mandate::parse_demarches(&["social", "logement"])
            .map_err(anyhow::Error::msg)?;
        crate::mandates::create_mandate(
            c,
            now,
            "system",
            &aidant_id,
            &s.id,
            &person,
            &demarches,
            crate::domain::mandate::MandateDuration::Long,
        )?;
        Ok(())
    })?;
    Ok(())
}

/// The console banner's lines about demo logins.
pub fn banner_accounts() -> String {
    let mut out = String::new();
    for a in DEMO_ACCOUNTS {
        out.push_str(&format!(
            "  {:<26} {}  mot de passe « {} »  secret TOTP {}\n",
            a.label, a.email, a.password, a.totp_secret
        ));
    }
    out
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
