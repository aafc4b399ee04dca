//! Mandate pages: creation through FranceConnect and consent, attestation, usager page,
//! revocation, renewal, and the manager's list. Everything is scoped to the current
//! structure: another structure's usagers and mandates are 404.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;

use super::auth::CsrfOnly;
use super::session::{run_refusable, see_other, Ctx, Manager, Refusable};
use super::{blocking, render, AppState, ConfirmPage, Layout, Run, WebError};
use crate::domain::mandate::{
    self as rules, consent_statement, AuthorisationState, Demarche, MandateDuration, DEMARCHES,
};
use crate::domain::roles::Role;
use crate::error::Error;
use crate::federation::client::{FcError, Identity};
use crate::mandates::{self, Callback, MandateView};

mod attestation;
mod create;
mod list;
mod pdf;
mod view;

pub use create::{consent_terms_page, ConsentTerms, SIGNED_OUT_PATH};
pub use list::{home_mandates, home_rows, HomeRow};

const ACTORS: [Role; 2] = [Role::Aidant, Role::Manager];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/mandats/nouveau", web::get().to(create::new_form))
        .route("/mandats/nouveau", web::post().to(create::new_submit))
        .route("/franceconnect/callback", web::get().to(create::callback))
        .route(create::SIGNED_OUT_PATH, web::get().to(create::signed_out))
        .route(
            "/mandats/consentement/{id}",
            web::get().to(create::consent_form),
        )
        .route(
            "/mandats/consentement/{id}",
            web::post().to(create::consent_submit),
        )
        .route(
            "/mandats/{id}/attestation",
            web::get().to(attestation::page),
        )
        .route(
            "/mandats/{id}/attestation.pdf",
            web::get().to(attestation::pdf),
        )
        .route("/mandats/{id}/revocation", web::get().to(view::revocation))
        .route(
            "/mandats/{id}/revoquer",
            web::get().to(view::confirm_revocation),
        )
        .route("/mandats/{id}/revoquer", web::post().to(view::revoke))
        .route(
            "/autorisations/{id}/revoquer",
            web::get().to(view::confirm_revocation),
        )
        .route("/autorisations/{id}/revoquer", web::post().to(view::revoke))
        .route("/usagers/{id}", web::get().to(view::usager))
        .route(
            "/usagers/{id}/effacer",
            web::get().to(view::confirm_erasure),
        )
        .route("/usagers/{id}/effacer", web::post().to(view::erase))
        .route("/gestion/mandats", web::get().to(list::manager_list));
}

/// "12 décembre 2026" (Europe/Paris).
fn day(t: &NaiveDateTime) -> String {
    crate::domain::french::day(*t)
}

/// "12 décembre 2026 à 14 h 05" (Europe/Paris).
fn day_time(t: &NaiveDateTime) -> String {
    crate::domain::french::day_and_time(*t)
}

/// An authorisation line.
pub struct AuthLine {
    id: String,
    label: String,
    state: AuthorisationState,
    revoked: String,
}

/// A mandate block.
pub struct MandateBlock {
    id: String,
    created: String,
    end: String,
    aidant: String,
    state: AuthorisationState,
    auths: Vec<AuthLine>,
    renewable: bool,
}

fn block(v: &MandateView) -> MandateBlock {
    MandateBlock {
        id: v.mandate.id.clone(),
        created: day_time(&v.mandate.created_at),
        end: day_time(&v.mandate.expires_at),
        aidant: v.aidant_name.clone(),
        state: v.state(),
        auths: v
            .authorisations
            .iter()
            .map(|(a, s)| AuthLine {
                id: a.id.clone(),
                label: rules::demarche(&a.demarche)
                    .map(|d| d.label.to_string())
                    .unwrap_or_else(|| a.demarche.clone()),
                state: *s,
                revoked: a.revoked_at.as_ref().map(day_time).unwrap_or_default(),
            })
            .collect(),
        renewable: matches!(
            v.state(),
            AuthorisationState::Active | AuthorisationState::Expired
        ),
    }
}
