//! The manager's use cases, each one transaction with its journal entries, scoped to the
//! manager's current structure: an account of another structure is "not found".

use chrono::{DateTime, Utc};

use super::users::{self, MemberRow, NewUser, User};
use super::{cards, Acting};
use crate::crypto::SecretBox;
use crate::domain::roles::Role;
use crate::error::Error;
use crate::store::{read_tx, write_tx, DbConn};

/// What a manager can do to an account of the structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction {
    /// End its access (and its sessions).
    Deactivate,
    /// Give its access back.
    Reactivate,
    /// Forget its second factor and issue a new enrolment link.
    ResetSecondFactor,
    /// Take its card back.
    UnassignCard,
}

/// The structure's accounts, by name.
pub fn members(conn: &mut DbConn, by: &Acting) -> Result<Vec<MemberRow>, Error> {
    Ok(read_tx(conn, |c| users::members(c, &by.structure_id))?)
}

/// One account of the manager's structure.
pub fn member(conn: &mut DbConn, by: &Acting, user_id: &str) -> Result<MemberRow, Error> {
    users::member(conn, &by.structure_id, user_id)?.ok_or(Error::NotFound)
}

/// Creates an aidant of the structure and its enrolment link; returns both.
pub fn add_aidant(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    by: &Acting,
    secrets: &SecretBox,
    email: String,
    name: String,
) -> Result<(User, String), Error> {
    write_tx(conn, |c| {
        let actor = by.actor();
        let user = users::create(
            c,
            now,
            &actor,
            secrets,
            NewUser {
                email,
                name,
                roles: vec![Role::Aidant],
                structure: Some(by.structure_id.clone()),
                ..Default::default()
            },
        )?;
        let token = users::issue_enrolment(c, now, &actor, Some(&by.structure_id), &user.id)?;
        Ok((user, token))
    })
}

/// Applies `action` to an account of the structure; a reset returns the new link.
pub fn act(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    by: &Acting,
    user_id: &str,
    action: AccountAction,
) -> Result<Option<String>, Error> {
    if by.user_id == user_id && action == AccountAction::Deactivate {
        return Err(Error::Invalid(
            "Vous ne pouvez pas désactiver votre propre compte.".into(),
        ));
    }
    write_tx(conn, |c| {
        users::member(c, &by.structure_id, user_id)?.ok_or(Error::NotFound)?;
        let (actor, sid) = (by.actor(), by.structure_id.as_str());
        match action {
            AccountAction::Deactivate => {
                users::set_active(c, now, &actor, Some(sid), user_id, false).map(|_| None)
            }
            AccountAction::Reactivate => {
                users::set_active(c, now, &actor, Some(sid), user_id, true).map(|_| None)
            }
            AccountAction::ResetSecondFactor => {
                users::reset_second_factor(c, now, &actor, sid, user_id).map(Some)
            }
            AccountAction::UnassignCard => {
                cards::unassign(c, now, &actor, sid, user_id).map(|_| None)
            }
        }
    })
}

/// Assigns a card of the structure's stock to an account, checked with a code it shows.
pub fn assign_card(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    by: &Acting,
    secrets: &SecretBox,
    user_id: &str,
    serial: &str,
    code: &str,
) -> Result<(), Error> {
    write_tx(conn, |c| {
        users::member(c, &by.structure_id, user_id)?.ok_or(Error::NotFound)?;
        cards::assign(
            c,
            now,
            &by.actor(),
            &by.structure_id,
            secrets,
            user_id,
            serial,
            code,
        )
    })
}
