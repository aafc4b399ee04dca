//! The Merkle tree over the journal (RFC 9162 §2.1), as pure functions.
//!
//! Leaf *i* (0-based) is entry `seq = i + 1`; its leaf data is the 32 raw bytes of that
//! entry's `hash`. Every proof and root is computed from the hashes of *perfect aligned
//! subtrees*: the node at `(level, index)` covers leaves `index·2^level ..
//! (index+1)·2^level`. Level 0 is a leaf hash; levels 1 and up are stored by the
//! checkpointer as they complete, so a root or a proof reads O(log n) stored hashes
//! instead of rebuilding the tree.
//!
//! The algorithms ask a [`Nodes`] source for the perfect subtrees they need. Which ones
//! they need does not depend on the hashes, so [`needed`] lists them first (one batched
//! read), and the same algorithm then runs on what was read.

use std::collections::{BTreeSet, HashMap};

use ring::digest::{Context, SHA256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// RFC 9162's hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    digest(&[])
}

fn digest(parts: &[&[u8]]) -> Hash {
    let mut c = Context::new(&SHA256);
    for p in parts {
        c.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(c.finish().as_ref());
    out
}

/// The leaf hash of leaf data `data`: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    digest(&[&[0u8], data])
}

/// An interior node's hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    digest(&[&[1u8], left, right])
}

/// A perfect aligned subtree: `2^level` leaves from `index · 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves (0: a leaf).
    pub level: u32,
    /// Position among the nodes of that level.
    pub index: u64,
}

/// Where the hashes of perfect subtrees come from.
pub trait Nodes {
    /// The hash of the perfect subtree `id` (a leaf hash at level 0).
    fn node(&mut self, id: NodeId) -> Result<Hash, MissingNode>;
}

/// A node the source does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tree node at level {} index {} is not stored", .0.level, .0.index)]
pub struct MissingNode(pub NodeId);

/// A source holding the nodes it was given.
impl Nodes for HashMap<NodeId, Hash> {
    fn node(&mut self, id: NodeId) -> Result<Hash, MissingNode> {
        self.get(&id).copied().ok_or(MissingNode(id))
    }
}

/// A source that records what it is asked for and answers zeros.
#[derive(Debug, Default)]
struct Recorder(BTreeSet<NodeId>);

impl Nodes for Recorder {
    fn node(&mut self, id: NodeId) -> Result<Hash, MissingNode> {
        self.0.insert(id);
        Ok([0; 32])
    }
}

/// The perfect subtrees that `f` asks for (in order), found by running it on zeros.
pub fn needed<T>(f: impl FnOnce(&mut dyn Nodes) -> Result<T, MissingNode>) -> Vec<NodeId> {
    let mut r = Recorder::default();
    // The recorder never fails, and the result on zeros is not used.
    let _ = f(&mut r);
    r.0.into_iter().collect()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of leaves `start .. start + n` (n ≥ 1), where `start` is a multiple of the largest
/// power of two not above `n`, as every range of RFC 9162's recursion is: the range is
/// then a run of perfect aligned subtrees, largest first.
pub fn range_hash(src: &mut dyn Nodes, start: u64, n: u64) -> Result<Hash, MissingNode> {
    debug_assert!(n >= 1);
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        return src.node(NodeId {
            level,
            index: start >> level,
        });
    }
    let k = split(n);
    let left = range_hash(src, start, k)?;
    let right = range_hash(src, start + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of the first `size` leaves.
pub fn root(src: &mut dyn Nodes, size: u64) -> Result<Hash, MissingNode> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size)
}

/// RFC 9162 §2.1.3.1: the inclusion proof of leaf `index` in the tree of `size` leaves
/// (`index < size`), nearest sibling first.
pub fn inclusion_proof(
    src: &mut dyn Nodes,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MissingNode> {
    debug_assert!(index < size);
    let mut path = Vec::new();
    // Walk down from the root, remembering the sibling ranges, then reverse.
    let (mut start, mut n, mut m) = (0u64, size, index);
    while n > 1 {
        let k = split(n);
        if m < k {
            path.push(range_hash(src, start + k, n - k)?);
            n = k;
        } else {
            path.push(range_hash(src, start, k)?);
            start += k;
            m -= k;
            n -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.4.1: the consistency proof from the tree of `old` leaves to the tree of
/// `new` leaves (`old ≤ new`); empty when `old` is 0 or equals `new`.
pub fn consistency_proof(
    src: &mut dyn Nodes,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, MissingNode> {
    debug_assert!(old <= new);
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    subproof(src, old, 0, new, true, &mut proof)?;
    Ok(proof)
}

/// SUBPROOF(m, D[start : start + n], b) of RFC 9162 §2.1.4.1, appending to `out` in the
/// RFC's order.
fn subproof(
    src: &mut dyn Nodes,
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), MissingNode> {
    if m == n {
        if !whole {
            out.push(range_hash(src, start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, k, whole, out)?;
        out.push(range_hash(src, start + k, n - k)?);
    } else {
        subproof(src, m - k, start + k, n - k, false, out)?;
        out.push(range_hash(src, start, k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: does `proof` show leaf hash `leaf` at `index` in a tree of `size`
/// leaves whose root is `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of `new` leaves with root
/// `new_root` extends the tree of `old` leaves with root `old_root`?
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        // The empty tree: nothing to prove, but its root must be the empty tree's.
        return proof.is_empty() && *old_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &fr == old_root && &sr == new_root
}

/// Builds the tree as leaves arrive, keeping one perfect subtree per bit of the size
/// (O(log n) memory): the roots of any sizes along the way, and every interior node as it
/// completes (for the checkpointer to store).
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    /// Perfect subtrees, largest (leftmost) first: `(level, hash)`.
    stack: Vec<(u32, Hash)>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// The nodes to read to resume a tree of `size` leaves: its perfect subtrees.
    pub fn resume_nodes(size: u64) -> Vec<NodeId> {
        let mut ids = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1 << level) != 0 {
                ids.push(NodeId {
                    level,
                    index: start >> level,
                });
                start += 1 << level;
            }
        }
        ids
    }

    /// Resumes a tree of `size` leaves from its perfect subtrees (as listed by
    /// [`Frontier::resume_nodes`]).
    pub fn resume(size: u64, src: &mut dyn Nodes) -> Result<Self, MissingNode> {
        let mut stack = Vec::new();
        for id in Frontier::resume_nodes(size) {
            stack.push((id.level, src.node(id)?));
        }
        Ok(Frontier { size, stack })
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds the leaf with leaf data `data`; calls `completed` with every interior node
    /// this completes (level ≥ 1), lowest first.
    pub fn push(&mut self, data: &[u8], mut completed: impl FnMut(NodeId, &Hash)) {
        let mut h = leaf_hash(data);
        let mut level = 0u32;
        let mut index = self.size;
        while let Some(&(top_level, top)) = self.stack.last() {
            if top_level != level {
                break;
            }
            self.stack.pop();
            h = node_hash(&top, &h);
            level += 1;
            index >>= 1;
            completed(NodeId { level, index }, &h);
        }
        self.stack.push((level, h));
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(&(_, last)) => it.fold(last, |acc, (_, h)| node_hash(h, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(i: u64) -> Hash {
        digest(&[&i.to_be_bytes()])
    }

    /// RFC 9162's recursive definition, over leaf data.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// PATH(m, D[n]) by the RFC's recursion.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = split(n as u64) as usize;
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    /// Every perfect subtree of the first `n` leaves, computed directly.
    fn all_nodes(leaves: &[Hash]) -> HashMap<NodeId, Hash> {
        let mut map = HashMap::new();
        let mut level = 0u32;
        loop {
            let width = 1usize << level;
            if width > leaves.len() {
                break;
            }
            for index in 0..leaves.len() / width {
                let h = mth(&leaves[index * width..(index + 1) * width]);
                map.insert(
                    NodeId {
                        level,
                        index: index as u64,
                    },
                    h,
                );
            }
            level += 1;
        }
        map
    }

    #[test]
    fn roots_agree_with_the_recursive_definition() {
        let leaves: Vec<Hash> = (0..70).map(data).collect();
        let mut f = Frontier::new();
        let mut stored = HashMap::new();
        for (i, d) in leaves.iter().enumerate() {
            assert_eq!(f.root(), mth(&leaves[..i]), "frontier root at {i}");
            stored.insert(
                NodeId {
                    level: 0,
                    index: i as u64,
                },
                leaf_hash(d),
            );
            f.push(d, |id, h| {
                stored.insert(id, *h);
            });
            let mut src = stored.clone();
            assert_eq!(root(&mut src, i as u64 + 1).unwrap(), mth(&leaves[..=i]));
        }
        assert_eq!(
            stored,
            all_nodes(&leaves),
            "completed nodes are the perfect subtrees"
        );
        // Resuming from the stored perfect subtrees gives the same frontier.
        for size in 0..=70u64 {
            let mut src = stored.clone();
            let mut g = Frontier::resume(size, &mut src).unwrap();
            assert_eq!(g.root(), mth(&leaves[..size as usize]));
            for d in &leaves[size as usize..] {
                g.push(d, |_, _| {});
            }
            assert_eq!(g.root(), f.root());
        }
    }

    #[test]
    fn rfc_9162_empty_tree_hash() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn inclusion_proofs_match_the_rfc_and_verify() {
        let leaves: Vec<Hash> = (0..33).map(data).collect();
        let mut src = all_nodes(&leaves);
        for size in 1..=33usize {
            let r = mth(&leaves[..size]);
            for m in 0..size {
                let p = inclusion_proof(&mut src, m as u64, size as u64).unwrap();
                assert_eq!(p, path(m, &leaves[..size]), "PATH({m}, D[{size}])");
                let leaf = leaf_hash(&leaves[m]);
                assert!(verify_inclusion(m as u64, size as u64, &leaf, &p, &r));
                // Altered proofs, leaves, positions and sizes fail.
                assert!(!verify_inclusion(
                    m as u64,
                    size as u64,
                    &leaf_hash(&data(99)),
                    &p,
                    &r
                ));
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(m as u64, size as u64, &leaf, &bad, &r));
                    assert!(!verify_inclusion(m as u64, size as u64, &leaf, &p[1..], &r));
                }
                let mut longer = p.clone();
                longer.push(r);
                assert!(!verify_inclusion(m as u64, size as u64, &leaf, &longer, &r));
                assert!(!verify_inclusion(size as u64, size as u64, &leaf, &p, &r));
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_fail_when_altered() {
        let leaves: Vec<Hash> = (0..33).map(data).collect();
        let mut src = all_nodes(&leaves);
        for new in 0..=33usize {
            let new_root = mth(&leaves[..new]);
            for old in 0..=new {
                let old_root = mth(&leaves[..old]);
                let p = consistency_proof(&mut src, old as u64, new as u64).unwrap();
                assert!(
                    verify_consistency(old as u64, new as u64, &old_root, &new_root, &p),
                    "{old} -> {new}"
                );
                if old > 0 && old < new {
                    let other = mth(&leaves[1..=old]);
                    assert!(!verify_consistency(
                        old as u64, new as u64, &other, &new_root, &p
                    ));
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_consistency(
                        old as u64, new as u64, &old_root, &new_root, &bad
                    ));
                    assert!(!verify_consistency(
                        old as u64, new as u64, &old_root, &old_root, &p
                    ));
                }
            }
        }
    }

    #[test]
    fn proofs_read_few_nodes() {
        // What a proof reads grows with log n, not n.
        let n = 1_000_003u64;
        let ids = needed(|src| inclusion_proof(src, 123_456, n));
        assert!(ids.len() <= 2 * 64, "{} nodes", ids.len());
        let ids = needed(|src| consistency_proof(src, 777_777, n));
        assert!(ids.len() <= 2 * 64, "{} nodes", ids.len());
        let ids = needed(|src| root(src, n));
        assert_eq!(ids.len() as u32, n.count_ones());
    }
}
