//! Excerpts of the journal (docs/journal.md, "Excerpts"): `/audit/export` for auditors,
//! `/gestion/journal/export` for managers (their current structure only). JSON Lines,
//! streamed batch by batch: a connection is held only while a batch is read, and memory
//! does not grow with the range.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::errors::WebError;
use super::session::{App, Auditor, Manager, Run};
use crate::journal::excerpt;
use crate::journal::filter::Filter;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit/export", web::get().to(audit_export))
        .route("/gestion/journal/export", web::get().to(structure_export));
}

fn parse(req: &HttpRequest) -> Result<Filter, WebError> {
    Filter::parse(req.query_string()).map_err(WebError::BadRequest)
}

async fn audit_export(_: Auditor, app: App, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let filter = parse(&req)?;
    stream(app, filter, None).await
}

async fn structure_export(
    m: Manager,
    app: App,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let filter = parse(&req)?;
    let sid = m.structure().id.clone();
    if filter.structure.as_ref().is_some_and(|s| *s != sid) {
        return Err(WebError::Forbidden(
            "Vous ne pouvez exporter que le journal de votre structure actuelle.".into(),
        ));
    }
    stream(app, filter, Some(sid)).await
}

/// The header (or the refusal, before anything is sent), then the batches as the client
/// reads them.
async fn stream(app: App, filter: Filter, scope: Option<String>) -> Result<HttpResponse, WebError> {
    let f = filter.clone();
    let start = app
        .run(move |db, _| Ok(excerpt::start(db, &f)?))
        .await?
        .ok_or_else(|| {
            WebError::NotFoundWith(
                "Aucun point de contrôle signé n’a encore été fait : l’extrait n’est possible qu’après le premier (il en est fait un dès que des entrées sont ajoutées, au plus tard après PROCURA_CHECKPOINT_SECONDS secondes).".into(),
            )
        })?;
    let size = start.size;
    let first = filter.after.unwrap_or(0);
    let header =
        futures_util::stream::once(async move { Ok::<_, WebError>(Bytes::from(start.header)) });
    let batches = futures_util::stream::unfold(Some(first), move |after| {
        let (app, filter, scope) = (app.clone(), filter.clone(), scope.clone());
        async move {
            let after = after?;
            let read = app
                .run(move |db, _| {
                    let mut out = Vec::with_capacity(64 * 1024);
                    let next =
                        excerpt::batch(db, &filter, scope.as_deref(), size, after, &mut out)?;
                    Ok((out, next))
                })
                .await;
            Some(match read {
                Ok((out, next)) => (Ok(Bytes::from(out)), next),
                // The status is sent already: the connection is cut, the excerpt incomplete
                // (and its verification says so: the last lines are absent, never altered).
                Err(e) => (Err(e), None),
            })
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/jsonl; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"procura-journal-extrait-{size}.jsonl\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(header.chain(batches)))
}
