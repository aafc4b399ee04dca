//! The operator's use cases behind the administration screens (`/admin`): each one
//! transaction, journaled with the administrator as actor (`user:<id>`). They call the
//! same domain functions as the `procura` commands (whose actor is `cli`), so the rules
//! live in one place.

use chrono::{DateTime, Utc};

use crate::accounts::cards::{self, CardRow};
use crate::accounts::structures::Structure;
use crate::accounts::users::{self, NewUser, User};
use crate::crypto::SecretBox;
use crate::domain::roles::Role;
use crate::error::Error;
use crate::federation::provider::{self, Client, ClientSettings, KeyInfo};
use crate::journal::checkpoint::{self, KeyRow};
use crate::journal::note::VerifierKey;
use crate::store::{read_tx, write_tx, DbConn};

/// At most this many rows in a search's answer.
pub const SEARCH_LIMIT: i64 = 200;

/// An account as the operator sees it.
#[derive(Debug, Clone)]
pub struct AccountView {
    /// The account.
    pub user: User,
    /// Its structures, by name.
    pub structures: Vec<Structure>,
    /// Serial of its card, if any.
    pub card: Option<String>,
}

/// Accounts whose name or e-mail contains `q`.
pub fn search_accounts(conn: &mut DbConn, q: &str) -> Result<Vec<User>, Error> {
    Ok(read_tx(conn, |c| users::search(c, q, SEARCH_LIMIT))?)
}

/// One account, its structures and its card; unknown: NotFound.
pub fn account(conn: &mut DbConn, id: &str) -> Result<AccountView, Error> {
    read_tx(conn, |c| {
        let user = users::find(c, id)?.ok_or(Error::NotFound)?;
        Ok(AccountView {
            structures: users::structures_of(c, id)?,
            card: users::card_of(c, id)?,
            user,
        })
    })
}

/// Deactivates (its sessions end) or reactivates an account everywhere; false when it
/// already was in that state (nothing journaled). An administrator cannot deactivate
/// their own account.
pub fn set_account_active(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    id: &str,
    active: bool,
) -> Result<bool, Error> {
    if !active && admin.id == id {
        return Err(Error::Invalid(
            "Vous ne pouvez pas désactiver votre propre compte.".into(),
        ));
    }
    write_tx(conn, |c| {
        users::set_active(c, now, &admin.actor(), None, id, active)
    })
}

/// Forgets an account's second factor (application and card) and ends its sessions; the
/// new enrolment link goes by e-mail to the account's owner only, never to the screen.
pub fn reset_second_factor(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    id: &str,
) -> Result<(), Error> {
    write_tx(conn, |c| {
        let user = users::find(c, id)?.ok_or(Error::NotFound)?;
        if !user.active {
            return Err(Error::Invalid(
                "Ce compte est désactivé : réactivez-le avant de réinitialiser son second facteur."
                    .into(),
            ));
        }
        users::reset_second_factor(c, now, &admin.actor(), None, id)?;
        Ok(())
    })
}

/// What the operator gives for a new account.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Roles (at least one).
    pub roles: Vec<Role>,
    /// Structure to join, if any.
    pub structure: Option<String>,
}

/// Creates an account, as `procura user create` without a password: its enrolment link
/// goes by e-mail to the new account's address (it is never shown to the operator).
pub fn create_account(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    secrets: &SecretBox,
    new: NewAccount,
) -> Result<User, Error> {
    let actor = admin.actor();
    write_tx(conn, |c| {
        let user = users::create(
            c,
            now,
            &actor,
            secrets,
            NewUser {
                email: new.email,
                name: new.name,
                roles: new.roles,
                structure: new.structure.clone(),
                ..Default::default()
            },
        )?;
        users::issue_enrolment(c, now, &actor, new.structure.as_deref(), &user.id)?;
        Ok(user)
    })
}

/// Every registered client, by name.
pub fn clients(conn: &mut DbConn) -> Result<Vec<Client>, Error> {
    Ok(read_tx(conn, provider::clients)?)
}

/// Registers a client; returns it and its secret (to show once).
pub fn create_client(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    settings: &ClientSettings,
) -> Result<(Client, Option<String>), Error> {
    write_tx(conn, |c| {
        provider::create_client(c, now, &admin.actor(), settings)
    })
}

/// Changes a client's settings; returns it and a new secret when one was made.
pub fn update_client(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    id: &str,
    settings: &ClientSettings,
) -> Result<(Client, Option<String>), Error> {
    write_tx(conn, |c| {
        if provider::client(c, id)?.is_none() {
            return Err(Error::NotFound);
        }
        provider::update_client(c, now, &admin.actor(), id, settings)
    })
}

/// Imports cards from `serial,seed` lines; every line is checked before any is imported.
pub fn import_cards(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    secrets: &SecretBox,
    csv: &str,
) -> Result<usize, Error> {
    let rows = cards::parse_csv(csv)?;
    if rows.is_empty() {
        return Err(Error::Invalid(
            "Aucune carte à importer : collez au moins une ligne numéro,graine.".into(),
        ));
    }
    write_tx(conn, |c| {
        cards::import(c, now, &admin.actor(), secrets, &rows)
    })
}

/// Every card with the account it is assigned to.
pub fn cards(conn: &mut DbConn) -> Result<Vec<CardRow>, Error> {
    Ok(read_tx(conn, cards::list)?)
}

/// The OpenID signing keys and the journal's checkpoint keys.
pub fn keys(conn: &mut DbConn) -> Result<(Vec<KeyInfo>, Vec<KeyRow>), Error> {
    read_tx(conn, |c| -> Result<_, Error> {
        Ok((provider::key_list(c)?, checkpoint::keys(c)?))
    })
}

/// Makes a new ES256 key sign (older ones stay published for the grace period); the new
/// key id.
pub fn rotate_signing_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    secrets: &SecretBox,
) -> Result<String, Error> {
    write_tx(conn, |c| {
        provider::rotate_keys(c, now, secrets, &admin.actor())
    })
}

/// Retires the key that signs the journal's checkpoints and makes a new one, named as the
/// current one (or `origin` when there is none), journaled `journal.key_rotated`.
pub fn rotate_journal_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    secrets: &SecretBox,
    origin: &str,
) -> Result<VerifierKey, Error> {
    write_tx(conn, |c| -> Result<_, Error> {
        let name = checkpoint::current_key(c)?
            .map(|k| k.name)
            .unwrap_or_else(|| origin.to_string());
        Ok(checkpoint::rotate_key(
            c,
            now,
            secrets,
            &name,
            &admin.actor(),
            "journal.key_rotated",
        )?)
    })
}

/// Imports an RSA private key (PKCS#8, PEM or DER) for RS256 clients, as
/// `procura keys import-rsa`; older RSA keys are retired. The new key id.
pub fn import_rsa_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    admin: &User,
    secrets: &SecretBox,
    pem: &str,
) -> Result<String, Error> {
    let der = provider::pkcs8_der(pem.trim().as_bytes())?;
    write_tx(conn, |c| {
        provider::import_rsa_key(c, now, secrets, &admin.actor(), &der)
    })
}

/// Makes signed checkpoints up to the journal's head now (as `procura journal
/// checkpoint`), each step its own transaction (a long journal without checkpoints is
/// covered in several, up to the head read first: a busy service keeps adding entries).
/// The latest checkpoint, if any, and whether one was made now.
pub fn checkpoint_now(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    origin: &str,
) -> Result<(Option<checkpoint::Stored>, bool), Error> {
    let target = read_tx(conn, crate::journal::length)?;
    let mut made = false;
    while let Some(cp) = write_tx(conn, |c| {
        checkpoint::make(c, now, secrets, origin, None, checkpoint::MAX_STEP)
    })? {
        made = true;
        if cp.size >= target {
            break;
        }
    }
    Ok((read_tx(conn, checkpoint::latest)?, made))
}
