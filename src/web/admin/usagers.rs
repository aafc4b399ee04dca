//! `/admin/usagers/{id}/effacer`: erasing a person's identity, as
//! `procura usager erase --id ID` does (the same use case), after a confirmation.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::error::Error;
use crate::person::erase::{self, Reason};
use crate::web::auth::CsrfOnly;
use crate::web::session::{see_other, with_flash, Admin};
use crate::web::{render, App, ConfirmPage, Run, WebError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/usagers/effacer", web::get().to(by_query))
        .route("/admin/usagers/{id}/effacer", web::get().to(confirm))
        .route("/admin/usagers/{id}/effacer", web::post().to(act));
}

/// `?id=` of the form on `/admin`.
#[derive(Deserialize)]
pub struct ById {
    #[serde(default)]
    id: String,
}

async fn by_query(_a: Admin, q: web::Query<ById>) -> Result<HttpResponse, WebError> {
    let id = q.into_inner().id.trim().to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(WebError::BadRequest(
            "Indiquez l’identifiant de la personne (lettres, chiffres et tirets).".into(),
        ));
    }
    Ok(see_other(&format!("/admin/usagers/{id}/effacer")))
}

async fn confirm(a: Admin, app: App, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let uid = id.clone();
    let erased = app
        .run(move |db, _| Ok(erase::erased_at(db, &uid)?))
        .await?;
    let message = match erased {
        Some(at) => format!(
            "Cette identité a déjà été effacée le {} : rien ne changera.",
            crate::domain::french::day_and_time(at)
        ),
        None => "Son nom, sa date et son lieu de naissance et son adresse électronique sont effacés ; ses mandats encore actifs sont révoqués d’abord, et les courriels qui lui sont destinés retirés de la file. Les identifiants et le journal restent, et se vérifient toujours. C’est définitif.".into(),
    };
    Ok(render(&ConfirmPage {
        layout: a.layout(&app),
        title: format!("Effacer l’identité de la personne {id} ?"),
        message,
        button: "Effacer l’identité".into(),
        action: format!("/admin/usagers/{id}/effacer"),
        back: "/admin".into(),
    }))
}

async fn act(
    a: Admin,
    app: App,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    a.check_csrf(&form.csrf_token)?;
    let id = path.into_inner();
    let actor = a.actor();
    let done = app
        .run(
            move |db, env| match erase::erase(db, env.now, &actor, &id, Reason::Request) {
                Err(Error::NotFound) => {
                    Err(Error::Gone("Aucune personne n’a cet identifiant.".into()))
                }
                other => other,
            },
        )
        .await?;
    let message = if done.erased {
        format!(
            "L’identité de la personne {} est effacée ({} mandat(s) révoqué(s) d’abord, {} courriel(s) retiré(s) de la file).",
            done.usager_id, done.mandates_revoked, done.mails_removed
        )
    } else {
        format!(
            "L’identité de la personne {} avait déjà été effacée : rien n’a changé.",
            done.usager_id
        )
    };
    Ok(with_flash(&app, &a, see_other("/admin"), &message))
}
