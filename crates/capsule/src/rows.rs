//! Row commitments: the Merkle commitment over a workload's trace rows.
//!
//! Owns chunking, leaf/node/root hashing, the streaming parallel committer,
//! and chunk inclusion proofs. Rows have a fixed width; rows are grouped into
//! chunks of `chunk_len` rows (the last may be short); each chunk is hashed
//! flat under the leaf tag with its index and row count; an `arity`-ary tree
//! with a distinct node tag covers the chunk digests; the root hashes the
//! parameters, the counts and the top node under the root tag, so a root
//! can never be read under other parameters. Only chunk digests are kept in
//! memory, so a trace larger than memory commits from a reader.

use std::io::{self, Read};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Tag, TaggedHasher, tagged};

/// The scheme identifier written in capsules.
pub const SCHEME: &str = "capsulebench/rows/v1";

/// Commitment parameters, all bound into the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowParams {
    /// Bytes per row (at least 1).
    pub row_width: u32,
    /// Rows per chunk (at least 1).
    pub chunk_len: u32,
    /// Children per interior node (2 to 256).
    pub arity: u32,
}

impl Default for RowParams {
    fn default() -> Self {
        RowParams { row_width: 64, chunk_len: 1024, arity: 16 }
    }
}

/// Why parameters or inputs cannot be committed or opened.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// Parameters out of range.
    #[error("invalid row commitment parameters: {0}")]
    Params(&'static str),
    /// The trace length is not a whole number of rows.
    #[error("trace length {len} is not a multiple of the row width {row_width}")]
    PartialRow {
        /// Bytes received.
        len: u64,
        /// The row width.
        row_width: u32,
    },
    /// Reading the trace failed.
    #[error("failed to read trace rows")]
    Read(#[source] io::Error),
}

impl RowParams {
    /// Checks the ranges the specification allows.
    pub fn validate(&self) -> Result<(), RowError> {
        if self.row_width == 0 || self.row_width > 1 << 20 {
            return Err(RowError::Params("row_width must be in 1..=2^20"));
        }
        if self.chunk_len == 0 || u64::from(self.chunk_len) * u64::from(self.row_width) > 1 << 28 {
            return Err(RowError::Params("chunk_len must be at least 1 and a chunk at most 256 MiB"));
        }
        if !(2..=256).contains(&self.arity) {
            return Err(RowError::Params("arity must be in 2..=256"));
        }
        Ok(())
    }

    /// Bytes in a full chunk.
    pub fn chunk_bytes(&self) -> usize {
        self.chunk_len as usize * self.row_width as usize
    }

    /// Number of chunks that `row_count` rows make.
    pub fn chunk_count(&self, row_count: u64) -> u64 {
        row_count.div_ceil(u64::from(self.chunk_len))
    }

    /// Rows in chunk `index` of a trace of `row_count` rows.
    pub fn rows_in_chunk(&self, row_count: u64, index: u64) -> u64 {
        let start = index * u64::from(self.chunk_len);
        row_count.saturating_sub(start).min(u64::from(self.chunk_len))
    }
}

/// A finished commitment: what a capsule records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commitment {
    /// Always [`SCHEME`].
    pub scheme: String,
    /// Bytes per row.
    pub row_width: u32,
    /// Rows per chunk.
    pub chunk_len: u32,
    /// Children per interior node.
    pub arity: u32,
    /// Rows committed.
    pub row_count: u64,
    /// Chunks committed.
    pub chunk_count: u64,
    /// The root.
    pub root: Digest,
}

impl Commitment {
    /// The parameters the root binds.
    pub fn params(&self) -> RowParams {
        RowParams { row_width: self.row_width, chunk_len: self.chunk_len, arity: self.arity }
    }
}

/// The leaf digest of chunk `index` holding `rows` rows.
pub fn leaf(index: u64, rows: u64, bytes: &[u8]) -> Digest {
    let mut h = TaggedHasher::new(Tag::RowLeaf);
    h.update(&index.to_be_bytes());
    // Row counts per chunk fit in u32 because chunk_len is a u32.
    h.update(&(rows as u32).to_be_bytes());
    h.update(bytes);
    h.finish()
}

fn node(children: &[Digest]) -> Digest {
    let mut h = TaggedHasher::new(Tag::RowNode);
    for c in children {
        h.update(&c.0);
    }
    h.finish()
}

fn root_of(params: &RowParams, row_count: u64, chunk_count: u64, top: Option<&Digest>) -> Digest {
    let mut buf = Vec::with_capacity(28 + 32);
    buf.extend_from_slice(&params.row_width.to_be_bytes());
    buf.extend_from_slice(&params.chunk_len.to_be_bytes());
    buf.extend_from_slice(&params.arity.to_be_bytes());
    buf.extend_from_slice(&row_count.to_be_bytes());
    buf.extend_from_slice(&chunk_count.to_be_bytes());
    if let Some(t) = top {
        buf.extend_from_slice(&t.0);
    }
    tagged(Tag::RowRoot, &buf)
}

/// The root of the empty trace under `params`.
pub fn empty_root(params: &RowParams) -> Digest {
    root_of(params, 0, 0, None)
}

/// Computes the root from the chunk digests (the `rows/chunks.bin` member).
pub fn root_from_leaves(params: &RowParams, row_count: u64, leaves: &[Digest]) -> Digest {
    let arity = params.arity as usize;
    if leaves.is_empty() {
        return root_of(params, row_count, 0, None);
    }
    if leaves.len() == 1 {
        return root_of(params, row_count, 1, leaves.first());
    }
    let mut level: Vec<Digest> = leaves.par_chunks(arity).map(node).collect();
    while level.len() > 1 {
        level = level.par_chunks(arity).map(node).collect();
    }
    root_of(params, row_count, leaves.len() as u64, level.first())
}

/// Streaming, parallel committer. Feed bytes in any split; only chunk digests
/// are kept.
pub struct RowCommitter {
    params: RowParams,
    buf: Vec<u8>,
    batch_bytes: usize,
    leaves: Vec<Digest>,
    total: u64,
}

/// Bytes hashed per parallel batch (rounded to whole chunks).
const BATCH_TARGET: usize = 8 << 20;

impl RowCommitter {
    /// Starts a commitment.
    pub fn new(params: RowParams) -> Result<Self, RowError> {
        params.validate()?;
        let cb = params.chunk_bytes();
        let batch_bytes = cb * (BATCH_TARGET / cb).max(1);
        Ok(RowCommitter { params, buf: Vec::new(), batch_bytes, leaves: Vec::new(), total: 0 })
    }

    /// The digests of the chunks committed so far.
    pub fn leaves(&self) -> &[Digest] {
        &self.leaves
    }

    /// Absorbs trace bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if !self.buf.is_empty() {
            let take = (self.batch_bytes - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == self.batch_bytes {
                let buf = std::mem::take(&mut self.buf);
                self.hash_full_chunks(&buf);
                self.buf = buf;
                self.buf.clear();
            }
        }
        if self.buf.is_empty() && bytes.len() >= self.batch_bytes {
            let whole = bytes.len() - bytes.len() % self.batch_bytes;
            self.hash_full_chunks(&bytes[..whole]);
            bytes = &bytes[whole..];
        }
        if !bytes.is_empty() {
            if self.buf.capacity() < self.batch_bytes {
                self.buf.reserve_exact(self.batch_bytes - self.buf.len());
            }
            self.buf.extend_from_slice(bytes);
        }
    }

    fn hash_full_chunks(&mut self, bytes: &[u8]) {
        let cb = self.params.chunk_bytes();
        let first = self.leaves.len() as u64;
        let rows = u64::from(self.params.chunk_len);
        let new: Vec<Digest> = bytes.par_chunks(cb).enumerate().map(|(i, c)| leaf(first + i as u64, rows, c)).collect();
        self.leaves.extend(new);
    }

    /// Absorbs everything a reader yields.
    pub fn update_reader<R: Read>(&mut self, mut r: R) -> Result<(), RowError> {
        let mut block = vec![0u8; self.batch_bytes];
        loop {
            let mut filled = 0;
            while filled < block.len() {
                match r.read(&mut block[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(RowError::Read(e)),
                }
            }
            if filled == 0 {
                return Ok(());
            }
            self.update(&block[..filled]);
            if filled < block.len() {
                return Ok(());
            }
        }
    }

    /// Finishes the commitment, returning it with every chunk digest.
    pub fn finish(mut self) -> Result<(Commitment, Vec<Digest>), RowError> {
        let w = u64::from(self.params.row_width);
        if !self.total.is_multiple_of(w) {
            return Err(RowError::PartialRow { len: self.total, row_width: self.params.row_width });
        }
        let cb = self.params.chunk_bytes();
        let buf = std::mem::take(&mut self.buf);
        let full = buf.len() - buf.len() % cb;
        self.hash_full_chunks(&buf[..full]);
        let tail = &buf[full..];
        if !tail.is_empty() {
            let idx = self.leaves.len() as u64;
            self.leaves.push(leaf(idx, tail.len() as u64 / w, tail));
        }
        let row_count = self.total / w;
        let root = root_from_leaves(&self.params, row_count, &self.leaves);
        Ok((
            Commitment {
                scheme: SCHEME.to_owned(),
                row_width: self.params.row_width,
                chunk_len: self.params.chunk_len,
                arity: self.params.arity,
                row_count,
                chunk_count: self.leaves.len() as u64,
                root,
            },
            self.leaves,
        ))
    }
}

/// Commits an in-memory trace.
pub fn commit(params: RowParams, rows: &[u8]) -> Result<(Commitment, Vec<Digest>), RowError> {
    let mut c = RowCommitter::new(params)?;
    c.update(rows);
    c.finish()
}

/// An inclusion proof for one chunk: the siblings at each level, bottom up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkProof {
    /// The chunk's index.
    pub index: u64,
    /// The siblings in the chunk's group at each level, in order, without
    /// the node on the path.
    pub siblings: Vec<Vec<Digest>>,
}

/// Builds the inclusion proof of chunk `index` from all chunk digests.
pub fn prove_chunk(params: &RowParams, leaves: &[Digest], index: u64) -> Option<ChunkProof> {
    let arity = params.arity as usize;
    let mut pos = usize::try_from(index).ok()?;
    if pos >= leaves.len() {
        return None;
    }
    let mut level = leaves.to_vec();
    let mut siblings = Vec::new();
    while level.len() > 1 {
        let start = pos / arity * arity;
        let end = (start + arity).min(level.len());
        siblings
            .push(level[start..end].iter().enumerate().filter(|(i, _)| start + i != pos).map(|(_, d)| *d).collect());
        level = level.chunks(arity).map(node).collect();
        pos /= arity;
    }
    Some(ChunkProof { index, siblings })
}

/// Checks that `chunk` is chunk `proof.index` of the trace committed in
/// `commitment`. Returns false on any mismatch, including wrong shape.
pub fn verify_chunk(commitment: &Commitment, chunk: &[u8], proof: &ChunkProof) -> bool {
    let p = &commitment.params();
    if p.validate().is_err()
        || commitment.chunk_count != p.chunk_count(commitment.row_count)
        || proof.index >= commitment.chunk_count
    {
        return false;
    }
    let rows = p.rows_in_chunk(commitment.row_count, proof.index);
    if chunk.len() as u64 != rows * u64::from(p.row_width) {
        return false;
    }
    let arity = p.arity as u64;
    let mut cur = leaf(proof.index, rows, chunk);
    let mut pos = proof.index;
    let mut n = commitment.chunk_count;
    let mut levels = proof.siblings.iter();
    while n > 1 {
        let Some(sib) = levels.next() else {
            return false;
        };
        let start = pos / arity * arity;
        let size = arity.min(n - start);
        if sib.len() as u64 != size - 1 {
            return false;
        }
        let at = (pos - start) as usize;
        let mut group = Vec::with_capacity(size as usize);
        group.extend_from_slice(&sib[..at]);
        group.push(cur);
        group.extend_from_slice(&sib[at..]);
        cur = node(&group);
        pos /= arity;
        n = n.div_ceil(arity);
    }
    if levels.next().is_some() {
        return false;
    }
    root_of(p, commitment.row_count, commitment.chunk_count, Some(&cur)) == commitment.root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(rows: usize, width: usize) -> Vec<u8> {
        (0..rows * width).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn streaming_matches_one_shot_for_any_split() {
        let params = RowParams { row_width: 8, chunk_len: 3, arity: 4 };
        let data = trace(1000, 8);
        let (one, _) = commit(params, &data).unwrap();
        for split in [1, 7, 24, 100, 999] {
            let mut c = RowCommitter::new(params).unwrap();
            for piece in data.chunks(split) {
                c.update(piece);
            }
            assert_eq!(c.finish().unwrap().0, one, "split {split}");
        }
        let mut c = RowCommitter::new(params).unwrap();
        c.update_reader(&data[..]).unwrap();
        assert_eq!(c.finish().unwrap().0, one);
    }

    #[test]
    fn parameters_and_counts_are_bound() {
        let data = trace(64, 8);
        let base = RowParams { row_width: 8, chunk_len: 4, arity: 16 };
        let (a, _) = commit(base, &data).unwrap();
        for other in [
            RowParams { chunk_len: 8, ..base },
            RowParams { arity: 4, ..base },
            RowParams { row_width: 16, chunk_len: 2, ..base },
        ] {
            assert_ne!(commit(other, &data).unwrap().0.root, a.root);
        }
        assert_ne!(commit(base, &data[..data.len() - 8]).unwrap().0.root, a.root);
        assert_eq!(commit(base, &[]).unwrap().0.root, empty_root(&base));
        assert_ne!(empty_root(&base), empty_root(&RowParams { arity: 4, ..base }));
    }

    #[test]
    fn partial_rows_are_rejected() {
        let mut c = RowCommitter::new(RowParams::default()).unwrap();
        c.update(&[1, 2, 3]);
        assert!(matches!(c.finish(), Err(RowError::PartialRow { .. })));
    }

    #[test]
    fn inclusion_proofs_round_trip_and_reject_tampering() {
        let params = RowParams { row_width: 4, chunk_len: 2, arity: 3 };
        for rows in [1usize, 2, 3, 7, 18, 19, 55] {
            let data = trace(rows, 4);
            let (c, leaves) = commit(params, &data).unwrap();
            for idx in 0..c.chunk_count {
                let p = prove_chunk(&params, &leaves, idx).unwrap();
                let start = idx as usize * 8;
                let end = (start + 8).min(data.len());
                let chunk = &data[start..end];
                assert!(verify_chunk(&c, chunk, &p), "rows {rows} idx {idx}");
                let mut bad = chunk.to_vec();
                bad[0] ^= 1;
                assert!(!verify_chunk(&c, &bad, &p));
                if let Some(level) = p.siblings.first().filter(|l| !l.is_empty()) {
                    let mut q = p.clone();
                    q.siblings[0][0].0[0] ^= 1;
                    assert!(!verify_chunk(&c, chunk, &q));
                    let mut q = p.clone();
                    q.siblings[0].push(level[0]);
                    assert!(!verify_chunk(&c, chunk, &q));
                }
                let mut q = p.clone();
                q.index = (idx + 1) % c.chunk_count;
                if q.index != idx {
                    assert!(!verify_chunk(&c, chunk, &q));
                }
            }
        }
    }
}
