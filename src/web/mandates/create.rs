//! Creating a mandate: démarches and duration, FranceConnect, the person's consent.

use super::*;
use chrono::Timelike;

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
    /// The field the error is about (`demarches`, `duration`, `usager_email`,
    /// `usager_family_name`, `usager_given_name`, `usager_birthdate`), or "" for the form.
    error_field: &'static str,
    renewal_of: Option<String>,
    remote: RemoteFields,
    /// Why the aidant is back on the form (a dead end of a previous try), if so.
    notice: Option<String>,
}

/// The remote consent field a refusal of [`crate::person::remote::parse_expected`] is
/// about, or "" (each of its refusals names its field in its first words).
fn remote_field_of(message: &str) -> &'static str {
    [
        ("Indiquez l’adresse électronique", "usager_email"),
        ("Indiquez le nom de naissance", "usager_family_name"),
        ("Indiquez le ou les prénoms", "usager_given_name"),
        ("Indiquez la date de naissance", "usager_birthdate"),
    ]
    .into_iter()
    .find(|(start, _)| message.starts_with(start))
    .map(|(_, f)| f)
    .unwrap_or("")
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

/// What the creation form starts with.
#[derive(Default)]
struct Prefill {
    selected: Vec<String>,
    duration: Option<String>,
    renewal_of: Option<String>,
    notice: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn new_page(
    ctx: &Ctx,
    state: &AppState,
    selected: &[String],
    duration: Option<&str>,
    error: Option<(&'static str, String)>,
    renewal_of: Option<String>,
    remote: RemoteFields,
    notice: Option<String>,
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
        notice,
    })
}

/// The creation form's query: `?renouveler=` (a mandate to renew), or `?reprendre=` (a
/// creation that ended, whose choices the form takes again) with `motif` (why).
#[derive(Deserialize)]
pub struct RenewQuery {
    renouveler: Option<String>,
    reprendre: Option<String>,
    #[serde(default)]
    motif: String,
}

/// The `motif` after the previous person was signed out of FranceConnect for a renewal.
const SIGNED_OUT_MOTIF: &str = "deconnexion";

/// The démarches a renewal ticks again: those of the old mandate the person or the
/// structure did not revoke (still active, ended with the mandate, or carried on by a
/// newer mandate).
fn renewed_demarches(view: &MandateView) -> Vec<String> {
    view.authorisations
        .iter()
        .filter(|(_, s)| *s != AuthorisationState::Revoked)
        .map(|(a, _)| a.demarche.clone())
        .collect()
}

pub(super) async fn new_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    q: web::Query<RenewQuery>,
) -> Result<HttpResponse, WebError> {
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    // Without an accreditation in force, the page says what is missing instead.
    crate::accounts::accreditation::require(aidant, state.clock.now())?;
    let q = q.into_inner();
    let mut pre = Prefill::default();
    if let Some(old) = q.renouveler.clone() {
        let sid = structure.id.clone();
        let view = state
            .run(move |conn, env| Ok(mandates::mandate_in(conn, env.now, &sid, &old)?))
            .await?
            .ok_or(WebError::NotFound)?;
        pre.selected = renewed_demarches(&view);
        pre.duration = MandateDuration::parse(&view.mandate.duration).map(|d| d.code().into());
        pre.renewal_of = q.renouveler.clone();
        if q.motif == SIGNED_OUT_MOTIF {
            pre.notice = Some(format!(
                "La personne qui était connectée à FranceConnect en est déconnectée. Recommencez avec {} : c’est elle qui doit se connecter à FranceConnect.",
                view.usager.display_name()
            ));
        }
    } else if let Some(id) = q.reprendre.clone() {
        // A creation that ended (cancel, delay, reused link): its choices, if it was this
        // aidant's, in this structure; otherwise an empty form.
        let aid = aidant.id.clone();
        let req = state
            .run(move |conn, _| Ok(mandates::request_of(conn, &id, &aid)?))
            .await?
            .filter(|r| r.structure_id == structure.id);
        if let Some(r) = req {
            pre.selected = r
                .demarche_list()
                .iter()
                .map(|d| d.code.to_string())
                .collect();
            pre.duration = Some(r.duration().code().into());
            pre.renewal_of = r.renewal_of.clone();
        }
        pre.notice = mandates::DeadEnd::parse(&q.motif).map(|d| d.message());
    }
    Ok(new_page(
        &ctx,
        &state,
        &pre.selected,
        pre.duration.as_deref(),
        None,
        pre.renewal_of,
        RemoteFields::default(),
        pre.notice,
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
    crate::accounts::accreditation::require(aidant, state.clock.now())?;
    let selected: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "demarches")
        .map(|(_, v)| v.clone())
        .collect();
    let duration_code = field(&pairs, "duration").to_string();
    let remote = RemoteFields::of(&pairs);
    let renewal_of = Some(field(&pairs, "renouveler").to_string()).filter(|r| !r.is_empty());
    // An error about one field group is shown beside it too (and the group points to it).
    let bad_in = |f: &'static str, m: String| {
        let mut r = new_page(
            &ctx,
            &state,
            &selected,
            Some(duration_code.as_str()),
            Some((f, m)),
            renewal_of.clone(),
            remote.clone(),
            None,
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
                Err(m) => return Ok(bad_in(remote_field_of(&m), m)),
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
    let renews = renewal_of.clone();
    let started = run_refusable(&state, move |db, env| {
        mandates::start_request_for(db, env.now, env.secrets, &request, renews.as_deref())
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
        (Callback::Restart { request, reason }, _) => Ok(see_other(&format!(
            "/mandats/nouveau?reprendre={}&motif={}",
            request,
            reason.code()
        ))),
        (
            Callback::OtherPerson {
                renewal_of,
                sign_out_state,
            },
            out,
        ) => {
            let sign_out = match (sign_out_state, out) {
                (Some(s), Some(out)) => Some(
                    out.url(&state.settings.url(SIGNED_OUT_PATH), &s)
                        .map_err(|e| WebError::BadRequest(e.to_string()))?,
                ),
                _ => None,
            };
            Ok(refused_page(
                &ctx,
                &state,
                Refused {
                    title: "Une autre personne est connectée à FranceConnect",
                    message: "FranceConnect a confirmé l’identité d’une autre personne que celle de ce mandat : la personne précédente est sans doute encore connectée à FranceConnect dans ce navigateur. Aucun mandat n’a été créé.".into(),
                    other_person: true,
                    sign_out,
                    back: format!("/mandats/nouveau?renouveler={renewal_of}"),
                    ..Refused::default()
                },
            ))
        }
        (Callback::Failed(m), _) => Ok(refused_page(
            &ctx,
            &state,
            Refused {
                title: "Retour de FranceConnect refusé",
                message: m,
                back: "/mandats/nouveau".into(),
                ..Refused::default()
            },
        )),
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
    r: Refused,
}

/// A refused return from FranceConnect, shown in the session's layout (status 400).
#[derive(Default)]
struct Refused {
    title: &'static str,
    message: String,
    /// The consent page still under way in this browser, if any.
    consent: Option<String>,
    /// A renewal where FranceConnect proved another person.
    other_person: bool,
    /// FranceConnect's end_session URL to sign that person out, when it has one.
    sign_out: Option<String>,
    /// The creation form to start again from ("" for the home page).
    back: String,
}

fn refused_page(ctx: &Ctx, state: &AppState, r: Refused) -> HttpResponse {
    let mut page = render(&SignedOutRefused {
        layout: ctx.layout(state),
        r,
    });
    *page.status_mut() = StatusCode::BAD_REQUEST;
    ctx.finish(state, page)
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
        mandates::SignedOut::Restart(mandate) => see_other(&format!(
            "/mandats/nouveau?renouveler={mandate}&motif={SIGNED_OUT_MOTIF}"
        )),
        mandates::SignedOut::Refused(message, consent) => refused_page(
            &ctx,
            &state,
            Refused {
                title: "Retour de FranceConnect refusé",
                message,
                consent: consent.map(|id| format!("/mandats/consentement/{id}")),
                ..Refused::default()
            },
        ),
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
    /// What this mandate replaces (`consent_context.html`).
    replaced: Vec<ReplacedLine>,
    /// Whether the new end comes before the end of any authorisation it replaces.
    shortens: bool,
    /// "14 h 35 (dans 15 minutes)", when the consent has a deadline.
    deadline: Option<String>,
    langs: Vec<crate::i18n::LangLink>,
    langue: &'static str,
    notice: Option<String>,
    translation: Option<crate::i18n::Translation>,
}

/// An authorisation the new mandate replaces, on the consent page.
pub struct ReplacedLine {
    label: &'static str,
    /// The old end, in words.
    until: String,
    /// The new mandate's end, in words.
    new_end: String,
    /// The new mandate ends before.
    earlier: bool,
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
    /// The person's authorisations in the structure this mandate will replace
    /// ([`mandates::replaced_authorisations`], the rule the creation applies).
    pub replaced: Vec<mandates::Replaced>,
    /// When the consent must be given by (UTC), if there is a deadline to show.
    pub deadline: Option<NaiveDateTime>,
    /// The translation asked for beside the French (`langue`).
    pub langue: crate::i18n::Choice,
}

/// "avant 14 h 35 (dans 15 minutes)" (Paris time; with the day when it is not today's).
fn deadline_words(deadline: NaiveDateTime, now: NaiveDateTime) -> String {
    let local = crate::domain::french::paris(deadline);
    let at = if crate::domain::french::paris(now).date() == local.date() {
        format!("{} h {:02}", local.hour(), local.minute())
    } else {
        format!("le {}", day_time(&deadline))
    };
    let minutes = ((deadline - now).num_seconds().max(0) + 59) / 60;
    let left = match minutes {
        0 => "le délai est écoulé".to_string(),
        1 => "dans 1 minute".to_string(),
        n => format!("dans {n} minutes"),
    };
    format!("{at} ({left})")
}

/// Renders the consent page.
pub fn consent_terms_page(state: &AppState, layout: Layout, t: ConsentTerms) -> HttpResponse {
    let now = state.clock.now();
    let end = t.duration.expires_at(now).naive_utc();
    let bad = t.error.is_some();
    let replaced: Vec<ReplacedLine> = t
        .replaced
        .iter()
        .map(|r| ReplacedLine {
            label: r.demarche.label,
            until: day(&r.expires_at),
            new_end: day(&end),
            earlier: end < r.expires_at,
        })
        .collect();
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
        shortens: replaced.iter().any(|r| r.earlier),
        replaced,
        deadline: t.deadline.map(|d| deadline_words(d, now.naive_utc())),
    });
    if bad {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    r
}

/// A consent page's request, or where a dead end sends the aidant back.
pub(super) enum Loaded {
    /// The request awaiting consent, the proven person, what the mandate replaces.
    Pending(
        Box<mandates::ConsentRequest>,
        Box<Identity>,
        Vec<mandates::Replaced>,
    ),
    /// Expired or already used: back to the form with the request's choices.
    Restart(HttpResponse),
}

pub(super) async fn load_consent(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    id: String,
) -> Result<Loaded, WebError> {
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    let (aid, session) = (aidant.id.clone(), ctx.session.id_hash.clone());
    let request_id = id.clone();
    let found = state
        .run(move |conn, env| {
            Ok(mandates::consent_facts(
                conn,
                env.now,
                env.secrets,
                &id,
                &aid,
                &session,
            ))
        })
        .await?;
    let (req, identity, replaced) = match found {
        Ok(f) => f,
        Err(Error::RequestInvalid) => {
            // Its time ran out or it was used: the form again, with its choices.
            let aid = aidant.id.clone();
            let rid = request_id.clone();
            let dead = state
                .run(move |conn, env| mandates::consent_dead_end(conn, env.now, &rid, &aid))
                .await?;
            return match dead {
                Some(reason) => Ok(Loaded::Restart(see_other(&format!(
                    "/mandats/nouveau?reprendre={request_id}&motif={}",
                    reason.code()
                )))),
                None => Err(Error::RequestInvalid.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    if req.structure_id != structure.id {
        return Err(WebError::BadRequest(
            "Cette demande de mandat a été commencée pour une autre structure que votre structure actuelle. Revenez à cette structure ou recommencez la création du mandat.".into(),
        ));
    }
    Ok(Loaded::Pending(Box::new(req), Box::new(identity), replaced))
}

fn consent_page(
    ctx: &Ctx,
    state: &AppState,
    req: &mandates::ConsentRequest,
    person: Identity,
    replaced: Vec<mandates::Replaced>,
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
            replaced,
            deadline: Some(req.expires_at),
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
    let langue = crate::i18n::Choice::from_query(req.query_string());
    Ok(match load_consent(&ctx, &state, path.into_inner()).await? {
        Loaded::Pending(request, person, replaced) => {
            consent_page(&ctx, &state, &request, *person, replaced, None, langue)
        }
        Loaded::Restart(r) => r,
    })
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
    let (request, person, replaced) = match load_consent(&ctx, &state, id.clone()).await? {
        Loaded::Pending(request, person, replaced) => (request, person, replaced),
        Loaded::Restart(r) => return Ok(r),
    };
    let langue = crate::i18n::Choice::of(field(&pairs, "langue"));
    if field(&pairs, "consent").is_empty() {
        let mut r = consent_page(
            &ctx,
            &state,
            &request,
            *person,
            replaced,
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn each_remote_refusal_is_tied_to_its_field() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
        let ok = ["angela@exemple.fr", "DUBOIS", "Angela", "1962-08-24"];
        let fields = [
            "usager_email",
            "usager_family_name",
            "usager_given_name",
            "usager_birthdate",
        ];
        let bad = ["pas une adresse", "<b>", "", "2999-01-01"];
        for (i, field) in fields.iter().enumerate() {
            let mut v = ok;
            v[i] = bad[i];
            let refusal = crate::person::remote::parse_expected(v[0], v[1], v[2], v[3], today)
                .expect_err("refused");
            assert_eq!(remote_field_of(&refusal), *field, "{refusal}");
        }
        assert_eq!(remote_field_of("Autre chose."), "");
    }

    #[test]
    fn the_deadline_is_said_in_paris_time_with_the_minutes_left() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_default();
        // 13:35 UTC in winter is 14 h 35 in Paris.
        assert_eq!(
            deadline_words(t("2026-11-29 13:35:00"), t("2026-11-29 13:20:00")),
            "14 h 35 (dans 15 minutes)"
        );
        assert_eq!(
            deadline_words(t("2026-11-29 13:35:00"), t("2026-11-29 13:34:30")),
            "14 h 35 (dans 1 minute)"
        );
        // Past midnight in Paris: the day is said.
        assert_eq!(
            deadline_words(t("2026-11-29 23:05:00"), t("2026-11-29 22:50:00")),
            "le 30 novembre 2026 à 0 h 05 (dans 15 minutes)"
        );
    }
}
