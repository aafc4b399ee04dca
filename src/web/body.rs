//! What a request may carry, checked once before any handler: no NUL character in the
//! address or in a form field, no compressed body, only form bodies, at most
//! [`BODY_LIMIT`] bytes.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::HttpMessage;
use futures_util::StreamExt;

use super::errors;

/// The largest request body accepted, on every route (forms, raw bodies, JSON).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The one media type of request bodies: HTML forms and the token endpoint both post it.
const FORM: &str = "application/x-www-form-urlencoded";

/// A request refused before its handler: the status and the French message shown.
type Refusal = (StatusCode, &'static str);

/// Middleware: refuses what [`inspect`] refuses with a clear 4xx, passes the rest on with
/// its body (already read) put back.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match inspect(&mut req).await {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err((status, message)) => {
            let page = errors::deferred(status, message.to_string());
            Ok(req.into_response(page).map_into_right_body())
        }
    }
}

/// True when `s` holds a NUL character, raw or percent-encoded.
fn has_nul(s: &str) -> bool {
    s.contains('\0') || s.to_ascii_lowercase().contains("%00")
}

async fn inspect(req: &mut ServiceRequest) -> Result<(), Refusal> {
    // A NUL character is never meaningful in text, and PostgreSQL refuses it: refused
    // here, before any handler, on both backends alike.
    if has_nul(req.uri().path()) || has_nul(req.query_string()) {
        return Err((
            StatusCode::BAD_REQUEST,
            "L’adresse contient un caractère interdit (caractère nul).",
        ));
    }
    // actix would decompress a gzip body on the fly (the same feature compresses
    // responses): a small request could then expand past every limit. No client of
    // ours compresses what it sends.
    if let Some(coding) = req.headers().get(header::CONTENT_ENCODING) {
        if !coding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Les requêtes compressées ne sont pas acceptées.",
            ));
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    if !chunked && declared.unwrap_or(0) == 0 {
        return Ok(());
    }
    // The token endpoint answers a wrong media type in OAuth's own error format.
    let oauth = req.path() == "/oidc/token";
    if !oauth && !req.content_type().eq_ignore_ascii_case(FORM) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Le contenu doit être un formulaire (application/x-www-form-urlencoded).",
        ));
    }
    let body = read(req.take_payload()).await?;
    if url::form_urlencoded::parse(&body).any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err((
            StatusCode::BAD_REQUEST,
            "Le formulaire contient un caractère interdit (caractère nul).",
        ));
    }
    req.set_payload(Payload::from(body));
    Ok(())
}

/// Reads the whole body, refusing it past [`BODY_LIMIT`].
async fn read(mut payload: Payload) -> Result<Bytes, Refusal> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                "Le contenu de la requête n’a pas pu être lu.",
            )
        })?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn too_large() -> Refusal {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        "La requête dépasse la taille autorisée.",
    )
}
