//! Liveness, readiness and metrics endpoints.

use std::time::Duration;

use actix_web::{web, HttpResponse};

use super::{blocking, AppState};
use crate::journal;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers; 503 with the reason otherwise.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    match blocking(move || store.check(Duration::from_secs(2))).await {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Ok(Err(e)) | Err(e) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "status": "unavailable",
                "reason": e.to_string(),
            }))
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let (journal_len, mail_pending) = blocking(move || -> (i64, i64) {
        match store.conn() {
            Ok(mut c) => (
                journal::length(&mut c).unwrap_or(-1),
                crate::mail::pending_count(&mut c).unwrap_or(-1),
            ),
            Err(_) => (-1, -1),
        }
    })
    .await
    .unwrap_or((-1, -1));
    let body = state.metrics.render(
        state.store.pool_state(),
        state.store.pool_size(),
        journal_len,
        mail_pending,
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
