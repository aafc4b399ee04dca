//! The manager's space: the structure's accounts, adding aidants, deactivation,
//! second-factor reset and physical TOTP cards. Every action is scoped to the manager's
//! current structure (anything else is 404) and journaled with the manager as actor.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::CsrfOnly;
use super::session::{context, see_other, set_flash, take_flash, Ctx, WebError};
use super::{blocking, render, AppState, ConfirmPage, Layout};
use crate::accounts::users::{self, MemberRow, NewUser, User};
use crate::accounts::{cards, AccountError};
use crate::crypto::SecretBox;
use crate::domain::roles::Role;
use crate::store::write_tx;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/gestion", web::get().to(list))
        .route("/gestion/aidants", web::post().to(add_aidant))
        .route("/gestion/comptes/{id}", web::get().to(account))
        .route("/gestion/comptes/{id}/carte", web::post().to(assign_card))
        .route("/gestion/comptes/{id}/{action}", web::get().to(confirm))
        .route("/gestion/comptes/{id}/{action}", web::post().to(act));
}

/// Date-time display for tables.
fn fmt_time(t: &Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.format("%d/%m/%Y %H:%M UTC").to_string())
        .unwrap_or_else(|| "jamais".into())
}

/// A row of the accounts table.
pub struct Row {
    id: String,
    name: String,
    email: String,
    roles: String,
    active: bool,
    second_factor: String,
    last_login: String,
}

impl From<&MemberRow> for Row {
    fn from(m: &MemberRow) -> Self {
        let second_factor = match (&m.card_serial, m.user.totp_secret_enc.is_some()) {
            (Some(s), true) => format!("application et carte {s}"),
            (Some(s), false) => format!("carte {s}"),
            (None, true) => "application".into(),
            (None, false) => "à activer".into(),
        };
        Row {
            id: m.user.id.clone(),
            name: m.user.name.clone(),
            email: m.user.email.clone(),
            roles: m.user.role_set().labels(),
            active: m.user.active,
            second_factor,
            last_login: fmt_time(&m.user.last_login),
        }
    }
}

#[derive(Template)]
#[template(path = "manager.html")]
struct ManagerPage {
    layout: Layout,
    structure_name: String,
    rows: Vec<Row>,
    flash: Option<String>,
    error: Option<String>,
    email: String,
    name: String,
}

async fn members(state: &web::Data<AppState>, structure_id: String) -> Result<Vec<Row>, WebError> {
    let st = state.clone().into_inner();
    blocking(move || -> Result<Vec<Row>, WebError> {
        let mut conn = st.store.conn()?;
        Ok(users::members(&mut conn, &structure_id)?
            .iter()
            .map(Row::from)
            .collect())
    })
    .await?
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    let (_, structure) = ctx.require(Role::Manager)?;
    let rows = members(&state, structure.id.clone()).await?;
    let flash = take_flash(&state, &ctx).await?;
    Ok(render(&ManagerPage {
        layout: ctx.layout(&state),
        structure_name: structure.name.clone(),
        rows,
        flash,
        error: None,
        email: String::new(),
        name: String::new(),
    }))
}

/// New aidant form.
#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

#[derive(Template)]
#[template(path = "manager_link.html")]
struct LinkPage {
    layout: Layout,
    title: String,
    name: String,
    link: String,
}

async fn add_aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let (manager, structure) = ctx.require(Role::Manager)?;
    let form = form.into_inner();
    let st = state.clone().into_inner();
    let (actor, sid) = (manager.actor(), structure.id.clone());
    let (email, name) = (form.email.clone(), form.name.clone());
    let result = blocking(
        move || -> Result<Result<(User, String), AccountError>, WebError> {
            let mut conn = st.store.conn()?;
            let now = st.clock.now();
            let secrets = SecretBox::new(st.settings.master_key);
            Ok(write_tx(&mut conn, |c| {
                let user = users::create(
                    c,
                    now,
                    &actor,
                    &secrets,
                    NewUser {
                        email,
                        name,
                        roles: vec![Role::Aidant],
                        structure: Some(sid.clone()),
                        ..Default::default()
                    },
                )?;
                let token = users::issue_enrolment(c, now, &actor, Some(&sid), &user.id)?;
                Ok((user, token))
            }))
        },
    )
    .await??;
    match result {
        Ok((user, token)) => Ok(render(&LinkPage {
            layout: ctx.layout(&state),
            title: "Compte créé".into(),
            name: user.name,
            link: state.settings.url(&format!("/activation/{token}")),
        })),
        Err(e) if e.is_refusal() => {
            let rows = members(&state, structure.id.clone()).await?;
            let mut resp = render(&ManagerPage {
                layout: ctx.layout(&state),
                structure_name: structure.name.clone(),
                rows,
                flash: None,
                error: Some(e.to_string()),
                email: form.email,
                name: form.name,
            });
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

/// The target account, if it belongs to the manager's current structure.
async fn target(state: &web::Data<AppState>, ctx: &Ctx, id: &str) -> Result<MemberRow, WebError> {
    let (_, structure) = ctx.require(Role::Manager)?;
    let st = state.clone().into_inner();
    let (sid, id) = (structure.id.clone(), id.to_string());
    blocking(move || -> Result<MemberRow, WebError> {
        let mut conn = st.store.conn()?;
        users::members(&mut conn, &sid)?
            .into_iter()
            .find(|m| m.user.id == id)
            .ok_or(WebError::NotFound)
    })
    .await?
}

#[derive(Template)]
#[template(path = "manager_account.html")]
struct AccountPage {
    layout: Layout,
    row: Row,
    has_card: bool,
    error: Option<String>,
    flash: Option<String>,
}

async fn account(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    let m = target(&state, &ctx, &path).await?;
    let flash = take_flash(&state, &ctx).await?;
    Ok(render(&AccountPage {
        layout: ctx.layout(&state),
        has_card: m.card_serial.is_some(),
        row: Row::from(&m),
        error: None,
        flash,
    }))
}

/// An action that needs a confirmation step.
#[derive(Clone, Copy)]
enum Action {
    Deactivate,
    Reactivate,
    ResetSecondFactor,
    UnassignCard,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "desactiver" => Some(Action::Deactivate),
            "reactiver" => Some(Action::Reactivate),
            "second-facteur" => Some(Action::ResetSecondFactor),
            "retirer-carte" => Some(Action::UnassignCard),
            _ => None,
        }
    }

    fn question(self, name: &str) -> (String, String, &'static str) {
        match self {
            Action::Deactivate => (
                format!("Désactiver le compte de {name} ?"),
                "Le compte ne pourra plus se connecter et ses sessions ouvertes prennent fin immédiatement. Vous pourrez le réactiver.".into(),
                "Désactiver le compte",
            ),
            Action::Reactivate => (
                format!("Réactiver le compte de {name} ?"),
                "Le compte pourra de nouveau se connecter avec son mot de passe et son second facteur.".into(),
                "Réactiver le compte",
            ),
            Action::ResetSecondFactor => (
                format!("Réinitialiser le second facteur de {name} ?"),
                "L’application et la carte associées ne fonctionneront plus ; ses sessions prennent fin. Un nouveau lien d’activation vous sera donné, à lui transmettre.".into(),
                "Réinitialiser le second facteur",
            ),
            Action::UnassignCard => (
                format!("Retirer la carte de {name} ?"),
                "La carte retournera dans le stock de la structure et ne permettra plus de se connecter à ce compte.".into(),
                "Retirer la carte",
            ),
        }
    }
}

async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    let (id, action) = path.into_inner();
    let action = Action::parse(&action).ok_or(WebError::NotFound)?;
    let m = target(&state, &ctx, &id).await?;
    let (title, message, button) = action.question(&m.user.name);
    Ok(render(&ConfirmPage {
        layout: ctx.layout(&state),
        title,
        message,
        button: button.into(),
        action: req.path().to_string(),
        back: format!("/gestion/comptes/{id}"),
    }))
}

async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let (id, action) = path.into_inner();
    let action = Action::parse(&action).ok_or(WebError::NotFound)?;
    let m = target(&state, &ctx, &id).await?;
    let (manager, structure) = ctx.require(Role::Manager)?;
    if manager.id == m.user.id && matches!(action, Action::Deactivate) {
        return Err(WebError::BadRequest(
            "Vous ne pouvez pas désactiver votre propre compte.".into(),
        ));
    }
    let st = state.clone().into_inner();
    let (actor, sid, uid) = (manager.actor(), structure.id.clone(), m.user.id.clone());
    let link = blocking(move || -> Result<Option<String>, WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        Ok(write_tx(
            &mut conn,
            |c| -> Result<Option<String>, AccountError> {
                match action {
                    Action::Deactivate => {
                        users::set_active(c, now, &actor, Some(&sid), &uid, false).map(|_| None)
                    }
                    Action::Reactivate => {
                        users::set_active(c, now, &actor, Some(&sid), &uid, true).map(|_| None)
                    }
                    Action::ResetSecondFactor => {
                        users::reset_second_factor(c, now, &actor, &sid, &uid).map(Some)
                    }
                    Action::UnassignCard => {
                        cards::unassign(c, now, &actor, &sid, &uid).map(|_| None)
                    }
                }
            },
        )?)
    })
    .await??;
    if let Some(token) = link {
        return Ok(render(&LinkPage {
            layout: ctx.layout(&state),
            title: "Second facteur réinitialisé".into(),
            name: m.user.name.clone(),
            link: state.settings.url(&format!("/activation/{token}")),
        }));
    }
    let done = match action {
        Action::Deactivate => "Le compte est désactivé.",
        Action::Reactivate => "Le compte est réactivé.",
        Action::UnassignCard => "La carte est retirée.",
        Action::ResetSecondFactor => "",
    };
    set_flash(&state, &ctx, done).await?;
    Ok(see_other(&format!("/gestion/comptes/{id}")))
}

/// Card assignment form.
#[derive(Deserialize)]
pub struct CardForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    otp: String,
}

async fn assign_card(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CardForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let m = target(&state, &ctx, &path).await?;
    let (manager, structure) = ctx.require(Role::Manager)?;
    let st = state.clone().into_inner();
    let (actor, sid, uid) = (manager.actor(), structure.id.clone(), m.user.id.clone());
    let form = form.into_inner();
    let result = blocking(move || -> Result<Result<(), AccountError>, WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        let secrets = SecretBox::new(st.settings.master_key);
        Ok(write_tx(&mut conn, |c| {
            cards::assign(
                c,
                now,
                &actor,
                &sid,
                &secrets,
                &uid,
                &form.serial,
                &form.otp,
            )
        }))
    })
    .await??;
    match result {
        Ok(()) => {
            set_flash(&state, &ctx, "La carte est associée au compte.").await?;
            Ok(see_other(&format!("/gestion/comptes/{}", m.user.id)))
        }
        Err(e) if e.is_refusal() => {
            let mut resp = render(&AccountPage {
                layout: ctx.layout(&state),
                has_card: m.card_serial.is_some(),
                row: Row::from(&m),
                error: Some(e.to_string()),
                flash: None,
            });
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}
