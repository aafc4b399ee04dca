//! Authorization requests in progress: the aidant logs in, then chooses a usager and a
//! démarche. Each step is one use case in one transaction, which also resolves the
//! browser's session (so a step of the flow costs one transaction, not two).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use super::claims::{parse_claims_request, ClaimsRequest, SCOPES};
use super::clients::{client, Client, Pkce};
use super::codes::issue_code;
use super::INTERACTION_MINUTES;
use crate::accounts::sessions::{self, Policy, Stage, Visit, Visitor};
use crate::accounts::Acting;
use crate::crypto::new_token;
use crate::domain::mandate::DemarcheSet;
use crate::domain::roles::Role;
use crate::error::Error;
use crate::mandates::{self, ActiveUsager, Usable, Usager};
use crate::store::schema::{oidc_clients, oidc_interactions};
use crate::store::{read_tx, write_tx, DbConn};

/// How many usagers the chooser lists at once (a search narrows it).
pub const CHOOSER_LIMIT: i64 = 50;

crate::text_enum! {
    /// Where an authorization request stands, stored as text.
    pub enum InteractionStatus {
        /// Waiting for the aidant.
        Pending = "pending",
        /// A code was issued.
        Done = "done",
        /// The aidant cancelled.
        Cancelled = "cancelled",
    }
}

/// An authorization request in progress.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oidc_interactions)]
pub struct Interaction {
    /// Id (random; in the URL).
    pub id: String,
    /// Session that started it.
    pub session_hash: String,
    /// What the client asked for.
    #[diesel(embed)]
    pub request: Requested,
    /// Chosen usager.
    pub usager_id: Option<String>,
    /// Where it stands.
    #[diesel(deserialize_as = String)]
    pub status: InteractionStatus,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Expiry.
    pub expires_at: NaiveDateTime,
    /// The `claims` request, normalised (see [`ClaimsRequest`]).
    pub claims: Option<String>,
}

impl Interaction {
    /// The `claims` request.
    pub fn claims_request(&self) -> ClaimsRequest {
        ClaimsRequest::from_stored(self.claims.as_deref())
    }
}

/// Authorization request parameters, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    /// client_id.
    pub client_id: Option<String>,
    /// redirect_uri.
    pub redirect_uri: Option<String>,
    /// response_type.
    pub response_type: Option<String>,
    /// scope.
    pub scope: Option<String>,
    /// state.
    pub state: Option<String>,
    /// nonce.
    pub nonce: Option<String>,
    /// code_challenge.
    pub code_challenge: Option<String>,
    /// code_challenge_method.
    pub code_challenge_method: Option<String>,
    /// prompt.
    pub prompt: Option<String>,
    /// max_age.
    pub max_age: Option<String>,
    /// request (refused).
    pub request: Option<String>,
    /// request_uri (refused).
    pub request_uri: Option<String>,
    /// response_mode.
    pub response_mode: Option<String>,
    /// claims (OpenID Connect Core §5.5).
    pub claims: Option<String>,
    /// acr_values (Procura asserts `eidas1`).
    pub acr_values: Option<String>,
}

/// What a validated authorization request asks for, as its interaction stores it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_interactions)]
pub struct Requested {
    /// The client.
    pub client_id: String,
    /// Its registered redirect URI.
    pub redirect_uri: String,
    /// Client state.
    pub state: Option<String>,
    /// Nonce.
    pub nonce: String,
    /// Scope.
    pub scope: String,
    /// PKCE S256 challenge (empty: none sent, for a client with PKCE optional).
    pub code_challenge: String,
    /// prompt (non-empty).
    pub prompt: Option<String>,
    /// max_age, seconds.
    pub max_age: Option<i64>,
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest {
    /// What it asks for.
    pub request: Requested,
    /// The `claims` request.
    pub claims: Option<ClaimsRequest>,
    /// `prompt=none`.
    pub prompt_none: bool,
}

/// Why an authorization request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeRefusal {
    /// The client or its redirect URI is unknown: an error page, never a redirect.
    NoRedirect(&'static str),
    /// Back to the client with an error (RFC 6749 §4.1.2.1).
    Redirect {
        /// The validated redirect URI.
        redirect_uri: String,
        /// Client state.
        state: Option<String>,
        /// Error code.
        error: &'static str,
        /// Description.
        description: &'static str,
    },
}

/// Checks an authorization request (pure): client and redirect URI first (until both
/// are known good, never redirect), then every other parameter.
pub fn validate_authorize(
    p: &AuthorizeParams,
    client: Option<&Client>,
) -> Result<ValidRequest, AuthorizeRefusal> {
    let Some(client) = client else {
        return Err(AuthorizeRefusal::NoRedirect("Ce site (client_id) n’est pas enregistré auprès de Procura. Aucune redirection n’a été faite."));
    };
    let redirect_uri = p.redirect_uri.clone().unwrap_or_default();
    if !client.redirects().contains(&redirect_uri) {
        return Err(AuthorizeRefusal::NoRedirect("L’adresse de retour (redirect_uri) n’est pas enregistrée pour ce site. Aucune redirection n’a été faite."));
    }
    let state = p.state.clone().filter(|s| !s.is_empty());
    let fail = |error: &'static str, description: &'static str| {
        Err(AuthorizeRefusal::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        })
    };
    if p.request.is_some() {
        return fail("request_not_supported", "request object not supported");
    }
    if p.request_uri.is_some() {
        return fail("request_uri_not_supported", "request_uri not supported");
    }
    if p.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if p.response_mode.as_deref().is_some_and(|m| m != "query") {
        return fail("invalid_request", "response_mode must be query");
    }
    // Only the scopes Procura knows are kept: the rest of what a link carries never reaches
    // the journal or the token response.
    let mut known: Vec<&str> = Vec::new();
    for s in p.scope.as_deref().unwrap_or_default().split_whitespace() {
        if SCOPES.contains(&s) && !known.contains(&s) {
            known.push(s);
        }
    }
    if !known.contains(&"openid") {
        return fail("invalid_scope", "scope must contain openid");
    }
    let scope = known.join(" ");
    let Some(nonce) = p.nonce.clone().filter(|n| !n.is_empty()) else {
        return fail("invalid_request", "nonce is required");
    };
    let challenge = p.code_challenge.clone().unwrap_or_default();
    let pkce_left_out = challenge.is_empty() && p.code_challenge_method.is_none();
    if pkce_left_out && client.pkce == Pkce::Required {
        return fail("invalid_request", "PKCE code_challenge is required");
    }
    if !pkce_left_out {
        if challenge.is_empty() {
            return fail("invalid_request", "PKCE code_challenge is required");
        }
        if p.code_challenge_method.as_deref() != Some("S256") {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is refused)",
            );
        }
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return fail(
                "invalid_request",
                "code_challenge must be a base64url SHA-256",
            );
        }
    }
    let claims = match p.claims.as_deref() {
        None | Some("") => None,
        Some(text) => match parse_claims_request(text) {
            Ok(c) => Some(c),
            Err(why) => return fail("invalid_request", why),
        },
    };
    if claims.as_ref().is_some_and(|c| !c.acr_met(super::ACR)) {
        return fail(
            "access_denied",
            "the essential acr requested cannot be met: Procura asserts eidas1",
        );
    }
    if claims
        .as_ref()
        .is_some_and(|c| c.demarches().intersect(&client.demarches()).is_empty())
    {
        return fail(
            "access_denied",
            "no mandate can satisfy the requested demarche for this client",
        );
    }
    if client.demarches().is_empty() {
        return fail("access_denied", "this client serves no demarche");
    }
    let max_age = match p.max_age.as_deref() {
        None | Some("") => None,
        Some(m) => match m.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => return fail("invalid_request", "max_age must be a non-negative integer"),
        },
    };
    let prompt = p.prompt.clone().filter(|p| !p.is_empty());
    let prompts: Vec<&str> = prompt.as_deref().unwrap_or("").split_whitespace().collect();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account"))
    {
        return fail("invalid_request", "unsupported prompt value");
    }
    if prompts.contains(&"none") && prompts.len() > 1 {
        return fail("invalid_request", "prompt=none cannot be combined");
    }
    let prompt_none = prompts.contains(&"none");
    Ok(ValidRequest {
        request: Requested {
            client_id: client.id.clone(),
            redirect_uri,
            state,
            nonce,
            scope,
            code_challenge: challenge,
            prompt,
            max_age,
        },
        claims,
        prompt_none,
    })
}

/// What the authorization endpoint answers.
#[derive(Debug)]
pub enum Authorized {
    /// The interaction page to go to.
    Interaction(String),
    /// A refusal.
    Refused(AuthorizeRefusal),
}

/// Pending interactions one client address may hold at once: every anonymous request
/// writes a session and an interaction, so a flood from one address is refused early.
/// Generous for an office behind one address (interactions end or expire in 15 minutes).
pub const PENDING_PER_ADDRESS: i64 = 50;

/// The authorization endpoint's use case, in one transaction: checks the request,
/// resolves (or starts) the browser's session and stores the interaction bound to it,
/// unless `addr` already holds [`PENDING_PER_ADDRESS`] pending interactions.
/// `prompt=none` is refused: acting on behalf always needs the aidant's choices.
pub fn authorize(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: Option<&str>,
    addr: &str,
    p: &AuthorizeParams,
) -> Result<(Authorized, Option<Visit>), Error> {
    write_tx(conn, |c| {
        let found = client(c, p.client_id.as_deref().unwrap_or_default())?;
        let v = match validate_authorize(p, found.as_ref()) {
            Ok(v) => v,
            Err(r) => return Ok((Authorized::Refused(r), None)),
        };
        // Stored only once an interaction needs it: a refusal writes nothing.
        let mut visit = sessions::visit_lazy_in(c, now, policy, token)?;
        if v.prompt_none {
            let (error, description) = if visit.visitor.user.is_none() {
                ("login_required", "no aidant session")
            } else {
                (
                    "interaction_required",
                    "the aidant must choose a usager and a démarche",
                )
            };
            let r = AuthorizeRefusal::Redirect {
                redirect_uri: v.request.redirect_uri,
                state: v.request.state,
                error,
                description,
            };
            return Ok((Authorized::Refused(r), visit.stored.then_some(visit)));
        }
        let open: i64 = oidc_interactions::table
            .filter(oidc_interactions::client_addr.eq(addr))
            .filter(oidc_interactions::status.eq(InteractionStatus::Pending.as_str()))
            .filter(oidc_interactions::expires_at.gt(now.naive_utc()))
            .count()
            .get_result(c)?;
        if open >= PENDING_PER_ADDRESS {
            let r = AuthorizeRefusal::Redirect {
                redirect_uri: v.request.redirect_uri,
                state: v.request.state,
                error: "temporarily_unavailable",
                description: "too many pending authorization requests from this address; \
                              try again in a few minutes",
            };
            return Ok((Authorized::Refused(r), visit.stored.then_some(visit)));
        }
        if !visit.stored {
            sessions::store(c, &visit.visitor.session)?;
            visit.stored = true;
        }
        let id = new_token();
        diesel::insert_into(oidc_interactions::table)
            .values((
                oidc_interactions::id.eq(&id),
                oidc_interactions::session_hash.eq(&visit.visitor.session.id_hash),
                &v.request,
                oidc_interactions::usager_id.eq(None::<String>),
                oidc_interactions::status.eq(InteractionStatus::Pending.as_str()),
                oidc_interactions::created_at.eq(now.naive_utc()),
                oidc_interactions::expires_at
                    .eq((now + Duration::minutes(INTERACTION_MINUTES)).naive_utc()),
                oidc_interactions::claims.eq(v.claims.as_ref().and_then(ClaimsRequest::to_stored)),
                oidc_interactions::client_addr.eq(addr),
            ))
            .execute(c)?;
        Ok((Authorized::Interaction(id), Some(visit)))
    })
}

const GONE: &str = "Cette demande de connexion n’est plus valable (expirée, terminée ou ouverte dans un autre navigateur). Recommencez depuis le site de l’administration.";

/// True when the interaction belongs to this browser: started in this session, or in
/// the session the login replaced (see [`sessions::rotate`]).
pub fn belongs_to(i: &Interaction, s: &sessions::Session) -> bool {
    i.session_hash == s.id_hash
        || (s.data_str("interaction").as_deref() == Some(i.id.as_str())
            && s.data_str("from").as_deref() == Some(i.session_hash.as_str()))
}

/// True when the aidant must log in (again) for this interaction: not logged in,
/// `prompt=login` with a login older than the request, or a login older than `max_age`
/// at the request (not at each later step: a slow choice must not send the aidant back).
pub fn needs_login(v: &Visitor, i: &Interaction) -> bool {
    if v.user.is_none() {
        return true;
    }
    let auth_time = v.session.created_at;
    let forced = i
        .request
        .prompt
        .as_deref()
        .is_some_and(|p| p.split_whitespace().any(|x| x == "login"))
        && auth_time < i.created_at;
    let too_old = i
        .request
        .max_age
        .is_some_and(|m| (i.created_at - auth_time).num_seconds() > m);
    forced || too_old
}

/// The pending interaction of this browser, and its (active) client.
fn load(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    v: &Visitor,
) -> Result<(Interaction, Client), Error> {
    oidc_interactions::table
        .inner_join(oidc_clients::table.on(oidc_clients::id.eq(oidc_interactions::client_id)))
        .filter(oidc_interactions::id.eq(id))
        .filter(oidc_clients::active.eq(true))
        .select((Interaction::as_select(), Client::as_select()))
        .first::<(Interaction, Client)>(conn)
        .optional()?
        .filter(|(i, _)| {
            i.status == InteractionStatus::Pending
                && belongs_to(i, &v.session)
                && i.expires_at > now.naive_utc()
        })
        .ok_or_else(|| Error::Gone(GONE.into()))
}

/// Sends the aidant to the login page, to come back to the interaction: a logged-in
/// session that must log in again stops being authenticated (it keeps its id, so the
/// interaction stays bound to it).
fn to_login(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    v: &Visitor,
    i: &Interaction,
) -> Result<(), Error> {
    let mut data = v.session.data();
    data.insert("next".into(), json!(format!("/oidc/interaction/{}", i.id)));
    data.insert("interaction".into(), json!(i.id));
    if v.user.is_some() {
        sessions::set_stage(conn, &v.session.id_hash, None, Stage::Anonymous, now)?;
    }
    sessions::set_data(conn, &v.session.id_hash, &data)?;
    Ok(())
}

/// The démarches this interaction may end with (pure): those the client and the
/// aidant's structure serve, and the `claims` request accepts.
pub fn offered_demarches(client: &Client, structure: &DemarcheSet, i: &Interaction) -> DemarcheSet {
    client
        .demarches()
        .intersect(structure)
        .intersect(&i.claims_request().demarches())
}

/// The démarches the visitor's structure serves.
fn structure_demarches(v: &Visitor) -> DemarcheSet {
    v.structure
        .as_ref()
        .map(|s| s.demarches())
        .unwrap_or(DemarcheSet::Only(vec![]))
}

fn aidant(v: &Visitor, now: DateTime<Utc>) -> Result<Acting, Error> {
    let user = v.user.as_ref().ok_or(Error::LoginRequired)?;
    if !user.has(Role::Aidant) {
        return Err(Error::Forbidden(
            "Votre compte n’a pas accès à cette page.".into(),
        ));
    }
    // Using a mandate needs an accreditation in force (what is missing is said).
    crate::accounts::accreditation::require(user, now)?;
    let s = v.structure.as_ref().ok_or_else(|| {
        Error::Forbidden("Votre compte n’est rattaché à aucune structure.".into())
    })?;
    if !s.active {
        return Err(Error::Forbidden(
            "Votre structure est désactivée : ses mandats ne peuvent plus être utilisés.".into(),
        ));
    }
    Ok(Acting::new(&user.id, &s.id))
}

/// The choice page of an interaction.
#[derive(Debug)]
pub struct ChoicePage {
    /// Who is choosing.
    pub visitor: Visitor,
    /// The interaction.
    pub interaction: Interaction,
    /// The client's name.
    pub client_name: String,
    /// The démarches this interaction may end with (client, structure, `claims`).
    pub offered: DemarcheSet,
    /// The démarche to preselect (the `claims` request names one).
    pub preselected: Option<String>,
    /// Usagers to choose from (before a usager is chosen), at most [`CHOOSER_LIMIT`].
    pub usagers: Vec<ActiveUsager>,
    /// The chosen usager.
    pub usager: Option<Usager>,
    /// The chosen usager's active démarches.
    pub demarches: Vec<Usable>,
}

/// A step of the interaction.
#[derive(Debug)]
pub enum Step<T> {
    /// The aidant must log in first (the session now remembers where to come back).
    Login,
    /// A logged-in aidant must log in again (`prompt=login`, `max_age`): nothing changed
    /// yet; the aidant confirms first, since any site can send such a request.
    Reauthenticate(Box<Reauth>),
    /// The step's result.
    Done(T),
}

/// Who is asked to log in again, and by which site.
#[derive(Debug)]
pub struct Reauth {
    /// The logged-in visitor.
    pub visitor: Visitor,
    /// The site's name.
    pub client_name: String,
}

/// The interaction page: one read transaction (a write only when the aidant must log
/// in, or to note the session's activity once a minute).
pub fn show(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: Option<&str>,
    id: &str,
    search: &str,
) -> Result<Step<Box<ChoicePage>>, Error> {
    // One read transaction: on PostgreSQL every statement outside one would count (and
    // commit) as a transaction of its own.
    let read = read_tx(conn, |c| -> Result<_, Error> {
        let v = sessions::resolve_read(c, now, policy, token)?.ok_or(Error::Gone(GONE.into()))?;
        let (i, client) = load(c, now, id, &v)?;
        if needs_login(&v, &i) {
            return Ok(Err((v, i, client.name)));
        }
        let acting = aidant(&v, now)?;
        let offered = offered_demarches(&client, &structure_demarches(&v), &i);
        let codes = offered.codes();
        let (usagers, usager, demarches) = match &i.usager_id {
            None if offered.is_empty() => (vec![], None, vec![]),
            None => (
                mandates::active_usagers(
                    c,
                    now,
                    &acting.structure_id,
                    search,
                    codes.as_deref(),
                    CHOOSER_LIMIT,
                )?,
                None,
                vec![],
            ),
            Some(u) => (
                vec![],
                mandates::usager_by_id(c, u)?,
                mandates::usable_authorisations(c, now, &acting.structure_id, u)?
                    .into_iter()
                    .filter(|a| offered.contains(&a.demarche))
                    .collect(),
            ),
        };
        let preselected = i.claims_request().preselected().map(str::to_string);
        Ok(Ok(ChoicePage {
            visitor: v,
            interaction: i,
            client_name: client.name,
            offered,
            preselected,
            usagers,
            usager,
            demarches,
        }))
    })?;
    match read {
        Ok(page) => {
            sessions::touch_if_stale(conn, now, &page.visitor.session)?;
            Ok(Step::Done(Box::new(page)))
        }
        Err((visitor, _, client_name)) if visitor.user.is_some() => {
            Ok(Step::Reauthenticate(Box::new(Reauth {
                visitor,
                client_name,
            })))
        }
        Err((v, i, _)) => {
            write_tx(conn, |c| to_login(c, now, &v, &i))?;
            Ok(Step::Login)
        }
    }
}

/// The aidant confirmed that the site may ask for a new login (POST with CSRF): the
/// session stops being authenticated and remembers the interaction, in one transaction.
pub fn reauthenticate(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    p: &Posted<'_>,
) -> Result<(), Error> {
    write_tx(conn, |c| {
        let (v, i, _) = posted(c, now, policy, p)?;
        if needs_login(&v, &i) {
            to_login(c, now, &v, &i)?;
        }
        Ok(())
    })
}

/// A form the browser posted at a step of an interaction.
#[derive(Debug, Clone, Copy)]
pub struct Posted<'a> {
    /// The session cookie's token.
    pub token: Option<&'a str>,
    /// The form's CSRF token.
    pub csrf: &'a str,
    /// The interaction id (from the URL).
    pub interaction: &'a str,
}

/// Resolves the session, checks the CSRF token and loads the interaction, inside the
/// caller's transaction.
fn posted(
    c: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    p: &Posted<'_>,
) -> Result<(Visitor, Interaction, Client), Error> {
    let v = sessions::resolve_read(c, now, policy, p.token)?.ok_or(Error::Csrf)?;
    v.check_csrf(p.csrf)?;
    let (i, client) = load(c, now, p.interaction, &v)?;
    Ok((v, i, client))
}

/// As [`posted`], then `Err(())` (after noting where to come back) when the aidant must
/// log in first.
fn step(
    c: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    p: &Posted<'_>,
) -> Result<Result<(Visitor, Interaction, DemarcheSet), ()>, Error> {
    let (v, i, client) = posted(c, now, policy, p)?;
    if needs_login(&v, &i) {
        to_login(c, now, &v, &i)?;
        return Ok(Err(()));
    }
    sessions::touch_if_stale(c, now, &v.session)?;
    let offered = offered_demarches(&client, &structure_demarches(&v), &i);
    Ok(Ok((v, i, offered)))
}

/// The usager choice, in one transaction.
pub fn choose_usager(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    p: &Posted<'_>,
    usager_id: &str,
) -> Result<Step<()>, Error> {
    write_tx(conn, |c| {
        let Ok((v, i, offered)) = step(c, now, policy, p)? else {
            return Ok(Step::Login);
        };
        let acting = aidant(&v, now)?;
        if !mandates::usable_authorisations(c, now, &acting.structure_id, usager_id)?
            .iter()
            .any(|a| offered.contains(&a.demarche))
        {
            return Err(Error::Invalid(
                "Cette personne n’a pas de mandat actif, dans votre structure, pour une démarche de ce site.".into(),
            ));
        }
        diesel::update(oidc_interactions::table.filter(oidc_interactions::id.eq(&i.id)))
            .set(oidc_interactions::usager_id.eq(Some(usager_id)))
            .execute(c)?;
        Ok(Step::Done(()))
    })
}

/// Where the browser goes back to the client with a code.
#[derive(Debug)]
pub struct CodeRedirect {
    /// The client's redirect URI.
    pub redirect_uri: String,
    /// The code.
    pub code: String,
    /// Client state.
    pub state: Option<String>,
}

/// The démarche choice, in one transaction: re-checks the authorisation, issues the code
/// and journals the use (`mandate.used`).
pub fn choose_demarche(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    p: &Posted<'_>,
    demarche: &str,
) -> Result<Step<CodeRedirect>, Error> {
    write_tx(conn, |c| {
        let Ok((v, i, offered)) = step(c, now, policy, p)? else {
            return Ok(Step::Login);
        };
        let acting = aidant(&v, now)?;
        if !offered.contains(demarche) {
            return Err(Error::Invalid(
                "Cette démarche n’est pas proposée par ce site ou par votre structure.".into(),
            ));
        }
        let code =
            issue_code(c, now, &i, &acting, demarche, v.session.created_at)?.ok_or_else(|| {
                Error::Invalid(
                    "Cette démarche n’est pas couverte par un mandat actif de cette personne."
                        .into(),
                )
            })?;
        Ok(Step::Done(CodeRedirect {
            redirect_uri: i.request.redirect_uri,
            code,
            state: i.request.state,
        }))
    })
}

/// The aidant cancels: the interaction ends and the client gets `access_denied`.
pub fn cancel(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    p: &Posted<'_>,
) -> Result<AuthorizeRefusal, Error> {
    write_tx(conn, |c| {
        let (v, i, _) = posted(c, now, policy, p)?;
        diesel::update(oidc_interactions::table.filter(oidc_interactions::id.eq(&i.id)))
            .set(oidc_interactions::status.eq(InteractionStatus::Cancelled.as_str()))
            .execute(c)?;
        // Declining to log in again is the answer to the login the site asked for.
        let (error, description) = if v.user.is_some() && needs_login(&v, &i) {
            (
                "login_required",
                "l’aidant n’a pas accepté de se reconnecter",
            )
        } else {
            ("access_denied", "l’aidant a annulé")
        };
        Ok(AuthorizeRefusal::Redirect {
            redirect_uri: i.request.redirect_uri,
            state: i.request.state,
            error,
            description,
        })
    })
}

/// Deletes interactions expired before `before` (housekeeping).
pub fn purge_interactions(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(oidc_interactions::table.filter(oidc_interactions::expires_at.lt(before)))
        .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client {
            name: "Site".into(),
            auth_method: super::super::clients::AuthMethod::None,
            redirect_uris: r#"["https://site.example/cb"]"#.into(),
            ..Client::new("c1".into(), NaiveDateTime::default())
        }
    }

    fn good() -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("c1".into()),
            redirect_uri: Some("https://site.example/cb".into()),
            response_type: Some("code".into()),
            scope: Some("openid profile".into()),
            state: Some("st".into()),
            nonce: Some("n".into()),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: Some("S256".into()),
            ..AuthorizeParams::default()
        }
    }

    fn error_of(p: &AuthorizeParams) -> &'static str {
        match validate_authorize(p, Some(&client())) {
            Err(AuthorizeRefusal::Redirect { error, .. }) => error,
            Err(AuthorizeRefusal::NoRedirect(_)) => "no_redirect",
            Ok(_) => "ok",
        }
    }

    #[test]
    fn a_complete_request_passes() {
        let v = validate_authorize(&good(), Some(&client())).expect("valid");
        assert_eq!(v.request.state.as_deref(), Some("st"));
        assert!(!v.prompt_none);
    }

    #[test]
    fn unknown_client_or_redirect_never_redirects() {
        assert!(matches!(
            validate_authorize(&good(), None),
            Err(AuthorizeRefusal::NoRedirect(_))
        ));
        let p = AuthorizeParams {
            redirect_uri: Some("https://evil.example/cb".into()),
            ..good()
        };
        assert_eq!(error_of(&p), "no_redirect");
    }

    #[test]
    fn each_bad_parameter_is_named() {
        // (parameter, value sent (None: left out), the error the client gets)
        let cases = [
            ("request", Some("x"), "request_not_supported"),
            ("response_type", Some("token"), "unsupported_response_type"),
            ("scope", Some("profile"), "invalid_scope"),
            ("nonce", None, "invalid_request"),
            ("code_challenge", None, "invalid_request"),
            ("code_challenge_method", Some("plain"), "invalid_request"),
            ("code_challenge", Some("short"), "invalid_request"),
            ("max_age", Some("-1"), "invalid_request"),
            ("prompt", Some("none login"), "invalid_request"),
            ("prompt", Some("bogus"), "invalid_request"),
            ("response_mode", Some("fragment"), "invalid_request"),
        ];
        for (name, value, want) in cases {
            let mut p = good();
            let v = value.map(str::to_string);
            match name {
                "request" => p.request = v,
                "response_type" => p.response_type = v,
                "scope" => p.scope = v,
                "nonce" => p.nonce = v,
                "code_challenge" => p.code_challenge = v,
                "code_challenge_method" => p.code_challenge_method = v,
                "max_age" => p.max_age = v,
                "prompt" => p.prompt = v,
                "response_mode" => p.response_mode = v,
                _ => unreachable!("no such parameter in the table"),
            }
            assert_eq!(error_of(&p), want, "{name}={value:?}");
        }
    }

    fn at(minutes: i64) -> NaiveDateTime {
        DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0)
            .unwrap()
            .naive_utc()
    }

    fn session(hash: &str, created: i64, data: &str) -> sessions::Session {
        sessions::Session {
            id_hash: hash.into(),
            user_id: None,
            stage: Stage::Full,
            csrf_token: String::new(),
            created_at: at(created),
            last_seen: at(created),
            data: data.into(),
        }
    }

    fn interaction(
        session_hash: &str,
        created: i64,
        prompt: Option<&str>,
        max_age: Option<i64>,
    ) -> Interaction {
        Interaction {
            id: "i1".into(),
            session_hash: session_hash.into(),
            request: Requested {
                client_id: "c1".into(),
                redirect_uri: String::new(),
                state: None,
                nonce: String::new(),
                scope: String::new(),
                code_challenge: String::new(),
                prompt: prompt.map(str::to_string),
                max_age,
            },
            usager_id: None,
            status: InteractionStatus::Pending,
            created_at: at(created),
            expires_at: at(created + 15),
            claims: None,
        }
    }

    #[test]
    fn an_interaction_belongs_to_its_session_or_the_one_its_login_replaced() {
        let i = interaction("old", 0, None, None);
        assert!(belongs_to(&i, &session("old", 0, "{}")));
        let rotated = r#"{"interaction":"i1","from":"old"}"#;
        assert!(belongs_to(&i, &session("new", 1, rotated)));
        assert!(!belongs_to(&i, &session("new", 1, "{}")));
        let other = r#"{"interaction":"i2","from":"old"}"#;
        assert!(!belongs_to(&i, &session("new", 1, other)));
        let elsewhere = r#"{"interaction":"i1","from":"someone"}"#;
        assert!(!belongs_to(&i, &session("new", 1, elsewhere)));
    }

    #[test]
    fn a_login_is_needed_without_an_account_or_when_prompt_or_max_age_ask() {
        let user = crate::accounts::users::User {
            id: "u".into(),
            email: String::new(),
            name: String::new(),
            roles: "aidant".into(),
            active: true,
            password_hash: None,
            totp_secret_enc: None,
            totp_last_step: None,
            failed_logins: 0,
            locked_until: None,
            last_login: None,
            current_structure_id: None,
            created_at: at(0),
            accredited_until: None,
            password_reset_at: None,
        };
        let visitor = |logged_in_at: i64, user: Option<crate::accounts::users::User>| Visitor {
            session: session("s", logged_in_at, "{}"),
            user,
            structure: None,
            awaiting_terms: None,
        };
        assert!(needs_login(
            &visitor(0, None),
            &interaction("s", 5, None, None)
        ));
        assert!(!needs_login(
            &visitor(0, Some(user.clone())),
            &interaction("s", 5, None, None)
        ));
        assert!(needs_login(
            &visitor(0, Some(user.clone())),
            &interaction("s", 5, Some("login"), None)
        ));
        assert!(!needs_login(
            &visitor(6, Some(user.clone())),
            &interaction("s", 5, Some("login"), None)
        ));
        assert!(needs_login(
            &visitor(0, Some(user.clone())),
            &interaction("s", 5, None, Some(60))
        ));
        assert!(!needs_login(
            &visitor(0, Some(user)),
            &interaction("s", 5, None, Some(600))
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn opt(s: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
            proptest::option::of(s)
        }

        /// Any text, including what browsers and attackers send.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                "\\PC{0,50}",
                Just(String::new()),
                Just("openid".to_string()),
                Just("code".to_string()),
                Just("S256".to_string()),
                Just("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string()),
            ]
        }

        /// Mostly the valid value, else anything (absent included): most generated
        /// requests are one or two faults away from valid, so every branch is reached.
        fn field(valid: &'static str) -> impl Strategy<Value = Option<String>> {
            prop_oneof![3 => Just(Some(valid.to_string())), 1 => opt(text())]
        }

        fn params() -> impl Strategy<Value = AuthorizeParams> {
            (
                (
                    field("https://site.example/cb"),
                    field("code"),
                    field("openid profile"),
                    field("st"),
                    field("n"),
                ),
                (
                    field("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                    field("S256"),
                    prop_oneof![3 => Just(None), 1 => opt(text())],
                    prop_oneof![3 => Just(None), 1 => opt(text())],
                    prop_oneof![3 => Just(None), 1 => opt(text())],
                    prop_oneof![3 => Just(None), 1 => opt(text())],
                    prop_oneof![3 => Just(None), 1 => opt(text())],
                ),
            )
                .prop_map(|((ru, rt, sc, st, no), (cc, ccm, pr, ma, rq, rm, cl))| {
                    AuthorizeParams {
                        client_id: Some("c1".into()),
                        redirect_uri: ru,
                        response_type: rt,
                        scope: sc,
                        state: st,
                        nonce: no,
                        code_challenge: cc,
                        code_challenge_method: ccm,
                        prompt: pr,
                        max_age: ma,
                        request: rq,
                        request_uri: None,
                        response_mode: rm,
                        claims: cl,
                        acr_values: None,
                    }
                })
        }

        /// The generator reaches acceptances, refusals sent back and refusals kept here: a
        /// property over requests that are all refused would prove little.
        #[test]
        fn the_generated_requests_reach_every_outcome() {
            use proptest::strategy::ValueTree;
            let mut runner = proptest::test_runner::TestRunner::deterministic();
            let (mut ok, mut back, mut here) = (0, 0, 0);
            for _ in 0..400 {
                let p = params().new_tree(&mut runner).expect("value").current();
                match validate_authorize(&p, Some(&client())) {
                    Ok(_) => ok += 1,
                    Err(AuthorizeRefusal::Redirect { .. }) => back += 1,
                    Err(AuthorizeRefusal::NoRedirect(_)) => here += 1,
                }
            }
            assert!(ok >= 20 && back >= 20 && here >= 20, "{ok} {back} {here}");
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            /// Whatever is sent: no panic; an unregistered redirect URI is never
            /// redirected to; a refusal sent back carries the registered URI and the
            /// state as sent; an accepted request meets every rule.
            #[test]
            fn validation_is_total_and_never_redirects_elsewhere(p in params(), pkce_optional in any::<bool>()) {
                let mut c = client();
                if pkce_optional {
                    c.pkce = Pkce::Optional;
                }
                let registered = p.redirect_uri.as_deref() == Some("https://site.example/cb");
                match validate_authorize(&p, Some(&c)) {
                    Err(AuthorizeRefusal::NoRedirect(_)) => prop_assert!(!registered),
                    Err(AuthorizeRefusal::Redirect { redirect_uri, state, .. }) => {
                        prop_assert!(registered);
                        prop_assert_eq!(redirect_uri, "https://site.example/cb");
                        prop_assert_eq!(state, p.state.clone().filter(|s| !s.is_empty()));
                    }
                    Ok(v) => {
                        prop_assert!(registered);
                        prop_assert_eq!(p.response_type.as_deref(), Some("code"));
                        prop_assert!(v.request.scope.split_whitespace().any(|s| s == "openid"));
                        prop_assert!(!v.request.nonce.is_empty());
                        prop_assert!(p.request.is_none());
                        if v.request.code_challenge.is_empty() {
                            prop_assert!(pkce_optional);
                        } else {
                            prop_assert_eq!(v.request.code_challenge.len(), 43);
                            prop_assert_eq!(p.code_challenge_method.as_deref(), Some("S256"));
                        }
                    }
                }
            }
        }
    }
}
