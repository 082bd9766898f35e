//! Bounds-checks a winterfell proof's bytes before winterfell parses them.
//!
//! Proof bytes come from a pack, so they are hostile. winterfell's
//! deserializers assert on some values (a trace-length exponent of 64 or
//! more, auxiliary random elements without auxiliary columns, a grinding
//! factor over 32) and allocate by counts read from the bytes (a
//! `Vec::with_capacity` of a hostile length aborts the process, which no
//! `catch_unwind` contains). This walk runs first and checks that:
//!
//! - the proof's context is byte for byte the one an honest proof of this
//!   trace length under exactly the pinned options has (trace shape, field,
//!   options, constraint count), so nothing winterfell derives from the
//!   context is the attacker's;
//! - every length prefix, down to the Merkle batch openings inside each
//!   query, fits the bytes that remain, and the bytes end where the proof
//!   does.
//!
//! It mirrors the serialization of winterfell 0.13 (`Proof`, `Queries`,
//! `OodFrame`, `FriProof`, `BatchMerkleProof`), which is why the crate
//! pins that version exactly. A proof that passes is parsed by winterfell
//! with every allocation bounded by the proof's own size.

use winter_air::proof::Context;
use winter_utils::Serializable;
use winterfell::math::fields::f64::BaseElement;
use winterfell::{ProofOptions, TraceInfo};

/// The largest winterfell proof accepted: far above an honest proof at
/// the largest trace length and strongest parameters (a few MiB).
pub(crate) const MAX_PROOF_BYTES: usize = 32 << 20;

/// Bytes of a Blake3-256 digest.
const DIGEST_BYTES: usize = 32;

/// Nodes of one path of a batch opening: the Merkle tree's depth, which is
/// below 32 for a domain of at most 2^31 points.
const MAX_PATH_NODES: usize = 64;

/// Transition constraints (1) and assertions (2) of the AIR.
const NUM_CONSTRAINTS: usize = 3;

/// The context bytes an honest proof of a `length`-state chain under
/// `options` begins with.
pub(crate) fn expected_context(length: usize, options: &ProofOptions) -> Vec<u8> {
    Context::new::<BaseElement>(TraceInfo::new(1, length), options.clone(), NUM_CONSTRAINTS).to_bytes()
}

/// Checks `proof` (winterfell's bytes, after the artifact header) for a
/// chain of `length` states proved under `options`.
pub(crate) fn check(proof: &[u8], length: usize, options: &ProofOptions) -> Result<(), String> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(format!("the proof is {} bytes; at most {MAX_PROOF_BYTES} are read", proof.len()));
    }
    let context = expected_context(length, options);
    if !proof.starts_with(&context) {
        return Err("the proof's context (trace shape, field, options or constraint count) is not the one the \
                    policy and the artifact's trace length fix"
            .to_owned());
    }
    let max_openings = options.num_queries();
    // The LDE domain's depth: the trace and constraint openings are in
    // exactly this tree; each FRI layer's tree is shallower.
    let depth = (length * options.blowup_factor()).ilog2() as u8;
    let mut w = Walk { bytes: proof, at: context.len() };
    // winterfell asserts there is at least one query when it parses them.
    let unique = w.u8()?;
    if !(1..=max_openings).contains(&unique) {
        return Err(format!("{unique} unique queries; the options allow 1 to {max_openings}"));
    }
    let commitments = w.u16()?;
    w.take(commitments, "the commitments")?;
    // One main trace segment (no auxiliary columns), then the constraint
    // evaluations: each a `Queries` of values and a batch opening.
    for what in ["trace queries", "constraint queries"] {
        let values = w.vint()?;
        w.take(values, what)?;
        let opening = w.vint()?;
        batch_opening(w.take(opening, what)?, max_openings, depth..=depth, what)?;
    }
    // Each out-of-domain frame starts with its size, which winterfell
    // asserts is 2 (the current and the next row).
    for what in ["out-of-domain trace states", "out-of-domain evaluations"] {
        let n = w.u16()?;
        let frame = w.take(n, what)?;
        if frame.first() != Some(&2) {
            return Err(format!("{what}: a frame of size {:?}, not 2", frame.first()));
        }
    }
    let layers = w.u8()?;
    for _ in 0..layers {
        let values = w.u32()?;
        w.take(values, "FRI layer values")?;
        let opening = w.u32()?;
        batch_opening(w.take(opening, "FRI layer openings")?, max_openings, 1..=depth, "FRI layer openings")?;
    }
    let remainder = w.u16()?;
    w.take(remainder, "the FRI remainder")?;
    // The prover commits without partitions: log2 of the count is 0.
    if w.u8()? != 0 {
        return Err("the FRI proof claims partitions this backend never makes".to_owned());
    }
    w.take(8, "the proof-of-work nonce")?;
    if w.at != proof.len() {
        return Err(format!("{} bytes follow the end of the proof", proof.len() - w.at));
    }
    Ok(())
}

/// A `BatchMerkleProof`: the tree's depth (winterfell shifts by it), then
/// one vector of node digests per opened position. Both counts are
/// bounded before winterfell allocates by them.
fn batch_opening(
    bytes: &[u8],
    max_openings: usize,
    depths: std::ops::RangeInclusive<u8>,
    what: &str,
) -> Result<(), String> {
    let mut w = Walk { bytes, at: 0 };
    let depth = w.u8()? as u8;
    if !depths.contains(&depth) {
        return Err(format!("{what}: a tree of depth {depth}, not {depths:?}"));
    }
    let vectors = w.vint()?;
    if vectors > max_openings {
        return Err(format!("{what}: {vectors} opened positions; the options allow at most {max_openings}"));
    }
    for _ in 0..vectors {
        let nodes = w.vint()?;
        if nodes > MAX_PATH_NODES {
            return Err(format!("{what}: a path of {nodes} nodes"));
        }
        w.take(nodes * DIGEST_BYTES, what)?;
    }
    if w.at != bytes.len() {
        return Err(format!("{what}: {} bytes follow the batch opening", bytes.len() - w.at));
    }
    Ok(())
}

/// A cursor over proof bytes; every read is bounds-checked.
struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Walk<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or_else(|| {
            format!("{what}: {n} bytes declared at offset {}, {} remain", self.at, self.bytes.len() - self.at)
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn le(&mut self, n: usize) -> Result<u64, String> {
        let b = self.take(n, "a length")?;
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    }

    fn u8(&mut self) -> Result<usize, String> {
        Ok(self.le(1)? as usize)
    }

    fn u16(&mut self) -> Result<usize, String> {
        Ok(self.le(2)? as usize)
    }

    fn u32(&mut self) -> Result<usize, String> {
        usize::try_from(self.le(4)?).map_err(|_| "a length does not fit this machine".to_owned())
    }

    /// winterfell's variable-length integer: the first byte's trailing
    /// zeros give the length (1 to 8 bytes, or 9 with a zero first byte).
    fn vint(&mut self) -> Result<usize, String> {
        let first = *self.bytes.get(self.at).ok_or("a length is missing")?;
        let len = first.trailing_zeros() as usize + 1;
        let value = if len == 9 {
            self.take(1, "a length")?;
            self.le(8)?
        } else {
            self.le(len)? >> len
        };
        usize::try_from(value).map_err(|_| "a length does not fit this machine".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_read_as_winterfell_writes_them() {
        use winter_utils::ByteWriter as _;
        for v in [0usize, 1, 127, 128, 300, 1 << 20, (1 << 56) - 1, 1 << 56, usize::MAX] {
            let mut bytes = Vec::new();
            bytes.write_usize(v);
            let mut w = Walk { bytes: &bytes, at: 0 };
            assert_eq!(w.vint(), Ok(v), "{v}");
            assert_eq!(w.at, bytes.len(), "{v}");
        }
    }
}
