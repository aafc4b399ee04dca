//! Login (password, then code), logout and enrolment through a one-time link.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{
    run_refusable, see_other, session_cookie, session_cookie_removal, with_flash, Ctx, Refusable,
};
use super::{render, App, AppState, Layout, Run, WebError};
use crate::accounts::login::{self, CodeStep, PasswordStep};
use crate::accounts::{sessions, totp, users};
use crate::config::Cidr;
use std::net::IpAddr;

/// The one message for every refusal at the password stage: it must not tell which part
/// was wrong, nor whether the account is locked (see SECURITY.md), but says the real lock.
pub fn login_refused(policy: &login::Policy) -> String {
    format!(
        "Identifiants incorrects, ou compte bloqué ou désactivé. Vérifiez votre saisie ; après {} échecs, le compte est bloqué pendant {} minutes.",
        policy.threshold,
        policy.lock.num_minutes()
    )
}

/// A wrong or already used second-factor code, after the right password.
pub const WRONG_CODE: &str = "Le code à 6 chiffres n’est pas le bon, ou a déjà servi. Saisissez le code affiché maintenant (il change toutes les 30 secondes) ; si les codes sont toujours refusés, vérifiez que l’heure de votre téléphone est exacte (réglage automatique).";

/// The account is locked: said only after the right password (at the code step).
fn locked_message(until: chrono::NaiveDateTime, policy: &login::Policy) -> String {
    format!(
        "Trop d’essais : votre compte est bloqué pendant {} minutes, jusqu’au {}. Si ce n’est pas vous qui avez fait ces essais, ou si vous avez perdu votre téléphone, prévenez le responsable de votre structure.",
        policy.lock.num_minutes(),
        crate::domain::french::day_and_time(until)
    )
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connexion", web::get().to(login_form))
        .route("/connexion", web::post().to(login_submit))
        .route("/connexion/code", web::get().to(code_form))
        .route("/connexion/code", web::post().to(code_submit))
        .route("/deconnexion", web::post().to(logout))
        .route("/activation/{token}", web::get().to(enrol_form))
        .route("/activation/{token}", web::post().to(enrol_submit));
}

/// The client's address for the per-address limit: the peer, unless the peer is a trusted
/// proxy (`PROCURA_TRUSTED_PROXIES`); then `X-Forwarded-For` read from the right, taking
/// the first address that is not a trusted proxy (a client can write anything on the
/// left of that header, but not on the right of what our proxies appended).
pub fn client_addr(req: &HttpRequest, trusted: &[Cidr]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".into();
    };
    forwarded_client(peer, forwarded_for(req), trusted).to_string()
}

/// Every address of every `X-Forwarded-For` header, in order (None: unreadable entries).
fn forwarded_for(req: &HttpRequest) -> Vec<Option<IpAddr>> {
    req.headers()
        .get_all("x-forwarded-for")
        .flat_map(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .map(|a| a.trim().parse::<IpAddr>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The client behind `peer` (pure): see [`client_addr`]. An unreadable entry stops the
/// walk at the last trusted hop.
pub fn forwarded_client(peer: IpAddr, chain: Vec<Option<IpAddr>>, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = peer;
    if !is_trusted(peer) {
        return peer;
    }
    for hop in chain.into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    info: Option<String>,
    email: String,
    /// The error is about the e-mail and password given: both fields point to it.
    invalid: bool,
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

async fn login_form(ctx: Ctx, app: App) -> Result<HttpResponse, WebError> {
    if ctx.user.is_some() {
        return Ok(see_other("/espace"));
    }
    let info = ctx.flash();
    Ok(ctx.finish(
        &app,
        render(&LoginPage {
            layout: ctx.layout(&app),
            error: None,
            info,
            email: String::new(),
            invalid: false,
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
    ctx: Ctx,
    app: App,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let addr = client_addr(&req, &app.settings.trusted_proxies);
    let (email, password, session) = (form.email.clone(), form.password, ctx.session.clone());
    let outcome = app
        .run(move |db, env| {
            login::password_step(db, env.now, &env.logins, &session, &addr, &email, &password)
        })
        .await?;
    let page = |status, error: &str| {
        with_status(
            status,
            render(&LoginPage {
                layout: ctx.layout(&app),
                error: Some(error.to_string()),
                info: None,
                email: form.email.clone(),
                invalid: status == StatusCode::UNAUTHORIZED,
            }),
        )
    };
    Ok(match outcome {
        PasswordStep::Accepted(_) => see_other("/connexion/code"),
        PasswordStep::Refused => page(
            StatusCode::UNAUTHORIZED,
            &login_refused(&app.settings.login_policy()),
        ),
        PasswordStep::RateLimited => page(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives depuis cette adresse. Patientez quelques minutes avant de réessayer.",
        ),
    })
}

async fn code_form(ctx: Ctx, app: App) -> Result<HttpResponse, WebError> {
    if ctx.session.pending_user().is_none() {
        return Ok(ctx.finish(&app, see_other("/connexion")));
    }
    Ok(render(&CodePage {
        layout: ctx.layout(&app),
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
    ctx: Ctx,
    app: App,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    if ctx.session.pending_user().is_none() {
        return Ok(ctx.finish(&app, see_other("/connexion")));
    }
    let addr = client_addr(&req, &app.settings.trusted_proxies);
    let session = ctx.session.clone();
    let code = form.into_inner().otp;
    let outcome = app
        .run(move |db, env| {
            login::code_step(
                db,
                env.now,
                &env.logins,
                env.secrets,
                &session,
                &addr,
                &code,
            )
        })
        .await?;
    match outcome {
        CodeStep::Accepted {
            token,
            next,
            terms_pending,
            ..
        } => {
            // The terms first when they are due; they lead on to `next` once accepted.
            let to = match (terms_pending, next.as_deref()) {
                (true, _) => "/conditions",
                (false, Some(n)) => n,
                (false, None) => "/espace",
            };
            let mut resp = see_other(to);
            let _ = resp.add_cookie(&session_cookie(&app, token));
            Ok(resp)
        }
        CodeStep::WrongCode => Ok(with_status(
            StatusCode::UNAUTHORIZED,
            render(&CodePage {
                layout: ctx.layout(&app),
                error: Some(WRONG_CODE.into()),
            }),
        )),
        CodeStep::Locked(until) => {
            let policy = app.settings.login_policy();
            Ok(with_status(
                StatusCode::UNAUTHORIZED,
                render(&LoginPage {
                    layout: ctx.layout(&app),
                    error: Some(locked_message(until, &policy)),
                    info: None,
                    email: String::new(),
                    invalid: false,
                }),
            ))
        }
        CodeStep::Refused => Ok(with_status(
            StatusCode::UNAUTHORIZED,
            render(&LoginPage {
                layout: ctx.layout(&app),
                error: Some(login_refused(&app.settings.login_policy())),
                info: None,
                email: String::new(),
                invalid: false,
            }),
        )),
        CodeStep::NeedsEnrolment => Ok(with_flash(
            &app,
            &ctx,
            see_other("/connexion"),
            "Votre second facteur d’authentification doit être activé : demandez un lien d’activation à votre responsable de structure.",
        )),
    }
}

/// A form carrying only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf_token: String,
}

async fn logout(ctx: Ctx, app: App, form: web::Form<CsrfOnly>) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let visitor = ctx.visitor();
    app.run(move |db, env| sessions::logout(db, env.now, &visitor, None))
        .await?;
    let mut resp = see_other("/connexion");
    let _ = resp.add_cookie(&session_cookie_removal(&app));
    Ok(resp)
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    layout: Layout,
    name: String,
    email: String,
    needs_password: bool,
    reset: bool,
    qr_svg: String,
    secret_b32: String,
    error: Option<String>,
}

struct EnrolView {
    name: String,
    email: String,
    needs_password: bool,
    /// A password reset: the account keeps its second factor and confirms with it.
    reset: bool,
    secret: Vec<u8>,
}

async fn enrol_view(app: &App, token: String) -> Result<EnrolView, WebError> {
    app.run(move |db, env| {
        let (hash, user, pending) =
            users::enrolment_for(db, env.now, &token)?.ok_or_else(|| {
                crate::error::Error::Gone(crate::error::Error::LinkInvalid.to_string())
            })?;
        let reset = users::has_second_factor(db, &user)?;
        if reset && user.password_hash.is_some() {
            return Err(crate::error::Error::Gone(
                crate::error::Error::LinkInvalid.to_string(),
            ));
        }
        let secret = if reset {
            Vec::new()
        } else {
            users::pending_secret(env.secrets, &hash, &user, pending)?
        };
        Ok(EnrolView {
            name: user.name.clone(),
            email: user.email.clone(),
            needs_password: user.password_hash.is_none(),
            reset,
            secret,
        })
    })
    .await
}

fn enrol_page(ctx: &Ctx, state: &AppState, v: &EnrolView, error: Option<String>) -> HttpResponse {
    let (qr_svg, secret_b32) = if v.reset {
        (String::new(), String::new())
    } else {
        let uri = totp::otpauth_uri(&v.secret, "Procura", &v.email);
        (totp::qr_svg(&uri), totp::to_base32(&v.secret))
    };
    render(&EnrolPage {
        layout: ctx.layout(state),
        name: v.name.clone(),
        email: v.email.clone(),
        needs_password: v.needs_password,
        reset: v.reset,
        qr_svg,
        secret_b32,
        error,
    })
}

async fn enrol_form(
    ctx: Ctx,
    app: App,
    token: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let v = enrol_view(&app, token.into_inner()).await?;
    Ok(ctx.finish(&app, enrol_page(&ctx, &app, &v, None)))
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
    ctx: Ctx,
    app: App,
    token: web::Path<String>,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let token = token.into_inner();
    let v = enrol_view(&app, token.clone()).await?;
    let form = form.into_inner();
    let refused = |message: String| {
        Ok(with_status(
            StatusCode::BAD_REQUEST,
            enrol_page(&ctx, &app, &v, Some(message)),
        ))
    };
    if v.needs_password && form.password != form.password_confirm {
        return refused("Les deux mots de passe saisis sont différents.".into());
    }
    if v.reset {
        let result = run_refusable(&app, move |db, env| {
            login::reset_password_step(
                db,
                env.now,
                &env.logins,
                env.secrets,
                &token,
                &form.password,
                &form.otp,
            )
        })
        .await?;
        return match result {
            Refusable::Done(login::ResetStep::Done(_)) => Ok(with_flash(
                &app,
                &ctx,
                see_other("/connexion"),
                "Votre nouveau mot de passe est enregistré. Connectez-vous avec lui et un code de votre application ou de votre carte.",
            )),
            Refusable::Done(login::ResetStep::WrongCode) => refused(WRONG_CODE.into()),
            Refusable::Done(login::ResetStep::Locked(until)) => {
                refused(locked_message(until, &app.settings.login_policy()))
            }
            Refusable::Refused(message) => refused(message),
        };
    }
    let result = run_refusable(&app, move |db, env| {
        let password = (!form.password.is_empty()).then_some(form.password.as_str());
        users::complete_enrolment(db, env.now, env.secrets, &token, password, &form.otp)
    })
    .await?;
    match result {
        Refusable::Done(_) => Ok(with_flash(
            &app,
            &ctx,
            see_other("/connexion"),
            "Votre compte est activé. Connectez-vous avec votre mot de passe et un code de votre application.",
        )),
        Refusable::Refused(message) => refused(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let chain = |l: &[&str]| l.iter().map(|s| s.parse().ok()).collect::<Vec<_>>();
        // An untrusted peer: the header is ignored.
        assert_eq!(
            forwarded_client(ip("192.0.2.1"), chain(&["203.0.113.9"]), &trusted),
            ip("192.0.2.1")
        );
        // A trusted peer: the right-most untrusted address, whatever the client wrote.
        assert_eq!(
            forwarded_client(
                ip("10.0.0.2"),
                chain(&["1.1.1.1", "203.0.113.9", "10.0.0.5"]),
                &trusted
            ),
            ip("203.0.113.9")
        );
        // Nothing forwarded, or garbage: the last trusted hop.
        assert_eq!(
            forwarded_client(ip("10.0.0.2"), chain(&[]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            forwarded_client(ip("10.0.0.2"), chain(&["bogus", "10.0.0.7"]), &trusted),
            ip("10.0.0.7")
        );
    }
}
