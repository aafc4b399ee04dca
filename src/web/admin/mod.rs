//! The administrator's screens (`/admin`): structures, accounts, OpenID clients, TOTP
//! cards, signing keys, the settings in force and the erasure of a person's identity.
//! Every route takes the [`Admin`] extractor (403 for another role, the login page for a
//! visitor); every change is one use case of [`crate::operator`] (or the domain), journaled
//! with the administrator as actor.

mod accounts;
mod cards;
mod clients;
mod keys;
mod settings;
mod structures;
mod usagers;

/// The search of the structures' and accounts' lists: `?q=`.
#[derive(serde::Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::session::Admin;
use super::{render, App, Layout, WebError};
use crate::domain::mandate::{Demarche, DemarcheSet, DEMARCHES};

/// Every `/admin` route (`/admin/statistiques.csv` is in `super::statistics`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(home));
    structures::routes(cfg);
    accounts::routes(cfg);
    clients::routes(cfg);
    cards::routes(cfg);
    keys::routes(cfg);
    settings::routes(cfg);
    usagers::routes(cfg);
}

#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomePage {
    layout: Layout,
    flash: Option<String>,
}

async fn home(a: Admin, app: App) -> Result<HttpResponse, WebError> {
    Ok(a.finish(
        &app,
        render(&HomePage {
            layout: a.layout(&app),
            flash: a.flash(),
        }),
    ))
}

/// A text field of an administration form, with its error beside it.
pub struct Field {
    /// `id` and `name`.
    pub id: &'static str,
    /// Label.
    pub label: &'static str,
    /// Hint under the label (empty: none).
    pub hint: &'static str,
    /// `text`, `email` or `textarea`.
    pub kind: &'static str,
    /// Value shown.
    pub value: String,
    /// Whether the field must be filled.
    pub required: bool,
    /// The error about this field.
    pub error: Option<String>,
}

impl Field {
    /// A required single-line text field.
    pub fn text(id: &'static str, label: &'static str, value: &str) -> Field {
        Field {
            id,
            label,
            hint: "",
            kind: "text",
            value: value.to_string(),
            required: true,
            error: None,
        }
    }

    /// With a hint.
    pub fn hint(mut self, hint: &'static str) -> Field {
        self.hint = hint;
        self
    }

    /// Of another kind (`email`, `textarea`).
    pub fn kind(mut self, kind: &'static str) -> Field {
        self.kind = kind;
        self
    }

    /// Optional.
    pub fn optional(mut self) -> Field {
        self.required = false;
        self
    }
}

/// Puts `message` beside the field `field` (or keeps it for the summary alone when no
/// field has that id).
pub fn mark(fields: &mut [Field], field: &str, message: &str) {
    if let Some(f) = fields.iter_mut().find(|f| f.id == field) {
        f.error = Some(message.to_string());
    }
}

/// A démarche checkbox.
pub struct DemarcheChoice {
    /// The démarche.
    pub d: &'static Demarche,
    /// Ticked.
    pub checked: bool,
}

/// The catalogue's checkboxes, `codes` ticked.
pub fn demarche_choices(codes: &[String]) -> Vec<DemarcheChoice> {
    DEMARCHES
        .iter()
        .map(|d| DemarcheChoice {
            d,
            checked: codes.iter().any(|c| c == d.code),
        })
        .collect()
}

/// The codes ticked for a set of démarches (every one for `All`).
pub fn ticked(set: &DemarcheSet) -> Vec<String> {
    set.list().iter().map(|d| d.code.to_string()).collect()
}

/// The démarches ticked in a form: every box ticked means every démarche (those the
/// catalogue may add included), as on the manager's page.
pub fn parse_ticked(codes: &[String]) -> Result<DemarcheSet, String> {
    if codes.is_empty() {
        return Err("Choisissez au moins une démarche.".into());
    }
    match DemarcheSet::parse(codes)? {
        DemarcheSet::Only(list) if list.len() == DEMARCHES.len() => Ok(DemarcheSet::All),
        set => Ok(set),
    }
}

/// A posted urlencoded form whose fields may repeat (checkboxes).
pub struct Posted(Vec<(String, String)>);

impl Posted {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Posted {
        Posted(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name` ("" when absent).
    pub fn one(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A refused form: its page again, status 400.
pub fn refused(mut resp: HttpResponse) -> HttpResponse {
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

/// Date-time display.
pub fn when(t: chrono::NaiveDateTime) -> String {
    crate::domain::french::day_and_time(t)
}

/// A refusal's message as a sentence (the domain's messages, shared with the command
/// line, may start lowercase).
pub fn sentence(m: &str) -> String {
    let mut c = m.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
