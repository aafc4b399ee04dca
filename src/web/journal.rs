//! The journal's public evidence (docs/journal.md, "Publication"): the latest signed
//! checkpoint, the verifier keys, inclusion and consistency proofs. Hashes only, never an
//! entry; rate-limited per client address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use super::errors::WebError;
use super::session::{App, Run};
use crate::journal::checkpoint;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/journal/checkpoint", web::get().to(latest_checkpoint))
        .route("/journal/key", web::get().to(current_key))
        .route("/journal/keys", web::get().to(all_keys))
        .route("/journal/proof/inclusion", web::get().to(inclusion))
        .route("/journal/proof/consistency", web::get().to(consistency));
}

/// Requests per client (an IPv4 address, an IPv6 /64) and minute on these endpoints.
const PER_MINUTE: u32 = 120;

/// Clients tracked at most: beyond, new clients share one counter (the service stays
/// bounded in memory and work whatever the number of addresses an attacker uses).
const MAX_CLIENTS: usize = 50_000;

/// A fixed-window counter per client, in memory (proofs are cheap but public). Expired
/// counters are swept at most once every 10 seconds.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<LimiterState>,
    per_minute: u32,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new(PER_MINUTE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_clients_stay_bounded_and_ipv6_counts_by_64() {
        let l = Limiter::default();
        for i in 0..(MAX_CLIENTS as u32 + 5000) {
            l.allow(&std::net::Ipv4Addr::from(i).to_string());
        }
        assert!(l.state.lock().unwrap().clients.len() <= MAX_CLIENTS + 1);
        // One /64: one counter, however many addresses.
        let l = Limiter::default();
        let allowed = (0..200u16)
            .filter(|i| l.allow(&format!("2001:db8:1:2::{i:x}")))
            .count();
        assert_eq!(allowed, PER_MINUTE as usize);
        assert!(
            l.allow("2001:db8:1:3::1"),
            "another /64 has its own counter"
        );
    }
}

#[derive(Debug, Default)]
struct LimiterState {
    clients: HashMap<String, (Instant, u32)>,
    swept: Option<Instant>,
}

/// The counter's key: an IPv6 client by its /64 (one host often holds a whole /64).
fn client_key(addr: &str) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(a)) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => addr.to_string(),
    }
}

impl Limiter {
    /// A limiter of `per_minute` requests per client and minute.
    pub fn new(per_minute: u32) -> Self {
        Limiter {
            state: Mutex::new(LimiterState::default()),
            per_minute,
        }
    }

    /// Counts a request from `addr`; false when its client is over the limit.
    pub(crate) fn allow(&self, addr: &str) -> bool {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.clients.len() >= MAX_CLIENTS / 2
            && st
                .swept
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
        {
            st.clients
                .retain(|_, (start, _)| now.duration_since(*start) < minute);
            st.swept = Some(now);
        }
        let mut key = client_key(addr);
        if st.clients.len() >= MAX_CLIENTS && !st.clients.contains_key(&key) {
            key = "*".into();
        }
        let slot = st.clients.entry(key).or_insert((now, 0));
        if now.duration_since(slot.0) >= minute {
            *slot = (now, 0);
        }
        slot.1 = slot.1.saturating_add(1);
        slot.1 <= self.per_minute
    }
}

pub(super) fn limited(req: &HttpRequest, app: &App) -> Result<(), WebError> {
    let addr = super::auth::client_addr(req, &app.settings.trusted_proxies);
    if app.evidence_limiter.allow(&addr) {
        Ok(())
    } else {
        Err(WebError::TooMany(
            "Trop de demandes de preuves depuis cette adresse : réessayez dans une minute.".into(),
        ))
    }
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

async fn latest_checkpoint(req: HttpRequest, app: App) -> Result<HttpResponse, WebError> {
    limited(&req, &app)?;
    let cp = app
        .run(|db, _| Ok(checkpoint::public::latest_note(db)?))
        .await?;
    cp.map(text).ok_or_else(|| {
        WebError::NotFoundWith("Aucun point de contrôle n’a encore été fait.".into())
    })
}

async fn current_key(req: HttpRequest, app: App) -> Result<HttpResponse, WebError> {
    limited(&req, &app)?;
    let vkey = app
        .run(|db, _| Ok(checkpoint::public::current_vkey(db)?))
        .await?;
    let vkey = vkey.ok_or_else(|| {
        WebError::NotFoundWith("Aucune clé de points de contrôle n’a encore été créée.".into())
    })?;
    Ok(text(format!("{vkey}\n")))
}

async fn all_keys(req: HttpRequest, app: App) -> Result<HttpResponse, WebError> {
    limited(&req, &app)?;
    let body = app
        .run(|db, _| {
            let mut body = String::new();
            for vkey in checkpoint::public::all_vkeys(db)? {
                body.push_str(&vkey);
                body.push('\n');
            }
            Ok(body)
        })
        .await?;
    Ok(text(body))
}

/// Reads exactly the integer parameters `names` from the query string: each once, in
/// decimal, nothing else.
fn params<const N: usize>(req: &HttpRequest, names: [&str; N]) -> Result<[i64; N], WebError> {
    let mut found: [Option<i64>; N] = [None; N];
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let Some(i) = names.iter().position(|n| *n == k) else {
            return Err(WebError::BadRequest(format!(
                "Paramètre inconnu « {k} » : seuls {} sont attendus.",
                names.join(" et ")
            )));
        };
        if found[i].is_some() {
            return Err(WebError::BadRequest(format!(
                "Le paramètre {k} est donné deux fois."
            )));
        }
        let plain = !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit())
            && (v == "0" || !v.starts_with('0'));
        let n = v.parse::<i64>().ok().filter(|_| plain).ok_or_else(|| {
            WebError::BadRequest(format!(
                "Le paramètre {k} doit être un nombre entier positif (reçu « {v} »)."
            ))
        })?;
        found[i] = Some(n);
    }
    let mut out = [0; N];
    for (i, f) in found.iter().enumerate() {
        out[i] = f.ok_or_else(|| {
            WebError::BadRequest(format!("Le paramètre {} est obligatoire.", names[i]))
        })?;
    }
    Ok(out)
}

fn b64(hashes: &[[u8; 32]]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

async fn inclusion(req: HttpRequest, app: App) -> Result<HttpResponse, WebError> {
    limited(&req, &app)?;
    let [seq, size] = params(&req, ["seq", "size"])?;
    let proof = app
        .run(move |db, _| Ok(checkpoint::public::inclusion(db, seq, size)?))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "leaf_index": seq - 1,
        "tree_size": size,
        "hashes": b64(&proof),
    })))
}

async fn consistency(req: HttpRequest, app: App) -> Result<HttpResponse, WebError> {
    limited(&req, &app)?;
    let [from, to] = params(&req, ["from", "to"])?;
    let proof = app
        .run(move |db, _| Ok(checkpoint::public::consistency(db, from, to)?))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "from": from,
        "to": to,
        "hashes": b64(&proof),
    })))
}
