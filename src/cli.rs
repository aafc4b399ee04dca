//! The `procura` command line: serve, migrate and administration commands.

use crate::error::Error;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::accounts::users::{self, NewUser};
use crate::accounts::{cards, totp};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{ConfigError, Layers, Settings};
use crate::crypto::SecretBox;
use crate::domain::roles::Role;
use crate::store::write_tx;
use crate::{journal, telemetry};

/// Procura: acting on behalf of someone, safely.
#[derive(Debug, Parser)]
#[command(name = "procura", version, about, long_about = None)]
pub struct Cli {
    /// Settings file (TOML) applied over the built-in defaults, under PROCURA_* variables.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (applies pending migrations first).
    Serve {
        /// Demo mode: SQLite under ./data, generated master key, fictional data.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Validate the settings and print the effective values (secrets redacted).
    Config {
        #[command(flatten)]
        out: Output,
    },
    /// Manage structures.
    #[command(subcommand)]
    Structure(StructureCommand),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Physical TOTP cards.
    #[command(subcommand, name = "totp-card")]
    TotpCard(CardCommand),
    /// OpenID clients (relying parties).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Signing keys of the OpenID provider.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Verify or export the journal.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Represented people (usagers).
    #[command(subcommand)]
    Usager(UsagerCommand),
}

#[derive(Debug, Subcommand)]
enum UsagerCommand {
    /// Erase a person's identity (GDPR, docs/retention.md): their mandates still active
    /// are revoked first; ids, digests and the journal stay, and still verify.
    Erase {
        /// The usager's id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; its secret is printed once.
    Create {
        #[command(flatten)]
        flags: ClientFlags,
        #[command(flatten)]
        out: Output,
    },
    /// List the registered clients and their settings (never their secrets).
    List {
        #[command(flatten)]
        out: Output,
    },
    /// Change a client's settings; only the flags given change.
    Update {
        /// The client to change.
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        flags: ClientFlags,
        #[command(flatten)]
        out: Output,
    },
}

/// The settings of a client, for `create` and `update`.
#[derive(Debug, Args)]
struct ClientFlags {
    /// Name shown to aidants (required at creation).
    #[arg(long)]
    name: Option<String>,
    /// Exact redirect URI (repeat for several; at least one at creation).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Token endpoint authentication (default client_secret_basic).
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post", "none"])]
    auth_method: Option<String>,
    /// A démarche the client serves (repeat for several); or --all-demarches.
    #[arg(
        long = "demarche",
        value_name = "CODE",
        conflicts_with = "all_demarches"
    )]
    demarches: Vec<String>,
    /// The client serves every démarche.
    #[arg(long)]
    all_demarches: bool,
    /// PKCE: required (default), or optional for a client with a secret.
    #[arg(long, value_parser = ["required", "optional"])]
    pkce: Option<String>,
    /// ID token signature: ES256 (default) or RS256 (needs `procura keys import-rsa`).
    #[arg(long, value_parser = ["ES256", "RS256"])]
    id_token_alg: Option<String>,
    /// Userinfo as JSON (none, the default) or as a JWT signed with ES256 or RS256.
    #[arg(long, value_parser = ["none", "ES256", "RS256"])]
    userinfo_alg: Option<String>,
}

impl ClientFlags {
    /// The settings given (unknown démarche codes refused).
    fn settings(
        self,
        creating: bool,
    ) -> Result<crate::federation::provider::ClientSettings, String> {
        use crate::domain::mandate::DemarcheSet;
        let demarches = if self.all_demarches {
            Some(DemarcheSet::All)
        } else if self.demarches.is_empty() {
            None
        } else {
            Some(DemarcheSet::parse(&self.demarches)?)
        };
        let list = |v: Vec<String>| (creating || !v.is_empty()).then_some(v);
        Ok(crate::federation::provider::ClientSettings {
            name: self.name,
            redirect_uris: (!self.redirect_uris.is_empty()).then_some(self.redirect_uris),
            post_logout_redirect_uris: list(self.post_logout_redirect_uris),
            auth_method: self.auth_method,
            demarches,
            pkce: self.pkce,
            id_token_alg: self.id_token_alg,
            userinfo_alg: self.userinfo_alg,
        })
    }
}

/// A client as `client list --json` shows it.
fn client_json(c: &crate::federation::provider::Client) -> serde_json::Value {
    serde_json::json!({
        "client_id": c.id,
        "name": c.name,
        "active": c.active,
        "auth_method": c.auth_method,
        "redirect_uris": c.redirects(),
        "post_logout_redirect_uris": c.post_logout_redirects(),
        "demarches": c.demarches().describe(),
        "pkce": c.pkce,
        "id_token_alg": c.id_token_alg,
        "userinfo_alg": c.userinfo_alg,
        "created_at": c.created_at.and_utc().to_rfc3339(),
    })
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new key sign; older keys stay in the JWKS for the grace period.
    Rotate {
        #[command(flatten)]
        out: Output,
    },
    /// Import an RSA private key (PKCS#8, PEM or DER, 2048 bits or more) for RS256 clients.
    ImportRsa {
        /// The key file (for example from `openssl genpkey -algorithm RSA`).
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; without a password (or TOTP secret) prints a one-time enrolment link.
    Create {
        /// E-mail (unique, case-insensitive).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Role: aidant, manager, auditor, admin or trainer (repeat for several).
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// Structure id to join (becomes the current structure).
        #[arg(long)]
        structure: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Import an existing authenticator's secret (base32).
        #[arg(long, value_name = "BASE32")]
        totp_secret: Option<String>,
        /// For an aidant: the day its training was completed (YYYY-MM-DD). Without it the
        /// operator vouches for the training, dated today (docs/accreditation.md).
        #[arg(long, value_name = "YYYY-MM-DD", requires = "training_reference")]
        training_date: Option<String>,
        /// For an aidant: the training's reference (with --training-date).
        #[arg(long, value_name = "REF", requires = "training_date")]
        training_reference: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Record an aidant's completed training: the account is accredited (habilité) for
    /// PROCURA_ACCREDITATION_MONTHS from that day (journaled).
    Accredit {
        /// E-mail of the aidant's account.
        #[arg(long)]
        email: String,
        /// The day the training was completed (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: String,
        /// The training's reference (certificate or session number).
        #[arg(long, value_name = "REF")]
        reference: String,
        #[command(flatten)]
        out: Output,
    },
    /// Deactivate an account: it cannot log in and its sessions end at once.
    Deactivate {
        /// E-mail of the account.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum CardCommand {
    /// Import cards from a CSV file of `serial,seed` rows (seed in base32 or hex).
    Import {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

#[derive(Debug, Subcommand)]
enum StructureCommand {
    /// Create a structure.
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// SIRET (14 digits, Luhn-checked).
        #[arg(long)]
        siret: String,
        /// Postal address.
        #[arg(long, default_value = "")]
        address: String,
        #[command(flatten)]
        out: Output,
    },
    /// Choose the démarches a structure offers (its aidants create mandates and act for
    /// these only).
    Update {
        /// Structure id.
        #[arg(long)]
        id: String,
        /// A démarche the structure offers (repeat for several); or --all-demarches.
        #[arg(
            long = "demarche",
            value_name = "CODE",
            conflicts_with = "all_demarches"
        )]
        demarches: Vec<String>,
        /// The structure offers every démarche.
        #[arg(long)]
        all_demarches: bool,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Verify the whole chain: exit 0 when intact, 1 naming the first bad entry.
    Verify {
        /// Verify this export (`-`: standard input) instead of the database, as
        /// docs/verify_journal.py does.
        #[arg(long, value_name = "FILE")]
        export: Option<std::path::PathBuf>,
        /// Verify this excerpt (`-`: standard input; from /audit/export or
        /// /gestion/journal/export) instead, as docs/verify_journal.py --excerpt does:
        /// against --key, or else the key the excerpt names.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["export", "checkpoint"])]
        excerpt: Option<std::path::PathBuf>,
        /// Also check this signed checkpoint kept elsewhere (repeatable): it catches a
        /// journal cut short with its head rolled back.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<std::path::PathBuf>,
        /// Trust this verifier key (C2SP vkey, or @FILE with one per line) instead of the
        /// database's keys (repeatable; needed with --export and --checkpoint).
        #[arg(long, value_name = "VKEY")]
        key: Vec<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Make a signed checkpoint of the journal now (if entries were added since the last
    /// one) and print the latest.
    Checkpoint {
        #[command(flatten)]
        out: Output,
    },
    /// Retire the key that signs checkpoints and make a new one (journaled).
    RotateKey {
        #[command(flatten)]
        out: Output,
    },
    /// Export entries as JSON Lines: a header line, then one entry a line (docs/journal.md).
    Export {
        /// First sequence number to export (included).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        since: i64,
    },
}

#[derive(Debug, Args)]
struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command line; returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let demo = matches!(cli.command, Command::Serve { demo: true });
    let settings = match load_settings(cli.config.as_deref(), &cli.command, demo) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let level = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    telemetry::init(settings.log_format, level);
    let clock: SharedClock = Arc::new(SystemClock);
    match execute(cli.command, settings, clock) {
        Ok(code) => code,
        // The reader went away (`procura journal export | head`): nothing is wrong
        // with the command, and no one is left to read a message.
        Err(e) if closed_pipe(&e) => 0,
        Err(e) => {
            eprintln!("erreur : {e:#}");
            1
        }
    }
}

/// True when `e` comes from writing to a pipe whose reader has closed it.
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn load_settings(
    file: Option<&std::path::Path>,
    command: &Command,
    demo: bool,
) -> Result<Settings, ConfigError> {
    let mut settings = Layers::load(file)?.validate(demo)?;
    let demo_key = settings.data_dir.join("master.key");
    if settings.master_key.is_none()
        && !matches!(command, Command::Serve { .. })
        && demo_key.is_file()
    {
        // Administration commands run beside a demo find its key.
        settings.master_key =
            Some(
                crate::demo::master_key(&settings.data_dir).map_err(|e| ConfigError {
                    setting: "PROCURA_MASTER_KEY".into(),
                    message: e.to_string(),
                })?,
            );
    }
    if let Command::Serve { .. } = command {
        if settings.master_key.is_none() {
            if demo {
                let key = crate::demo::master_key(&settings.data_dir).map_err(|e| ConfigError {
                    setting: "PROCURA_MASTER_KEY".into(),
                    message: format!("cannot create the demo key: {e}"),
                })?;
                settings.master_key = Some(key);
            } else {
                return Err(ConfigError {
                    setting: "PROCURA_MASTER_KEY".into(),
                    message: "required outside demo mode; expected base64 of 32 random bytes \
                              (openssl rand -base64 32)"
                        .into(),
                });
            }
        }
    }
    Ok(settings)
}

fn execute(command: Command, settings: Settings, clock: SharedClock) -> anyhow::Result<i32> {
    crate::notify::install(&settings);
    match command {
        Command::Serve { .. } => serve(settings, clock),
        Command::Config { out } => {
            let v = settings.effective();
            if out.json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
            Ok(0)
        }
        Command::Migrate => {
            let mut conn = crate::store::connect(&settings.database)?;
            let applied = crate::store::run_migrations(&mut conn)?;
            if applied.is_empty() {
                println!(
                    "Aucune migration en attente ({}).",
                    settings.database.name()
                );
            } else {
                for m in applied {
                    println!("Migration appliquée : {m}");
                }
            }
            Ok(0)
        }
        Command::Structure(StructureCommand::Create {
            name,
            siret,
            address,
            out,
        }) => {
            let mut conn = open_migrated(&settings)?;
            let now = clock.now();
            match write_tx(&mut conn, |c| {
                crate::accounts::structures::create(c, now, "cli", &name, &siret, &address)
            }) {
                Ok(s) => {
                    if out.json {
                        println!("{}", serde_json::json!({"id": s.id}));
                    } else {
                        println!("Structure créée : {} ({})", s.id, s.name);
                    }
                    Ok(0)
                }
                Err(
                    e @ (Error::StructureName
                    | Error::Siret
                    | Error::DuplicateSiret
                    | Error::Address),
                ) => {
                    report_refusal(out.json, &e.to_string());
                    Ok(2)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Structure(StructureCommand::Update {
            id,
            demarches,
            all_demarches,
            out,
        }) => structure_update(&settings, &clock, &id, &demarches, all_demarches, out),
        Command::User(UserCommand::Create {
            email,
            name,
            roles,
            structure,
            password_stdin,
            totp_secret,
            training_date,
            training_reference,
            out,
        }) => {
            use crate::accounts::accreditation;
            let aidant = roles.contains(&Role::Aidant);
            let now = clock.now();
            let months = settings.accreditation_months;
            let training = match (aidant, training_date, training_reference) {
                (false, None, None) => None,
                (false, ..) => {
                    report_refusal(
                        out.json,
                        "--training-date et --training-reference ne valent que pour un compte aidant",
                    );
                    return Ok(2);
                }
                (true, Some(date), Some(reference)) => {
                    let t = accreditation::NewTraining {
                        email: email.clone(),
                        completed_on: date,
                        reference,
                    };
                    match accreditation::check(&t, now, months) {
                        Ok(c) => Some(c),
                        Err(r) => {
                            report_refusal(
                                out.json,
                                &format!(
                                    "--training-{} : {}",
                                    if r.field == "reference" {
                                        "reference"
                                    } else {
                                        "date"
                                    },
                                    r.message
                                ),
                            );
                            return Ok(2);
                        }
                    }
                }
                (true, ..) => Some(accreditation::vouched(
                    now,
                    months,
                    accreditation::OPERATOR_REFERENCE,
                )),
            };
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let p = line.trim_end_matches(['\n', '\r']).to_string();
                Some(p)
            } else {
                None
            };
            let totp_secret = match totp_secret.as_deref().map(totp::from_base32).transpose() {
                Ok(s) => s,
                Err(m) => {
                    report_refusal(out.json, &format!("--totp-secret : {m}"));
                    return Ok(2);
                }
            };
            if totp_secret.is_some() && settings.master_key.is_none() {
                report_refusal(
                    out.json,
                    "PROCURA_MASTER_KEY est nécessaire pour chiffrer le secret TOTP",
                );
                return Ok(2);
            }
            let mut conn = open_migrated(&settings)?;
            let secrets = SecretBox::new(settings.master_key);
            let needs_link = password.is_none() || totp_secret.is_none();
            let result = write_tx(&mut conn, |c| {
                let user = users::create(
                    c,
                    now,
                    "cli",
                    &secrets,
                    NewUser {
                        email,
                        name,
                        roles,
                        structure: structure.clone(),
                        password,
                        totp_secret,
                    },
                )?;
                let user = match &training {
                    Some(t) => accreditation::record_in(c, now, "cli", &user, t)?.user,
                    None => user,
                };
                let token = if needs_link {
                    Some(users::issue_enrolment(
                        c,
                        now,
                        "cli",
                        structure.as_deref(),
                        &user.id,
                    )?)
                } else {
                    None
                };
                Ok::<_, Error>((user, token))
            });
            match result {
                Ok((user, token)) => {
                    let link = token.map(|t| settings.url(&format!("/activation/{t}")));
                    if out.json {
                        let mut v = serde_json::json!({"id": user.id});
                        if let Some(u) = user.accredited_until {
                            v["accredited_until"] =
                                serde_json::Value::String(u.and_utc().to_rfc3339());
                        }
                        if let Some(l) = &link {
                            v["enrolment_url"] = serde_json::Value::String(l.clone());
                        }
                        println!("{v}");
                    } else {
                        println!("Compte créé : {} ({})", user.id, user.email);
                        if let Some(l) = link {
                            println!("Lien d’activation (valable 48 h, usage unique) : {l}");
                        }
                    }
                    Ok(0)
                }
                Err(e) if e.is_refusal() => {
                    report_refusal(out.json, &e.to_string());
                    Ok(2)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::User(UserCommand::Accredit {
            email,
            date,
            reference,
            out,
        }) => {
            use crate::accounts::accreditation;
            let mut conn = open_migrated(&settings)?;
            let t = accreditation::NewTraining {
                email,
                completed_on: date,
                reference,
            };
            match accreditation::record(
                &mut conn,
                clock.now(),
                "cli",
                settings.accreditation_months,
                &t,
            )? {
                Ok(r) => {
                    let until = r.training.expires_at.and_utc().to_rfc3339();
                    if out.json {
                        println!(
                            "{}",
                            serde_json::json!({
                                "id": r.user.id,
                                "training": r.training.id,
                                "accredited_until": until,
                            })
                        );
                    } else {
                        println!(
                            "Formation enregistrée : {} est habilité jusqu’au {}.",
                            r.user.email,
                            accreditation::Standing::Accredited(r.training.expires_at)
                                .last_day()
                                .unwrap_or_default()
                        );
                    }
                    Ok(0)
                }
                Err(r) => {
                    let flag = match r.field {
                        "email" => "--email",
                        "completed_on" => "--date",
                        _ => "--reference",
                    };
                    report_refusal(out.json, &format!("{flag} : {}", r.message));
                    Ok(2)
                }
            }
        }
        Command::User(UserCommand::Deactivate { email, out }) => {
            let mut conn = open_migrated(&settings)?;
            let now = clock.now();
            let Some(user) = users::find_by_email(&mut conn, &email)? else {
                report_refusal(out.json, "Compte introuvable.");
                return Ok(2);
            };
            write_tx(&mut conn, |c| {
                users::set_active(c, now, "cli", None, &user.id, false)
            })?;
            if out.json {
                println!("{}", serde_json::json!({"id": user.id, "active": false}));
            } else {
                println!("Compte désactivé : {}", user.email);
            }
            Ok(0)
        }
        Command::Usager(UsagerCommand::Erase { id, out }) => {
            let mut conn = open_migrated(&settings)?;
            let now = clock.now();
            let reason = crate::person::erase::Reason::Request;
            match crate::person::erase::erase(&mut conn, now, "cli", &id, reason) {
                Ok(done) => {
                    if out.json {
                        println!("{}", serde_json::to_string(&done)?);
                    } else if done.erased {
                        println!(
                            "Identité effacée : {} ({} mandat(s) révoqué(s) d’abord, {} courriel(s) retiré(s) de la file)",
                            done.usager_id, done.mandates_revoked, done.mails_removed
                        );
                    } else {
                        println!(
                            "Identité déjà effacée le {} : rien n’a changé ({}).",
                            crate::domain::french::day_and_time(done.at),
                            done.usager_id
                        );
                    }
                    Ok(0)
                }
                Err(Error::NotFound) => {
                    report_refusal(out.json, "Aucune personne n’a cet identifiant.");
                    Ok(2)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::TotpCard(CardCommand::Import { file, out }) => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    report_refusal(out.json, &format!("{} : {e}", file.display()));
                    return Ok(2);
                }
            };
            if !master_key_present(
                &settings,
                out.json,
                "PROCURA_MASTER_KEY est nécessaire pour chiffrer les graines des cartes",
            ) {
                return Ok(2);
            }
            let rows = match cards::parse_csv(&text) {
                Ok(r) => r,
                Err(e) => {
                    report_refusal(out.json, &e.to_string());
                    return Ok(2);
                }
            };
            let mut conn = open_migrated(&settings)?;
            let now = clock.now();
            let secrets = SecretBox::new(settings.master_key);
            match write_tx(&mut conn, |c| cards::import(c, now, "cli", &secrets, &rows)) {
                Ok(n) => {
                    if out.json {
                        println!("{}", serde_json::json!({"imported": n}));
                    } else {
                        println!("Cartes importées : {n}");
                    }
                    Ok(0)
                }
                Err(Error::CsvRow { line, message }) => {
                    report_refusal(out.json, &format!("line {line}: {message}"));
                    Ok(2)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Client(ClientCommand::List { out }) => {
            let mut conn = open_migrated(&settings)?;
            let list = crate::federation::provider::clients(&mut conn)?;
            if out.json {
                let all: Vec<_> = list.iter().map(client_json).collect();
                println!("{}", serde_json::Value::Array(all));
            } else {
                for c in &list {
                    println!(
                        "{}\t{}\t{}\tdémarches : {}",
                        c.id,
                        c.name,
                        if c.active { "actif" } else { "inactif" },
                        c.demarches().describe()
                    );
                }
            }
            Ok(0)
        }
        Command::Client(ClientCommand::Create { flags, out }) => {
            client_change(&settings, &clock, None, flags, out)
        }
        Command::Client(ClientCommand::Update {
            client_id,
            flags,
            out,
        }) => client_change(&settings, &clock, Some(&client_id), flags, out),
        Command::Keys(KeysCommand::Rotate { out }) => {
            if !master_key_present(
                &settings,
                out.json,
                "PROCURA_MASTER_KEY est nécessaire pour chiffrer les clés",
            ) {
                return Ok(2);
            }
            let mut conn = open_migrated(&settings)?;
            let now = clock.now();
            let secrets = SecretBox::new(settings.master_key);
            let kid = write_tx(&mut conn, |c| {
                crate::federation::provider::rotate_keys(c, now, &secrets, "cli")
            })?;
            if out.json {
                println!("{}", serde_json::json!({"kid": kid}));
            } else {
                println!(
                    "Nouvelle clé de signature : {kid} (les anciennes restent publiées {} h)",
                    settings.key_grace_hours
                );
            }
            Ok(0)
        }
        Command::Keys(KeysCommand::ImportRsa { file, out }) => {
            if !master_key_present(
                &settings,
                out.json,
                "PROCURA_MASTER_KEY est nécessaire pour chiffrer les clés",
            ) {
                return Ok(2);
            }
            let raw = match std::fs::read(&file) {
                Ok(r) => r,
                Err(e) => {
                    report_refusal(out.json, &format!("{} : {e}", file.display()));
                    return Ok(2);
                }
            };
            let der = match crate::federation::provider::pkcs8_der(&raw) {
                Ok(d) => d,
                Err(e) => {
                    report_refusal(out.json, &e.to_string());
                    return Ok(2);
                }
            };
            let mut conn = open_migrated(&settings)?;
            let now = clock.now();
            let secrets = SecretBox::new(settings.master_key);
            match write_tx(&mut conn, |c| {
                crate::federation::provider::import_rsa_key(c, now, &secrets, "cli", &der)
            }) {
                Ok(kid) => {
                    if out.json {
                        println!("{}", serde_json::json!({"kid": kid}));
                    } else {
                        println!("Clé RSA importée : {kid}");
                    }
                    Ok(0)
                }
                Err(Error::Invalid(m)) => {
                    report_refusal(out.json, &m);
                    Ok(2)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Journal(JournalCommand::Verify {
            export,
            excerpt,
            checkpoint,
            key,
            out,
        }) => {
            let checks = match read_checks(&checkpoint, &key) {
                Ok(c) => c,
                Err(why) => {
                    eprintln!("erreur : {why}");
                    return Ok(2);
                }
            };
            if let Some(path) = excerpt {
                return verify_excerpt_file(&path, checks.keys, out.json);
            }
            let report = match export {
                // An export that cannot be read is a usage error (exit 2), as for
                // docs/verify_journal.py.
                Some(path) => {
                    if !checks.notes.is_empty() && checks.keys.is_none() {
                        eprintln!("erreur : --checkpoint avec --export demande --key (la clé de vérification)");
                        return Ok(2);
                    }
                    let read = if path.as_os_str() == "-" {
                        journal::verify_export_with(&mut std::io::stdin().lock(), checks)
                    } else {
                        std::fs::File::open(&path).and_then(|f| {
                            journal::verify_export_with(&mut std::io::BufReader::new(f), checks)
                        })
                    };
                    match read {
                        Ok(report) => report,
                        Err(e) => {
                            eprintln!("erreur : impossible de vérifier {} : {e}", path.display());
                            return Ok(2);
                        }
                    }
                }
                None => journal::verify_with(&mut open_migrated(&settings)?, checks, &|_| ())?,
            };
            if out.json {
                println!("{}", serde_json::to_string(&report)?);
            } else if let Some(p) = &report.problem {
                println!(
                    "Journal ALTÉRÉ : première entrée en défaut n° {} ({:?}) : {}",
                    p.seq, p.kind, p.message
                );
            } else {
                println!(
                    "Journal intact : {} entrées vérifiées, dernière n° {}, empreinte {}",
                    report.entries, report.last_seq, report.last_hash
                );
            }
            Ok(if report.intact { 0 } else { 1 })
        }
        Command::Journal(JournalCommand::Checkpoint { out }) => {
            if !master_key_present(
                &settings,
                out.json,
                "PROCURA_MASTER_KEY est nécessaire pour signer les points de contrôle",
            ) {
                return Ok(2);
            }
            let mut conn = open_migrated(&settings)?;
            let now = clock.now();
            let secrets = SecretBox::new(settings.master_key);
            let origin = journal::note::origin(&settings.public_url);
            let (latest, made) =
                crate::operator::checkpoint_now(&mut conn, now, &secrets, &origin)?;
            match latest {
                None => {
                    report_refusal(out.json, "le journal est vide : aucun point de contrôle");
                    Ok(1)
                }
                Some(cp) if out.json => {
                    println!(
                        "{}",
                        serde_json::json!({
                            "size": cp.size,
                            "root": cp.root,
                            "key_id": cp.key_id,
                            "note": cp.note,
                            "created": made,
                        })
                    );
                    Ok(0)
                }
                Some(cp) => {
                    print!("{}", cp.note);
                    Ok(0)
                }
            }
        }
        Command::Journal(JournalCommand::RotateKey { out }) => {
            if !master_key_present(
                &settings,
                out.json,
                "PROCURA_MASTER_KEY est nécessaire pour chiffrer les clés",
            ) {
                return Ok(2);
            }
            let mut conn = open_migrated(&settings)?;
            let now = clock.now();
            let secrets = SecretBox::new(settings.master_key);
            // The new key keeps the current one's name: this command may run without the
            // service's PROCURA_PUBLIC_URL (only a start-up renames the key, after its host).
            let current = crate::store::read_tx(&mut conn, journal::checkpoint::current_key)?;
            let origin = current
                .map(|k| k.name)
                .unwrap_or_else(|| journal::note::origin(&settings.public_url));
            let vk = write_tx(&mut conn, |c| {
                journal::checkpoint::rotate_key(
                    c,
                    now,
                    &secrets,
                    &origin,
                    "cli",
                    "journal.key_rotated",
                )
            })?;
            if out.json {
                println!(
                    "{}",
                    serde_json::json!({"key_id": vk.id_hex(), "vkey": vk.vkey()})
                );
            } else {
                println!("Nouvelle clé des points de contrôle : {}", vk.vkey());
            }
            Ok(0)
        }
        Command::Journal(JournalCommand::Export { since }) => {
            let mut conn = open_migrated(&settings)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            journal::export(&mut conn, since, &mut out)?;
            out.flush()?;
            Ok(0)
        }
    }
}

/// `client create` (no id) or `client update`: prints the client id and, when one was
/// made, its secret (once).
fn client_change(
    settings: &Settings,
    clock: &SharedClock,
    id: Option<&str>,
    flags: ClientFlags,
    out: Output,
) -> anyhow::Result<i32> {
    use crate::federation::provider::{create_client, update_client};
    let wanted = match flags.settings(id.is_none()) {
        Ok(w) => w,
        Err(m) => {
            report_refusal(out.json, &m);
            return Ok(2);
        }
    };
    let mut conn = open_migrated(settings)?;
    let now = clock.now();
    let done = write_tx(&mut conn, |c| match id {
        None => create_client(c, now, "cli", &wanted),
        Some(id) => update_client(c, now, "cli", id, &wanted),
    });
    match done {
        Ok((client, secret)) => {
            if out.json {
                let mut v = client_json(&client);
                v["client_secret"] = serde_json::json!(secret);
                println!("{v}");
            } else {
                match id {
                    None => println!("Client enregistré : {}", client.id),
                    Some(_) => println!("Client modifié : {}", client.id),
                }
                if let Some(s) = secret {
                    println!("Secret (affiché une seule fois) : {s}");
                }
            }
            Ok(0)
        }
        Err(Error::Invalid(m)) => {
            report_refusal(out.json, &m);
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}

/// `structure update`: sets the démarches a structure offers; prints its id and démarches.
fn structure_update(
    settings: &Settings,
    clock: &SharedClock,
    id: &str,
    demarches: &[String],
    all: bool,
    out: Output,
) -> anyhow::Result<i32> {
    use crate::domain::mandate::DemarcheSet;
    let set = if all {
        DemarcheSet::All
    } else if demarches.is_empty() {
        report_refusal(
            out.json,
            "indiquez les démarches proposées : --demarche CODE (une ou plusieurs fois) \
             ou --all-demarches",
        );
        return Ok(2);
    } else {
        match DemarcheSet::parse(demarches) {
            Ok(set) => set,
            Err(m) => {
                report_refusal(out.json, &m);
                return Ok(2);
            }
        }
    };
    let mut conn = open_migrated(settings)?;
    match crate::accounts::structures::set_demarches(&mut conn, clock.now(), "cli", id, &set) {
        Ok(s) => {
            let offered = s.demarches().describe();
            if out.json {
                println!("{}", serde_json::json!({"id": s.id, "demarches": offered}));
            } else {
                println!(
                    "Structure modifiée : {} ({}), démarches : {offered}",
                    s.id, s.name
                );
            }
            Ok(0)
        }
        Err(e) if e.is_refusal() => {
            report_refusal(out.json, &e.to_string());
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}

/// `journal verify --excerpt FILE`: the verdict of docs/journal.md, "Excerpts".
fn verify_excerpt_file(
    path: &std::path::Path,
    keys: Option<Vec<journal::note::VerifierKey>>,
    json: bool,
) -> anyhow::Result<i32> {
    let own_key = keys.is_none();
    let read = if path.as_os_str() == "-" {
        journal::excerpt::verify_excerpt(&mut std::io::stdin().lock(), keys)
    } else {
        std::fs::File::open(path)
            .and_then(|f| journal::excerpt::verify_excerpt(&mut std::io::BufReader::new(f), keys))
    };
    let report = match read {
        Ok(r) => r,
        Err(e) => {
            eprintln!("erreur : impossible de vérifier {} : {e}", path.display());
            return Ok(2);
        }
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        match &report.problem {
            Some(p) => println!(
                "Extrait ALTÉRÉ : problème à l’entrée n° {} ({:?}) : {}",
                p.seq, p.kind, p.message
            ),
            None => println!(
                "Extrait intact : {} entrées, chacune incluse dans le point de contrôle signé de taille {}",
                report.entries,
                report.size.unwrap_or_default()
            ),
        }
        if own_key && report.size.is_some() {
            println!("Attention : sans --key, le point de contrôle a été vérifié avec la clé que l’extrait indique lui-même ; vérifiez cette clé par un autre moyen (GET /journal/key, ou une clé conservée ailleurs).");
        }
    }
    Ok(if report.intact { 0 } else { 1 })
}

/// The checkpoints and keys named by `journal verify --checkpoint … --key …`, read as
/// docs/verify_journal.py reads them: a checkpoint file that is not UTF-8 is a malformed
/// checkpoint; `--key` is one vkey as given, `@FILE` one per line (blank lines and white
/// space around a key ignored, at least one key).
fn read_checks(
    files: &[std::path::PathBuf],
    keys: &[String],
) -> Result<journal::Checkpoints, String> {
    let mut notes = Vec::new();
    for f in files {
        let bytes =
            std::fs::read(f).map_err(|e| format!("impossible de lire {} : {e}", f.display()))?;
        let text = String::from_utf8(bytes).map_err(|_| "the note is not UTF-8".to_string());
        notes.push((format!("checkpoint {}", f.display()), text));
    }
    // Python's str.strip(): Unicode white space and the separators U+001C to U+001F.
    let blank = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    let mut trusted = Vec::new();
    for k in keys {
        let lines: Vec<String> = match k.strip_prefix('@') {
            Some(path) => {
                let bytes =
                    std::fs::read(path).map_err(|e| format!("impossible de lire {path} : {e}"))?;
                let text =
                    String::from_utf8(bytes).map_err(|_| format!("{path} n’est pas en UTF-8"))?;
                let lines: Vec<String> = text
                    .split('\n')
                    .map(|l| l.trim_matches(blank).to_string())
                    .filter(|l| !l.is_empty())
                    .collect();
                if lines.is_empty() {
                    return Err(format!("{path} ne contient aucune clé"));
                }
                lines
            }
            None => vec![k.clone()],
        };
        for line in lines {
            trusted.push(
                journal::note::VerifierKey::parse(&line)
                    .map_err(|why| format!("clé de vérification refusée ({line:?}) : {why}"))?,
            );
        }
    }
    Ok(journal::Checkpoints {
        notes,
        keys: (!keys.is_empty()).then_some(trusted),
    })
}

/// True when the master key is set; otherwise reports `why` it is needed (exit 2 follows).
fn master_key_present(settings: &Settings, json: bool, why: &str) -> bool {
    if settings.master_key.is_none() {
        report_refusal(json, why);
    }
    settings.master_key.is_some()
}

fn report_refusal(json: bool, message: &str) {
    if json {
        println!("{}", serde_json::json!({"error": message}));
    } else {
        eprintln!("refusé : {message}");
    }
}

/// One migrated connection for an administration command. No pool: a pool's background
/// threads (connection reaper, replenishing) can still be inside libpq when the process
/// exits, which has been seen to kill the process with a signal after its work was done.
fn open_migrated(settings: &Settings) -> anyhow::Result<crate::store::DbConn> {
    let mut conn = crate::store::connect(&settings.database)?;
    crate::store::run_migrations(&mut conn)?;
    Ok(conn)
}

fn serve(settings: Settings, clock: SharedClock) -> anyhow::Result<i32> {
    let demo = settings.demo;
    let public = settings.url("/");
    let backend = settings.database.clone();
    let app = crate::web::Application::build(settings, clock)?;
    if demo {
        let db = match &backend {
            crate::store::Backend::Sqlite(p) => p.display().to_string(),
            crate::store::Backend::Postgres(_) => "PostgreSQL".into(),
        };
        println!(
            "\n  Procura — MODE DÉMONSTRATION (données fictives)\n  \
             Adresse : {public}\n  Base de données : {db}\n  Structure : {}\n\n  \
             Comptes de démonstration (ajoutez le secret TOTP à une application d’authentification) :\n{}",
            crate::demo::DEMO_STRUCTURE,
            crate::demo::banner_accounts()
        );
    }
    tracing::info!(port = app.port(), url = %public, "service ready");
    actix_web::rt::System::new().block_on(app.run_until_stopped())?;
    Ok(0)
}
