//! `/admin/clients`: the OpenID clients (partner sites), registration and every setting
//! of `procura client` (name, redirect URIs, post-logout URIs, authentication method,
//! démarches, PKCE, ID token and userinfo algorithms). A secret is shown once.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::{
    demarche_choices, mark, parse_ticked, refused, sentence, ticked, when, DemarcheChoice, Field,
    Posted,
};
use crate::domain::mandate::DemarcheSet;
use crate::error::Error;
use crate::federation::provider::{self, Client, ClientSettings};
use crate::operator;
use crate::web::session::{see_other, with_flash, Admin};
use crate::web::{render, App, Layout, Run, WebError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/clients", web::get().to(list))
        .route("/admin/clients", web::post().to(create))
        .route("/admin/clients/nouveau", web::get().to(new_form))
        .route("/admin/clients/{id}", web::get().to(edit_form))
        .route("/admin/clients/{id}", web::post().to(update));
}

/// A row of the list.
pub struct Row {
    id: String,
    name: String,
    auth_method: String,
    demarches: String,
    created: String,
}

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ListPage {
    layout: Layout,
    flash: Option<String>,
    rows: Vec<Row>,
}

fn describe(set: &DemarcheSet) -> String {
    match set {
        DemarcheSet::All => "toutes".into(),
        DemarcheSet::Only(list) => list.iter().map(|d| d.code).collect::<Vec<_>>().join(", "),
    }
}

async fn list(a: Admin, app: App) -> Result<HttpResponse, WebError> {
    let clients = app.run(|db, _| operator::clients(db)).await?;
    Ok(a.finish(
        &app,
        render(&ListPage {
            layout: a.layout(&app),
            flash: a.flash(),
            rows: clients
                .iter()
                .map(|c| Row {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    auth_method: c.auth_method.as_str().to_string(),
                    demarches: describe(&c.demarches()),
                    created: when(c.created_at),
                })
                .collect(),
        }),
    ))
}

/// A choice of a select: value, label, chosen.
type Choice = (&'static str, &'static str, bool);

fn choices(options: &[(&'static str, &'static str)], chosen: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(v, l)| (*v, *l, *v == chosen))
        .collect()
}

/// A select of the form.
pub struct Select {
    id: &'static str,
    label: &'static str,
    options: Vec<Choice>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_client_form.html")]
struct FormPage {
    layout: Layout,
    flash: Option<String>,
    /// None: a new client.
    client_id: Option<String>,
    action: String,
    fields: Vec<Field>,
    selects: Vec<Select>,
    demarches: Vec<DemarcheChoice>,
    demarches_error: Option<String>,
    error: Option<String>,
}

/// What the form holds.
struct Values {
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    auth_method: String,
    demarches: Vec<String>,
    pkce: String,
    id_token_alg: String,
    userinfo_alg: String,
}

impl Values {
    fn of(c: &Client) -> Values {
        Values {
            name: c.name.clone(),
            redirect_uris: c.redirects().join("\n"),
            post_logout_redirect_uris: c.post_logout_redirects().join("\n"),
            auth_method: c.auth_method.as_str().into(),
            demarches: ticked(&c.demarches()),
            pkce: c.pkce.as_str().into(),
            id_token_alg: c.id_token_alg.as_str().into(),
            userinfo_alg: c.userinfo_alg.as_str().into(),
        }
    }

    fn posted(p: &Posted) -> Values {
        Values {
            name: p.one("name"),
            redirect_uris: p.one("redirect_uris"),
            post_logout_redirect_uris: p.one("post_logout_redirect_uris"),
            auth_method: p.one("auth_method"),
            demarches: p.all("demarches"),
            pkce: p.one("pkce"),
            id_token_alg: p.one("id_token_alg"),
            userinfo_alg: p.one("userinfo_alg"),
        }
    }
}

/// One URI a line, blank lines left out.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The settings of the form, every one given; or the field at fault and why. Each field
/// is checked alone by the domain's own rules ([`provider::apply_settings`]) so that its
/// error stands beside it; how they go together is the use case's to check.
fn settings(v: &Values) -> Result<ClientSettings, (&'static str, String)> {
    let demarches = parse_ticked(&v.demarches).map_err(|m| ("demarches", m))?;
    let all = ClientSettings {
        name: Some(v.name.clone()),
        redirect_uris: Some(lines(&v.redirect_uris)),
        post_logout_redirect_uris: Some(lines(&v.post_logout_redirect_uris)),
        auth_method: Some(v.auth_method.clone()),
        demarches: Some(demarches),
        pkce: Some(v.pkce.clone()),
        id_token_alg: Some(v.id_token_alg.clone()),
        userinfo_alg: Some(v.userinfo_alg.clone()),
    };
    let alone: [(&'static str, ClientSettings); 7] = [
        (
            "name",
            ClientSettings {
                name: all.name.clone(),
                ..Default::default()
            },
        ),
        (
            "redirect_uris",
            ClientSettings {
                redirect_uris: all.redirect_uris.clone(),
                ..Default::default()
            },
        ),
        (
            "post_logout_redirect_uris",
            ClientSettings {
                post_logout_redirect_uris: all.post_logout_redirect_uris.clone(),
                ..Default::default()
            },
        ),
        (
            "auth_method",
            ClientSettings {
                auth_method: all.auth_method.clone(),
                ..Default::default()
            },
        ),
        (
            "pkce",
            ClientSettings {
                pkce: all.pkce.clone(),
                ..Default::default()
            },
        ),
        (
            "id_token_alg",
            ClientSettings {
                id_token_alg: all.id_token_alg.clone(),
                ..Default::default()
            },
        ),
        (
            "userinfo_alg",
            ClientSettings {
                userinfo_alg: all.userinfo_alg.clone(),
                ..Default::default()
            },
        ),
    ];
    for (field, s) in alone {
        let blank = Client::new(String::new(), chrono::NaiveDateTime::default());
        if let Err(m) = provider::apply_settings(blank, &s) {
            return Err((field, sentence(&m)));
        }
    }
    Ok(all)
}

/// The field a refusal of the whole set is about (the fields were each valid alone).
fn field_of_combination(m: &str) -> &'static str {
    if m.contains("pkce") {
        "pkce"
    } else if m.contains("RS256") {
        "id_token_alg"
    } else {
        "redirect_uris"
    }
}

fn page(
    a: &Admin,
    app: &App,
    client_id: Option<String>,
    v: &Values,
    error: Option<(&'static str, String)>,
) -> HttpResponse {
    let mut fields = vec![
        Field::text("name", "Nom du site, affiché aux aidants", &v.name),
        Field::text(
            "redirect_uris",
            "Adresses de retour (redirect URI)",
            &v.redirect_uris,
        )
        .kind("textarea")
        .hint("Une par ligne, exactes ; https (http seulement sur 127.0.0.1 ou localhost)."),
        Field::text(
            "post_logout_redirect_uris",
            "Adresses de retour après déconnexion",
            &v.post_logout_redirect_uris,
        )
        .kind("textarea")
        .optional()
        .hint("Une par ligne ; facultatif."),
    ];
    let mut selects = vec![
        Select {
            id: "auth_method",
            label: "Authentification au point de jeton",
            options: choices(
                &[
                    (
                        "client_secret_basic",
                        "client_secret_basic (secret, en-tête Authorization)",
                    ),
                    (
                        "client_secret_post",
                        "client_secret_post (secret dans le formulaire)",
                    ),
                    ("none", "none (client public, PKCE seul)"),
                ],
                &v.auth_method,
            ),
            error: None,
        },
        Select {
            id: "pkce",
            label: "PKCE",
            options: choices(
                &[
                    ("required", "obligatoire"),
                    ("optional", "facultatif (client avec secret seulement)"),
                ],
                &v.pkce,
            ),
            error: None,
        },
        Select {
            id: "id_token_alg",
            label: "Signature du jeton d’identité",
            options: choices(
                &[("ES256", "ES256"), ("RS256", "RS256 (clé RSA importée)")],
                &v.id_token_alg,
            ),
            error: None,
        },
        Select {
            id: "userinfo_alg",
            label: "Réponse de userinfo",
            options: choices(
                &[
                    ("none", "JSON"),
                    ("ES256", "JWT signé ES256"),
                    ("RS256", "JWT signé RS256"),
                ],
                &v.userinfo_alg,
            ),
            error: None,
        },
    ];
    let mut demarches_error = None;
    if let Some((field, m)) = &error {
        if *field == "demarches" {
            demarches_error = Some(m.clone());
        } else if let Some(s) = selects.iter_mut().find(|s| s.id == *field) {
            s.error = Some(m.clone());
        } else {
            mark(&mut fields, field, m);
        }
    }
    render(&FormPage {
        layout: a.layout(app),
        flash: if error.is_none() { a.flash() } else { None },
        action: client_id
            .as_ref()
            .map(|id| format!("/admin/clients/{id}"))
            .unwrap_or_else(|| "/admin/clients".into()),
        client_id,
        fields,
        selects,
        demarches: demarche_choices(&v.demarches),
        demarches_error,
        error: error.map(|(_, m)| m),
    })
}

async fn new_form(a: Admin, app: App) -> Result<HttpResponse, WebError> {
    let blank = Client::new(String::new(), chrono::NaiveDateTime::default());
    let v = Values::of(&blank);
    Ok(a.finish(&app, page(&a, &app, None, &v, None)))
}

async fn edit_form(a: Admin, app: App, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let c = app
        .run(move |db, _| provider::client(db, &id)?.ok_or(Error::NotFound))
        .await?;
    let v = Values::of(&c);
    Ok(a.finish(&app, page(&a, &app, Some(c.id), &v, None)))
}

#[derive(Template)]
#[template(path = "admin_client_secret.html")]
struct SecretPage {
    layout: Layout,
    title: String,
    client_id: String,
    secret: Option<String>,
}

async fn save(
    a: Admin,
    app: App,
    id: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let p = Posted::parse(&body);
    a.check_csrf(&p.one("csrf_token"))?;
    if let Some(id) = &id {
        let id = id.clone();
        app.run(move |db, _| provider::client(db, &id)?.ok_or(Error::NotFound))
            .await?;
    }
    let v = Values::posted(&p);
    let wanted = match settings(&v) {
        Ok(s) => s,
        Err(e) => return Ok(refused(page(&a, &app, id, &v, Some(e)))),
    };
    let admin = a.user().clone();
    let target = id.clone();
    let done = app
        .run(move |db, env| {
            let r = match &target {
                None => operator::create_client(db, env.now, &admin, &wanted),
                Some(id) => operator::update_client(db, env.now, &admin, id, &wanted),
            };
            match r {
                Ok(x) => Ok(Ok(x)),
                Err(Error::Invalid(m)) => Ok(Err((field_of_combination(&m), sentence(&m)))),
                Err(e) => Err(e),
            }
        })
        .await?;
    match done {
        Ok((c, secret)) if secret.is_some() || id.is_none() => Ok(render(&SecretPage {
            layout: a.layout(&app),
            title: if id.is_none() {
                "Client enregistré".into()
            } else {
                "Client modifié : nouveau secret".into()
            },
            client_id: c.id,
            secret,
        })),
        Ok((c, _)) => Ok(with_flash(
            &app,
            &a,
            see_other(&format!("/admin/clients/{}", c.id)),
            "Les réglages du client sont enregistrés.",
        )),
        Err(e) => Ok(refused(page(&a, &app, id, &v, Some(e)))),
    }
}

async fn create(a: Admin, app: App, body: web::Bytes) -> Result<HttpResponse, WebError> {
    save(a, app, None, body).await
}

async fn update(
    a: Admin,
    app: App,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    save(a, app, Some(path.into_inner()), body).await
}
