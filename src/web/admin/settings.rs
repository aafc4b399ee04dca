//! `/admin/parametres`: the settings in force, secrets redacted, as `procura config --json`
//! prints them ([`crate::config::Settings::effective`]).

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::web::session::Admin;
use crate::web::{render, App, Layout, WebError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/parametres", web::get().to(page));
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct Page {
    layout: Layout,
    rows: Vec<(String, String)>,
}

async fn page(a: Admin, app: App) -> Result<HttpResponse, WebError> {
    let v = app.settings.effective();
    let rows = v
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let shown = match v {
                        serde_json::Value::Null => "—".to_string(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), shown)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(a.finish(
        &app,
        render(&Page {
            layout: a.layout(&app),
            rows,
        }),
    ))
}
