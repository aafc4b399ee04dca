//! Settings: built-in defaults (`config/default.toml`) < `--config FILE` < `PROCURA_*`
//! environment, validated once at start-up.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use base64::Engine;
use url::Url;

use crate::store::Backend;

const DEFAULTS: &str = include_str!("../config/default.toml");

/// A setting that is missing or malformed: the process stops with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {setting}: {message}")]
pub struct ConfigError {
    /// The setting, by its environment name.
    pub setting: String,
    /// What is expected.
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: format!("PROCURA_{}", key.to_ascii_uppercase()),
        message: message.into(),
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// UI theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    /// The built-in accessible stylesheet (default).
    Procura,
    /// The French State design system, served from `dsfr_dir` (State services only).
    Dsfr,
}

/// Validated settings.
#[derive(Clone)]
pub struct Settings {
    /// Database backend and location.
    pub database: Backend,
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Issuer and base of absolute URLs (no trailing slash).
    pub public_url: Url,
    /// Folder for demo data.
    pub data_dir: PathBuf,
    /// Connection pool size.
    pub pool_size: u32,
    /// Log format.
    pub log_format: LogFormat,
    /// Seconds granted to in-flight requests at shutdown.
    pub shutdown_timeout: u64,
    /// UI theme.
    pub theme: Theme,
    /// Folder holding DSFR's `dist` files when the theme is `dsfr`.
    pub dsfr_dir: Option<PathBuf>,
    /// Consecutive login failures that lock an account.
    pub lockout_threshold: u32,
    /// Minutes an account stays locked.
    pub lockout_minutes: u32,
    /// Failed logins allowed per client address per 15 minutes.
    pub login_rate_limit: u32,
    /// Session idle timeout, minutes.
    pub session_idle_minutes: u32,
    /// Session absolute lifetime, hours.
    pub session_absolute_hours: u32,
    /// Access token lifetime, seconds.
    pub access_token_seconds: u32,
    /// Hours a retired signing key stays in the JWKS.
    pub key_grace_hours: u32,
    /// New journal entries that call for a checkpoint.
    pub checkpoint_entries: u32,
    /// Seconds after which new entries call for a checkpoint.
    pub checkpoint_seconds: u32,
    /// Master key (32 bytes), when given.
    pub master_key: Option<[u8; 32]>,
    /// FranceConnect issuer, when configured.
    pub fc_issuer: Option<Url>,
    /// FranceConnect client id.
    pub fc_client_id: Option<String>,
    /// FranceConnect client secret.
    pub fc_client_secret: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`PROCURA_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<Cidr>,
    /// The SMTP server of the outbox (`PROCURA_SMTP_URL`), when set.
    pub smtp: Option<crate::mail::SmtpSettings>,
    /// Sender of every e-mail (`PROCURA_MAIL_FROM`).
    pub mail_from: String,
    /// Window gathering the notices of uses sent to a person, minutes.
    pub use_notice_minutes: u32,
    /// Months after a person's last mandate ended (or after they were first known, without
    /// a mandate) before their identity is erased (`PROCURA_USAGER_RETENTION_MONTHS`,
    /// docs/retention.md).
    pub usager_retention_months: u32,
    /// Months without a login before an aidant is warned (`PROCURA_INACTIVITY_WARNING_MONTHS`).
    pub inactivity_warning_months: u32,
    /// Months without a login before an aidant's account is deactivated
    /// (`PROCURA_INACTIVITY_DEACTIVATION_MONTHS`; more than the warning's).
    pub inactivity_deactivation_months: u32,
    /// Months an aidant stays accredited after the training recorded
    /// (`PROCURA_ACCREDITATION_MONTHS`, docs/accreditation.md).
    pub accreditation_months: u32,
    /// Demo mode (`serve --demo`).
    pub demo: bool,
}

impl Settings {
    /// The effective settings with every secret redacted (`"<set>"` or null), as
    /// `procura config --json` prints them and the administrator's `/admin/parametres`
    /// shows them.
    pub fn effective(&self) -> serde_json::Value {
        let set = |on: bool| on.then_some("<set>");
        serde_json::json!({
            "database_backend": self.database.name(),
            "bind": self.bind.to_string(),
            "public_url": self.public_url.as_str(),
            "data_dir": self.data_dir.display().to_string(),
            "pool_size": self.pool_size,
            "log_format": format!("{:?}", self.log_format).to_lowercase(),
            "shutdown_timeout": self.shutdown_timeout,
            "theme": format!("{:?}", self.theme).to_lowercase(),
            "master_key": set(self.master_key.is_some()),
            "fc_issuer": self.fc_issuer.as_ref().map(|u| u.as_str()),
            "fc_client_id": self.fc_client_id,
            "fc_client_secret": set(self.fc_client_secret.is_some()),
            "smtp": self.smtp.as_ref().map(|s| format!("{}:{}{}", s.host, s.port, if s.credentials.is_some() { " (identifiants <set>)" } else { "" })),
            "mail_from": self.mail_from,
            "trusted_proxies": self.trusted_proxies.len(),
            "lockout_threshold": self.lockout_threshold,
            "lockout_minutes": self.lockout_minutes,
            "login_rate_limit": self.login_rate_limit,
            "session_idle_minutes": self.session_idle_minutes,
            "session_absolute_hours": self.session_absolute_hours,
            "access_token_seconds": self.access_token_seconds,
            "key_grace_hours": self.key_grace_hours,
            "checkpoint_entries": self.checkpoint_entries,
            "checkpoint_seconds": self.checkpoint_seconds,
            "use_notice_minutes": self.use_notice_minutes,
            "usager_retention_months": self.usager_retention_months,
            "inactivity_warning_months": self.inactivity_warning_months,
            "inactivity_deactivation_months": self.inactivity_deactivation_months,
            "demo": self.demo,
        })
    }

    /// The inactivity delays ([`crate::accounts::inactivity`]).
    pub fn inactivity(&self) -> crate::accounts::inactivity::Delays {
        crate::accounts::inactivity::Delays {
            warning_months: self.inactivity_warning_months,
            deactivation_months: self.inactivity_deactivation_months,
        }
    }
}

/// An IP network (`192.0.2.0/24`, `2001:db8::/32`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses one network; None when malformed (host bits set are refused too).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        if prefix > max {
            return None;
        }
        // Host bits set (10.0.0.1/8) are a typo more often than a wish: refused.
        let bits = match addr {
            std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
            std::net::IpAddr::V6(a) => u128::from(a),
        };
        let host = u32::from(max - prefix);
        let host_bits = if host >= 128 {
            bits
        } else {
            bits & ((1u128 << host) - 1)
        };
        (host_bits == 0).then_some(Cidr { addr, prefix })
    }

    /// True when `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map(V4).unwrap_or(V6(v6)),
            v4 => v4,
        };
        let (net, ip, bits) = match (self.addr, ip) {
            (V4(n), V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
            (V6(n), V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

/// Parses `PROCURA_TRUSTED_PROXIES`: comma-separated networks, empty for none.
fn parse_proxies(s: &str) -> Result<Vec<Cidr>, ConfigError> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            Cidr::parse(p).ok_or_else(|| {
                err(
                    "trusted_proxies",
                    format!(
                        "expected comma-separated networks such as 10.0.0.0/8 or ::1, got {p:?}"
                    ),
                )
            })
        })
        .collect()
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database", &self.database.name())
            .field("bind", &self.bind)
            .field("public_url", &self.public_url.as_str())
            .field("demo", &self.demo)
            .field("master_key", &self.master_key.map(|_| "<redacted>"))
            .field("smtp", &self.smtp)
            .finish_non_exhaustive()
    }
}

/// Raw layered values, before validation.
pub struct Layers(config::Config);

impl Layers {
    /// Defaults, then `file`, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Defaults, then `file`, then the given environment (tests pass their own).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut b = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError {
                    setting: "--config".into(),
                    message: format!("{} is not a readable file", path.display()),
                });
            }
            b = b.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("PROCURA_")
                    .map(|rest| (rest.to_ascii_lowercase(), v))
            })
            .collect();
        b = b.add_source(
            config::Environment::default()
                .source(Some(env))
                .try_parsing(false),
        );
        let c = b.build().map_err(|e| ConfigError {
            setting: file.map(|p| p.display().to_string()).unwrap_or_default(),
            message: format!("cannot read: {e}"),
        })?;
        Ok(Layers(c))
    }

    fn opt(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.0.get_string(key) {
            Ok(s) if s.trim().is_empty() => Ok(None),
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(config::ConfigError::NotFound(_)) => Ok(None),
            Err(e) => Err(err(key, format!("expected a text value ({e})"))),
        }
    }

    fn req(&self, key: &str, expected: &str) -> Result<String, ConfigError> {
        self.opt(key)?
            .ok_or_else(|| err(key, format!("missing; expected {expected}")))
    }

    /// A required setting naming one of `choices`: the value it names.
    fn one_of<T: Copy, const N: usize>(
        &self,
        key: &str,
        choices: [(&str, T); N],
    ) -> Result<T, ConfigError> {
        let expected = choices.map(|(name, _)| name).join(" or ");
        let given = self.req(key, &expected)?;
        choices
            .iter()
            .find(|(name, _)| *name == given)
            .map(|(_, value)| *value)
            .ok_or_else(|| err(key, format!("expected {expected}, got {given:?}")))
    }

    /// Validates every setting. `demo` is `serve --demo`.
    pub fn validate(&self, demo: bool) -> Result<Settings, ConfigError> {
        let db = self.req(
            "database_url",
            "sqlite://PATH or postgres://USER@HOST:PORT/DB",
        )?;
        let database =
            Backend::from_url(&db).map_err(|m| err("database_url", format!("{m}, got {db:?}")))?;

        let bind_s = self.req("bind", "host:port")?;
        let bind = bind_s
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                err(
                    "bind",
                    format!("expected host:port such as 127.0.0.1:8080, got {bind_s:?}"),
                )
            })?;

        let public_s = self.req("public_url", "an http(s) URL")?;
        let public_url = parse_url("public_url", &public_s)?;
        if public_url.query().is_some() || public_url.fragment().is_some() {
            return Err(err(
                "public_url",
                "expected a URL without query or fragment",
            ));
        }
        if !crate::journal::note::valid_name(&crate::journal::note::origin(&public_url)) {
            return Err(err(
                "public_url",
                "its host names the journal's checkpoints: it cannot hold a '+'",
            ));
        }

        let data_dir = PathBuf::from(self.req("data_dir", "a folder path")?);
        let pool_size = parse_num("pool_size", &self.req("pool_size", "a number")?, 1, 256)? as u32;
        let shutdown_timeout = parse_num(
            "shutdown_timeout",
            &self.req("shutdown_timeout", "seconds")?,
            0,
            3600,
        )?;
        let log_format = self.one_of(
            "log_format",
            [("text", LogFormat::Text), ("json", LogFormat::Json)],
        )?;
        let theme = self.one_of(
            "theme",
            [("procura", Theme::Procura), ("dsfr", Theme::Dsfr)],
        )?;
        let dsfr_dir = self.opt("dsfr_dir")?.map(PathBuf::from);
        if theme == Theme::Dsfr {
            match &dsfr_dir {
                Some(d) if d.join("dsfr.min.css").is_file() => {}
                _ => {
                    return Err(err(
                        "dsfr_dir",
                        "the dsfr theme needs the dist folder of the npm package @gouvfr/dsfr (containing dsfr.min.css)",
                    ))
                }
            }
        }

        let num = |key: &str, min: u64, max: u64| -> Result<u32, ConfigError> {
            Ok(parse_num(key, &self.req(key, "a number")?, min, max)? as u32)
        };
        let lockout_threshold = num("lockout_threshold", 1, 100)?;
        let lockout_minutes = num("lockout_minutes", 1, 24 * 60)?;
        let login_rate_limit = num("login_rate_limit", 1, 100_000)?;
        let session_idle_minutes = num("session_idle_minutes", 1, 24 * 60)?;
        let session_absolute_hours = num("session_absolute_hours", 1, 24 * 7)?;
        let access_token_seconds = num("access_token_seconds", 10, 3600)?;
        let key_grace_hours = num("key_grace_hours", 0, 24 * 365)?;
        let checkpoint_entries = num("checkpoint_entries", 1, 1_000_000)?;
        let checkpoint_seconds = num("checkpoint_seconds", 1, 24 * 3600)?;
        let master_key = match self.opt("master_key")? {
            Some(s) => Some(parse_master_key(&s)?),
            None => None,
        };
        let fc_issuer = match self.opt("fc_issuer")? {
            Some(s) => Some(parse_url("fc_issuer", &s)?),
            None => None,
        };
        let fc_client_id = self.opt("fc_client_id")?;
        let fc_client_secret = self.opt("fc_client_secret")?;
        if fc_issuer.is_some() && fc_client_id.is_none() {
            return Err(err(
                "fc_client_id",
                "required when PROCURA_FC_ISSUER is set",
            ));
        }
        if fc_issuer.is_some() && fc_client_secret.is_none() {
            return Err(err(
                "fc_client_secret",
                "required when PROCURA_FC_ISSUER is set",
            ));
        }
        let trusted_proxies = match self.opt("trusted_proxies")? {
            Some(s) => parse_proxies(&s)?,
            None => Vec::new(),
        };
        let smtp = match self.opt("smtp_url")? {
            Some(s) => Some(crate::mail::SmtpSettings::parse(&s).map_err(|m| err("smtp_url", m))?),
            None => None,
        };
        let mail_from = match self.opt("mail_from")? {
            Some(s) => crate::mail::check_sender(&s).map_err(|m| err("mail_from", m))?,
            None if smtp.is_some() => {
                return Err(err(
                    "mail_from",
                    "required when PROCURA_SMTP_URL is set (the sender address, such as \"Procura <ne-pas-repondre@example.org>\")",
                ))
            }
            None => crate::mail::DEFAULT_SENDER.to_string(),
        };
        let use_notice_minutes = num("use_notice_minutes", 1, 24 * 60)?;
        let usager_retention_months = num("usager_retention_months", 1, 1200)?;
        let inactivity_warning_months = num("inactivity_warning_months", 1, 120)?;
        let inactivity_deactivation_months = num("inactivity_deactivation_months", 2, 121)?;
        let accreditation_months = num("accreditation_months", 1, 120)?;
        if inactivity_deactivation_months <= inactivity_warning_months {
            return Err(err(
                "inactivity_deactivation_months",
                "must be more than PROCURA_INACTIVITY_WARNING_MONTHS (the warning comes first)",
            ));
        }
        Ok(Settings {
            inactivity_warning_months,
            inactivity_deactivation_months,
            usager_retention_months,
            accreditation_months,
            smtp,
            mail_from,
            use_notice_minutes,
            trusted_proxies,
            database,
            bind,
            public_url,
            data_dir,
            pool_size,
            log_format,
            shutdown_timeout,
            theme,
            dsfr_dir,
            lockout_threshold,
            lockout_minutes,
            login_rate_limit,
            session_idle_minutes,
            session_absolute_hours,
            access_token_seconds,
            key_grace_hours,
            checkpoint_entries,
            checkpoint_seconds,
            master_key,
            fc_issuer,
            fc_client_id,
            fc_client_secret,
            demo,
        })
    }
}

fn parse_url(key: &str, s: &str) -> Result<Url, ConfigError> {
    let u = Url::parse(s).map_err(|_| err(key, format!("expected an http(s) URL, got {s:?}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(err(key, format!("expected an http(s) URL, got {s:?}")));
    }
    Ok(u)
}

fn parse_num(key: &str, s: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    match s.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(
            key,
            format!("expected a whole number from {min} to {max}, got {s:?}"),
        )),
    }
}

/// Decodes a master key: standard base64 of exactly 32 bytes.
pub fn parse_master_key(s: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| {
            err(
                "master_key",
                "expected base64 of 32 random bytes (openssl rand -base64 32)",
            )
        })?;
    bytes.try_into().map_err(|_| {
        err(
            "master_key",
            "expected base64 of exactly 32 bytes (openssl rand -base64 32)",
        )
    })
}

impl Settings {
    /// True when the public URL is https (HSTS, `__Host-` cookies).
    pub fn https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// Login lockout and rate-limit policy.
    pub fn login_policy(&self) -> crate::accounts::login::Policy {
        crate::accounts::login::Policy {
            threshold: self.lockout_threshold as i32,
            lock: chrono::Duration::minutes(i64::from(self.lockout_minutes)),
            per_address: i64::from(self.login_rate_limit),
            window: chrono::Duration::minutes(15),
        }
    }

    /// Session timeouts.
    pub fn session_policy(&self) -> crate::accounts::sessions::Policy {
        crate::accounts::sessions::Policy {
            idle: chrono::Duration::minutes(i64::from(self.session_idle_minutes)),
            absolute: chrono::Duration::hours(i64::from(self.session_absolute_hours)),
            second_factor: chrono::Duration::minutes(10),
        }
    }

    /// Name of the session cookie (`__Host-` prefix over https).
    pub fn session_cookie(&self) -> &'static str {
        if self.https() {
            "__Host-procura_session"
        } else {
            "procura_session"
        }
    }

    /// An absolute URL under the public URL, for `path` starting with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_networks() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8:1::1")));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "nope",
            "10.0.0.0/",
            "10.0.0.0/+8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_proxies(" 10.0.0.0/8 , ::1 ").unwrap().len(), 2);
        let e = parse_proxies("10.0.0.0/8,bogus").unwrap_err();
        assert_eq!(e.setting, "PROCURA_TRUSTED_PROXIES");
    }

    fn with(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Layers::load_with_env(
            None,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )?
        .validate(false)
    }

    #[test]
    fn defaults_are_valid() {
        let s = with(&[]).expect("defaults");
        assert_eq!(s.bind.port(), 8080);
        assert!(s.master_key.is_none());
    }

    #[test]
    fn each_malformed_setting_is_named() {
        for (k, v) in [
            ("PROCURA_DATABASE_URL", "mysql://x"),
            ("PROCURA_BIND", "nowhere"),
            ("PROCURA_PUBLIC_URL", "ftp://x"),
            ("PROCURA_MASTER_KEY", "c2hvcnQ="),
            ("PROCURA_POOL_SIZE", "zero"),
            ("PROCURA_LOG_FORMAT", "xml"),
            ("PROCURA_FC_ISSUER", "not a url"),
            ("PROCURA_FC_ISSUER", "https://fc.example.fr"),
            ("PROCURA_THEME", "dsfr"),
            ("PROCURA_TRUSTED_PROXIES", "10.0.0.0/33"),
        ] {
            let e = with(&[(k, v)])
                .err()
                .unwrap_or_else(|| panic!("{k}={v} accepted"));
            let expect = match (k, v) {
                ("PROCURA_THEME", _) => "PROCURA_DSFR_DIR",
                ("PROCURA_FC_ISSUER", "https://fc.example.fr") => "PROCURA_FC_CLIENT_ID",
                _ => k,
            };
            assert_eq!(e.setting, expect, "{e}");
        }
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = with(&[("PROCURA_BIND", "127.0.0.1:9999")]).expect("valid");
        assert_eq!(s.bind.port(), 9999);
    }
}
