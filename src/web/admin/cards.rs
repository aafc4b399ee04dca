//! `/admin/cartes`: importing physical TOTP cards from pasted `serial,seed` lines, and
//! tracking every card (in stock, or the account it is assigned to).

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{refused, when, Field};
use crate::error::Error;
use crate::operator;
use crate::web::session::{see_other, with_flash, Admin};
use crate::web::{render, App, Layout, Run, WebError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/cartes", web::get().to(list))
        .route("/admin/cartes", web::post().to(import));
}

/// A card of the list.
pub struct Row {
    serial: String,
    imported: String,
    /// The account's id (empty: in stock).
    account_id: String,
    /// "name (e-mail)" of the account.
    who: String,
}

#[derive(Template)]
#[template(path = "admin_cards.html")]
struct Page {
    layout: Layout,
    flash: Option<String>,
    error: Option<String>,
    fields: Vec<Field>,
    rows: Vec<Row>,
    in_stock: usize,
}

async fn page(
    a: &Admin,
    app: &App,
    csv: &str,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let cards = app.run(|db, _| operator::cards(db)).await?;
    let mut f = Field::text("csv", "Cartes à importer", csv)
        .kind("textarea")
        .hint("Une carte par ligne : numéro de série, virgule, graine (base32 ou hexadécimal). Une première ligne serial,seed est ignorée. Tout est vérifié avant l’import : une ligne en défaut, et rien n’est importé.");
    f.error = error.clone();
    let rows: Vec<Row> = cards
        .into_iter()
        .map(|c| {
            let (account_id, who) = c
                .assigned
                .map(|(id, name, email)| (id, format!("{name} ({email})")))
                .unwrap_or_default();
            Row {
                serial: c.serial,
                imported: when(c.created_at),
                account_id,
                who,
            }
        })
        .collect();
    Ok(render(&Page {
        layout: a.layout(app),
        flash: if error.is_none() { a.flash() } else { None },
        error,
        fields: vec![f],
        in_stock: rows.iter().filter(|r| r.account_id.is_empty()).count(),
        rows,
    }))
}

async fn list(a: Admin, app: App) -> Result<HttpResponse, WebError> {
    let resp = page(&a, &app, "", None).await?;
    Ok(a.finish(&app, resp))
}

/// Import form.
#[derive(Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    csv: String,
}

async fn import(a: Admin, app: App, form: web::Form<ImportForm>) -> Result<HttpResponse, WebError> {
    a.check_csrf(&form.csrf_token)?;
    let csv = form.into_inner().csv;
    let admin = a.user().clone();
    let text = csv.clone();
    let done = app
        .run(
            move |db, env| match operator::import_cards(db, env.now, &admin, env.secrets, &text) {
                Ok(n) => Ok(Ok(n)),
                Err(Error::CsvRow { line, message }) => {
                    Ok(Err(format!("Ligne {line} : {}", french(&message))))
                }
                Err(e) if e.is_refusal() => Ok(Err(e.to_string())),
                Err(e) => Err(e),
            },
        )
        .await?;
    match done {
        Ok(n) => Ok(with_flash(
            &app,
            &a,
            see_other("/admin/cartes"),
            &format!("{n} carte(s) importée(s)."),
        )),
        Err(m) => Ok(refused(page(&a, &app, &csv, Some(m)).await?)),
    }
}

/// The import's refusals, which the command line prints in English, in French.
fn french(m: &str) -> String {
    if m.starts_with("expected serial,seed") {
        "attendu : numéro,graine".into()
    } else if m.starts_with("the serial must be") {
        "le numéro de série doit compter 1 à 64 lettres, chiffres ou tirets".into()
    } else if m.contains("appears twice") {
        "ce numéro de série figure deux fois".into()
    } else if m.contains("already imported") {
        format!(
            "la carte {} est déjà importée",
            m.trim_start_matches("card ")
                .trim_end_matches(" is already imported")
        )
    } else if m.contains("hexadecimal") {
        "graine hexadécimale illisible".into()
    } else {
        format!("graine illisible ({m})")
    }
}
