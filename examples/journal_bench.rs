//! Journal verification benchmark: fills a fresh database with a valid chain of N entries
//! (bulk inserts, hashes computed as `journal::append` does, chain head set to the last
//! entry), then times `journal::verify` in a separate run.
//!
//! ```text
//! cargo build --release --example journal_bench
//! target/release/examples/journal_bench fill sqlite:///tmp/j.db 1000000
//! target/release/examples/journal_bench verify sqlite:///tmp/j.db
//! ```
//!
//! `verify` prints entries/s and the process's peak RSS (VmHWM). A PostgreSQL URL must
//! name an existing, empty database (`createdb -U postgres procura_bench`).

use std::time::Instant;

use chrono::DateTime;
use diesel::prelude::*;
use procura::journal::{self, Entry, GENESIS_HASH};
use procura::store::schema::{journal_entries, journal_head};
use procura::store::{connect, run_migrations, write_tx, Backend, DbConn};

const ACTIONS: [&str; 6] = [
    "mandate.used",
    "token.issued",
    "login.succeeded",
    "mandate.created",
    "account.created",
    "maintenance.purged",
];

fn id(i: u64, salt: u64) -> String {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let h = format!("{x:016x}{:016x}", x.rotate_left(17) ^ 0xA5A5);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn entry(seq: i64, prev_hash: String) -> Entry {
    let i = seq as u64;
    let action = ACTIONS[(i % ACTIONS.len() as u64) as usize];
    let opt = |k: u64, s: u64| (i % k != 0).then(|| id(i / k, s));
    let details = match i % 4 {
        0 => serde_json::json!({"demarche": "social", "scope": "openid profile usager"}),
        1 => serde_json::json!({"kid": id(i / 1000, 9), "n": i}),
        2 => {
            serde_json::json!({"note": "Élancourt — 2\n", "counts": {"codes": 3, "tokens": i % 97}})
        }
        _ => {
            serde_json::json!({"demarches": ["social", "travail"], "duration": "long", "ok": true})
        }
    };
    let at = DateTime::from_timestamp(1_800_000_000 + seq, (i % 1_000_000) as u32 * 1000)
        .expect("time")
        .naive_utc();
    let mut e = Entry {
        seq,
        at,
        action: action.into(),
        actor: Some(format!("user:{}", id(i % 5000, 1))),
        structure_id: opt(3, 2),
        usager_id: opt(2, 3),
        mandate_id: opt(2, 4),
        authorisation_id: opt(5, 5),
        client_id: opt(7, 6),
        details: journal::canonical_json(&details),
        prev_hash,
        hash: String::new(),
    };
    e.hash = e.compute_hash();
    e
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime, stime are 14, 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: journal_bench fill URL N | verify URL | export URL";
    let (cmd, url) = match (args.get(1), args.get(2)) {
        (Some(c), Some(u)) => (c.as_str(), u.as_str()),
        _ => anyhow::bail!(usage),
    };
    let backend = Backend::from_url(url).map_err(anyhow::Error::msg)?;
    let mut conn = connect(&backend)?;
    match cmd {
        "fill" => {
            run_migrations(&mut conn)?;
            let n: i64 = args
                .get(3)
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(1_000_000);
            anyhow::ensure!(journal::length(&mut conn)? == 0, "the journal is not empty");
            let t = Instant::now();
            let mut prev = GENESIS_HASH.to_string();
            let mut seq = 1;
            while seq <= n {
                let end = (seq + 50_000).min(n + 1);
                write_tx(&mut conn, |c| -> anyhow::Result<()> {
                    let mut batch = Vec::with_capacity(1000);
                    for s in seq..end {
                        let e = entry(s, std::mem::take(&mut prev));
                        prev = e.hash.clone();
                        batch.push(e);
                        if batch.len() == 1000 || s + 1 == end {
                            // Multi-row inserts go through the concrete backend.
                            let insert = diesel::insert_into(journal_entries::table).values(&batch);
                            match c {
                                DbConn::Sqlite(c) => insert.execute(c)?,
                                DbConn::Pg(c) => insert.execute(c)?,
                            };
                            batch.clear();
                        }
                    }
                    diesel::update(journal_head::table.filter(journal_head::id.eq(1)))
                        .set((journal_head::seq.eq(end - 1), journal_head::hash.eq(&prev)))
                        .execute(c)?;
                    Ok(())
                })?;
                seq = end;
            }
            println!("filled {n} entries in {:.1} s", t.elapsed().as_secs_f64());
        }
        "verify" => {
            // The PostgreSQL backend serving this connection runs on this machine too.
            let backend_pid = match &mut conn {
                DbConn::Pg(c) => Some(
                    diesel::sql_query("SELECT pg_backend_pid() AS pid")
                        .get_result::<Pid>(c)?
                        .pid
                        .to_string(),
                ),
                DbConn::Sqlite(_) => None,
            };
            let server0 = backend_pid.as_deref().map(cpu_secs);
            let cpu0 = cpu_secs("self");
            let t = Instant::now();
            let report = journal::verify(&mut conn)?;
            let secs = t.elapsed().as_secs_f64();
            let cpu = cpu_secs("self") - cpu0;
            let server = backend_pid
                .as_deref()
                .map(cpu_secs)
                .zip(server0)
                .map(|(a, b)| a - b);
            let n = report.entries as f64;
            println!(
                "intact={} entries={} wall={secs:.2}s ({:.0}/s) verifier_cpu={cpu:.2}s ({:.0}/s) \
                 server_cpu={} VmHWM={} kB problem={:?}",
                report.intact,
                report.entries,
                n / secs,
                n / cpu,
                server.map_or("-".into(), |s| format!("{s:.2}s")),
                vm_hwm_kb(),
                report.problem
            );
        }
        "export" => {
            let t = Instant::now();
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let n = journal::export(&mut conn, 1, &mut out)?;
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "exported {n} entries in {secs:.3}s rate={:.0}/s VmHWM={} kB",
                n as f64 / secs,
                vm_hwm_kb()
            );
        }
        _ => anyhow::bail!(usage),
    }
    Ok(())
}
