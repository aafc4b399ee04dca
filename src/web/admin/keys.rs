//! `/admin/cles`: the OpenID provider's signing keys and the journal's checkpoint keys,
//! with their state; rotating either, after a confirmation.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use serde::Deserialize;

use super::{refused, sentence, when, Field};
use crate::operator;
use crate::web::auth::CsrfOnly;
use crate::web::session::{run_refusable, see_other, with_flash, Admin, Refusable};
use crate::web::{render, App, ConfirmPage, Layout, Run, WebError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/cles", web::get().to(list))
        .route("/admin/cles/rsa", web::post().to(import_rsa))
        .route("/admin/cles/point-de-controle", web::post().to(checkpoint))
        .route("/admin/cles/{which}", web::get().to(confirm))
        .route("/admin/cles/{which}", web::post().to(rotate));
}

/// A key of either table.
pub struct Row {
    id: String,
    alg: String,
    created: String,
    /// "signe", "publiée jusqu’au …", "retirée le …".
    state: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
struct Page {
    layout: Layout,
    flash: Option<String>,
    error: Option<String>,
    /// The RSA import's field.
    fields: Vec<Field>,
    signing: Vec<Row>,
    journal: Vec<Row>,
    grace_hours: u32,
}

async fn list(a: Admin, app: App) -> Result<HttpResponse, WebError> {
    let resp = page(&a, &app, None).await?;
    Ok(a.finish(&app, resp))
}

/// The keys page, with the RSA import's refusal if any.
async fn page(a: &Admin, app: &App, error: Option<String>) -> Result<HttpResponse, WebError> {
    let (signing, journal) = app.run(|db, _| operator::keys(db)).await?;
    let grace = chrono::Duration::hours(i64::from(app.settings.key_grace_hours));
    let now = app.clock.now().naive_utc();
    let signing = signing
        .into_iter()
        .map(|k| {
            let (state, current) = match k.retired_at {
                None => ("signe".to_string(), true),
                Some(r) if r + grace > now => (
                    format!(
                        "retirée le {}, encore publiée jusqu’au {}",
                        when(r),
                        when(r + grace)
                    ),
                    false,
                ),
                Some(r) => (format!("retirée le {}", when(r)), false),
            };
            Row {
                id: k.kid,
                alg: k.alg,
                created: when(k.created_at),
                state,
                current,
            }
        })
        .collect();
    let journal = journal
        .into_iter()
        .rev()
        .map(|k| Row {
            id: k.key_id,
            alg: format!("Ed25519 ({})", k.name),
            created: when(k.created_at),
            current: k.retired_at.is_none(),
            state: match k.retired_at {
                None => "signe les points de contrôle".into(),
                Some(r) => format!("retirée le {}", when(r)),
            },
        })
        .collect();
    let mut pem = Field::text("pem", "Clé privée RSA (PKCS#8, PEM)", "")
        .kind("textarea")
        .hint("Le contenu du fichier, de -----BEGIN PRIVATE KEY----- à -----END PRIVATE KEY----- ; 2048 bits au moins (par exemple openssl genpkey -algorithm RSA). Elle est chiffrée avec la clé maîtresse ; l’ancienne clé RSA est retirée.");
    pem.error = error.clone();
    Ok(render(&Page {
        layout: a.layout(app),
        flash: if error.is_none() { a.flash() } else { None },
        error,
        fields: vec![pem],
        signing,
        journal,
        grace_hours: app.settings.key_grace_hours,
    }))
}

/// RSA import form.
#[derive(Deserialize)]
pub struct RsaForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    pem: String,
}

async fn import_rsa(
    a: Admin,
    app: App,
    form: web::Form<RsaForm>,
) -> Result<HttpResponse, WebError> {
    a.check_csrf(&form.csrf_token)?;
    let pem = form.into_inner().pem;
    if app.settings.master_key.is_none() {
        return Err(WebError::BadRequest(NO_MASTER_KEY.into()));
    }
    let admin = a.user().clone();
    let done = run_refusable(&app, move |db, env| {
        operator::import_rsa_key(db, env.now, &admin, env.secrets, &pem)
    })
    .await?;
    match done {
        Refusable::Done(kid) => Ok(with_flash(
            &app,
            &a,
            see_other("/admin/cles"),
            &format!("Clé RSA importée : {kid}"),
        )),
        Refusable::Refused(m) => Ok(refused(page(&a, &app, Some(sentence(&m))).await?)),
    }
}

/// Makes a signed checkpoint of the journal now, as `procura journal checkpoint`. Not a
/// journal entry of its own: a checkpoint is evidence about the entries, and an entry for
/// each would always leave the last one uncovered.
async fn checkpoint(
    a: Admin,
    app: App,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    a.check_csrf(&form.csrf_token)?;
    if app.settings.master_key.is_none() {
        return Err(WebError::BadRequest(NO_MASTER_KEY.into()));
    }
    let (latest, made) = app
        .run(|db, env| {
            let origin = crate::journal::note::origin(&env.settings.public_url);
            operator::checkpoint_now(db, env.now, env.secrets, &origin)
        })
        .await?;
    let message = match (latest, made) {
        (None, _) => "Le journal est vide : aucun point de contrôle.".to_string(),
        (Some(cp), true) => format!("Point de contrôle signé : {} entrées.", cp.size),
        (Some(cp), false) => format!(
            "Le dernier point de contrôle couvre déjà tout le journal ({} entrées).",
            cp.size
        ),
    };
    Ok(with_flash(&app, &a, see_other("/admin/cles"), &message))
}

const NO_MASTER_KEY: &str = "PROCURA_MASTER_KEY est nécessaire pour chiffrer les clés.";

/// `rotation` (the OpenID signing key) or `rotation-journal` (the checkpoints' key).
fn parse_which(s: &str) -> Option<bool> {
    match s {
        "rotation" => Some(false),
        "rotation-journal" => Some(true),
        _ => None,
    }
}

async fn confirm(
    req: HttpRequest,
    a: Admin,
    app: App,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let journal = parse_which(&path).ok_or(WebError::NotFound)?;
    let (title, message, button) = if journal {
        (
            "Changer la clé des points de contrôle du journal ?",
            "Une nouvelle clé Ed25519 signe désormais les points de contrôle ; l’ancienne est retirée mais reste publiée pour vérifier les points déjà signés. Les auditeurs qui conservent la clé de vérification devront prendre la nouvelle (GET /journal/key).".to_string(),
            "Changer la clé du journal",
        )
    } else {
        (
            "Changer la clé de signature OpenID ?",
            format!("Une nouvelle clé ES256 signe désormais les jetons ; l’ancienne reste publiée {} heures pour les jetons déjà émis.", app.settings.key_grace_hours),
            "Changer la clé de signature",
        )
    };
    Ok(render(&ConfirmPage {
        layout: a.layout(&app),
        title: title.into(),
        message,
        button: button.into(),
        action: req.path().to_string(),
        back: "/admin/cles".into(),
    }))
}

async fn rotate(
    a: Admin,
    app: App,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    a.check_csrf(&form.csrf_token)?;
    let journal = parse_which(&path).ok_or(WebError::NotFound)?;
    if app.settings.master_key.is_none() {
        return Err(WebError::BadRequest(NO_MASTER_KEY.into()));
    }
    let admin = a.user().clone();
    let message = app
        .run(move |db, env| {
            if journal {
                let origin = crate::journal::note::origin(&env.settings.public_url);
                let vk = operator::rotate_journal_key(db, env.now, &admin, env.secrets, &origin)?;
                Ok(format!(
                    "Nouvelle clé des points de contrôle : {}",
                    vk.vkey()
                ))
            } else {
                let kid = operator::rotate_signing_key(db, env.now, &admin, env.secrets)?;
                Ok(format!("Nouvelle clé de signature : {kid}"))
            }
        })
        .await?;
    Ok(with_flash(&app, &a, see_other("/admin/cles"), &message))
}
