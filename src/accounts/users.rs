//! Accounts: creation, memberships, activation, enrolment links, structure switching.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::structures::Structure;
use super::{password, sessions, totp};
use crate::crypto::{new_token, sha256_hex, SecretBox};
use crate::domain::password_policy;
use crate::domain::roles::{Role, Roles};
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::{enrolment_tokens, memberships, structures, totp_cards, users};
use crate::store::{write_tx, DbConn};

mod deactivations {
    diesel::table! {
        /// Which structure's manager deactivated an account (read and written here only).
        account_deactivations (user_id) {
            user_id -> Text,
            structure_id -> Text,
            at -> Timestamp,
        }
    }
}
use deactivations::account_deactivations;

/// Validity of an enrolment link.
pub const ENROLMENT_VALIDITY_HOURS: i64 = 48;

/// An account.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    /// Id (UUID text).
    pub id: String,
    /// E-mail, lowercased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Roles, comma-separated codes.
    pub roles: String,
    /// Active flag.
    pub active: bool,
    /// Argon2id PHC string.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// TOTP secret encrypted with the master key.
    #[serde(skip)]
    pub totp_secret_enc: Option<String>,
    /// Last accepted TOTP step (replay protection).
    pub totp_last_step: Option<i64>,
    /// Consecutive failed logins.
    pub failed_logins: i32,
    /// Locked until this time.
    pub locked_until: Option<NaiveDateTime>,
    /// Last successful login.
    pub last_login: Option<NaiveDateTime>,
    /// Current structure.
    pub current_structure_id: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Accredited until this time: the latest expiry of its recorded trainings not
    /// cancelled (None: never accredited). See [`super::accreditation`].
    pub accredited_until: Option<NaiveDateTime>,
    /// When a manager reset its password, until a new one is chosen.
    pub password_reset_at: Option<NaiveDateTime>,
}

impl User {
    /// Parsed roles.
    pub fn role_set(&self) -> Roles {
        Roles::parse(&self.roles)
    }

    /// True when the account holds `r`.
    pub fn has(&self, r: Role) -> bool {
        self.role_set().has(r)
    }

    /// The journal's actor string.
    pub fn actor(&self) -> String {
        format!("user:{}", self.id)
    }

    /// The account as it acts in one structure: the role `manager` says that the account
    /// manages at least one structure, its membership's flag (`manages`) says whether it
    /// manages this one. Without it, the manager role is taken out.
    pub fn in_structure(mut self, manages: bool) -> Self {
        if !manages && self.has(Role::Manager) {
            self.roles = with_role(&self.role_set(), Role::Manager, false).stored();
        }
        self
    }

    /// Encryption context of this account's TOTP secret.
    pub fn totp_context(&self) -> String {
        format!("totp:{}", self.id)
    }
}

/// `roles` with `role` given (`on`) or taken away.
pub fn with_role(roles: &Roles, role: Role, on: bool) -> Roles {
    Roles::new(
        Role::ALL
            .into_iter()
            .filter(|r| if *r == role { on } else { roles.has(*r) })
            .collect(),
    )
}

/// Normalises and checks an e-mail address.
pub fn normalize_email(email: &str) -> Result<String, Error> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e
                    .chars()
                    .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',')
                && e.matches('@').count() == 1
        });
    if valid {
        Ok(e)
    } else {
        Err(Error::Email)
    }
}

/// What a new account needs.
#[derive(Debug, Default)]
pub struct NewUser {
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Roles (at least one).
    pub roles: Vec<Role>,
    /// Structure to join (becomes the current one).
    pub structure: Option<String>,
    /// Initial password (scripted set-up).
    pub password: Option<String>,
    /// Imported TOTP secret.
    pub totp_secret: Option<Vec<u8>>,
}

/// Creates an account and journals it, in the caller's transaction.
pub fn create(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    secrets: &SecretBox,
    new: NewUser,
) -> Result<User, Error> {
    let email = normalize_email(&new.email)?;
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::Name);
    }
    let roles = Roles::new(new.roles);
    if roles.is_empty() {
        return Err(Error::NoRole);
    }
    if let Some(p) = &new.password {
        password_policy::check(p, &email).map_err(Error::Password)?;
    }
    if find_by_email(conn, &email)?.is_some() {
        return Err(Error::DuplicateEmail);
    }
    if let Some(s) = &new.structure {
        let exists: i64 = structures::table
            .filter(structures::id.eq(s))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(Error::UnknownStructure);
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let totp_secret_enc = match &new.totp_secret {
        Some(s) => Some(secrets.seal(&format!("totp:{id}"), s)?),
        None => None,
    };
    let user = User {
        id,
        email,
        name,
        roles: roles.stored(),
        active: true,
        password_hash: new.password.as_deref().map(password::hash),
        totp_secret_enc,
        totp_last_step: None,
        failed_logins: 0,
        locked_until: None,
        last_login: None,
        current_structure_id: new.structure.clone(),
        created_at: now.naive_utc(),
        accredited_until: None,
        password_reset_at: None,
    };
    diesel::insert_into(users::table)
        .values(&user)
        .execute(conn)?;
    let mut entry = NewEntry::new("account.created")
        .actor(actor)
        .detail("account", user.id.as_str())
        .detail("roles", user.roles.as_str())
        .detail("password_set", user.password_hash.is_some())
        .detail("totp_imported", user.totp_secret_enc.is_some());
    if let Some(s) = &new.structure {
        diesel::insert_into(memberships::table)
            .values((
                memberships::user_id.eq(&user.id),
                memberships::structure_id.eq(s),
                memberships::created_at.eq(now.naive_utc()),
                memberships::rights_since.eq(now.naive_utc()),
                memberships::manager.eq(roles.has(Role::Manager)),
            ))
            .execute(conn)?;
        entry = entry.structure(s);
    }
    journal::append(conn, now, entry)?;
    Ok(user)
}

/// Finds an account by e-mail (normalised).
pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email.trim().to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Display names of accounts, by id.
pub fn names(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<(String, String)>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::name))
        .load(conn)
}

/// Finds an account by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::id.eq(id))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Accounts whose name or e-mail contains `q` (case-insensitive; every account when
/// blank), by name, at most `limit`.
pub fn search(conn: &mut DbConn, q: &str, limit: i64) -> QueryResult<Vec<User>> {
    let q = q.trim().to_lowercase();
    let mut query = users::table
        .select(User::as_select())
        .order((users::name.asc(), users::id.asc()))
        .limit(limit)
        .into_boxed();
    if !q.is_empty() {
        let pattern = format!("%{}%", super::structures::like_escaped(&q));
        query = query.filter(
            crate::store::lower(users::name)
                .like(pattern.clone())
                .escape('\\')
                .or(users::email.like(pattern).escape('\\')),
        );
    }
    query.load(conn)
}

/// Serial of the card assigned to the account, if any.
pub fn card_of(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<String>> {
    totp_cards::table
        .filter(totp_cards::user_id.eq(user_id))
        .select(totp_cards::serial)
        .first(conn)
        .optional()
}

/// Structures the account belongs to, by name.
pub fn structures_of(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<Structure>> {
    memberships::table
        .inner_join(structures::table)
        .filter(memberships::user_id.eq(user_id))
        .order(structures::name.asc())
        .select(Structure::as_select())
        .load(conn)
}

/// True when the account belongs to the structure.
pub fn is_member(conn: &mut DbConn, user_id: &str, structure_id: &str) -> QueryResult<bool> {
    has_membership(conn, user_id, structure_id, true)
}

/// True when the account has a membership in `structure_id` (`inside`), or else in another
/// structure (one query either way).
fn has_membership(
    conn: &mut DbConn,
    user_id: &str,
    structure_id: &str,
    inside: bool,
) -> QueryResult<bool> {
    let of_user = memberships::table
        .filter(memberships::user_id.eq(user_id))
        .count();
    let n: i64 = if inside {
        of_user
            .filter(memberships::structure_id.eq(structure_id))
            .get_result(conn)?
    } else {
        of_user
            .filter(memberships::structure_id.ne(structure_id))
            .get_result(conn)?
    };
    Ok(n > 0)
}

/// A row of the manager's list (the account's roles are those it holds in the structure:
/// [`User::in_structure`]).
#[derive(Debug, Clone, Serialize)]
pub struct MemberRow {
    /// The account.
    pub user: User,
    /// Serial of the assigned card, if any.
    pub card_serial: Option<String>,
}

/// Accounts of a structure, by name, with their card (one query).
pub fn members(conn: &mut DbConn, structure_id: &str) -> QueryResult<Vec<MemberRow>> {
    let rows: Vec<(User, bool, Option<String>)> = memberships::table
        .inner_join(users::table.left_join(totp_cards::table))
        .filter(memberships::structure_id.eq(structure_id))
        .order((users::name.asc(), users::id.asc()))
        .select((
            User::as_select(),
            memberships::manager,
            totp_cards::serial.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user, manages, card_serial)| MemberRow {
            user: user.in_structure(manages),
            card_serial,
        })
        .collect())
}

/// One account of a structure, with its card.
pub fn member(
    conn: &mut DbConn,
    structure_id: &str,
    user_id: &str,
) -> QueryResult<Option<MemberRow>> {
    let row: Option<(User, bool, Option<String>)> = memberships::table
        .inner_join(users::table.left_join(totp_cards::table))
        .filter(memberships::structure_id.eq(structure_id))
        .filter(users::id.eq(user_id))
        .select((
            User::as_select(),
            memberships::manager,
            totp_cards::serial.nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user, manages, card_serial)| MemberRow {
        user: user.in_structure(manages),
        card_serial,
    }))
}

/// Activates or deactivates an account; deactivation ends its sessions at once. A
/// manager's deactivation (`structure` given) remembers the structure, so that only its
/// managers may undo it; the operator's (`None`) also clears the lock. Returns false, with
/// nothing changed or journaled, when the account is already in that state.
pub fn set_active(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure: Option<&str>,
    user_id: &str,
    active: bool,
) -> Result<bool, Error> {
    let current: bool = users::table
        .filter(users::id.eq(user_id))
        .select(users::active)
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound)?;
    if current == active {
        return Ok(false);
    }
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set(users::active.eq(active))
        .execute(conn)?;
    // Codes and tokens issued before stay void, even once the account is active again.
    diesel::update(memberships::table.filter(memberships::user_id.eq(user_id)))
        .set(memberships::rights_since.eq(now.naive_utc()))
        .execute(conn)?;
    diesel::delete(account_deactivations::table.filter(account_deactivations::user_id.eq(user_id)))
        .execute(conn)?;
    if let (false, Some(s)) = (active, structure) {
        diesel::insert_into(account_deactivations::table)
            .values((
                account_deactivations::user_id.eq(user_id),
                account_deactivations::structure_id.eq(s),
                account_deactivations::at.eq(now.naive_utc()),
            ))
            .execute(conn)?;
    }
    if structure.is_none() {
        diesel::update(users::table.filter(users::id.eq(user_id)))
            .set((
                users::failed_logins.eq(0),
                users::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    if !active {
        sessions::delete_for_user(conn, user_id)?;
    }
    let e = NewEntry::new(if active {
        "account.reactivated"
    } else {
        "account.deactivated"
    })
    .actor(actor)
    .detail("account", user_id)
    .structure_opt(structure);
    journal::append(conn, now, e)?;
    Ok(true)
}

/// The structure whose manager deactivated the account (None: active, or deactivated
/// by the operator).
pub fn deactivated_in(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<String>> {
    account_deactivations::table
        .filter(account_deactivations::user_id.eq(user_id))
        .select(account_deactivations::structure_id)
        .first(conn)
        .optional()
}

/// True when the account belongs to a structure other than `structure_id`.
pub fn belongs_elsewhere(
    conn: &mut DbConn,
    user_id: &str,
    structure_id: &str,
) -> QueryResult<bool> {
    has_membership(conn, user_id, structure_id, false)
}

/// Removes the account from a structure (the account itself stays as it is): its current
/// structure becomes its oldest other one, if any. Journaled.
pub fn remove_member(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure_id: &str,
    user_id: &str,
) -> Result<(), Error> {
    let n = diesel::delete(
        memberships::table
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::structure_id.eq(structure_id)),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    let next: Option<String> = memberships::table
        .filter(memberships::user_id.eq(user_id))
        .select(memberships::structure_id)
        .order(memberships::created_at.asc())
        .first(conn)
        .optional()?;
    diesel::update(
        users::table
            .filter(users::id.eq(user_id))
            .filter(users::current_structure_id.eq(structure_id)),
    )
    .set(users::current_structure_id.eq(next))
    .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new("account.removed_from_structure")
            .actor(actor)
            .structure(structure_id)
            .detail("account", user_id),
    )?;
    Ok(())
}

/// Issues a one-time enrolment link token (plain; only its hash is stored).
pub fn issue_enrolment(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure: Option<&str>,
    user_id: &str,
) -> Result<String, Error> {
    let token = new_token();
    // Older unused links of the account stop working: only the newest is valid.
    diesel::update(
        enrolment_tokens::table
            .filter(enrolment_tokens::user_id.eq(user_id))
            .filter(enrolment_tokens::used_at.is_null()),
    )
    .set(enrolment_tokens::used_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    diesel::insert_into(enrolment_tokens::table)
        .values((
            enrolment_tokens::token_hash.eq(sha256_hex(token.as_bytes())),
            enrolment_tokens::user_id.eq(user_id),
            enrolment_tokens::created_at.eq(now.naive_utc()),
            enrolment_tokens::expires_at
                .eq((now + Duration::hours(ENROLMENT_VALIDITY_HOURS)).naive_utc()),
        ))
        .execute(conn)?;
    let e = NewEntry::new("enrolment.issued")
        .actor(actor)
        .detail("account", user_id)
        .structure_opt(structure);
    journal::append(conn, now, e)?;
    crate::notify::enrolment_issued(
        conn,
        now,
        user_id,
        structure,
        &token,
        ENROLMENT_VALIDITY_HOURS,
    )?;
    Ok(token)
}

/// Clears the second factor (app secret and card) and ends sessions; the account must
/// enrol again through a new link, which is returned (and e-mailed to the account). A
/// manager's reset names their structure; the operator's (`None`) none.
pub fn reset_second_factor(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure: Option<&str>,
    user_id: &str,
) -> Result<String, Error> {
    let n = diesel::update(users::table.filter(users::id.eq(user_id)))
        .set((
            users::totp_secret_enc.eq(None::<String>),
            users::totp_last_step.eq(None::<i64>),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    diesel::update(totp_cards::table.filter(totp_cards::user_id.eq(user_id)))
        .set(totp_cards::user_id.eq(None::<String>))
        .execute(conn)?;
    sessions::delete_for_user(conn, user_id)?;
    journal::append(
        conn,
        now,
        NewEntry::new("account.second_factor_reset")
            .actor(actor)
            .structure_opt(structure)
            .detail("account", user_id),
    )?;
    issue_enrolment(conn, now, actor, structure, user_id)
}

/// Forgets the account's password (its second factor stays) and ends its sessions; the
/// account chooses a new one through a new link, confirmed with a code of its second
/// factor ([`super::login::reset_password_step`]). The link is returned.
pub fn reset_password(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure: &str,
    user_id: &str,
) -> Result<String, Error> {
    let n = diesel::update(users::table.filter(users::id.eq(user_id)))
        .set((
            users::password_hash.eq(None::<String>),
            users::password_reset_at.eq(Some(now.naive_utc())),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    sessions::delete_for_user(conn, user_id)?;
    journal::append(
        conn,
        now,
        NewEntry::new("account.password_reset")
            .actor(actor)
            .structure(structure)
            .detail("account", user_id),
    )?;
    issue_enrolment(conn, now, actor, Some(structure), user_id)
}

/// Sets the new password of a reset link's account (`token_hash`), confirmed by
/// `factor`: spends the link, lifts any lock, ends sessions, journals it.
pub(crate) fn set_new_password(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token_hash: &str,
    user: &User,
    new_password: &str,
    factor: &str,
) -> Result<User, Error> {
    let hash = password::hash(new_password);
    diesel::update(users::table.filter(users::id.eq(&user.id)))
        .set((
            users::password_hash.eq(Some(&hash)),
            users::password_reset_at.eq(None::<NaiveDateTime>),
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    diesel::update(enrolment_tokens::table.filter(enrolment_tokens::token_hash.eq(token_hash)))
        .set(enrolment_tokens::used_at.eq(Some(now.naive_utc())))
        .execute(conn)?;
    sessions::delete_for_user(conn, &user.id)?;
    journal::append(
        conn,
        now,
        NewEntry::new("account.password_changed")
            .actor(user.actor())
            .detail("factor", factor)
            .structure_opt(user.current_structure_id.as_deref()),
    )?;
    Ok(User {
        password_hash: Some(hash),
        failed_logins: 0,
        locked_until: None,
        ..user.clone()
    })
}

/// Whether the account has a second factor (an app or a card).
pub fn has_second_factor(conn: &mut DbConn, user: &User) -> QueryResult<bool> {
    if user.totp_secret_enc.is_some() {
        return Ok(true);
    }
    let cards: i64 = totp_cards::table
        .filter(totp_cards::user_id.eq(&user.id))
        .count()
        .get_result(conn)?;
    Ok(cards > 0)
}

/// A valid (unused, unexpired) enrolment token and its account.
pub fn enrolment_for(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
) -> QueryResult<Option<(String, User, Option<String>)>> {
    let hash = sha256_hex(token.as_bytes());
    type Row = (
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<String>,
    );
    let row: Option<Row> = enrolment_tokens::table
        .filter(enrolment_tokens::token_hash.eq(&hash))
        .select((
            enrolment_tokens::token_hash,
            enrolment_tokens::user_id,
            enrolment_tokens::expires_at,
            enrolment_tokens::used_at,
            enrolment_tokens::totp_pending_enc,
        ))
        .first(conn)
        .optional()?;
    let Some((hash, user_id, expires_at, used_at, pending)) = row else {
        return Ok(None);
    };
    if used_at.is_some() || expires_at <= now.naive_utc() {
        return Ok(None);
    }
    match find(conn, &user_id)? {
        Some(u) if u.active => Ok(Some((hash, u, pending))),
        _ => Ok(None),
    }
}

/// The pending TOTP secret of an enrolment, created on first view.
pub fn pending_secret(
    secrets: &SecretBox,
    token_hash: &str,
    user: &User,
    existing: Option<String>,
) -> Result<Vec<u8>, Error> {
    if let Some(enc) = existing {
        // Links issued before secrets were derived kept theirs sealed in the row.
        return Ok(secrets.open(&format!("enrol:{}", user.id), &enc)?);
    }
    // Derived from the link, so showing the enrolment page writes nothing and a reload
    // shows the same secret.
    Ok(secrets.derive(&format!("enrol:{}:{token_hash}", user.id))?)
}

/// Completes an enrolment: password (when not yet set) and the app's first valid code.
pub fn complete_enrolment(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    token: &str,
    new_password: Option<&str>,
    code: &str,
) -> Result<User, Error> {
    write_tx(conn, |conn| {
        let (hash, user, pending) = enrolment_for(conn, now, token)?.ok_or(Error::LinkInvalid)?;
        if has_second_factor(conn, &user)? {
            // A password reset link: it never replaces the second factor it is confirmed
            // with (super::login::reset_password_step).
            return Err(Error::LinkInvalid);
        }
        let secret = pending_secret(secrets, &hash, &user, pending)?;
        let password_hash = match (&user.password_hash, new_password) {
            (Some(_), _) => None,
            (None, Some(p)) => {
                password_policy::check(p, &user.email).map_err(Error::Password)?;
                Some(password::hash(p))
            }
            (None, None) => return Err(Error::Password("Choisissez un mot de passe.")),
        };
        let step = match totp::check(&secret, code, now, None) {
            totp::Check::Accepted(step) => step,
            _ => return Err(Error::WrongCode),
        };
        diesel::update(users::table.filter(users::id.eq(&user.id)))
            .set((
                users::totp_secret_enc.eq(Some(secrets.seal(&user.totp_context(), &secret)?)),
                users::totp_last_step.eq(Some(step)),
                users::failed_logins.eq(0),
                users::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        if let Some(h) = &password_hash {
            diesel::update(users::table.filter(users::id.eq(&user.id)))
                .set((
                    users::password_hash.eq(Some(h)),
                    users::password_reset_at.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
        }
        diesel::update(enrolment_tokens::table.filter(enrolment_tokens::token_hash.eq(&hash)))
            .set(enrolment_tokens::used_at.eq(Some(now.naive_utc())))
            .execute(conn)?;
        sessions::delete_for_user(conn, &user.id)?;
        let e = NewEntry::new("account.enrolled")
            .actor(user.actor())
            .detail("password_set", password_hash.is_some())
            .structure_opt(user.current_structure_id.as_deref());
        journal::append(conn, now, e)?;
        Ok(user)
    })
}

/// Makes `structure_id` the account's current structure (it must be a member).
pub fn switch_structure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user: &User,
    structure_id: &str,
) -> Result<(), Error> {
    write_tx(conn, |conn| {
        if !is_member(conn, &user.id, structure_id)? {
            return Err(Error::NotFound);
        }
        if user.current_structure_id.as_deref() == Some(structure_id) {
            // Already the current structure: nothing changes, nothing is journaled.
            return Ok(());
        }
        diesel::update(users::table.filter(users::id.eq(&user.id)))
            .set(users::current_structure_id.eq(Some(structure_id)))
            .execute(conn)?;
        let mut e = NewEntry::new("account.structure_switched")
            .actor(user.actor())
            .structure(structure_id);
        if let Some(from) = &user.current_structure_id {
            e = e.detail("from", from.as_str());
        }
        journal::append(conn, now, e)?;
        Ok(())
    })
}

/// What an aidant may still do in a structure, for re-checking a code or a token.
#[derive(Debug, Clone)]
pub struct ActingRights {
    /// The démarches the structure offers.
    pub demarches: crate::domain::mandate::DemarcheSet,
    /// When the structure last took each démarche away.
    pub removed: crate::domain::mandate::Removals,
    /// Since when the aidant's rights in the structure run unbroken (membership created,
    /// account deactivated or reactivated): a use issued before is void.
    pub since: NaiveDateTime,
    /// Until when the aidant is accredited ([`super::accreditation`]).
    pub accredited_until: Option<NaiveDateTime>,
}

impl ActingRights {
    /// True when the aidant is accredited at `now`.
    pub fn accredited_at(&self, now: DateTime<Utc>) -> bool {
        super::accreditation::Standing::at(self.accredited_until, now.naive_utc()).accredited()
    }
}

/// The rights an aidant still has in a structure, read in one statement: None when the
/// account is inactive or no longer an aidant, is not a member of the structure any more,
/// or the structure is inactive. A code's redemption and each use of an access token ask
/// this, so that a deactivation, a removal or a restriction takes effect at once, and for
/// good.
pub fn acting_rights(
    conn: &mut DbConn,
    acting: &super::Acting,
) -> QueryResult<Option<ActingRights>> {
    type Row = (
        String,
        Option<String>,
        Option<String>,
        NaiveDateTime,
        Option<NaiveDateTime>,
    );
    let row: Option<Row> = users::table
        .inner_join(memberships::table.inner_join(structures::table))
        .filter(users::id.eq(&acting.user_id))
        .filter(memberships::structure_id.eq(&acting.structure_id))
        .filter(users::active.eq(true))
        .filter(structures::active.eq(true))
        .select((
            users::roles,
            structures::demarches,
            structures::demarches_removed,
            memberships::rights_since,
            users::accredited_until,
        ))
        .first(conn)
        .optional()?;
    Ok(row
        .filter(|(roles, ..)| Roles::parse(roles).has(Role::Aidant))
        .map(|(_, d, removed, since, accredited_until)| ActingRights {
            demarches: crate::domain::mandate::DemarcheSet::from_stored(d.as_deref()),
            removed: crate::domain::mandate::Removals::from_stored(removed.as_deref()),
            since,
            accredited_until,
        }))
}
