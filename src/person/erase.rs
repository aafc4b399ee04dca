//! Erasing a person's identity (GDPR, docs/retention.md): on request (the operator's
//! `procura usager erase`, and the screens built on [`erase`]) and on the retention
//! schedule ([`erase_expired`]).
//!
//! What goes: the person's names, birth date and place, gender, e-mail and FranceConnect
//! subject (the usager row keeps its id and shows "Identité effacée"), their sessions in
//! their space, their notice settings, and the e-mails addressed to them or about them
//! (a manager's notice of their revocation) still in the outbox. What stays: every id, the mandates and authorisations (dates and démarches),
//! the digests, and the journal, which never held an identity: its hashes, chain and
//! checkpoints verify exactly as before. A mandate still active ends first (a mandate
//! cannot be used for a person whose identity is gone): each revocation is journaled.

use chrono::{DateTime, Months, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::mail::MailStatus;
use crate::store::schema::{
    journal_entries, mail_outbox, mandates, remote_consents, usager_sessions, usagers, use_notices,
};
use crate::store::{write_tx, DbConn};

mod erasures {
    diesel::table! {
        /// When (and why) a usager's identity was erased (read and written here only).
        usager_erasures (usager_id) {
            usager_id -> Text,
            at -> Timestamp,
            reason -> Text,
        }
    }
}
use erasures::usager_erasures;

diesel::allow_tables_to_appear_in_same_query!(usager_erasures, usagers);
diesel::allow_tables_to_appear_in_same_query!(usager_erasures, mandates);

/// The given name and family name an erased usager keeps, so that every page and list
/// shows what happened rather than a blank.
pub const ERASED_GIVEN_NAME: &str = "Identité";
/// See [`ERASED_GIVEN_NAME`].
pub const ERASED_FAMILY_NAME: &str = "effacée";

/// Why an identity is erased (the journal's `reason` detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Asked for (by the person, their structure, or through the operator).
    Request,
    /// The retention period after the person's last mandate ended has passed.
    Retention,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Request => "request",
            Reason::Retention => "retention",
        }
    }
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    /// The usager.
    pub usager_id: String,
    /// False when the identity was already erased (nothing changed, nothing journaled).
    pub erased: bool,
    /// Mandates that were still active and were revoked first.
    pub mandates_revoked: usize,
    /// E-mails to the person removed from the outbox.
    pub mails_removed: usize,
    /// When the identity was erased (now, or the earlier erasure).
    pub at: NaiveDateTime,
}

/// When a usager's identity was erased, if it was.
pub fn erased_at(conn: &mut DbConn, usager_id: &str) -> QueryResult<Option<NaiveDateTime>> {
    usager_erasures::table
        .find(usager_id)
        .select(usager_erasures::at)
        .first(conn)
        .optional()
}

/// Erases the identity of `usager_id` in one transaction, journaled `usager.erased`
/// with `actor` (an account, `usager:<id>` for the person, or `operator`).
pub fn erase(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    usager_id: &str,
    reason: Reason,
) -> Result<Erased, Error> {
    write_tx(conn, |c| erase_in(c, now, actor, usager_id, reason))
}

fn erase_in(
    c: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    usager_id: &str,
    reason: Reason,
) -> Result<Erased, Error> {
    let email: Option<Option<String>> = usagers::table
        .find(usager_id)
        .select(usagers::email)
        .first(c)
        .optional()?;
    let Some(email) = email else {
        return Err(Error::NotFound);
    };
    if let Some(at) = erased_at(c, usager_id)? {
        return Ok(Erased {
            usager_id: usager_id.to_string(),
            erased: false,
            mandates_revoked: 0,
            mails_removed: 0,
            at,
        });
    }
    // Active mandates end first, each with its own revocation entry (and its notices).
    let active: Vec<(String, String)> = mandates::table
        .filter(mandates::usager_id.eq(usager_id))
        .filter(mandates::revoked_at.is_null())
        .filter(mandates::expires_at.gt(now.naive_utc()))
        .select((mandates::id, mandates::structure_id))
        .load(c)?;
    let mut revoked = 0;
    for (mandate_id, structure_id) in &active {
        match crate::mandates::revoke_mandate(c, now, actor, structure_id, mandate_id) {
            Ok(_) => revoked += 1,
            // Every authorisation had already ended one by one: nothing to revoke.
            Err(Error::NotActive) => {}
            Err(e) => return Err(e),
        }
    }
    let erased_sub = format!("erased:{usager_id}");
    diesel::update(usagers::table.find(usager_id))
        .set((
            usagers::fc_sub.eq(&erased_sub),
            usagers::given_name.eq(ERASED_GIVEN_NAME),
            usagers::family_name.eq(ERASED_FAMILY_NAME),
            usagers::preferred_username.eq(None::<String>),
            usagers::birthdate.eq(""),
            usagers::gender.eq(""),
            usagers::birthplace.eq(""),
            usagers::birthcountry.eq(""),
            usagers::email.eq(None::<String>),
            usagers::updated_at.eq(now.naive_utc()),
        ))
        .execute(c)?;
    diesel::delete(usager_sessions::table.filter(usager_sessions::usager_id.eq(usager_id)))
        .execute(c)?;
    diesel::delete(use_notices::table.filter(use_notices::usager_id.eq(usager_id))).execute(c)?;
    // The identity a remote consent checked, sealed at rest, goes with the rest.
    let theirs = mandates::table
        .filter(mandates::usager_id.eq(usager_id))
        .select(mandates::id);
    diesel::update(
        remote_consents::table.filter(remote_consents::mandate_id.eq_any(theirs.nullable())),
    )
    .set((
        remote_consents::expected_enc.eq(""),
        remote_consents::identity_enc.eq(None::<String>),
    ))
    .execute(c)?;
    // Messages to their address already sent (the outbox's copy of what was delivered).
    // Those still to send go only when they are about this person (below): people helped
    // often share one address, and the others' messages must still leave.
    let mut mails_removed = match &email {
        Some(address) => diesel::delete(
            mail_outbox::table
                .filter(mail_outbox::recipient.eq(address))
                .filter(mail_outbox::kind.like("usager.%"))
                .filter(
                    mail_outbox::status
                        .ne_all([MailStatus::Pending.as_str(), MailStatus::Sending.as_str()]),
                ),
        )
        .execute(c)?,
        None => 0,
    };
    // Messages about the person, to them or to others (the managers' notice of a
    // revocation from their space names them): the journal's `mail.queued` entries link
    // them by id.
    let about: Vec<String> = journal_entries::table
        .filter(journal_entries::usager_id.eq(usager_id))
        .filter(journal_entries::action.eq("mail.queued"))
        .select(journal_entries::details)
        .load::<String>(c)?
        .iter()
        .filter_map(|d| {
            serde_json::from_str::<serde_json::Value>(d).ok()?["message"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    for ids in about.chunks(500) {
        mails_removed +=
            diesel::delete(mail_outbox::table.filter(mail_outbox::id.eq_any(ids))).execute(c)?;
    }
    diesel::insert_into(usager_erasures::table)
        .values((
            usager_erasures::usager_id.eq(usager_id),
            usager_erasures::at.eq(now.naive_utc()),
            usager_erasures::reason.eq(reason.as_str()),
        ))
        .execute(c)?;
    journal::append(
        c,
        now,
        NewEntry::new("usager.erased")
            .actor(actor)
            .usager(usager_id)
            .detail("reason", reason.as_str())
            .detail("mandates_revoked", revoked as i64)
            .detail("mails_removed", mails_removed as i64),
    )?;
    Ok(Erased {
        usager_id: usager_id.to_string(),
        erased: true,
        mandates_revoked: revoked,
        mails_removed,
        at: now.naive_utc(),
    })
}

/// Why a structure's manager may not erase this person themselves (pure), or None: the
/// person must have had a mandate with the structure, and none with another one (their
/// identity serves those too: the operator or the person decide then).
pub fn structure_refusal(structures: &[String], structure_id: &str) -> Result<(), Error> {
    if !structures.iter().any(|s| s == structure_id) {
        return Err(Error::NotFound);
    }
    if structures.iter().any(|s| s != structure_id) {
        return Err(Error::Forbidden(
            "Cette personne a aussi eu des mandats avec d’autres structures : son identité leur sert aussi. L’effacement se demande à l’administrateur du service, ou la personne le fait elle-même depuis son espace (/moi).".into(),
        ));
    }
    Ok(())
}

/// Erases a person's identity at the request of a manager of `by`'s structure (the
/// person asked the structure): only a person whose mandates were all with that structure.
pub fn erase_for_structure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    by: &crate::accounts::Acting,
    usager_id: &str,
) -> Result<Erased, Error> {
    write_tx(conn, |c| {
        let structures: Vec<String> = mandates::table
            .filter(mandates::usager_id.eq(usager_id))
            .select(mandates::structure_id)
            .load(c)?;
        structure_refusal(&structures, &by.structure_id)?;
        erase_in(c, now, &by.actor(), usager_id, Reason::Request)
    })
}

/// The usagers whose identity the retention schedule erases at `now`: not yet erased,
/// known for more than `months`, and without a mandate that is active or ended less than
/// `months` ago (a mandate ends at its revocation, or at its end date).
pub fn due(conn: &mut DbConn, now: DateTime<Utc>, months: u32) -> QueryResult<Vec<String>> {
    let cutoff = cutoff(now, months);
    let recent = mandates::table
        .filter(
            mandates::revoked_at
                .is_null()
                .and(mandates::expires_at.gt(cutoff))
                .or(mandates::revoked_at.gt(cutoff)),
        )
        .select(mandates::usager_id);
    let erased = usager_erasures::table.select(usager_erasures::usager_id);
    usagers::table
        .filter(usagers::created_at.lt(cutoff))
        .filter(usagers::id.ne_all(recent))
        .filter(usagers::id.ne_all(erased))
        .select(usagers::id)
        .order(usagers::id.asc())
        .load(conn)
}

fn cutoff(now: DateTime<Utc>, months: u32) -> NaiveDateTime {
    now.naive_utc()
        .checked_sub_months(Months::new(months))
        .unwrap_or(NaiveDateTime::MIN)
}

/// Erases, each in its own transaction, the identities the retention schedule has made
/// due (actor `system`, reason `retention`); returns how many.
pub fn erase_expired(conn: &mut DbConn, now: DateTime<Utc>, months: u32) -> Result<usize, Error> {
    let mut n = 0;
    for id in due(conn, now, months)? {
        // Checked again in the erasure's transaction, the person's row locked first: a
        // mandate created for them since the list was read (the same FranceConnect
        // account) must neither be revoked nor lose its person's identity.
        let erased = write_tx(conn, |c| {
            diesel::update(usagers::table.find(&id))
                .set(usagers::id.eq(usagers::id))
                .execute(c)?;
            if !still_due(c, now, months, &id)? {
                return Ok(false);
            }
            erase_in(c, now, "system", &id, Reason::Retention).map(|e| e.erased)
        })?;
        if erased {
            n += 1;
        }
    }
    Ok(n)
}

/// Whether `usager_id` is still one of [`due`]'s people (known before the cutoff, no
/// mandate active or ended since; an erased identity is left to [`erase_in`]).
fn still_due(
    c: &mut DbConn,
    now: DateTime<Utc>,
    months: u32,
    usager_id: &str,
) -> QueryResult<bool> {
    let cutoff = cutoff(now, months);
    let old: i64 = usagers::table
        .filter(usagers::id.eq(usager_id))
        .filter(usagers::created_at.lt(cutoff))
        .count()
        .get_result(c)?;
    let recent: i64 = mandates::table
        .filter(mandates::usager_id.eq(usager_id))
        .filter(
            mandates::revoked_at
                .is_null()
                .and(mandates::expires_at.gt(cutoff))
                .or(mandates::revoked_at.gt(cutoff)),
        )
        .count()
        .get_result(c)?;
    Ok(old == 1 && recent == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_structure_erases_only_its_own_people() {
        let ours = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(structure_refusal(&ours(&["a", "a"]), "a").is_ok());
        assert!(matches!(
            structure_refusal(&ours(&[]), "a"),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            structure_refusal(&ours(&["b"]), "a"),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            structure_refusal(&ours(&["a", "b"]), "a"),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn the_cutoff_is_calendar_months_back() {
        let now = DateTime::parse_from_rfc3339("2027-03-31T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            cutoff(now, 1).to_string(),
            "2027-02-28 10:00:00",
            "the end of a shorter month"
        );
        assert_eq!(cutoff(now, 12).to_string(), "2026-03-31 10:00:00");
        assert_eq!(cutoff(now, u32::MAX), NaiveDateTime::MIN);
    }
}
