//! The logged-in home page and structure switching.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{context, see_other, set_flash, take_flash, WebError};
use super::{blocking, render, AppState, Layout};
use crate::accounts::structures::Structure;
use crate::accounts::users;
use crate::domain::roles::Role;
use crate::store::write_tx;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/espace", web::get().to(home))
        .route("/espace/structure", web::post().to(switch));
}

#[derive(Template)]
#[template(path = "space.html")]
struct SpacePage {
    layout: Layout,
    name: String,
    roles: String,
    structure: Option<Structure>,
    structures: Vec<Structure>,
    is_aidant: bool,
    is_manager: bool,
    is_auditor: bool,
    flash: Option<String>,
    search: String,
    usagers: Vec<(String, String, String, String)>,
    expiring: Vec<(String, String, String)>,
}

/// `?q=` search on the home page.
#[derive(Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    q: String,
}

async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<HomeQuery>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    let user = ctx.user()?;
    let flash = take_flash(&state, &ctx).await?;
    let search: String = q.into_inner().q.chars().take(100).collect();
    let lists = match (
        &ctx.structure,
        user.has(Role::Aidant) || user.has(Role::Manager),
    ) {
        (Some(s), true) => {
            Some(super::mandates::home_mandates(&state, s.id.clone(), search.clone()).await?)
        }
        _ => None,
    };
    let (usagers, expiring) = lists.map(|l| (l.usagers, l.expiring)).unwrap_or_default();
    Ok(render(&SpacePage {
        layout: ctx.layout(&state),
        name: user.name.clone(),
        roles: user.role_set().labels(),
        structure: ctx.structure.clone(),
        structures: ctx.structures.clone(),
        is_aidant: user.has(Role::Aidant),
        is_manager: user.has(Role::Manager),
        is_auditor: user.has(Role::Auditor),
        flash,
        search,
        usagers,
        expiring,
    }))
}

/// Structure switch form.
#[derive(Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    structure: String,
}

async fn switch(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SwitchForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let user = ctx.user()?.clone();
    let target = form.into_inner().structure;
    let st = state.clone().into_inner();
    let target_id = target.clone();
    blocking(move || -> Result<(), WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        write_tx(&mut conn, |c| {
            users::switch_structure(c, now, &user, &target_id)
        })?;
        Ok(())
    })
    .await??;
    let name = ctx
        .structures
        .iter()
        .find(|s| s.id == target)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    set_flash(
        &state,
        &ctx,
        &format!("Vous travaillez maintenant pour : {name}."),
    )
    .await?;
    Ok(see_other("/espace"))
}
