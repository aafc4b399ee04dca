//! A mandate's pages: revocation, the usager's page (the attestation is in `attestation`).

use super::*;

pub(super) async fn view_in_structure(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    mandate_id: String,
) -> Result<(MandateView, String), WebError> {
    let (_, structure) = ctx.require_any(&ACTORS)?;
    let sid = structure.id.clone();
    state
        .run(move |conn, env| {
            let view =
                mandates::mandate_in(conn, env.now, &sid, &mandate_id)?.ok_or(Error::NotFound)?;
            let text = mandates::attestation(conn, &view)?;
            Ok((view, text))
        })
        .await
}

#[derive(Template)]
#[template(path = "revocation.html")]
struct RevocationPage {
    layout: Layout,
    m: MandateBlock,
    person: String,
    usager_id: String,
    structure: String,
}

pub(super) async fn revocation(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (view, _) = view_in_structure(&ctx, &state, path.into_inner()).await?;
    Ok(render(&RevocationPage {
        layout: ctx.layout(&state),
        m: block(&view),
        person: view.usager.display_name(),
        usager_id: view.usager.id.clone(),
        structure: ctx
            .structure
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
    }))
}

/// The confirmation step of a revocation (a whole mandate, or one authorisation),
/// posting back to the same address.
pub(super) async fn confirm_revocation(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let (view, title, message, button) = if req.path().starts_with("/autorisations/") {
        let (view, label) = authorisation_view(&ctx, &state, id).await?;
        let title = format!(
            "Révoquer la démarche « {label} » pour {} ?",
            view.usager.display_name()
        );
        (view, title, "Les aidants ne pourront plus agir pour cette démarche au nom de la personne. Les autres démarches du mandat restent actives.", "Révoquer cette démarche")
    } else {
        let (view, _) = view_in_structure(&ctx, &state, id).await?;
        let title = format!(
            "Révoquer tout le mandat de {} ?",
            view.usager.display_name()
        );
        (view, title, "Toutes les démarches encore actives de ce mandat cesseront immédiatement d’être autorisées. Cette action est définitive et enregistrée au journal ; une attestation de révocation sera affichée.", "Révoquer le mandat")
    };
    Ok(render(&ConfirmPage {
        layout: ctx.layout(&state),
        title,
        message: message.into(),
        button: button.into(),
        action: req.path().to_string(),
        back: format!("/usagers/{}", view.usager.id),
    }))
}

/// A revocation in the domain: (conn, now, actor, structure, id) → the mandate after it.
type Revocation = fn(
    &mut crate::store::DbConn,
    chrono::DateTime<chrono::Utc>,
    &str,
    &str,
    &str,
) -> Result<MandateView, Error>;

/// A confirmed revocation (a whole mandate, or one authorisation): checks the form, runs
/// the use case within the current structure, and shows the revocation attestation.
pub(super) async fn revoke(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let revocation: Revocation = if req.path().starts_with("/autorisations/") {
        mandates::revoke_authorisation
    } else {
        mandates::revoke_mandate
    };
    ctx.check_csrf(&form.csrf_token)?;
    let (user, structure) = ctx.require_any(&ACTORS)?;
    let (actor, sid) = (user.actor(), structure.id.clone());
    let view = state
        .run(move |db, env| revocation(db, env.now, &actor, &sid, &id))
        .await?;
    Ok(see_other(&format!(
        "/mandats/{}/revocation",
        view.mandate.id
    )))
}

/// Finds the mandate of an authorisation within the structure, and the démarche's label.
pub(super) async fn authorisation_view(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    auth_id: String,
) -> Result<(MandateView, String), WebError> {
    let (_, structure) = ctx.require_any(&ACTORS)?;
    let sid = structure.id.clone();
    state
        .run(move |conn, env| {
            let v = mandates::mandate_of_authorisation(conn, env.now, &sid, &auth_id)?
                .ok_or(Error::NotFound)?;
            let label = v
                .authorisations
                .iter()
                .find(|(a, _)| a.id == auth_id)
                .and_then(|(a, _)| rules::demarche(&a.demarche))
                .map(|d| d.label.to_string())
                .unwrap_or_default();
            Ok((v, label))
        })
        .await
}

#[derive(Template)]
#[template(path = "usager.html")]
struct UsagerPage {
    layout: Layout,
    u: crate::mandates::Usager,
    name: String,
    mandates: Vec<MandateBlock>,
    can_create: bool,
}

pub(super) async fn usager(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (user, structure) = ctx.require_any(&ACTORS)?;
    let can_create = user.has(Role::Aidant);
    let (sid, id) = (structure.id.clone(), path.into_inner());
    let (u, views) = state
        .run(move |conn, env| mandates::usager_in(conn, env.now, &sid, &id)?.ok_or(Error::NotFound))
        .await?;
    Ok(render(&UsagerPage {
        layout: ctx.layout(&state),
        name: u.display_name(),
        u,
        mandates: views.iter().map(block).collect(),
        can_create,
    }))
}
