//! Load driver of the benchmark (`scripts/bench`, see `bench/README.md`).
//!
//! One program for every target: Procura on SQLite, Procura on PostgreSQL and the Node
//! `oidc-provider` peer (`bench/node-op.mjs`). It only speaks HTTP to the servers, reads
//! `/proc` for CPU and memory, and uses plain SQL (diesel `sql_query`) to generate data and
//! read PostgreSQL's statistics, so it does not depend on Procura's internal API.
//!
//! Subcommands (arguments are `--name value`; every subcommand prints one JSON document):
//!
//! - `flows`: acting-on-behalf flows at each concurrency of `--levels` (default `1,8,32`).
//! - `writes`: journaled writes per second with `--concurrency` writers (structure switches).
//! - `pages`: p50/p99 of the pages that grow with the data (at scale).
//! - `seed`: usagers, mandates and authorisations by bulk SQL (`--usagers N --big B`).
//! - `gen-journal`: appends `--n` valid, chained entries by bulk SQL.
//! - `head`: the journal head (`seq`, `hash`).
//! - `sql`: runs the statements of `--exec` (benchmark set-up).
//! - `ready`: time from spawning the command after `--` to `/readyz` answering 200.
//! - `totp`: the current code of a base32 secret (for manual checks).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

type Res<T> = Result<T, String>;

// ------------------------------------------------------------------------------ arguments

struct Args {
    map: HashMap<String, String>,
    rest: Vec<String>,
}

impl Args {
    fn parse(items: &[String]) -> Res<Args> {
        let mut map = HashMap::new();
        let mut i = 0;
        while i < items.len() {
            let a = &items[i];
            if a == "--" {
                return Ok(Args {
                    map,
                    rest: items[i + 1..].to_vec(),
                });
            }
            let name = a
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {a}"))?;
            let value = items
                .get(i + 1)
                .ok_or_else(|| format!("--{name} needs a value"))?;
            map.insert(name.to_string(), value.clone());
            i += 2;
        }
        Ok(Args {
            map,
            rest: Vec::new(),
        })
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }
    fn req(&self, k: &str) -> Res<&str> {
        self.get(k).ok_or_else(|| format!("--{k} is required"))
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Res<T> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{k}: not a number: {v}")),
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first().cloned() else {
        eprintln!("usage: bench_driver flows|writes|pages|seed|gen-journal|head|ready|totp --name value ...");
        std::process::exit(2);
    };
    let result = Args::parse(&argv[1..]).and_then(|a| match cmd.as_str() {
        "flows" => flows(&a),
        "writes" => writes(&a),
        "pages" => pages(&a),
        "seed" => seed(&a),
        "gen-journal" => gen_journal(&a),
        "head" => head(&a),
        "sql" => Db::open(a.req("db")?)?
            .exec(a.req("exec")?)
            .map(|()| json!({"done": true})),
        "ready" => ready(&a),
        "summary" => summary(&a),
        "totp" => totp_now(a.req("secret")?).map(|c| json!(c)),
        other => Err(format!("unknown subcommand {other}")),
    });
    match result {
        Ok(Value::Null) => {}
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("bench_driver {cmd}: {e}");
            std::process::exit(1);
        }
    }
}

// ------------------------------------------------------------------------------ small helpers

fn random_token() -> String {
    let mut b = [0u8; 32];
    SystemRandom::new().fill(&mut b).expect("randomness");
    URL_SAFE_NO_PAD.encode(b)
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

fn totp_at(secret_b32: &str, unix: u64) -> Res<String> {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_b32.trim_end_matches('=').as_bytes())
        .map_err(|e| format!("TOTP secret: {e}"))?;
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let mac = ring::hmac::sign(&k, &(unix / 30).to_be_bytes());
    let m = mac.as_ref();
    let off = usize::from(m[19] & 0x0f);
    let bin = (u32::from(m[off]) & 0x7f) << 24
        | u32::from(m[off + 1]) << 16
        | u32::from(m[off + 2]) << 8
        | u32::from(m[off + 3]);
    Ok(format!("{:06}", bin % 1_000_000))
}

/// The wall clock. The driver is outside the service: it needs the real time for TOTP
/// codes and for the timestamps of the data it generates, not the service's `Clock`.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn unix_now() -> u64 {
    u64::try_from(wall_clock().timestamp()).unwrap_or(0)
}

fn totp_now(secret: &str) -> Res<String> {
    totp_at(secret, unix_now())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn stats_ms(mut v: Vec<f64>) -> Value {
    v.sort_by(|a, b| a.total_cmp(b));
    let mean = if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    };
    json!({
        "n": v.len(),
        "p50_ms": round(percentile(&v, 50.0), 2),
        "p99_ms": round(percentile(&v, 99.0), 2),
        "max_ms": round(v.last().copied().unwrap_or(0.0), 2),
        "mean_ms": round(mean, 2),
    })
}

// ------------------------------------------------------------------------------ /proc

/// USER_HZ: 100 on every Linux this runs on.
const TICKS_PER_S: f64 = 100.0;

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    cpu_split(pid).map(|(user, system)| user + system)
}

/// A process's CPU ticks in user space and in the kernel (`utime`, `stime`).
fn cpu_split(pid: u32) -> Option<(u64, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// (busy, total) ticks of the whole machine.
fn machine_ticks() -> (u64, u64) {
    let s = fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn ncpus() -> f64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0)
}

/// Every process named `postgres` (the postmaster and all its children, whatever database).
fn postgres_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .collect()
}

fn ticks_of(pids: &[u32]) -> HashMap<u32, u64> {
    pids.iter()
        .filter_map(|p| cpu_ticks(*p).map(|t| (*p, t)))
        .collect()
}

/// CPU used between two samples by the processes of either sample (new ones from 0).
fn delta(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(p, t)| t.saturating_sub(before.get(p).copied().unwrap_or(0)))
        .sum()
}

// ------------------------------------------------------------------------------ databases

enum Db {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct HeadRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    hash: String,
}

#[derive(QueryableByName)]
struct DbStats {
    #[diesel(sql_type = BigInt)]
    xacts: i64,
    #[diesel(sql_type = BigInt)]
    ins: i64,
    #[diesel(sql_type = BigInt)]
    upd: i64,
    #[diesel(sql_type = BigInt)]
    del: i64,
}

impl Db {
    fn open(url: &str) -> Res<Db> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let mut c = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
            c.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                .map_err(|e| e.to_string())?;
            Ok(Db::Sqlite(c))
        } else {
            Ok(Db::Pg(
                PgConnection::establish(url).map_err(|e| format!("{url}: {e}"))?,
            ))
        }
    }
    fn is_pg(&self) -> bool {
        matches!(self, Db::Pg(_))
    }
    fn exec(&mut self, sql: &str) -> Res<()> {
        match self {
            Db::Pg(c) => c.batch_execute(sql),
            Db::Sqlite(c) => c.batch_execute(sql),
        }
        .map_err(|e| format!("{e}: {}", &sql[..sql.len().min(300)]))
    }
    fn text(&mut self, sql: &str) -> Res<String> {
        #[derive(QueryableByName)]
        struct T {
            #[diesel(sql_type = Text)]
            t: String,
        }
        let q = diesel::sql_query(sql);
        match self {
            Db::Pg(c) => q.get_result::<T>(c),
            Db::Sqlite(c) => q.get_result::<T>(c),
        }
        .map(|o| o.t)
        .map_err(|e| format!("{e}: {sql}"))
    }
    fn head(&mut self) -> Res<(i64, String)> {
        let q = diesel::sql_query("SELECT seq, hash FROM journal_head WHERE id = 1");
        match self {
            Db::Pg(c) => q.get_result::<HeadRow>(c),
            Db::Sqlite(c) => q.get_result::<HeadRow>(c),
        }
        .map(|h| (h.seq, h.hash))
        .map_err(|e| e.to_string())
    }
    /// PostgreSQL: this database's counters and the pids of its other backends.
    fn pg_stats(&mut self) -> Res<(DbStats, Vec<u32>)> {
        let Db::Pg(c) = self else {
            return Err("not PostgreSQL".into());
        };
        let s = diesel::sql_query(
            "SELECT (xact_commit + xact_rollback)::bigint AS xacts, tup_inserted::bigint AS ins, \
             tup_updated::bigint AS upd, tup_deleted::bigint AS del \
             FROM pg_stat_database WHERE datname = current_database()",
        )
        .get_result::<DbStats>(c)
        .map_err(|e| e.to_string())?;
        let pids = diesel::sql_query(
            "SELECT pid::bigint AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .load::<One>(c)
        .map_err(|e| e.to_string())?;
        Ok((s, pids.into_iter().map(|o| o.n as u32).collect()))
    }
}

fn sql_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn head(a: &Args) -> Res<Value> {
    let (seq, hash) = Db::open(a.req("db")?)?.head()?;
    Ok(json!({"seq": seq, "hash": hash}))
}

// ------------------------------------------------------------------------------ data generation

/// A uuid-shaped id: `b0000000-0000-4000-<kind>-<n, 12 digits>` (SQL expression).
fn id_expr(pg: bool, kind: &str, n: &str) -> String {
    if pg {
        format!("('b0000000-0000-4000-{kind}-' || lpad(({n})::text, 12, '0'))")
    } else {
        format!("printf('b0000000-0000-4000-{kind}-%012d', {n})")
    }
}

/// Id of the `n`-th generated usager (1-based).
fn usager_id(n: u64) -> String {
    format!("b0000000-0000-4000-8000-{n:012}")
}

/// `seed`: `--usagers N` usagers (numbered from `--first`, default 1), each with a mandate holding two authorisations (social,
/// logement), the first `--big B` in structure `--structure`, the others spread over
/// `--other-structures K` generated structures; mandates created by `--aidant-email`.
fn seed(a: &Args) -> Res<Value> {
    let mut db = Db::open(a.req("db")?)?;
    let pg = db.is_pg();
    let n: u64 = a.num("usagers", 1)?;
    let big: u64 = a.num("big", n)?;
    let first: u64 = a.num("first", 1)?;
    let last = first + n - 1;
    let k: u64 = a.num("other-structures", 100)?;
    let structure = a.req("structure")?.replace('\'', "");
    let email = a.req("aidant-email")?.replace('\'', "");
    let aidant = db.text(&format!(
        "SELECT id AS t FROM users WHERE email = '{email}'"
    ))?;
    let now = wall_clock();
    let (t_now, t_exp) = (sql_time(now), sql_time(now + chrono::Duration::days(365)));
    let started = Instant::now();
    let series = |what: &str, lo: u64, hi: u64| -> String {
        if pg {
            format!("INSERT INTO {what} FROM generate_series({lo}, {hi}) AS g(n)")
        } else {
            format!(
                "INSERT INTO {what} FROM (WITH RECURSIVE s(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM s WHERE n < {hi}) SELECT n FROM s) AS g"
            )
        }
    };
    let mut sql = vec![];
    if n > big && k > 0 {
        let sid = id_expr(pg, "c000", "n");
        let siret = if pg {
            "'99' || lpad(n::text, 12, '0')".to_string()
        } else {
            "printf('99%012d', n)".to_string()
        };
        sql.push(series(
            &format!(
                "structures (id, name, siret, address, active, created_at) SELECT {sid}, 'Structure ' || n, {siret}, '', TRUE, '{t_now}'"
            ),
            0,
            k - 1,
        ));
    }
    let struct_of = if k == 0 || n <= big {
        format!("'{structure}'")
    } else {
        let other = id_expr(pg, "c000", &format!("n % {k}"));
        format!("CASE WHEN n < {first} + {big} THEN '{structure}' ELSE {other} END")
    };
    let (uid, mid) = (id_expr(pg, "8000", "n"), id_expr(pg, "9000", "n"));
    sql.push(series(&format!(
        "usagers (id, fc_sub, given_name, family_name, preferred_username, birthdate, gender, birthplace, birthcountry, email, created_at, updated_at) \
         SELECT {uid}, 'bench-sub-' || n, 'Angela Claire ' || n, 'DUBOIS' || n, NULL, '1962-08-24', 'female', '75107', '99100', 'usager' || n || '@exemple.fr', '{t_now}', '{t_now}'"
    ), first, last));
    sql.push(series(&format!(
        "mandates (id, structure_id, usager_id, aidant_id, duration, created_at, expires_at, revoked_at, attestation_version, attestation_digest, journal_seq) \
         SELECT {mid}, {struct_of}, {uid}, '{aidant}', 'LONG', '{t_now}', '{t_exp}', NULL, 'procura-attestation-v1', '{}', NULL",
        "0".repeat(64)
    ), first, last));
    for (kind, demarche) in [("a000", "social"), ("b000", "logement")] {
        let aid = id_expr(pg, kind, "n");
        sql.push(series(&format!(
            "authorisations (id, mandate_id, demarche, revoked_at, revoked_reason, revoked_by) SELECT {aid}, {mid}, '{demarche}', NULL, NULL, NULL"
        ), first, last));
    }
    db.exec("BEGIN")?;
    for s in &sql {
        db.exec(s)?;
    }
    db.exec("COMMIT")?;
    if pg {
        db.exec("ANALYZE")?;
    }
    Ok(json!({
        "usagers": n, "big_structure_usagers": big, "other_structures": k,
        "first_usager": usager_id(first), "seconds": round(started.elapsed().as_secs_f64(), 2),
    }))
}

/// Appends `--n` entries (`bench.filler`) to the chain, hashed as in docs/journal.md, in
/// multi-row INSERTs, in one transaction (the database moves the head with each row). The
/// service must be stopped.
fn gen_journal(a: &Args) -> Res<Value> {
    let mut db = Db::open(a.req("db")?)?;
    let n: i64 = a.num("n", 1_000_000)?;
    let batch: i64 = a.num("batch", 2000)?;
    let started = Instant::now();
    let pg = db.is_pg();
    db.exec(if pg { "BEGIN" } else { "BEGIN IMMEDIATE" })?;
    if pg {
        // The guard trigger moves the head row with every entry; a million updates of one
        // row in one transaction leave a million versions to walk (hours). The filler is
        // written with triggers off (superuser), and the head is set once at the end.
        db.exec("SET LOCAL session_replication_role = replica")?;
    }
    let (mut seq, mut prev) = db.head()?;
    let last = seq + n;
    // Microseconds, stored as diesel stores them (`%.f`): verify reads any other text
    // form of the time on SQLite as an alteration.
    let now = chrono::DateTime::from_timestamp_micros(wall_clock().timestamp_micros())
        .ok_or("clock out of range")?;
    let (at_sql, at_json) = (
        now.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    );
    while seq < last {
        let mut sql = String::from(
            "INSERT INTO journal_entries (seq, at, action, actor, structure_id, usager_id, mandate_id, authorisation_id, client_id, details, prev_hash, hash) VALUES ",
        );
        let upto = (seq + batch).min(last);
        while seq < upto {
            seq += 1;
            let details = format!("{{\"n\":{seq},\"reason\":\"bench\"}}");
            let canonical = format!(
                "{{\"action\":\"bench.filler\",\"actor\":\"system\",\"at\":\"{at_json}\",\"authorisation\":null,\"client\":null,\"details\":{details},\"mandate\":null,\"prev_hash\":\"{prev}\",\"seq\":{seq},\"structure\":null,\"usager\":null}}"
            );
            let hash = hex::encode(ring::digest::digest(
                &ring::digest::SHA256,
                canonical.as_bytes(),
            ));
            if !sql.ends_with(' ') {
                sql.push(',');
            }
            sql.push_str(&format!(
                "({seq},'{at_sql}','bench.filler','system',NULL,NULL,NULL,NULL,NULL,'{details}','{prev}','{hash}')"
            ));
            prev = hash;
        }
        db.exec(&sql)?;
    }
    // SQLite's trigger moved the head with each row (migration journal_guard).
    if pg {
        db.exec(&format!(
            "UPDATE journal_head SET seq = {seq}, hash = '{prev}' WHERE id = 1"
        ))?;
    }
    db.exec("COMMIT")?;
    Ok(
        json!({"appended": n, "last_seq": seq, "seconds": round(started.elapsed().as_secs_f64(), 2)}),
    )
}

// ------------------------------------------------------------------------------ HTTP

struct Resp {
    status: u16,
    location: Option<String>,
    body: String,
}

/// An HTTP client with its own cookie jar and keep-alive connections; never follows redirects.
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .max_idle_connections_per_host(4)
        .build()
}

fn read(r: ureq::Response) -> Resp {
    let status = r.status();
    let location = r.header("location").map(str::to_string);
    let body = r.into_string().unwrap_or_default();
    Resp {
        status,
        location,
        body,
    }
}

fn send(req: ureq::Request, form: Option<&[(&str, &str)]>) -> Res<Resp> {
    let r = match form {
        Some(f) => req.send_form(f),
        None => req.call(),
    };
    match r {
        Ok(r) => Ok(read(r)),
        Err(ureq::Error::Status(_, r)) => Ok(read(r)),
        Err(e) => Err(format!("transport: {e}")),
    }
}

fn csrf_in(html: &str) -> Option<String> {
    let key = "name=\"csrf_token\" value=\"";
    let i = html.find(key)? + key.len();
    let rest = &html[i..];
    Some(rest[..rest.find('"')?].to_string())
}

fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_string()
    } else {
        format!("{base}{loc}")
    }
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn expect(r: &Resp, status: u16, what: &str) -> Res<()> {
    if r.status == status {
        Ok(())
    } else {
        let body: String = r.body.chars().take(200).collect();
        Err(format!(
            "{what}: status {} (expected {status}): {body}",
            r.status
        ))
    }
}

// ------------------------------------------------------------------------------ the flow

struct Target {
    base: String,
    authorize: String,
    token: String,
    userinfo: String,
    keys: Vec<Value>,
    client_id: String,
    client_secret: String,
    redirect: String,
    scope: String,
    usager: String,
    demarche: String,
}

impl Target {
    fn discover(a: &Args) -> Res<Target> {
        let base = a.req("base")?.trim_end_matches('/').to_string();
        let meta = send(
            agent().get(&format!("{base}/.well-known/openid-configuration")),
            None,
        )?;
        expect(&meta, 200, "discovery")?;
        let m: Value = serde_json::from_str(&meta.body).map_err(|e| e.to_string())?;
        let ep = |k: &str| -> Res<String> {
            m[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("discovery: no {k}"))
        };
        let jwks = send(agent().get(&ep("jwks_uri")?), None)?;
        let keys: Value = serde_json::from_str(&jwks.body).map_err(|e| e.to_string())?;
        Ok(Target {
            authorize: ep("authorization_endpoint")?,
            token: ep("token_endpoint")?,
            userinfo: ep("userinfo_endpoint")?,
            keys: keys["keys"].as_array().cloned().unwrap_or_default(),
            base,
            client_id: a.req("client-id")?.into(),
            client_secret: a.req("client-secret")?.into(),
            redirect: a.req("redirect-uri")?.into(),
            scope: a
                .get("scope")
                .unwrap_or("openid profile birth email")
                .into(),
            usager: a.req("usager")?.into(),
            demarche: a.get("demarche").unwrap_or("social").into(),
        })
    }

    /// The authorization request's URL: code flow, PKCE S256.
    fn authorize_url(&self, state: &str, nonce: &str, challenge: &str) -> String {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", self.client_id.as_str()),
                ("redirect_uri", &self.redirect),
                ("response_type", "code"),
                ("scope", &self.scope),
                ("state", state),
                ("nonce", nonce),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        format!("{}?{q}", self.authorize)
    }

    /// Checks an ES256 id_token's signature against the JWKS; returns its claims.
    fn check_id_token(&self, jwt: &str) -> Res<Value> {
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err("id_token: not a JWS".into());
        }
        let dec = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string());
        let header: Value = serde_json::from_slice(&dec(parts[0])?).map_err(|e| e.to_string())?;
        if header["alg"] != "ES256" {
            return Err(format!("id_token: alg {}", header["alg"]));
        }
        let key = self
            .keys
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .ok_or("id_token: unknown kid")?;
        let mut point = vec![4u8];
        point.extend(dec(key["x"].as_str().unwrap_or(""))?);
        point.extend(dec(key["y"].as_str().unwrap_or(""))?);
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &dec(parts[2])?,
            )
            .map_err(|_| "id_token: bad signature".to_string())?;
        serde_json::from_slice(&dec(parts[1])?).map_err(|e| e.to_string())
    }
}

/// One virtual user: a browser (cookie jar) and the relying party's own HTTP client.
struct Vu {
    browser: ureq::Agent,
    rp: ureq::Agent,
}

const STEPS: [&str; 7] = [
    "authorize",
    "usager_page",
    "usager_post",
    "demarche_page",
    "demarche_post",
    "token",
    "userinfo",
];

/// One whole flow; returns the time of each step (ms), in the order of `STEPS` (the Node
/// peer's resume redirect is counted in `demarche_post`).
fn one_flow(t: &Target, vu: &Vu) -> Res<[f64; 7]> {
    let mut times = [0f64; 7];
    let mut clock = Instant::now();
    let mut lap = |i: usize| {
        times[i] = clock.elapsed().as_secs_f64() * 1000.0;
        clock = Instant::now();
    };
    let (verifier, nonce, state) = (random_token(), random_token(), random_token());
    let challenge = s256(&verifier);
    let r = send(
        vu.browser.get(&t.authorize_url(&state, &nonce, &challenge)),
        None,
    )?;
    if r.status != 303 && r.status != 302 {
        expect(&r, 303, "authorize")?;
    }
    let interaction = absolute(&t.base, r.location.as_deref().unwrap_or(""));
    if interaction.starts_with(&t.redirect) || interaction.contains("/connexion") {
        return Err(format!("authorize: unexpected redirect to {interaction}"));
    }
    lap(0);
    let page = send(vu.browser.get(&interaction), None)?;
    expect(&page, 200, "usager page")?;
    let csrf = csrf_in(&page.body).ok_or("usager page: no csrf_token")?;
    lap(1);
    let r = send(
        vu.browser.post(&format!("{interaction}/usager")),
        Some(&[("usager", &t.usager), ("csrf_token", &csrf)]),
    )?;
    expect(&r, 303, "usager choice")?;
    lap(2);
    let page = send(vu.browser.get(&interaction), None)?;
    expect(&page, 200, "démarche page")?;
    if !page.body.contains("name=\"demarche\"") {
        return Err("démarche page: no démarche to choose".into());
    }
    let csrf = csrf_in(&page.body).ok_or("démarche page: no csrf_token")?;
    lap(3);
    let mut r = send(
        vu.browser.post(&format!("{interaction}/demarche")),
        Some(&[("demarche", &t.demarche), ("csrf_token", &csrf)]),
    )?;
    // The Node peer resumes the authorization at /auth/<uid>, which then redirects.
    for _ in 0..2 {
        match r.location.as_deref() {
            Some(l) if !absolute(&t.base, l).starts_with(&t.redirect) => {
                r = send(vu.browser.get(&absolute(&t.base, l)), None)?;
            }
            _ => break,
        }
    }
    let back = r.location.clone().unwrap_or_default();
    if !back.starts_with(&t.redirect) {
        return Err(format!(
            "démarche choice: status {} location {back:?}",
            r.status
        ));
    }
    if query_param(&back, "state").as_deref() != Some(state.as_str()) {
        return Err("callback: state differs".into());
    }
    let code = query_param(&back, "code").ok_or_else(|| format!("callback: no code: {back}"))?;
    lap(4);
    let basic = STANDARD.encode(format!(
        "{}:{}",
        url::form_urlencoded::byte_serialize(t.client_id.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(t.client_secret.as_bytes()).collect::<String>()
    ));
    let r = send(
        vu.rp
            .post(&t.token)
            .set("Authorization", &format!("Basic {basic}")),
        Some(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &t.redirect),
            ("code_verifier", &verifier),
        ]),
    )?;
    expect(&r, 200, "token")?;
    let tok: Value = serde_json::from_str(&r.body).map_err(|e| format!("token: {e}"))?;
    let id_token = tok["id_token"].as_str().ok_or("token: no id_token")?;
    let access = tok["access_token"]
        .as_str()
        .ok_or("token: no access_token")?;
    let claims = t.check_id_token(id_token)?;
    if claims["nonce"].as_str() != Some(nonce.as_str()) {
        return Err("id_token: nonce differs".into());
    }
    lap(5);
    let r = send(
        vu.rp
            .get(&t.userinfo)
            .set("Authorization", &format!("Bearer {access}")),
        None,
    )?;
    expect(&r, 200, "userinfo")?;
    let info: Value = serde_json::from_str(&r.body).map_err(|e| format!("userinfo: {e}"))?;
    if info["sub"] != claims["sub"] {
        return Err("userinfo: sub differs from the id_token's".into());
    }
    lap(6);
    Ok(times)
}

/// Logs a browser in to Procura: password, then the current TOTP code.
fn login(base: &str, browser: &ureq::Agent, email: &str, password: &str, secret: &str) -> Res<()> {
    let page = send(browser.get(&format!("{base}/connexion")), None)?;
    let csrf = csrf_in(&page.body).ok_or("login page: no csrf_token")?;
    let r = send(
        browser.post(&format!("{base}/connexion")),
        Some(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf),
        ]),
    )?;
    expect(&r, 303, &format!("password step of {email}"))?;
    let page = send(browser.get(&format!("{base}/connexion/code")), None)?;
    let csrf = csrf_in(&page.body).ok_or("code page: no csrf_token")?;
    let code = totp_now(secret)?;
    let r = send(
        browser.post(&format!("{base}/connexion/code")),
        Some(&[("otp", &code), ("csrf_token", &csrf)]),
    )?;
    expect(&r, 303, &format!("code step of {email}"))?;
    // The first login of an account accepts the terms of use in force (`/conditions`).
    if r.location
        .as_deref()
        .is_some_and(|l| l.ends_with("/conditions"))
    {
        let page = send(browser.get(&format!("{base}/conditions")), None)?;
        let csrf = csrf_in(&page.body).ok_or("terms page: no csrf_token")?;
        let r = send(
            browser.post(&format!("{base}/conditions")),
            Some(&[("accepte", "oui"), ("csrf_token", &csrf)]),
        )?;
        expect(&r, 303, &format!("terms of {email}"))?;
    }
    Ok(())
}

/// Logs the first `max` accounts in, two at a time (each login costs an Argon2 hash);
/// returns one browser per account.
fn log_in_all(base: &str, acc: Vec<(String, String, String)>, max: usize) -> Res<Vec<ureq::Agent>> {
    let acc = Arc::new(acc);
    let out = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..2)
        .map(|w| {
            let (acc, out, base) = (acc.clone(), out.clone(), base.to_string());
            std::thread::spawn(move || -> Res<()> {
                for (i, (e, p, s)) in acc.iter().enumerate().take(max) {
                    if i % 2 != w {
                        continue;
                    }
                    let browser = agent();
                    login(&base, &browser, e, p, s)?;
                    out.lock().expect("lock").push(browser);
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "login thread panicked")??;
    }
    let v = std::mem::take(&mut *out.lock().expect("lock"));
    Ok(v)
}

/// Accounts file: one `email password totp_secret` per line (the password has no spaces).
fn accounts(path: &str) -> Res<Vec<(String, String, String)>> {
    let text = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [e, p, s] => Ok((e.to_string(), p.to_string(), s.to_string())),
                _ => Err(format!("{path}: bad line {l:?}")),
            }
        })
        .collect()
}

/// What is measured around a load window.
struct Sample {
    at: Instant,
    server: u64,
    server_system: u64,
    driver: u64,
    machine: (u64, u64),
    pg_all: HashMap<u32, u64>,
    pg_db: HashMap<u32, u64>,
    pg_stats: Option<DbStats>,
}

struct Meter {
    server_pid: u32,
    pg: Option<Db>,
}

impl Meter {
    fn new(a: &Args) -> Res<Meter> {
        Ok(Meter {
            server_pid: a.num("server-pid", 0u32)?,
            pg: match a.get("pg-url") {
                Some(u) => Some(Db::open(u)?),
                None => None,
            },
        })
    }
    fn sample(&mut self, with_stats: bool) -> Res<Sample> {
        let (stats, db_pids) = match (&mut self.pg, with_stats) {
            (Some(db), true) => {
                let (s, p) = db.pg_stats()?;
                (Some(s), p)
            }
            (Some(db), false) => (None, db.pg_stats()?.1),
            _ => (None, vec![]),
        };
        Ok(Sample {
            at: Instant::now(),
            server: cpu_ticks(self.server_pid).unwrap_or(0),
            server_system: cpu_split(self.server_pid).map_or(0, |(_, s)| s),
            driver: cpu_ticks(std::process::id()).unwrap_or(0),
            machine: machine_ticks(),
            pg_all: if self.pg.is_some() {
                ticks_of(&postgres_pids())
            } else {
                HashMap::new()
            },
            pg_db: ticks_of(&db_pids),
            pg_stats: stats,
        })
    }
    /// After a window: waits for PostgreSQL's statistics (backends flush them at most once a
    /// second, and when idle after up to 10 s), then reads them.
    fn settle_stats(&mut self) -> Res<Option<DbStats>> {
        if self.pg.is_none() {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(11_000));
        Ok(self.sample(true)?.pg_stats)
    }
}

fn cpu_report(b: &Sample, e: &Sample, ops: f64, unit: &str) -> Value {
    let secs = (e.at - b.at).as_secs_f64();
    let ms = |ticks: u64| ticks as f64 * 1000.0 / TICKS_PER_S;
    let server = e.server.saturating_sub(b.server);
    let driver = e.driver.saturating_sub(b.driver);
    let pg_db = delta(&b.pg_db, &e.pg_db);
    let pg_all = delta(&b.pg_all, &e.pg_all);
    let busy = e.machine.0.saturating_sub(b.machine.0);
    let measured = server + driver + pg_all;
    let other = busy.saturating_sub(measured);
    let per = |t: u64| {
        if ops > 0.0 {
            round(ms(t) / ops, 3)
        } else {
            0.0
        }
    };
    let cores = |t: u64| round(ms(t) / 1000.0 / secs, 2);
    let mut v = json!({
        format!("server_cpu_ms_per_{unit}"): per(server),
        format!("server_kernel_cpu_ms_per_{unit}"): per(e.server_system.saturating_sub(b.server_system)),
        format!("total_cpu_ms_per_{unit}"): per(server + pg_db),
        format!("driver_cpu_ms_per_{unit}"): per(driver),
        "server_cores": cores(server),
        "driver_cores": cores(driver),
        "machine_cores": ncpus(),
        "machine_busy_cores": cores(busy),
        "other_busy_cores": cores(other),
    });
    if !b.pg_all.is_empty() {
        v[format!("pg_backends_cpu_ms_per_{unit}")] = json!(per(pg_db));
        v[format!("pg_all_processes_cpu_ms_per_{unit}")] = json!(per(pg_all));
        v["pg_backends_cores"] = json!(cores(pg_db));
    }
    v
}

fn pg_report(b: &Sample, after: &Option<DbStats>, ops: f64, unit: &str) -> Value {
    match (&b.pg_stats, after) {
        (Some(b), Some(a)) if ops > 0.0 => json!({
            format!("xacts_per_{unit}"): round((a.xacts - b.xacts) as f64 / ops, 2),
            format!("rows_inserted_per_{unit}"): round((a.ins - b.ins) as f64 / ops, 2),
            format!("rows_updated_per_{unit}"): round((a.upd - b.upd) as f64 / ops, 2),
            format!("rows_deleted_per_{unit}"): round((a.del - b.del) as f64 / ops, 2),
        }),
        _ => json!({}),
    }
}

/// The report fields of one load level that every scenario shares.
fn level_report(c: usize, elapsed: f64, errors: &[String]) -> Value {
    json!({
        "concurrency": c,
        "seconds": round(elapsed, 2),
        "errors": errors.len(),
        "error_samples": errors.iter().take(3).collect::<Vec<_>>(),
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// What each worker thread returns: its samples and its error messages.
type Worker<T> = std::thread::JoinHandle<(Vec<T>, Vec<String>)>;

/// Lets the workers run for `seconds`, stops them and gathers their samples and errors.
fn run_then_gather<T>(
    seconds: f64,
    stop: &AtomicBool,
    handles: Vec<Worker<T>>,
    panicked: &str,
) -> Res<(Vec<T>, Vec<String>)> {
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut samples = vec![];
    let mut errors = vec![];
    for h in handles {
        let (s, e) = h.join().map_err(|_| panicked.to_string())?;
        samples.extend(s);
        errors.extend(e);
    }
    Ok((samples, errors))
}

/// `flows`: logs every virtual user in once (Procura, `--accounts`), then for each level
/// runs `--seconds` of flows after `--warmup` flows per virtual user.
fn flows(a: &Args) -> Res<Value> {
    let t = Arc::new(Target::discover(a)?);
    let levels: Vec<usize> = a
        .get("levels")
        .unwrap_or("1,8,32")
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| format!("--levels: {s}")))
        .collect::<Res<_>>()?;
    let max = levels.iter().copied().max().unwrap_or(1);
    let seconds: f64 = a.num("seconds", 10.0)?;
    let warmup: usize = a.num("warmup", 2)?;
    let mut meter = Meter::new(a)?;
    let login_started = Instant::now();
    let vus: Vec<Arc<Vu>> = match a.get("accounts") {
        Some(path) => {
            let acc = accounts(path)?;
            if acc.len() < max {
                return Err(format!("{} accounts for {max} virtual users", acc.len()));
            }
            log_in_all(&t.base, acc, max)?
                .into_iter()
                .map(|browser| {
                    Arc::new(Vu {
                        browser,
                        rp: agent(),
                    })
                })
                .collect()
        }
        None => (0..max)
            .map(|_| {
                Arc::new(Vu {
                    browser: agent(),
                    rp: agent(),
                })
            })
            .collect(),
    };
    let login_seconds = login_started.elapsed().as_secs_f64();
    let mut results = vec![];
    for &c in &levels {
        // Warm-up, not measured.
        let handles: Vec<_> = vus
            .iter()
            .take(c)
            .map(|vu| {
                let (t, vu) = (t.clone(), vu.clone());
                std::thread::spawn(move || -> Res<()> {
                    for _ in 0..warmup {
                        one_flow(&t, &vu)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "warm-up thread panicked")??;
        }
        if meter.pg.is_some() {
            meter.settle_stats()?;
        }
        let before = meter.sample(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = vus
            .iter()
            .take(c)
            .map(|vu| {
                let (t, vu, stop) = (t.clone(), vu.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut done: Vec<[f64; 7]> = vec![];
                    let mut errors: Vec<String> = vec![];
                    while !stop.load(Ordering::Relaxed) {
                        match one_flow(&t, &vu) {
                            Ok(s) => done.push(s),
                            Err(e) => {
                                errors.push(e);
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                    (done, errors)
                })
            })
            .collect();
        let (done, errors) = run_then_gather(seconds, &stop, handles, "flow thread panicked")?;
        let end = meter.sample(false)?;
        let stats_after = meter.settle_stats()?;
        let n = done.len() as f64;
        let elapsed = (end.at - before.at).as_secs_f64();
        let mut steps = serde_json::Map::new();
        for (i, name) in STEPS.iter().enumerate() {
            steps.insert(
                name.to_string(),
                stats_ms(done.iter().map(|s| s[i]).collect()),
            );
        }
        let totals: Vec<f64> = done.iter().map(|s| s.iter().sum()).collect();
        let lat = stats_ms(totals);
        let mut r = level_report(c, elapsed, &errors);
        merge(
            &mut r,
            json!({
            "flows": done.len(),
            "flows_per_s": round(n / elapsed, 1),
            "p50_ms": lat["p50_ms"],
            "p99_ms": lat["p99_ms"],
            "max_ms": lat["max_ms"],
            "steps": steps,
            }),
        );
        merge(&mut r, cpu_report(&before, &end, n, "flow"));
        merge(&mut r, pg_report(&before, &stats_after, n, "flow"));
        eprintln!(
            "  c={c}: {} flows/s, p50 {} ms, p99 {} ms, {} errors",
            r["flows_per_s"], r["p50_ms"], r["p99_ms"], r["errors"]
        );
        results.push(r);
    }
    let pid = meter.server_pid;
    Ok(json!({
        "levels": results,
        "login_seconds": round(login_seconds, 2),
        "server_rss_peak_mb": status_kb(pid, "VmHWM:").map(|k| round(k as f64 / 1024.0, 1)),
        "server_rss_now_mb": status_kb(pid, "VmRSS:").map(|k| round(k as f64 / 1024.0, 1)),
    }))
}

// ------------------------------------------------------------------------------ journaled writes

/// `writes`: `--concurrency` writers each POST failed logins to `/connexion` for `--seconds`.
/// The service runs with `PROCURA_LOGIN_RATE_LIMIT=1`, so after the first failure every
/// attempt is refused without a password hash and journaled (`login.rate_limited`): one
/// cheap journaled write per request. Counts the journal head's growth (`--db`).
/// Journaled writes: `--concurrency` logged-in aidants (from `--accounts`), each a member of
/// the two structures of `--structures A,B`, switch between them as fast as they can; each
/// switch is one write transaction with one journal entry.
fn writes(a: &Args) -> Res<Value> {
    let base = a.req("base")?.trim_end_matches('/').to_string();
    let c: usize = a.num("concurrency", 32)?;
    let seconds: f64 = a.num("seconds", 10.0)?;
    let pair: Vec<String> = a
        .req("structures")?
        .split(',')
        .map(str::to_string)
        .collect();
    let [s1, s2] = <[String; 2]>::try_from(pair).map_err(|_| "--structures: two ids, A,B")?;
    let mut db = Db::open(a.req("db")?)?;
    let mut meter = Meter::new(a)?;
    let acc = accounts(a.req("accounts")?)?;
    if acc.len() < c {
        return Err(format!("{} accounts for {c} writers", acc.len()));
    }
    let mut writers = vec![];
    for browser in log_in_all(&base, acc, c)? {
        let page = send(browser.get(&format!("{base}/espace")), None)?;
        expect(&page, 200, "/espace")?;
        let csrf = csrf_in(&page.body).ok_or("/espace: no csrf_token")?;
        writers.push(Arc::new((browser, csrf)));
    }
    let switch = move |w: &(ureq::Agent, String), to: &str| -> Res<Resp> {
        send(
            w.0.post(&format!("{base}/espace/structure")),
            Some(&[("structure", to), ("csrf_token", &w.1)]),
        )
    };
    let switch = Arc::new(switch);
    if meter.pg.is_some() {
        meter.settle_stats()?;
    }
    let (seq0, _) = db.head()?;
    let before = meter.sample(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = writers
        .iter()
        .map(|w| {
            let (w, stop, switch) = (w.clone(), stop.clone(), switch.clone());
            let (s1, s2) = (s1.clone(), s2.clone());
            std::thread::spawn(move || {
                let mut lat = vec![];
                let mut errors = vec![];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let to = if n % 2 == 0 { &s2 } else { &s1 };
                    n += 1;
                    let t0 = Instant::now();
                    match switch(&w, to) {
                        Ok(r) if r.status == 303 => lat.push(t0.elapsed().as_secs_f64() * 1000.0),
                        Ok(r) => errors.push(format!("status {}", r.status)),
                        Err(e) => errors.push(e),
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (lat, errors) = run_then_gather(seconds, &stop, handles, "writer panicked")?;
    let end = meter.sample(false)?;
    let (seq1, _) = db.head()?;
    let stats_after = meter.settle_stats()?;
    let journaled = (seq1 - seq0) as f64;
    let elapsed = (end.at - before.at).as_secs_f64();
    let mut r = level_report(c, elapsed, &errors);
    merge(
        &mut r,
        json!({
            "requests": lat.len(),
            "journaled_entries": seq1 - seq0,
            "journaled_writes_per_s": round(journaled / elapsed, 1),
            "latency": stats_ms(lat),
        }),
    );
    merge(&mut r, cpu_report(&before, &end, journaled, "write"));
    merge(&mut r, pg_report(&before, &stats_after, journaled, "write"));
    Ok(r)
}

// ------------------------------------------------------------------------------ pages at scale

fn timed_get(b: &ureq::Agent, url: &str, n: usize, must: &str) -> Res<Value> {
    let mut lat = vec![];
    let mut bytes = 0;
    for _ in 0..n {
        let t0 = Instant::now();
        let r = send(b.get(url), None)?;
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        expect(&r, 200, url)?;
        if !r.body.contains(must) {
            return Err(format!("{url}: page without {must:?}"));
        }
        bytes = r.body.len();
    }
    let mut v = stats_ms(lat);
    v["bytes"] = json!(bytes);
    Ok(v)
}

/// `pages`: logs in `--account "email password secret"` (aidant and manager of the big
/// structure) and times `--samples` GETs of each page that grows with the data, the
/// look-up of random usagers' mandates (`/usagers/{id}` of usagers 1..=`--big`; the
/// benchmark's flow usager is number 1, the scale data follows it), and whole
/// flows at that size.
fn pages(a: &Args) -> Res<Value> {
    let t = Target::discover(a)?;
    let base = t.base.clone();
    let n: usize = a.num("samples", 20)?;
    let big: u64 = a.num("big", 10_000)?;
    let f: Vec<String> = a
        .req("account")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let [email, password, secret] = f.as_slice() else {
        return Err("--account \"email password secret\"".into());
    };
    let b = agent();
    login(&base, &b, email, password, secret)?;
    let mut out = serde_json::Map::new();
    out.insert(
        "espace".into(),
        timed_get(&b, &format!("{base}/espace"), n, "</html>")?,
    );
    // An interaction: its chooser page, then (usager chosen) its démarche page.
    let challenge = s256(&random_token());
    let r = send(b.get(&t.authorize_url("s", "n", &challenge)), None)?;
    let interaction = absolute(&base, r.location.as_deref().unwrap_or(""));
    out.insert(
        "usager_choice".into(),
        timed_get(&b, &interaction, n, "name=\"usager\"")?,
    );
    let page = send(b.get(&interaction), None)?;
    let csrf = csrf_in(&page.body).ok_or("chooser: no csrf_token")?;
    let r = send(
        b.post(&format!("{interaction}/usager")),
        Some(&[("usager", &t.usager), ("csrf_token", &csrf)]),
    )?;
    expect(&r, 303, "usager choice")?;
    out.insert(
        "demarche_choice".into(),
        timed_get(&b, &interaction, n, "name=\"demarche\"")?,
    );
    out.insert(
        "gestion_mandats".into(),
        timed_get(&b, &format!("{base}/gestion/mandats"), n, "</html>")?,
    );
    // Mandate look-up: the page of one usager, chosen at random in the big structure.
    let mut lat = vec![];
    let mut rnd = [0u8; 8];
    for _ in 0..n * 5 {
        SystemRandom::new().fill(&mut rnd).map_err(|_| "random")?;
        let id = usager_id(u64::from_le_bytes(rnd) % big + 1);
        let t0 = Instant::now();
        let r = send(b.get(&format!("{base}/usagers/{id}")), None)?;
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        expect(&r, 200, "usager page")?;
        if !r.body.contains("DUBOIS") {
            return Err(format!("/usagers/{id}: not the usager's page"));
        }
    }
    out.insert("mandate_lookup_usager_page".into(), stats_ms(lat));
    // Whole flows (authorize → userinfo) with this data, one at a time.
    let vu = Vu {
        browser: b,
        rp: agent(),
    };
    let mut lat = vec![];
    let mut steps: Vec<[f64; 7]> = vec![];
    for _ in 0..n {
        let s = one_flow(&t, &vu)?;
        lat.push(s.iter().sum());
        steps.push(s);
    }
    let mut flow = stats_ms(lat);
    for (i, name) in STEPS.iter().enumerate() {
        flow[*name] = stats_ms(steps.iter().map(|s| s[i]).collect())["p50_ms"].clone();
    }
    out.insert("flow_c1".into(), flow);
    if let Some(auditor) = a.get("auditor") {
        audit_pages(&base, auditor, n, &mut out)?;
    }
    Ok(Value::Object(out))
}

/// The value of the first link parameter `{name}=VALUE` of an `/audit` page (links keep
/// the page's filters: `?action=…&amp;{name}=VALUE`), percent-encoded.
fn first_link_value(body: &str, name: &str) -> Option<String> {
    let start = ["?", "&amp;"]
        .iter()
        .filter_map(|sep| {
            let key = format!("{sep}{name}=");
            body.find(&key).map(|i| i + key.len())
        })
        .min()?;
    let rest = &body[start..];
    let end = rest.find(['"', '&'])?;
    Some(rest[..end].to_string())
}

/// The keys of the `/audit` pages in the results, with their names in the summary.
const AUDIT_PAGES: [(&str, &str); 10] = [
    ("audit", "`/audit`"),
    ("audit_action", "`/audit?action=` (rare action)"),
    ("audit_structure", "`/audit?structure=`"),
    ("audit_actor", "`/audit?actor=` (an aidant)"),
    ("audit_usager", "`/audit?usager=`"),
    ("audit_mandate", "`/audit?mandate=`"),
    ("audit_from", "`/audit?from=` (today)"),
    ("audit_to", "`/audit?to=` (yesterday: nothing)"),
    ("audit_day", "`/audit?from=&to=` (today)"),
    ("audit_deep", "`/audit?after=` (middle of the journal)"),
];

/// `/audit` at scale, logged in as `--auditor "email password secret"`: the journal
/// unfiltered, each filter alone (ids taken from the page of `mandate.used` entries), and
/// a page in the middle of the journal.
fn audit_pages(
    base: &str,
    account: &str,
    n: usize,
    out: &mut serde_json::Map<String, Value>,
) -> Res<()> {
    let f: Vec<&str> = account.split_whitespace().collect();
    let [email, password, secret] = f.as_slice() else {
        return Err("--auditor \"email password secret\"".into());
    };
    let b = agent();
    login(base, &b, email, password, secret)?;
    let used = send(b.get(&format!("{base}/audit?action=mandate.used")), None)?;
    expect(&used, 200, "/audit?action=mandate.used")?;
    let pick = |name: &str| {
        first_link_value(&used.body, name)
            .ok_or(format!("/audit: no {name} link on the mandate.used page"))
    };
    let (structure, actor, usager, mandate) = (
        pick("structure")?,
        pick("actor")?,
        pick("usager")?,
        pick("mandate")?,
    );
    let head: i64 = {
        let r = send(b.get(&format!("{base}/audit")), None)?;
        let key = "dernière entrée n° ";
        let i = r.body.find(key).ok_or("/audit: no head")? + key.len();
        r.body[i..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .map_err(|_| "/audit: head")?
    };
    let today = wall_clock().format("%Y-%m-%d").to_string();
    let yesterday = (wall_clock() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let queries = [
        String::new(),
        "action=mandate.used".into(),
        format!("structure={structure}"),
        format!("actor={actor}"),
        format!("usager={usager}"),
        format!("mandate={mandate}"),
        format!("from={today}"),
        format!("to={yesterday}"),
        format!("from={today}&to={today}"),
        format!("after={}", head / 2),
    ];
    for ((key, _), q) in AUDIT_PAGES.iter().zip(queries) {
        out.insert(
            (*key).into(),
            timed_get(&b, &format!("{base}/audit?{q}"), n, "</html>")?,
        );
    }
    Ok(())
}

// ------------------------------------------------------------------------------ time to ready

/// `ready --url URL/readyz --runs N -- command args…`: spawns the command, polls the URL
/// every millisecond until it answers 200, stops the command (SIGTERM) and waits for it.
fn ready(a: &Args) -> Res<Value> {
    let url = a.req("url")?;
    let runs: usize = a.num("runs", 5)?;
    let (cmd, args) = a.rest.split_first().ok_or("ready: command after --")?;
    let probe = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build();
    let mut times = vec![];
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut child = std::process::Command::new(cmd)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{cmd}: {e}"))?;
        loop {
            if let Ok(r) = probe.get(url).call() {
                if r.status() == 200 {
                    break;
                }
            }
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("the service exited ({st}) before being ready"));
            }
            if t0.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                return Err("not ready after 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().map_err(|e| e.to_string())?;
    }
    let mut v = stats_ms(times.clone());
    v["runs_ms"] = json!(times.iter().map(|t| round(*t, 1)).collect::<Vec<_>>());
    Ok(v)
}

// ------------------------------------------------------------------------------ summary

fn num(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.abs() >= 100.0 || f.fract() == 0.0 {
                format!("{f:.0}")
            } else if f.abs() >= 10.0 {
                format!("{f:.1}")
            } else {
                format!("{f:.2}")
            }
        }
        Value::Bool(b) => if *b { "yes" } else { "**no**" }.into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn level(r: &Value, c: u64) -> Option<&Value> {
    r["flows"]["levels"]
        .as_array()?
        .iter()
        .find(|l| l["concurrency"] == c)
}

fn mark(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

/// `summary --dir bench/results --date YYYY-MM-DD`: the markdown summary of that day's files.
fn summary(a: &Args) -> Res<Value> {
    let dir = a.req("dir")?;
    let date = a.req("date")?;
    let load = |name: &str| -> Option<Value> {
        let text = fs::read_to_string(format!("{dir}/{date}-{name}.json")).ok()?;
        serde_json::from_str(&text).ok()
    };
    let targets: Vec<(&str, Value)> = [
        ("Procura, SQLite", "sqlite"),
        ("Procura, PostgreSQL", "postgres"),
        ("oidc-provider (Node)", "node"),
    ]
    .into_iter()
    .filter_map(|(label, f)| load(f).map(|v| (label, v)))
    .collect();
    if targets.is_empty() {
        return Err(format!("no {dir}/{date}-*.json"));
    }
    let mut md = String::new();
    let first = &targets[0].1;
    let scale = targets
        .iter()
        .any(|(_, r)| r["scale"].get("pages").is_some());
    let flags = match (first["quick"] == true, scale) {
        (true, true) => " --quick --scale",
        (true, false) => " --quick",
        (false, true) => " --scale",
        (false, false) => "",
    };
    md.push_str(&format!("# Benchmark summary, {date}\n\n"));
    md.push_str(&format!(
        "Commit `{}`{}; {} s of load per point after a warm-up. Machine: {}, {} cores, {} MB, \
         load average at start {}. Produced by `scripts/bench{}`.\n\n",
        first["commit"].as_str().unwrap_or("?"),
        if first["quick"] == true {
            " (**quick run**: short points, fewer journal entries)"
        } else {
            ""
        },
        num(&first["seconds_per_point"]),
        first["machine"]["cpu"].as_str().unwrap_or("?"),
        num(&first["machine"]["cores"]),
        num(&first["machine"]["memory_mb"]),
        first["machine"]["loadavg_at_start"].as_str().unwrap_or("?"),
        flags,
    ));
    md.push_str("## Acting-on-behalf flows\n\n");
    md.push_str(
        "One flow: authorize (aidant logged in) → usager page → usager choice → démarche page → \
         démarche choice (code) → token → userinfo; fresh state, nonce and PKCE verifier; id_token \
         signature, nonce and userinfo `sub` checked. The Node peer has one more request (its \
         resume redirect, counted in the démarche choice).\n\n",
    );
    md.push_str("| target | c | flows/s | p50 ms | p99 ms | errors | server CPU ms/flow | DB backends CPU ms/flow | total CPU ms/flow | DB xacts/flow | rows ins/upd/del per flow | driver CPU ms/flow | machine busy (cores) | rest of machine (cores) |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n");
    for (label, r) in &targets {
        for c in [1, 8, 32] {
            let Some(l) = level(r, c) else { continue };
            let rows = if l.get("rows_inserted_per_flow").is_some() {
                format!(
                    "{} / {} / {}",
                    num(&l["rows_inserted_per_flow"]),
                    num(&l["rows_updated_per_flow"]),
                    num(&l["rows_deleted_per_flow"])
                )
            } else {
                "–".into()
            };
            md.push_str(&format!(
                "| {label} | {c} | {} | {} | {} | {} | {} | {} | {} | {} | {rows} | {} | {} | {} |\n",
                num(&l["flows_per_s"]),
                num(&l["p50_ms"]),
                num(&l["p99_ms"]),
                num(&l["errors"]),
                num(&l["server_cpu_ms_per_flow"]),
                num(l.get("pg_backends_cpu_ms_per_flow").unwrap_or(&Value::Null)),
                num(&l["total_cpu_ms_per_flow"]),
                num(l.get("xacts_per_flow").unwrap_or(&Value::Null)),
                num(&l["driver_cpu_ms_per_flow"]),
                num(&l["machine_busy_cores"]),
                num(&l["other_busy_cores"]),
            ));
        }
    }
    md.push_str(
        "\n*Total CPU* = server process + the PostgreSQL backends of its database. *Rest of \
         machine* = busy CPU of the whole machine minus the server, the driver and every \
         `postgres` process: other people's work on this shared machine.\n\n",
    );
    md.push_str("Peak RSS of the server after the flows (VmHWM): ");
    md.push_str(
        &targets
            .iter()
            .map(|(label, r)| format!("{label} **{} MB**", num(&r["flows"]["server_rss_peak_mb"])))
            .collect::<Vec<_>>()
            .join(", "),
    );
    md.push_str(".\n\nMedian time of each step at c = 1 (ms):\n\n| step |");
    for (label, _) in &targets {
        md.push_str(&format!(" {label} |"));
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(targets.len()));
    md.push('\n');
    for step in STEPS {
        md.push_str(&format!("| {step} |"));
        for (_, r) in &targets {
            let v = level(r, 1).map(|l| l["steps"][step]["p50_ms"].clone());
            md.push_str(&format!(" {} |", num(&v.unwrap_or(Value::Null))));
        }
        md.push('\n');
    }
    let procura: Vec<&(&str, Value)> = targets
        .iter()
        .filter(|(_, r)| r.get("backend").is_some())
        .collect();
    if !procura.is_empty() {
        md.push_str("\n## Journal, start-up\n\n| | ");
        md.push_str(
            &procura
                .iter()
                .map(|(l, _)| l.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
        );
        md.push_str(" |\n|---|");
        md.push_str(&"---:|".repeat(procura.len()));
        md.push('\n');
        let row = |md: &mut String, name: &str, f: &dyn Fn(&Value) -> String| {
            md.push_str(&format!("| {name} |"));
            for (_, r) in &procura {
                md.push_str(&format!(" {} |", f(r)));
            }
            md.push('\n');
        };
        row(&mut md, "journaled writes/s, 32 writers", &|r| {
            num(&r["journaled_writes"]["journaled_writes_per_s"])
        });
        row(&mut md, "write p50 / p99 ms", &|r| {
            format!(
                "{} / {}",
                num(&r["journaled_writes"]["latency"]["p50_ms"]),
                num(&r["journaled_writes"]["latency"]["p99_ms"])
            )
        });
        // Rows of one field each: (row name, section, field).
        for (name, section, field) in [
            (
                "total CPU ms per write",
                "journaled_writes",
                "total_cpu_ms_per_write",
            ),
            ("DB xacts per write", "journaled_writes", "xacts_per_write"),
            ("write errors", "journaled_writes", "errors"),
            (
                "chain intact after the writes",
                "journaled_writes",
                "chain_intact_after",
            ),
            (
                "`journal verify`: entries",
                "journal_verification",
                "entries",
            ),
            (
                "`journal verify`: entries/s",
                "journal_verification",
                "entries_per_s",
            ),
            (
                "`journal verify`: seconds",
                "journal_verification",
                "seconds",
            ),
            (
                "`journal verify`: peak RSS MB",
                "journal_verification",
                "peak_rss_mb",
            ),
            (
                "start to `/readyz` 200, median ms (existing DB)",
                "time_to_ready",
                "p50_ms",
            ),
        ] {
            row(&mut md, name, &|r| num(&r[section][field]));
        }
        let scaled: Vec<&&(&str, Value)> = procura
            .iter()
            .filter(|(_, r)| r["scale"].get("pages").is_some())
            .collect();
        if !scaled.is_empty() {
            let d = &scaled[0].1["scale"]["data"];
            md.push_str(&format!(
                "\n## At scale\n\n{} usagers and mandates (two authorisations each) over {} \
                 structures plus the benchmark's, which holds {} active usagers; the journal \
                 holds the verification entries above. p50 / p99 ms (page size):\n\n| page |",
                num(&json!(d["usagers"].as_f64().unwrap_or(0.0) + 1.0)),
                num(&d["other_structures"]),
                num(&d["big_structure_active_usagers"])
            ));
            for (l, _) in &scaled {
                md.push_str(&format!(" {l} |"));
            }
            md.push_str("\n|---|");
            md.push_str(&"---:|".repeat(scaled.len()));
            md.push('\n');
            for (key, name) in [
                ("espace", "`/espace`"),
                ("usager_choice", "usager choice (interaction)"),
                ("demarche_choice", "démarche choice (interaction)"),
                ("gestion_mandats", "`/gestion/mandats`"),
                (
                    "mandate_lookup_usager_page",
                    "mandate look-up (`/usagers/{id}`)",
                ),
                ("flow_c1", "whole flow, c = 1"),
            ]
            .into_iter()
            .chain(AUDIT_PAGES)
            {
                md.push_str(&format!("| {name} |"));
                for (_, r) in &scaled {
                    let p = &r["scale"]["pages"][key];
                    let size = p
                        .get("bytes")
                        .map(|b| {
                            format!(
                                " ({} kB)",
                                num(&json!((b.as_f64().unwrap_or(0.0) / 1024.0).round()))
                            )
                        })
                        .unwrap_or_default();
                    md.push_str(&format!(
                        " {} / {}{size} |",
                        num(&p["p50_ms"]),
                        num(&p["p99_ms"])
                    ));
                }
                md.push('\n');
            }
            md.push_str("| start to `/readyz` 200, median ms |");
            for (_, r) in &scaled {
                md.push_str(&format!(
                    " {} |",
                    num(&r["scale"]["time_to_ready_at_scale"]["p50_ms"])
                ));
            }
            md.push('\n');
        }
    }
    // Issue 8's targets.
    let get = |name: &str| {
        targets
            .iter()
            .find(|(_, r)| {
                r.get("backend").and_then(Value::as_str) == Some(name)
                    || (name == "node" && r.get("backend").is_none())
            })
            .map(|(_, r)| r)
    };
    let cpu = |name: &str| -> Option<f64> {
        get(name).and_then(|r| {
            [1u64, 8, 32]
                .iter()
                .filter_map(|c| level(r, *c)?["total_cpu_ms_per_flow"].as_f64())
                .reduce(f64::min)
        })
    };
    let node_cpu = cpu("node");
    let pg_xacts = get("postgres").and_then(|r| {
        [1u64, 8, 32]
            .iter()
            .filter_map(|c| level(r, *c)?.get("xacts_per_flow")?.as_f64())
            .reduce(f64::max)
    });
    let rss = get("sqlite").and_then(|r| r["flows"]["server_rss_peak_mb"].as_f64());
    let verify = |n: &str| get(n).and_then(|r| r["journal_verification"]["entries_per_s"].as_f64());
    let ready = |n: &str| get(n).and_then(|r| r["time_to_ready"]["p50_ms"].as_f64());
    let pages_p99 = |n: &str| -> Option<f64> {
        // Pages only: the whole flow (seven requests) is reported beside them, not a page.
        let p = get(n)?["scale"].get("pages")?.as_object()?.clone();
        p.iter()
            .filter(|(k, _)| k.as_str() != "flow_c1" && !k.starts_with("audit"))
            .filter_map(|(_, v)| v["p99_ms"].as_f64())
            .reduce(f64::max)
    };
    let audit_p99 = |n: &str| -> Option<f64> {
        let p = get(n)?["scale"].get("pages")?.as_object()?.clone();
        p.iter()
            .filter(|(k, _)| k.starts_with("audit"))
            .filter_map(|(_, v)| v["p99_ms"].as_f64())
            .reduce(f64::max)
    };
    let both = |a: Option<bool>, b: Option<bool>| match (a, b) {
        (Some(x), Some(y)) => Some(x && y),
        _ => None,
    };
    let f = |x: Option<f64>| x.map(|v| num(&json!(round(v, 2)))).unwrap_or("–".into());
    md.push_str("\n## Issue 8's targets\n\n| target | measured | |\n|---|---|---|\n");
    md.push_str(&format!(
        "| ≤ 10 DB transactions per flow (PostgreSQL) | {} (worst level) | {} |\n",
        f(pg_xacts),
        mark(pg_xacts.map(|x| x <= 10.0))
    ));
    md.push_str(&format!(
        "| total CPU per flow ≤ 5 ms on PostgreSQL, ≤ 2 ms on SQLite, both below oidc-provider | PostgreSQL {}, SQLite {}, oidc-provider {} (best level) | {} |\n",
        f(cpu("postgres")),
        f(cpu("sqlite")),
        f(node_cpu),
        mark(both(
            both(cpu("postgres").map(|x| x <= 5.0), cpu("sqlite").map(|x| x <= 2.0)),
            node_cpu.and_then(|n| Some(cpu("postgres")? < n && cpu("sqlite")? < n))
        ))
    ));
    md.push_str(&format!(
        "| RSS < 64 MB after the flows on SQLite | {} MB | {} |\n",
        f(rss),
        mark(rss.map(|x| x < 64.0))
    ));
    // A target to reach on both backends: `| target | SQLite x, PostgreSQL y | mark |`, the
    // values in `unit` and followed by `note`.
    let on_both = |target: &str,
                   (unit, note): (&str, &str),
                   m: &dyn Fn(&str) -> Option<f64>,
                   ok: fn(f64) -> bool| {
        let (sqlite, postgres) = (m("sqlite"), m("postgres"));
        format!(
            "| {target} | SQLite {}{unit}, PostgreSQL {}{unit}{note} | {} |\n",
            f(sqlite),
            f(postgres),
            mark(both(sqlite.map(ok), postgres.map(ok)))
        )
    };
    let verified = "journal verification ≥ 500,000 entries/s";
    md.push_str(&on_both(verified, ("", ""), &verify, |x| x >= 500_000.0));
    let started = "start-up to ready < 300 ms";
    md.push_str(&on_both(started, (" ms", ""), &ready, |x| x < 300.0));
    let paged = "at scale, every page p99 < 50 ms";
    md.push_str(&on_both(paged, (" ms", " (slowest)"), &pages_p99, |x| {
        x < 50.0
    }));
    let audited = "issue 11: at 1 M journal entries, every `/audit` page p99 < 100 ms";
    md.push_str(&on_both(audited, (" ms", " (slowest)"), &audit_p99, |x| {
        x < 100.0
    }));
    println!("{md}");
    Ok(Value::Null)
}
