//! Usagers, mandates, authorisations, consent requests and attestations.
//!
//! Every function that changes state takes the caller's connection (inside `write_tx`)
//! and appends its journal entries there.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::crypto::{new_token, sha256_hex, CryptoError, SecretBox};
use crate::domain::mandate::{
    self as rules, attestation_text, authorisation_state, AttestationFacts, AuthorisationState,
    Demarche, MandateDuration, ATTESTATION_VERSION,
};
use crate::federation::client::{FlowSecrets, Identity};
use crate::journal::{self, JournalError, NewEntry};
use crate::store::schema::{
    authorisations, consent_requests, mandates, structures, usagers, users,
};
use crate::store::DbConn;

/// How long a started creation (FranceConnect round trip and consent page) stays valid.
pub const CONSENT_VALIDITY_MINUTES: i64 = 15;

/// Errors of mandate operations (French messages reach users).
#[derive(Debug, thiserror::Error)]
pub enum MandateError {
    /// Bad démarches or duration.
    #[error("{0}")]
    Invalid(String),
    /// The consent request is unknown, used, expired or not this browser's.
    #[error("Cette demande de mandat n’est plus valable (déjà utilisée, expirée ou ouverte dans un autre navigateur). Recommencez la création du mandat.")]
    RequestInvalid,
    /// Unknown or out-of-scope object.
    #[error("introuvable")]
    NotFound,
    /// Already revoked or expired.
    #[error("Cette autorisation n’est plus active.")]
    NotActive,
    /// Encryption failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Journal failure.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Storage failure.
    #[error("erreur de base de données : {0}")]
    Query(#[from] diesel::result::Error),
}

impl MandateError {
    /// True for the user's input, not the service's fault.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            MandateError::Invalid(_) | MandateError::RequestInvalid | MandateError::NotActive
        )
    }
}

/// A usager.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = usagers)]
pub struct Usager {
    /// Id.
    pub id: String,
    /// FranceConnect subject.
    pub fc_sub: String,
    /// Given names.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Usage name.
    pub preferred_username: Option<String>,
    /// Birth date as sent.
    pub birthdate: String,
    /// Gender.
    pub gender: String,
    /// Birth place (INSEE), empty when born abroad.
    pub birthplace: String,
    /// Birth country (INSEE).
    pub birthcountry: String,
    /// E-mail.
    pub email: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last identity update.
    pub updated_at: NaiveDateTime,
}

impl Usager {
    /// "Given names FAMILY NAME" (and the usage name when there is one).
    pub fn display_name(&self) -> String {
        match &self.preferred_username {
            Some(p) if !p.is_empty() => format!(
                "{} {} (nom d’usage {})",
                self.given_name, self.family_name, p
            ),
            _ => format!("{} {}", self.given_name, self.family_name),
        }
    }
}

/// A mandate row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = mandates)]
pub struct Mandate {
    /// Id.
    pub id: String,
    /// Structure.
    pub structure_id: String,
    /// Usager.
    pub usager_id: String,
    /// Aidant who recorded the consent.
    pub aidant_id: String,
    /// Duration code.
    pub duration: String,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// End.
    pub expires_at: NaiveDateTime,
    /// Revocation of the whole mandate.
    pub revoked_at: Option<NaiveDateTime>,
    /// Attestation template version.
    pub attestation_version: String,
    /// SHA-256 of the attestation's canonical text.
    pub attestation_digest: String,
    /// Sequence number of the `mandate.created` journal entry.
    pub journal_seq: Option<i64>,
}

/// An authorisation row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = authorisations)]
pub struct Authorisation {
    /// Id.
    pub id: String,
    /// Mandate.
    pub mandate_id: String,
    /// Démarche code.
    pub demarche: String,
    /// End of validity by revocation or superseding.
    pub revoked_at: Option<NaiveDateTime>,
    /// `revoked` or `superseded`.
    pub revoked_reason: Option<String>,
    /// Who revoked (`user:<id>`, `usager:<id>`).
    pub revoked_by: Option<String>,
}

/// A pending creation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = consent_requests)]
pub struct ConsentRequest {
    /// Id.
    pub id: String,
    /// SHA-256 of the OAuth `state`.
    pub state_hash: String,
    /// SHA-256 of the session that started it.
    pub session_hash: String,
    /// Sealed nonce and PKCE verifier.
    pub secrets_enc: String,
    /// Structure.
    pub structure_id: String,
    /// Aidant.
    pub aidant_id: String,
    /// Démarche codes, comma-separated.
    pub demarches: String,
    /// Duration code.
    pub duration: String,
    /// `pending_fc`, `pending_consent`, `done`, `failed`.
    pub status: String,
    /// Sealed identity once FranceConnect answered.
    pub identity_enc: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Expiry.
    pub expires_at: NaiveDateTime,
}

impl ConsentRequest {
    /// Parsed démarches.
    pub fn demarche_list(&self) -> Vec<&'static Demarche> {
        let codes: Vec<&str> = self.demarches.split(',').collect();
        rules::parse_demarches(&codes).unwrap_or_default()
    }

    /// Parsed duration.
    pub fn duration(&self) -> MandateDuration {
        MandateDuration::parse(&self.duration).unwrap_or(MandateDuration::Short)
    }
}

/// Records a started creation; returns the request id.
#[allow(clippy::too_many_arguments)]
pub fn start_request(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    session_hash: &str,
    structure_id: &str,
    aidant: &str,
    actor: &str,
    demarches: &[&'static Demarche],
    duration: MandateDuration,
    state: &str,
    flow: &FlowSecrets,
) -> Result<String, MandateError> {
    let id = uuid::Uuid::new_v4().to_string();
    let sealed = secrets.seal(
        &format!("consent:{id}"),
        serde_json::to_string(flow).unwrap_or_default().as_bytes(),
    )?;
    let codes: Vec<&str> = demarches.iter().map(|d| d.code).collect();
    diesel::insert_into(consent_requests::table)
        .values((
            consent_requests::id.eq(&id),
            consent_requests::state_hash.eq(sha256_hex(state.as_bytes())),
            consent_requests::session_hash.eq(session_hash),
            consent_requests::secrets_enc.eq(sealed),
            consent_requests::structure_id.eq(structure_id),
            consent_requests::aidant_id.eq(aidant),
            consent_requests::demarches.eq(codes.join(",")),
            consent_requests::duration.eq(duration.code()),
            consent_requests::status.eq("pending_fc"),
            consent_requests::created_at.eq(now.naive_utc()),
            consent_requests::expires_at
                .eq((now + Duration::minutes(CONSENT_VALIDITY_MINUTES)).naive_utc()),
        ))
        .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new("mandate.consent_started")
            .actor(actor)
            .structure(structure_id)
            .detail("request", id.as_str())
            .detail("demarches", codes)
            .detail("duration", duration.code()),
    )?;
    Ok(id)
}

/// Takes the request of a callback's `state` (single use). None: unknown or replayed.
pub fn take_by_state(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    state: &str,
) -> Result<Option<(ConsentRequest, FlowSecrets)>, MandateError> {
    let hash = sha256_hex(state.as_bytes());
    let req: Option<ConsentRequest> = consent_requests::table
        .filter(consent_requests::state_hash.eq(&hash))
        .select(ConsentRequest::as_select())
        .first(conn)
        .optional()?;
    let Some(req) = req else { return Ok(None) };
    // The status change is the single-use guard: only one callback moves it.
    let moved = diesel::update(
        consent_requests::table
            .filter(consent_requests::id.eq(&req.id))
            .filter(consent_requests::status.eq("pending_fc")),
    )
    .set(consent_requests::status.eq("callback"))
    .execute(conn)?;
    if moved == 0 || req.expires_at <= now.naive_utc() {
        return Ok(Some((
            ConsentRequest {
                status: "replayed".into(),
                ..req
            },
            FlowSecrets {
                nonce: String::new(),
                pkce_verifier: String::new(),
            },
        )));
    }
    let flow: FlowSecrets =
        serde_json::from_slice(&secrets.open(&format!("consent:{}", req.id), &req.secrets_enc)?)
            .map_err(|_| MandateError::RequestInvalid)?;
    Ok(Some((req, flow)))
}

/// Stores the verified identity; the consent page can now be shown.
pub fn set_identity(
    conn: &mut DbConn,
    secrets: &SecretBox,
    request_id: &str,
    identity: &Identity,
) -> Result<(), MandateError> {
    let sealed = secrets.seal(
        &format!("identity:{request_id}"),
        serde_json::to_string(identity)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    diesel::update(consent_requests::table.filter(consent_requests::id.eq(request_id)))
        .set((
            consent_requests::status.eq("pending_consent"),
            consent_requests::identity_enc.eq(Some(sealed)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a request failed and journals why (nothing else is created).
pub fn fail_request(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    request: Option<&ConsentRequest>,
    actor: Option<&str>,
    reason: &str,
) -> Result<(), MandateError> {
    let mut e = NewEntry::new("mandate.consent_failed").detail("reason", reason);
    if let Some(r) = request {
        diesel::update(
            consent_requests::table
                .filter(consent_requests::id.eq(&r.id))
                .filter(consent_requests::status.ne("done")),
        )
        .set(consent_requests::status.eq("failed"))
        .execute(conn)?;
        e = e
            .structure(&r.structure_id)
            .detail("request", r.id.as_str())
            .actor(format!("user:{}", r.aidant_id));
    } else if let Some(a) = actor {
        e = e.actor(a);
    }
    journal::append(conn, now, e)?;
    Ok(())
}

/// A request awaiting consent, for this aidant and session, with its identity.
pub fn pending_consent(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    request_id: &str,
    aidant_id: &str,
    session_hash: &str,
) -> Result<(ConsentRequest, Identity), MandateError> {
    let req: ConsentRequest = consent_requests::table
        .filter(consent_requests::id.eq(request_id))
        .select(ConsentRequest::as_select())
        .first(conn)
        .optional()?
        .ok_or(MandateError::RequestInvalid)?;
    if req.status != "pending_consent"
        || req.aidant_id != aidant_id
        || req.session_hash != session_hash
        || req.expires_at <= now.naive_utc()
    {
        return Err(MandateError::RequestInvalid);
    }
    let enc = req
        .identity_enc
        .clone()
        .ok_or(MandateError::RequestInvalid)?;
    let identity: Identity =
        serde_json::from_slice(&secrets.open(&format!("identity:{}", req.id), &enc)?)
            .map_err(|_| MandateError::RequestInvalid)?;
    Ok((req, identity))
}

/// The outcome of a confirmed consent.
#[derive(Debug, Clone)]
pub struct Created {
    /// The mandate.
    pub mandate: Mandate,
    /// Its authorisations.
    pub authorisations: Vec<Authorisation>,
    /// Authorisations it superseded.
    pub superseded: Vec<String>,
}

/// Finds the usager by FranceConnect `sub`, creating or refreshing it.
pub fn upsert_usager(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    identity: &Identity,
) -> Result<Usager, MandateError> {
    let existing: Option<Usager> = usagers::table
        .filter(usagers::fc_sub.eq(&identity.sub))
        .select(Usager::as_select())
        .first(conn)
        .optional()?;
    let u = Usager {
        id: existing
            .as_ref()
            .map(|u| u.id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        fc_sub: identity.sub.clone(),
        given_name: identity.given_name.clone(),
        family_name: identity.family_name.clone(),
        preferred_username: identity.preferred_username.clone(),
        birthdate: identity.birthdate.clone(),
        gender: identity.gender.clone(),
        birthplace: identity.birthplace.clone(),
        birthcountry: identity.birthcountry.clone(),
        email: identity.email.clone(),
        created_at: existing
            .as_ref()
            .map(|u| u.created_at)
            .unwrap_or(now.naive_utc()),
        updated_at: now.naive_utc(),
    };
    if existing.is_some() {
        diesel::update(usagers::table.filter(usagers::id.eq(&u.id)))
            .set((
                usagers::given_name.eq(&u.given_name),
                usagers::family_name.eq(&u.family_name),
                usagers::preferred_username.eq(&u.preferred_username),
                usagers::birthdate.eq(&u.birthdate),
                usagers::gender.eq(&u.gender),
                usagers::birthplace.eq(&u.birthplace),
                usagers::birthcountry.eq(&u.birthcountry),
                usagers::email.eq(&u.email),
                usagers::updated_at.eq(u.updated_at),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(usagers::table)
            .values(&u)
            .execute(conn)?;
        journal::append(
            conn,
            now,
            NewEntry::new("usager.created").actor(actor).usager(&u.id),
        )?;
    }
    Ok(u)
}

/// Creates a mandate from a verified identity, in the caller's transaction: usager,
/// mandate, authorisations, superseding, attestation digest and journal entries.
#[allow(clippy::too_many_arguments)]
pub fn create_mandate(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    aidant_id: &str,
    structure_id: &str,
    identity: &Identity,
    demarches: &[&'static Demarche],
    duration: MandateDuration,
) -> Result<Created, MandateError> {
    if demarches.is_empty() {
        return Err(MandateError::Invalid(
            "Choisissez au moins une démarche.".into(),
        ));
    }
    let usager = upsert_usager(conn, now, actor, identity)?;
    let (structure_name, siret): (String, String) = structures::table
        .filter(structures::id.eq(structure_id))
        .select((structures::name, structures::siret))
        .first(conn)?;
    let aidant_name: String = users::table
        .filter(users::id.eq(aidant_id))
        .select(users::name)
        .first(conn)?;
    let id = uuid::Uuid::new_v4().to_string();
    let created_at = now.naive_utc();
    let expires_at = duration.expires_at(now).naive_utc();
    let text = attestation_text(&AttestationFacts {
        mandate_id: &id,
        usager_name: &format!("{} {}", usager.given_name, usager.family_name),
        usager_birthdate: &usager.birthdate,
        structure: &structure_name,
        siret: &siret,
        aidant_name: &aidant_name,
        demarches: demarches.to_vec(),
        created_at,
        expires_at,
    });
    let digest = sha256_hex(text.as_bytes());
    let mut mandate = Mandate {
        id: id.clone(),
        structure_id: structure_id.to_string(),
        usager_id: usager.id.clone(),
        aidant_id: aidant_id.to_string(),
        duration: duration.code().to_string(),
        created_at,
        expires_at,
        revoked_at: None,
        attestation_version: ATTESTATION_VERSION.to_string(),
        attestation_digest: digest.clone(),
        journal_seq: None,
    };
    diesel::insert_into(mandates::table)
        .values(&mandate)
        .execute(conn)?;
    // Older active authorisations for the same usager, structure and démarche end now.
    let codes: Vec<&str> = demarches.iter().map(|d| d.code).collect();
    let older: Vec<(String, String)> = authorisations::table
        .inner_join(mandates::table)
        .filter(mandates::usager_id.eq(&usager.id))
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::id.ne(&id))
        .filter(mandates::expires_at.gt(created_at))
        .filter(authorisations::revoked_at.is_null())
        .filter(authorisations::demarche.eq_any(&codes))
        .select((authorisations::id, authorisations::mandate_id))
        .load(conn)?;
    let mut auths = Vec::new();
    for d in demarches {
        let a = Authorisation {
            id: uuid::Uuid::new_v4().to_string(),
            mandate_id: id.clone(),
            demarche: d.code.to_string(),
            revoked_at: None,
            revoked_reason: None,
            revoked_by: None,
        };
        diesel::insert_into(authorisations::table)
            .values(&a)
            .execute(conn)?;
        auths.push(a);
    }
    let entry = journal::append(
        conn,
        now,
        NewEntry::new("mandate.created")
            .actor(actor)
            .structure(structure_id)
            .usager(&usager.id)
            .mandate(&id)
            .detail("demarches", codes.clone())
            .detail("duration", duration.code())
            .detail("expires_at", journal::format_time(&expires_at))
            .detail("attestation_version", ATTESTATION_VERSION)
            .detail("attestation_sha256", digest.as_str())
            .detail(
                "authorisations",
                auths
                    .iter()
                    .map(|a| serde_json::json!({"id": a.id, "demarche": a.demarche}))
                    .collect::<Vec<_>>(),
            ),
    )?;
    diesel::update(mandates::table.filter(mandates::id.eq(&id)))
        .set(mandates::journal_seq.eq(Some(entry.seq)))
        .execute(conn)?;
    mandate.journal_seq = Some(entry.seq);
    let mut superseded = Vec::new();
    for (auth_id, old_mandate) in older {
        diesel::update(authorisations::table.filter(authorisations::id.eq(&auth_id)))
            .set((
                authorisations::revoked_at.eq(Some(created_at)),
                authorisations::revoked_reason.eq(Some(rules::SUPERSEDED)),
                authorisations::revoked_by.eq(Some(actor)),
            ))
            .execute(conn)?;
        journal::append(
            conn,
            now,
            NewEntry::new("authorisation.superseded")
                .actor(actor)
                .structure(structure_id)
                .usager(&usager.id)
                .mandate(&old_mandate)
                .authorisation(&auth_id)
                .detail("by_mandate", id.as_str()),
        )?;
        superseded.push(auth_id);
    }
    Ok(Created {
        mandate,
        authorisations: auths,
        superseded,
    })
}

/// Confirms a pending consent: creates the mandate and closes the request.
pub fn confirm_consent(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    request_id: &str,
    aidant_id: &str,
    session_hash: &str,
    current_structure: &str,
) -> Result<Created, MandateError> {
    let (req, identity) = pending_consent(conn, now, secrets, request_id, aidant_id, session_hash)?;
    // The person consented to the structure named on the page, which is the aidant's
    // current one: it must be the structure the request was started for.
    if req.structure_id != current_structure {
        return Err(MandateError::RequestInvalid);
    }
    let moved = diesel::update(
        consent_requests::table
            .filter(consent_requests::id.eq(&req.id))
            .filter(consent_requests::status.eq("pending_consent")),
    )
    .set((
        consent_requests::status.eq("done"),
        consent_requests::identity_enc.eq(None::<String>),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Err(MandateError::RequestInvalid);
    }
    create_mandate(
        conn,
        now,
        &format!("user:{aidant_id}"),
        aidant_id,
        &req.structure_id,
        &identity,
        &req.demarche_list(),
        req.duration(),
    )
}

/// A mandate with its authorisations and their states.
#[derive(Debug, Clone)]
pub struct MandateView {
    /// The mandate.
    pub mandate: Mandate,
    /// The usager.
    pub usager: Usager,
    /// Name of the aidant who created it.
    pub aidant_name: String,
    /// Each authorisation with its state.
    pub authorisations: Vec<(Authorisation, AuthorisationState)>,
}

impl MandateView {
    /// Active when at least one authorisation is.
    pub fn state(&self) -> AuthorisationState {
        let states: Vec<_> = self.authorisations.iter().map(|(_, s)| *s).collect();
        if states.contains(&AuthorisationState::Active) {
            AuthorisationState::Active
        } else if states.contains(&AuthorisationState::Expired) {
            AuthorisationState::Expired
        } else if states.iter().all(|s| *s == AuthorisationState::Superseded) && !states.is_empty()
        {
            AuthorisationState::Superseded
        } else {
            AuthorisationState::Revoked
        }
    }
}

fn views(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    list: Vec<Mandate>,
) -> QueryResult<Vec<MandateView>> {
    let mut out = Vec::with_capacity(list.len());
    for m in list {
        let usager: Usager = usagers::table
            .filter(usagers::id.eq(&m.usager_id))
            .select(Usager::as_select())
            .first(conn)?;
        let aidant_name: String = users::table
            .filter(users::id.eq(&m.aidant_id))
            .select(users::name)
            .first(conn)?;
        let auths: Vec<Authorisation> = authorisations::table
            .filter(authorisations::mandate_id.eq(&m.id))
            .select(Authorisation::as_select())
            .load(conn)?;
        let mut with_state: Vec<_> = auths
            .into_iter()
            .map(|a| {
                let s = authorisation_state(
                    a.revoked_at,
                    a.revoked_reason.as_deref(),
                    m.expires_at,
                    now,
                );
                (a, s)
            })
            .collect();
        with_state.sort_by_key(|(a, _)| rules::DEMARCHES.iter().position(|d| d.code == a.demarche));
        out.push(MandateView {
            mandate: m,
            usager,
            aidant_name,
            authorisations: with_state,
        });
    }
    Ok(out)
}

/// One mandate of `structure_id` (None if unknown or of another structure).
pub fn mandate_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    mandate_id: &str,
) -> QueryResult<Option<MandateView>> {
    let m: Option<Mandate> = mandates::table
        .filter(mandates::id.eq(mandate_id))
        .filter(mandates::structure_id.eq(structure_id))
        .select(Mandate::as_select())
        .first(conn)
        .optional()?;
    Ok(match m {
        Some(m) => views(conn, now, vec![m])?.into_iter().next(),
        None => None,
    })
}

/// Every mandate of `structure_id`, newest first.
pub fn mandates_of_structure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
) -> QueryResult<Vec<MandateView>> {
    let list = mandates::table
        .filter(mandates::structure_id.eq(structure_id))
        .order(mandates::created_at.desc())
        .select(Mandate::as_select())
        .load(conn)?;
    views(conn, now, list)
}

/// The mandates of one usager in `structure_id` (None when the usager has none there).
pub fn usager_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    usager_id: &str,
) -> QueryResult<Option<(Usager, Vec<MandateView>)>> {
    let list: Vec<Mandate> = mandates::table
        .filter(mandates::usager_id.eq(usager_id))
        .filter(mandates::structure_id.eq(structure_id))
        .order(mandates::created_at.desc())
        .select(Mandate::as_select())
        .load(conn)?;
    if list.is_empty() {
        return Ok(None);
    }
    let v = views(conn, now, list)?;
    let u = v[0].usager.clone();
    Ok(Some((u, v)))
}

/// A usager with at least one active authorisation in the structure.
#[derive(Debug, Clone)]
pub struct ActiveUsager {
    /// The usager.
    pub usager: Usager,
    /// Active démarche codes.
    pub demarches: Vec<String>,
    /// Earliest end among its active mandates.
    pub next_expiry: NaiveDateTime,
}

/// Usagers with an active authorisation in `structure_id`, optionally filtered by a name
/// search (case-insensitive, on given and family names), by family name.
pub fn active_usagers(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    search: &str,
) -> QueryResult<Vec<ActiveUsager>> {
    let rows: Vec<(Usager, String, NaiveDateTime)> = authorisations::table
        .inner_join(mandates::table.inner_join(usagers::table))
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::expires_at.gt(now.naive_utc()))
        .filter(authorisations::revoked_at.is_null())
        .select((
            Usager::as_select(),
            authorisations::demarche,
            mandates::expires_at,
        ))
        .load(conn)?;
    let needle = search.trim().to_lowercase();
    let mut out: Vec<ActiveUsager> = Vec::new();
    for (u, d, exp) in rows {
        if !needle.is_empty() {
            let hay = format!(
                "{} {} {}",
                u.given_name,
                u.family_name,
                u.preferred_username.clone().unwrap_or_default()
            )
            .to_lowercase();
            if !hay.contains(&needle) {
                continue;
            }
        }
        match out.iter_mut().find(|a| a.usager.id == u.id) {
            Some(a) => {
                if !a.demarches.contains(&d) {
                    a.demarches.push(d);
                }
                a.next_expiry = a.next_expiry.min(exp);
            }
            None => out.push(ActiveUsager {
                usager: u,
                demarches: vec![d],
                next_expiry: exp,
            }),
        }
    }
    out.sort_by(|a, b| {
        (&a.usager.family_name, &a.usager.given_name)
            .cmp(&(&b.usager.family_name, &b.usager.given_name))
    });
    Ok(out)
}

/// The mandate holding an authorisation of `structure_id` (None if unknown or of another
/// structure).
pub fn mandate_of_authorisation(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    authorisation_id: &str,
) -> QueryResult<Option<MandateView>> {
    let mandate_id: Option<String> = authorisations::table
        .inner_join(mandates::table)
        .filter(authorisations::id.eq(authorisation_id))
        .filter(mandates::structure_id.eq(structure_id))
        .select(mandates::id)
        .first(conn)
        .optional()?;
    match mandate_id {
        Some(id) => mandate_in(conn, now, structure_id, &id),
        None => Ok(None),
    }
}

/// Revokes one authorisation of the structure (journaled).
pub fn revoke_authorisation(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure_id: &str,
    authorisation_id: &str,
) -> Result<MandateView, MandateError> {
    let view = mandate_of_authorisation(conn, now, structure_id, authorisation_id)?
        .ok_or(MandateError::NotFound)?;
    let mandate_id = view.mandate.id.clone();
    let active = view
        .authorisations
        .iter()
        .any(|(a, s)| a.id == authorisation_id && *s == AuthorisationState::Active);
    if !active {
        return Err(MandateError::NotActive);
    }
    diesel::update(authorisations::table.filter(authorisations::id.eq(authorisation_id)))
        .set((
            authorisations::revoked_at.eq(Some(now.naive_utc())),
            authorisations::revoked_reason.eq(Some(rules::REVOKED)),
            authorisations::revoked_by.eq(Some(actor)),
        ))
        .execute(conn)?;
    let a = view
        .authorisations
        .iter()
        .find(|(a, _)| a.id == authorisation_id)
        .map(|(a, _)| a.demarche.clone())
        .unwrap_or_default();
    journal::append(
        conn,
        now,
        NewEntry::new("authorisation.revoked")
            .actor(actor)
            .structure(structure_id)
            .usager(&view.usager.id)
            .mandate(&mandate_id)
            .authorisation(authorisation_id)
            .detail("demarche", a),
    )?;
    mandate_in(conn, now, structure_id, &mandate_id)?.ok_or(MandateError::NotFound)
}

/// Revokes a whole mandate of the structure: every active authorisation (journaled).
pub fn revoke_mandate(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure_id: &str,
    mandate_id: &str,
) -> Result<MandateView, MandateError> {
    let view = mandate_in(conn, now, structure_id, mandate_id)?.ok_or(MandateError::NotFound)?;
    let active: Vec<String> = view
        .authorisations
        .iter()
        .filter(|(_, s)| *s == AuthorisationState::Active)
        .map(|(a, _)| a.id.clone())
        .collect();
    if active.is_empty() {
        return Err(MandateError::NotActive);
    }
    diesel::update(authorisations::table.filter(authorisations::id.eq_any(&active)))
        .set((
            authorisations::revoked_at.eq(Some(now.naive_utc())),
            authorisations::revoked_reason.eq(Some(rules::REVOKED)),
            authorisations::revoked_by.eq(Some(actor)),
        ))
        .execute(conn)?;
    diesel::update(mandates::table.filter(mandates::id.eq(mandate_id)))
        .set(mandates::revoked_at.eq(Some(now.naive_utc())))
        .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new("mandate.revoked")
            .actor(actor)
            .structure(structure_id)
            .usager(&view.usager.id)
            .mandate(mandate_id)
            .detail("authorisations", active),
    )?;
    mandate_in(conn, now, structure_id, mandate_id)?.ok_or(MandateError::NotFound)
}

/// The attestation text of a mandate, recomputed from the database (same digest as at
/// creation as long as nothing it states has changed).
pub fn attestation(conn: &mut DbConn, view: &MandateView) -> QueryResult<String> {
    let (structure_name, siret): (String, String) = structures::table
        .filter(structures::id.eq(&view.mandate.structure_id))
        .select((structures::name, structures::siret))
        .first(conn)?;
    let demarches: Vec<&'static Demarche> = view
        .authorisations
        .iter()
        .filter_map(|(a, _)| rules::demarche(&a.demarche))
        .collect();
    Ok(attestation_text(&AttestationFacts {
        mandate_id: &view.mandate.id,
        usager_name: &format!("{} {}", view.usager.given_name, view.usager.family_name),
        usager_birthdate: &view.usager.birthdate,
        structure: &structure_name,
        siret: &siret,
        aidant_name: &view.aidant_name,
        demarches,
        created_at: view.mandate.created_at,
        expires_at: view.mandate.expires_at,
    }))
}

/// A fresh random state token (for tests and the simulator).
pub fn new_state() -> String {
    new_token()
}
