//! `/admin/comptes`: search, one account's page, create, deactivate and reactivate
//! everywhere, reset the second factor (the new link goes by e-mail to the owner).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{mark, refused, when, Field, Posted};
use crate::accounts::structures::{self, Structure};
use crate::accounts::users::User;
use crate::domain::roles::Role;
use crate::error::Error;
use crate::operator::{self, NewAccount, SEARCH_LIMIT};
use crate::web::auth::CsrfOnly;
use crate::web::session::{see_other, with_flash, Admin};
use crate::web::{render, App, ConfirmPage, Layout, Run, WebError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/comptes", web::get().to(list))
        .route("/admin/comptes", web::post().to(create))
        .route("/admin/comptes/nouveau", web::get().to(new_form))
        .route("/admin/comptes/{id}", web::get().to(account))
        .route("/admin/comptes/{id}/{action}", web::get().to(confirm))
        .route("/admin/comptes/{id}/{action}", web::post().to(act));
}

use super::Search;

/// A row of the accounts list.
pub struct Row {
    id: String,
    name: String,
    email: String,
    roles: String,
    active: bool,
    last_login: String,
}

impl From<&User> for Row {
    fn from(u: &User) -> Self {
        Row {
            id: u.id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            roles: u.role_set().labels(),
            active: u.active,
            last_login: u.last_login.map(when).unwrap_or_else(|| "jamais".into()),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct ListPage {
    layout: Layout,
    flash: Option<String>,
    q: String,
    rows: Vec<Row>,
    limit: i64,
    /// The list stops at `limit`.
    capped: bool,
}

async fn list(a: Admin, app: App, q: web::Query<Search>) -> Result<HttpResponse, WebError> {
    let q: String = q.into_inner().q.chars().take(100).collect();
    let query = q.clone();
    let users = app
        .run(move |db, _| operator::search_accounts(db, &query))
        .await?;
    Ok(a.finish(
        &app,
        render(&ListPage {
            layout: a.layout(&app),
            flash: a.flash(),
            q,
            rows: users.iter().map(Row::from).collect(),
            capped: users.len() as i64 >= SEARCH_LIMIT,
            limit: SEARCH_LIMIT,
        }),
    ))
}

#[derive(Template)]
#[template(path = "admin_account.html")]
struct AccountPage {
    layout: Layout,
    flash: Option<String>,
    row: Row,
    structures: Vec<Structure>,
    second_factor: String,
    locked: bool,
    is_self: bool,
}

async fn account(a: Admin, app: App, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let v = app.run(move |db, _| operator::account(db, &id)).await?;
    let second_factor = match (&v.card, v.user.totp_secret_enc.is_some()) {
        (Some(s), true) => format!("application et carte {s}"),
        (Some(s), false) => format!("carte {s}"),
        (None, true) => "application".into(),
        (None, false) => "aucun (activation en attente)".into(),
    };
    let now = app.clock.now().naive_utc();
    Ok(a.finish(
        &app,
        render(&AccountPage {
            layout: a.layout(&app),
            flash: a.flash(),
            locked: v.user.locked_until.is_some_and(|t| t > now),
            is_self: v.user.id == a.user().id,
            row: Row::from(&v.user),
            structures: v.structures,
            second_factor,
        }),
    ))
}

#[derive(Template)]
#[template(path = "admin_account_form.html")]
struct FormPage {
    layout: Layout,
    fields: Vec<Field>,
    roles: Vec<(&'static str, &'static str, bool)>,
    roles_error: Option<String>,
    structures: Vec<(String, String, bool)>,
    structure_error: Option<String>,
    error: Option<String>,
    flash: Option<String>,
}

/// What the form holds.
#[derive(Default)]
struct Values {
    email: String,
    name: String,
    roles: Vec<String>,
    structure: String,
}

async fn form_page(
    a: &Admin,
    app: &App,
    v: &Values,
    error: Option<(&'static str, String)>,
) -> Result<HttpResponse, WebError> {
    let all = app.run(|db, _| structures::search(db, "", 1000)).await?;
    let mut fields = vec![
        Field::text("name", "Nom et prénom", &v.name),
        Field::text("email", "Adresse électronique", &v.email)
            .kind("email")
            .hint("Le lien d’activation y est envoyé ; il n’est pas affiché ici."),
    ];
    let (mut roles_error, mut structure_error) = (None, None);
    if let Some((field, m)) = &error {
        match *field {
            "roles" => roles_error = Some(m.clone()),
            "structure" => structure_error = Some(m.clone()),
            f => mark(&mut fields, f, m),
        }
    }
    Ok(render(&FormPage {
        layout: a.layout(app),
        fields,
        roles: Role::ALL
            .iter()
            .map(|r| (r.code(), r.label(), v.roles.iter().any(|c| c == r.code())))
            .collect(),
        roles_error,
        structures: all
            .into_iter()
            .filter(|s| s.active)
            .map(|s| {
                let chosen = s.id == v.structure;
                (s.id, s.name, chosen)
            })
            .collect(),
        structure_error,
        error: error.map(|(_, m)| m),
        flash: None,
    }))
}

async fn new_form(a: Admin, app: App) -> Result<HttpResponse, WebError> {
    let v = Values {
        roles: vec!["aidant".into()],
        ..Values::default()
    };
    let page = form_page(&a, &app, &v, None).await?;
    Ok(a.finish(&app, page))
}

/// The field a refusal is about.
fn field_of(e: &Error) -> &'static str {
    match e {
        Error::Email | Error::DuplicateEmail => "email",
        Error::Name => "name",
        Error::NoRole => "roles",
        Error::UnknownStructure => "structure",
        _ => "email",
    }
}

async fn create(a: Admin, app: App, body: web::Bytes) -> Result<HttpResponse, WebError> {
    let p = Posted::parse(&body);
    a.check_csrf(&p.one("csrf_token"))?;
    let v = Values {
        email: p.one("email"),
        name: p.one("name"),
        roles: p.all("roles"),
        structure: p.one("structure"),
    };
    let mut roles = Vec::new();
    for code in &v.roles {
        match code.parse::<Role>() {
            Ok(r) => roles.push(r),
            Err(m) => return Ok(refused(form_page(&a, &app, &v, Some(("roles", m))).await?)),
        }
    }
    let new = NewAccount {
        email: v.email.clone(),
        name: v.name.clone(),
        roles,
        structure: (!v.structure.trim().is_empty()).then(|| v.structure.trim().to_string()),
    };
    let admin = a.user().clone();
    let done = app
        .run(
            move |db, env| match operator::create_account(db, env.now, &admin, env.secrets, new) {
                Ok(u) => Ok(Ok(u)),
                Err(e) if e.is_refusal() => Ok(Err((field_of(&e), e.to_string()))),
                Err(e) => Err(e),
            },
        )
        .await?;
    match done {
        Ok(u) => Ok(with_flash(
            &app,
            &a,
            see_other(&format!("/admin/comptes/{}", u.id)),
            &format!(
                "Le compte est créé. Le lien d’activation est envoyé par courriel à {} ; il n’est pas affiché ici.",
                u.email
            ),
        )),
        Err((field, m)) => Ok(refused(form_page(&a, &app, &v, Some((field, m))).await?)),
    }
}

/// An action named in the URL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Deactivate,
    Reactivate,
    ResetSecondFactor,
}

fn parse_action(s: &str) -> Option<Action> {
    match s {
        "desactiver" => Some(Action::Deactivate),
        "reactiver" => Some(Action::Reactivate),
        "second-facteur" => Some(Action::ResetSecondFactor),
        _ => None,
    }
}

async fn confirm(
    req: HttpRequest,
    a: Admin,
    app: App,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (id, action) = path.into_inner();
    let action = parse_action(&action).ok_or(WebError::NotFound)?;
    let v = app.run(move |db, _| operator::account(db, &id)).await?;
    let name = &v.user.name;
    let (title, message, button) = match action {
        Action::Deactivate => (
            format!("Désactiver le compte de {name} ?"),
            "Le compte ne pourra plus se connecter, dans aucune structure, et ses sessions ouvertes prennent fin immédiatement. Vous pourrez le réactiver.",
            "Désactiver le compte",
        ),
        Action::Reactivate => (
            format!("Réactiver le compte de {name} ?"),
            "Le compte pourra de nouveau se connecter avec son mot de passe et son second facteur ; un éventuel verrouillage est levé.",
            "Réactiver le compte",
        ),
        Action::ResetSecondFactor => (
            format!("Réinitialiser le second facteur de {name} ?"),
            "L’application et la carte associées ne fonctionneront plus ; ses sessions prennent fin. Un nouveau lien d’activation lui est envoyé par courriel, à son adresse seulement : il n’est pas affiché ici.",
            "Réinitialiser le second facteur",
        ),
    };
    Ok(render(&ConfirmPage {
        layout: a.layout(&app),
        title,
        message: message.into(),
        button: button.into(),
        action: req.path().to_string(),
        back: format!("/admin/comptes/{}", v.user.id),
    }))
}

async fn act(
    a: Admin,
    app: App,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    a.check_csrf(&form.csrf_token)?;
    let (id, action) = path.into_inner();
    let action = parse_action(&action).ok_or(WebError::NotFound)?;
    let admin = a.user().clone();
    let uid = id.clone();
    let message = app
        .run(move |db, env| {
            Ok(match action {
                Action::Deactivate => {
                    match operator::set_account_active(db, env.now, &admin, &uid, false)? {
                        true => "Le compte est désactivé ; ses sessions ont pris fin.",
                        false => "Ce compte est déjà désactivé : rien n’a changé.",
                    }
                }
                Action::Reactivate => {
                    match operator::set_account_active(db, env.now, &admin, &uid, true)? {
                        true => "Le compte est réactivé.",
                        false => "Ce compte est déjà actif : rien n’a changé.",
                    }
                }
                Action::ResetSecondFactor => {
                    operator::reset_second_factor(db, env.now, &admin, &uid)?;
                    "Le second facteur est réinitialisé et ses sessions ont pris fin. Un nouveau lien d’activation lui est envoyé par courriel, à son adresse seulement."
                }
            })
        })
        .await?;
    Ok(with_flash(
        &app,
        &a,
        see_other(&format!("/admin/comptes/{id}")),
        message,
    ))
}
