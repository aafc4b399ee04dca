//! The manager's space: the structure's accounts, adding aidants, deactivation,
//! second-factor reset, physical TOTP cards, and the démarches the structure offers. Every action is scoped to the manager's
//! current structure (anything else is 404) and journaled with the manager as actor.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::CsrfOnly;
use super::session::{run_refusable, see_other, with_flash, Manager, Refusable};
use super::{render, App, ConfirmPage, Layout, Run, WebError};
use crate::accounts::manage::{self, AccountAction, Acted};
use crate::accounts::memberships::{self, RoleChange};
use crate::accounts::structures;
use crate::accounts::users::MemberRow;
use crate::domain::mandate::{Demarche, DemarcheSet, DEMARCHES};
use crate::domain::roles::Role;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/gestion", web::get().to(list))
        .route("/gestion/aidants", web::post().to(add_aidant))
        .route("/gestion/invitations", web::post().to(invite))
        .route(
            "/gestion/invitations/{id}/annuler",
            web::post().to(cancel_invitation),
        )
        .route("/gestion/demarches", web::get().to(demarches_form))
        .route("/gestion/demarches", web::post().to(demarches_submit))
        .route("/gestion/comptes/{id}", web::get().to(account))
        .route("/gestion/comptes/{id}/carte", web::post().to(assign_card))
        .route("/gestion/comptes/{id}/{action}", web::get().to(confirm))
        .route("/gestion/comptes/{id}/{action}", web::post().to(act));
}

/// Date-time display for tables.
fn fmt_time(t: &Option<chrono::NaiveDateTime>) -> String {
    t.map(crate::domain::french::day_and_time)
        .unwrap_or_else(|| "jamais".into())
}

/// A row of the accounts table.
pub struct Row {
    id: String,
    name: String,
    email: String,
    roles: String,
    active: bool,
    pending: bool,
    second_factor: String,
    last_login: String,
    /// Empty for an account without the aidant role.
    accreditation: String,
}

impl Row {
    /// The row of `m` at `now`.
    fn of(m: &MemberRow, now: chrono::DateTime<chrono::Utc>) -> Self {
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
            pending: manage::pending(m),
            second_factor,
            last_login: fmt_time(&m.user.last_login),
            accreditation: if m.user.has(Role::Aidant) {
                crate::accounts::accreditation::Standing::of(&m.user, now).label()
            } else {
                String::new()
            },
        }
    }
}

#[derive(Template)]
#[template(path = "manager.html")]
struct ManagerPage {
    layout: Layout,
    structure_name: String,
    offered: String,
    rows: Vec<Row>,
    flash: Option<String>,
    error: Option<String>,
    email: String,
    name: String,
    invitations: Vec<InvitationRow>,
    invite_error: Option<String>,
    invite_email: String,
}

/// A pending invitation of the structure.
pub struct InvitationRow {
    id: String,
    name: String,
    email: String,
    sent: String,
    expires: String,
}

async fn invitations(app: &App, m: &Manager) -> Result<Vec<InvitationRow>, WebError> {
    let by = m.acting().clone();
    let list = app
        .run(move |db, env| memberships::sent(db, env.now, &by))
        .await?;
    Ok(list
        .into_iter()
        .map(|s| InvitationRow {
            id: s.invitation.id,
            name: s.name,
            email: s.email,
            sent: crate::domain::french::day_and_time(s.invitation.created_at),
            expires: crate::domain::french::day_and_time(s.invitation.expires_at),
        })
        .collect())
}

/// The accounts page, with what a refused form keeps.
#[derive(Default)]
struct Kept {
    error: Option<String>,
    email: String,
    name: String,
    invite_error: Option<String>,
    invite_email: String,
}

async fn manager_page(app: &App, m: &Manager, kept: Kept) -> Result<HttpResponse, WebError> {
    let rows = members(app, m).await?;
    let invitations = invitations(app, m).await?;
    let refused = kept.error.is_some() || kept.invite_error.is_some();
    let mut resp = render(&ManagerPage {
        layout: m.layout(app),
        structure_name: m.structure().name.clone(),
        offered: offered_summary(&m.structure().demarches()),
        rows,
        flash: if refused { None } else { m.flash() },
        error: kept.error,
        email: kept.email,
        name: kept.name,
        invitations,
        invite_error: kept.invite_error,
        invite_email: kept.invite_email,
    });
    if refused {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        Ok(resp)
    } else {
        Ok(m.finish(app, resp))
    }
}

async fn members(app: &App, m: &Manager) -> Result<Vec<Row>, WebError> {
    let by = m.acting().clone();
    let list = app.run(move |db, _| manage::members(db, &by)).await?;
    let now = app.clock.now();
    Ok(list.iter().map(|r| Row::of(r, now)).collect())
}

async fn list(m: Manager, app: App) -> Result<HttpResponse, WebError> {
    manager_page(&app, &m, Kept::default()).await
}

/// Invitation form.
#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

async fn invite(
    m: Manager,
    app: App,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, WebError> {
    m.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let (by, email) = (m.acting().clone(), form.email.clone());
    let result = run_refusable(&app, move |db, env| {
        memberships::invite(db, env.now, &by, &email)
    })
    .await?;
    match result {
        Refusable::Done(message) => Ok(with_flash(&app, &m, see_other("/gestion"), message)),
        Refusable::Refused(message) => {
            manager_page(
                &app,
                &m,
                Kept {
                    invite_error: Some(message),
                    invite_email: form.email,
                    ..Kept::default()
                },
            )
            .await
        }
    }
}

async fn cancel_invitation(
    m: Manager,
    app: App,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    m.check_csrf(&form.csrf_token)?;
    let (by, id) = (m.acting().clone(), path.into_inner());
    app.run(move |db, env| memberships::cancel(db, env.now, &by, &id))
        .await?;
    Ok(with_flash(
        &app,
        &m,
        see_other("/gestion#invitations"),
        "L’invitation est annulée.",
    ))
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
    m: Manager,
    app: App,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, WebError> {
    m.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let by = m.acting().clone();
    let (email, name) = (form.email.clone(), form.name.clone());
    let result = run_refusable(&app, move |db, env| {
        manage::add_aidant(db, env.now, &by, env.secrets, email, name)
    })
    .await?;
    match result {
        Refusable::Done((user, token)) => Ok(render(&LinkPage {
            layout: m.layout(&app),
            title: "Compte créé".into(),
            name: user.name,
            link: app.settings.url(&format!("/activation/{token}")),
        })),
        Refusable::Refused(message) => {
            manager_page(
                &app,
                &m,
                Kept {
                    error: Some(message),
                    email: form.email,
                    name: form.name,
                    ..Kept::default()
                },
            )
            .await
        }
    }
}

/// The target account, if it belongs to the manager's current structure.
async fn target(app: &App, m: &Manager, id: &str) -> Result<MemberRow, WebError> {
    let (by, id) = (m.acting().clone(), id.to_string());
    app.run(move |db, _| manage::member(db, &by, &id)).await
}

#[derive(Template)]
#[template(path = "manager_account.html")]
struct AccountPage {
    layout: Layout,
    row: Row,
    /// Whether the account manages the structure (it may be given or lose the role).
    manages: bool,
    /// Whether it is the manager's own account.
    is_self: bool,
    has_card: bool,
    error: Option<String>,
    flash: Option<String>,
}

async fn account(m: Manager, app: App, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let t = target(&app, &m, &path).await?;
    Ok(m.finish(
        &app,
        render(&AccountPage {
            layout: m.layout(&app),
            manages: t.user.has(Role::Manager),
            is_self: t.user.id == m.user().id,
            has_card: t.card_serial.is_some(),
            row: Row::of(&t, app.clock.now()),
            error: None,
            flash: m.flash(),
        }),
    ))
}

/// An action that needs a confirmation step, named in the URL.
fn parse_action(s: &str) -> Option<AccountAction> {
    match s {
        "desactiver" => Some(AccountAction::Deactivate),
        "reactiver" => Some(AccountAction::Reactivate),
        "second-facteur" => Some(AccountAction::ResetSecondFactor),
        "retirer-carte" => Some(AccountAction::UnassignCard),
        "retirer" => Some(AccountAction::Remove),
        "nouveau-lien" => Some(AccountAction::ResendEnrolment),
        "mot-de-passe" => Some(AccountAction::ResetPassword),
        _ => None,
    }
}

/// A change of the manager role named in the URL: Some(true) gives it, Some(false) takes
/// it away.
fn parse_role_action(s: &str) -> Option<bool> {
    match s {
        "nommer-responsable" => Some(true),
        "retirer-responsable" => Some(false),
        _ => None,
    }
}

fn role_question(manager: bool, name: &str, is_self: bool) -> (String, String, &'static str) {
    if manager {
        (
            format!("Nommer {name} responsable de la structure ?"),
            "Ce compte pourra gérer les comptes de votre structure, ses démarches, ses invitations et ses responsables, et lire son journal. Cela ne vaut que pour votre structure, pas pour ses autres structures.".into(),
            "Nommer responsable",
        )
    } else if is_self {
        (
            "Renoncer à votre rôle de responsable de la structure ?".into(),
            "Vous ne pourrez plus gérer les comptes de la structure ; vous restez membre de la structure. Un autre responsable devra vous nommer de nouveau si besoin.".into(),
            "Renoncer au rôle de responsable",
        )
    } else {
        (
            format!("Retirer à {name} le rôle de responsable de la structure ?"),
            "Ce compte ne pourra plus gérer les comptes de votre structure ; il reste membre de la structure avec ses autres rôles.".into(),
            "Retirer le rôle de responsable",
        )
    }
}

fn question(action: AccountAction, name: &str) -> (String, String, &'static str) {
    {
        match action {
            AccountAction::Deactivate => (
                format!("Désactiver le compte de {name} ?"),
                "Le compte ne pourra plus se connecter et ses sessions ouvertes prennent fin immédiatement. Vous pourrez le réactiver.".into(),
                "Désactiver le compte",
            ),
            AccountAction::Reactivate => (
                format!("Réactiver le compte de {name} ?"),
                "Le compte pourra de nouveau se connecter avec son mot de passe et son second facteur.".into(),
                "Réactiver le compte",
            ),
            AccountAction::ResetSecondFactor => (
                format!("Réinitialiser le second facteur de {name} ?"),
                "L’application et la carte associées ne fonctionneront plus ; ses sessions prennent fin. Un nouveau lien d’activation vous sera donné, à lui transmettre.".into(),
                "Réinitialiser le second facteur",
            ),
            AccountAction::UnassignCard => (
                format!("Retirer la carte de {name} ?"),
                "La carte retournera dans le stock de la structure et ne permettra plus de se connecter à ce compte.".into(),
                "Retirer la carte",
            ),
            AccountAction::ResendEnrolment => (
                format!("Envoyer un nouveau lien d’activation à {name} ?"),
                "Un nouveau lien d’activation lui est envoyé par courriel et vous est affiché ; le lien précédent ne fonctionnera plus. Rien d’autre ne change.".into(),
                "Envoyer un nouveau lien d’activation",
            ),
            AccountAction::ResetPassword => (
                format!("Réinitialiser le mot de passe de {name} ?"),
                "Son mot de passe actuel ne fonctionnera plus et ses sessions prennent fin. Un lien lui est envoyé par courriel, à lui seul : il y choisit un nouveau mot de passe, qu’il confirme avec un code de son application ou de sa carte, qui ne change pas.".into(),
                "Réinitialiser le mot de passe",
            ),
            AccountAction::Remove => (
                format!("Retirer {name} de la structure ?"),
                "Le compte ne pourra plus agir pour votre structure ; il reste actif dans ses autres structures. Seul l’administrateur peut désactiver un compte partout.".into(),
                "Retirer de la structure",
            ),
        }
    }
}

async fn confirm(
    req: HttpRequest,
    m: Manager,
    app: App,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (id, action) = path.into_inner();
    let t = target(&app, &m, &id).await?;
    let (title, message, button) = match parse_role_action(&action) {
        Some(manager) => role_question(manager, &t.user.name, t.user.id == m.user().id),
        None => question(
            parse_action(&action).ok_or(WebError::NotFound)?,
            &t.user.name,
        ),
    };
    Ok(render(&ConfirmPage {
        layout: m.layout(&app),
        title,
        message,
        button: button.into(),
        action: req.path().to_string(),
        back: format!("/gestion/comptes/{id}"),
    }))
}

async fn act(
    m: Manager,
    app: App,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    m.check_csrf(&form.csrf_token)?;
    let (id, action) = path.into_inner();
    if let Some(manager) = parse_role_action(&action) {
        return set_manager(m, app, id, manager).await;
    }
    let action = parse_action(&action).ok_or(WebError::NotFound)?;
    let t = target(&app, &m, &id).await?;
    let (by, uid) = (m.acting().clone(), t.user.id.clone());
    let acted = app
        .run(move |db, env| manage::act(db, env.now, &by, &uid, action))
        .await?;
    let done = match acted {
        // A link that sets the password of an account in use goes to its owner only.
        Acted::Mailed => match action {
            AccountAction::ResetPassword => "Le mot de passe est réinitialisé et ses sessions ont pris fin. Un lien lui est envoyé par courriel à son adresse : il y choisit un nouveau mot de passe, qu’il confirme avec un code de son application ou de sa carte. Ce lien n’est pas affiché ici. S’il n’arrive pas, vous pouvez recommencer : le nouveau lien remplace le précédent.",
            _ => "C’est fait. Son mot de passe ayant été réinitialisé, le lien, qui lui fera aussi choisir un nouveau mot de passe, lui est envoyé par courriel à son adresse seulement : il n’est pas affiché ici.",
        },
        Acted::Link(token) => {
            return Ok(render(&LinkPage {
                layout: m.layout(&app),
                title: match action {
                    AccountAction::ResendEnrolment => "Nouveau lien d’activation".into(),
                    _ => "Second facteur réinitialisé".into(),
                },
                name: t.user.name.clone(),
                link: app.settings.url(&format!("/activation/{token}")),
            }))
        }
        Acted::Unchanged(message) => message,
        Acted::Done => match action {
            AccountAction::Deactivate => "Le compte est désactivé.",
            AccountAction::Reactivate => "Le compte est réactivé.",
            AccountAction::UnassignCard => "La carte est retirée.",
            AccountAction::Remove => {
                return Ok(with_flash(
                    &app,
                    &m,
                    see_other("/gestion"),
                    "Le compte est retiré de la structure.",
                ))
            }
            AccountAction::ResetSecondFactor
            | AccountAction::ResendEnrolment
            | AccountAction::ResetPassword => "",
        },
    };
    Ok(with_flash(
        &app,
        &m,
        see_other(&format!("/gestion/comptes/{id}")),
        done,
    ))
}

/// Gives or takes the manager role; back to the account page, or to the space when the
/// manager gave up their own role.
async fn set_manager(
    m: Manager,
    app: App,
    id: String,
    manager: bool,
) -> Result<HttpResponse, WebError> {
    let t = target(&app, &m, &id).await?;
    let (by, uid) = (m.acting().clone(), t.user.id.clone());
    let result = run_refusable(&app, move |db, env| {
        memberships::set_manager(db, env.now, &by, &uid, manager)
    })
    .await?;
    let message = match result {
        Refusable::Done(RoleChange::Unchanged(message)) => message.to_string(),
        Refusable::Done(RoleChange::Done) if !manager && t.user.id == m.user().id => {
            return Ok(with_flash(
                &app,
                &m,
                see_other("/espace"),
                "Vous n’êtes plus responsable de la structure.",
            ))
        }
        Refusable::Done(RoleChange::Done) if manager => {
            format!(
                "{} est maintenant responsable de la structure.",
                t.user.name
            )
        }
        Refusable::Done(RoleChange::Done) => {
            format!("{} n’est plus responsable de la structure.", t.user.name)
        }
        Refusable::Refused(message) => {
            let mut resp = render(&AccountPage {
                layout: m.layout(&app),
                manages: t.user.has(Role::Manager),
                is_self: t.user.id == m.user().id,
                has_card: t.card_serial.is_some(),
                row: Row::of(&t, app.clock.now()),
                error: Some(message),
                flash: None,
            });
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(resp);
        }
    };
    Ok(with_flash(
        &app,
        &m,
        see_other(&format!("/gestion/comptes/{id}")),
        &message,
    ))
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
    m: Manager,
    app: App,
    path: web::Path<String>,
    form: web::Form<CardForm>,
) -> Result<HttpResponse, WebError> {
    m.check_csrf(&form.csrf_token)?;
    let t = target(&app, &m, &path).await?;
    let (by, uid) = (m.acting().clone(), t.user.id.clone());
    let form = form.into_inner();
    let result = run_refusable(&app, move |db, env| {
        manage::assign_card(db, env.now, &by, env.secrets, &uid, &form.serial, &form.otp)
    })
    .await?;
    match result {
        Refusable::Done(()) => Ok(with_flash(
            &app,
            &m,
            see_other(&format!("/gestion/comptes/{}", t.user.id)),
            "La carte est associée au compte.",
        )),
        Refusable::Refused(message) => {
            let mut resp = render(&AccountPage {
                layout: m.layout(&app),
                manages: t.user.has(Role::Manager),
                is_self: t.user.id == m.user().id,
                has_card: t.card_serial.is_some(),
                row: Row::of(&t, app.clock.now()),
                error: Some(message),
                flash: None,
            });
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            Ok(resp)
        }
    }
}

/// "toutes les démarches" or "n démarche(s) sur N", for the link on the accounts page.
fn offered_summary(set: &DemarcheSet) -> String {
    match set {
        DemarcheSet::All => "toutes les démarches".into(),
        DemarcheSet::Only(list) => format!("{} démarche(s) sur {}", list.len(), DEMARCHES.len()),
    }
}

/// A démarche checkbox.
pub struct DemarcheChoice {
    d: &'static Demarche,
    checked: bool,
}

#[derive(Template)]
#[template(path = "manager_demarches.html")]
struct DemarchesPage {
    layout: Layout,
    structure_name: String,
    demarches: Vec<DemarcheChoice>,
    flash: Option<String>,
    error: Option<String>,
}

fn demarches_page(m: &Manager, app: &App, checked: &[&str], error: Option<String>) -> HttpResponse {
    render(&DemarchesPage {
        layout: m.layout(app),
        structure_name: m.structure().name.clone(),
        demarches: DEMARCHES
            .iter()
            .map(|d| DemarcheChoice {
                d,
                checked: checked.contains(&d.code),
            })
            .collect(),
        flash: if error.is_none() { m.flash() } else { None },
        error,
    })
}

async fn demarches_form(m: Manager, app: App) -> Result<HttpResponse, WebError> {
    let offered = m.structure().demarches();
    let checked: Vec<&str> = offered.list().iter().map(|d| d.code).collect();
    Ok(m.finish(&app, demarches_page(&m, &app, &checked, None)))
}

async fn demarches_submit(
    m: Manager,
    app: App,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    m.check_csrf(csrf)?;
    let codes: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "demarches")
        .map(|(_, v)| v.as_str())
        .collect();
    let refused = |message: String| {
        let mut resp = demarches_page(&m, &app, &codes, Some(message));
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        resp
    };
    let set = match DemarcheSet::parse(&codes) {
        // Every box ticked means every démarche, those the catalogue may add included.
        Ok(DemarcheSet::Only(list)) if list.len() == DEMARCHES.len() => DemarcheSet::All,
        Ok(set) => set,
        Err(_) if codes.is_empty() => {
            return Ok(refused(
                "Choisissez au moins une démarche proposée par la structure.".into(),
            ))
        }
        Err(message) => return Ok(refused(message)),
    };
    let by = m.acting().clone();
    let result = run_refusable(&app, move |db, env| {
        structures::set_demarches(db, env.now, &by.actor(), &by.structure_id, &set)
    })
    .await?;
    match result {
        Refusable::Done(_) => Ok(with_flash(
            &app,
            &m,
            see_other("/gestion/demarches"),
            "Les démarches proposées par la structure sont enregistrées.",
        )),
        Refusable::Refused(message) => Ok(refused(message)),
    }
}
