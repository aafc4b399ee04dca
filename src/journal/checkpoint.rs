//! Signed checkpoints over the journal, their key, the stored tree nodes and the proofs
//! (docs/journal.md, "Checkpoints").
//!
//! A checkpoint is made inside one write transaction: the tree is resumed from the perfect
//! subtrees of the last checkpoint (O(log n) stored hashes), extended with the entries
//! since, every completed interior node is stored, and the signed note is stored. Proofs
//! read the O(log n) nodes they need in one query, plus leaves from the entries.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::merkle::{self, Frontier, Hash, NodeId, Nodes};
use super::note::{self, VerifierKey};
use super::{JournalError, NewEntry};
use crate::crypto::SecretBox;
use crate::store::schema::{journal_checkpoints, journal_entries, journal_keys, journal_tree};
use crate::store::DbConn;

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = journal_checkpoints)]
pub struct Stored {
    /// Entries covered (the tree size).
    pub size: i64,
    /// Root hash, standard base64.
    pub root: String,
    /// The key that signed it (8 hex digits).
    pub key_id: String,
    /// The signed note.
    pub note: String,
    /// When it was made.
    pub created_at: NaiveDateTime,
}

/// A journal signing key as stored (the private half sealed).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = journal_keys)]
pub struct KeyRow {
    /// C2SP key ID, 8 hex digits.
    pub key_id: String,
    /// The key's name: the origin when it was made.
    pub name: String,
    /// Ed25519 public key, standard base64.
    pub public_key: String,
    /// PKCS#8 of the key pair, sealed with the master key.
    pub pkcs8_enc: String,
    /// When it was made.
    pub created_at: NaiveDateTime,
    /// When it stopped signing.
    pub retired_at: Option<NaiveDateTime>,
}

impl KeyRow {
    /// The verifier key.
    pub fn verifier(&self) -> Result<VerifierKey, JournalError> {
        let public = STANDARD
            .decode(&self.public_key)
            .ok()
            .and_then(|p| <[u8; 32]>::try_from(p).ok())
            .ok_or_else(|| JournalError::Key(format!("key {} is not 32 bytes", self.key_id)))?;
        Ok(VerifierKey {
            name: self.name.clone(),
            public,
        })
    }
}

fn seal_context(key_id: &str) -> String {
    format!("journal-key:{key_id}")
}

/// Every journal key, oldest first.
pub fn keys(conn: &mut DbConn) -> Result<Vec<KeyRow>, JournalError> {
    Ok(journal_keys::table
        .order((journal_keys::created_at.asc(), journal_keys::key_id.asc()))
        .select(KeyRow::as_select())
        .load(conn)?)
}

/// The key that signs new checkpoints.
pub fn current_key(conn: &mut DbConn) -> Result<Option<KeyRow>, JournalError> {
    Ok(journal_keys::table
        .filter(journal_keys::retired_at.is_null())
        .order((journal_keys::created_at.desc(), journal_keys::key_id.desc()))
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Makes a new signing key named `origin` and retires the others; journaled as
/// `journal.key_created` (`actor` given: `journal.key_rotated`).
pub fn rotate_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    origin: &str,
    actor: &str,
    action: &str,
) -> Result<VerifierKey, JournalError> {
    if let DbConn::Pg(c) = conn {
        // One rotation at a time, and never beside a checkpoint being made.
        diesel::sql_query("SELECT pg_advisory_xact_lock(7263001)").execute(c)?;
    }
    if !note::valid_name(origin) {
        return Err(JournalError::Key(format!(
            "{origin:?} cannot name a key: empty, or holding a space or a '+'"
        )));
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| JournalError::Key("cannot generate an Ed25519 key".into()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| JournalError::Key("cannot read the generated key".into()))?;
    let vk = VerifierKey {
        name: origin.to_string(),
        public: pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| JournalError::Key("Ed25519 public key of another size".into()))?,
    };
    let id = vk.id_hex();
    let sealed = secrets
        .seal(&seal_context(&id), pkcs8.as_ref())
        .map_err(|e| JournalError::Key(e.to_string()))?;
    diesel::update(journal_keys::table.filter(journal_keys::retired_at.is_null()))
        .set(journal_keys::retired_at.eq(Some(now.naive_utc())))
        .execute(conn)?;
    diesel::insert_into(journal_keys::table)
        .values((
            journal_keys::key_id.eq(&id),
            journal_keys::name.eq(origin),
            journal_keys::public_key.eq(STANDARD.encode(vk.public)),
            journal_keys::pkcs8_enc.eq(sealed),
            journal_keys::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    super::append(
        conn,
        now,
        NewEntry::new(action)
            .actor(actor)
            .detail("key_id", id.as_str())
            .detail("vkey", vk.vkey()),
    )?;
    Ok(vk)
}

/// Makes the first signing key, or a new one when the public host changed (the key's name
/// is the origin); journaled by `actor`. Call inside a write transaction.
pub fn ensure_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    origin: &str,
    actor: &str,
) -> Result<(), JournalError> {
    match current_key(conn)? {
        Some(k) if k.name == origin => Ok(()),
        Some(_) => rotate_key(conn, now, secrets, origin, actor, "journal.key_rotated").map(|_| ()),
        None => rotate_key(conn, now, secrets, origin, actor, "journal.key_created").map(|_| ()),
    }
}

/// The latest checkpoint.
pub fn latest(conn: &mut DbConn) -> Result<Option<Stored>, JournalError> {
    Ok(journal_checkpoints::table
        .order(journal_checkpoints::size.desc())
        .select(Stored::as_select())
        .first(conn)
        .optional()?)
}

/// Checkpoints with `size > after`, ascending, at most `limit`.
pub fn after(conn: &mut DbConn, after: i64, limit: i64) -> Result<Vec<Stored>, JournalError> {
    Ok(journal_checkpoints::table
        .filter(journal_checkpoints::size.gt(after))
        .order(journal_checkpoints::size.asc())
        .limit(limit)
        .select(Stored::as_select())
        .load(conn)?)
}

/// The service's checkpoint use case: looks whether one is due ([`due`], in a read
/// transaction) and, if so, makes it ([`make`] with [`SERVICE_STEP`], in a write
/// transaction). `signed`: what this process signed last.
#[allow(clippy::too_many_arguments)]
pub fn make_if_due(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    origin: &str,
    entries: i64,
    seconds: i64,
    signed: Option<(i64, Hash)>,
) -> Result<Option<Stored>, JournalError> {
    if !crate::store::read_tx(conn, |c| due(c, now, entries, seconds))? {
        return Ok(None);
    }
    crate::store::write_tx(conn, |c| {
        make(c, now, secrets, origin, signed, SERVICE_STEP)
    })
}

/// The sizes of every stored checkpoint, ascending.
pub fn sizes(conn: &mut DbConn) -> Result<Vec<i64>, JournalError> {
    Ok(journal_checkpoints::table
        .order(journal_checkpoints::size.asc())
        .select(journal_checkpoints::size)
        .load(conn)?)
}

/// The first checkpoint that covers entry `seq` (its size is `seq` or more).
pub fn covering(conn: &mut DbConn, seq: i64) -> Result<Option<Stored>, JournalError> {
    Ok(journal_checkpoints::table
        .filter(journal_checkpoints::size.ge(seq))
        .order(journal_checkpoints::size.asc())
        .select(Stored::as_select())
        .first(conn)
        .optional()?)
}

/// Whether a checkpoint is due: `entries` new entries since the last one, or an entry
/// not yet covered that was written `seconds` ago or more.
pub fn due(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    entries: i64,
    seconds: i64,
) -> Result<bool, JournalError> {
    let head = super::length(conn)?;
    let covered = latest_size(conn)?;
    if covered > head {
        return Err(JournalError::Invalid(format!(
            "the last checkpoint covers {covered} entries but the journal holds {head}: entries were removed"
        )));
    }
    if head == covered {
        return Ok(false);
    }
    if head - covered >= entries {
        return Ok(true);
    }
    let oldest: Option<NaiveDateTime> = journal_entries::table
        .filter(journal_entries::seq.eq(covered + 1))
        .select(journal_entries::at)
        .first(conn)
        .optional()?;
    Ok(oldest.is_some_and(|at| (now.naive_utc() - at).num_seconds() >= seconds))
}

/// The size of the latest checkpoint (0 when there is none).
pub fn latest_size(conn: &mut DbConn) -> Result<i64, JournalError> {
    Ok(journal_checkpoints::table
        .select(diesel::dsl::max(journal_checkpoints::size))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Reads the perfect subtrees `ids`: level 0 from the entries' hashes, the others from the
/// stored nodes. Missing ones are simply absent from the map.
fn read_nodes(conn: &mut DbConn, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, JournalError> {
    let mut map = HashMap::with_capacity(ids.len());
    let leaves: Vec<i64> = ids
        .iter()
        .filter(|id| id.level == 0)
        .map(|id| id.index as i64 + 1)
        .collect();
    for chunk in leaves.chunks(500) {
        let rows: Vec<(i64, String)> = journal_entries::table
            .filter(journal_entries::seq.eq_any(chunk))
            .select((journal_entries::seq, journal_entries::hash))
            .load(conn)?;
        for (seq, hash) in rows {
            let data = hex_hash(&hash)?;
            map.insert(
                NodeId {
                    level: 0,
                    index: seq as u64 - 1,
                },
                merkle::leaf_hash(&data),
            );
        }
    }
    let inner: Vec<&NodeId> = ids.iter().filter(|id| id.level > 0).collect();
    for chunk in inner.chunks(200) {
        // (level = ? AND idx = ?) OR …: one indexed look-up each, in one query.
        let mut q = journal_tree::table.into_boxed();
        for id in chunk {
            q = q.or_filter(
                journal_tree::level
                    .eq(id.level as i32)
                    .and(journal_tree::idx.eq(id.index as i64)),
            );
        }
        let rows: Vec<(i32, i64, String)> = q
            .select((journal_tree::level, journal_tree::idx, journal_tree::hash))
            .load(conn)?;
        for (level, idx, hash) in rows {
            map.insert(
                NodeId {
                    level: level as u32,
                    index: idx as u64,
                },
                b64_hash(&hash)?,
            );
        }
    }
    Ok(map)
}

fn hex_hash(h: &str) -> Result<Hash, JournalError> {
    hex::decode(h)
        .ok()
        .and_then(|b| <Hash>::try_from(b).ok())
        .ok_or_else(|| JournalError::Invalid(format!("entry hash {h:?} is not 32 bytes of hex")))
}

fn b64_hash(h: &str) -> Result<Hash, JournalError> {
    STANDARD
        .decode(h)
        .ok()
        .and_then(|b| <Hash>::try_from(b).ok())
        .ok_or_else(|| JournalError::Invalid(format!("tree node {h:?} is not 32 bytes")))
}

/// Runs a tree algorithm on the nodes it needs, read in one batch.
fn with_nodes<T>(
    conn: &mut DbConn,
    f: impl Fn(&mut dyn Nodes) -> Result<T, merkle::MissingNode>,
) -> Result<T, JournalError> {
    let ids = merkle::needed(&f);
    let mut nodes = read_nodes(conn, &ids)?;
    f(&mut nodes).map_err(|e| JournalError::Invalid(e.to_string()))
}

/// Entries a checkpoint made by the command adds at most, so that one transaction stays
/// short (a journal that never had one, after an upgrade, is covered in several steps).
pub const MAX_STEP: i64 = 50_000;

/// Entries a checkpoint made by the service adds at most: it holds the write lock (on
/// SQLite, every writer's) while it reads the entries and stores the nodes, so a journal
/// that is far behind is caught up in steps of a few milliseconds each.
pub const SERVICE_STEP: i64 = 5_000;

/// The key that signs, opened and checked against its row: its name is a valid key name,
/// its key ID is the one of its name and public key, and the sealed key pair's public half
/// is the stored public key (a row changed by SQL is refused, not used).
fn signer(
    conn: &mut DbConn,
    secrets: &SecretBox,
) -> Result<(KeyRow, Ed25519KeyPair), JournalError> {
    let key = current_key(conn)?.ok_or_else(|| JournalError::Key("no journal key".into()))?;
    let pkcs8 = secrets
        .open(&seal_context(&key.key_id), &key.pkcs8_enc)
        .map_err(|e| JournalError::Key(format!("journal key {}: {e}", key.key_id)))?;
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
        .map_err(|_| JournalError::Key(format!("journal key {} cannot be read", key.key_id)))?;
    let vk = key.verifier()?;
    if pair.public_key().as_ref() != vk.public
        || vk.id_hex() != key.key_id
        || VerifierKey::parse(&vk.vkey()).is_err()
    {
        return Err(JournalError::Key(format!(
            "journal key {}: its row does not match the sealed key (changed outside Procura?)",
            key.key_id
        )));
    }
    Ok((key, pair))
}

/// Makes a checkpoint if entries were added since the last one: of the whole journal, or
/// of its first `step` entries after the last checkpoint when more were added. It is
/// signed with the current key (made first, named `origin`, if there is none; an existing
/// key keeps its name: only the start-up renames it). Call inside a write transaction;
/// returns the new checkpoint, or None when the last one already covers the journal.
///
/// It signs only what extends what was signed before: the last stored checkpoint must
/// verify with its key and be the root of the stored nodes it resumes from, the new
/// entries must link one to the next, and `signed` (the size and root this process
/// signed last, if any) must still be in the stored tree. Otherwise it refuses with an
/// error naming why: someone changed the journal or its checkpoints in the database.
pub fn make(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    origin: &str,
    signed: Option<(i64, Hash)>,
    step: i64,
) -> Result<Option<Stored>, JournalError> {
    if let DbConn::Pg(c) = conn {
        // Two instances never build the same nodes at once.
        diesel::sql_query("SELECT pg_advisory_xact_lock(7263001)").execute(c)?;
    }
    if current_key(conn)?.is_none() {
        rotate_key(conn, now, secrets, origin, "system", "journal.key_created")?;
    }
    // The key first: a key that cannot sign fails before any work.
    let (key, pair) = signer(conn, secrets)?;
    let last = latest(conn)?;
    let from = last.as_ref().map_or(0, |c| c.size);
    let length = super::length(conn)?;
    if length < from {
        return Err(JournalError::Invalid(format!(
            "the last checkpoint covers {from} entries but the journal holds {length}: entries were removed"
        )));
    }
    let head = length.min(from.saturating_add(step.max(1)));
    if head <= from {
        return Ok(None);
    }
    let ids = Frontier::resume_nodes(from as u64);
    let mut nodes = read_nodes(conn, &ids)?;
    let mut tree = Frontier::resume(from as u64, &mut nodes)
        .map_err(|e| JournalError::Invalid(e.to_string()))?;
    if let Some(last) = &last {
        check_stored(conn, last, &tree.root())?;
    }
    if let Some((size, root)) = signed {
        if size > from || (size > 0 && self::root(conn, size)? != root) {
            return Err(JournalError::Invalid(format!(
                "the checkpoint of size {size} this service signed is no longer in the stored tree"
            )));
        }
    }
    // The hash the next entry links to.
    let mut prev: String = if from == 0 {
        super::GENESIS_HASH.to_string()
    } else {
        journal_entries::table
            .filter(journal_entries::seq.eq(from))
            .select(journal_entries::hash)
            .first(conn)
            .optional()?
            .ok_or_else(|| broken(from))?
    };
    let mut after = from;
    let mut completed: Vec<(i32, i64, String)> = Vec::new();
    while after < head {
        let rows: Vec<(i64, String, String)> = journal_entries::table
            .filter(journal_entries::seq.gt(after))
            .filter(journal_entries::seq.le(head))
            .order(journal_entries::seq.asc())
            .limit(10_000)
            .select((
                journal_entries::seq,
                journal_entries::prev_hash,
                journal_entries::hash,
            ))
            .load(conn)?;
        if rows.is_empty() {
            return Err(broken(after + 1));
        }
        for (seq, prev_hash, hash) in rows {
            if seq != after + 1 || prev_hash != prev {
                return Err(broken(after + 1));
            }
            tree.push(&hex_hash(&hash)?, |id, h| {
                completed.push((id.level as i32, id.index as i64, STANDARD.encode(h)));
            });
            after = seq;
            prev = hash;
        }
        for chunk in completed.chunks(1000) {
            // Integers and base64 that this function computed: nothing to escape. (diesel's
            // batch insert is not available on a connection that serves both backends.)
            let values: Vec<String> = chunk
                .iter()
                .map(|(l, i, h)| format!("({l},{i},'{h}')"))
                .collect();
            diesel::sql_query(format!(
                "INSERT INTO journal_tree (level, idx, hash) VALUES {}",
                values.join(",")
            ))
            .execute(conn)?;
        }
        completed.clear();
    }
    let root = tree.root();
    let body = note::body(&key.name, head as u64, &root);
    let stored = Stored {
        size: head,
        root: STANDARD.encode(root),
        key_id: key.key_id.clone(),
        note: note::sign(&body, &key.name, &pair),
        created_at: now.naive_utc(),
    };
    diesel::insert_into(journal_checkpoints::table)
        .values((
            journal_checkpoints::size.eq(stored.size),
            journal_checkpoints::root.eq(&stored.root),
            journal_checkpoints::key_id.eq(&stored.key_id),
            journal_checkpoints::note.eq(&stored.note),
            journal_checkpoints::created_at.eq(stored.created_at),
        ))
        .execute(conn)?;
    Ok(Some(stored))
}

fn broken(seq: i64) -> JournalError {
    JournalError::Invalid(format!(
        "entry {seq} is missing or does not link to the one before: no checkpoint over a broken journal"
    ))
}

/// Checks the last stored checkpoint before extending it: its note verifies with the key
/// it names, states its row's size and root, and that root is the one of the stored nodes.
fn check_stored(conn: &mut DbConn, last: &Stored, resumed: &Hash) -> Result<(), JournalError> {
    let bad = |why: &str| {
        JournalError::Invalid(format!(
            "the stored checkpoint of size {}: {why}",
            last.size
        ))
    };
    let cp = note::Checkpoint::parse(&last.note).map_err(|e| bad(&e))?;
    let key = journal_keys::table
        .filter(journal_keys::key_id.eq(&last.key_id))
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| bad("its key is unknown"))?;
    cp.verify(&[key.verifier()?])
        .map_err(|_| bad("its signature does not verify"))?;
    if cp.size as i64 != last.size || STANDARD.encode(cp.root) != last.root || &cp.root != resumed {
        return Err(bad("its root is not the one of the stored tree"));
    }
    Ok(())
}

/// The size of the tree that proofs can be given for: the latest checkpoint's.
fn proof_size(conn: &mut DbConn) -> Result<i64, JournalError> {
    latest_size(conn)
}

/// An inclusion proof of entry `seq` in the tree of `size` entries (`1 ≤ seq ≤ size ≤`
/// the latest checkpoint's size).
pub fn inclusion(conn: &mut DbConn, seq: i64, size: i64) -> Result<Vec<Hash>, JournalError> {
    let tree = proof_size(conn)?;
    if size < 1 || size > tree {
        return Err(JournalError::OutOfRange(format!(
            "size must be from 1 to {tree} (the latest checkpoint's size)"
        )));
    }
    if seq < 1 || seq > size {
        return Err(JournalError::OutOfRange(format!(
            "seq must be from 1 to size ({size})"
        )));
    }
    let (i, n) = (seq as u64 - 1, size as u64);
    with_nodes(conn, |src| merkle::inclusion_proof(src, i, n))
}

/// A consistency proof from the tree of `from` entries to that of `to` entries
/// (`0 ≤ from ≤ to ≤` the latest checkpoint's size).
pub fn consistency(conn: &mut DbConn, from: i64, to: i64) -> Result<Vec<Hash>, JournalError> {
    let tree = proof_size(conn)?;
    if to < 0 || to > tree {
        return Err(JournalError::OutOfRange(format!(
            "to must be from 0 to {tree} (the latest checkpoint's size)"
        )));
    }
    if from < 0 || from > to {
        return Err(JournalError::OutOfRange(format!(
            "from must be from 0 to to ({to})"
        )));
    }
    let (m, n) = (from as u64, to as u64);
    with_nodes(conn, |src| merkle::consistency_proof(src, m, n))
}

/// The root of the tree of `size` entries (`size ≤` the latest checkpoint's size), from
/// stored nodes.
pub fn root(conn: &mut DbConn, size: i64) -> Result<Hash, JournalError> {
    let tree = proof_size(conn)?;
    if size < 0 || size > tree {
        return Err(JournalError::OutOfRange(format!(
            "size must be from 0 to {tree} (the latest checkpoint's size)"
        )));
    }
    let n = size as u64;
    with_nodes(conn, |src| merkle::root(src, n))
}

/// Inclusion proofs of entries `seqs` (each from 1 to `size`) in the tree of `size`
/// entries (`size ≤` the latest checkpoint's size), in the order given: the union of the
/// nodes they need is read in one batch.
pub fn inclusions(
    conn: &mut DbConn,
    seqs: &[i64],
    size: i64,
) -> Result<Vec<Vec<Hash>>, JournalError> {
    let tree = proof_size(conn)?;
    if size < 1 || size > tree {
        return Err(JournalError::OutOfRange(format!(
            "size must be from 1 to {tree} (the latest checkpoint's size)"
        )));
    }
    if let Some(bad) = seqs.iter().find(|s| **s < 1 || **s > size) {
        return Err(JournalError::OutOfRange(format!(
            "seq {bad} is not from 1 to size ({size})"
        )));
    }
    let n = size as u64;
    with_nodes(conn, |src| {
        seqs.iter()
            .map(|s| merkle::inclusion_proof(src, *s as u64 - 1, n))
            .collect()
    })
}

/// The public evidence's read use cases, each in one read transaction.
pub mod public {
    use super::{Hash, JournalError};
    use crate::store::{read_tx, DbConn};

    /// The latest signed checkpoint's note.
    pub fn latest_note(conn: &mut DbConn) -> Result<Option<String>, JournalError> {
        Ok(read_tx(conn, super::latest)?.map(|c| c.note))
    }

    /// The vkey of the key that signs now.
    pub fn current_vkey(conn: &mut DbConn) -> Result<Option<String>, JournalError> {
        read_tx(conn, |c| {
            super::current_key(c)?
                .map(|k| k.verifier().map(|v| v.vkey()))
                .transpose()
        })
    }

    /// The vkey of every key that signed, oldest first.
    pub fn all_vkeys(conn: &mut DbConn) -> Result<Vec<String>, JournalError> {
        read_tx(conn, |c| {
            super::keys(c)?
                .iter()
                .map(|k| k.verifier().map(|v| v.vkey()))
                .collect()
        })
    }

    /// [`super::inclusion`] in one read transaction.
    pub fn inclusion(conn: &mut DbConn, seq: i64, size: i64) -> Result<Vec<Hash>, JournalError> {
        read_tx(conn, |c| super::inclusion(c, seq, size))
    }

    /// [`super::consistency`] in one read transaction.
    pub fn consistency(conn: &mut DbConn, from: i64, to: i64) -> Result<Vec<Hash>, JournalError> {
        read_tx(conn, |c| super::consistency(c, from, to))
    }
}
