//! `/admin/structures`: list and search, create, edit, deactivate and reactivate.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{
    demarche_choices, mark, parse_ticked, refused, sentence, ticked, DemarcheChoice, Field, Posted,
};
use crate::accounts::structures::{self, Structure};
use crate::error::Error;
use crate::operator::SEARCH_LIMIT;
use crate::web::auth::CsrfOnly;
use crate::web::session::{see_other, with_flash, Admin};
use crate::web::{render, App, ConfirmPage, Layout, Run, WebError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/structures", web::get().to(list))
        .route("/admin/structures", web::post().to(create))
        .route("/admin/structures/nouvelle", web::get().to(new_form))
        .route("/admin/structures/{id}", web::get().to(edit_form))
        .route("/admin/structures/{id}", web::post().to(update))
        .route("/admin/structures/{id}/{action}", web::get().to(confirm))
        .route("/admin/structures/{id}/{action}", web::post().to(act));
}

use super::Search;

#[derive(Template)]
#[template(path = "admin_structures.html")]
struct ListPage {
    layout: Layout,
    flash: Option<String>,
    q: String,
    rows: Vec<Structure>,
    limit: i64,
    /// The list stops at `limit`.
    capped: bool,
}

async fn list(a: Admin, app: App, q: web::Query<Search>) -> Result<HttpResponse, WebError> {
    let q: String = q.into_inner().q.chars().take(100).collect();
    let query = q.clone();
    let rows = app
        .run(move |db, _| structures::search(db, &query, SEARCH_LIMIT))
        .await?;
    Ok(a.finish(
        &app,
        render(&ListPage {
            layout: a.layout(&app),
            flash: a.flash(),
            q,
            capped: rows.len() as i64 >= SEARCH_LIMIT,
            rows,
            limit: SEARCH_LIMIT,
        }),
    ))
}

#[derive(Template)]
#[template(path = "admin_structure_form.html")]
struct FormPage {
    layout: Layout,
    flash: Option<String>,
    /// None: a new structure.
    structure: Option<Structure>,
    action: String,
    fields: Vec<Field>,
    demarches: Vec<DemarcheChoice>,
    demarches_error: Option<String>,
    error: Option<String>,
}

/// What the form holds.
struct Values {
    name: String,
    siret: String,
    address: String,
    demarches: Vec<String>,
}

fn fields(v: &Values, creating: bool) -> Vec<Field> {
    let mut f = vec![Field::text("name", "Nom de la structure", &v.name)];
    if creating {
        f.push(Field::text("siret", "SIRET", &v.siret).hint(
            "14 chiffres, vérifiés par la clé de Luhn ; un SIRET ne sert qu’à une structure.",
        ));
    }
    f.push(
        Field::text("address", "Adresse postale", &v.address)
            .kind("textarea")
            .optional(),
    );
    f
}

fn page(
    a: &Admin,
    app: &App,
    structure: Option<Structure>,
    v: &Values,
    error: Option<(&str, String)>,
) -> HttpResponse {
    let creating = structure.is_none();
    let mut fs = fields(v, creating);
    let mut demarches_error = None;
    if let Some((field, m)) = &error {
        if *field == "demarches" {
            demarches_error = Some(m.clone());
        } else {
            mark(&mut fs, field, m);
        }
    }
    render(&FormPage {
        layout: a.layout(app),
        flash: if error.is_none() { a.flash() } else { None },
        action: structure
            .as_ref()
            .map(|s| format!("/admin/structures/{}", s.id))
            .unwrap_or_else(|| "/admin/structures".into()),
        structure,
        fields: fs,
        demarches: demarche_choices(&v.demarches),
        demarches_error,
        error: error.map(|(_, m)| m),
    })
}

async fn new_form(a: Admin, app: App) -> Result<HttpResponse, WebError> {
    let v = Values {
        name: String::new(),
        siret: String::new(),
        address: String::new(),
        demarches: ticked(&crate::domain::mandate::DemarcheSet::All),
    };
    Ok(a.finish(&app, page(&a, &app, None, &v, None)))
}

/// The field a refusal is about.
fn field_of(e: &Error) -> &'static str {
    match e {
        Error::StructureName => "name",
        Error::Siret | Error::DuplicateSiret => "siret",
        Error::Address => "address",
        _ => "demarches",
    }
}

async fn create(a: Admin, app: App, body: web::Bytes) -> Result<HttpResponse, WebError> {
    let p = Posted::parse(&body);
    a.check_csrf(&p.one("csrf_token"))?;
    let v = Values {
        name: p.one("name"),
        siret: p.one("siret"),
        address: p.one("address"),
        demarches: p.all("demarches"),
    };
    let set = match parse_ticked(&v.demarches) {
        Ok(s) => s,
        Err(m) => return Ok(refused(page(&a, &app, None, &v, Some(("demarches", m))))),
    };
    let admin = a.user().clone();
    let (name, siret, address) = (v.name.clone(), v.siret.clone(), v.address.clone());
    let done = app
        .run(move |db, env| {
            match structures::create_offering(
                db,
                env.now,
                &admin.actor(),
                &name,
                &siret,
                &address,
                &set,
            ) {
                Ok(s) => Ok(Ok(s)),
                Err(e) if e.is_refusal() => Ok(Err((field_of(&e), sentence(&e.to_string())))),
                Err(e) => Err(e),
            }
        })
        .await?;
    match done {
        Ok(s) => Ok(with_flash(
            &app,
            &a,
            see_other(&format!("/admin/structures/{}", s.id)),
            "La structure est créée.",
        )),
        Err((field, m)) => Ok(refused(page(&a, &app, None, &v, Some((field, m))))),
    }
}

async fn load(app: &App, id: String) -> Result<Structure, WebError> {
    app.run(move |db, _| structures::by_id(db, &id)?.ok_or(Error::NotFound))
        .await
}

async fn edit_form(a: Admin, app: App, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let s = load(&app, path.into_inner()).await?;
    let v = Values {
        name: s.name.clone(),
        siret: s.siret.clone(),
        address: s.address.clone(),
        demarches: ticked(&s.demarches()),
    };
    Ok(a.finish(&app, page(&a, &app, Some(s), &v, None)))
}

async fn update(
    a: Admin,
    app: App,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let p = Posted::parse(&body);
    a.check_csrf(&p.one("csrf_token"))?;
    let s = load(&app, path.into_inner()).await?;
    let v = Values {
        name: p.one("name"),
        siret: s.siret.clone(),
        address: p.one("address"),
        demarches: p.all("demarches"),
    };
    let set = match parse_ticked(&v.demarches) {
        Ok(set) => set,
        Err(m) => return Ok(refused(page(&a, &app, Some(s), &v, Some(("demarches", m))))),
    };
    let admin = a.user().clone();
    let (id, name, address) = (s.id.clone(), v.name.clone(), v.address.clone());
    let done = app
        .run(move |db, env| {
            match structures::update(db, env.now, &admin.actor(), &id, &name, &address, &set) {
                Ok(s) => Ok(Ok(s)),
                Err(e) if e.is_refusal() && !matches!(e, Error::NotFound) => {
                    Ok(Err((field_of(&e), sentence(&e.to_string()))))
                }
                Err(e) => Err(e),
            }
        })
        .await?;
    match done {
        Ok(s) => Ok(with_flash(
            &app,
            &a,
            see_other(&format!("/admin/structures/{}", s.id)),
            "La structure est enregistrée.",
        )),
        Err((field, m)) => Ok(refused(page(&a, &app, Some(s), &v, Some((field, m))))),
    }
}

/// `desactiver` (false) or `reactiver` (true).
fn parse_action(s: &str) -> Option<bool> {
    match s {
        "desactiver" => Some(false),
        "reactiver" => Some(true),
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
    let active = parse_action(&action).ok_or(WebError::NotFound)?;
    let s = load(&app, id).await?;
    let (title, message, button) = if active {
        (
            format!("Réactiver la structure {} ?", s.name),
            "Ses aidants pourront de nouveau créer et utiliser ses mandats. Les accès donnés avant la désactivation restent sans effet.".to_string(),
            "Réactiver la structure",
        )
    } else {
        (
            format!("Désactiver la structure {} ?", s.name),
            "Ses membres ne pourront plus créer ni utiliser ses mandats, à l’instant même : les accès en cours aux sites partenaires prennent fin. Les mandats, les comptes et le journal sont conservés ; vous pourrez la réactiver.".to_string(),
            "Désactiver la structure",
        )
    };
    Ok(render(&ConfirmPage {
        layout: a.layout(&app),
        title,
        message,
        button: button.into(),
        action: req.path().to_string(),
        back: format!("/admin/structures/{}", s.id),
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
    let active = parse_action(&action).ok_or(WebError::NotFound)?;
    let admin = a.user().clone();
    let sid = id.clone();
    let changed = app
        .run(move |db, env| structures::set_active(db, env.now, &admin.actor(), &sid, active))
        .await?;
    let message = match (changed, active) {
        (true, false) => {
            "La structure est désactivée : ses membres ne peuvent plus utiliser ses mandats."
                .to_string()
        }
        (true, true) => "La structure est réactivée.".to_string(),
        (false, false) => "Cette structure est déjà désactivée : rien n’a changé.".to_string(),
        (false, true) => "Cette structure est déjà active : rien n’a changé.".to_string(),
    };
    Ok(with_flash(
        &app,
        &a,
        see_other(&format!("/admin/structures/{id}")),
        &message,
    ))
}
