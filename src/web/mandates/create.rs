//! Creating a mandate: démarches and duration, FranceConnect, the person's consent.

use super::*;

/// A démarche checkbox.
pub struct Choice {
    d: &'static Demarche,
    checked: bool,
}

/// A duration radio.
pub struct DurationChoice {
    code: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "mandate_new.html")]
struct NewPage {
    layout: Layout,
    demarches: Vec<Choice>,
    durations: Vec<DurationChoice>,
    error: Option<String>,
    /// The field group the error is about (`demarches`, `duration`), or "" for the form.
    error_field: &'static str,
    renewal_of: Option<String>,
    remote: RemoteFields,
}

/// The remote consent fields of the creation form, as entered.
#[derive(Debug, Clone, Default)]
pub struct RemoteFields {
    distance: bool,
    email: String,
    family_name: String,
    given_name: String,
    birthdate: String,
}

impl RemoteFields {
    fn of(pairs: &[(String, String)]) -> Self {
        RemoteFields {
            distance: field(pairs, "consent_mode") == "distance",
            email: field(pairs, "usager_email").to_string(),
            family_name: field(pairs, "usager_family_name").to_string(),
            given_name: field(pairs, "usager_given_name").to_string(),
            birthdate: field(pairs, "usager_birthdate").to_string(),
        }
    }
}

fn new_page(
    ctx: &Ctx,
    state: &AppState,
    selected: &[String],
    duration: Option<&str>,
    error: Option<(&'static str, String)>,
    renewal_of: Option<String>,
    remote: RemoteFields,
) -> HttpResponse {
    let (error_field, error) = match error {
        Some((f, m)) => (f, Some(m)),
        None => ("", None),
    };
    // Only the démarches the structure offers (its manager's choice).
    let offered = ctx
        .structure
        .as_ref()
        .map(|s| s.demarches())
        .unwrap_or(rules::DemarcheSet::All);
    render(&NewPage {
        layout: ctx.layout(state),
        demarches: offered
            .list()
            .into_iter()
            .map(|d| Choice {
                d,
                checked: selected.iter().any(|s| s == d.code),
            })
            .collect(),
        durations: MandateDuration::ALL
            .iter()
            .map(|m| DurationChoice {
                code: m.code(),
                label: m.label(),
                checked: Some(m.code()) == duration,
            })
            .collect(),
        error,
        error_field,
        renewal_of,
        remote,
    })
}

/// `?renouveler=` on the creation form.
#[derive(Deserialize)]
pub struct RenewQuery {
    renouveler: Option<String>,
}

pub(super) async fn new_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    q: web::Query<RenewQuery>,
) -> Result<HttpResponse, WebError> {
    let (_, structure) = ctx.require(Role::Aidant)?;
    let (mut selected, mut duration) = (Vec::new(), None);
    if let Some(old) = q.renouveler.clone() {
        let sid = structure.id.clone();
        let view = state
            .run(move |conn, env| Ok(mandates::mandate_in(conn, env.now, &sid, &old)?))
            .await?
            .ok_or(WebError::NotFound)?;
        selected = view
            .authorisations
            .iter()
            .map(|(a, _)| a.demarche.clone())
            .collect();
        duration = MandateDuration::parse(&view.mandate.duration).map(|d| d.code());
    }
    Ok(new_page(
        &ctx,
        &state,
        &selected,
        duration,
        None,
        q.renouveler.clone(),
        RemoteFields::default(),
    ))
}

/// Parses an urlencoded body with repeated keys.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

pub(super) async fn new_submit(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let pairs = form_pairs(&body);
    ctx.check_csrf(field(&pairs, "csrf_token"))?;
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    let selected: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "demarches")
        .map(|(_, v)| v.clone())
        .collect();
    let duration_code = field(&pairs, "duration").to_string();
    let remote = RemoteFields::of(&pairs);
    // An error about one field group is shown beside it too (and the group points to it).
    let bad_in = |f: &'static str, m: String| {
        let mut r = new_page(
            &ctx,
            &state,
            &selected,
            Some(duration_code.as_str()),
            Some((f, m)),
            None,
            remote.clone(),
        );
        *r.status_mut() = StatusCode::BAD_REQUEST;
        r
    };
    let bad = |m: String| bad_in("", m);
    let demarches = match rules::parse_demarches(&selected) {
        Ok(d) => d,
        Err(m) => return Ok(bad_in("demarches", m)),
    };
    let Some(duration) = MandateDuration::parse(&duration_code) else {
        return Ok(bad_in("duration", "Choisissez une durée.".into()));
    };
    // Checked again by `start_request`; here it spares a FranceConnect round trip.
    if let Err(e) = mandates::check_offered(&structure.demarches(), &demarches) {
        return Ok(bad_in("demarches", e.to_string()));
    }
    match field(&pairs, "consent_mode") {
        "" | "presence" => {}
        "distance" => {
            // Remote consent: no FranceConnect round trip for the aidant; the person
            // receives a link by e-mail.
            let expected = match crate::person::remote::parse_expected(
                &remote.email,
                &remote.family_name,
                &remote.given_name,
                &remote.birthdate,
                state.clock.now().date_naive(),
            ) {
                Ok(e) => e,
                Err(m) => return Ok(bad(m)),
            };
            let r = crate::person::remote::NewRemote {
                by: crate::accounts::Acting::new(&aidant.id, &structure.id),
                demarches,
                duration,
                expected,
            };
            let sent = run_refusable(&state, move |db, env| {
                let url = |p: &str| env.settings.url(p);
                crate::person::remote::request(db, env.now, env.secrets, &url, &r)
            })
            .await?;
            if let Refusable::Refused(m) = sent {
                return Ok(bad(m));
            }
            return Ok(super::super::session::with_flash(
                &state,
                &ctx,
                see_other("/espace"),
                "La demande de consentement à distance est envoyée par courriel à la personne. Son lien est valable 24 heures ; suivez son état ci-dessous.",
            ));
        }
        _ => return Ok(bad(
            "Choisissez comment la personne donne son consentement : en présence ou à distance."
                .into(),
        )),
    }
    let fc = state
        .fc
        .clone()
        .ok_or_else(|| WebError::BadRequest(FcError::NotConfigured.to_string()))?;
    let by = crate::accounts::Acting::new(&aidant.id, &structure.id);
    // Discovery is a network call: made before any connection is taken.
    let (url, fc_state, flow) = blocking(move || fc.start())
        .await?
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let request = mandates::NewRequest {
        session_hash: ctx.session.id_hash.clone(),
        by,
        demarches,
        duration,
        state: fc_state,
        flow,
    };
    let started = run_refusable(&state, move |db, env| {
        mandates::start_request(db, env.now, env.secrets, &request)
    })
    .await?;
    if let Refusable::Refused(m) = started {
        return Ok(bad(m));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url))
        .finish())
}

pub(super) async fn callback(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    q: web::Query<mandates::CallbackParams>,
) -> Result<HttpResponse, WebError> {
    let q = q.into_inner();
    // One callback URL is registered at FranceConnect: a person's login to their own
    // space (its state is found in their session) goes there, anything else is a mandate
    // creation at the desk.
    if let Some(r) = crate::web::moi::franceconnect_callback(&req, &state, &q).await? {
        return Ok(r);
    }
    let fc = state.fc.clone().ok_or(WebError::NotFound)?;
    let by = mandates::CallbackBy {
        session_hash: ctx.session.id_hash.clone(),
        user_id: ctx.user.as_ref().map(|u| u.id.clone()),
    };
    let (issuer, code) = (fc.issuer.clone(), q.code.clone());
    let mut step = state
        .run(move |db, env| mandates::callback_begin(db, env.now, env.secrets, &by, &q, &issuer))
        .await?;
    let mut sign_out = None;
    if let Callback::Exchange(request, flow) = step {
        // The code exchange and userinfo are network calls: no connection is held.
        let now = state.clock.now();
        // A failed task still ends the request, journaled, rather than leave it pending.
        let exchanged = blocking(move || fc.finish(&code, &flow, now))
            .await
            .unwrap_or_else(|e| Err(FcError::Unreachable(e.to_string())));
        if let Err(e) = &exchanged {
            tracing::warn!(error = %e, reason = e.reason(), "FranceConnect round trip failed");
        }
        // The id_token stays in memory, for the redirect to FranceConnect's end_session.
        let exchanged = exchanged.map(|p| {
            sign_out = p.sign_out;
            p.identity
        });
        let signs_out = sign_out.is_some();
        step = state
            .run(move |db, env| {
                mandates::callback_finish(db, env.now, env.secrets, &request, exchanged, signs_out)
            })
            .await?;
    }
    match (step, sign_out) {
        (Callback::Consent(id), _) => Ok(see_other(&format!("/mandats/consentement/{id}"))),
        (Callback::SignOut { state: s, .. }, Some(out)) => {
            let url = out
                .url(&state.settings.url(SIGNED_OUT_PATH), &s)
                .map_err(|e| WebError::BadRequest(e.to_string()))?;
            Ok(see_other(&url))
        }
        (Callback::Failed(m), _) => Err(WebError::BadRequest(m)),
        (Callback::SignOut { .. } | Callback::Exchange(..), _) => {
            Err(WebError::Internal("the callback did not finish".into()))
        }
    }
}

/// Where FranceConnect sends the browser back after signing the person out.
pub const SIGNED_OUT_PATH: &str = "/franceconnect/deconnexion";

/// The way back from FranceConnect's end_session endpoint (`?state=`).
#[derive(Deserialize)]
pub struct SignedOutQuery {
    #[serde(default)]
    state: String,
}

#[derive(Template)]
#[template(path = "fc_signed_out_refused.html")]
struct SignedOutRefused {
    layout: Layout,
    message: String,
    consent: Option<String>,
}

pub(super) async fn signed_out(
    ctx: Ctx,
    state: web::Data<AppState>,
    q: web::Query<SignedOutQuery>,
) -> Result<HttpResponse, WebError> {
    let (session, given) = (ctx.session.id_hash.clone(), q.into_inner().state);
    let back = state
        .run(move |db, _| mandates::sign_out_return(db, &session, &given))
        .await?;
    Ok(match back {
        mandates::SignedOut::Consent(id) => see_other(&format!("/mandats/consentement/{id}")),
        mandates::SignedOut::Refused(message, consent) => {
            let mut r = render(&SignedOutRefused {
                layout: ctx.layout(&state),
                message,
                consent: consent.map(|id| format!("/mandats/consentement/{id}")),
            });
            *r.status_mut() = StatusCode::BAD_REQUEST;
            ctx.finish(&state, r)
        }
    })
}

/// A démarche line on the consent page.
pub struct DemarcheLine {
    label: &'static str,
    description: &'static str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    layout: Layout,
    person: Identity,
    structure: String,
    aidant: String,
    demarches: Vec<DemarcheLine>,
    end: String,
    duration: &'static str,
    statement: String,
    error: Option<String>,
    action: String,
    refuse: Option<String>,
    moi_url: String,
    back: String,
    langs: Vec<crate::i18n::LangLink>,
    langue: &'static str,
    notice: Option<String>,
    translation: Option<crate::i18n::Translation>,
}

/// What the consent page states, read at the desk or from a remote link: the same page.
pub struct ConsentTerms {
    /// The person, as FranceConnect proved them.
    pub person: Identity,
    /// The structure's name.
    pub structure: String,
    /// The aidant's name.
    pub aidant: String,
    /// Démarches asked for.
    pub demarches: Vec<&'static crate::domain::mandate::Demarche>,
    /// Duration asked for (the end is counted from now).
    pub duration: MandateDuration,
    /// Where the form posts the consent.
    pub action: String,
    /// Where the form posts a refusal (remote consent only).
    pub refuse: Option<String>,
    /// Where "back" leads.
    pub back: String,
    /// A refusal to show (status 400).
    pub error: Option<String>,
    /// The translation asked for beside the French (`langue`).
    pub langue: crate::i18n::Choice,
}

/// Renders the consent page.
pub fn consent_terms_page(state: &AppState, layout: Layout, t: ConsentTerms) -> HttpResponse {
    let end = t.duration.expires_at(state.clock.now()).naive_utc();
    let bad = t.error.is_some();
    let moi_url = state.settings.url("/moi");
    let translation = t.langue.lang().map(|lang| {
        let name = format!("{} {}", t.person.given_name, t.person.family_name);
        crate::i18n::consent(
            lang,
            &crate::i18n::ConsentFacts {
                name: &name,
                birthdate: &t.person.birthdate,
                structure: &t.structure,
                aidant: &t.aidant,
                demarches: &t.demarches,
                end,
                moi_url: &moi_url,
            },
        )
    });
    let mut r = render(&ConsentPage {
        langs: crate::i18n::links(&t.langue),
        langue: t.langue.code(),
        notice: t.langue.notice(),
        translation,
        layout,
        person: t.person,
        statement: consent_statement(&t.structure),
        structure: t.structure,
        aidant: t.aidant,
        demarches: t
            .demarches
            .iter()
            .map(|d| DemarcheLine {
                label: d.label,
                description: d.description,
            })
            .collect(),
        end: day_time(&end),
        duration: t.duration.label(),
        error: t.error,
        action: t.action,
        refuse: t.refuse,
        moi_url,
        back: t.back,
    });
    if bad {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    r
}

pub(super) async fn load_consent(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    id: String,
) -> Result<(mandates::ConsentRequest, Identity), WebError> {
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    let (aid, session) = (aidant.id.clone(), ctx.session.id_hash.clone());
    let (req, identity) = state
        .run(move |conn, env| {
            mandates::pending_consent(conn, env.now, env.secrets, &id, &aid, &session)
        })
        .await?;
    if req.structure_id != structure.id {
        return Err(WebError::BadRequest(
            "Cette demande de mandat a été commencée pour une autre structure que votre structure actuelle. Revenez à cette structure ou recommencez la création du mandat.".into(),
        ));
    }
    Ok((req, identity))
}

fn consent_page(
    ctx: &Ctx,
    state: &AppState,
    req: &mandates::ConsentRequest,
    person: Identity,
    error: Option<String>,
    langue: crate::i18n::Choice,
) -> HttpResponse {
    consent_terms_page(
        state,
        ctx.layout(state),
        ConsentTerms {
            person,
            structure: ctx
                .structure
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            aidant: ctx
                .user
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            demarches: req.demarche_list(),
            duration: req.duration(),
            action: format!("/mandats/consentement/{}", req.id),
            refuse: None,
            back: "/espace".into(),
            error,
            langue,
        },
    )
}

pub(super) async fn consent_form(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (request, person) = load_consent(&ctx, &state, path.into_inner()).await?;
    let langue = crate::i18n::Choice::from_query(req.query_string());
    Ok(consent_page(&ctx, &state, &request, person, None, langue))
}

pub(super) async fn consent_submit(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let pairs = form_pairs(&body);
    ctx.check_csrf(field(&pairs, "csrf_token"))?;
    let id = path.into_inner();
    let (request, person) = load_consent(&ctx, &state, id.clone()).await?;
    let langue = crate::i18n::Choice::of(field(&pairs, "langue"));
    if field(&pairs, "consent").is_empty() {
        let mut r = consent_page(
            &ctx,
            &state,
            &request,
            person,
            Some(
                "La personne doit cocher la case de consentement pour que le mandat soit créé."
                    .into(),
            ),
            langue,
        );
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(r);
    }
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    let (aid, session, sid, lang) = (
        aidant.id.clone(),
        ctx.session.id_hash.clone(),
        structure.id.clone(),
        langue.lang(),
    );
    let created = state
        .run(move |db, env| {
            mandates::confirm_consent(db, env.now, env.secrets, &id, &aid, &session, &sid, lang)
        })
        .await?;
    let done = see_other(&format!("/mandats/{}/attestation", created.mandate.id));
    Ok(super::super::session::with_flash(
        &state,
        &ctx,
        done,
        "Mandat créé. Imprimez l’attestation ci-dessous et remettez-la à la personne.",
    ))
}
