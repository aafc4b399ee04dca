//! Accreditation (*habilitation*): an aidant creates and uses mandates only while a
//! recorded training makes them accredited (docs/accreditation.md). An administrator or a
//! training organisation (role `trainer`) records a completed training, with its date and
//! reference; it accredits for a configurable number of months from that date
//! (`PROCURA_ACCREDITATION_MONTHS`). Records are never deleted: a mistaken one is
//! cancelled. `users.accredited_until` keeps the latest expiry of the records not
//! cancelled, updated in the same transaction, so each use reads it with the account.

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::users::{self, User};
use crate::domain::french;
use crate::domain::roles::Role;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::{trainings, users as users_t};
use crate::store::{read_tx, write_tx, DbConn};

/// How many days before its end the aidant is told that the accreditation expires.
pub const EXPIRY_NOTICE_DAYS: i64 = 60;

/// The longest training reference.
pub const REFERENCE_MAX: usize = 100;

/// The accreditation period when no setting says otherwise (`accreditation_months`).
pub const DEFAULT_MONTHS: u32 = 36;

/// The reference of a training the operator vouched for when creating an aidant's
/// account on the command line without one.
pub const OPERATOR_REFERENCE: &str = "déclarée par l’opérateur (procura user create)";

/// A recorded training.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = trainings)]
pub struct Training {
    /// Id (UUID text).
    pub id: String,
    /// The accredited account.
    pub user_id: String,
    /// The day the training was completed.
    pub completed_on: NaiveDate,
    /// Its reference (certificate or session number).
    pub reference: String,
    /// Who recorded it (journal actor string).
    pub recorded_by: String,
    /// When.
    pub recorded_at: NaiveDateTime,
    /// When the accreditation it gives ends.
    pub expires_at: NaiveDateTime,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<NaiveDateTime>,
    /// Who cancelled it.
    pub cancelled_by: Option<String>,
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Accredited until this time.
    Accredited(NaiveDateTime),
    /// The accreditation ended at this time.
    Expired(NaiveDateTime),
    /// No training recorded.
    Missing,
}

impl Standing {
    /// The standing of an account whose accreditation runs until `until`, at `now`.
    pub fn at(until: Option<NaiveDateTime>, now: NaiveDateTime) -> Standing {
        match until {
            Some(u) if u > now => Standing::Accredited(u),
            Some(u) => Standing::Expired(u),
            None => Standing::Missing,
        }
    }

    /// The standing of `user` at `now`.
    pub fn of(user: &User, now: DateTime<Utc>) -> Standing {
        Standing::at(user.accredited_until, now.naive_utc())
    }

    /// True when the account may create and use mandates.
    pub fn accredited(self) -> bool {
        matches!(self, Standing::Accredited(_))
    }

    /// What the aidant lacks, in French (None when accredited).
    pub fn missing(self) -> Option<String> {
        match self {
            Standing::Accredited(_) => None,
            Standing::Missing => Some(
                "Vous n’êtes pas encore habilité : votre formation d’aidant n’est pas enregistrée. Une fois la formation suivie, l’organisme de formation ou l’administrateur l’enregistre ; vous pourrez alors créer et utiliser des mandats. Votre responsable de structure peut vous inscrire à une session.".into(),
            ),
            Standing::Expired(on) => Some(format!(
                "Votre habilitation a pris fin le {} : suivez une nouvelle formation pour créer et utiliser des mandats. Votre responsable de structure peut vous inscrire à une session.",
                french::day(on)
            )),
        }
    }

    /// The last day of the accreditation, in words ("11 mars 2029").
    pub fn last_day(self) -> Option<String> {
        match self {
            Standing::Accredited(u) => Some(french::day(u - chrono::Duration::seconds(1))),
            _ => None,
        }
    }

    /// True when an accreditation ends within [`EXPIRY_NOTICE_DAYS`] of `now`.
    pub fn ends_soon(self, now: DateTime<Utc>) -> bool {
        matches!(self, Standing::Accredited(u)
            if u - now.naive_utc() <= chrono::Duration::days(EXPIRY_NOTICE_DAYS))
    }

    /// A short French label for tables: "jusqu’au 11 mars 2029", "expirée le …",
    /// "formation à enregistrer".
    pub fn label(self) -> String {
        match self {
            Standing::Accredited(_) => format!("jusqu’au {}", self.last_day().unwrap_or_default()),
            Standing::Expired(on) => format!("expirée le {}", french::day(on)),
            Standing::Missing => "formation à enregistrer".into(),
        }
    }
}

/// Refuses, with what is missing, an account that is not accredited at `now`.
pub fn require(user: &User, now: DateTime<Utc>) -> Result<(), Error> {
    match Standing::of(user, now).missing() {
        None => Ok(()),
        Some(m) => Err(Error::Forbidden(m)),
    }
}

/// A training as typed in the form (or given on the command line).
#[derive(Debug, Clone, Default)]
pub struct NewTraining {
    /// The aidant's e-mail.
    pub email: String,
    /// The day completed, `YYYY-MM-DD`.
    pub completed_on: String,
    /// Its reference.
    pub reference: String,
}

/// A refused field: which one, and why (French).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The form field: `email`, `completed_on` or `reference`.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

fn refused(field: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        field,
        message: message.into(),
    }
}

/// A training's date and reference, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The day completed.
    pub completed_on: NaiveDate,
    /// The reference, trimmed.
    pub reference: String,
    /// When the accreditation ends: the start (Paris) of the day `months` after.
    pub expires_at: NaiveDateTime,
}

/// When an accreditation from a training completed on `day` ends.
pub fn expiry(day: NaiveDate, months: u32) -> NaiveDateTime {
    let end = day
        .checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX);
    french::paris_day_start(end)
}

/// Checks a training's date and reference at `now` (pure): the date is a real day, not
/// in the future and recent enough to still accredit; the reference is 1 to 100
/// printable characters.
pub fn check(t: &NewTraining, now: DateTime<Utc>, months: u32) -> Result<Checked, Refused> {
    let today = french::paris(now.naive_utc()).date();
    let completed_on =
        NaiveDate::parse_from_str(t.completed_on.trim(), "%Y-%m-%d").map_err(|_| {
            refused(
                "completed_on",
                "Indiquez la date de fin de la formation (jour, mois et année).",
            )
        })?;
    if completed_on > today {
        return Err(refused(
            "completed_on",
            "La date de formation ne peut pas être dans le futur.",
        ));
    }
    let expires_at = expiry(completed_on, months);
    if expires_at <= now.naive_utc() {
        return Err(refused(
            "completed_on",
            format!("Cette formation date de plus de {months} mois : l’habilitation qu’elle donnait a déjà pris fin."),
        ));
    }
    let reference = t.reference.trim().to_string();
    if reference.is_empty() {
        return Err(refused(
            "reference",
            "Indiquez la référence de la formation (numéro d’attestation ou de session).",
        ));
    }
    // Control characters and bidirectional overrides (which would make a reference read
    // differently in the table and the journal) are refused.
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
    if reference.chars().count() > REFERENCE_MAX
        || reference.chars().any(|c| c.is_control() || bidi(c))
    {
        return Err(refused(
            "reference",
            format!(
                "La référence compte {REFERENCE_MAX} caractères au plus, sans retour à la ligne."
            ),
        ));
    }
    Ok(Checked {
        completed_on,
        reference,
        expires_at,
    })
}

/// A training someone vouches for, completed today (Paris day), with `reference`: the
/// operator creating an aidant on the command line, or the demo's seed.
pub fn vouched(now: DateTime<Utc>, months: u32, reference: &str) -> Checked {
    let today = french::paris(now.naive_utc()).date();
    Checked {
        completed_on: today,
        reference: reference.to_string(),
        expires_at: expiry(today, months),
    }
}

/// A training recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The record.
    pub training: Training,
    /// The accredited account.
    pub user: User,
}

/// Records a training of the aidant account of `t.email`, in one transaction with its
/// journal entry (`accreditation.recorded`). A refused field changes nothing.
pub fn record(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    months: u32,
    t: &NewTraining,
) -> Result<Result<Recorded, Refused>, Error> {
    let checked = match check(t, now, months) {
        Ok(c) => c,
        Err(r) => return Ok(Err(r)),
    };
    let Ok(email) = users::normalize_email(&t.email) else {
        return Ok(Err(refused(
            "email",
            "Indiquez l’adresse électronique du compte de l’aidant.",
        )));
    };
    write_tx(conn, |c| {
        let user = match users::find_by_email(c, &email)? {
            Some(u) if u.has(Role::Aidant) => u,
            _ => {
                return Ok(Err(refused(
                    "email",
                    "Aucun compte d’aidant ne porte cette adresse : le compte doit exister (créé par son responsable de structure) avant que sa formation soit enregistrée.",
                )))
            }
        };
        // Whoever records vouches for someone else's training: an account holding the
        // trainer (or admin) role and the aidant role does not accredit itself.
        if user.actor() == actor {
            return Ok(Err(refused(
                "email",
                "Vous ne pouvez pas enregistrer votre propre formation : un autre organisme de formation ou un administrateur l’enregistre.",
            )));
        }
        record_in(c, now, actor, &user, &checked).map(Ok)
    })
}

/// Records a checked training of `user` in the caller's transaction (journaled).
pub fn record_in(
    c: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    user: &User,
    checked: &Checked,
) -> Result<Recorded, Error> {
    let training = Training {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        completed_on: checked.completed_on,
        reference: checked.reference.clone(),
        recorded_by: actor.to_string(),
        recorded_at: now.naive_utc(),
        expires_at: checked.expires_at,
        cancelled_at: None,
        cancelled_by: None,
    };
    diesel::insert_into(trainings::table)
        .values(&training)
        .execute(c)?;
    let until = refresh(c, &user.id)?;
    journal::append(
        c,
        now,
        NewEntry::new("accreditation.recorded")
            .actor(actor)
            .structure_opt(user.current_structure_id.as_deref())
            .detail("account", user.id.as_str())
            .detail("training", training.id.as_str())
            .detail("completed_on", training.completed_on.to_string())
            .detail("reference", training.reference.as_str())
            .detail("expires_at", training.expires_at.and_utc().to_rfc3339()),
    )?;
    Ok(Recorded {
        training,
        user: User {
            accredited_until: until,
            ..user.clone()
        },
    })
}

/// Recomputes and stores the account's accreditation end from its records. The
/// account's row is locked first: on PostgreSQL a record and a cancellation of the same
/// account running together would otherwise each compute the end before the other
/// commits, and the last to write would keep a cancelled record in force (or drop a
/// valid one). SQLite's single writer already holds the database.
fn refresh(c: &mut DbConn, user_id: &str) -> QueryResult<Option<NaiveDateTime>> {
    if let DbConn::Pg(pg) = c {
        users_t::table
            .filter(users_t::id.eq(user_id))
            .select(users_t::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    let until: Option<NaiveDateTime> = trainings::table
        .filter(trainings::user_id.eq(user_id))
        .filter(trainings::cancelled_at.is_null())
        .select(diesel::dsl::max(trainings::expires_at))
        .first(c)?;
    diesel::update(users_t::table.filter(users_t::id.eq(user_id)))
        .set(users_t::accredited_until.eq(until))
        .execute(c)?;
    Ok(until)
}

/// Cancels a record made by mistake (journaled `accreditation.cancelled`): an
/// administrator cancels any record, a training organisation only those it made.
pub fn cancel(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    any: bool,
    training_id: &str,
) -> Result<Training, Error> {
    write_tx(conn, |c| {
        let t: Training = trainings::table
            .filter(trainings::id.eq(training_id))
            .select(Training::as_select())
            .first(c)
            .optional()?
            .filter(|t| any || t.recorded_by == actor)
            .ok_or(Error::NotFound)?;
        // Conditional, so that of two cancellations running together only one goes
        // through (and is journaled).
        let moved = diesel::update(
            trainings::table
                .filter(trainings::id.eq(&t.id))
                .filter(trainings::cancelled_at.is_null()),
        )
        .set((
            trainings::cancelled_at.eq(Some(now.naive_utc())),
            trainings::cancelled_by.eq(Some(actor)),
        ))
        .execute(c)?;
        if moved == 0 {
            return Err(Error::Invalid(
                "Cet enregistrement de formation est déjà annulé.".into(),
            ));
        }
        refresh(c, &t.user_id)?;
        let structure: Option<Option<String>> = users_t::table
            .filter(users_t::id.eq(&t.user_id))
            .select(users_t::current_structure_id)
            .first(c)
            .optional()?;
        journal::append(
            c,
            now,
            NewEntry::new("accreditation.cancelled")
                .actor(actor)
                .structure_opt(structure.flatten().as_deref())
                .detail("account", t.user_id.as_str())
                .detail("training", t.id.as_str()),
        )?;
        Ok(Training {
            cancelled_at: Some(now.naive_utc()),
            cancelled_by: Some(actor.to_string()),
            ..t
        })
    })
}

/// A record with the account it accredits.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The record.
    pub training: Training,
    /// The account's name.
    pub name: String,
    /// Its e-mail.
    pub email: String,
}

/// The latest records, newest first (of the accounts whose e-mail contains `search`, when
/// given; made by `recorded_by` only, when given), at most `limit`. A training
/// organisation sees only its own records: the others name aidants it did not train.
pub fn latest(
    conn: &mut DbConn,
    search: &str,
    recorded_by: Option<&str>,
    limit: i64,
) -> Result<Vec<Listed>, Error> {
    let search = search.trim().to_lowercase();
    Ok(read_tx(conn, |c| {
        let mut q = trainings::table
            .inner_join(users_t::table)
            .select((Training::as_select(), users_t::name, users_t::email))
            .order(trainings::recorded_at.desc())
            .limit(limit)
            .into_boxed();
        if let Some(by) = recorded_by {
            q = q.filter(trainings::recorded_by.eq(by));
        }
        if !search.is_empty() {
            let escaped = search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            q = q.filter(users_t::email.like(format!("%{escaped}%")).escape('\\'));
        }
        q.load::<(Training, String, String)>(c)
    })?
    .into_iter()
    .map(|(training, name, email)| Listed {
        training,
        name,
        email,
    })
    .collect())
}

/// The records of one account, newest first.
pub fn of_account(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<Training>> {
    trainings::table
        .filter(trainings::user_id.eq(user_id))
        .select(Training::as_select())
        .order(trainings::recorded_at.desc())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn t(day: &str, reference: &str) -> NewTraining {
        NewTraining {
            email: "a@exemple.fr".into(),
            completed_on: day.into(),
            reference: reference.into(),
        }
    }

    #[test]
    fn a_training_accredits_until_the_paris_day_months_later() {
        let now = at("2030-03-10T12:00:00Z");
        let c = check(&t("2030-03-09", " AC-2030-17 "), now, 36).unwrap();
        assert_eq!(c.reference, "AC-2030-17");
        // 2033-03-09 00:00 in Paris is 23:00 UTC the day before (winter time).
        assert_eq!(
            c.expires_at,
            NaiveDate::from_ymd_opt(2033, 3, 8)
                .unwrap()
                .and_hms_opt(23, 0, 0)
                .unwrap()
        );
        let s = Standing::at(Some(c.expires_at), now.naive_utc());
        assert!(s.accredited());
        assert_eq!(s.last_day().as_deref(), Some("8 mars 2033"));
        assert!(!s.ends_soon(now));
        assert!(Standing::at(Some(c.expires_at), c.expires_at) == Standing::Expired(c.expires_at));
    }

    #[test]
    fn bad_dates_and_references_are_refused_by_field() {
        let now = at("2030-03-10T12:00:00Z");
        let field = |x: NewTraining| check(&x, now, 36).unwrap_err().field;
        assert_eq!(field(t("", "R")), "completed_on");
        assert_eq!(field(t("2030-02-30", "R")), "completed_on");
        assert_eq!(field(t("2030-03-11", "R")), "completed_on");
        // Three years ago to the day: the accreditation it gave has just ended.
        assert_eq!(field(t("2027-03-09", "R")), "completed_on");
        assert!(check(&t("2027-03-11", "R"), now, 36).is_ok());
        assert_eq!(field(t("2030-03-01", "  ")), "reference");
        assert_eq!(field(t("2030-03-01", &"x".repeat(101))), "reference");
        assert_eq!(field(t("2030-03-01", "a\nb")), "reference");
        assert_eq!(field(t("2030-03-01", "AC-\u{202E}1202")), "reference");
    }

    #[test]
    fn the_standing_says_what_is_missing() {
        let now = at("2030-03-10T12:00:00Z");
        let n = now.naive_utc();
        assert!(Standing::at(None, n)
            .missing()
            .unwrap()
            .contains("pas encore habilité"));
        let ended = Standing::at(Some(n - chrono::Duration::days(1)), n);
        assert!(ended
            .missing()
            .unwrap()
            .contains("a pris fin le 9 mars 2030"));
        let soon = Standing::at(Some(n + chrono::Duration::days(30)), n);
        assert!(soon.accredited() && soon.ends_soon(now) && soon.missing().is_none());
        assert_eq!(Standing::Missing.label(), "formation à enregistrer");
    }
}
