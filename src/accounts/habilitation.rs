//! Habilitation requests: a structure asks to join Procura through the public form at
//! `/habilitation`. The applicant confirms their e-mail through a link carrying a random
//! secret (stored only as its SHA-256, compared in constant time), fills in the
//! structure, its manager and its aidants step by step (each step saved, resumable by the
//! same link), then submits. An administrator accepts, refuses or asks for changes, each
//! with a message of the thread the applicant reads and answers on the link's page.
//! Accepting creates the structure, its accounts and their enrolment links in one
//! transaction. Every use case is one transaction with its journal entries and e-mails.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{structures, users};
use crate::crypto::{constant_time_eq, new_token, sha256_hex, SecretBox};
use crate::domain::roles::{Role, Roles};
use crate::domain::valid_siret;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::mail::{self, Mail};
use crate::store::schema::{
    habilitation_aidants as ha, habilitation_messages as hm, habilitation_requests as hr,
    users as users_t,
};
use crate::store::{read_tx, write_tx, DbConn};

/// The first form's answer, whatever the address: it never tells whether a request or an
/// account exists for it.
pub const LINK_SENT: &str = "Si cette adresse peut recevoir des courriels, un lien vient d’y être envoyé : ouvrez-le pour confirmer votre adresse et remplir la demande. S’il n’arrive pas, vérifiez vos courriels indésirables ; vous pourrez en demander un nouveau dans quelques minutes.";

/// A new link for the same address is sent at most this often.
pub const RESEND_MINUTES: i64 = 5;

/// Most aidants a request may name.
pub const MAX_AIDANTS: usize = 50;

/// Longest message of the thread.
pub const MAX_MESSAGE: usize = 5000;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The link was sent; the address is not confirmed yet.
    EmailPending,
    /// Being filled in.
    Draft,
    /// Sent to the administrators.
    Submitted,
    /// An administrator asked for changes: the applicant edits and sends again.
    ChangesRequested,
    /// Accepted: the structure and its accounts exist.
    Accepted,
    /// Refused.
    Refused,
}

/// Why a transition is refused (French, shown as is).
pub type Refusal = &'static str;

const CLOSED: Refusal =
    "Cette demande est close (acceptée ou refusée) : elle ne peut plus changer.";

impl Status {
    /// Every status, in the order of the administrators' list.
    pub const ALL: [Status; 6] = [
        Status::Submitted,
        Status::ChangesRequested,
        Status::Draft,
        Status::EmailPending,
        Status::Accepted,
        Status::Refused,
    ];

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::EmailPending => "email_pending",
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::ChangesRequested => "changes_requested",
            Status::Accepted => "accepted",
            Status::Refused => "refused",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// French label.
    pub fn label(self) -> &'static str {
        match self {
            Status::EmailPending => "adresse à confirmer",
            Status::Draft => "en cours de saisie",
            Status::Submitted => "envoyée, en attente d’examen",
            Status::ChangesRequested => "modifications demandées",
            Status::Accepted => "acceptée",
            Status::Refused => "refusée",
        }
    }

    /// Whether the request is neither accepted nor refused.
    pub fn open(self) -> bool {
        !matches!(self, Status::Accepted | Status::Refused)
    }

    /// Opening the link confirms the address.
    pub fn confirm(self) -> Status {
        match self {
            Status::EmailPending => Status::Draft,
            s => s,
        }
    }

    /// Whether the applicant may change the request's content.
    pub fn edit(self) -> Result<(), Refusal> {
        match self {
            Status::EmailPending | Status::Draft | Status::ChangesRequested => Ok(()),
            Status::Submitted => Err("La demande est envoyée : elle ne peut plus être modifiée, sauf si l’administrateur vous demande des modifications."),
            Status::Accepted | Status::Refused => Err(CLOSED),
        }
    }

    /// The applicant sends the request.
    pub fn submit(self) -> Result<Status, Refusal> {
        self.edit().map(|()| Status::Submitted)
    }

    /// An administrator asks for changes.
    pub fn ask_changes(self) -> Result<Status, Refusal> {
        match self {
            Status::Submitted => Ok(Status::ChangesRequested),
            Status::ChangesRequested => Err("Des modifications sont déjà demandées : attendez que le demandeur renvoie sa demande."),
            Status::EmailPending | Status::Draft => Err(NOT_SUBMITTED),
            Status::Accepted | Status::Refused => Err(CLOSED),
        }
    }

    /// An administrator accepts.
    pub fn accept(self) -> Result<Status, Refusal> {
        match self {
            Status::Submitted => Ok(Status::Accepted),
            Status::ChangesRequested => Err("Des modifications sont demandées : attendez que le demandeur renvoie sa demande avant de l’accepter."),
            Status::EmailPending | Status::Draft => Err(NOT_SUBMITTED),
            Status::Accepted | Status::Refused => Err(CLOSED),
        }
    }

    /// An administrator refuses.
    pub fn refuse(self) -> Result<Status, Refusal> {
        match self {
            Status::Submitted | Status::ChangesRequested => Ok(Status::Refused),
            Status::EmailPending | Status::Draft => Err(NOT_SUBMITTED),
            Status::Accepted | Status::Refused => Err(CLOSED),
        }
    }

    /// Whether a message may be added to the thread (by either side).
    pub fn message(self) -> Result<(), Refusal> {
        match self {
            Status::Submitted | Status::ChangesRequested => Ok(()),
            Status::EmailPending | Status::Draft => Err(
                "Envoyez d’abord la demande : vous pourrez ensuite échanger avec l’administrateur.",
            ),
            Status::Accepted | Status::Refused => Err(CLOSED),
        }
    }
}

const NOT_SUBMITTED: Refusal = "Cette demande n’a pas encore été envoyée par le demandeur.";

/// The types of structure the form offers: code, label.
pub const KINDS: [(&str, &str); 6] = [
    ("france_services", "Espace France Services"),
    ("ccas", "CCAS ou CIAS"),
    ("association", "Association"),
    ("collectivite", "Collectivité territoriale"),
    ("service_public", "Autre service public"),
    ("autre", "Autre"),
];

/// The label of a type code (the code itself when unknown).
pub fn kind_label(code: &str) -> String {
    KINDS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| code.to_string())
}

/// The role an aidant of the request receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AidantRole {
    /// Aidant.
    Aidant,
    /// Aidant and manager of the structure.
    Manager,
}

impl AidantRole {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AidantRole::Aidant => "aidant",
            AidantRole::Manager => "manager",
        }
    }

    /// From the stored (or posted) form.
    pub fn parse(s: &str) -> Option<AidantRole> {
        match s {
            "aidant" => Some(AidantRole::Aidant),
            "manager" => Some(AidantRole::Manager),
            _ => None,
        }
    }

    /// French label.
    pub fn label(self) -> &'static str {
        match self {
            AidantRole::Aidant => "aidant",
            AidantRole::Manager => "aidant et responsable",
        }
    }

    /// The account's roles.
    pub fn roles(self) -> Vec<Role> {
        match self {
            AidantRole::Aidant => vec![Role::Aidant],
            AidantRole::Manager => vec![Role::Aidant, Role::Manager],
        }
    }
}

/// Errors of a form, each beside its field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    /// Adds the error of `field` (the first one of a field is kept).
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// The error of `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One error.
    pub fn one(field: &'static str, message: impl Into<String>) -> Self {
        let mut e = FieldErrors::default();
        e.add(field, message);
        e
    }
}

/// A step's outcome: saved, or refused with its errors (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved<T> {
    /// Saved.
    Done(T),
    /// Refused: nothing changed.
    Refused(FieldErrors),
}

/// A request as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = hr)]
pub struct Request {
    /// Id (UUID text).
    pub id: String,
    /// The applicant's address.
    pub email: String,
    /// Stored [`Status`].
    pub status: String,
    token_hash: String,
    link_sent_at: NaiveDateTime,
    /// SIRET.
    pub siret: Option<String>,
    /// The structure's name.
    pub name: Option<String>,
    /// Its address.
    pub address: Option<String>,
    /// Its type ([`KINDS`]).
    pub kind: Option<String>,
    /// The manager's name.
    pub manager_name: Option<String>,
    /// The manager's e-mail.
    pub manager_email: Option<String>,
    /// Whether the manager is an aidant too.
    pub manager_aidant: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Last sent.
    pub submitted_at: Option<NaiveDateTime>,
    /// The structure created on acceptance.
    pub structure_id: Option<String>,
}

impl Request {
    /// Its status (a stored value that is none of them reads as a draft).
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Draft)
    }

    /// Whether the structure step is filled in.
    pub fn has_structure(&self) -> bool {
        self.siret.is_some() && self.name.is_some()
    }

    /// Whether the manager step is filled in.
    pub fn has_manager(&self) -> bool {
        self.manager_email.is_some() && self.manager_name.is_some()
    }
}

/// An aidant named by a request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ha)]
pub struct Aidant {
    /// Id.
    pub id: String,
    /// The request.
    pub request_id: String,
    /// Order of entry.
    pub position: i32,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Stored [`AidantRole`].
    pub role: String,
}

impl Aidant {
    /// Its role.
    pub fn role(&self) -> AidantRole {
        AidantRole::parse(&self.role).unwrap_or(AidantRole::Aidant)
    }
}

/// A message of the thread.
#[derive(Debug, Clone)]
pub struct Message {
    /// Whether the applicant wrote it.
    pub from_applicant: bool,
    /// Who wrote it, in words.
    pub author: String,
    /// Text.
    pub body: String,
    /// When.
    pub at: NaiveDateTime,
}

/// A request with its aidants and its thread.
#[derive(Debug, Clone)]
pub struct Dossier {
    /// The request.
    pub request: Request,
    /// Its aidants, in order of entry.
    pub aidants: Vec<Aidant>,
    /// Its thread, oldest first.
    pub messages: Vec<Message>,
    /// For an administrator: the addresses of the request that are already accounts'
    /// (acceptance refuses them; never shown to the applicant).
    pub taken: Vec<String>,
}

impl Dossier {
    /// What is missing before the request can be sent (pure), beside the steps.
    pub fn missing(&self) -> FieldErrors {
        let r = &self.request;
        let mut e = FieldErrors::default();
        if !r.has_structure() {
            e.add(
                "structure",
                "Renseignez la structure (SIRET, nom, adresse, type).",
            );
        }
        if !r.has_manager() {
            e.add("manager", "Renseignez le responsable de la structure.");
        }
        if !r.manager_aidant && self.aidants.is_empty() {
            e.add(
                "aidants",
                "Indiquez au moins un aidant, ou indiquez que le responsable est aussi aidant.",
            );
        }
        e
    }

    /// Every e-mail that would become an account: the manager's, then the aidants'.
    pub fn account_emails(&self) -> Vec<String> {
        self.request
            .manager_email
            .iter()
            .cloned()
            .chain(self.aidants.iter().map(|a| a.email.clone()))
            .collect()
    }
}

/// The applicant: the journal's actor for their actions.
fn applicant(id: &str) -> String {
    format!("applicant:{id}")
}

/// The link of a request (path).
pub fn link_path(id: &str, secret: &str) -> String {
    format!("/habilitation/{id}/{secret}")
}

/// The structure step's fields.
#[derive(Debug, Clone, Default)]
pub struct StructureInput {
    /// SIRET (spaces allowed).
    pub siret: String,
    /// Name.
    pub name: String,
    /// Postal address.
    pub address: String,
    /// Type code.
    pub kind: String,
}

/// Checks the structure step (pure): the cleaned values, or the errors.
pub fn check_structure(input: &StructureInput) -> Result<StructureInput, FieldErrors> {
    let mut e = FieldErrors::default();
    let siret: String = input.siret.chars().filter(|c| !c.is_whitespace()).collect();
    if siret.is_empty() {
        e.add("siret", "Indiquez le SIRET de la structure (14 chiffres).");
    } else if !valid_siret(&siret) {
        e.add(
            "siret",
            "Ce SIRET n’est pas valide : il doit compter 14 chiffres et sa clé de contrôle doit être juste. Recopiez-le depuis l’avis de situation Insee.",
        );
    }
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        e.add(
            "name",
            "Indiquez le nom de la structure (200 caractères au plus).",
        );
    }
    let address = input.address.trim().to_string();
    if address.is_empty() || address.chars().count() > 300 {
        e.add(
            "address",
            "Indiquez l’adresse postale de la structure (300 caractères au plus).",
        );
    }
    let kind = input.kind.trim().to_string();
    if !KINDS.iter().any(|(c, _)| *c == kind) {
        e.add("kind", "Choisissez le type de la structure dans la liste.");
    }
    if e.is_empty() {
        Ok(StructureInput {
            siret,
            name,
            address,
            kind,
        })
    } else {
        Err(e)
    }
}

/// A person of the request: name and e-mail (pure check).
fn check_person(
    e: &mut FieldErrors,
    name_field: &'static str,
    email_field: &'static str,
    name: &str,
    email: &str,
) -> (String, String) {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        e.add(
            name_field,
            "Indiquez le prénom et le nom (200 caractères au plus).",
        );
    }
    let email = match users::normalize_email(email) {
        Ok(m) => m,
        Err(_) => {
            e.add(
                email_field,
                "Cette adresse électronique n’est pas valide (exemple : nom@exemple.fr).",
            );
            String::new()
        }
    };
    (name, email)
}

/// The request of `id` if `secret` is its link's; anything else is "not found".
fn open(c: &mut DbConn, id: &str, secret: &str) -> Result<Request, Error> {
    let r = hr::table
        .filter(hr::id.eq(id))
        .select(Request::as_select())
        .first(c)
        .optional()?
        .ok_or(Error::NotFound)?;
    if secret.is_empty()
        || !constant_time_eq(
            sha256_hex(secret.as_bytes()).as_bytes(),
            r.token_hash.as_bytes(),
        )
    {
        return Err(Error::NotFound);
    }
    Ok(r)
}

/// As [`open`], confirming the address on the link's first use (journaled).
fn open_confirmed(
    c: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
) -> Result<Request, Error> {
    let mut r = open(c, id, secret)?;
    let before = r.status();
    let after = before.confirm();
    if after != before {
        diesel::update(hr::table.filter(hr::id.eq(&r.id)))
            .set((
                hr::status.eq(after.as_str()),
                hr::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)?;
        journal::append(
            c,
            now,
            NewEntry::new("habilitation.email_confirmed")
                .actor(applicant(&r.id))
                .detail("request", r.id.as_str()),
        )?;
        r.status = after.as_str().into();
    }
    Ok(r)
}

/// As [`open_confirmed`], for a change of the content: refused unless editable.
fn open_editable(
    c: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
) -> Result<Request, Error> {
    let r = open_confirmed(c, now, id, secret)?;
    r.status().edit().map_err(|m| Error::Invalid(m.into()))?;
    Ok(r)
}

fn aidants_of(c: &mut DbConn, id: &str) -> QueryResult<Vec<Aidant>> {
    ha::table
        .filter(ha::request_id.eq(id))
        .order((ha::position.asc(), ha::id.asc()))
        .select(Aidant::as_select())
        .load(c)
}

fn dossier(c: &mut DbConn, request: Request) -> Result<Dossier, Error> {
    let aidants = aidants_of(c, &request.id)?;
    let rows: Vec<(String, String, NaiveDateTime)> = hm::table
        .filter(hm::request_id.eq(&request.id))
        .order((hm::created_at.asc(), hm::id.asc()))
        .select((hm::author, hm::body, hm::created_at))
        .load(c)?;
    let ids: Vec<&str> = rows
        .iter()
        .map(|(a, _, _)| a.as_str())
        .filter(|a| *a != "applicant")
        .collect();
    let names = users::names(c, &ids)?;
    let messages = rows
        .iter()
        .map(|(author, body, at)| {
            let from_applicant = author == "applicant";
            Message {
                from_applicant,
                author: if from_applicant {
                    "Le demandeur".into()
                } else {
                    let n = names
                        .iter()
                        .find(|(id, _)| id == author)
                        .map(|(_, n)| n.as_str())
                        .unwrap_or("un administrateur");
                    format!("L’équipe Procura ({n})")
                },
                body: body.clone(),
                at: *at,
            }
        })
        .collect();
    Ok(Dossier {
        taken: Vec::new(),
        request,
        aidants,
        messages,
    })
}

fn touch(c: &mut DbConn, now: DateTime<Utc>, id: &str) -> QueryResult<()> {
    diesel::update(hr::table.filter(hr::id.eq(id)))
        .set(hr::updated_at.eq(now.naive_utc()))
        .execute(c)?;
    Ok(())
}

fn add_message(
    c: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    author: &str,
    body: &str,
) -> QueryResult<()> {
    diesel::insert_into(hm::table)
        .values((
            hm::id.eq(uuid::Uuid::new_v4().to_string()),
            hm::request_id.eq(id),
            hm::author.eq(author),
            hm::body.eq(body),
            hm::created_at.eq(now.naive_utc()),
        ))
        .execute(c)?;
    Ok(())
}

/// Checks a message of the thread (pure): trimmed, or the error beside `body`.
pub fn check_message(body: &str, required: bool) -> Result<String, FieldErrors> {
    let b = body.trim().to_string();
    if b.is_empty() && required {
        return Err(FieldErrors::one("body", "Écrivez un message."));
    }
    if b.chars().count() > MAX_MESSAGE {
        return Err(FieldErrors::one(
            "body",
            format!("Le message est trop long ({MAX_MESSAGE} caractères au plus)."),
        ));
    }
    Ok(b)
}

fn send(
    c: &mut DbConn,
    now: DateTime<Utc>,
    kind: &'static str,
    to: &str,
    subject: &str,
    text: String,
    structure: Option<&str>,
) -> Result<(), Error> {
    mail::enqueue(
        c,
        now,
        &Mail {
            kind,
            to: to.to_string(),
            subject: subject.to_string(),
            text,
            usager: None,
            structure: structure.map(str::to_string),
        },
    )?;
    Ok(())
}

/// Tells every active administrator (one message each).
fn tell_admins(
    c: &mut DbConn,
    now: DateTime<Utc>,
    kind: &'static str,
    subject: &str,
    text: &str,
) -> Result<(), Error> {
    let admins: Vec<(String, String)> = users_t::table
        .filter(users_t::active.eq(true))
        .select((users_t::email, users_t::roles))
        .load(c)?;
    for (email, roles) in admins {
        if Roles::parse(&roles).has(Role::Admin) {
            send(c, now, kind, &email, subject, text.to_string(), None)?;
        }
    }
    Ok(())
}

fn admin_url(id: &str) -> String {
    crate::notify::context().url(&format!("/admin/habilitations/{id}"))
}

const LINK_REMINDER: &str = "Pour suivre votre demande, ouvrez le lien reçu dans le premier courriel. Si vous l’avez perdu, saisissez de nouveau votre adresse sur la page de demande d’habilitation : un nouveau lien vous sera envoyé.";

/// The first form: starts a request for `email`, or sends a new link for its open
/// request (the previous link stops working), at most once every [`RESEND_MINUTES`].
/// A malformed address is refused; otherwise the answer is always [`LINK_SENT`].
pub fn start(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    email: &str,
) -> Result<Saved<&'static str>, Error> {
    let Ok(email) = users::normalize_email(email) else {
        return Ok(Saved::Refused(FieldErrors::one(
            "email",
            "Cette adresse électronique n’est pas valide (exemple : nom@exemple.fr).",
        )));
    };
    write_tx(conn, |c| {
        let open_ones: Vec<Request> = hr::table
            .filter(hr::email.eq(&email))
            .filter(hr::status.ne_all([Status::Accepted.as_str(), Status::Refused.as_str()]))
            .order(hr::created_at.desc())
            .select(Request::as_select())
            .load(c)?;
        let secret = new_token();
        let id = match open_ones.into_iter().next() {
            Some(r) => {
                if r.link_sent_at > (now - Duration::minutes(RESEND_MINUTES)).naive_utc() {
                    return Ok(Saved::Done(LINK_SENT));
                }
                diesel::update(hr::table.filter(hr::id.eq(&r.id)))
                    .set((
                        hr::token_hash.eq(sha256_hex(secret.as_bytes())),
                        hr::link_sent_at.eq(now.naive_utc()),
                    ))
                    .execute(c)?;
                journal::append(
                    c,
                    now,
                    NewEntry::new("habilitation.link_resent")
                        .actor(applicant(&r.id))
                        .detail("request", r.id.as_str()),
                )?;
                r.id
            }
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                diesel::insert_into(hr::table)
                    .values((
                        hr::id.eq(&id),
                        hr::email.eq(&email),
                        hr::status.eq(Status::EmailPending.as_str()),
                        hr::token_hash.eq(sha256_hex(secret.as_bytes())),
                        hr::link_sent_at.eq(now.naive_utc()),
                        hr::manager_aidant.eq(false),
                        hr::created_at.eq(now.naive_utc()),
                        hr::updated_at.eq(now.naive_utc()),
                    ))
                    .execute(c)?;
                journal::append(
                    c,
                    now,
                    NewEntry::new("habilitation.requested")
                        .actor(applicant(&id))
                        .detail("request", id.as_str()),
                )?;
                id
            }
        };
        let link = crate::notify::context().url(&link_path(&id, &secret));
        send(
            c,
            now,
            "habilitation.link",
            &email,
            "Votre demande d’habilitation Procura",
            format!(
                "Bonjour,\n\n\
                 Une demande d’habilitation d’une structure à Procura a été commencée avec cette adresse.\n\n\
                 Pour confirmer votre adresse, remplir la demande et la suivre, ouvrez ce lien : {link}\n\n\
                 Ce lien est personnel : ne le transmettez pas. Il remplace tout lien reçu auparavant pour cette demande. \
                 Si vous n’êtes pas à l’origine de cette demande, ignorez ce message."
            ),
            None,
        )?;
        Ok(Saved::Done(LINK_SENT))
    })
}

/// The request behind a link (confirming the address on first use), with its aidants and
/// thread.
pub fn view(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
) -> Result<Dossier, Error> {
    write_tx(conn, |c| {
        let r = open_confirmed(c, now, id, secret)?;
        dossier(c, r)
    })
}

/// Moves the request from `from` to `to`, provided it still is in `from`: on
/// PostgreSQL the row is locked until the transaction ends, so of two decisions taken at
/// once the second finds the new state and changes nothing.
fn claim(
    c: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    from: Status,
    to: Status,
) -> Result<(), Error> {
    let n = diesel::update(
        hr::table
            .filter(hr::id.eq(id))
            .filter(hr::status.eq(from.as_str())),
    )
    .set((
        hr::status.eq(to.as_str()),
        hr::updated_at.eq(now.naive_utc()),
    ))
    .execute(c)?;
    if n == 0 {
        return Err(Error::Invalid(
            "La demande a changé entre-temps : rechargez la page et recommencez.".into(),
        ));
    }
    Ok(())
}

fn updated(c: &mut DbConn, now: DateTime<Utc>, id: &str, step: &str) -> Result<(), Error> {
    touch(c, now, id)?;
    journal::append(
        c,
        now,
        NewEntry::new("habilitation.updated")
            .actor(applicant(id))
            .detail("request", id)
            .detail("step", step),
    )?;
    Ok(())
}

/// Saves the structure step: SIRET (valid and not already a structure's), name, address,
/// type.
pub fn save_structure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
    input: StructureInput,
) -> Result<Saved<()>, Error> {
    write_tx(conn, |c| {
        let r = open_editable(c, now, id, secret)?;
        let s = match check_structure(&input) {
            Ok(s) => s,
            Err(e) => return Ok(Saved::Refused(e)),
        };
        if structures::by_siret(c, &s.siret)?.is_some() {
            return Ok(Saved::Refused(FieldErrors::one(
                "siret",
                "Une structure avec ce SIRET est déjà inscrite sur Procura : elle ne peut pas l’être deux fois. Si vous en faites partie, adressez-vous à son responsable.",
            )));
        }
        diesel::update(hr::table.filter(hr::id.eq(&r.id)))
            .set((
                hr::siret.eq(Some(&s.siret)),
                hr::name.eq(Some(&s.name)),
                hr::address.eq(Some(&s.address)),
                hr::kind.eq(Some(&s.kind)),
            ))
            .execute(c)?;
        updated(c, now, &r.id, "structure")?;
        Ok(Saved::Done(()))
    })
}

/// Saves the manager step: name, e-mail (not an account's, not an aidant's of the
/// request), and whether the manager is an aidant too.
pub fn save_manager(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
    name: &str,
    email: &str,
    aidant_too: bool,
) -> Result<Saved<()>, Error> {
    write_tx(conn, |c| {
        let r = open_editable(c, now, id, secret)?;
        let mut e = FieldErrors::default();
        let (name, email) = check_person(&mut e, "manager_name", "manager_email", name, email);
        // Whether an account already has the address is not said here (anyone can open a
        // request): the administrator sees it on the request, and acceptance refuses it.
        if e.get("manager_email").is_none()
            && aidants_of(c, &r.id)?.iter().any(|a| a.email == email)
        {
            e.add(
                "manager_email",
                "Cette adresse est déjà celle d’un aidant de la demande : chaque personne a sa propre adresse. Pour que le responsable soit aussi aidant, cochez la case prévue et retirez-le de la liste des aidants.",
            );
        }
        if !e.is_empty() {
            return Ok(Saved::Refused(e));
        }
        diesel::update(hr::table.filter(hr::id.eq(&r.id)))
            .set((
                hr::manager_name.eq(Some(&name)),
                hr::manager_email.eq(Some(&email)),
                hr::manager_aidant.eq(aidant_too),
            ))
            .execute(c)?;
        updated(c, now, &r.id, "manager")?;
        Ok(Saved::Done(()))
    })
}

/// Adds an aidant to the request: name, e-mail (unique within the request, not an
/// account's), role (`aidant` or `manager`).
pub fn add_aidant(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
    name: &str,
    email: &str,
    role: &str,
) -> Result<Saved<()>, Error> {
    write_tx(conn, |c| {
        let r = open_editable(c, now, id, secret)?;
        let mut e = FieldErrors::default();
        let (name, email) = check_person(&mut e, "name", "email", name, email);
        let role = AidantRole::parse(role);
        if role.is_none() {
            e.add(
                "role",
                "Choisissez le rôle : aidant, ou aidant et responsable.",
            );
        }
        let existing = aidants_of(c, &r.id)?;
        if existing.len() >= MAX_AIDANTS {
            e.add(
                "email",
                format!("Une demande compte {MAX_AIDANTS} aidants au plus : les suivants pourront être ajoutés par le responsable une fois la demande acceptée."),
            );
        }
        if e.get("email").is_none() {
            if existing.iter().any(|a| a.email == email) {
                e.add(
                    "email",
                    "Cette adresse figure déjà dans la liste des aidants : chaque aidant a sa propre adresse.",
                );
            } else if r.manager_email.as_deref() == Some(email.as_str()) {
                e.add(
                    "email",
                    "Cette adresse est celle du responsable : pour qu’il soit aussi aidant, cochez la case prévue à l’étape « Responsable ».",
                );
            }
        }
        let (Some(role), true) = (role, e.is_empty()) else {
            return Ok(Saved::Refused(e));
        };
        let position = existing.iter().map(|a| a.position).max().unwrap_or(0) + 1;
        diesel::insert_into(ha::table)
            .values((
                ha::id.eq(uuid::Uuid::new_v4().to_string()),
                ha::request_id.eq(&r.id),
                ha::position.eq(position),
                ha::name.eq(&name),
                ha::email.eq(&email),
                ha::role.eq(role.as_str()),
            ))
            .execute(c)?;
        updated(c, now, &r.id, "aidant_added")?;
        Ok(Saved::Done(()))
    })
}

/// Removes an aidant from the request (another request's aidant is not found).
pub fn remove_aidant(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
    aidant_id: &str,
) -> Result<(), Error> {
    write_tx(conn, |c| {
        let r = open_editable(c, now, id, secret)?;
        let n = diesel::delete(
            ha::table
                .filter(ha::id.eq(aidant_id))
                .filter(ha::request_id.eq(&r.id)),
        )
        .execute(c)?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        updated(c, now, &r.id, "aidant_removed")?;
        Ok(())
    })
}

/// Why the content cannot be accepted as it stands: a SIRET or e-mails taken since
/// (pure over what the database says).
fn conflicts(c: &mut DbConn, d: &Dossier) -> Result<FieldErrors, Error> {
    let mut e = FieldErrors::default();
    if let Some(siret) = &d.request.siret {
        if structures::by_siret(c, siret)?.is_some() {
            e.add(
                "siret",
                format!("Le SIRET {siret} est maintenant celui d’une structure inscrite."),
            );
        }
    }
    let mut taken = Vec::new();
    for email in d.account_emails() {
        if users::find_by_email(c, &email)?.is_some() {
            taken.push(email);
        }
    }
    if !taken.is_empty() {
        e.add(
            "aidants",
            format!(
                "Ces adresses sont maintenant celles de comptes Procura : {}.",
                taken.join(", ")
            ),
        );
    }
    Ok(e)
}

/// The applicant sends the request (first time, or again after changes were asked).
pub fn submit(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
) -> Result<Saved<()>, Error> {
    write_tx(conn, |c| {
        let r = open_confirmed(c, now, id, secret)?;
        let next = r.status().submit().map_err(|m| Error::Invalid(m.into()))?;
        let again = r.status() == Status::ChangesRequested;
        let d = dossier(c, r)?;
        let missing = d.missing();
        if !missing.is_empty() {
            return Ok(Saved::Refused(missing));
        }
        // The SIRET only: which addresses are accounts is for the administrator to see.
        let mut taken = conflicts(c, &d)?;
        taken.0.retain(|(field, _)| *field == "siret");
        if !taken.is_empty() {
            return Ok(Saved::Refused(taken));
        }
        let r = &d.request;
        claim(c, now, &r.id, r.status(), next)?;
        diesel::update(hr::table.filter(hr::id.eq(&r.id)))
            .set(hr::submitted_at.eq(Some(now.naive_utc())))
            .execute(c)?;
        journal::append(
            c,
            now,
            NewEntry::new("habilitation.submitted")
                .actor(applicant(&r.id))
                .detail("request", r.id.as_str())
                .detail("again", again)
                .detail("accounts", d.account_emails().len() as i64),
        )?;
        let name = r.name.clone().unwrap_or_default();
        send(
            c,
            now,
            "habilitation.submitted",
            &r.email,
            "Votre demande d’habilitation est envoyée",
            format!(
                "Bonjour,\n\n\
                 Votre demande d’habilitation de la structure {name} est envoyée à l’équipe Procura. \
                 Vous recevrez un courriel dès qu’elle aura été examinée.\n\n{LINK_REMINDER}"
            ),
            None,
        )?;
        tell_admins(
            c,
            now,
            "habilitation.admin_submitted",
            &format!("Demande d’habilitation à examiner : {name}"),
            &format!(
                "Bonjour,\n\n\
                 La structure {name} {what} sa demande d’habilitation.\n\n\
                 Pour l’examiner : {url}",
                what = if again { "a renvoyé" } else { "a envoyé" },
                url = admin_url(&r.id),
            ),
        )?;
        Ok(Saved::Done(()))
    })
}

/// The applicant writes in the thread.
pub fn applicant_message(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
    body: &str,
) -> Result<Saved<()>, Error> {
    write_tx(conn, |c| {
        let r = open_confirmed(c, now, id, secret)?;
        r.status().message().map_err(|m| Error::Invalid(m.into()))?;
        let body = match check_message(body, true) {
            Ok(b) => b,
            Err(e) => return Ok(Saved::Refused(e)),
        };
        add_message(c, now, &r.id, "applicant", &body)?;
        touch(c, now, &r.id)?;
        journal::append(
            c,
            now,
            NewEntry::new("habilitation.message")
                .actor(applicant(&r.id))
                .detail("request", r.id.as_str()),
        )?;
        let name = r.name.clone().unwrap_or_default();
        tell_admins(
            c,
            now,
            "habilitation.admin_message",
            &format!("Nouveau message sur la demande d’habilitation : {name}"),
            &format!(
                "Bonjour,\n\n\
                 Le demandeur de l’habilitation de la structure {name} a écrit un message.\n\n\
                 Pour le lire : {url}",
                url = admin_url(&r.id),
            ),
        )?;
        Ok(Saved::Done(()))
    })
}

/// A row of the administrators' list.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The request.
    pub request: Request,
    /// How many aidants it names.
    pub aidants: i64,
}

/// Requests, by status then newest change first; `status` keeps one status only.
pub fn list(conn: &mut DbConn, status: Option<Status>) -> Result<Vec<Summary>, Error> {
    read_tx(conn, |c| {
        let mut q = hr::table.select(Request::as_select()).into_boxed();
        if let Some(s) = status {
            q = q.filter(hr::status.eq(s.as_str()));
        }
        let rows: Vec<Request> = q.order((hr::updated_at.desc(), hr::id.asc())).load(c)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let counts: Vec<String> = ha::table
            .filter(ha::request_id.eq_any(&ids))
            .select(ha::request_id)
            .load(c)?;
        let mut out: Vec<Summary> = rows
            .into_iter()
            .map(|request| {
                let aidants = counts.iter().filter(|i| **i == request.id).count() as i64;
                Summary { request, aidants }
            })
            .collect();
        out.sort_by_key(|s| {
            Status::ALL
                .iter()
                .position(|x| *x == s.request.status())
                .unwrap_or(0)
        });
        Ok(out)
    })
}

/// One request, for an administrator.
pub fn get(conn: &mut DbConn, id: &str) -> Result<Dossier, Error> {
    read_tx(conn, |c| {
        let r = hr::table
            .filter(hr::id.eq(id))
            .select(Request::as_select())
            .first(c)
            .optional()?
            .ok_or(Error::NotFound)?;
        let mut d = dossier(c, r)?;
        for email in d.account_emails() {
            if users::find_by_email(c, &email)?.is_some() {
                d.taken.push(email);
            }
        }
        Ok(d)
    })
}

/// What an administrator decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Create the structure and its accounts.
    Accept,
    /// Refuse.
    Refuse,
    /// Ask the applicant for changes.
    AskChanges,
    /// Only write in the thread.
    Message,
}

impl Decision {
    /// Whether its message is required.
    pub fn message_required(self) -> bool {
        !matches!(self, Decision::Accept)
    }
}

/// What an acceptance created.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The structure.
    pub structure_id: String,
    /// The accounts created (each sent its enrolment link).
    pub accounts: usize,
}

/// An administrator (`admin_id`) decides on a request, with a message for the applicant.
/// Accepting re-checks the SIRET and the e-mails, then creates the structure, its
/// accounts and their enrolment links (e-mailed to each, never shown), all in this one
/// transaction: a conflict refuses it and changes nothing.
pub fn decide(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    admin_id: &str,
    id: &str,
    decision: Decision,
    message: &str,
) -> Result<Saved<Option<Accepted>>, Error> {
    let body = match check_message(message, decision.message_required()) {
        Ok(b) => b,
        Err(e) => return Ok(Saved::Refused(e)),
    };
    let actor = format!("user:{admin_id}");
    write_tx(conn, |c| {
        let r = hr::table
            .filter(hr::id.eq(id))
            .select(Request::as_select())
            .first(c)
            .optional()?
            .ok_or(Error::NotFound)?;
        let status = r.status();
        let next = match decision {
            Decision::Accept => status.accept(),
            Decision::Refuse => status.refuse(),
            Decision::AskChanges => status.ask_changes(),
            Decision::Message => status.message().map(|()| status),
        }
        .map_err(|m| Error::Invalid(m.into()))?;
        let d = dossier(c, r)?;
        let r = &d.request;
        let name = r.name.clone().unwrap_or_default();
        claim(c, now, &r.id, status, next)?;
        let mut accepted = None;
        if decision == Decision::Accept {
            let taken = conflicts(c, &d)?;
            if !taken.is_empty() {
                let all: Vec<String> = taken.0.iter().map(|(_, m)| m.clone()).collect();
                return Err(Error::Invalid(format!(
                    "La demande ne peut pas être acceptée, rien n’a été créé : {} Demandez des modifications au demandeur.",
                    all.join(" ")
                )));
            }
            accepted = Some(create_all(c, now, secrets, &actor, &d)?);
        }
        if !body.is_empty() {
            add_message(c, now, &r.id, admin_id, &body)?;
        }
        let structure_id = accepted.as_ref().map(|a| a.structure_id.clone());
        if structure_id.is_some() {
            diesel::update(hr::table.filter(hr::id.eq(&r.id)))
                .set(hr::structure_id.eq(structure_id.as_deref()))
                .execute(c)?;
        }
        let action = match decision {
            Decision::Accept => "habilitation.accepted",
            Decision::Refuse => "habilitation.refused",
            Decision::AskChanges => "habilitation.changes_requested",
            Decision::Message => "habilitation.message",
        };
        let mut entry = NewEntry::new(action)
            .actor(actor.as_str())
            .detail("request", r.id.as_str())
            .structure_opt(structure_id.as_deref());
        if let Some(a) = &accepted {
            entry = entry.detail("accounts", a.accounts as i64);
        }
        journal::append(c, now, entry)?;
        let said = if body.is_empty() {
            String::new()
        } else {
            format!("Message de l’équipe Procura :\n\n{body}\n\n")
        };
        let (kind, subject, text) = match decision {
            Decision::Accept => (
                "habilitation.accepted",
                "Votre demande d’habilitation est acceptée",
                format!(
                    "Bonjour,\n\n\
                     La demande d’habilitation de la structure {name} est acceptée. \
                     Le responsable et chaque aidant reçoivent à leur adresse un lien personnel pour activer leur compte. \
                     Les aidants devront encore suivre la formation prévue avant de pouvoir créer des mandats.\n\n{said}"
                ),
            ),
            Decision::Refuse => (
                "habilitation.refused",
                "Votre demande d’habilitation est refusée",
                format!(
                    "Bonjour,\n\n\
                     La demande d’habilitation de la structure {name} est refusée.\n\n{said}"
                ),
            ),
            Decision::AskChanges => (
                "habilitation.changes_requested",
                "Votre demande d’habilitation : des modifications sont demandées",
                format!(
                    "Bonjour,\n\n\
                     L’équipe Procura demande des modifications à la demande d’habilitation de la structure {name}. \
                     Modifiez-la, puis envoyez-la de nouveau.\n\n{said}{LINK_REMINDER}"
                ),
            ),
            Decision::Message => (
                "habilitation.message",
                "Votre demande d’habilitation : un nouveau message",
                format!(
                    "Bonjour,\n\n\
                     L’équipe Procura a écrit à propos de la demande d’habilitation de la structure {name}.\n\n{said}{LINK_REMINDER}"
                ),
            ),
        };
        send(
            c,
            now,
            kind,
            &r.email,
            subject,
            text,
            structure_id.as_deref(),
        )?;
        Ok(Saved::Done(accepted))
    })
}

/// Creates the structure, its accounts and their enrolment links (each journaled by the
/// use case that makes it, with the administrator as actor), in the caller's transaction.
fn create_all(
    c: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    actor: &str,
    d: &Dossier,
) -> Result<Accepted, Error> {
    let r = &d.request;
    let (Some(siret), Some(name), Some(manager_email), Some(manager_name)) = (
        r.siret.as_deref(),
        r.name.as_deref(),
        r.manager_email.as_deref(),
        r.manager_name.as_deref(),
    ) else {
        return Err(Error::Invalid(
            "La demande est incomplète : demandez des modifications au demandeur.".into(),
        ));
    };
    let s = structures::create(
        c,
        now,
        actor,
        name,
        siret,
        r.address.as_deref().unwrap_or(""),
    )?;
    if let Some(kind) = &r.kind {
        structures::set_kind(c, &s.id, kind)?;
    }
    let mut people: Vec<(String, String, Vec<Role>)> = vec![(
        manager_email.to_string(),
        manager_name.to_string(),
        if r.manager_aidant {
            vec![Role::Aidant, Role::Manager]
        } else {
            vec![Role::Manager]
        },
    )];
    people.extend(
        d.aidants
            .iter()
            .map(|a| (a.email.clone(), a.name.clone(), a.role().roles())),
    );
    for (email, name, roles) in &people {
        let user = users::create(
            c,
            now,
            actor,
            secrets,
            users::NewUser {
                email: email.clone(),
                name: name.clone(),
                roles: roles.clone(),
                structure: Some(s.id.clone()),
                ..Default::default()
            },
        )?;
        // Mailed to the account's owner by the use case; never shown to the admin.
        users::issue_enrolment(c, now, actor, Some(&s.id), &user.id)?;
    }
    Ok(Accepted {
        structure_id: s.id,
        accounts: people.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_goes_from_the_link_to_a_decision() {
        let s = Status::EmailPending.confirm();
        assert_eq!(s, Status::Draft);
        assert!(s.edit().is_ok());
        let s = s.submit().expect("sent");
        assert!(s.edit().is_err());
        assert!(s.submit().is_err());
        let s = s.ask_changes().expect("changes");
        assert!(s.accept().is_err());
        assert!(s.edit().is_ok());
        let s = s.submit().expect("sent again");
        assert_eq!(s.accept(), Ok(Status::Accepted));
        assert_eq!(s.refuse(), Ok(Status::Refused));
        for closed in [Status::Accepted, Status::Refused] {
            assert!(closed.edit().is_err());
            assert!(closed.accept().is_err());
            assert!(closed.refuse().is_err());
            assert!(closed.ask_changes().is_err());
            assert!(closed.message().is_err());
            assert_eq!(closed.confirm(), closed);
        }
        assert!(Status::Draft.accept().is_err());
        assert!(Status::Draft.message().is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("x"), None);
    }

    #[test]
    fn the_structure_step_checks_each_field() {
        let ok = check_structure(&StructureInput {
            siret: "732 829 320 00074".into(),
            name: " Mairie ".into(),
            address: "1 place".into(),
            kind: "ccas".into(),
        })
        .expect("valid");
        assert_eq!(ok.siret, "73282932000074");
        assert_eq!(ok.name, "Mairie");
        let e = check_structure(&StructureInput {
            siret: "73282932000075".into(),
            name: "".into(),
            address: "".into(),
            kind: "x".into(),
        })
        .expect_err("invalid");
        for f in ["siret", "name", "address", "kind"] {
            assert!(e.get(f).is_some(), "{f}");
        }
    }

    #[test]
    fn a_message_is_checked() {
        assert!(check_message("  ", true).is_err());
        assert_eq!(check_message("  ", false), Ok(String::new()));
        assert!(check_message(&"x".repeat(MAX_MESSAGE + 1), false).is_err());
    }
}
