//! The `procura` command line: serve, migrate and administration commands.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::clock::{SharedClock, SystemClock};
use crate::config::{ConfigError, Layers, Settings};
use crate::store::{write_tx, Store};
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
    /// Verify or export the journal.
    #[command(subcommand)]
    Journal(JournalCommand),
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
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Verify the whole chain: exit 0 when intact, 1 naming the first bad entry.
    Verify {
        #[command(flatten)]
        out: Output,
    },
    /// Export entries as JSON Lines (one entry a line, docs/journal.md).
    Export {
        /// First sequence number to export.
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
        Err(e) => {
            eprintln!("erreur : {e:#}");
            1
        }
    }
}

fn load_settings(
    file: Option<&std::path::Path>,
    command: &Command,
    demo: bool,
) -> Result<Settings, ConfigError> {
    let mut settings = Layers::load(file)?.validate(demo)?;
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
    match command {
        Command::Serve { .. } => serve(settings, clock),
        Command::Config { out } => {
            let v = serde_json::json!({
                "database_backend": settings.database.name(),
                "bind": settings.bind.to_string(),
                "public_url": settings.public_url.as_str(),
                "data_dir": settings.data_dir.display().to_string(),
                "pool_size": settings.pool_size,
                "log_format": format!("{:?}", settings.log_format).to_lowercase(),
                "shutdown_timeout": settings.shutdown_timeout,
                "theme": format!("{:?}", settings.theme).to_lowercase(),
                "master_key": settings.master_key.map(|_| "<set>"),
                "fc_issuer": settings.fc_issuer.as_ref().map(|u| u.as_str()),
                "fc_client_id": settings.fc_client_id,
                "fc_client_secret": settings.fc_client_secret.as_ref().map(|_| "<set>"),
            });
            if out.json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
            Ok(0)
        }
        Command::Migrate => {
            let store = Store::open(settings.database.clone(), 1)?;
            let applied = store.migrate()?;
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
            let store = open_migrated(&settings)?;
            let mut conn = store.conn()?;
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
                    e @ (crate::accounts::structures::StructureError::Name
                    | crate::accounts::structures::StructureError::Siret
                    | crate::accounts::structures::StructureError::Duplicate),
                ) => {
                    report_refusal(out.json, &e.to_string());
                    Ok(2)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Journal(JournalCommand::Verify { out }) => {
            let store = open_migrated(&settings)?;
            let mut conn = store.conn()?;
            let report = journal::verify(&mut conn)?;
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
        Command::Journal(JournalCommand::Export { since }) => {
            let store = open_migrated(&settings)?;
            let mut conn = store.conn()?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            journal::export(&mut conn, since, &mut out)?;
            out.flush()?;
            Ok(0)
        }
    }
}

fn report_refusal(json: bool, message: &str) {
    if json {
        println!("{}", serde_json::json!({"error": message}));
    } else {
        eprintln!("refusé : {message}");
    }
}

fn open_migrated(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::open(settings.database.clone(), 2)?;
    store.migrate()?;
    Ok(store)
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
             Adresse : {public}\n  Base de données : {db}\n  Structure : {}\n",
            crate::demo::DEMO_STRUCTURE
        );
    }
    tracing::info!(port = app.port(), url = %public, "service ready");
    actix_web::rt::System::new().block_on(app.run_until_stopped())?;
    Ok(0)
}
