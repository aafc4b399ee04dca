//! `/verifier`: anyone holding a paper attestation checks its receipt (docs/journal.md,
//! "Receipts"). Public, rate-limited, and free of personal data: the action, time, seq,
//! digest and the evidence (checkpoint, key, proof), nothing else.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::errors::WebError;
use super::session::{App, Run};
use super::{render, Layout};
use crate::journal::receipt::{self, Receipt, Status};

/// `/verifier`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/verifier", web::get().to(verifier));
}

/// The public address that checks the attestation recorded by entry `seq` with `digest`.
pub fn url(public: &url::Url, seq: i64, digest: &str) -> String {
    format!(
        "{}/verifier?seq={seq}&empreinte={digest}",
        public.as_str().trim_end_matches('/')
    )
}

/// The QR code of `data` as an accessible inline SVG (no script, no style attribute).
pub fn qr_svg(data: &str) -> String {
    match qrcode::QrCode::new(data.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(160, 160)
                .quiet_zone(true)
                .build();
            // Inline in HTML: the element alone, without the XML declaration.
            svg[svg.find("<svg").unwrap_or(0)..].replacen(
                "<svg ",
                "<svg role=\"img\" aria-label=\"QR code de l’adresse de vérification de cette attestation\" ",
                1,
            )
        }
        Err(_) => String::new(),
    }
}

/// What the query asks: nothing (the form), or a receipt, as HTML or JSON.
struct Ask {
    seq: i64,
    digest: String,
    json: bool,
}

/// Reads `seq`, `empreinte` and `format` (`html` or `json`): each at most once, nothing
/// else; none at all is the form.
fn parse(query: &str) -> Result<Option<Ask>, WebError> {
    let bad = |m: String| WebError::BadRequest(m);
    let (mut seq, mut digest, mut format) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "seq" => &mut seq,
            "empreinte" => &mut digest,
            "format" => &mut format,
            _ => {
                return Err(bad(
                    "Paramètre inconnu : seuls seq, empreinte et format sont attendus.".into(),
                ))
            }
        };
        if slot.is_some() {
            return Err(bad(format!("Le paramètre {k} est donné deux fois.")));
        }
        *slot = Some(v.trim().to_string());
    }
    let json = match format.as_deref() {
        None | Some("html") => false,
        Some("json") => true,
        Some(_) => return Err(bad("Le paramètre format vaut html ou json.".into())),
    };
    let (seq, digest) =
        match (seq, digest) {
            (None, None) if !json => return Ok(None),
            (Some(s), Some(d)) => (s, d),
            _ => return Err(bad(
                "Indiquez le numéro d’entrée (seq) et l’empreinte de l’attestation (empreinte)."
                    .into(),
            )),
        };
    let seq = seq
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1 && seq.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            bad("Le numéro d’entrée (seq) doit être un nombre entier, 1 ou plus.".into())
        })?;
    let digest = digest.to_ascii_lowercase();
    if !receipt::is_digest(&digest) {
        return Err(bad(
            "L’empreinte doit compter 64 caractères hexadécimaux (0 à 9, a à f) : recopiez-la depuis l’attestation."
                .into(),
        ));
    }
    Ok(Some(Ask { seq, digest, json }))
}

#[derive(Template)]
#[template(path = "verifier.html")]
struct VerifierPage {
    layout: Layout,
    seq: String,
    digest: String,
    receipt: Option<Receipt>,
    verdict: String,
    verified: bool,
    at: String,
}

/// The sentence for people.
fn verdict(r: &Receipt) -> String {
    let when = r.at.as_deref().map(day_and_time).unwrap_or_default();
    match r.status {
        Status::Verified => format!(
            "Cette attestation est enregistrée au journal : entrée n° {}, du {when}, couverte par le point de contrôle signé de taille {}.",
            r.seq,
            r.checkpoint_size.unwrap_or_default()
        ),
        Status::Pending => format!(
            "Cette attestation est enregistrée au journal (entrée n° {}, du {when}), mais aucun point de contrôle signé ne la couvre encore : réessayez dans quelques minutes.",
            r.seq
        ),
        Status::UnknownEntry => format!(
            "Non vérifiée : le journal n’a pas d’entrée n° {}.",
            r.seq
        ),
        Status::NotAnAttestation => format!(
            "Non vérifiée : l’entrée n° {} du journal n’enregistre pas d’attestation.",
            r.seq
        ),
        Status::DigestMismatch => format!(
            "Non vérifiée : l’entrée n° {} enregistre une autre empreinte. Vérifiez le numéro et l’empreinte recopiés ; sinon, l’attestation a été modifiée.",
            r.seq
        ),
        Status::Altered => format!(
            "Non vérifiée : l’entrée n° {} du journal a été altérée (son contenu ne correspond plus à son empreinte).",
            r.seq
        ),
        Status::InclusionInvalid => format!(
            "Non vérifiée : l’entrée n° {} n’est pas incluse dans le point de contrôle signé qui devrait la couvrir.",
            r.seq
        ),
    }
}

/// `2026-11-29T10:11:12.123456Z` (the journal's UTC time) as Paris time in words,
/// "29 novembre 2026 à 11 h 11"; anything else as given.
fn day_and_time(at: &str) -> String {
    at.get(0..19)
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
        .map(crate::domain::french::day_and_time)
        .unwrap_or_else(|| at.to_string())
}

async fn verifier(req: HttpRequest, app: App) -> Result<HttpResponse, WebError> {
    super::journal::limited(&req, &app)?;
    let layout = Layout {
        stylesheets: app.layout.stylesheets.clone(),
        demo: app.settings.demo,
        ..Layout::default()
    };
    let Some(ask) = parse(req.query_string())? else {
        return Ok(render(&VerifierPage {
            layout,
            seq: String::new(),
            digest: String::new(),
            receipt: None,
            verdict: String::new(),
            verified: false,
            at: String::new(),
        }));
    };
    let (seq, digest) = (ask.seq, ask.digest.clone());
    let r = app
        .run(move |db, _| Ok(receipt::check(db, seq, &digest)?))
        .await?;
    let sentence = verdict(&r);
    if ask.json {
        let mut v = serde_json::to_value(&r).map_err(|e| WebError::Internal(e.to_string()))?;
        v["verified"] = r.verified().into();
        v["message"] = sentence.into();
        return Ok(HttpResponse::Ok().json(v));
    }
    Ok(render(&VerifierPage {
        layout,
        seq: ask.seq.to_string(),
        digest: ask.digest,
        verified: r.verified(),
        at: r.at.as_deref().map(day_and_time).unwrap_or_default(),
        verdict: sentence,
        receipt: Some(r),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_time_of_an_entry_is_said_in_paris_time() {
        assert_eq!(
            super::day_and_time("2026-11-29T10:11:12.123456Z"),
            "29 novembre 2026 à 11 h 11"
        );
        assert_eq!(
            super::day_and_time("2026-07-01T08:05:00.000000Z"),
            "1er juillet 2026 à 10 h 05"
        );
        assert_eq!(super::day_and_time("?"), "?");
    }
}
