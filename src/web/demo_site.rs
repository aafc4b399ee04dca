//! A sample "administrative site" for demo mode only: a relying party of Procura's
//! provider that starts the acting-on-behalf flow and shows the identity it receives.
//! It talks to Procura over HTTP, through discovery, like any client.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use openidconnect::core::CoreJsonWebKeySet;
use serde::Deserialize;
use serde_json::{json, Value};

use super::session::{see_other, Ctx};
use super::WebError;
use super::{blocking, render, AppState, Layout};
use crate::federation::jose::{single_audience, verify_jwt};
use crate::federation::provider::s256;

/// The demo client's id.
pub const CLIENT_ID: &str = "demo-site-administratif";
/// The demo client's secret (public: demo only).
pub const CLIENT_SECRET: &str = "secret-du-site-de-demonstration";

/// Mounts the sample site when `enabled` (demo mode).
pub fn routes(cfg: &mut web::ServiceConfig, enabled: bool) {
    if enabled {
        cfg.route("/demo/site", web::get().to(home))
            .route("/demo/site/connexion", web::get().to(start))
            .route("/demo/site/callback", web::get().to(callback));
    }
}

#[derive(Template)]
#[template(path = "demo_site.html")]
struct SitePage {
    layout: Layout,
    result: Option<Vec<(String, String)>>,
    error: Option<String>,
}

async fn home(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::load(&req).await?;
    Ok(ctx.finish(
        &state,
        render(&SitePage {
            layout: ctx.layout(&state),
            result: None,
            error: None,
        }),
    ))
}

/// The demo site's own cookie: its flow's secrets, sealed with the master key, for
/// [`FLOW_SECONDS`]. It lives outside Procura's session on purpose: when the aidant logs
/// in during the flow, the session changes, and the flow must survive it.
fn flow_cookie_name(state: &AppState) -> &'static str {
    if state.settings.https() {
        "__Secure-procura_demo_site"
    } else {
        "procura_demo_site"
    }
}

/// How long a started flow may take (logging in included).
const FLOW_SECONDS: i64 = 900;
/// The sealed cookie's context.
const FLOW_CONTEXT: &str = "demo-site-flow";

fn flow_cookie(state: &AppState, value: String) -> actix_web::cookie::Cookie<'static> {
    let mut c = actix_web::cookie::Cookie::new(flow_cookie_name(state), value);
    c.set_http_only(true);
    c.set_same_site(actix_web::cookie::SameSite::Lax);
    c.set_path("/demo/site");
    c.set_secure(state.settings.https());
    c.set_max_age(actix_web::cookie::time::Duration::seconds(FLOW_SECONDS));
    c
}

/// The flow's secrets read back from the cookie, if it is there, intact and recent.
fn saved_flow(req: &HttpRequest, state: &AppState) -> Value {
    let Some(c) = req.cookie(flow_cookie_name(state)) else {
        return Value::Null;
    };
    let Ok(plain) = state.secret_box.open(FLOW_CONTEXT, c.value()) else {
        return Value::Null;
    };
    let saved: Value = serde_json::from_slice(&plain).unwrap_or(Value::Null);
    let age = state.clock.now().timestamp() - saved["issued"].as_i64().unwrap_or(i64::MIN / 2);
    if (0..=FLOW_SECONDS).contains(&age) {
        saved
    } else {
        Value::Null
    }
}

async fn start(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::load(&req).await?;
    let (verifier, nonce, st) = (
        crate::crypto::new_token(),
        crate::crypto::new_token(),
        crate::crypto::new_token(),
    );
    let flow = json!({
        "verifier": verifier,
        "nonce": nonce,
        "state": st,
        "issued": state.clock.now().timestamp(),
    });
    let sealed = state
        .secret_box
        .seal(FLOW_CONTEXT, flow.to_string().as_bytes())
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", CLIENT_ID),
            ("redirect_uri", &state.settings.url("/demo/site/callback")),
            ("response_type", "code"),
            ("scope", "openid profile birth"),
            ("state", &st),
            ("nonce", &nonce),
            ("code_challenge", &s256(&verifier)),
            ("code_challenge_method", "S256"),
            ("acr_values", "eidas1"),
        ])
        .finish();
    let mut resp = see_other(&format!("/oidc/authorize?{q}"));
    resp.add_cookie(&flow_cookie(&state, sealed))
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(ctx.finish(&state, resp))
}

/// The provider's answer.
#[derive(Deserialize)]
pub struct Answer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Answer>,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::load(&req).await?;
    let q = q.into_inner();
    let saved = saved_flow(&req, &state);
    // The flow is used once: its cookie goes, whatever the answer.
    let page = |result, error| {
        let mut resp = render(&SitePage {
            layout: ctx.layout(&state),
            result,
            error,
        });
        let mut gone = flow_cookie(&state, String::new());
        gone.make_removal();
        let _ = resp.add_cookie(&gone);
        resp
    };
    if q.state.as_deref() != saved["state"].as_str() || saved["state"].is_null() {
        return Ok(page(
            None,
            Some("Réponse inattendue (state) : recommencez depuis le bouton.".into()),
        ));
    }
    let issuer = state
        .settings
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_string();
    if q.iss.as_deref() != Some(issuer.as_str()) {
        return Ok(page(
            None,
            Some("Réponse d’un autre fournisseur d’identité (iss).".into()),
        ));
    }
    if let Some(e) = q.error {
        return Ok(page(
            None,
            Some(format!("Connexion refusée ou annulée ({e}).")),
        ));
    }
    let code = q.code.unwrap_or_default();
    let redirect = state.settings.url("/demo/site/callback");
    let outcome = blocking(move || -> Result<Vec<(String, String)>, String> {
        let agent = crate::federation::client::http();
        let meta: Value = agent
            .get(&format!("{issuer}/.well-known/openid-configuration"))
            .call()
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())?;
        let token_url = meta["token_endpoint"].as_str().ok_or("token_endpoint")?;
        let tokens: Value = agent
            .post(token_url)
            .set(
                "Authorization",
                &format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("{CLIENT_ID}:{CLIENT_SECRET}")
                    )
                ),
            )
            .send_form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                (
                    "code_verifier",
                    saved["verifier"].as_str().unwrap_or_default(),
                ),
            ])
            .map_err(|e| format!("jeton refusé : {e}"))?
            .into_json()
            .map_err(|e| e.to_string())?;
        let id_token = tokens["id_token"].as_str().ok_or("pas d’id_token")?;
        let jwks: CoreJsonWebKeySet = agent
            .get(meta["jwks_uri"].as_str().ok_or("jwks_uri")?)
            .call()
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())?;
        let claims = verify_jwt(id_token, jwks.keys()).ok_or("signature de l’id_token invalide")?;
        if claims["nonce"] != saved["nonce"]
            || single_audience(&claims) != Some(CLIENT_ID)
            || claims["iss"] != issuer
        {
            return Err("id_token invalide (nonce, aud ou iss)".into());
        }
        let info: Value = agent
            .get(
                meta["userinfo_endpoint"]
                    .as_str()
                    .ok_or("userinfo_endpoint")?,
            )
            .set(
                "Authorization",
                &format!(
                    "Bearer {}",
                    tokens["access_token"].as_str().unwrap_or_default()
                ),
            )
            .call()
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        for k in [
            "sub",
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "birthplace",
            "birthcountry",
        ] {
            if let Some(v) = info[k].as_str() {
                rows.push((k.to_string(), v.to_string()));
            }
        }
        rows.push((
            "act.sub (aidant)".into(),
            claims["act"]["sub"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
        rows.push((
            "acr".into(),
            claims["acr"].as_str().unwrap_or_default().to_string(),
        ));
        rows.push(("amr".into(), claims["amr"].to_string()));
        Ok(rows)
    })
    .await?;
    Ok(match outcome {
        Ok(rows) => page(Some(rows), None),
        Err(e) => page(None, Some(e)),
    })
}
