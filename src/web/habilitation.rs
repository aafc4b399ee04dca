//! Habilitation requests: the public form at `/habilitation` (an e-mail, then the steps
//! behind the link it receives: structure, manager, aidants, sending; the thread with
//! the administrators) and their review at `/admin/habilitations` (accept, refuse, ask
//! for changes, write; each decision confirmed). The link's secret is the only key to a
//! request: a wrong or altered one is "not found", whatever the id.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{run_refusable, see_other, with_flash, Admin, Ctx, Refusable};
use super::{render, App, Layout, Run, WebError};
use crate::accounts::habilitation::{
    self as hab, Decision, Dossier, FieldErrors, Saved, Status, StructureInput, KINDS,
};
use crate::domain::french::day_and_time;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/habilitation", web::get().to(start_form))
        .route("/habilitation", web::post().to(start))
        .route("/habilitation/{id}/{secret}", web::get().to(overview))
        .route(
            "/habilitation/{id}/{secret}/structure",
            web::get().to(structure_form),
        )
        .route(
            "/habilitation/{id}/{secret}/structure",
            web::post().to(structure_save),
        )
        .route(
            "/habilitation/{id}/{secret}/responsable",
            web::get().to(manager_form),
        )
        .route(
            "/habilitation/{id}/{secret}/responsable",
            web::post().to(manager_save),
        )
        .route(
            "/habilitation/{id}/{secret}/aidants",
            web::get().to(aidants_form),
        )
        .route(
            "/habilitation/{id}/{secret}/aidants",
            web::post().to(aidant_add),
        )
        .route(
            "/habilitation/{id}/{secret}/aidants/{aidant}/retirer",
            web::post().to(aidant_remove),
        )
        .route("/habilitation/{id}/{secret}/envoi", web::get().to(summary))
        .route("/habilitation/{id}/{secret}/envoi", web::post().to(submit))
        .route(
            "/habilitation/{id}/{secret}/message",
            web::post().to(applicant_message),
        )
        .route("/admin/habilitations", web::get().to(admin_list))
        .route("/admin/habilitations/{id}", web::get().to(admin_request))
        .route(
            "/admin/habilitations/{id}/{action}",
            web::post().to(admin_act),
        );
}

fn bad_request(mut resp: HttpResponse) -> HttpResponse {
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

/// A request as its pages show it.
pub struct View {
    id: String,
    email: String,
    status: &'static str,
    status_label: &'static str,
    siret: String,
    name: String,
    address: String,
    kind: String,
    manager_name: String,
    manager_email: String,
    manager_aidant: bool,
    has_structure: bool,
    has_manager: bool,
    aidants: Vec<AidantView>,
    messages: Vec<MessageView>,
    created: String,
    submitted: String,
    editable: bool,
    can_message: bool,
    /// For an administrator: the addresses already accounts' (empty for the applicant).
    taken: String,
}

/// An aidant of the request.
pub struct AidantView {
    id: String,
    name: String,
    email: String,
    role: &'static str,
}

/// A message of the thread.
pub struct MessageView {
    author: String,
    body: String,
    at: String,
    from_applicant: bool,
}

impl From<&Dossier> for View {
    fn from(d: &Dossier) -> Self {
        let r = &d.request;
        let s = r.status();
        let text = |o: &Option<String>| o.clone().unwrap_or_default();
        View {
            id: r.id.clone(),
            email: r.email.clone(),
            status: s.as_str(),
            status_label: s.label(),
            siret: text(&r.siret),
            name: text(&r.name),
            address: text(&r.address),
            kind: r.kind.as_deref().map(hab::kind_label).unwrap_or_default(),
            manager_name: text(&r.manager_name),
            manager_email: text(&r.manager_email),
            manager_aidant: r.manager_aidant,
            has_structure: r.has_structure(),
            has_manager: r.has_manager(),
            aidants: d
                .aidants
                .iter()
                .map(|a| AidantView {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    email: a.email.clone(),
                    role: a.role().label(),
                })
                .collect(),
            messages: d
                .messages
                .iter()
                .map(|m| MessageView {
                    author: m.author.clone(),
                    body: m.body.clone(),
                    at: day_and_time(m.at),
                    from_applicant: m.from_applicant,
                })
                .collect(),
            created: day_and_time(r.created_at),
            submitted: r.submitted_at.map(day_and_time).unwrap_or_default(),
            editable: s.edit().is_ok(),
            can_message: s.message().is_ok(),
            taken: d.taken.join(", "),
        }
    }
}

// ---- The first form ----

#[derive(Template)]
#[template(path = "habilitation_start.html")]
struct StartPage {
    layout: Layout,
    email: String,
    errors: FieldErrors,
    sent: Option<&'static str>,
}

async fn start_form(ctx: Ctx, app: App) -> Result<HttpResponse, WebError> {
    Ok(ctx.finish(
        &app,
        render(&StartPage {
            layout: ctx.layout(&app),
            email: String::new(),
            errors: FieldErrors::default(),
            sent: None,
        }),
    ))
}

/// The first form.
#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

async fn start(ctx: Ctx, app: App, form: web::Form<StartForm>) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let email = form.email.clone();
    let saved = app
        .run(move |db, env| hab::start(db, env.now, &email))
        .await?;
    let (errors, sent) = match saved {
        Saved::Done(m) => (FieldErrors::default(), Some(m)),
        Saved::Refused(e) => (e, None),
    };
    let refused = !errors.is_empty();
    let resp = render(&StartPage {
        layout: ctx.layout(&app),
        email: if refused {
            form.email.clone()
        } else {
            String::new()
        },
        errors,
        sent,
    });
    Ok(ctx.finish(&app, if refused { bad_request(resp) } else { resp }))
}

// ---- Behind the link ----

/// The link's two parts.
#[derive(Deserialize)]
pub struct LinkPath {
    id: String,
    secret: String,
}

impl LinkPath {
    fn base(&self) -> String {
        hab::link_path(&self.id, &self.secret)
    }
}

async fn dossier(app: &App, p: &LinkPath) -> Result<Dossier, WebError> {
    let (id, secret) = (p.id.clone(), p.secret.clone());
    app.run(move |db, env| hab::view(db, env.now, &id, &secret))
        .await
}

#[derive(Template)]
#[template(path = "habilitation_request.html")]
struct OverviewPage {
    layout: Layout,
    base: String,
    view: View,
    flash: Option<String>,
    body: String,
    errors: FieldErrors,
}

async fn overview(ctx: Ctx, app: App, path: web::Path<LinkPath>) -> Result<HttpResponse, WebError> {
    let d = dossier(&app, &path).await?;
    Ok(ctx.finish(
        &app,
        render(&OverviewPage {
            layout: ctx.layout(&app),
            base: path.base(),
            view: View::from(&d),
            flash: ctx.flash(),
            body: String::new(),
            errors: FieldErrors::default(),
        }),
    ))
}

/// Message form.
#[derive(Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    confirm: String,
}

async fn applicant_message(
    ctx: Ctx,
    app: App,
    path: web::Path<LinkPath>,
    form: web::Form<MessageForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let (id, secret, body) = (path.id.clone(), path.secret.clone(), form.body.clone());
    let saved = app
        .run(move |db, env| hab::applicant_message(db, env.now, &id, &secret, &body))
        .await?;
    match saved {
        Saved::Done(()) => Ok(with_flash(
            &app,
            &ctx,
            see_other(&path.base()),
            "Votre message est envoyé à l’équipe Procura.",
        )),
        Saved::Refused(errors) => {
            let d = dossier(&app, &path).await?;
            Ok(bad_request(render(&OverviewPage {
                layout: ctx.layout(&app),
                base: path.base(),
                view: View::from(&d),
                flash: None,
                body: form.body.clone(),
                errors,
            })))
        }
    }
}

#[derive(Template)]
#[template(path = "habilitation_structure.html")]
struct StructurePage {
    layout: Layout,
    base: String,
    siret: String,
    name: String,
    address: String,
    kinds: Vec<KindChoice>,
    errors: FieldErrors,
}

/// A structure type of the list.
pub struct KindChoice {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

fn kinds(selected: &str) -> Vec<KindChoice> {
    KINDS
        .iter()
        .map(|(code, label)| KindChoice {
            code,
            label,
            selected: *code == selected,
        })
        .collect()
}

/// A page of a step: only while the request may be edited (else back to the overview).
fn editable_or_overview(d: &Dossier, base: &str) -> Option<HttpResponse> {
    d.request.status().edit().err().map(|_| see_other(base))
}

async fn structure_form(
    ctx: Ctx,
    app: App,
    path: web::Path<LinkPath>,
) -> Result<HttpResponse, WebError> {
    let d = dossier(&app, &path).await?;
    if let Some(r) = editable_or_overview(&d, &path.base()) {
        return Ok(r);
    }
    let r = &d.request;
    Ok(ctx.finish(
        &app,
        render(&StructurePage {
            layout: ctx.layout(&app),
            base: path.base(),
            siret: r.siret.clone().unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
            address: r.address.clone().unwrap_or_default(),
            kinds: kinds(r.kind.as_deref().unwrap_or_default()),
            errors: FieldErrors::default(),
        }),
    ))
}

/// Structure step form.
#[derive(Deserialize)]
pub struct StructureForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    siret: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    kind: String,
}

/// Runs a step's use case: refusals of the whole request (closed, sent) become an error
/// page; field errors come back to re-render the form.
async fn step<F>(app: &App, f: F) -> Result<Saved<()>, WebError>
where
    F: FnOnce(
            &mut crate::store::DbConn,
            chrono::DateTime<chrono::Utc>,
        ) -> Result<Saved<()>, crate::error::Error>
        + Send
        + 'static,
{
    app.run(move |db, env| f(db, env.now)).await
}

async fn structure_save(
    ctx: Ctx,
    app: App,
    path: web::Path<LinkPath>,
    form: web::Form<StructureForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let input = StructureInput {
        siret: form.siret.clone(),
        name: form.name.clone(),
        address: form.address.clone(),
        kind: form.kind.clone(),
    };
    let (id, secret) = (path.id.clone(), path.secret.clone());
    match step(&app, move |db, now| {
        hab::save_structure(db, now, &id, &secret, input)
    })
    .await?
    {
        Saved::Done(()) => Ok(see_other(&format!("{}/responsable", path.base()))),
        Saved::Refused(errors) => Ok(bad_request(render(&StructurePage {
            layout: ctx.layout(&app),
            base: path.base(),
            siret: form.siret,
            name: form.name,
            address: form.address,
            kinds: kinds(&form.kind),
            errors,
        }))),
    }
}

#[derive(Template)]
#[template(path = "habilitation_manager.html")]
struct ManagerPage {
    layout: Layout,
    base: String,
    manager_name: String,
    manager_email: String,
    manager_aidant: bool,
    errors: FieldErrors,
}

async fn manager_form(
    ctx: Ctx,
    app: App,
    path: web::Path<LinkPath>,
) -> Result<HttpResponse, WebError> {
    let d = dossier(&app, &path).await?;
    if let Some(r) = editable_or_overview(&d, &path.base()) {
        return Ok(r);
    }
    let r = &d.request;
    Ok(ctx.finish(
        &app,
        render(&ManagerPage {
            layout: ctx.layout(&app),
            base: path.base(),
            manager_name: r.manager_name.clone().unwrap_or_default(),
            manager_email: r.manager_email.clone().unwrap_or_default(),
            manager_aidant: r.manager_aidant,
            errors: FieldErrors::default(),
        }),
    ))
}

/// Manager step form.
#[derive(Deserialize)]
pub struct ManagerForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    manager_name: String,
    #[serde(default)]
    manager_email: String,
    #[serde(default)]
    manager_aidant: String,
}

async fn manager_save(
    ctx: Ctx,
    app: App,
    path: web::Path<LinkPath>,
    form: web::Form<ManagerForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let aidant_too = !form.manager_aidant.is_empty();
    let (id, secret) = (path.id.clone(), path.secret.clone());
    let (name, email) = (form.manager_name.clone(), form.manager_email.clone());
    match step(&app, move |db, now| {
        hab::save_manager(db, now, &id, &secret, &name, &email, aidant_too)
    })
    .await?
    {
        Saved::Done(()) => Ok(see_other(&format!("{}/aidants", path.base()))),
        Saved::Refused(errors) => Ok(bad_request(render(&ManagerPage {
            layout: ctx.layout(&app),
            base: path.base(),
            manager_name: form.manager_name,
            manager_email: form.manager_email,
            manager_aidant: aidant_too,
            errors,
        }))),
    }
}

#[derive(Template)]
#[template(path = "habilitation_aidants.html")]
struct AidantsPage {
    layout: Layout,
    base: String,
    view: View,
    name: String,
    email: String,
    role: String,
    errors: FieldErrors,
    flash: Option<String>,
}

async fn aidants_form(
    ctx: Ctx,
    app: App,
    path: web::Path<LinkPath>,
) -> Result<HttpResponse, WebError> {
    let d = dossier(&app, &path).await?;
    if let Some(r) = editable_or_overview(&d, &path.base()) {
        return Ok(r);
    }
    Ok(ctx.finish(
        &app,
        render(&AidantsPage {
            layout: ctx.layout(&app),
            base: path.base(),
            view: View::from(&d),
            name: String::new(),
            email: String::new(),
            role: "aidant".into(),
            errors: FieldErrors::default(),
            flash: ctx.flash(),
        }),
    ))
}

/// New aidant form.
#[derive(Deserialize)]
pub struct AidantForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn aidant_add(
    ctx: Ctx,
    app: App,
    path: web::Path<LinkPath>,
    form: web::Form<AidantForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let (id, secret) = (path.id.clone(), path.secret.clone());
    let (name, email, role) = (form.name.clone(), form.email.clone(), form.role.clone());
    match step(&app, move |db, now| {
        hab::add_aidant(db, now, &id, &secret, &name, &email, &role)
    })
    .await?
    {
        Saved::Done(()) => Ok(with_flash(
            &app,
            &ctx,
            see_other(&format!("{}/aidants", path.base())),
            "L’aidant est ajouté à la demande.",
        )),
        Saved::Refused(errors) => {
            let d = dossier(&app, &path).await?;
            Ok(bad_request(render(&AidantsPage {
                layout: ctx.layout(&app),
                base: path.base(),
                view: View::from(&d),
                name: form.name,
                email: form.email,
                role: form.role,
                errors,
                flash: None,
            })))
        }
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

async fn aidant_remove(
    ctx: Ctx,
    app: App,
    path: web::Path<(String, String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let (id, secret, aidant) = path.into_inner();
    let base = hab::link_path(&id, &secret);
    app.run(move |db, env| hab::remove_aidant(db, env.now, &id, &secret, &aidant))
        .await?;
    Ok(with_flash(
        &app,
        &ctx,
        see_other(&format!("{base}/aidants")),
        "L’aidant est retiré de la demande.",
    ))
}

#[derive(Template)]
#[template(path = "habilitation_summary.html")]
struct SummaryPage {
    layout: Layout,
    base: String,
    view: View,
    errors: FieldErrors,
}

async fn summary(ctx: Ctx, app: App, path: web::Path<LinkPath>) -> Result<HttpResponse, WebError> {
    let d = dossier(&app, &path).await?;
    if let Some(r) = editable_or_overview(&d, &path.base()) {
        return Ok(r);
    }
    Ok(ctx.finish(
        &app,
        render(&SummaryPage {
            layout: ctx.layout(&app),
            base: path.base(),
            errors: d.missing(),
            view: View::from(&d),
        }),
    ))
}

async fn submit(
    ctx: Ctx,
    app: App,
    path: web::Path<LinkPath>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let (id, secret) = (path.id.clone(), path.secret.clone());
    match step(&app, move |db, now| hab::submit(db, now, &id, &secret)).await? {
        Saved::Done(()) => Ok(with_flash(
            &app,
            &ctx,
            see_other(&path.base()),
            "Votre demande est envoyée à l’équipe Procura. Vous recevrez un courriel dès qu’elle aura été examinée.",
        )),
        Saved::Refused(errors) => {
            let d = dossier(&app, &path).await?;
            Ok(bad_request(render(&SummaryPage {
                layout: ctx.layout(&app),
                base: path.base(),
                errors,
                view: View::from(&d),
            })))
        }
    }
}

// ---- The administrators' review ----

/// A row of the list.
pub struct ListRow {
    id: String,
    name: String,
    siret: String,
    email: String,
    status_label: &'static str,
    updated: String,
    aidants: i64,
}

/// A status filter choice.
pub struct StatusChoice {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin_habilitations.html")]
struct AdminListPage {
    layout: Layout,
    statuses: Vec<StatusChoice>,
    rows: Vec<ListRow>,
    flash: Option<String>,
}

/// The list's filter.
#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    statut: String,
}

async fn admin_list(
    admin: Admin,
    app: App,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let status = match query.statut.as_str() {
        "" => None,
        s => Some(
            Status::parse(s)
                .ok_or_else(|| WebError::BadRequest("Ce statut de demande n’existe pas.".into()))?,
        ),
    };
    let list = app.run(move |db, _| hab::list(db, status)).await?;
    let rows = list
        .into_iter()
        .map(|s| {
            let r = s.request;
            ListRow {
                status_label: r.status().label(),
                updated: day_and_time(r.updated_at),
                name: r
                    .name
                    .unwrap_or_else(|| "(structure non renseignée)".into()),
                siret: r.siret.unwrap_or_default(),
                email: r.email,
                id: r.id,
                aidants: s.aidants,
            }
        })
        .collect();
    Ok(admin.finish(
        &app,
        render(&AdminListPage {
            layout: admin.layout(&app),
            statuses: Status::ALL
                .iter()
                .map(|s| StatusChoice {
                    code: s.as_str(),
                    label: s.label(),
                    selected: Some(*s) == status,
                })
                .collect(),
            rows,
            flash: admin.flash(),
        }),
    ))
}

/// A form of the request page: its action in the URL, and what a refusal kept.
pub struct ActionForm {
    action: &'static str,
    label: &'static str,
    hint: &'static str,
    body: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_habilitation.html")]
struct AdminRequestPage {
    layout: Layout,
    view: View,
    flash: Option<String>,
    error: Option<String>,
    forms: Vec<ActionForm>,
}

/// The forms an administrator may use on a request in `s`.
fn action_forms(s: Status, kept: &AdminKept) -> Vec<ActionForm> {
    let all: [(&str, &str, &str, bool); 4] = [
        (
            "message",
            "Écrire au demandeur",
            "Une question, une précision : l’état de la demande ne change pas.",
            s.message().is_ok(),
        ),
        (
            "modifications",
            "Demander des modifications",
            "Message obligatoire : dites ce qui doit changer.",
            s.ask_changes().is_ok(),
        ),
        (
            "refuser",
            "Refuser la demande",
            "Message obligatoire : dites pourquoi.",
            s.refuse().is_ok(),
        ),
        (
            "accepter",
            "Accepter la demande",
            "Message facultatif. La structure, les comptes et leurs liens d’activation sont créés.",
            s.accept().is_ok(),
        ),
    ];
    all.into_iter()
        .filter(|(_, _, _, shown)| *shown)
        .map(|(action, label, hint, _)| {
            let failed = kept.failed == action;
            ActionForm {
                action,
                label,
                hint,
                body: if failed {
                    kept.body.clone()
                } else {
                    String::new()
                },
                error: if failed {
                    kept.errors.get("body").map(str::to_string)
                } else {
                    None
                },
            }
        })
        .collect()
}

/// The request page for an administrator.
struct AdminKept {
    error: Option<String>,
    failed: String,
    body: String,
    errors: FieldErrors,
}

async fn admin_page(
    admin: &Admin,
    app: &App,
    id: String,
    kept: Option<AdminKept>,
) -> Result<HttpResponse, WebError> {
    let d = app.run(move |db, _| hab::get(db, &id)).await?;
    let s = d.request.status();
    let refused = kept.is_some();
    let kept = kept.unwrap_or(AdminKept {
        error: None,
        failed: String::new(),
        body: String::new(),
        errors: FieldErrors::default(),
    });
    let resp = render(&AdminRequestPage {
        layout: admin.layout(app),
        view: View::from(&d),
        flash: if refused { None } else { admin.flash() },
        forms: action_forms(s, &kept),
        error: kept.error,
    });
    Ok(if refused {
        bad_request(resp)
    } else {
        admin.finish(app, resp)
    })
}

async fn admin_request(
    admin: Admin,
    app: App,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    admin_page(&admin, &app, path.into_inner(), None).await
}

/// The decision named in the URL.
fn parse_decision(s: &str) -> Option<Decision> {
    match s {
        "accepter" => Some(Decision::Accept),
        "refuser" => Some(Decision::Refuse),
        "modifications" => Some(Decision::AskChanges),
        "message" => Some(Decision::Message),
        _ => None,
    }
}

fn question(d: Decision, name: &str) -> (String, &'static str, &'static str) {
    match d {
        Decision::Accept => (
            format!("Accepter la demande de {name} ?"),
            "La structure et les comptes de son responsable et de ses aidants sont créés ; chacun reçoit par courriel son lien d’activation. Le demandeur reçoit votre message.",
            "Accepter la demande",
        ),
        Decision::Refuse => (
            format!("Refuser la demande de {name} ?"),
            "La demande est close : elle ne pourra plus être modifiée ni acceptée. Le demandeur reçoit votre message.",
            "Refuser la demande",
        ),
        Decision::AskChanges => (
            format!("Demander des modifications à {name} ?"),
            "Le demandeur pourra modifier sa demande puis l’envoyer de nouveau. Il reçoit votre message.",
            "Demander des modifications",
        ),
        Decision::Message => (String::new(), "", ""),
    }
}

#[derive(Template)]
#[template(path = "admin_habilitation_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    title: String,
    message: &'static str,
    button: &'static str,
    action: String,
    back: String,
    body: String,
}

async fn admin_act(
    admin: Admin,
    app: App,
    path: web::Path<(String, String)>,
    form: web::Form<MessageForm>,
) -> Result<HttpResponse, WebError> {
    admin.check_csrf(&form.csrf_token)?;
    let (id, action) = path.into_inner();
    let decision = parse_decision(&action).ok_or(WebError::NotFound)?;
    let form = form.into_inner();
    let refused = |errors: FieldErrors, error: Option<String>| AdminKept {
        error,
        failed: action.clone(),
        body: form.body.clone(),
        errors,
    };
    // A decision is confirmed first (the message checked, nothing changed yet).
    if decision != Decision::Message && form.confirm != "oui" {
        if let Err(errors) = hab::check_message(&form.body, decision.message_required()) {
            return admin_page(&admin, &app, id, Some(refused(errors, None))).await;
        }
        let rid = id.clone();
        let d = app.run(move |db, _| hab::get(db, &rid)).await?;
        let name = d.request.name.clone().unwrap_or_default();
        let (title, message, button) = question(decision, &name);
        return Ok(admin.finish(
            &app,
            render(&ConfirmPage {
                layout: admin.layout(&app),
                title,
                message,
                button,
                action: format!("/admin/habilitations/{id}/{action}"),
                back: format!("/admin/habilitations/{id}"),
                body: form.body.clone(),
            }),
        ));
    }
    let (admin_id, rid, body) = (admin.user().id.clone(), id.clone(), form.body.clone());
    let result = run_refusable(&app, move |db, env| {
        hab::decide(db, env.now, env.secrets, &admin_id, &rid, decision, &body)
    })
    .await?;
    let done = match result {
        Refusable::Done(Saved::Done(accepted)) => match (decision, accepted) {
            (Decision::Accept, Some(a)) => format!(
                "La demande est acceptée : la structure et {} compte(s) sont créés ; chacun a reçu son lien d’activation par courriel.",
                a.accounts
            ),
            (Decision::Refuse, _) => "La demande est refusée ; le demandeur en est informé.".into(),
            (Decision::AskChanges, _) => "Les modifications sont demandées ; le demandeur en est informé.".into(),
            _ => "Le message est envoyé au demandeur.".into(),
        },
        Refusable::Done(Saved::Refused(errors)) => {
            return admin_page(&admin, &app, id, Some(refused(errors, None))).await
        }
        Refusable::Refused(message) => {
            return admin_page(
                &admin,
                &app,
                id,
                Some(refused(FieldErrors::default(), Some(message))),
            )
            .await
        }
    };
    Ok(with_flash(
        &app,
        &admin,
        see_other(&format!("/admin/habilitations/{id}")),
        &done,
    ))
}
