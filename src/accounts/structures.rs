//! Structures: the organisations whose aidants act on behalf of usagers.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::domain::mandate::{DemarcheSet, Removals};
use crate::domain::valid_siret;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::{memberships, structures};
use crate::store::{lower, read_tx, write_tx, DbConn};

/// A structure.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = structures)]
pub struct Structure {
    /// Id (UUID text).
    pub id: String,
    /// Name.
    pub name: String,
    /// SIRET (14 digits).
    pub siret: String,
    /// Postal address.
    pub address: String,
    /// Active flag.
    pub active: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// The démarches it offers (NULL: every one), see [`DemarcheSet`].
    pub demarches: Option<String>,
    /// When each démarche was last taken away, see [`Removals`].
    pub demarches_removed: Option<String>,
    /// Its type, when a habilitation request gave it (a code of
    /// [`super::habilitation::KINDS`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Structure {
    /// The démarches the structure offers.
    pub fn demarches(&self) -> DemarcheSet {
        DemarcheSet::from_stored(self.demarches.as_deref())
    }
}

/// Checks a structure's name (pure): trimmed, 1 to 200 characters.
fn checked_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::StructureName);
    }
    Ok(name.to_string())
}

/// Checks a postal address (pure): trimmed, 500 characters at most.
fn checked_address(address: &str) -> Result<String, Error> {
    let address = address.trim();
    if address.chars().count() > 500 || address.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::Address);
    }
    Ok(address.to_string())
}

/// Creates a structure offering `demarches`, in one write transaction journaled
/// `structure.created` (and `structure.updated` when it offers fewer than every démarche).
pub fn create_offering(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    name: &str,
    siret: &str,
    address: &str,
    demarches: &DemarcheSet,
) -> Result<Structure, Error> {
    if demarches.is_empty() {
        return Err(Error::Invalid(
            "Choisissez au moins une démarche proposée par la structure.".into(),
        ));
    }
    write_tx(conn, |c| {
        let s = create(c, now, actor, name, siret, address)?;
        set_demarches(c, now, actor, &s.id, demarches)
    })
}

/// Changes a structure's name, address and démarches in one write transaction, journaled
/// `structure.updated` (the démarches' change as by [`set_demarches`]). Unknown: NotFound.
pub fn update(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    id: &str,
    name: &str,
    address: &str,
    demarches: &DemarcheSet,
) -> Result<Structure, Error> {
    let name = checked_name(name)?;
    let address = checked_address(address)?;
    if demarches.is_empty() {
        return Err(Error::Invalid(
            "Choisissez au moins une démarche proposée par la structure.".into(),
        ));
    }
    write_tx(conn, |c| {
        let s = by_id(c, id)?.ok_or(Error::NotFound)?;
        if s.name != name || s.address != address {
            diesel::update(structures::table.filter(structures::id.eq(id)))
                .set((structures::name.eq(&name), structures::address.eq(&address)))
                .execute(c)?;
            let mut e = NewEntry::new("structure.updated")
                .actor(actor)
                .structure(id);
            if s.name != name {
                e = e.detail("name", name.as_str());
            }
            if s.address != address {
                e = e.detail("address_changed", true);
            }
            journal::append(c, now, e)?;
        }
        set_demarches(c, now, actor, id, demarches)
    })
}

/// Deactivates or reactivates a structure, in one write transaction journaled
/// `structure.deactivated` or `structure.reactivated`. Either way its members' rights
/// start again now: codes and tokens issued before stay void, even once it is active
/// again (a deactivation ends the use of its mandates at once, see
/// [`super::users::acting_rights`]). Returns false, with nothing changed or journaled,
/// when it already was in that state.
pub fn set_active(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    id: &str,
    active: bool,
) -> Result<bool, Error> {
    write_tx(conn, |c| {
        let s = by_id(c, id)?.ok_or(Error::NotFound)?;
        if s.active == active {
            return Ok(false);
        }
        diesel::update(structures::table.filter(structures::id.eq(id)))
            .set(structures::active.eq(active))
            .execute(c)?;
        diesel::update(memberships::table.filter(memberships::structure_id.eq(id)))
            .set(memberships::rights_since.eq(now.naive_utc()))
            .execute(c)?;
        journal::append(
            c,
            now,
            NewEntry::new(if active {
                "structure.reactivated"
            } else {
                "structure.deactivated"
            })
            .actor(actor)
            .structure(id),
        )?;
        Ok(true)
    })
}

/// Structures whose name or SIRET contains `q` (every one when blank), by name, at most
/// `limit`.
pub fn search(conn: &mut DbConn, q: &str, limit: i64) -> Result<Vec<Structure>, Error> {
    let q = q.trim().to_lowercase();
    read_tx(conn, |c| {
        let mut query = structures::table
            .select(Structure::as_select())
            .order((structures::name.asc(), structures::id.asc()))
            .limit(limit)
            .into_boxed();
        if !q.is_empty() {
            let pattern = format!("%{}%", like_escaped(&q));
            query = query.filter(
                lower(structures::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(structures::siret.like(pattern).escape('\\')),
            );
        }
        Ok(query.load(c)?)
    })
}

/// `s` with LIKE's wildcards escaped (escape character `\`).
pub fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Creates a structure and journals it, in the caller's transaction.
pub fn create(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    name: &str,
    siret: &str,
    address: &str,
) -> Result<Structure, Error> {
    let name = checked_name(name)?;
    let address = checked_address(address)?;
    let siret: String = siret.chars().filter(|c| !c.is_whitespace()).collect();
    if !valid_siret(&siret) {
        return Err(Error::Siret);
    }
    let exists: i64 = structures::table
        .filter(structures::siret.eq(&siret))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(Error::DuplicateSiret);
    }
    let s = Structure {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        siret,
        address,
        active: true,
        created_at: now.naive_utc(),
        demarches: None,
        demarches_removed: None,
        kind: None,
    };
    diesel::insert_into(structures::table)
        .values(&s)
        .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new("structure.created")
            .actor(actor)
            .structure(&s.id),
    )?;
    Ok(s)
}

/// A structure by id.
pub fn by_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<Structure>> {
    structures::table
        .filter(structures::id.eq(id))
        .select(Structure::as_select())
        .first(conn)
        .optional()
}

/// Names of structures, by id (one query).
pub fn names(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<(String, String)>> {
    structures::table
        .filter(structures::id.eq_any(ids))
        .select((structures::id, structures::name))
        .load(conn)
}

/// A structure by SIRET.
pub fn by_siret(conn: &mut DbConn, siret: &str) -> QueryResult<Option<Structure>> {
    structures::table
        .filter(structures::siret.eq(siret))
        .select(Structure::as_select())
        .first(conn)
        .optional()
}

/// Sets the démarches the structure offers and journals `structure.updated` (detail
/// `demarches`: `"*"` or the codes), in one write transaction; returns the structure as
/// stored. An empty set and an unknown structure are refused; setting the set it already
/// has writes and journals nothing.
pub fn set_demarches(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure_id: &str,
    set: &DemarcheSet,
) -> Result<Structure, Error> {
    if set.is_empty() {
        return Err(Error::Invalid(
            "Choisissez au moins une démarche proposée par la structure.".into(),
        ));
    }
    crate::store::write_tx(conn, |c| {
        let mut s = by_id(c, structure_id)?.ok_or(Error::UnknownStructure)?;
        if s.demarches() == *set {
            return Ok(s);
        }
        let mut removed = Removals::from_stored(s.demarches_removed.as_deref());
        if removed.note(&s.demarches(), set, now.naive_utc()) {
            s.demarches_removed = removed.to_stored();
        }
        s.demarches = set.to_stored();
        diesel::update(structures::table.filter(structures::id.eq(&s.id)))
            .set((
                structures::demarches.eq(&s.demarches),
                structures::demarches_removed.eq(&s.demarches_removed),
            ))
            .execute(c)?;
        journal::append(
            c,
            now,
            NewEntry::new("structure.updated")
                .actor(actor)
                .structure(&s.id)
                .detail("demarches", set.describe()),
        )?;
        Ok(s)
    })
}

/// Records the structure's type (a code of the habilitation form's list), in the caller's
/// transaction (the creation's, just after `structure.created`).
pub fn set_kind(conn: &mut DbConn, structure_id: &str, kind: &str) -> QueryResult<()> {
    diesel::update(structures::table.filter(structures::id.eq(structure_id)))
        .set(structures::kind.eq(Some(kind)))
        .execute(conn)?;
    Ok(())
}
