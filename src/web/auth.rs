//! Login (password, then code), logout and enrolment through a one-time link.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{client_addr, context, see_other, set_flash, take_flash, Ctx, WebError};
use super::{blocking, render, AppState, Layout};
use crate::accounts::login::{self, CodeStep, PasswordStep};
use crate::accounts::sessions::{self, stage};
use crate::accounts::{totp, users, AccountError};
use crate::crypto::SecretBox;
use crate::journal::{self, NewEntry};
use crate::store::write_tx;

/// The one message for every login refusal: it must not tell which part was wrong.
pub const LOGIN_REFUSED: &str =
    "Identifiants incorrects, ou compte bloqué ou désactivé. Vérifiez votre saisie ; après plusieurs échecs, le compte est bloqué pendant quelques minutes.";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connexion", web::get().to(login_form))
        .route("/connexion", web::post().to(login_submit))
        .route("/connexion/code", web::get().to(code_form))
        .route("/connexion/code", web::post().to(code_submit))
        .route("/deconnexion", web::post().to(logout))
        .route("/activation/{token}", web::get().to(enrol_form))
        .route("/activation/{token}", web::post().to(enrol_submit));
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    info: Option<String>,
    email: String,
}

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    layout: Layout,
    error: Option<String>,
}

fn with_status(status: StatusCode, mut resp: HttpResponse) -> HttpResponse {
    *resp.status_mut() = status;
    resp
}

async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    if ctx.user.is_some() {
        return Ok(see_other("/espace"));
    }
    let info = take_flash(&state, &ctx).await?;
    Ok(ctx.finish(
        &state,
        render(&LoginPage {
            layout: ctx.layout(&state),
            error: None,
            info,
            email: String::new(),
        }),
    ))
}

/// Login form fields (names fixed by the specification).
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let addr = client_addr(&req);
    let st = state.clone().into_inner();
    let email = form.email.clone();
    let session_id = ctx.session.id_hash.clone();
    let outcome = blocking(move || -> Result<PasswordStep, WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        let outcome = login::password_step(
            &mut conn,
            now,
            &st.settings.login_policy(),
            &addr,
            &email,
            &form.password,
        )?;
        if let PasswordStep::Accepted(user) = &outcome {
            sessions::set_stage(&mut conn, &session_id, Some(&user.id), stage::PASSWORD, now)?;
        }
        Ok(outcome)
    })
    .await??;
    let page = |status, error: &str| {
        with_status(
            status,
            render(&LoginPage {
                layout: ctx.layout(&state),
                error: Some(error.to_string()),
                info: None,
                email: form.email.clone(),
            }),
        )
    };
    Ok(match outcome {
        PasswordStep::Accepted(_) => see_other("/connexion/code"),
        PasswordStep::Refused => page(StatusCode::UNAUTHORIZED, LOGIN_REFUSED),
        PasswordStep::RateLimited => page(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives depuis cette adresse. Patientez quelques minutes avant de réessayer.",
        ),
    })
}

fn pending_user(ctx: &Ctx) -> Option<String> {
    (ctx.session.stage == stage::PASSWORD)
        .then(|| ctx.session.user_id.clone())
        .flatten()
}

async fn code_form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    if pending_user(&ctx).is_none() {
        return Ok(ctx.finish(&state, see_other("/connexion")));
    }
    Ok(render(&CodePage {
        layout: ctx.layout(&state),
        error: None,
    }))
}

/// Second-factor form field (name fixed by the specification).
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    otp: String,
}

async fn code_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let Some(user_id) = pending_user(&ctx) else {
        return Ok(ctx.finish(&state, see_other("/connexion")));
    };
    let addr = client_addr(&req);
    let st = state.clone().into_inner();
    let old_session = ctx.session.id_hash.clone();
    // Where to go after login (an OpenID interaction), and which interaction to carry over.
    let data = ctx.session.data();
    let next = data
        .get("next")
        .and_then(|v| v.as_str())
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .map(str::to_string);
    let interaction = data
        .get("interaction")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let code = form.into_inner().otp;
    let (outcome, new_token) = blocking(move || -> Result<(CodeStep, Option<String>), WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        let secrets = SecretBox::new(st.settings.master_key);
        let outcome = login::code_step(
            &mut conn,
            now,
            &st.settings.login_policy(),
            &secrets,
            &addr,
            &user_id,
            &code,
        )?;
        match &outcome {
            CodeStep::Accepted(user) => {
                // A new session id at login: a fixed or stolen pre-login id is worthless.
                let token = write_tx(&mut conn, |c| -> Result<String, diesel::result::Error> {
                    sessions::delete(c, &old_session)?;
                    let (t, new) = sessions::create(c, now, Some(&user.id), stage::FULL)?;
                    if let Some(i) = &interaction {
                        crate::federation::provider::rebind_interaction(
                            c,
                            i,
                            &old_session,
                            &new.id_hash,
                        )?;
                    }
                    Ok(t)
                })?;
                Ok((outcome, Some(token)))
            }
            CodeStep::Refused => {
                // A locked or deactivated account goes back to the start.
                let u = users::find(&mut conn, &user_id)?;
                if u.is_none_or(|u| {
                    !u.active || u.locked_until.is_some_and(|t| t > now.naive_utc())
                }) {
                    sessions::set_stage(&mut conn, &old_session, None, stage::ANONYMOUS, now)?;
                }
                Ok((outcome, None))
            }
            CodeStep::NeedsEnrolment => {
                sessions::set_stage(&mut conn, &old_session, None, stage::ANONYMOUS, now)?;
                Ok((outcome, None))
            }
        }
    })
    .await??;
    match outcome {
        CodeStep::Accepted(_) => {
            let mut resp = see_other(next.as_deref().unwrap_or("/espace"));
            if let Some(t) = new_token {
                let _ = resp.add_cookie(&super::session::session_cookie(&state, t));
            }
            Ok(resp)
        }
        CodeStep::Refused => Ok(with_status(
            StatusCode::UNAUTHORIZED,
            render(&CodePage {
                layout: ctx.layout(&state),
                error: Some(LOGIN_REFUSED.into()),
            }),
        )),
        CodeStep::NeedsEnrolment => {
            set_flash(
                &state,
                &ctx,
                "Votre second facteur d’authentification doit être activé : demandez un lien d’activation à votre responsable de structure.",
            )
            .await?;
            Ok(see_other("/connexion"))
        }
    }
}

/// A form carrying only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf_token: String,
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let st = state.clone().into_inner();
    let id = ctx.session.id_hash.clone();
    let user = ctx.user.clone();
    blocking(move || -> Result<(), WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        write_tx(&mut conn, |c| -> Result<(), AccountError> {
            sessions::delete(c, &id)?;
            if let Some(u) = &user {
                let mut e = NewEntry::new("logout").actor(u.actor());
                if let Some(s) = &u.current_structure_id {
                    e = e.structure(s);
                }
                journal::append(c, now, e)?;
            }
            Ok(())
        })?;
        Ok(())
    })
    .await??;
    let mut resp = see_other("/connexion");
    let mut gone = super::session::session_cookie(&state, String::new());
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    layout: Layout,
    name: String,
    email: String,
    needs_password: bool,
    qr_svg: String,
    secret_b32: String,
    error: Option<String>,
}

struct EnrolView {
    name: String,
    email: String,
    needs_password: bool,
    secret: Vec<u8>,
}

async fn enrol_view(state: &web::Data<AppState>, token: String) -> Result<EnrolView, WebError> {
    let st = state.clone().into_inner();
    blocking(move || -> Result<EnrolView, WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        let secrets = SecretBox::new(st.settings.master_key);
        let (hash, user, pending) =
            users::enrolment_for(&mut conn, now, &token)?.ok_or(AccountError::LinkInvalid)?;
        let secret = users::pending_secret(&mut conn, &secrets, &hash, &user, pending)?;
        Ok(EnrolView {
            name: user.name.clone(),
            email: user.email.clone(),
            needs_password: user.password_hash.is_none(),
            secret,
        })
    })
    .await?
    .map_err(|e| match e {
        WebError::BadRequest(m) => WebError::NotFoundWith(m),
        e => e,
    })
}

fn enrol_page(ctx: &Ctx, state: &AppState, v: &EnrolView, error: Option<String>) -> HttpResponse {
    let uri = totp::otpauth_uri(&v.secret, "Procura", &v.email);
    render(&EnrolPage {
        layout: ctx.layout(state),
        name: v.name.clone(),
        email: v.email.clone(),
        needs_password: v.needs_password,
        qr_svg: totp::qr_svg(&uri),
        secret_b32: totp::to_base32(&v.secret),
        error,
    })
}

async fn enrol_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    let v = enrol_view(&state, token.into_inner()).await?;
    Ok(ctx.finish(&state, enrol_page(&ctx, &state, &v, None)))
}

/// Enrolment form fields.
#[derive(Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    #[serde(default)]
    otp: String,
}

async fn enrol_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let token = token.into_inner();
    let v = enrol_view(&state, token.clone()).await?;
    let form = form.into_inner();
    if v.needs_password && form.password != form.password_confirm {
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            enrol_page(
                &ctx,
                &state,
                &v,
                Some("Les deux mots de passe saisis sont différents.".into()),
            ),
        ));
    }
    let st = state.clone().into_inner();
    let result = blocking(move || -> Result<Result<(), AccountError>, WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        let secrets = SecretBox::new(st.settings.master_key);
        let password = (!form.password.is_empty()).then_some(form.password.as_str());
        Ok(write_tx(&mut conn, |c| {
            users::complete_enrolment(c, now, &secrets, &token, password, &form.otp).map(|_| ())
        }))
    })
    .await??;
    match result {
        Ok(()) => {
            set_flash(&state, &ctx, "Votre compte est activé. Connectez-vous avec votre mot de passe et un code de votre application.").await?;
            Ok(see_other("/connexion"))
        }
        Err(e) if e.is_refusal() => Ok(with_status(
            StatusCode::BAD_REQUEST,
            enrol_page(&ctx, &state, &v, Some(e.to_string())),
        )),
        Err(e) => Err(e.into()),
    }
}
