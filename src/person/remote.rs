//! Remote consent: the aidant asks for a mandate from the creation form ("À distance"),
//! the person receives a single-use link by e-mail, logs in with FranceConnect, reads the
//! consent page and consents or refuses. The identity FranceConnect proves must be the
//! one the aidant entered; the mandate exists only once the person consented.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::sessions;
use crate::accounts::Acting;
use crate::crypto::{new_token, sha256_hex, SecretBox};
use crate::domain::identity::{FlowSecrets, Identity};
use crate::domain::mandate::{self as rules, Demarche, MandateDuration};
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::mandates::{self, ConsentMode, Created};
use crate::store::schema::remote_consents;
use crate::store::{write_tx, DbConn};

/// How long the link sent to the person stays valid.
pub const VALIDITY_HOURS: i64 = 24;

/// Remote requests an aidant may send in [`VALIDITY_HOURS`]: each is an e-mail from the
/// service to an address the aidant typed, so an account (or a stolen one) must not
/// turn the service into a mass mailer.
pub const REQUESTS_PER_AIDANT: i64 = 30;

crate::text_enum! {
    /// Where a remote consent request stands, stored as text.
    pub enum RemoteStatus {
        /// Sent; the link has not been used.
        Pending = "pending",
        /// The link was used: a FranceConnect login started (the link is spent).
        Opened = "opened",
        /// FranceConnect proved the expected identity; the answer is awaited.
        Identified = "identified",
        /// The person consented: the mandate exists.
        Consented = "consented",
        /// The person refused.
        Refused = "refused",
        /// FranceConnect proved another identity than the one the aidant entered.
        Mismatch = "identity_mismatch",
        /// Not answered within 24 hours.
        Expired = "expired",
    }
}

impl RemoteStatus {
    /// True when nothing can happen to the request any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RemoteStatus::Consented
                | RemoteStatus::Refused
                | RemoteStatus::Mismatch
                | RemoteStatus::Expired
        )
    }

    /// The state as the aidant reads it.
    pub fn label(self) -> &'static str {
        match self {
            RemoteStatus::Pending | RemoteStatus::Opened | RemoteStatus::Identified => "en attente",
            RemoteStatus::Consented => "consenti",
            RemoteStatus::Refused => "refusé",
            RemoteStatus::Mismatch => "identité différente",
            RemoteStatus::Expired => "expiré",
        }
    }
}

/// What happens to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The person uses the link (a FranceConnect login starts).
    Open,
    /// FranceConnect proved an identity: the expected one or not.
    Identify {
        /// The identity matches what the aidant entered.
        matches: bool,
    },
    /// The person consents.
    Consent,
    /// The person refuses.
    Refuse,
    /// The housekeeping finds it (expiry only).
    Sweep,
}

/// Why an event cannot apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request is closed (consented, refused, mismatched or expired).
    Closed(RemoteStatus),
    /// The event does not apply in this state (a link used twice, a consent before
    /// the identity is proven).
    OutOfOrder(RemoteStatus),
}

/// The next state of a request (pure). A request still open past its expiry expires,
/// whatever the event.
pub fn transition(
    from: RemoteStatus,
    event: Event,
    expired: bool,
) -> Result<RemoteStatus, Refusal> {
    use RemoteStatus::*;
    if from.is_final() {
        return Err(Refusal::Closed(from));
    }
    if expired {
        return Ok(Expired);
    }
    match (from, event) {
        (Pending, Event::Open) => Ok(Opened),
        (Opened, Event::Identify { matches: true }) => Ok(Identified),
        (Opened, Event::Identify { matches: false }) => Ok(Mismatch),
        (Identified, Event::Consent) => Ok(Consented),
        (Identified, Event::Refuse) => Ok(Refused),
        (s, _) => Err(Refusal::OutOfOrder(s)),
    }
}

/// The identity the aidant entered, and where to send the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// The person's e-mail.
    pub email: String,
    /// Family name.
    pub family_name: String,
    /// Given names (the first one is compared).
    pub given_name: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birthdate: String,
}

impl Expected {
    /// "Given names FAMILY NAME".
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// Reads the remote fields of the creation form (pure); the French message names the
/// field to correct.
pub fn parse_expected(
    email: &str,
    family_name: &str,
    given_name: &str,
    birthdate: &str,
    today: NaiveDate,
) -> Result<Expected, String> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || !crate::mail::valid_address(&email) {
        return Err("Indiquez l’adresse électronique de la personne (par exemple prenom.nom@exemple.fr) : le lien de consentement lui sera envoyé.".into());
    }
    let clean = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (family_name, given_name) = (clean(family_name), clean(given_name));
    // Letters (with their combining accents), spaces, hyphens and apostrophes only: the
    // names go into an e-mail sent by the service, where a link or a sentence would read
    // as the service's own words.
    let fine = |s: &str| {
        !s.is_empty()
            && s.chars().count() <= 100
            && s.chars().any(char::is_alphabetic)
            && s.chars().all(|c| {
                c.is_alphabetic()
                    || matches!(c, ' ' | '-' | '\'' | '’' | 'ʼ' | '\u{300}'..='\u{36f}')
            })
    };
    if !fine(&family_name) {
        return Err("Indiquez le nom de naissance de la personne, tel qu’il figure sur ses papiers (100 caractères au plus : lettres, espaces, traits d’union et apostrophes).".into());
    }
    if !fine(&given_name) {
        return Err("Indiquez le ou les prénoms de la personne, tels qu’ils figurent sur ses papiers (100 caractères au plus : lettres, espaces, traits d’union et apostrophes).".into());
    }
    let date = birthdate.trim();
    let parsed = (date.len() == 10)
        .then(|| NaiveDate::parse_from_str(date, "%Y-%m-%d").ok())
        .flatten();
    match parsed {
        Some(d) if d <= today && d >= NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(d) => {}
        _ => return Err("Indiquez la date de naissance de la personne au format AAAA-MM-JJ (par exemple 1962-08-24), une date passée.".into()),
    }
    Ok(Expected {
        email,
        family_name,
        given_name,
        birthdate: date.to_string(),
    })
}

/// A name folded for comparison (pure): lowercase, accents and ligatures removed,
/// apostrophes unified, spaces collapsed.
pub fn fold_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => out.push('a'),
            'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => out.push('c'),
            'ď' | 'đ' => out.push('d'),
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => out.push('e'),
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => out.push('g'),
            'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => out.push('i'),
            'ñ' | 'ń' | 'ň' | 'ņ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => out.push('o'),
            'ś' | 'š' | 'ş' | 'ŝ' => out.push('s'),
            'ť' | 'ţ' => out.push('t'),
            'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => out.push('u'),
            'ý' | 'ÿ' | 'ŷ' => out.push('y'),
            'ź' | 'ż' | 'ž' => out.push('z'),
            'ł' => out.push('l'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            '’' | '‘' | 'ʼ' | '`' => out.push('\''),
            // Combining accents (a name typed in decomposed form).
            '\u{300}'..='\u{36f}' => {}
            c => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True when FranceConnect's birth date agrees with the one entered (pure). A presumed
/// date from FranceConnect (`00` month or day) agrees on what it states.
pub fn birthdate_matches(entered: &str, proven: &str) -> bool {
    let parts = |s: &str| -> Option<(String, String, String)> {
        let mut it = s.trim().split('-');
        let (y, m, d) = (it.next()?, it.next()?, it.next()?);
        (it.next().is_none()).then(|| (y.to_string(), m.to_string(), d.to_string()))
    };
    match (parts(entered), parts(proven)) {
        (Some((y1, m1, d1)), Some((y2, m2, d2))) => {
            y1 == y2 && (m2 == "00" || m1 == m2) && (d2 == "00" || d1 == d2)
        }
        _ => false,
    }
}

/// True when the identity FranceConnect proved is the one the aidant entered (pure):
/// same family name and birth date, and the same first given name, compared without
/// case, accents or extra spaces.
pub fn identity_matches(expected: &Expected, proven: &Identity) -> bool {
    let first = |s: &str| {
        fold_name(s)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let family = fold_name(&expected.family_name);
    !family.is_empty()
        && family == fold_name(&proven.family_name)
        && !first(&expected.given_name).is_empty()
        && first(&expected.given_name) == first(&proven.given_name)
        && birthdate_matches(&expected.birthdate, &proven.birthdate)
}

/// A request row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = remote_consents)]
pub struct RemoteRequest {
    /// Id.
    pub id: String,
    /// SHA-256 of the link's token.
    pub token_hash: String,
    /// Structure.
    pub structure_id: String,
    /// Aidant who asked.
    pub aidant_id: String,
    /// Démarche codes, comma-separated.
    pub demarches: String,
    /// Duration code.
    pub duration: String,
    /// Sealed [`Expected`].
    pub expected_enc: String,
    /// Sealed identity proven by FranceConnect, while the answer is awaited.
    pub identity_enc: Option<String>,
    /// SHA-256 of the person's session allowed to answer.
    pub session_hash: Option<String>,
    /// Where it stands.
    #[diesel(deserialize_as = String)]
    pub status: RemoteStatus,
    /// The mandate created by the consent.
    pub mandate_id: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// End of the link's validity.
    pub expires_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl RemoteRequest {
    /// Parsed démarches.
    pub fn demarche_list(&self) -> Vec<&'static Demarche> {
        let codes: Vec<&str> = self.demarches.split(',').collect();
        rules::parse_demarches(&codes).unwrap_or_default()
    }

    /// Parsed duration.
    pub fn duration(&self) -> MandateDuration {
        MandateDuration::parse(&self.duration).unwrap_or(MandateDuration::Short)
    }

    /// True when past its validity at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now.naive_utc()
    }

    /// The identity the aidant entered.
    pub fn expected(&self, secrets: &SecretBox) -> Result<Expected, Error> {
        serde_json::from_slice(&secrets.open(&format!("remote:{}", self.id), &self.expected_enc)?)
            .map_err(|_| Error::RequestInvalid)
    }

    /// The identity FranceConnect proved, while the answer is awaited.
    pub fn identity(&self, secrets: &SecretBox) -> Result<Identity, Error> {
        let enc = self.identity_enc.as_deref().ok_or(Error::RequestInvalid)?;
        serde_json::from_slice(&secrets.open(&format!("remote-identity:{}", self.id), enc)?)
            .map_err(|_| Error::RequestInvalid)
    }
}

/// A remote request about to be recorded.
#[derive(Debug, Clone)]
pub struct NewRemote {
    /// The aidant, acting for its current structure.
    pub by: Acting,
    /// Démarches chosen.
    pub demarches: Vec<&'static Demarche>,
    /// Duration chosen.
    pub duration: MandateDuration,
    /// The person as the aidant entered them.
    pub expected: Expected,
}

fn load(conn: &mut DbConn, id: &str) -> QueryResult<Option<RemoteRequest>> {
    remote_consents::table
        .filter(remote_consents::id.eq(id))
        .select(RemoteRequest::as_select())
        .first(conn)
        .optional()
}

fn by_token(conn: &mut DbConn, token: &str) -> QueryResult<Option<RemoteRequest>> {
    if token.len() != 43 {
        return Ok(None);
    }
    remote_consents::table
        .filter(remote_consents::token_hash.eq(sha256_hex(token.as_bytes())))
        .select(RemoteRequest::as_select())
        .first(conn)
        .optional()
}

fn set_status(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    r: &RemoteRequest,
    to: RemoteStatus,
) -> Result<(), Error> {
    // The status read is the guard: a concurrent change of the same request moves nothing.
    let moved = diesel::update(
        remote_consents::table
            .filter(remote_consents::id.eq(&r.id))
            .filter(remote_consents::status.eq(r.status.as_str())),
    )
    .set((
        remote_consents::status.eq(to.as_str()),
        remote_consents::updated_at.eq(now.naive_utc()),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Err(Error::RequestInvalid);
    }
    if to.is_final() {
        diesel::update(remote_consents::table.filter(remote_consents::id.eq(&r.id)))
            .set(remote_consents::identity_enc.eq(None::<String>))
            .execute(conn)?;
    }
    Ok(())
}

fn entry(action: &str, r: &RemoteRequest) -> NewEntry {
    NewEntry::new(action)
        .structure(&r.structure_id)
        .detail("request", r.id.as_str())
}

/// Marks an open request expired and journals `mandate.remote_consent_expired`.
fn expire(conn: &mut DbConn, now: DateTime<Utc>, r: &RemoteRequest) -> Result<(), Error> {
    set_status(conn, now, r, RemoteStatus::Expired)?;
    journal::append(
        conn,
        now,
        entry("mandate.remote_consent_expired", r).actor("system"),
    )?;
    Ok(())
}

fn day_time(t: &NaiveDateTime) -> String {
    crate::domain::french::day_and_time(*t)
}

/// Records a remote request, journals `mandate.remote_consent_requested` (ids only) and
/// queues the e-mail with the link (`usager.remote_consent`), in one transaction; the
/// request id. `url` makes an absolute URL of a path.
pub fn request(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    url: &dyn Fn(&str) -> String,
    r: &NewRemote,
) -> Result<String, Error> {
    write_tx(conn, |c| {
        let structure = crate::accounts::structures::by_id(c, &r.by.structure_id)?
            .ok_or(Error::UnknownStructure)?;
        mandates::check_offered(&structure.demarches(), &r.demarches)?;
        let aidant = crate::accounts::users::find(c, &r.by.user_id)?.ok_or(Error::NotFound)?;
        crate::accounts::accreditation::require(&aidant, now)?;
        let sent: i64 = remote_consents::table
            .filter(remote_consents::aidant_id.eq(&aidant.id))
            .filter(
                remote_consents::created_at.gt((now - Duration::hours(VALIDITY_HOURS)).naive_utc()),
            )
            .count()
            .get_result(c)?;
        if sent >= REQUESTS_PER_AIDANT {
            return Err(Error::Invalid(format!(
                "Vous avez envoyé {REQUESTS_PER_AIDANT} demandes de consentement à distance en 24 heures, le plus possible : recueillez le consentement en présence, ou réessayez plus tard."
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let token = new_token();
        let sealed = secrets.seal(
            &format!("remote:{id}"),
            serde_json::to_string(&r.expected)
                .unwrap_or_default()
                .as_bytes(),
        )?;
        let codes: Vec<&str> = r.demarches.iter().map(|d| d.code).collect();
        let expires = now + Duration::hours(VALIDITY_HOURS);
        diesel::insert_into(remote_consents::table)
            .values((
                remote_consents::id.eq(&id),
                remote_consents::token_hash.eq(sha256_hex(token.as_bytes())),
                remote_consents::structure_id.eq(&structure.id),
                remote_consents::aidant_id.eq(&aidant.id),
                remote_consents::demarches.eq(codes.join(",")),
                remote_consents::duration.eq(r.duration.code()),
                remote_consents::expected_enc.eq(sealed),
                remote_consents::status.eq(RemoteStatus::Pending.as_str()),
                remote_consents::created_at.eq(now.naive_utc()),
                remote_consents::expires_at.eq(expires.naive_utc()),
                remote_consents::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)?;
        journal::append(
            c,
            now,
            NewEntry::new("mandate.remote_consent_requested")
                .actor(r.by.actor())
                .structure(&structure.id)
                .detail("request", id.as_str())
                .detail("demarches", codes)
                .detail("duration", r.duration.code())
                .detail("expires_at", journal::format_time(&expires.naive_utc())),
        )?;
        let lines: Vec<String> = r
            .demarches
            .iter()
            .map(|d| format!("- {} : {}", d.label, d.description))
            .collect();
        let text = format!(
            "Bonjour {name},\n\n\
             {aidant}, aidant de la structure {structure}, vous propose un mandat pour faire en votre nom les démarches suivantes :\n{lines}\n\n\
             Durée : {duration}.\n\n\
             Pour lire les conditions du mandat, puis l’accepter ou le refuser, ouvrez ce lien et connectez-vous avec FranceConnect :\n{link}\n\n\
             Ce lien est personnel et ne sert qu’une fois. Il expire le {end}.\n\n\
             Si vous ne connaissez pas cette structure, ne faites rien : aucun mandat n’est créé sans votre accord.",
            name = r.expected.display_name(),
            aidant = aidant.name,
            structure = structure.name,
            lines = lines.join("\n"),
            duration = r.duration.label(),
            link = url(&format!("/consentement/{token}")),
            end = day_time(&expires.naive_utc()),
        );
        crate::mail::enqueue(
            c,
            now,
            &crate::mail::Mail {
                kind: "usager.remote_consent",
                to: r.expected.email.clone(),
                subject: format!("Demande de mandat de {}", structure.name),
                text,
                usager: None,
                structure: Some(structure.id.clone()),
            },
        )?;
        Ok(id)
    })
}

/// What a link leads to.
#[derive(Debug)]
pub enum Link {
    /// Usable: the request, its structure's and aidant's names.
    Usable(Box<RemoteRequest>, String, String),
    /// Already used (a login started), or answered.
    Used,
    /// Past its 24 hours (journaled when first found so).
    Expired,
    /// No such link.
    Unknown,
}

/// The landing page of a link (`GET /consentement/<token>`), in one transaction: what
/// the link leads to (an open request found past its expiry is closed and journaled)
/// and, when usable, the browser's session before login that its form posts with (a new
/// one: `Some(cookie token)`).
#[allow(clippy::type_complexity)]
pub fn landing(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
    browser_token: Option<&str>,
) -> Result<(Link, Option<(Option<String>, sessions::UsagerSession)>), Error> {
    write_tx(conn, |c| {
        let link = look_in(c, now, token)?;
        let session = match link {
            Link::Usable(..) => Some(sessions::pre_login_in(c, now, browser_token)?),
            _ => None,
        };
        Ok((link, session))
    })
}

/// What a link leads to, in the caller's transaction; an open request found past its
/// expiry is closed and journaled.
fn look_in(conn: &mut DbConn, now: DateTime<Utc>, token: &str) -> Result<Link, Error> {
    {
        let c = conn;
        let Some(r) = by_token(c, token)? else {
            return Ok(Link::Unknown);
        };
        match transition(r.status, Event::Open, r.expired(now)) {
            Ok(RemoteStatus::Expired) => {
                expire(c, now, &r)?;
                Ok(Link::Expired)
            }
            Ok(_) => {
                let structure = crate::accounts::structures::by_id(c, &r.structure_id)?
                    .map(|s| s.name)
                    .unwrap_or_default();
                let aidant = crate::accounts::users::find(c, &r.aidant_id)?
                    .map(|u| u.name)
                    .unwrap_or_default();
                Ok(Link::Usable(Box::new(r), structure, aidant))
            }
            Err(Refusal::Closed(RemoteStatus::Expired)) => Ok(Link::Expired),
            Err(_) => Ok(Link::Used),
        }
    }
}

/// Uses a link (`POST /consentement/<token>`), in one transaction: the request is spent
/// (journaled `mandate.remote_consent_opened`) and the FranceConnect login under way is
/// recorded in the browser's session `session_hash`. Anything but [`Link::Usable`] is
/// refused with nothing changed (but an expiry, journaled).
pub fn open(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    token: &str,
    session_hash: &str,
    state: &str,
    flow: &FlowSecrets,
) -> Result<Link, Error> {
    write_tx(conn, |c| {
        let Some(r) = by_token(c, token)? else {
            return Ok(Link::Unknown);
        };
        match transition(r.status, Event::Open, r.expired(now)) {
            Ok(RemoteStatus::Expired) => {
                expire(c, now, &r)?;
                Ok(Link::Expired)
            }
            Ok(next) => {
                set_status(c, now, &r, next)?;
                sessions::begin_login_in(c, now, secrets, session_hash, state, flow, Some(&r.id))?;
                journal::append(
                    c,
                    now,
                    entry("mandate.remote_consent_opened", &r).actor("system"),
                )?;
                Ok(Link::Usable(Box::new(r), String::new(), String::new()))
            }
            Err(Refusal::Closed(RemoteStatus::Expired)) => Ok(Link::Expired),
            Err(_) => Ok(Link::Used),
        }
    })
}

/// What FranceConnect's answer did to a remote request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identified {
    /// The expected person: the answer is awaited in this session.
    Expected,
    /// Another person: refused, journaled.
    Mismatch,
    /// Past its validity: closed, journaled.
    Expired,
    /// Not waiting for a login (answered, or another browser's).
    Invalid,
}

/// Checks the identity proven by FranceConnect against the request `id`, in the
/// caller's transaction: the expected person's identity is kept (sealed) for the consent
/// page, bound to the session `session_hash`; another person's closes the request
/// (`mandate.remote_consent_identity_mismatch`, ids only).
pub fn identify_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    id: &str,
    proven: &Identity,
    session_hash: &str,
) -> Result<Identified, Error> {
    let Some(r) = load(conn, id)? else {
        return Ok(Identified::Invalid);
    };
    let matches = identity_matches(&r.expected(secrets)?, proven);
    match transition(r.status, Event::Identify { matches }, r.expired(now)) {
        Ok(RemoteStatus::Expired) => {
            expire(conn, now, &r)?;
            Ok(Identified::Expired)
        }
        Ok(RemoteStatus::Mismatch) => {
            set_status(conn, now, &r, RemoteStatus::Mismatch)?;
            journal::append(
                conn,
                now,
                entry("mandate.remote_consent_identity_mismatch", &r).actor("system"),
            )?;
            Ok(Identified::Mismatch)
        }
        Ok(next) => {
            set_status(conn, now, &r, next)?;
            let sealed = secrets.seal(
                &format!("remote-identity:{}", r.id),
                serde_json::to_string(proven).unwrap_or_default().as_bytes(),
            )?;
            diesel::update(remote_consents::table.filter(remote_consents::id.eq(&r.id)))
                .set((
                    remote_consents::identity_enc.eq(Some(sealed)),
                    remote_consents::session_hash.eq(Some(session_hash)),
                ))
                .execute(conn)?;
            journal::append(
                conn,
                now,
                entry("mandate.remote_consent_identified", &r).actor("system"),
            )?;
            Ok(Identified::Expected)
        }
        Err(_) => Ok(Identified::Invalid),
    }
}

/// A request awaiting the answer of the person logged in with session `session_hash`.
pub struct Awaiting {
    /// The request.
    pub request: RemoteRequest,
    /// The identity FranceConnect proved.
    pub identity: Identity,
    /// The structure's name.
    pub structure: String,
    /// The aidant's name.
    pub aidant: String,
}

fn awaiting_in(
    conn: &mut DbConn,
    secrets: &SecretBox,
    id: &str,
    session_hash: &str,
) -> Result<RemoteRequest, Error> {
    let r = load(conn, id)?.ok_or(Error::RequestInvalid)?;
    if r.session_hash.as_deref() != Some(session_hash) {
        return Err(Error::RequestInvalid);
    }
    r.expected(secrets)?;
    Ok(r)
}

/// The request the session answers, for the consent page (read only).
pub fn awaiting(
    conn: &mut DbConn,
    secrets: &SecretBox,
    id: &str,
    session_hash: &str,
) -> Result<Awaiting, Error> {
    crate::store::read_tx(conn, |c| {
        let r = awaiting_in(c, secrets, id, session_hash)?;
        if r.status != RemoteStatus::Identified {
            return Err(Error::Gone(closed_message(r.status)));
        }
        let identity = r.identity(secrets)?;
        let structure = crate::accounts::structures::by_id(c, &r.structure_id)?
            .map(|s| s.name)
            .unwrap_or_default();
        let aidant = crate::accounts::users::find(c, &r.aidant_id)?
            .map(|u| u.name)
            .unwrap_or_default();
        Ok(Awaiting {
            request: r,
            identity,
            structure,
            aidant,
        })
    })
}

/// The French explanation of a closed or spent request, with what to do next.
pub fn closed_message(s: RemoteStatus) -> String {
    match s {
        RemoteStatus::Consented => "Vous avez déjà donné votre accord : le mandat existe. Vous le retrouvez dans votre espace personnel.".into(),
        RemoteStatus::Refused => "Vous avez refusé cette demande de mandat : elle est close. Si vous avez changé d’avis, demandez à la structure de vous envoyer une nouvelle demande.".into(),
        RemoteStatus::Mismatch => "L’identité FranceConnect ne correspond pas à la personne pour qui la demande a été faite : aucun mandat n’a été créé. Contactez la structure pour vérifier vos nom, prénoms et date de naissance ; elle pourra vous envoyer une nouvelle demande.".into(),
        RemoteStatus::Expired => "Cette demande de mandat a expiré (elle était valable 24 heures) : aucun mandat n’a été créé. Demandez à la structure de vous envoyer une nouvelle demande.".into(),
        _ => "Ce lien a déjà été utilisé : il ne sert qu’une fois. Aucun mandat n’a été créé. Demandez à la structure de vous envoyer une nouvelle demande.".into(),
    }
}

/// The person's answer.
#[derive(Debug)]
pub enum Answered {
    /// Consented: the mandate.
    Consented(Box<Created>),
    /// Refused, journaled.
    Refused,
    /// Too late: closed, journaled.
    Expired,
    /// The aidant who asked can no longer act for the structure: closed, journaled.
    Void,
}

/// True when the aidant who sent the request can still act for its structure, with
/// rights that date from before the request (read in the caller's transaction).
fn requester_may_act(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    r: &RemoteRequest,
) -> Result<bool, Error> {
    let rights = crate::accounts::users::acting_rights(
        conn,
        &crate::accounts::Acting::new(&r.aidant_id, &r.structure_id),
    )?;
    Ok(rights.is_some_and(|x| x.since <= r.created_at && x.accredited_at(now)))
}

/// The answer of the person logged in with session `session_hash` to the request `id`,
/// in one transaction: a consent creates the mandate (`mandate.created`, `consent:
/// "distance"`) and closes the request; a refusal closes it
/// (`mandate.remote_consent_refused`); a late answer expires it.
pub fn answer(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    id: &str,
    session_hash: &str,
    consent: bool,
    langue: Option<crate::i18n::Lang>,
) -> Result<Answered, Error> {
    write_tx(conn, |c| {
        let r = awaiting_in(c, secrets, id, session_hash)?;
        let event = if consent {
            Event::Consent
        } else {
            Event::Refuse
        };
        match transition(r.status, event, r.expired(now)) {
            Ok(RemoteStatus::Expired) => {
                expire(c, now, &r)?;
                sessions::forget_remote_in(c, session_hash)?;
                Ok(Answered::Expired)
            }
            Ok(RemoteStatus::Consented) => {
                // The mandate is made in the name of the aidant who asked: he must still
                // be able to act for the structure, with the rights he had when he asked
                // (a deactivation voids what was issued before, even once reactivated).
                if !requester_may_act(c, now, &r)? {
                    set_status(c, now, &r, RemoteStatus::Expired)?;
                    journal::append(
                        c,
                        now,
                        entry("mandate.remote_consent_expired", &r)
                            .actor("system")
                            .detail("reason", "aidant_rights"),
                    )?;
                    sessions::forget_remote_in(c, session_hash)?;
                    return Ok(Answered::Void);
                }
                let identity = r.identity(secrets)?;
                // The manager may have restricted the structure's démarches since.
                let offered = crate::accounts::structures::by_id(c, &r.structure_id)?
                    .ok_or(Error::UnknownStructure)?
                    .demarches();
                mandates::check_offered(&offered, &r.demarche_list())?;
                set_status(c, now, &r, RemoteStatus::Consented)?;
                let created = mandates::create_mandate_with(
                    c,
                    now,
                    &format!("user:{}", r.aidant_id),
                    &r.aidant_id,
                    &r.structure_id,
                    &identity,
                    &r.demarche_list(),
                    r.duration(),
                    &mandates::Consent::new(ConsentMode::Distance).in_language(langue),
                )?;
                diesel::update(remote_consents::table.filter(remote_consents::id.eq(&r.id)))
                    .set(remote_consents::mandate_id.eq(Some(&created.mandate.id)))
                    .execute(c)?;
                // The person's own act, tied to the request: `mandate.created` names the
                // aidant, and the request row is purged after 30 days.
                let usager_id = &created.mandate.usager_id;
                journal::append(
                    c,
                    now,
                    entry("mandate.remote_consent_given", &r)
                        .detail("langue", crate::i18n::journal_code(langue))
                        .actor(format!("usager:{usager_id}"))
                        .usager(usager_id)
                        .mandate(&created.mandate.id),
                )?;
                sessions::attach_usager_in(c, session_hash, usager_id)?;
                Ok(Answered::Consented(Box::new(created)))
            }
            Ok(_) => {
                set_status(c, now, &r, RemoteStatus::Refused)?;
                let identity = r.identity(secrets)?;
                let known = mandates::usager_by_sub(c, &identity.sub)?;
                let mut e = entry("mandate.remote_consent_refused", &r)
                    .detail("langue", crate::i18n::journal_code(langue));
                e = match &known {
                    Some(u) => e.actor(format!("usager:{}", u.id)).usager(&u.id),
                    None => e.actor("usager"),
                };
                journal::append(c, now, e)?;
                sessions::forget_remote_in(c, session_hash)?;
                Ok(Answered::Refused)
            }
            Err(Refusal::Closed(s)) | Err(Refusal::OutOfOrder(s)) => {
                Err(Error::Gone(closed_message(s)))
            }
        }
    })
}

/// Closes the open requests past their validity, each journaled
/// (`mandate.remote_consent_expired`), in the caller's transaction (housekeeping).
pub fn expire_due_in(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, Error> {
    let open = [
        RemoteStatus::Pending.as_str(),
        RemoteStatus::Opened.as_str(),
        RemoteStatus::Identified.as_str(),
    ];
    let due: Vec<RemoteRequest> = remote_consents::table
        .filter(remote_consents::status.eq_any(open))
        .filter(remote_consents::expires_at.le(now.naive_utc()))
        .select(RemoteRequest::as_select())
        .limit(1000)
        .load(conn)?;
    for r in &due {
        expire(conn, now, r)?;
    }
    Ok(due.len())
}

/// Days a closed request (and the identity the aidant entered, sealed) stays for the
/// aidant's list; the journal keeps its entries by id.
pub const KEEP_CLOSED_DAYS: i64 = 30;

/// Deletes the requests closed before `before` (housekeeping), in the caller's
/// transaction.
pub fn purge_closed_in(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    let closed = [
        RemoteStatus::Consented.as_str(),
        RemoteStatus::Refused.as_str(),
        RemoteStatus::Mismatch.as_str(),
        RemoteStatus::Expired.as_str(),
    ];
    diesel::delete(
        remote_consents::table
            .filter(remote_consents::status.eq_any(closed))
            .filter(remote_consents::updated_at.lt(before)),
    )
    .execute(conn)
}

/// A line of the aidant's list.
#[derive(Debug, Clone)]
pub struct RemoteLine {
    /// The person as the aidant entered them.
    pub person: String,
    /// Démarche labels.
    pub demarches: String,
    /// Sent on.
    pub created: String,
    /// Valid until.
    pub expires: String,
    /// The state, as the aidant reads it (an open request past its validity shows
    /// "expiré" before the housekeeping closes it).
    pub state: &'static str,
    /// The state's code.
    pub code: &'static str,
    /// The mandate, once consented.
    pub mandate_id: Option<String>,
}

/// The structure's newest remote requests, at most `limit` (read only).
pub fn of_structure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    structure_id: &str,
    limit: i64,
) -> Result<Vec<RemoteLine>, Error> {
    let rows: Vec<RemoteRequest> = crate::store::read_tx(conn, |c| {
        remote_consents::table
            .filter(remote_consents::structure_id.eq(structure_id))
            .order((
                remote_consents::created_at.desc(),
                remote_consents::id.desc(),
            ))
            .limit(limit)
            .select(RemoteRequest::as_select())
            .load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let status = if !r.status.is_final() && r.expired(now) {
                RemoteStatus::Expired
            } else {
                r.status
            };
            RemoteLine {
                person: r
                    .expected(secrets)
                    .map(|e| e.display_name())
                    .unwrap_or_default(),
                demarches: r
                    .demarche_list()
                    .iter()
                    .map(|d| d.label)
                    .collect::<Vec<_>>()
                    .join(", "),
                created: day_time(&r.created_at),
                expires: day_time(&r.expires_at),
                state: status.label(),
                code: status.as_str(),
                mandate_id: r.mandate_id.clone(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proven(given: &str, family: &str, birth: &str) -> Identity {
        Identity {
            sub: "s".into(),
            given_name: given.into(),
            family_name: family.into(),
            preferred_username: None,
            birthdate: birth.into(),
            gender: "female".into(),
            birthplace: String::new(),
            birthcountry: "99100".into(),
            email: None,
        }
    }

    fn expected(given: &str, family: &str, birth: &str) -> Expected {
        Expected {
            email: "a@exemple.fr".into(),
            family_name: family.into(),
            given_name: given.into(),
            birthdate: birth.into(),
        }
    }

    #[test]
    fn the_identity_matches_without_case_accents_or_extra_spaces() {
        let fc = proven("Angela Claire Louise", "DUBOIS", "1962-08-24");
        for (given, family, birth) in [
            ("Angela", "Dubois", "1962-08-24"),
            ("  angela  ", " dubois ", "1962-08-24"),
            ("ANGELA Claire", "DUBOIS", "1962-08-24"),
            ("Angéla", "Dûbois", "1962-08-24"),
        ] {
            assert!(
                identity_matches(&expected(given, family, birth), &fc),
                "{given} {family}"
            );
        }
        for (given, family, birth) in [
            ("Claire", "DUBOIS", "1962-08-24"),
            ("Angela", "DUBOIS-MARTIN", "1962-08-24"),
            ("Angela", "DUBOIS", "1962-08-25"),
            ("Angela", "DUBOIS", "1963-08-24"),
            ("", "DUBOIS", "1962-08-24"),
            ("Angela", "", "1962-08-24"),
        ] {
            assert!(
                !identity_matches(&expected(given, family, birth), &fc),
                "{given} {family} {birth}"
            );
        }
        let plain = proven("Marie-Thérèse Anne", "NGUYEN", "1948-03-00");
        assert!(identity_matches(
            &expected("marie-therese", "nguyen", "1948-03-12"),
            &plain
        ));
        assert!(!identity_matches(
            &expected("marie-therese", "nguyen", "1948-04-12"),
            &plain
        ));
    }

    #[test]
    fn names_fold_to_plain_lowercase() {
        assert_eq!(fold_name("  Éloïse   D’ARC "), "eloise d'arc");
        assert_eq!(fold_name("Lætitia Œdipe"), "laetitia oedipe");
        assert_eq!(fold_name("Jose\u{301}"), "jose");
    }

    #[test]
    fn presumed_birth_dates_agree_on_what_they_state() {
        assert!(birthdate_matches("1985-03-12", "1985-00-00"));
        assert!(birthdate_matches("1985-03-12", "1985-03-00"));
        assert!(!birthdate_matches("1985-03-12", "1985-04-00"));
        assert!(!birthdate_matches("1985-03-12", "1986-00-00"));
        assert!(!birthdate_matches("1985-03-12", "garbage"));
    }

    #[test]
    fn a_request_moves_only_forward_and_expires_while_open() {
        use Event::*;
        use RemoteStatus::*;
        assert_eq!(transition(Pending, Open, false), Ok(Opened));
        assert_eq!(
            transition(Opened, Identify { matches: true }, false),
            Ok(Identified)
        );
        assert_eq!(
            transition(Opened, Identify { matches: false }, false),
            Ok(Mismatch)
        );
        assert_eq!(transition(Identified, Consent, false), Ok(Consented));
        assert_eq!(transition(Identified, Refuse, false), Ok(Refused));
        // A link is used once; no consent before the identity is proven.
        assert_eq!(
            transition(Opened, Open, false),
            Err(Refusal::OutOfOrder(Opened))
        );
        assert_eq!(
            transition(Identified, Open, false),
            Err(Refusal::OutOfOrder(Identified))
        );
        assert_eq!(
            transition(Pending, Consent, false),
            Err(Refusal::OutOfOrder(Pending))
        );
        assert_eq!(
            transition(Opened, Consent, false),
            Err(Refusal::OutOfOrder(Opened))
        );
        assert_eq!(
            transition(Pending, Sweep, false),
            Err(Refusal::OutOfOrder(Pending))
        );
        // Open requests expire, whatever the event; closed ones stay closed.
        for s in [Pending, Opened, Identified] {
            for e in [Open, Consent, Refuse, Sweep, Identify { matches: true }] {
                assert_eq!(transition(s, e, true), Ok(Expired));
            }
        }
        for s in [Consented, Refused, Mismatch, Expired] {
            for expired in [false, true] {
                assert_eq!(transition(s, Consent, expired), Err(Refusal::Closed(s)));
            }
        }
    }

    #[test]
    fn the_remote_fields_are_checked_one_by_one() {
        let today = NaiveDate::from_ymd_opt(2030, 1, 1).expect("date");
        let ok = parse_expected(
            " Angela@Exemple.fr ",
            " DUBOIS ",
            "Angela  Claire",
            "1962-08-24",
            today,
        )
        .expect("valid");
        assert_eq!(ok.email, "angela@exemple.fr");
        assert_eq!(ok.given_name, "Angela Claire");
        for (email, family, given, birth, word) in [
            ("", "D", "A", "1962-08-24", "adresse"),
            ("pas-une-adresse", "D", "A", "1962-08-24", "adresse"),
            ("a@exemple.fr", "", "A", "1962-08-24", "nom"),
            ("a@exemple.fr", "D3", "A", "1962-08-24", "nom"),
            ("a@exemple.fr", "D", " ", "1962-08-24", "prénoms"),
            ("a@exemple.fr", "D", "A", "24/08/1962", "date"),
            ("a@exemple.fr", "D", "A", "1962-02-30", "date"),
            ("a@exemple.fr", "D", "A", "2031-01-01", "date"),
            ("a@exemple.fr", "D", "A", "", "date"),
        ] {
            let e = parse_expected(email, family, given, birth, today).expect_err(word);
            assert!(e.contains(word), "{e}");
        }
    }
}
