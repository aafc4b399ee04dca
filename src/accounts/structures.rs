//! Structures: the organisations whose aidants act on behalf of usagers.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::domain::mandate::{DemarcheSet, Removals};
use crate::domain::valid_siret;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::structures;
use crate::store::DbConn;

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

/// Creates a structure and journals it, in the caller's transaction.
pub fn create(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    name: &str,
    siret: &str,
    address: &str,
) -> Result<Structure, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::StructureName);
    }
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
        name: name.to_string(),
        siret,
        address: address.trim().to_string(),
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
