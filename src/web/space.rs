//! The logged-in home page and structure switching.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{see_other, with_flash, Ctx};
use super::{render, App, Layout, Run, WebError};
use crate::accounts::structures::Structure;
use crate::accounts::{memberships, users};
use crate::domain::mandate::AuthorisationState;
use crate::domain::roles::Role;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/espace", web::get().to(home))
        .route("/espace/structure", web::post().to(switch))
        .route(
            "/espace/invitations/{id}/{answer}",
            web::post().to(answer_invitation),
        );
}

#[derive(Template)]
#[template(path = "space.html")]
struct SpacePage {
    layout: Layout,
    name: String,
    roles: String,
    structure: Option<Structure>,
    /// The current structure is deactivated (its mandates are out of use).
    structure_inactive: bool,
    inactive_message: &'static str,
    offered: Option<String>,
    structures: Vec<Structure>,
    is_aidant: bool,
    is_manager: bool,
    is_auditor: bool,
    /// A training organisation or an administrator: records trainings.
    is_trainer: bool,
    flash: Option<String>,
    search: String,
    usagers: Vec<(String, String, String, String)>,
    expiring: Vec<(String, String, String)>,
    remote: Vec<crate::person::remote::RemoteLine>,
    tab: &'static str,
    tabs: [(&'static str, &'static str); 3],
    rows: Vec<super::mandates::HomeRow>,
    invitations: Vec<InvitationLine>,
    accreditation: Option<Accreditation>,
}

/// An aidant's accreditation as the home shows it.
pub struct Accreditation {
    /// In force.
    accredited: bool,
    /// "Vous êtes habilité jusqu’au …", or what is missing.
    text: String,
    /// It ends within [`crate::accounts::accreditation::EXPIRY_NOTICE_DAYS`].
    soon: bool,
}

impl Accreditation {
    fn of(user: &crate::accounts::users::User, now: chrono::DateTime<chrono::Utc>) -> Self {
        use crate::accounts::accreditation::Standing;
        let s = Standing::of(user, now);
        let soon = s.ends_soon(now);
        let text = match (s.missing(), s.last_day()) {
            (Some(m), _) => m,
            (None, Some(day)) if soon => format!(
                "Votre habilitation prend fin le {day} au soir : suivez une nouvelle formation avant cette date pour continuer à créer et utiliser des mandats."
            ),
            (None, day) => format!(
                "Vous êtes habilité à créer et utiliser des mandats jusqu’au {}.",
                day.unwrap_or_default()
            ),
        };
        Accreditation {
            accredited: s.accredited(),
            text,
            soon,
        }
    }
}

/// An invitation to join a structure, as its account sees it.
pub struct InvitationLine {
    id: String,
    structure: String,
    expires: String,
}

/// The tabs of the home's list of people: query value, label.
const TABS: [(&str, &str); 3] = [
    ("actifs", "Actifs"),
    ("expires", "Expirés"),
    ("revoques", "Révoqués"),
];

/// `?q=` search on the home page.
#[derive(Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    q: String,
    /// `actifs` (default), `expires` or `revoques`; anything else is the default.
    #[serde(default)]
    onglet: String,
}

async fn home(ctx: Ctx, app: App, q: web::Query<HomeQuery>) -> Result<HttpResponse, WebError> {
    let user = ctx.user()?.clone();
    let flash = ctx.flash();
    let q = q.into_inner();
    let search: String = q.q.chars().take(100).collect();
    let tab = TABS
        .iter()
        .map(|(code, _)| *code)
        .find(|code| *code == q.onglet)
        .unwrap_or("actifs");
    let uid = user.id.clone();
    let (structures, received) = app
        .run(move |db, env| {
            Ok((
                users::structures_of(db, &uid)?,
                memberships::received(db, env.now, &uid)?,
            ))
        })
        .await?;
    let invitations = received
        .into_iter()
        .map(|r| InvitationLine {
            id: r.invitation.id,
            structure: r.structure_name,
            expires: crate::domain::french::day_and_time(r.invitation.expires_at),
        })
        .collect();
    // A deactivated structure's mandates are out of use: none are listed.
    let usable = ctx.structure.as_ref().filter(|s| s.active);
    let lists = match (usable, user.has(Role::Aidant) || user.has(Role::Manager)) {
        (Some(s), true) => {
            Some(super::mandates::home_mandates(&app, s.id.clone(), search.clone()).await?)
        }
        _ => None,
    };
    let (usagers, expiring) = lists.map(|l| (l.usagers, l.expiring)).unwrap_or_default();
    // A search covers every person of the structure, whatever the state of their
    // mandates; without one, the expired and revoked tabs list those mandates.
    let wanted = match tab {
        _ if !search.trim().is_empty() => Some(None),
        "expires" => Some(Some(AuthorisationState::Expired)),
        "revoques" => Some(Some(AuthorisationState::Revoked)),
        _ => None,
    };
    let rows = match (usable, wanted) {
        (Some(s), Some(w)) if user.has(Role::Aidant) || user.has(Role::Manager) => {
            super::mandates::home_rows(&app, s.id.clone(), w, search.clone()).await?
        }
        _ => Vec::new(),
    };
    // The structure's remote consent requests and their state.
    let remote = match (usable, user.has(Role::Aidant)) {
        (Some(s), true) => {
            let sid = s.id.clone();
            app.run(move |db, env| {
                crate::person::remote::of_structure(db, env.now, env.secrets, &sid, 20)
            })
            .await?
        }
        _ => Vec::new(),
    };
    Ok(ctx.finish(
        &app,
        render(&SpacePage {
            layout: ctx.layout(&app),
            name: user.name.clone(),
            roles: user.role_set().labels(),
            structure: ctx.structure.clone(),
            structure_inactive: ctx.structure.as_ref().is_some_and(|s| !s.active),
            inactive_message: super::session::STRUCTURE_INACTIVE,
            offered: ctx.structure.as_ref().and_then(offered_labels),
            structures,
            is_aidant: user.has(Role::Aidant),
            is_manager: user.has(Role::Manager),
            is_auditor: user.has(Role::Auditor),
            is_trainer: user.has(Role::Trainer) || user.has(Role::Admin),
            flash,
            search,
            usagers,
            expiring,
            remote,
            tab,
            tabs: TABS,
            rows,
            invitations,
            accreditation: user
                .has(Role::Aidant)
                .then(|| Accreditation::of(&user, app.clock.now())),
        }),
    ))
}

/// Structure switch form.
#[derive(Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    structure: String,
}

async fn switch(ctx: Ctx, app: App, form: web::Form<SwitchForm>) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let user = ctx.user()?.clone();
    let target = form.into_inner().structure;
    let name = app
        .run(move |db, env| {
            users::switch_structure(db, env.now, &user, &target)?;
            Ok(users::structures_of(db, &user.id)?
                .into_iter()
                .find(|s| s.id == target)
                .map(|s| s.name)
                .unwrap_or_default())
        })
        .await?;
    Ok(with_flash(
        &app,
        &ctx,
        see_other("/espace"),
        &format!("Vous travaillez maintenant pour : {name}."),
    ))
}

/// Accepts (`accepter`) or declines (`refuser`) an invitation addressed to the account.
async fn answer_invitation(
    ctx: Ctx,
    app: App,
    path: web::Path<(String, String)>,
    form: web::Form<super::auth::CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let (id, answer) = path.into_inner();
    let accept = match answer.as_str() {
        "accepter" => true,
        "refuser" => false,
        _ => return Err(WebError::NotFound),
    };
    let user = ctx.user()?.clone();
    let name = app
        .run(move |db, env| memberships::answer(db, env.now, &user, &id, accept))
        .await?;
    let message = if accept {
        format!("Vous avez rejoint la structure {name}. Pour agir pour elle, choisissez-la dans « Changer de structure ».")
    } else {
        format!("Vous avez refusé l’invitation de la structure {name}.")
    };
    Ok(with_flash(&app, &ctx, see_other("/espace"), &message))
}

/// The labels of the démarches a structure offers, when it does not offer every one.
fn offered_labels(s: &Structure) -> Option<String> {
    let labels: Vec<&str> = s
        .demarches()
        .codes()?
        .iter()
        .filter_map(|c| crate::domain::mandate::demarche(c).map(|d| d.label))
        .collect();
    Some(labels.join(", "))
}
