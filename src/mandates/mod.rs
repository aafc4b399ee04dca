//! Usagers, mandates, authorisations, consent requests and attestations.
//!
//! Every function that changes state takes the caller's connection (inside `write_tx`)
//! and appends its journal entries there.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::accounts::sessions;
use crate::crypto::{constant_time_eq, new_token, sha256_hex, SecretBox};
use crate::domain::identity::{FcError, FlowSecrets, Identity};
use crate::domain::mandate::{
    self as rules, attestation_text_of, authorisation_state, AttestationFacts, AuthorisationState,
    Demarche, MandateDuration, ATTESTATION_VERSION,
};
use crate::journal::{self, NewEntry};
use crate::store::schema::{authorisations, consent_requests, mandates, usagers};
use crate::store::{write_tx, DbConn};

use crate::error::Error;
use crate::store::lower;

/// How long a started creation (FranceConnect round trip and consent page) stays valid.
pub const CONSENT_VALIDITY_MINUTES: i64 = 15;

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

crate::text_enum! {
    /// Where a mandate creation stands, stored as text.
    pub enum ConsentStatus {
        /// Sent to FranceConnect.
        PendingFc = "pending_fc",
        /// FranceConnect's answer is being handled.
        Callback = "callback",
        /// Identity proven; the person's consent is awaited.
        PendingConsent = "pending_consent",
        /// The mandate was created.
        Done = "done",
        /// Ended without a mandate.
        Failed = "failed",
    }
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
    /// Where the creation stands.
    #[diesel(deserialize_as = String)]
    pub status: ConsentStatus,
    /// Sealed identity once FranceConnect answered.
    pub identity_enc: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Expiry.
    pub expires_at: NaiveDateTime,
    /// The mandate this creation renews (its person must be the one proven).
    pub renewal_of: Option<String>,
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

/// A mandate creation about to go to FranceConnect.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The browser's session (SHA-256).
    pub session_hash: String,
    /// The aidant, acting for its current structure.
    pub by: crate::accounts::Acting,
    /// Démarches chosen.
    pub demarches: Vec<&'static Demarche>,
    /// Duration chosen.
    pub duration: MandateDuration,
    /// The OAuth `state` sent to FranceConnect.
    pub state: String,
    /// The nonce and PKCE verifier sent.
    pub flow: FlowSecrets,
}

/// Refuses démarches the structure does not offer (its manager's choice, see
/// `accounts::structures::set_demarches`): a mandate is only made for démarches the
/// structure's aidants may act for.
pub fn check_offered(offered: &rules::DemarcheSet, chosen: &[&Demarche]) -> Result<(), Error> {
    match chosen.iter().find(|d| !offered.contains(d.code)) {
        None => Ok(()),
        Some(d) => Err(Error::Invalid(format!(
            "La structure ne propose pas la démarche « {} » : choisissez parmi celles qu’elle propose.",
            d.label
        ))),
    }
}

/// The démarches a structure offers, read in the caller's transaction.
fn offered_by(conn: &mut DbConn, structure_id: &str) -> Result<rules::DemarcheSet, Error> {
    crate::accounts::structures::by_id(conn, structure_id)?
        .map(|s| s.demarches())
        .ok_or(Error::UnknownStructure)
}

/// Records a started creation (state hashed, flow secrets sealed, bound to the session)
/// and journals `mandate.consent_started`, in one transaction; returns the request id.
/// Démarches the structure does not offer are refused, with nothing recorded.
pub fn start_request(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    r: &NewRequest,
) -> Result<String, Error> {
    start_request_for(conn, now, secrets, r, None)
}

/// As [`start_request`], for the renewal of `renewal_of` (a mandate of the aidant's
/// structure, else refused): FranceConnect must then prove that mandate's person.
pub fn start_request_for(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    r: &NewRequest,
    renewal_of: Option<&str>,
) -> Result<String, Error> {
    write_tx(conn, |conn| {
        if let Some(old) = renewal_of {
            let found: i64 = mandates::table
                .filter(mandates::id.eq(old))
                .filter(mandates::structure_id.eq(&r.by.structure_id))
                .count()
                .get_result(conn)?;
            if found == 0 {
                return Err(Error::Invalid(
                    "Le mandat à renouveler est introuvable dans votre structure : recommencez depuis la page de la personne.".into(),
                ));
            }
        }
        let account = crate::accounts::users::find(conn, &r.by.user_id)?.ok_or(Error::NotFound)?;
        crate::accounts::accreditation::require(&account, now)?;
        let (session_hash, structure_id, aidant) =
            (&r.session_hash, &r.by.structure_id, &r.by.user_id);
        let (demarches, duration, state, flow) = (&r.demarches, r.duration, &r.state, &r.flow);
        check_offered(&offered_by(conn, structure_id)?, demarches)?;
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
                consent_requests::status.eq(ConsentStatus::PendingFc.as_str()),
                consent_requests::created_at.eq(now.naive_utc()),
                consent_requests::expires_at
                    .eq((now + Duration::minutes(CONSENT_VALIDITY_MINUTES)).naive_utc()),
                consent_requests::renewal_of.eq(renewal_of),
            ))
            .execute(conn)?;
        let mut entry = NewEntry::new("mandate.consent_started")
            .actor(r.by.actor())
            .structure(structure_id)
            .detail("request", id.as_str())
            .detail("demarches", codes)
            .detail("duration", duration.code());
        if let Some(old) = renewal_of {
            entry = entry.mandate(old).detail("renewal_of", old);
        }
        journal::append(conn, now, entry)?;
        Ok(id)
    })
}

/// A consent request found by its state.
#[derive(Debug)]
pub enum Taken {
    /// First use, in time: the request and its flow secrets.
    Fresh(ConsentRequest, FlowSecrets),
    /// Already used, or expired: a replay.
    Replayed(ConsentRequest),
}

/// Consumes a request by its OAuth `state` (single use), in the caller's transaction.
pub fn take_by_state(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    state: &str,
) -> Result<Option<Taken>, Error> {
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
            .filter(consent_requests::status.eq(ConsentStatus::PendingFc.as_str())),
    )
    .set(consent_requests::status.eq(ConsentStatus::Callback.as_str()))
    .execute(conn)?;
    if moved == 0 || req.expires_at <= now.naive_utc() {
        return Ok(Some(Taken::Replayed(req)));
    }
    let flow: FlowSecrets =
        serde_json::from_slice(&secrets.open(&format!("consent:{}", req.id), &req.secrets_enc)?)
            .map_err(|_| Error::RequestInvalid)?;
    Ok(Some(Taken::Fresh(req, flow)))
}

/// Stores the verified identity; the consent page can now be shown.
pub fn set_identity(
    conn: &mut DbConn,
    secrets: &SecretBox,
    request_id: &str,
    identity: &Identity,
) -> Result<(), Error> {
    let sealed = secrets.seal(
        &format!("identity:{request_id}"),
        serde_json::to_string(identity)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    diesel::update(consent_requests::table.filter(consent_requests::id.eq(request_id)))
        .set((
            consent_requests::status.eq(ConsentStatus::PendingConsent.as_str()),
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
) -> Result<(), Error> {
    let mut e = NewEntry::new("mandate.consent_failed").detail("reason", reason);
    if let Some(r) = request {
        diesel::update(
            consent_requests::table
                .filter(consent_requests::id.eq(&r.id))
                .filter(consent_requests::status.ne(ConsentStatus::Done.as_str())),
        )
        .set(consent_requests::status.eq(ConsentStatus::Failed.as_str()))
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
) -> Result<(ConsentRequest, Identity), Error> {
    let req: ConsentRequest = consent_requests::table
        .filter(consent_requests::id.eq(request_id))
        .select(ConsentRequest::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::RequestInvalid)?;
    if req.status != ConsentStatus::PendingConsent
        || req.aidant_id != aidant_id
        || req.session_hash != session_hash
        || req.expires_at <= now.naive_utc()
    {
        return Err(Error::RequestInvalid);
    }
    let enc = req.identity_enc.clone().ok_or(Error::RequestInvalid)?;
    let identity: Identity =
        serde_json::from_slice(&secrets.open(&format!("identity:{}", req.id), &enc)?)
            .map_err(|_| Error::RequestInvalid)?;
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
) -> Result<Usager, Error> {
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

/// How the person gave their consent, recorded in `mandate.created` (`consent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentMode {
    /// At the desk, beside the aidant.
    Presence,
    /// From a link sent by e-mail (remote consent).
    Distance,
}

impl ConsentMode {
    /// The journal's code.
    pub fn code(self) -> &'static str {
        match self {
            ConsentMode::Presence => "presence",
            ConsentMode::Distance => "distance",
        }
    }
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
) -> Result<Created, Error> {
    create_mandate_as(
        conn,
        now,
        actor,
        aidant_id,
        structure_id,
        identity,
        demarches,
        duration,
        ConsentMode::Presence,
    )
}

/// As [`create_mandate`], with the way the consent was given.
#[allow(clippy::too_many_arguments)]
pub fn create_mandate_as(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    aidant_id: &str,
    structure_id: &str,
    identity: &Identity,
    demarches: &[&'static Demarche],
    duration: MandateDuration,
    consent: ConsentMode,
) -> Result<Created, Error> {
    create_mandate_with(
        conn,
        now,
        actor,
        aidant_id,
        structure_id,
        identity,
        demarches,
        duration,
        &Consent::new(consent),
    )
}

/// How a consent was given: where, with which translation beside the French, and the
/// attestation template the mandate is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    /// At the desk or from a remote request.
    pub mode: ConsentMode,
    /// The translation shown beside the French text (None: French only), recorded as the
    /// `langue` detail of `mandate.created`.
    pub langue: Option<crate::i18n::Lang>,
    /// The attestation template ([`ATTESTATION_VERSION`] for every new mandate; an older
    /// one only to reproduce mandates made before it, as the tests do).
    pub attestation_version: &'static str,
}

impl Consent {
    /// A consent given `mode`, in French only, with the current template.
    pub fn new(mode: ConsentMode) -> Self {
        Consent {
            mode,
            langue: None,
            attestation_version: ATTESTATION_VERSION,
        }
    }

    /// The same, with the translation shown beside the French.
    pub fn in_language(self, langue: Option<crate::i18n::Lang>) -> Self {
        Consent { langue, ..self }
    }
}

/// As [`create_mandate`], with how the consent was given.
#[allow(clippy::too_many_arguments)]
pub fn create_mandate_with(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    aidant_id: &str,
    structure_id: &str,
    identity: &Identity,
    demarches: &[&'static Demarche],
    duration: MandateDuration,
    how: &Consent,
) -> Result<Created, Error> {
    let (consent, version) = (how.mode, how.attestation_version);
    if demarches.is_empty() {
        return Err(Error::Invalid("Choisissez au moins une démarche.".into()));
    }
    let usager = upsert_usager(conn, now, actor, identity)?;
    let s = crate::accounts::structures::by_id(conn, structure_id)?.ok_or(Error::NotFound)?;
    if !s.active {
        // A deactivated structure's members no longer use or make its mandates.
        return Err(Error::Forbidden(
            "Votre structure est désactivée : aucun mandat ne peut plus être créé pour elle."
                .into(),
        ));
    }
    let (structure_name, siret) = (s.name, s.siret);
    let aidant_name = crate::accounts::users::find(conn, aidant_id)?
        .ok_or(Error::NotFound)?
        .name;
    let id = uuid::Uuid::new_v4().to_string();
    let created_at = now.naive_utc();
    let expires_at = duration.expires_at(now).naive_utc();
    let text = attestation_text_of(
        version,
        &AttestationFacts {
            mandate_id: &id,
            usager_name: &format!("{} {}", usager.given_name, usager.family_name),
            usager_birthdate: &usager.birthdate,
            usager_gender: &usager.gender,
            structure: &structure_name,
            siret: &siret,
            structure_address: &s.address,
            aidant_name: &aidant_name,
            demarches: demarches.to_vec(),
            created_at,
            expires_at,
        },
    )
    .ok_or_else(|| Error::Invalid(format!("Modèle d’attestation inconnu : {version}.")))?;
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
        attestation_version: version.to_string(),
        attestation_digest: digest.clone(),
        journal_seq: None,
    };
    diesel::insert_into(mandates::table)
        .values(&mandate)
        .execute(conn)?;
    // Older active authorisations for the same usager, structure and démarche end now:
    // the rule the consent page showed (`replaced_authorisations`), read before the new
    // mandate's own authorisations exist.
    let codes: Vec<&str> = demarches.iter().map(|d| d.code).collect();
    let older: Vec<(String, String)> =
        replaced_authorisations(conn, now, &usager.id, structure_id, demarches)?
            .into_iter()
            .map(|r| (r.authorisation_id, r.mandate_id))
            .collect();
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
            .detail("attestation_version", version)
            .detail("attestation_sha256", digest.as_str())
            .detail("consent", consent.code())
            .detail("langue", crate::i18n::journal_code(how.langue))
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
    crate::notify::mandate_created(conn, now, &mandate, &usager, demarches, &structure_name)?;
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

/// An active authorisation that a new mandate will replace (end at its creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// The authorisation.
    pub authorisation_id: String,
    /// Its mandate.
    pub mandate_id: String,
    /// Its démarche.
    pub demarche: &'static Demarche,
    /// Its mandate's end.
    pub expires_at: NaiveDateTime,
}

/// The rule of supersession, used both by the consent page (what it announces) and by
/// the creation (what it ends), so they cannot disagree: a new mandate for `demarches`
/// replaces the usager's authorisations in the same structure for the same démarches
/// that are still active at `now` (not revoked, mandate not ended), in the order of
/// [`rules::DEMARCHES`].
pub fn replaced_authorisations(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    usager_id: &str,
    structure_id: &str,
    demarches: &[&'static Demarche],
) -> QueryResult<Vec<Replaced>> {
    let codes: Vec<&str> = demarches.iter().map(|d| d.code).collect();
    let rows: Vec<(String, String, String, NaiveDateTime)> = authorisations::table
        .inner_join(mandates::table)
        .filter(mandates::usager_id.eq(usager_id))
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::expires_at.gt(now.naive_utc()))
        .filter(authorisations::revoked_at.is_null())
        .filter(authorisations::demarche.eq_any(&codes))
        .order((mandates::expires_at.asc(), authorisations::id.asc()))
        .select((
            authorisations::id,
            authorisations::mandate_id,
            authorisations::demarche,
            mandates::expires_at,
        ))
        .load(conn)?;
    let mut out: Vec<Replaced> = rows
        .into_iter()
        .filter_map(|(a, m, d, e)| {
            Some(Replaced {
                authorisation_id: a,
                mandate_id: m,
                demarche: rules::demarche(&d)?,
                expires_at: e,
            })
        })
        .collect();
    out.sort_by_key(|r| {
        rules::DEMARCHES
            .iter()
            .position(|d| d.code == r.demarche.code)
    });
    Ok(out)
}

/// What the consent page shows: the request awaiting consent, the proven identity, the
/// authorisations the new mandate will replace (by [`replaced_authorisations`], as the
/// creation will), from one snapshot.
pub fn consent_facts(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    request_id: &str,
    aidant_id: &str,
    session_hash: &str,
) -> Result<(ConsentRequest, Identity, Vec<Replaced>), Error> {
    crate::store::read_tx(conn, |c| -> Result<_, Error> {
        let (req, identity) =
            pending_consent(c, now, secrets, request_id, aidant_id, session_hash)?;
        let replaced = replaced_for_person(
            c,
            now,
            &identity.sub,
            &req.structure_id,
            &req.demarche_list(),
        )?;
        Ok((req, identity, replaced))
    })
}

/// [`replaced_authorisations`] for the person FranceConnect knows as `sub` (none when
/// they are not a usager yet).
pub fn replaced_for_person(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    sub: &str,
    structure_id: &str,
    demarches: &[&'static Demarche],
) -> Result<Vec<Replaced>, Error> {
    Ok(match usager_by_sub(conn, sub)? {
        Some(u) => replaced_authorisations(conn, now, &u.id, structure_id, demarches)?,
        None => Vec::new(),
    })
}

/// Why a creation ended where the aidant can start again with the same choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadEnd {
    /// The person cancelled at FranceConnect.
    Cancelled,
    /// The 15 minutes ran out.
    Expired,
    /// The link (FranceConnect's answer or the consent page) was already used.
    Used,
}

impl DeadEnd {
    /// The code carried in the form's address (`motif`).
    pub fn code(self) -> &'static str {
        match self {
            DeadEnd::Cancelled => "annulation",
            DeadEnd::Expired => "delai",
            DeadEnd::Used => "deja-utilise",
        }
    }

    /// From [`DeadEnd::code`].
    pub fn parse(s: &str) -> Option<Self> {
        [DeadEnd::Cancelled, DeadEnd::Expired, DeadEnd::Used]
            .into_iter()
            .find(|d| d.code() == s)
    }

    /// What happened, in plain French, for the aidant.
    pub fn message(self) -> String {
        match self {
            DeadEnd::Cancelled => "La personne a annulé la connexion à FranceConnect. Aucun mandat n’a été créé : vos choix sont gardés ci-dessous, vous pouvez recommencer.".into(),
            DeadEnd::Expired => format!("Le consentement n’a pas été donné dans les {CONSENT_VALIDITY_MINUTES} minutes. Aucun mandat n’a été créé : vos choix sont gardés ci-dessous, vous pouvez recommencer."),
            DeadEnd::Used => "Ce lien a déjà servi. Aucun nouveau mandat n’a été créé avec lui : vos choix sont gardés ci-dessous, vous pouvez recommencer.".into(),
        }
    }
}

/// Why the consent page of `request_id` cannot be shown to this aidant any more, when it
/// is a dead end to start again from (pure): its time ran out, or it was already used.
/// None for anything else (another aidant's request, another session, still pending).
pub fn dead_end_of(req: &ConsentRequest, aidant_id: &str, now: DateTime<Utc>) -> Option<DeadEnd> {
    if req.aidant_id != aidant_id {
        return None;
    }
    if req.status != ConsentStatus::Done && req.expires_at <= now.naive_utc() {
        return Some(DeadEnd::Expired);
    }
    match req.status {
        ConsentStatus::Done | ConsentStatus::Failed => Some(DeadEnd::Used),
        _ => None,
    }
}

/// A consent request of this aidant, whatever its state (to start again from its
/// choices); None when unknown or another aidant's.
pub fn request_of(
    conn: &mut DbConn,
    request_id: &str,
    aidant_id: &str,
) -> QueryResult<Option<ConsentRequest>> {
    consent_requests::table
        .filter(consent_requests::id.eq(request_id))
        .filter(consent_requests::aidant_id.eq(aidant_id))
        .select(ConsentRequest::as_select())
        .first(conn)
        .optional()
}

/// Why this aidant's consent page of `request_id` is a dead end, if it is one
/// ([`dead_end_of`]), in one transaction: a request whose time ran out before the
/// consent is closed here and journaled (`mandate.consent_failed`, `consent_expired`),
/// once.
pub fn consent_dead_end(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    request_id: &str,
    aidant_id: &str,
) -> Result<Option<DeadEnd>, Error> {
    write_tx(conn, |c| {
        let Some(req) = request_of(c, request_id, aidant_id)? else {
            return Ok(None);
        };
        let dead = dead_end_of(&req, aidant_id, now);
        let open = matches!(
            req.status,
            ConsentStatus::PendingFc | ConsentStatus::Callback | ConsentStatus::PendingConsent
        );
        if dead == Some(DeadEnd::Expired) && open {
            fail_request(c, now, Some(&req), None, "consent_expired")?;
        }
        Ok(dead)
    })
}

/// Confirms a pending consent: creates the mandate and closes the request.
#[allow(clippy::too_many_arguments)]
pub fn confirm_consent(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    request_id: &str,
    aidant_id: &str,
    session_hash: &str,
    current_structure: &str,
    langue: Option<crate::i18n::Lang>,
) -> Result<Created, Error> {
    write_tx(conn, |conn| {
        let (req, identity) =
            pending_consent(conn, now, secrets, request_id, aidant_id, session_hash)?;
        // The person consented to the structure named on the page, which is the aidant's
        // current one: it must be the structure the request was started for.
        if req.structure_id != current_structure {
            return Err(Error::RequestInvalid);
        }
        // The accreditation may have ended (or been cancelled) since the start.
        let account = crate::accounts::users::find(conn, aidant_id)?.ok_or(Error::NotFound)?;
        crate::accounts::accreditation::require(&account, now)?;
        // The manager may have restricted the structure's démarches since the start.
        check_offered(&offered_by(conn, &req.structure_id)?, &req.demarche_list())?;
        let moved = diesel::update(
            consent_requests::table
                .filter(consent_requests::id.eq(&req.id))
                .filter(consent_requests::status.eq(ConsentStatus::PendingConsent.as_str())),
        )
        .set((
            consent_requests::status.eq(ConsentStatus::Done.as_str()),
            consent_requests::identity_enc.eq(None::<String>),
        ))
        .execute(conn)?;
        if moved == 0 {
            return Err(Error::RequestInvalid);
        }
        create_mandate_with(
            conn,
            now,
            &format!("user:{aidant_id}"),
            aidant_id,
            &req.structure_id,
            &identity,
            &req.demarche_list(),
            req.duration(),
            &Consent::new(ConsentMode::Presence).in_language(langue),
        )
    })
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
    use std::collections::HashMap;
    // Three queries whatever the number of mandates: their usagers, aidants and
    // authorisations, each loaded at once.
    let usager_ids: Vec<&str> = list.iter().map(|m| m.usager_id.as_str()).collect();
    let mandate_ids: Vec<&str> = list.iter().map(|m| m.id.as_str()).collect();
    let aidant_ids: Vec<&str> = list.iter().map(|m| m.aidant_id.as_str()).collect();
    let usager_by_id: HashMap<String, Usager> = usagers::table
        .filter(usagers::id.eq_any(&usager_ids))
        .select(Usager::as_select())
        .load::<Usager>(conn)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let names: HashMap<String, String> = crate::accounts::users::names(conn, &aidant_ids)?
        .into_iter()
        .collect();
    let mut auths_by_mandate: HashMap<String, Vec<Authorisation>> = HashMap::new();
    for a in authorisations::table
        .filter(authorisations::mandate_id.eq_any(&mandate_ids))
        .select(Authorisation::as_select())
        .load::<Authorisation>(conn)?
    {
        auths_by_mandate
            .entry(a.mandate_id.clone())
            .or_default()
            .push(a);
    }
    let mut out = Vec::with_capacity(list.len());
    for m in list {
        let usager = usager_by_id
            .get(&m.usager_id)
            .cloned()
            .ok_or(diesel::result::Error::NotFound)?;
        let aidant_name = names.get(&m.aidant_id).cloned().unwrap_or_default();
        let mut with_state: Vec<_> = auths_by_mandate
            .remove(&m.id)
            .unwrap_or_default()
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

/// Where a page of mandates ends: the last one's creation time and id.
pub type PageKey = (NaiveDateTime, String);

/// Filters of the structure's mandate list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Recorded by this aidant.
    pub aidant: Option<String>,
    /// With an authorisation for this démarche.
    pub demarche: Option<String>,
    /// In this state (as [`MandateView::state`] computes it).
    pub state: Option<AuthorisationState>,
    /// Keyset: only mandates created before this one.
    pub before: Option<PageKey>,
    /// Of a usager whose names contain every word of this (case-insensitive).
    pub name: Option<String>,
}

/// One page of a structure's mandates and the key of the next page.
pub type MandatePage = (Vec<MandateView>, Option<PageKey>);

/// The manager's mandate list: one page of the structure's mandates and its members (for
/// the aidant filter), from one snapshot.
pub fn structure_list(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    f: &ListFilter,
    limit: i64,
) -> Result<(MandatePage, Vec<crate::accounts::users::MemberRow>), Error> {
    crate::store::read_tx(conn, |c| -> Result<_, Error> {
        let page = mandates_of_structure(c, now, structure_id, f, limit)?;
        let members = crate::accounts::users::members(c, structure_id)?;
        Ok((page, members))
    })
}

/// A page of the structure's mandates from one snapshot (the aidant's home tabs and
/// search).
pub fn structure_page(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    f: &ListFilter,
    limit: i64,
) -> Result<MandatePage, Error> {
    crate::store::read_tx(conn, |c| -> Result<_, Error> {
        Ok(mandates_of_structure(c, now, structure_id, f, limit)?)
    })
}

/// At most this many usagers matched by a name search have their mandates listed.
const NAME_MATCHES: i64 = 500;

/// A usager whose given names, family name or usage name match the LIKE `pattern` (one
/// of [`name_patterns`]), case-insensitively.
macro_rules! name_like {
    ($pattern:expr) => {{
        let pattern: String = $pattern;
        lower(usagers::given_name)
            .like(pattern.clone())
            .escape('\\')
            .or(lower(usagers::family_name)
                .like(pattern.clone())
                .escape('\\'))
            .or(lower(diesel::dsl::sql::<diesel::sql_types::Text>(
                "COALESCE(usagers.preferred_username, '')",
            ))
            .like(pattern)
            .escape('\\'))
    }};
}

/// LIKE patterns (lower case, escaped with `\`) for each word of a name search, at most six.
fn name_patterns(search: &str) -> Vec<String> {
    search
        .split_whitespace()
        .take(6)
        .map(|word| {
            format!(
                "%{}%",
                word.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        })
        .collect()
}

/// The aidant's home lists: usagers with an active mandate (matching `search`) and those
/// whose last mandate ends before `soon`, from one snapshot.
#[allow(clippy::type_complexity)]
pub fn home_lists(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    search: &str,
    soon: NaiveDateTime,
    limit: i64,
) -> Result<(Vec<ActiveUsager>, Vec<(Usager, NaiveDateTime)>), Error> {
    crate::store::read_tx(conn, |c| -> Result<_, Error> {
        let found = active_usagers(c, now, structure_id, search, None, limit)?;
        let expiring = expiring_usagers(c, now, structure_id, soon, limit)?;
        Ok((found, expiring))
    })
}

/// A page of the structure's mandates, newest first, filtered in SQL; the second value
/// is the key of the next page, if there is one. Four queries whatever the page size.
pub fn mandates_of_structure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    f: &ListFilter,
    limit: i64,
) -> QueryResult<(Vec<MandateView>, Option<PageKey>)> {
    use diesel::dsl::{exists, not};
    let n = now.naive_utc();
    let mut q = mandates::table
        .filter(mandates::structure_id.eq(structure_id))
        .order((mandates::created_at.desc(), mandates::id.desc()))
        .select(Mandate::as_select())
        .limit(limit + 1)
        .into_boxed();
    if let Some(a) = &f.aidant {
        q = q.filter(mandates::aidant_id.eq(a.clone()));
    }
    if let Some(d) = &f.demarche {
        q = q.filter(exists(
            authorisations::table
                .filter(authorisations::mandate_id.eq(mandates::id))
                .filter(authorisations::demarche.eq(d.clone())),
        ));
    }
    let unrevoked = || {
        exists(
            authorisations::table
                .filter(authorisations::mandate_id.eq(mandates::id))
                .filter(authorisations::revoked_at.is_null()),
        )
    };
    let revoked_otherwise = || {
        exists(
            authorisations::table
                .filter(authorisations::mandate_id.eq(mandates::id))
                .filter(authorisations::revoked_at.is_not_null())
                .filter(
                    authorisations::revoked_reason
                        .is_null()
                        .or(authorisations::revoked_reason.ne(rules::SUPERSEDED)),
                ),
        )
    };
    let any = || exists(authorisations::table.filter(authorisations::mandate_id.eq(mandates::id)));
    q = match f.state {
        None => q,
        Some(AuthorisationState::Active) => {
            q.filter(mandates::expires_at.gt(n)).filter(unrevoked())
        }
        Some(AuthorisationState::Expired) => {
            q.filter(mandates::expires_at.le(n)).filter(unrevoked())
        }
        Some(AuthorisationState::Superseded) => q
            .filter(not(unrevoked()))
            .filter(not(revoked_otherwise()))
            .filter(any()),
        Some(AuthorisationState::Revoked) => q
            .filter(not(unrevoked()))
            .filter(revoked_otherwise().or(not(any()))),
    };
    if let Some((at, id)) = &f.before {
        q = q.filter(
            mandates::created_at.lt(*at).or(mandates::created_at
                .eq(*at)
                .and(mandates::id.lt(id.clone()))),
        );
    }
    if let Some(name) = &f.name {
        // The structure's usagers whose names match, then their mandates (a boxed
        // subquery is not available over the multi-backend connection).
        let mut who = usagers::table
            .filter(
                usagers::id.eq_any(
                    mandates::table
                        .filter(mandates::structure_id.eq(structure_id))
                        .select(mandates::usager_id),
                ),
            )
            .select(usagers::id)
            .order(usagers::id.asc())
            .limit(NAME_MATCHES)
            .into_boxed();
        for pattern in name_patterns(name) {
            who = who.filter(name_like!(pattern));
        }
        let who: Vec<String> = who.load(conn)?;
        q = q.filter(mandates::usager_id.eq_any(who));
    }
    let mut list: Vec<Mandate> = q.load(conn)?;
    let next = if list.len() as i64 > limit {
        list.truncate(usize::try_from(limit).unwrap_or(0));
        list.last().map(|m| (m.created_at, m.id.clone()))
    } else {
        None
    };
    Ok((views(conn, now, list)?, next))
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

/// The mandates of one usager in every structure, newest first (the person's own space).
pub fn mandates_of_usager(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    usager_id: &str,
) -> QueryResult<Vec<MandateView>> {
    let list: Vec<Mandate> = mandates::table
        .filter(mandates::usager_id.eq(usager_id))
        .order((mandates::created_at.desc(), mandates::id.desc()))
        .select(Mandate::as_select())
        .load(conn)?;
    views(conn, now, list)
}

/// The usager FranceConnect knows as `sub`, if any.
pub fn usager_by_sub(conn: &mut DbConn, sub: &str) -> QueryResult<Option<Usager>> {
    usagers::table
        .filter(usagers::fc_sub.eq(sub))
        .select(Usager::as_select())
        .first(conn)
        .optional()
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

/// FranceConnect's answer at the callback, as sent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CallbackParams {
    /// RFC 9207 issuer.
    #[serde(default)]
    pub iss: Option<String>,
    /// The code.
    #[serde(default)]
    pub code: String,
    /// Our state.
    #[serde(default)]
    pub state: String,
    /// An error code instead of a code.
    #[serde(default)]
    pub error: String,
}

/// Who received the callback.
#[derive(Debug, Clone)]
pub struct CallbackBy {
    /// The browser's session.
    pub session_hash: String,
    /// The logged-in account, if any.
    pub user_id: Option<String>,
}

/// After the state is consumed: exchange the code with FranceConnect, or stop.
#[derive(Debug)]
pub enum Callback {
    /// Exchange the code (outside any transaction), then call [`callback_finish`].
    Exchange(Box<ConsentRequest>, FlowSecrets),
    /// Consent can be given at this request's page.
    Consent(String),
    /// Consent can be given at this request's page, once the person is signed out of
    /// FranceConnect: send the browser to its end_session endpoint with this `state`.
    SignOut {
        /// The request awaiting consent.
        request: String,
        /// The `state` to send (only its hash is kept, in the session).
        state: String,
    },
    /// Refused, journaled; the French message to show.
    Failed(String),
    /// Ended, journaled, where the aidant can start again with the request's choices
    /// (the creation form, with why).
    Restart {
        /// The request whose choices the form takes again.
        request: String,
        /// What happened.
        reason: DeadEnd,
    },
    /// A renewal where FranceConnect proved another person than the mandate's: refused,
    /// journaled (`renewal_other_person`), nothing created.
    OtherPerson {
        /// The mandate being renewed.
        renewal_of: String,
        /// When FranceConnect can sign that other person out: the `state` to send to its
        /// end_session endpoint (only its hash is kept, in the session); the way back
        /// starts the renewal again.
        sign_out_state: Option<String>,
    },
}

const UNKNOWN_ANSWER: &str = "Cette réponse de FranceConnect ne correspond à aucune demande en cours (lien déjà utilisé ou expiré). Aucun mandat n’a été créé.";

/// Checks a consumed request against the callback (pure): `Err((reason, message))`.
pub fn check_callback(
    taken: &Taken,
    by: &CallbackBy,
    q: &CallbackParams,
    fc_issuer: &str,
) -> Result<(), (&'static str, String)> {
    let request = match taken {
        Taken::Replayed(_) => return Err(("replayed_state", UNKNOWN_ANSWER.into())),
        Taken::Fresh(r, _) => r,
    };
    if request.session_hash != by.session_hash
        || by.user_id.as_deref() != Some(request.aidant_id.as_str())
    {
        return Err(("session_mismatch", "Cette demande de mandat a été ouverte dans une autre session. Aucun mandat n’a été créé.".into()));
    }
    // RFC 9207: when the provider names itself, it must be the one we sent the person to.
    if q.iss
        .as_deref()
        .is_some_and(|i| i.trim_end_matches('/') != fc_issuer.trim_end_matches('/'))
    {
        return Err(("issuer_mismatch", "La réponse ne provient pas du fournisseur d’identité attendu. Aucun mandat n’a été créé.".into()));
    }
    if !q.error.is_empty() {
        let e = if q.error == "access_denied" {
            FcError::Cancelled
        } else {
            FcError::Provider(q.error.clone())
        };
        return Err((e.reason(), e.to_string()));
    }
    Ok(())
}

static UNKNOWN_STATE_CALLBACKS: AtomicU64 = AtomicU64::new(0);

/// FranceConnect callbacks with a missing or unknown `state` since start (exposed in
/// `/metrics`; not journaled, since anyone can send them).
pub fn unknown_state_callbacks() -> u64 {
    UNKNOWN_STATE_CALLBACKS.load(Ordering::Relaxed)
}

/// The callback's first step, in one transaction: consumes the state once (a second use
/// is a replay) and checks the answer; a refusal of a known request is journaled (`mandate.consent_failed`).
pub fn callback_begin(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    by: &CallbackBy,
    q: &CallbackParams,
    fc_issuer: &str,
) -> Result<Callback, Error> {
    let actor = by.user_id.as_ref().map(|u| format!("user:{u}"));
    if q.state.is_empty() {
        // Anyone can send these: counted, not journaled (the journal is never purged).
        UNKNOWN_STATE_CALLBACKS.fetch_add(1, Ordering::Relaxed);
        return Ok(Callback::Failed(UNKNOWN_ANSWER.into()));
    }
    write_tx(conn, |c| {
        let Some(taken) = take_by_state(c, now, secrets, &q.state)? else {
            UNKNOWN_STATE_CALLBACKS.fetch_add(1, Ordering::Relaxed);
            return Ok(Callback::Failed(UNKNOWN_ANSWER.into()));
        };
        let checked = check_callback(&taken, by, q, fc_issuer);
        match (taken, checked) {
            (Taken::Fresh(request, flow), Ok(())) => {
                Ok(Callback::Exchange(Box::new(request), flow))
            }
            (Taken::Fresh(request, _) | Taken::Replayed(request), Err((reason, message))) => {
                fail_request(c, now, Some(&request), actor.as_deref(), reason)?;
                Ok(restart_or(&request, by, now, reason, message))
            }
            (Taken::Replayed(request), Ok(())) => {
                fail_request(c, now, Some(&request), actor.as_deref(), "replayed_state")?;
                Ok(restart_or(
                    &request,
                    by,
                    now,
                    "replayed_state",
                    UNKNOWN_ANSWER.into(),
                ))
            }
        }
    })
}

/// A refused callback (pure): back to the form with the request's choices when the aidant
/// who started it can simply start again (a cancel at FranceConnect, a late or reused
/// answer), else the refusal `message`.
pub fn restart_or(
    request: &ConsentRequest,
    by: &CallbackBy,
    now: DateTime<Utc>,
    reason: &str,
    message: String,
) -> Callback {
    let dead = match reason {
        "replayed_state" if request.expires_at <= now.naive_utc() => Some(DeadEnd::Expired),
        "replayed_state" => Some(DeadEnd::Used),
        r if r == FcError::Cancelled.reason() => Some(DeadEnd::Cancelled),
        _ => None,
    };
    match dead {
        Some(reason) if by.user_id.as_deref() == Some(request.aidant_id.as_str()) => {
            Callback::Restart {
                request: request.id.clone(),
                reason,
            }
        }
        _ => Callback::Failed(message),
    }
}

/// Whether FranceConnect proved the person of the mandate being renewed (pure): the
/// usager's FranceConnect `sub` is the comparison, since every usager has one (it is
/// how a usager is found at creation) and it names one FranceConnect account, where
/// names and birth date can be shared by namesakes.
pub fn same_person(usager: &Usager, proven: &Identity) -> bool {
    constant_time_eq(usager.fc_sub.as_bytes(), proven.sub.as_bytes())
}

/// The callback's last step, in one transaction: keeps the proven identity (sealed) for
/// the consent page, or journals why the exchange failed. When FranceConnect can sign
/// the person out (`sign_out`), the browser's session remembers a fresh `state` (hashed)
/// for the way back from FranceConnect's end_session endpoint.
pub fn callback_finish(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    request: &ConsentRequest,
    exchanged: Result<Identity, FcError>,
    sign_out: bool,
) -> Result<Callback, Error> {
    write_tx(conn, |c| match exchanged {
        Ok(identity) => {
            if let Some(old) = &request.renewal_of {
                let usager: Option<Usager> = mandates::table
                    .inner_join(usagers::table)
                    .filter(mandates::id.eq(old))
                    .filter(mandates::structure_id.eq(&request.structure_id))
                    .select(Usager::as_select())
                    .first(c)
                    .optional()?;
                if !usager.is_some_and(|u| same_person(&u, &identity)) {
                    fail_request(c, now, Some(request), None, "renewal_other_person")?;
                    let sign_out_state = if sign_out {
                        let state = new_token();
                        remember_sign_out(
                            c,
                            &request.session_hash,
                            PendingSignOut {
                                state_hash: sha256_hex(state.as_bytes()),
                                request: request.id.clone(),
                                restart: Some(old.clone()),
                            },
                        )?;
                        Some(state)
                    } else {
                        None
                    };
                    return Ok(Callback::OtherPerson {
                        renewal_of: old.clone(),
                        sign_out_state,
                    });
                }
            }
            set_identity(c, secrets, &request.id, &identity)?;
            if !sign_out {
                return Ok(Callback::Consent(request.id.clone()));
            }
            let state = new_token();
            remember_sign_out(
                c,
                &request.session_hash,
                PendingSignOut {
                    state_hash: sha256_hex(state.as_bytes()),
                    request: request.id.clone(),
                    restart: None,
                },
            )?;
            Ok(Callback::SignOut {
                request: request.id.clone(),
                state,
            })
        }
        Err(e) => {
            fail_request(c, now, Some(request), None, e.reason())?;
            Ok(Callback::Failed(e.to_string()))
        }
    })
}

/// Session data key of a sign-out from FranceConnect under way.
const SIGN_OUT_KEY: &str = "fc_sign_out";

/// Keeps a sign-out under way in the browser's session, for one hop.
fn remember_sign_out(
    c: &mut DbConn,
    session_hash: &str,
    pending: PendingSignOut,
) -> Result<(), Error> {
    let mut data = sessions::data_of(c, session_hash)?.unwrap_or_default();
    data.insert(
        SIGN_OUT_KEY.into(),
        serde_json::to_value(pending).unwrap_or_default(),
    );
    sessions::set_data(c, session_hash, &data)?;
    Ok(())
}

/// A sign-out from FranceConnect under way, as the browser's session keeps it for one hop.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingSignOut {
    /// SHA-256 of the `state` sent to the end_session endpoint.
    pub state_hash: String,
    /// The consent request to go on with.
    pub request: String,
    /// Instead, the mandate whose renewal starts again (another person was signed in
    /// at FranceConnect and is now signed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
}

/// Where the way back from FranceConnect's end_session endpoint leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedOut {
    /// To this request's consent page.
    Consent(String),
    /// To the renewal form of this mandate, again.
    Restart(String),
    /// Refused, nothing changed: the French message, and the consent request this browser
    /// still has under way, if any (the way back).
    Refused(String, Option<String>),
}

/// Checks the `state` brought back from FranceConnect's end_session endpoint against
/// the one this session sent (pure).
pub fn check_sign_out_return(pending: Option<&PendingSignOut>, state: &str) -> SignedOut {
    let Some(p) = pending else {
        return SignedOut::Refused("Aucune déconnexion de FranceConnect n’est en cours dans ce navigateur. Aucun mandat n’a été modifié.".into(), None);
    };
    let given = sha256_hex(state.as_bytes());
    if state.is_empty() || !constant_time_eq(given.as_bytes(), p.state_hash.as_bytes()) {
        return SignedOut::Refused("Ce retour de FranceConnect ne correspond pas à la déconnexion demandée (paramètre state absent ou incorrect). Rien n’a été modifié.".into(), Some(p.request.clone()));
    }
    match &p.restart {
        Some(mandate) => SignedOut::Restart(mandate.clone()),
        None => SignedOut::Consent(p.request.clone()),
    }
}

/// The way back from FranceConnect's end_session endpoint, in one transaction: when the
/// `state` is the one this session sent, it is forgotten (single use) and the consent
/// page is next; otherwise nothing changes.
pub fn sign_out_return(
    conn: &mut DbConn,
    session_hash: &str,
    state: &str,
) -> Result<SignedOut, Error> {
    write_tx(conn, |c| {
        let mut data = sessions::data_of(c, session_hash)?.unwrap_or_default();
        let pending: Option<PendingSignOut> = data
            .get(SIGN_OUT_KEY)
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let outcome = check_sign_out_return(pending.as_ref(), state);
        if matches!(outcome, SignedOut::Consent(_) | SignedOut::Restart(_)) {
            data.remove(SIGN_OUT_KEY);
            sessions::set_data(c, session_hash, &data)?;
        }
        Ok(outcome)
    })
}

/// Usagers with an active authorisation in the structure, at most `limit`: without a
/// search, those whose mandate is the most recent first (an index walk, whatever the
/// structure's size); with one, those whose names contain every word of it
/// (case-insensitive), by name. Two queries: the usagers, then their active démarches.
/// `only` keeps the usagers, and the démarches, among these codes (None: every one).
pub fn active_usagers(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    search: &str,
    only: Option<&[&str]>,
    limit: i64,
) -> QueryResult<Vec<ActiveUsager>> {
    let n = now.naive_utc();
    let every: Vec<&str> = rules::DEMARCHES.iter().map(|d| d.code).collect();
    let codes = only.unwrap_or(&every);
    let mut q = usagers::table
        .inner_join(mandates::table.inner_join(authorisations::table))
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::expires_at.gt(n))
        .filter(authorisations::revoked_at.is_null())
        .filter(authorisations::demarche.eq_any(codes))
        .select(Usager::as_select())
        .distinct()
        .order((
            usagers::family_name.asc(),
            usagers::given_name.asc(),
            usagers::id.asc(),
        ))
        .limit(limit)
        .into_boxed();
    // Each word of the search must appear in one of the names (in any order), so the
    // name as the page shows it ("Louise DUBOIS") finds the person.
    for pattern in name_patterns(search) {
        q = q.filter(name_like!(pattern));
    }
    let list: Vec<Usager> = if search.split_whitespace().next().is_none() {
        recent_usagers(conn, n, structure_id, codes, limit)?
    } else {
        q.load(conn)?
    };
    let ids: Vec<&str> = list.iter().map(|u| u.id.as_str()).collect();
    let rows: Vec<(String, String, NaiveDateTime)> = authorisations::table
        .inner_join(mandates::table)
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::usager_id.eq_any(&ids))
        .filter(mandates::expires_at.gt(n))
        .filter(authorisations::revoked_at.is_null())
        .filter(authorisations::demarche.eq_any(codes))
        .select((
            mandates::usager_id,
            authorisations::demarche,
            mandates::expires_at,
        ))
        .load(conn)?;
    let mut by_id: std::collections::HashMap<String, (Vec<String>, NaiveDateTime)> =
        std::collections::HashMap::with_capacity(list.len());
    for (u, d, exp) in rows {
        let e = by_id.entry(u).or_insert_with(|| (Vec::new(), exp));
        if !e.0.contains(&d) {
            e.0.push(d);
        }
        e.1 = e.1.min(exp);
    }
    Ok(list
        .into_iter()
        .filter_map(|u| {
            let (mut demarches, next_expiry) = by_id.remove(&u.id)?;
            demarches.sort_by_key(|d| rules::DEMARCHES.iter().position(|x| x.code == d));
            Some(ActiveUsager {
                usager: u,
                demarches,
                next_expiry,
            })
        })
        .collect())
}

/// The usagers of the most recent active mandates of the structure, newest first.
fn recent_usagers(
    conn: &mut DbConn,
    now: NaiveDateTime,
    structure_id: &str,
    codes: &[&str],
    limit: i64,
) -> QueryResult<Vec<Usager>> {
    use diesel::dsl::exists;
    // Walk the structure's mandates newest first (the (structure, created_at) index, with
    // no sort), a batch at a time, keeping active ones and each usager once. Expiry is
    // checked here rather than in SQL, so no planner prefers the expiry index and sorts.
    let wanted = usize::try_from(limit).unwrap_or(0);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(wanted);
    let mut before: Option<(NaiveDateTime, String)> = None;
    for _ in 0..20 {
        let mut q = mandates::table
            .inner_join(usagers::table)
            .filter(mandates::structure_id.eq(structure_id))
            .filter(exists(
                authorisations::table
                    .filter(authorisations::mandate_id.eq(mandates::id))
                    .filter(authorisations::revoked_at.is_null())
                    .filter(authorisations::demarche.eq_any(codes)),
            ))
            .order((mandates::created_at.desc(), mandates::id.desc()))
            .select((
                mandates::created_at,
                mandates::id,
                mandates::expires_at,
                Usager::as_select(),
            ))
            .limit(limit * 3)
            .into_boxed();
        if let Some((at, id)) = &before {
            q = q.filter(
                mandates::created_at.lt(*at).or(mandates::created_at
                    .eq(*at)
                    .and(mandates::id.lt(id.clone()))),
            );
        }
        let rows: Vec<(NaiveDateTime, String, NaiveDateTime, Usager)> = q.load(conn)?;
        let exhausted = (rows.len() as i64) < limit * 3;
        for (at, id, expires, u) in rows {
            before = Some((at, id));
            if expires > now && out.len() < wanted && seen.insert(u.id.clone()) {
                out.push(u);
            }
        }
        if exhausted || out.len() >= wanted {
            break;
        }
    }
    Ok(out)
}

/// Usagers of the structure whose earliest active mandate ends before `before`, soonest
/// first, at most `limit`.
pub fn expiring_usagers(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(Usager, NaiveDateTime)>> {
    let n = now.naive_utc();
    let rows: Vec<(Usager, NaiveDateTime)> = usagers::table
        .inner_join(mandates::table.inner_join(authorisations::table))
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::expires_at.gt(n))
        .filter(mandates::expires_at.le(before))
        .filter(authorisations::revoked_at.is_null())
        .select((Usager::as_select(), mandates::expires_at))
        .distinct()
        .order((mandates::expires_at.asc(), usagers::id.asc()))
        .limit(limit * 4)
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|(u, _)| seen.insert(u.id.clone()))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect())
}

/// Display names of usagers, by id (one query; for auditors, never for the journal).
pub fn usager_names(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<(String, String)>> {
    Ok(usagers::table
        .filter(usagers::id.eq_any(ids))
        .select(Usager::as_select())
        .load(conn)?
        .into_iter()
        .map(|u| (u.id.clone(), u.display_name()))
        .collect())
}

/// A usager by id.
pub fn usager_by_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<Usager>> {
    usagers::table
        .filter(usagers::id.eq(id))
        .select(Usager::as_select())
        .first(conn)
        .optional()
}

/// An active authorisation usable for a use.
#[derive(Debug, Clone)]
pub struct Usable {
    /// Authorisation.
    pub authorisation_id: String,
    /// Mandate.
    pub mandate_id: String,
    /// Démarche code.
    pub demarche: String,
}

/// The usager's active authorisations in the structure (filtered in SQL).
pub fn usable_authorisations(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    usager_id: &str,
) -> QueryResult<Vec<Usable>> {
    let rows: Vec<(String, String, String)> = authorisations::table
        .inner_join(mandates::table)
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::usager_id.eq(usager_id))
        .filter(mandates::expires_at.gt(now.naive_utc()))
        .filter(authorisations::revoked_at.is_null())
        .select((authorisations::id, mandates::id, authorisations::demarche))
        .load(conn)?;
    let mut out: Vec<Usable> = rows
        .into_iter()
        .map(|(a, m, d)| Usable {
            authorisation_id: a,
            mandate_id: m,
            demarche: d,
        })
        .collect();
    out.sort_by_key(|u| rules::DEMARCHES.iter().position(|x| x.code == u.demarche));
    Ok(out)
}

/// An authorisation of the structure that is still usable (not revoked, its mandate not
/// expired), with its mandate and the usager's identity, in one statement.
pub fn usable_authorisation(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    authorisation_id: &str,
) -> QueryResult<Option<(Usable, Usager)>> {
    let row: Option<(String, String, Usager)> = authorisations::table
        .inner_join(mandates::table.inner_join(usagers::table))
        .filter(authorisations::id.eq(authorisation_id))
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::expires_at.gt(now.naive_utc()))
        .filter(mandates::revoked_at.is_null())
        .filter(authorisations::revoked_at.is_null())
        .select((mandates::id, authorisations::demarche, Usager::as_select()))
        .first(conn)
        .optional()?;
    Ok(row.map(|(mandate_id, demarche, u)| {
        (
            Usable {
                authorisation_id: authorisation_id.to_string(),
                mandate_id,
                demarche,
            },
            u,
        )
    }))
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
) -> Result<MandateView, Error> {
    write_tx(conn, |conn| {
        let view = mandate_of_authorisation(conn, now, structure_id, authorisation_id)?
            .ok_or(Error::NotFound)?;
        let mandate_id = view.mandate.id.clone();
        let ended = decide_revocation(&view.authorisations, Some(authorisation_id))?;
        end_authorisations(conn, now, actor, &ended)?;
        crate::notify::revoked(conn, now, actor, &view, &ended, false)?;
        let a = ended.first().map(|(_, d)| d.clone()).unwrap_or_default();
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
        mandate_in(conn, now, structure_id, &mandate_id)?.ok_or(Error::NotFound)
    })
}

/// What a revocation ends (pure): the active authorisations of the mandate, or the one
/// named, as (id, démarche). Nothing active to end is a refusal.
pub fn decide_revocation(
    authorisations: &[(Authorisation, AuthorisationState)],
    only: Option<&str>,
) -> Result<Vec<(String, String)>, Error> {
    let ended: Vec<(String, String)> = authorisations
        .iter()
        .filter(|(a, s)| *s == AuthorisationState::Active && only.is_none_or(|o| o == a.id))
        .map(|(a, _)| (a.id.clone(), a.demarche.clone()))
        .collect();
    if ended.is_empty() {
        return Err(Error::NotActive);
    }
    Ok(ended)
}

fn end_authorisations(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    ended: &[(String, String)],
) -> QueryResult<usize> {
    let ids: Vec<&str> = ended.iter().map(|(id, _)| id.as_str()).collect();
    diesel::update(authorisations::table.filter(authorisations::id.eq_any(ids)))
        .set((
            authorisations::revoked_at.eq(Some(now.naive_utc())),
            authorisations::revoked_reason.eq(Some(rules::REVOKED)),
            authorisations::revoked_by.eq(Some(actor)),
        ))
        .execute(conn)
}

/// Revokes a whole mandate of the structure: every active authorisation (journaled).
pub fn revoke_mandate(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure_id: &str,
    mandate_id: &str,
) -> Result<MandateView, Error> {
    write_tx(conn, |conn| {
        let view = mandate_in(conn, now, structure_id, mandate_id)?.ok_or(Error::NotFound)?;
        let ended = decide_revocation(&view.authorisations, None)?;
        end_authorisations(conn, now, actor, &ended)?;
        crate::notify::revoked(conn, now, actor, &view, &ended, true)?;
        let active: Vec<String> = ended.into_iter().map(|(id, _)| id).collect();
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
        mandate_in(conn, now, structure_id, mandate_id)?.ok_or(Error::NotFound)
    })
}

/// The attestation text of a mandate, recomputed from the database with the template
/// version the mandate was made with (same digest as at creation as long as nothing it
/// states has changed).
pub fn attestation(conn: &mut DbConn, view: &MandateView) -> QueryResult<String> {
    Ok(attestation_document(conn, view)?.text)
}

/// What an attestation shows, recomputed from the database.
#[derive(Debug, Clone)]
pub struct AttestationDocument {
    /// The template version the mandate was made with.
    pub version: String,
    /// Its canonical text (empty for an unknown version).
    pub text: String,
    /// The blocks of a v2 document (empty for v1, whose page shows the text).
    pub blocks: Vec<crate::domain::attestation::Block>,
    /// The structure (for its name and address on the page).
    pub structure: crate::accounts::structures::Structure,
}

/// The attestation of a mandate: canonical text and, for v2, its blocks.
pub fn attestation_document(
    conn: &mut DbConn,
    view: &MandateView,
) -> QueryResult<AttestationDocument> {
    let s = crate::accounts::structures::by_id(conn, &view.mandate.structure_id)?
        .ok_or(diesel::result::Error::NotFound)?;
    let demarches: Vec<&'static Demarche> = view
        .authorisations
        .iter()
        .filter_map(|(a, _)| rules::demarche(&a.demarche))
        .collect();
    let name = format!("{} {}", view.usager.given_name, view.usager.family_name);
    let facts = AttestationFacts {
        mandate_id: &view.mandate.id,
        usager_name: &name,
        usager_birthdate: &view.usager.birthdate,
        usager_gender: &view.usager.gender,
        structure: &s.name,
        siret: &s.siret,
        structure_address: &s.address,
        aidant_name: &view.aidant_name,
        demarches,
        created_at: view.mandate.created_at,
        expires_at: view.mandate.expires_at,
    };
    let version = view.mandate.attestation_version.clone();
    let text = attestation_text_of(&version, &facts).unwrap_or_default();
    let blocks = if version == rules::ATTESTATION_V2 {
        crate::domain::attestation::blocks(&facts)
    } else {
        Vec::new()
    };
    Ok(AttestationDocument {
        version,
        text,
        blocks,
        structure: s,
    })
}

/// Deletes consent requests expired before `before` (housekeeping).
pub fn purge_requests(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(consent_requests::table.filter(consent_requests::expires_at.lt(before)))
        .execute(conn)
}

#[cfg(test)]
mod callback_tests {
    use super::*;

    fn request() -> ConsentRequest {
        ConsentRequest {
            id: "r".into(),
            state_hash: String::new(),
            session_hash: "s1".into(),
            secrets_enc: String::new(),
            structure_id: "st".into(),
            aidant_id: "a1".into(),
            demarches: "social".into(),
            duration: "SHORT".into(),
            status: ConsentStatus::Callback,
            identity_enc: None,
            created_at: NaiveDateTime::default(),
            expires_at: NaiveDateTime::default(),
            renewal_of: None,
        }
    }

    fn fresh() -> Taken {
        Taken::Fresh(
            request(),
            FlowSecrets {
                nonce: "n".into(),
                pkce_verifier: "v".into(),
            },
        )
    }

    fn by(session: &str, user: Option<&str>) -> CallbackBy {
        CallbackBy {
            session_hash: session.into(),
            user_id: user.map(str::to_string),
        }
    }

    fn reason(t: &Taken, b: &CallbackBy, q: &CallbackParams) -> Option<&'static str> {
        check_callback(t, b, q, "https://fc.example/")
            .err()
            .map(|(r, _)| r)
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_naive_utc_and_offset(NaiveDateTime::default(), Utc)
            + Duration::minutes(minutes)
    }

    #[test]
    fn dead_ends_send_the_aidant_back_to_the_form_only_for_their_own_request() {
        let mut r = request();
        r.expires_at = at(15).naive_utc();
        let mine = by("s1", Some("a1"));
        let restart = |r: &ConsentRequest, b: &CallbackBy, now, reason: &str| match restart_or(
            r,
            b,
            now,
            reason,
            "refus".into(),
        ) {
            Callback::Restart { reason, .. } => Some(reason),
            Callback::Failed(m) => {
                assert_eq!(m, "refus");
                None
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            restart(&r, &mine, at(1), "access_denied"),
            Some(DeadEnd::Cancelled)
        );
        assert_eq!(
            restart(&r, &mine, at(1), "replayed_state"),
            Some(DeadEnd::Used)
        );
        assert_eq!(
            restart(&r, &mine, at(15), "replayed_state"),
            Some(DeadEnd::Expired)
        );
        for kept in ["session_mismatch", "issuer_mismatch", "provider_error"] {
            assert_eq!(restart(&r, &mine, at(1), kept), None, "{kept}");
        }
        // Another aidant's browser is not sent to this request's choices.
        assert_eq!(
            restart(&r, &by("s2", Some("a2")), at(1), "access_denied"),
            None
        );
        assert_eq!(restart(&r, &by("s1", None), at(1), "replayed_state"), None);
        // The consent page: expired first, then used.
        r.status = ConsentStatus::PendingConsent;
        assert_eq!(dead_end_of(&r, "a1", at(1)), None);
        assert_eq!(dead_end_of(&r, "a1", at(15)), Some(DeadEnd::Expired));
        assert_eq!(dead_end_of(&r, "a2", at(15)), None);
        r.status = ConsentStatus::Done;
        assert_eq!(dead_end_of(&r, "a1", at(16)), Some(DeadEnd::Used));
        r.status = ConsentStatus::Failed;
        assert_eq!(dead_end_of(&r, "a1", at(1)), Some(DeadEnd::Used));
        assert_eq!(dead_end_of(&r, "a1", at(16)), Some(DeadEnd::Expired));
        for d in [DeadEnd::Cancelled, DeadEnd::Expired, DeadEnd::Used] {
            assert_eq!(DeadEnd::parse(d.code()), Some(d));
        }
        assert_eq!(DeadEnd::parse("autre"), None);
    }

    #[test]
    fn a_renewal_is_for_the_same_franceconnect_account() {
        let who = |sub: &str| Identity {
            sub: sub.into(),
            given_name: "Angela".into(),
            family_name: "DUBOIS".into(),
            preferred_username: None,
            birthdate: "1962-08-24".into(),
            gender: "female".into(),
            birthplace: String::new(),
            birthcountry: "99100".into(),
            email: None,
        };
        let u = Usager {
            id: "u".into(),
            fc_sub: "sub-1".into(),
            given_name: "Angela".into(),
            family_name: "DUBOIS".into(),
            preferred_username: None,
            birthdate: "1962-08-24".into(),
            gender: "female".into(),
            birthplace: String::new(),
            birthcountry: "99100".into(),
            email: None,
            created_at: NaiveDateTime::default(),
            updated_at: NaiveDateTime::default(),
        };
        assert!(same_person(&u, &who("sub-1")));
        // A namesake born the same day is still another person.
        assert!(!same_person(&u, &who("sub-2")));
    }

    #[test]
    fn the_callback_outcome_is_decided_in_order() {
        let ok = CallbackParams {
            code: "c".into(),
            state: "x".into(),
            iss: Some("https://fc.example".into()),
            ..CallbackParams::default()
        };
        assert_eq!(reason(&fresh(), &by("s1", Some("a1")), &ok), None);
        assert_eq!(
            reason(&Taken::Replayed(request()), &by("s1", Some("a1")), &ok),
            Some("replayed_state")
        );
        for (session, user) in [("s2", Some("a1")), ("s1", Some("a2")), ("s1", None)] {
            assert_eq!(
                reason(&fresh(), &by(session, user), &ok),
                Some("session_mismatch"),
                "{session} {user:?}"
            );
        }
        let other_iss = CallbackParams {
            iss: Some("https://evil.example".into()),
            ..ok.clone()
        };
        let cancelled = CallbackParams {
            error: "access_denied".into(),
            ..ok.clone()
        };
        let failed = CallbackParams {
            error: "server_error".into(),
            ..ok
        };
        for (params, expected) in [
            (other_iss, "issuer_mismatch"),
            (cancelled, "access_denied"),
            (failed, "provider_error"),
        ] {
            assert_eq!(
                reason(&fresh(), &by("s1", Some("a1")), &params),
                Some(expected)
            );
        }
    }

    #[test]
    fn the_way_back_from_sign_out_needs_the_state_this_session_sent() {
        let pending = PendingSignOut {
            state_hash: sha256_hex(b"the-state"),
            request: "r".into(),
            restart: None,
        };
        assert_eq!(
            check_sign_out_return(Some(&pending), "the-state"),
            SignedOut::Consent("r".into())
        );
        for (given, state) in [
            (Some(&pending), "another-state"),
            (Some(&pending), ""),
            (None, "the-state"),
        ] {
            let back = given.map(|p| p.request.clone());
            assert!(
                matches!(check_sign_out_return(given, state), SignedOut::Refused(_, b) if b == back),
                "{state:?}"
            );
        }
    }
}

#[cfg(test)]
mod revocation_tests {
    use super::*;

    fn auth(
        id: &str,
        demarche: &str,
        state: AuthorisationState,
    ) -> (Authorisation, AuthorisationState) {
        let a = Authorisation {
            id: id.into(),
            mandate_id: "m".into(),
            demarche: demarche.into(),
            revoked_at: None,
            revoked_reason: None,
            revoked_by: None,
        };
        (a, state)
    }

    #[test]
    fn a_revocation_ends_the_active_authorisations_or_the_one_named() {
        use AuthorisationState::*;
        let auths = [
            auth("a1", "social", Active),
            auth("a2", "logement", Revoked),
            auth("a3", "travail", Active),
        ];
        let ids = |r: Vec<(String, String)>| r.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(decide_revocation(&auths, None).unwrap()), ["a1", "a3"]);
        assert_eq!(ids(decide_revocation(&auths, Some("a3")).unwrap()), ["a3"]);
        assert!(matches!(
            decide_revocation(&auths, Some("a2")),
            Err(Error::NotActive)
        ));
        assert!(matches!(
            decide_revocation(&auths, Some("zz")),
            Err(Error::NotActive)
        ));
        let over = [
            auth("a1", "social", Expired),
            auth("a2", "logement", Superseded),
        ];
        assert!(matches!(
            decide_revocation(&over, None),
            Err(Error::NotActive)
        ));
    }
}

#[cfg(test)]
mod offered_tests {
    use super::*;
    use rules::DemarcheSet;

    #[test]
    fn only_the_structures_demarches_may_be_chosen() {
        let some = DemarcheSet::parse(&["social", "logement"]).expect("set");
        let chosen = |codes: &[&str]| rules::parse_demarches(codes).expect("codes");
        for (offered, codes, ok) in [
            (&DemarcheSet::All, &["papiers", "social"][..], true),
            (&some, &["social"][..], true),
            (&some, &["logement", "social"][..], true),
            (&some, &["social", "papiers"][..], false),
            (&some, &["papiers"][..], false),
        ] {
            let r = check_offered(offered, &chosen(codes));
            assert_eq!(r.is_ok(), ok, "{codes:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("Papiers"), "{e}");
            }
        }
    }
}
