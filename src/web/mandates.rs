//! Mandate pages: creation through FranceConnect and consent, attestation, usager page,
//! revocation, renewal, and the manager's list. Everything is scoped to the current
//! structure: another structure's usagers and mandates are 404.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;

use super::auth::CsrfOnly;
use super::session::{see_other, Ctx};
use super::{blocking, render, AppState, ConfirmPage, Layout, Run, WebError};
use crate::domain::mandate::{
    self as rules, consent_statement, AuthorisationState, Demarche, MandateDuration, DEMARCHES,
};
use crate::domain::roles::Role;
use crate::error::Error;
use crate::federation::client::{FcError, Identity};
use crate::mandates::{self, ActiveUsager, Callback, MandateView};

const ACTORS: [Role; 2] = [Role::Aidant, Role::Manager];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/mandats/nouveau", web::get().to(new_form))
        .route("/mandats/nouveau", web::post().to(new_submit))
        .route("/franceconnect/callback", web::get().to(callback))
        .route("/mandats/consentement/{id}", web::get().to(consent_form))
        .route("/mandats/consentement/{id}", web::post().to(consent_submit))
        .route("/mandats/{id}/attestation", web::get().to(attestation))
        .route("/mandats/{id}/revocation", web::get().to(revocation))
        .route(
            "/mandats/{id}/revoquer",
            web::get().to(confirm_revoke_mandate),
        )
        .route("/mandats/{id}/revoquer", web::post().to(revoke_mandate))
        .route(
            "/autorisations/{id}/revoquer",
            web::get().to(confirm_revoke_authorisation),
        )
        .route(
            "/autorisations/{id}/revoquer",
            web::post().to(revoke_authorisation),
        )
        .route("/usagers/{id}", web::get().to(usager))
        .route("/gestion/mandats", web::get().to(manager_list));
}

fn day(t: &NaiveDateTime) -> String {
    t.format("%d/%m/%Y").to_string()
}

fn day_time(t: &NaiveDateTime) -> String {
    t.format("%d/%m/%Y à %H:%M UTC").to_string()
}

/// A démarche checkbox.
pub struct Choice {
    d: &'static Demarche,
    checked: bool,
}

/// A duration radio.
pub struct DurationChoice {
    code: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "mandate_new.html")]
struct NewPage {
    layout: Layout,
    demarches: Vec<Choice>,
    durations: Vec<DurationChoice>,
    error: Option<String>,
    renewal_of: Option<String>,
}

fn new_page(
    ctx: &Ctx,
    state: &AppState,
    selected: &[String],
    duration: Option<&str>,
    error: Option<String>,
    renewal_of: Option<String>,
) -> HttpResponse {
    render(&NewPage {
        layout: ctx.layout(state),
        demarches: DEMARCHES
            .iter()
            .map(|d| Choice {
                d,
                checked: selected.iter().any(|s| s == d.code),
            })
            .collect(),
        durations: MandateDuration::ALL
            .iter()
            .map(|m| DurationChoice {
                code: m.code(),
                label: m.label(),
                checked: Some(m.code()) == duration,
            })
            .collect(),
        error,
        renewal_of,
    })
}

/// `?renouveler=` on the creation form.
#[derive(Deserialize)]
pub struct RenewQuery {
    renouveler: Option<String>,
}

async fn new_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    q: web::Query<RenewQuery>,
) -> Result<HttpResponse, WebError> {
    let (_, structure) = ctx.require(Role::Aidant)?;
    let (mut selected, mut duration) = (Vec::new(), None);
    if let Some(old) = q.renouveler.clone() {
        let st = state.clone();
        let sid = structure.id.clone();
        let view = st
            .run(move |conn, env| Ok(mandates::mandate_in(conn, env.now, &sid, &old)?))
            .await?
            .ok_or(WebError::NotFound)?;
        selected = view
            .authorisations
            .iter()
            .map(|(a, _)| a.demarche.clone())
            .collect();
        duration = MandateDuration::parse(&view.mandate.duration).map(|d| d.code());
    }
    Ok(new_page(
        &ctx,
        &state,
        &selected,
        duration,
        None,
        q.renouveler.clone(),
    ))
}

/// Parses an urlencoded body with repeated keys.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn new_submit(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let pairs = form_pairs(&body);
    ctx.check_csrf(field(&pairs, "csrf_token"))?;
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    let selected: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "demarches")
        .map(|(_, v)| v.clone())
        .collect();
    let duration_code = field(&pairs, "duration").to_string();
    let bad = |m: String| {
        let mut r = new_page(
            &ctx,
            &state,
            &selected,
            Some(duration_code.as_str()),
            Some(m),
            None,
        );
        *r.status_mut() = StatusCode::BAD_REQUEST;
        r
    };
    let demarches = match rules::parse_demarches(&selected) {
        Ok(d) => d,
        Err(m) => return Ok(bad(m)),
    };
    let Some(duration) = MandateDuration::parse(&duration_code) else {
        return Ok(bad("Choisissez une durée.".into()));
    };
    let fc = state
        .fc
        .clone()
        .ok_or_else(|| WebError::BadRequest(FcError::NotConfigured.to_string()))?;
    let (session, sid, aid, actor) = (
        ctx.session.id_hash.clone(),
        structure.id.clone(),
        aidant.id.clone(),
        aidant.actor(),
    );
    // Discovery is a network call: made before any connection is taken.
    let (url, fc_state, flow) = blocking(move || fc.start())
        .await?
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    state
        .run(move |db, env| {
            mandates::start_request(
                db,
                env.now,
                env.secrets,
                &session,
                &sid,
                &aid,
                &actor,
                &demarches,
                duration,
                &fc_state,
                &flow,
            )
        })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url))
        .finish())
}

async fn callback(
    ctx: Ctx,
    state: web::Data<AppState>,
    q: web::Query<mandates::CallbackParams>,
) -> Result<HttpResponse, WebError> {
    let q = q.into_inner();
    let fc = state.fc.clone().ok_or(WebError::NotFound)?;
    let by = mandates::CallbackBy {
        session_hash: ctx.session.id_hash.clone(),
        user_id: ctx.user.as_ref().map(|u| u.id.clone()),
    };
    let (issuer, code) = (fc.issuer.clone(), q.code.clone());
    let mut step = state
        .run(move |db, env| mandates::callback_begin(db, env.now, env.secrets, &by, &q, &issuer))
        .await?;
    if let Callback::Exchange(request, flow) = step {
        // The code exchange and userinfo are network calls: no connection is held.
        let now = state.clock.now();
        let exchanged = blocking(move || fc.finish(&code, &flow, now)).await?;
        if let Err(e) = &exchanged {
            tracing::warn!(error = %e, reason = e.reason(), "FranceConnect round trip failed");
        }
        step = state
            .run(move |db, env| {
                mandates::callback_finish(db, env.now, env.secrets, &request, exchanged)
            })
            .await?;
    }
    match step {
        Callback::Consent(id) => Ok(see_other(&format!("/mandats/consentement/{id}"))),
        Callback::Failed(m) => Err(WebError::BadRequest(m)),
        Callback::Exchange(..) => Err(WebError::Internal("the callback did not finish".into())),
    }
}

/// A démarche line on the consent page.
pub struct DemarcheLine {
    label: &'static str,
    description: &'static str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    layout: Layout,
    id: String,
    person: Identity,
    structure: String,
    aidant: String,
    demarches: Vec<DemarcheLine>,
    end: String,
    duration: &'static str,
    statement: String,
    error: Option<String>,
}

async fn load_consent(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    id: String,
) -> Result<(mandates::ConsentRequest, Identity), WebError> {
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    let st = state.clone();
    let (aid, session) = (aidant.id.clone(), ctx.session.id_hash.clone());
    let (req, identity) = st
        .run(move |conn, env| {
            mandates::pending_consent(conn, env.now, env.secrets, &id, &aid, &session)
        })
        .await?;
    if req.structure_id != structure.id {
        return Err(WebError::BadRequest(
            "Cette demande de mandat a été commencée pour une autre structure que votre structure actuelle. Revenez à cette structure ou recommencez la création du mandat.".into(),
        ));
    }
    Ok((req, identity))
}

fn consent_page(
    ctx: &Ctx,
    state: &AppState,
    req: &mandates::ConsentRequest,
    person: Identity,
    error: Option<String>,
) -> HttpResponse {
    let structure = ctx
        .structure
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let duration = req.duration();
    let end = duration.expires_at(state.clock.now()).naive_utc();
    render(&ConsentPage {
        layout: ctx.layout(state),
        id: req.id.clone(),
        person,
        aidant: ctx
            .user
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_default(),
        demarches: req
            .demarche_list()
            .iter()
            .map(|d| DemarcheLine {
                label: d.label,
                description: d.description,
            })
            .collect(),
        end: day_time(&end),
        duration: duration.label(),
        statement: consent_statement(&structure),
        structure,
        error,
    })
}

async fn consent_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (request, person) = load_consent(&ctx, &state, path.into_inner()).await?;
    Ok(consent_page(&ctx, &state, &request, person, None))
}

async fn consent_submit(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let pairs = form_pairs(&body);
    ctx.check_csrf(field(&pairs, "csrf_token"))?;
    let id = path.into_inner();
    let (request, person) = load_consent(&ctx, &state, id.clone()).await?;
    if field(&pairs, "consent").is_empty() {
        let mut r = consent_page(
            &ctx,
            &state,
            &request,
            person,
            Some(
                "La personne doit cocher la case de consentement pour que le mandat soit créé."
                    .into(),
            ),
        );
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(r);
    }
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    let (aid, session, sid) = (
        aidant.id.clone(),
        ctx.session.id_hash.clone(),
        structure.id.clone(),
    );
    let created = state
        .run(move |db, env| {
            mandates::confirm_consent(db, env.now, env.secrets, &id, &aid, &session, &sid)
        })
        .await?;
    Ok(see_other(&format!(
        "/mandats/{}/attestation",
        created.mandate.id
    )))
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
        renewable: v.state() != AuthorisationState::Superseded,
    }
}

async fn view_in_structure(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    mandate_id: String,
) -> Result<(MandateView, String), WebError> {
    let (_, structure) = ctx.require_any(&ACTORS)?;
    let st = state.clone();
    let sid = structure.id.clone();
    st.run(move |conn, env| {
        let view =
            mandates::mandate_in(conn, env.now, &sid, &mandate_id)?.ok_or(Error::NotFound)?;
        let text = mandates::attestation(conn, &view)?;
        Ok((view, text))
    })
    .await
}

#[derive(Template)]
#[template(path = "attestation.html")]
struct AttestationPage {
    layout: Layout,
    m: MandateBlock,
    usager_id: String,
    text: String,
    digest: String,
    recorded: String,
    matches: bool,
    seq: i64,
    version: String,
}

async fn attestation(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (view, text) = view_in_structure(&ctx, &state, path.into_inner()).await?;
    let digest = crate::crypto::sha256_hex(text.as_bytes());
    Ok(render(&AttestationPage {
        layout: ctx.layout(&state),
        m: block(&view),
        usager_id: view.usager.id.clone(),
        matches: digest == view.mandate.attestation_digest,
        recorded: view.mandate.attestation_digest.clone(),
        digest,
        text,
        seq: view.mandate.journal_seq.unwrap_or_default(),
        version: view.mandate.attestation_version.clone(),
    }))
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

async fn revocation(
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

async fn confirm_revoke_mandate(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (view, _) = view_in_structure(&ctx, &state, path.into_inner()).await?;
    Ok(render(&ConfirmPage {
        layout: ctx.layout(&state),
        title: format!("Révoquer tout le mandat de {} ?", view.usager.display_name()),
        message: "Toutes les démarches encore actives de ce mandat cesseront immédiatement d’être autorisées. Cette action est définitive et enregistrée au journal ; une attestation de révocation sera affichée.".into(),
        button: "Révoquer le mandat".into(),
        action: req.path().to_string(),
        back: format!("/usagers/{}", view.usager.id),
    }))
}

async fn revoke_mandate(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    revoke(
        ctx,
        state,
        path.into_inner(),
        form,
        mandates::revoke_mandate,
    )
    .await
}

/// A revocation in the domain: (conn, now, actor, structure, id) → the mandate after it.
type Revocation = fn(
    &mut crate::store::DbConn,
    chrono::DateTime<chrono::Utc>,
    &str,
    &str,
    &str,
) -> Result<MandateView, Error>;

/// Checks the form, runs `revocation` in a write transaction within the current
/// structure, and shows the revocation attestation.
async fn revoke(
    ctx: Ctx,
    state: web::Data<AppState>,
    id: String,
    form: web::Form<CsrfOnly>,
    revocation: Revocation,
) -> Result<HttpResponse, WebError> {
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
async fn authorisation_view(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    auth_id: String,
) -> Result<(MandateView, String), WebError> {
    let (_, structure) = ctx.require_any(&ACTORS)?;
    let st = state.clone();
    let sid = structure.id.clone();
    st.run(move |conn, env| {
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

async fn confirm_revoke_authorisation(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (view, label) = authorisation_view(&ctx, &state, path.into_inner()).await?;
    Ok(render(&ConfirmPage {
        layout: ctx.layout(&state),
        title: format!("Révoquer la démarche « {label} » pour {} ?", view.usager.display_name()),
        message: "Les aidants ne pourront plus agir pour cette démarche au nom de la personne. Les autres démarches du mandat restent actives.".into(),
        button: "Révoquer cette démarche".into(),
        action: req.path().to_string(),
        back: format!("/usagers/{}", view.usager.id),
    }))
}

async fn revoke_authorisation(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    revoke(
        ctx,
        state,
        path.into_inner(),
        form,
        mandates::revoke_authorisation,
    )
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

async fn usager(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (user, structure) = ctx.require_any(&ACTORS)?;
    let can_create = user.has(Role::Aidant);
    let st = state.clone();
    let (sid, id) = (structure.id.clone(), path.into_inner());
    let (u, views) = st
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

/// A row of the manager's list.
pub struct ListRow {
    m: MandateBlock,
    usager: String,
    usager_id: String,
    demarches: String,
}

#[derive(Template)]
#[template(path = "manager_mandates.html")]
struct ManagerMandates {
    layout: Layout,
    rows: Vec<ListRow>,
    aidants: Vec<(String, String)>,
    demarches: &'static [Demarche],
    states: Vec<(&'static str, &'static str)>,
    f_aidant: String,
    f_demarche: String,
    f_state: String,
}

/// Filters of the manager's list.
#[derive(Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    aidant: String,
    #[serde(default)]
    demarche: String,
    #[serde(default)]
    etat: String,
}

async fn manager_list(
    ctx: Ctx,
    state: web::Data<AppState>,
    q: web::Query<ListFilter>,
) -> Result<HttpResponse, WebError> {
    let (_, structure) = ctx.require(Role::Manager)?;
    let f = q.into_inner();
    if !f.demarche.is_empty() && rules::demarche(&f.demarche).is_none() {
        return Err(WebError::BadRequest(format!(
            "Démarche inconnue : {:?}.",
            f.demarche
        )));
    }
    let states = [
        AuthorisationState::Active,
        AuthorisationState::Expired,
        AuthorisationState::Revoked,
        AuthorisationState::Superseded,
    ];
    if !f.etat.is_empty() && !states.iter().any(|s| s.code() == f.etat) {
        return Err(WebError::BadRequest(format!(
            "État inconnu : {:?}.",
            f.etat
        )));
    }
    let st = state.clone();
    let sid = structure.id.clone();
    let (views, members) = st
        .run(move |conn, env| {
            let views = mandates::mandates_of_structure(conn, env.now, &sid)?;
            let members = crate::accounts::users::members(conn, &sid)?;
            Ok((views, members))
        })
        .await?;
    let rows = views
        .iter()
        .filter(|v| f.aidant.is_empty() || v.mandate.aidant_id == f.aidant)
        .filter(|v| {
            f.demarche.is_empty()
                || v.authorisations
                    .iter()
                    .any(|(a, _)| a.demarche == f.demarche)
        })
        .filter(|v| f.etat.is_empty() || v.state().code() == f.etat)
        .map(|v| ListRow {
            m: block(v),
            usager: v.usager.display_name(),
            usager_id: v.usager.id.clone(),
            demarches: v
                .authorisations
                .iter()
                .map(|(a, _)| a.demarche.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    Ok(render(&ManagerMandates {
        layout: ctx.layout(&state),
        rows,
        aidants: members
            .iter()
            .filter(|m| m.user.has(Role::Aidant))
            .map(|m| (m.user.id.clone(), m.user.name.clone()))
            .collect(),
        demarches: &DEMARCHES,
        states: states.iter().map(|s| (s.code(), s.label())).collect(),
        f_aidant: f.aidant,
        f_demarche: f.demarche,
        f_state: f.etat,
    }))
}

/// Data for the aidant's home: usagers with active mandates and those ending soon.
pub struct HomeMandates {
    /// Usagers with an active authorisation (search applied).
    pub usagers: Vec<(String, String, String, String)>,
    /// Usagers whose earliest active mandate ends within 30 days.
    pub expiring: Vec<(String, String, String)>,
}

/// How many usagers the home page lists at once (a search narrows it).
const HOME_LIMIT: i64 = 100;

/// Loads the home page's mandate lists (four queries whatever the structure's size).
pub async fn home_mandates(
    state: &web::Data<AppState>,
    structure_id: String,
    search: String,
) -> Result<HomeMandates, WebError> {
    state
        .run(move |db, env| {
            let now = env.now;
            let soon = (now + Duration::days(30)).naive_utc();
            let (found, expiring) = crate::store::read_tx(db, |c| -> Result<_, Error> {
                let found: Vec<ActiveUsager> =
                    mandates::active_usagers(c, now, &structure_id, &search, HOME_LIMIT)?;
                let expiring = mandates::expiring_usagers(c, now, &structure_id, soon, HOME_LIMIT)?;
                Ok((found, expiring))
            })?;
            Ok(HomeMandates {
                usagers: found
                    .iter()
                    .map(|a| {
                        (
                            a.usager.id.clone(),
                            a.usager.display_name(),
                            a.demarches.join(", "),
                            day(&a.next_expiry),
                        )
                    })
                    .collect(),
                expiring: expiring
                    .iter()
                    .map(|(u, exp)| (u.id.clone(), u.display_name(), day(exp)))
                    .collect(),
            })
        })
        .await
}
