//! Memberships over time: a manager invites an existing account to join the structure
//! (the account accepts or declines from its space, the manager may cancel), and names or
//! removes co-managers. Each use case is one transaction with its journal entries.
//!
//! Managing is a property of a membership (`memberships.manager`): the account-wide role
//! `manager` says that the account manages at least one structure, the flag says which
//! ([`super::users::User::in_structure`]). Giving the role in one structure thus never
//! makes the account manager of its other structures.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::users::{self, with_role, User};
use super::Acting;
use crate::domain::roles::{Role, Roles};
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::{
    membership_invitations as inv, memberships, structures, users as users_t,
};
use crate::store::{read_tx, write_tx, DbConn};

/// How long an invitation can be accepted.
pub const INVITATION_DAYS: i64 = 14;

/// The manager's answer to an invitation, whatever happened: it never tells whether the
/// address belongs to an account, nor whether that account already is a member.
pub const INVITED: &str =
    "Si un compte Procura existe avec cette adresse, une invitation lui a été envoyée.";

/// An invitation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = inv)]
pub struct Invitation {
    /// Id (UUID text).
    pub id: String,
    /// The inviting structure.
    pub structure_id: String,
    /// The invited account.
    pub user_id: String,
    /// The manager who invited.
    pub invited_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// Until when it can be accepted.
    pub expires_at: NaiveDateTime,
    /// `pending`, `accepted`, `declined` or `cancelled`.
    pub status: String,
    /// When it was answered or cancelled.
    pub decided_at: Option<NaiveDateTime>,
}

/// A pending invitation as the manager sees it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The invitation.
    pub invitation: Invitation,
    /// The invited account's name.
    pub name: String,
    /// Its e-mail.
    pub email: String,
}

/// A pending invitation as the invited account sees it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The invitation.
    pub invitation: Invitation,
    /// The inviting structure's name.
    pub structure_name: String,
}

/// Invites the account of `email`, if there is one, to join the manager's structure.
/// A malformed address is refused; otherwise the answer is always [`INVITED`]: an
/// unknown or inactive address, a member or an account already invited gets nothing new.
pub fn invite(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    by: &Acting,
    email: &str,
) -> Result<&'static str, Error> {
    let email = users::normalize_email(email)?;
    write_tx(conn, |c| {
        let Some(user) = users::find_by_email(c, &email)? else {
            return Ok(INVITED);
        };
        if !user.active || users::is_member(c, &user.id, &by.structure_id)? {
            return Ok(INVITED);
        }
        let already: i64 = inv::table
            .filter(inv::structure_id.eq(&by.structure_id))
            .filter(inv::user_id.eq(&user.id))
            .filter(inv::status.eq("pending"))
            .filter(inv::expires_at.gt(now.naive_utc()))
            .count()
            .get_result(c)?;
        if already > 0 {
            return Ok(INVITED);
        }
        let structure_name: String = structures::table
            .filter(structures::id.eq(&by.structure_id))
            .select(structures::name)
            .first(c)?;
        let inviter: String = users_t::table
            .filter(users_t::id.eq(&by.user_id))
            .select(users_t::name)
            .first(c)?;
        let id = uuid::Uuid::new_v4().to_string();
        let expires = now + Duration::days(INVITATION_DAYS);
        diesel::insert_into(inv::table)
            .values((
                inv::id.eq(&id),
                inv::structure_id.eq(&by.structure_id),
                inv::user_id.eq(&user.id),
                inv::invited_by.eq(&by.user_id),
                inv::created_at.eq(now.naive_utc()),
                inv::expires_at.eq(expires.naive_utc()),
                inv::status.eq("pending"),
            ))
            .execute(c)?;
        journal::append(
            c,
            now,
            NewEntry::new("membership.invited")
                .actor(by.actor())
                .structure(&by.structure_id)
                .detail("invitation", id.as_str())
                .detail("account", user.id.as_str()),
        )?;
        let text = format!(
            "Bonjour {name},\n\n\
             {inviter} vous invite à rejoindre la structure {structure} sur Procura, \
             en tant qu’aidant.\n\n\
             Pour accepter ou refuser, connectez-vous et ouvrez votre espace : {link}\n\n\
             Cette invitation est valable jusqu’au {until}. Si vous ne connaissez pas cette \
             structure, refusez-la ou ignorez ce message.",
            name = user.name,
            structure = structure_name,
            link = crate::notify::context().url("/espace"),
            until = crate::domain::french::day_and_time(expires.naive_utc()),
        );
        crate::mail::enqueue(
            c,
            now,
            &crate::mail::Mail {
                kind: "aidant.membership_invitation",
                to: user.email.clone(),
                subject: format!("Invitation à rejoindre {structure_name} sur Procura"),
                text,
                usager: None,
                structure: Some(by.structure_id.clone()),
            },
        )?;
        Ok(INVITED)
    })
}

/// The structure's pending invitations that can still be accepted, newest first.
pub fn sent(conn: &mut DbConn, now: DateTime<Utc>, by: &Acting) -> Result<Vec<Sent>, Error> {
    let rows: Vec<(Invitation, String, String)> = read_tx(conn, |c| {
        inv::table
            .inner_join(users_t::table)
            .filter(inv::structure_id.eq(&by.structure_id))
            .filter(inv::status.eq("pending"))
            .filter(inv::expires_at.gt(now.naive_utc()))
            .order((inv::created_at.desc(), inv::id.asc()))
            .select((Invitation::as_select(), users_t::name, users_t::email))
            .load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(invitation, name, email)| Sent {
            invitation,
            name,
            email,
        })
        .collect())
}

/// The account's pending invitations that can still be accepted, from active structures.
pub fn received(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user_id: &str,
) -> Result<Vec<Received>, Error> {
    let rows: Vec<(Invitation, String)> = read_tx(conn, |c| {
        inv::table
            .inner_join(structures::table)
            .filter(inv::user_id.eq(user_id))
            .filter(inv::status.eq("pending"))
            .filter(inv::expires_at.gt(now.naive_utc()))
            .filter(structures::active.eq(true))
            .order((inv::created_at.desc(), inv::id.asc()))
            .select((Invitation::as_select(), structures::name))
            .load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(invitation, structure_name)| Received {
            invitation,
            structure_name,
        })
        .collect())
}

/// Marks a pending invitation answered (`status`).
fn close(c: &mut DbConn, now: DateTime<Utc>, id: &str, status: &str) -> Result<(), Error> {
    diesel::update(
        inv::table
            .filter(inv::id.eq(id))
            .filter(inv::status.eq("pending")),
    )
    .set((
        inv::status.eq(status),
        inv::decided_at.eq(Some(now.naive_utc())),
    ))
    .execute(c)?;
    Ok(())
}

/// Cancels a pending invitation of the manager's structure (another structure's is not
/// found).
pub fn cancel(conn: &mut DbConn, now: DateTime<Utc>, by: &Acting, id: &str) -> Result<(), Error> {
    write_tx(conn, |c| {
        let i: Invitation = inv::table
            .filter(inv::id.eq(id))
            .filter(inv::structure_id.eq(&by.structure_id))
            .select(Invitation::as_select())
            .first(c)
            .optional()?
            .ok_or(Error::NotFound)?;
        if i.status != "pending" {
            return Err(Error::Invalid(
                "Cette invitation n’est plus en attente : rien n’a changé.".into(),
            ));
        }
        close(c, now, &i.id, "cancelled")?;
        journal::append(
            c,
            now,
            NewEntry::new("membership.invitation_cancelled")
                .actor(by.actor())
                .structure(&by.structure_id)
                .detail("invitation", i.id.as_str())
                .detail("account", i.user_id.as_str()),
        )?;
        Ok(())
    })
}

/// The invited account accepts (`accept`) or declines its invitation; returns the
/// structure's name. Another account's invitation is not found; an answered or expired
/// one is refused. Accepting makes the account an aidant of the structure (not a
/// manager); an account without the aidant role receives it.
pub fn answer(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user: &User,
    id: &str,
    accept: bool,
) -> Result<String, Error> {
    write_tx(conn, |c| {
        let row: Option<(Invitation, String, bool)> = inv::table
            .inner_join(structures::table)
            .filter(inv::id.eq(id))
            .filter(inv::user_id.eq(&user.id))
            .select((
                Invitation::as_select(),
                structures::name,
                structures::active,
            ))
            .first(c)
            .optional()?;
        let (i, name, active) = row.ok_or(Error::NotFound)?;
        if i.status != "pending" {
            return Err(Error::Invalid(
                "Cette invitation n’est plus valable : elle a déjà reçu une réponse ou a été annulée.".into(),
            ));
        }
        if i.expires_at <= now.naive_utc() {
            return Err(Error::Invalid(
                "Cette invitation a expiré : demandez au responsable de la structure de vous inviter de nouveau.".into(),
            ));
        }
        if accept && !active {
            return Err(Error::Invalid(
                "Cette structure n’est plus active : l’invitation ne peut pas être acceptée."
                    .into(),
            ));
        }
        close(c, now, &i.id, if accept { "accepted" } else { "declined" })?;
        if !accept {
            journal::append(
                c,
                now,
                NewEntry::new("membership.declined")
                    .actor(user.actor())
                    .structure(&i.structure_id)
                    .detail("invitation", i.id.as_str()),
            )?;
            return Ok(name);
        }
        if !users::is_member(c, &user.id, &i.structure_id)? {
            diesel::insert_into(memberships::table)
                .values((
                    memberships::user_id.eq(&user.id),
                    memberships::structure_id.eq(&i.structure_id),
                    memberships::created_at.eq(now.naive_utc()),
                    memberships::rights_since.eq(now.naive_utc()),
                    memberships::manager.eq(false),
                ))
                .execute(c)?;
        }
        // The stored roles, not the ones of the session's structure.
        let stored: String = users_t::table
            .filter(users_t::id.eq(&user.id))
            .select(users_t::roles)
            .first(c)?;
        let before = Roles::parse(&stored);
        let roles_given = !before.has(Role::Aidant);
        if roles_given {
            diesel::update(users_t::table.filter(users_t::id.eq(&user.id)))
                .set(users_t::roles.eq(with_role(&before, Role::Aidant, true).stored()))
                .execute(c)?;
        }
        diesel::update(
            users_t::table
                .filter(users_t::id.eq(&user.id))
                .filter(users_t::current_structure_id.is_null()),
        )
        .set(users_t::current_structure_id.eq(Some(&i.structure_id)))
        .execute(c)?;
        journal::append(
            c,
            now,
            NewEntry::new("membership.accepted")
                .actor(user.actor())
                .structure(&i.structure_id)
                .detail("invitation", i.id.as_str())
                .detail("aidant_role_given", roles_given),
        )?;
        Ok(name)
    })
}

/// What a change of the manager role did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    /// Done.
    Done,
    /// Nothing to do (nothing journaled).
    Unchanged(&'static str),
}

/// The roles an account holds in a structure, stored form (the flag applied).
fn roles_here(stored: &str, manages: bool) -> Roles {
    let roles = Roles::parse(stored);
    if manages {
        roles
    } else {
        with_role(&roles, Role::Manager, false)
    }
}

/// Gives (`manager`) or takes the manager role in the manager's structure to or from one of
/// its accounts. The last manager of the structure keeps it.
pub fn set_manager(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    by: &Acting,
    user_id: &str,
    manager: bool,
) -> Result<RoleChange, Error> {
    write_tx(conn, |c| {
        let (stored, manages, active): (String, bool, bool) = memberships::table
            .inner_join(users_t::table)
            .filter(memberships::structure_id.eq(&by.structure_id))
            .filter(memberships::user_id.eq(user_id))
            .select((users_t::roles, memberships::manager, users_t::active))
            .first(c)
            .optional()?
            .ok_or(Error::NotFound)?;
        let before = roles_here(&stored, manages);
        if before.has(Role::Manager) == manager {
            return Ok(RoleChange::Unchanged(if manager {
                "Ce compte est déjà responsable de la structure : rien n’a changé."
            } else {
                "Ce compte n’est pas responsable de la structure : rien n’a changé."
            }));
        }
        if manager && !active {
            return Err(Error::Invalid(
                "Ce compte est désactivé : réactivez-le avant de le nommer responsable.".into(),
            ));
        }
        if !manager {
            let others: Vec<String> = memberships::table
                .inner_join(users_t::table)
                .filter(memberships::structure_id.eq(&by.structure_id))
                .filter(memberships::manager.eq(true))
                .filter(memberships::user_id.ne(user_id))
                .filter(users_t::active.eq(true))
                .select(users_t::roles)
                .load(c)?;
            if !others.iter().any(|r| Roles::parse(r).has(Role::Manager)) {
                return Err(Error::Invalid(
                    "La structure doit garder au moins un responsable : nommez d’abord un autre responsable.".into(),
                ));
            }
        }
        diesel::update(
            memberships::table
                .filter(memberships::structure_id.eq(&by.structure_id))
                .filter(memberships::user_id.eq(user_id)),
        )
        .set(memberships::manager.eq(manager))
        .execute(c)?;
        // The account-wide role says whether the account manages some structure.
        let manages_elsewhere: i64 = memberships::table
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::manager.eq(true))
            .count()
            .get_result(c)?;
        let account = with_role(&Roles::parse(&stored), Role::Manager, manages_elsewhere > 0);
        diesel::update(users_t::table.filter(users_t::id.eq(user_id)))
            .set(users_t::roles.eq(account.stored()))
            .execute(c)?;
        let after = roles_here(&account.stored(), manager);
        journal::append(
            c,
            now,
            NewEntry::new("account.roles_changed")
                .actor(by.actor())
                .structure(&by.structure_id)
                .detail("account", user_id)
                .detail("before", before.stored())
                .detail("after", after.stored()),
        )?;
        Ok(RoleChange::Done)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_role_counts_where_the_membership_says_so() {
        assert_eq!(
            roles_here("aidant,manager", true).stored(),
            "aidant,manager"
        );
        assert_eq!(roles_here("aidant,manager", false).stored(), "aidant");
        assert_eq!(roles_here("aidant", true).stored(), "aidant");
    }
}
