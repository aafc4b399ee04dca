//! The manager's use cases, each one transaction with its journal entries, scoped to the
//! manager's current structure: an account of another structure is "not found". What
//! reaches beyond the structure is the operator's: deactivating or resetting the second
//! factor of an account that also belongs elsewhere, reactivating an account the manager's
//! structure did not deactivate. A request that would change nothing journals nothing.

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
    /// Remove it from the structure (the account itself stays as it is).
    Remove,
    /// Issue a new enrolment link to an account that has not completed its enrolment
    /// (no second factor yet), changing nothing else.
    ResendEnrolment,
    /// Forget its password (the second factor stays) and issue a link to choose a new
    /// one, confirmed with a code of that second factor.
    ResetPassword,
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    /// Done.
    Done,
    /// Done; the new enrolment link's token (second-factor reset), to show the manager.
    Link(String),
    /// Done; the new link went by e-mail to the account's owner only: it may set the
    /// password of an account already in use (a password reset), and a manager who saw
    /// it could choose both factors (they reset second factors and assign cards).
    Mailed,
    /// Nothing to do: the account already was in that state (nothing journaled).
    Unchanged(&'static str),
}

const ELSEWHERE: &str = "Ce compte appartient aussi à d’autres structures : vous pouvez le retirer de la vôtre ; le désactiver, réinitialiser son mot de passe ou son second facteur revient à l’administrateur.";
const NOT_OURS: &str = "Ce compte n’a pas été désactivé par un responsable de votre structure : seul l’administrateur peut le réactiver.";
/// The answer to an e-mail that exists outside the structure: it must not tell whether
/// the address is known anywhere else.
pub const NOT_CREATED: &str = "Aucun compte n’a été créé avec cette adresse. Vérifiez-la ; si la personne a déjà un compte Procura, demandez à l’administrateur de la rattacher à votre structure.";

/// Decides a manager's action on an account of the structure (pure): None to go on, or
/// why it changes nothing, or why it is refused.
pub fn decide(
    action: AccountAction,
    active: bool,
    has_card: bool,
    elsewhere: bool,
    deactivated_here: bool,
) -> Result<Option<&'static str>, Error> {
    match action {
        AccountAction::Deactivate if !active => {
            Ok(Some("Ce compte est déjà désactivé : rien n’a changé."))
        }
        AccountAction::Deactivate
        | AccountAction::ResetSecondFactor
        | AccountAction::ResetPassword
            if elsewhere =>
        {
            Err(Error::Forbidden(ELSEWHERE.into()))
        }
        AccountAction::Reactivate if active => {
            Ok(Some("Ce compte est déjà actif : rien n’a changé."))
        }
        AccountAction::Reactivate if !deactivated_here => Err(Error::Forbidden(NOT_OURS.into())),
        AccountAction::UnassignCard if !has_card => {
            Ok(Some("Ce compte n’a pas de carte : rien n’a changé."))
        }
        _ => Ok(None),
    }
}

/// Whether an account has not completed its enrolment: no second factor yet (neither an
/// application nor a card).
pub fn pending(m: &MemberRow) -> bool {
    m.user.totp_secret_enc.is_none() && m.card_serial.is_none()
}

/// Why a new enrolment link is not issued (pure), or None to issue it.
pub fn resend_refusal(active: bool, pending: bool) -> Option<&'static str> {
    if !active {
        Some("Ce compte est désactivé : réactivez-le avant de lui envoyer un lien d’activation.")
    } else if !pending {
        Some("Ce compte est déjà activé : aucun lien n’a été envoyé. Pour remplacer son second facteur, réinitialisez-le.")
    } else {
        None
    }
}

/// Why a password reset link is not issued (pure), or None to issue it.
pub fn password_reset_refusal(active: bool, pending: bool) -> Option<&'static str> {
    if !active {
        Some("Ce compte est désactivé : réactivez-le avant de réinitialiser son mot de passe.")
    } else if pending {
        Some("Ce compte n’est pas encore activé : envoyez-lui plutôt un nouveau lien d’activation, qui lui fait choisir son mot de passe.")
    } else {
        None
    }
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
        if let Some(existing) = users::find_by_email(c, &users::normalize_email(&email)?)? {
            return Err(if users::is_member(c, &existing.id, &by.structure_id)? {
                Error::Invalid(
                    "Un compte de votre structure existe déjà avec cette adresse.".into(),
                )
            } else {
                Error::Invalid(NOT_CREATED.into())
            });
        }
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

/// Applies `action` to an account of the structure.
pub fn act(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    by: &Acting,
    user_id: &str,
    action: AccountAction,
) -> Result<Acted, Error> {
    if by.user_id == user_id {
        match action {
            AccountAction::Deactivate => {
                return Err(Error::Invalid(
                    "Vous ne pouvez pas désactiver votre propre compte.".into(),
                ))
            }
            AccountAction::Remove => {
                return Err(Error::Invalid(
                    "Vous ne pouvez pas vous retirer vous-même de la structure.".into(),
                ))
            }
            _ => {}
        }
    }
    write_tx(conn, |c| {
        let m = users::member(c, &by.structure_id, user_id)?.ok_or(Error::NotFound)?;
        let (actor, sid) = (by.actor(), by.structure_id.as_str());
        let elsewhere = users::belongs_elsewhere(c, user_id, sid)?;
        let here = users::deactivated_in(c, user_id)?.as_deref() == Some(sid);
        let active = m.user.active;
        if action == AccountAction::ResendEnrolment {
            return match resend_refusal(active, pending(&m)) {
                Some(message) => Ok(Acted::Unchanged(message)),
                None => {
                    let token = users::issue_enrolment(c, now, &actor, Some(sid), user_id)?;
                    shown_or_mailed(c, user_id, token)
                }
            };
        }
        if let Some(message) = decide(action, active, m.card_serial.is_some(), elsewhere, here)? {
            return Ok(Acted::Unchanged(message));
        }
        if action == AccountAction::ResetPassword {
            return match password_reset_refusal(active, pending(&m)) {
                Some(message) => Ok(Acted::Unchanged(message)),
                None => users::reset_password(c, now, &actor, sid, user_id).map(|_| Acted::Mailed),
            };
        }
        match action {
            AccountAction::Deactivate => {
                users::set_active(c, now, &actor, Some(sid), user_id, false)?;
                Ok(Acted::Done)
            }
            AccountAction::Reactivate => {
                users::set_active(c, now, &actor, Some(sid), user_id, true)?;
                Ok(Acted::Done)
            }
            AccountAction::ResetSecondFactor => {
                let token = users::reset_second_factor(c, now, &actor, Some(sid), user_id)?;
                shown_or_mailed(c, user_id, token)
            }
            AccountAction::UnassignCard => {
                cards::unassign(c, now, &actor, sid, user_id)?;
                Ok(Acted::Done)
            }
            AccountAction::Remove => {
                users::remove_member(c, now, &actor, sid, user_id)?;
                Ok(Acted::Done)
            }
            AccountAction::ResendEnrolment | AccountAction::ResetPassword => Ok(Acted::Done),
        }
    })
}

/// Whether a new link may be shown to the manager: not when it sets the password of an
/// account already used or whose password was reset (no password now, and a login before
/// or a reset), for the manager would then choose both its factors. A new account's first
/// links are the manager's to hand over.
fn shown_or_mailed(c: &mut DbConn, user_id: &str, token: String) -> Result<Acted, Error> {
    let user = users::find(c, user_id)?.ok_or(Error::NotFound)?;
    Ok(
        if user.password_hash.is_none()
            && (user.last_login.is_some() || user.password_reset_at.is_some())
        {
            Acted::Mailed
        } else {
            Acted::Link(token)
        },
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_op_actions_change_nothing_and_foreign_ones_are_refused() {
        use AccountAction::*;
        assert!(decide(Deactivate, false, false, false, false)
            .unwrap()
            .is_some());
        assert!(decide(Reactivate, true, false, false, false)
            .unwrap()
            .is_some());
        assert!(decide(UnassignCard, true, false, false, false)
            .unwrap()
            .is_some());
        assert!(decide(Deactivate, true, false, true, false).is_err());
        assert!(decide(ResetSecondFactor, true, false, true, false).is_err());
        assert!(decide(ResetPassword, true, false, true, false).is_err());
        assert!(decide(Reactivate, false, false, false, false).is_err());
        assert_eq!(decide(Reactivate, false, false, true, true).unwrap(), None);
        assert_eq!(decide(Remove, true, false, true, false).unwrap(), None);
        assert_eq!(decide(Deactivate, true, false, false, false).unwrap(), None);
    }

    #[test]
    fn a_new_activation_link_only_for_an_active_pending_account() {
        assert_eq!(resend_refusal(true, true), None);
        assert!(resend_refusal(true, false).is_some_and(|m| m.contains("déjà activé")));
        assert!(resend_refusal(false, true).is_some_and(|m| m.contains("désactivé")));
    }

    #[test]
    fn a_password_reset_only_for_an_active_enrolled_account() {
        assert_eq!(password_reset_refusal(true, false), None);
        assert!(password_reset_refusal(true, true).is_some_and(|m| m.contains("lien d’activation")));
        assert!(password_reset_refusal(false, false).is_some_and(|m| m.contains("désactivé")));
    }
}
