//! Provider metadata and the JWKS.

use actix_web::HttpResponse;
use chrono::Duration;
use serde_json::json;

use super::issuer;
use crate::federation::provider as op;
use crate::web::{App, Run, WebError};

pub async fn metadata(app: App) -> HttpResponse {
    let i = issuer(&app);
    HttpResponse::Ok().json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/oidc/authorize"),
        "token_endpoint": format!("{i}/oidc/token"),
        "userinfo_endpoint": format!("{i}/oidc/userinfo"),
        "jwks_uri": format!("{i}/oidc/jwks"),
        "end_session_endpoint": format!("{i}/oidc/logout"),
        "scopes_supported": op::SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": op::AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": [op::ACR],
        "claims_supported": op::claims_supported(),
        "claims_parameter_supported": true,
        "userinfo_signing_alg_values_supported": ["ES256", "RS256"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["fr"],
    }))
}

pub async fn jwks(app: App) -> Result<HttpResponse, WebError> {
    let v = app
        .run(|db, env| {
            let grace = Duration::hours(i64::from(env.settings.key_grace_hours));
            op::jwks(db, env.now, env.secrets, &env.state.keys, grace)
        })
        .await?;
    Ok(HttpResponse::Ok().json(v))
}
