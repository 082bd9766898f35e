//! Builtin workloads, shipped with the tool.
//!
//! `merkle_build_open_v1` (from the seed): build a SHA-256 Merkle tree over
//! 2^`leaves_pow2` leaves, open `openings` paths at fixed pseudo-random
//! indices, verify every path against the root. The result digest covers the
//! root and every opened leaf; the trace has one 64-byte row per opening.
//!
//! `stark_mimc7_v1`: the built-in STARK (`capsule-stark`), a MiMC-7 hash
//! chain of `trace_length` states from `seed`, proved with winterfell for
//! every repetition. It runs through the Trace Adapter API like an external
//! adapter: `cargo-capsule capsule __adapter stark_mimc7_v1` serves it.
//!
//! A repetition runs in a fresh process (`cargo-capsule __builtin NAME
//! PARAMS`), like a `command` workload, so both are measured the same way.

use std::collections::BTreeMap;

use capsule::digest::{Digest, Tag, TaggedHasher};
use capsule::objects::TraceSpecV1;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The names of the builtins.
pub const BUILTINS: [&str; 2] = ["merkle_build_open_v1", STARK];

/// The built-in STARK workload.
pub const STARK: &str = capsule_stark::WORKLOAD_ID;

/// Largest tree the builtin accepts (2^24 leaves, about 1 GiB of nodes).
pub const MAX_LEAVES_POW2: u64 = 24;

/// Why a builtin cannot run with these parameters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuiltinError {
    /// No such builtin.
    #[error("unknown builtin `{0}`; builtins: merkle_build_open_v1, stark_mimc7_v1")]
    Unknown(String),
    /// A parameter out of range or of the wrong type.
    #[error("builtin `{builtin}` parameter `{name}`: {why}")]
    Parameter {
        /// The builtin.
        builtin: String,
        /// The parameter.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// Parameters a builtin refuses, with the reason.
    #[error("builtin `{builtin}`: {why}")]
    Invalid {
        /// The builtin.
        builtin: String,
        /// What is wrong.
        why: String,
    },
    /// A path failed to verify (never, unless the machine is broken).
    #[error("opened path {index} does not verify against the root")]
    PathFailed {
        /// The leaf index.
        index: u64,
    },
}

/// Parsed parameters of `merkle_build_open_v1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MerkleParams {
    /// log2 of the leaf count.
    pub leaves_pow2: u64,
    /// Paths to open.
    pub openings: u64,
}

impl MerkleParams {
    /// Validates a parameter table (unknown parameters are errors).
    pub fn parse(name: &str, p: &BTreeMap<String, Value>) -> Result<Self, BuiltinError> {
        if name != BUILTINS[0] {
            return Err(BuiltinError::Unknown(name.to_owned()));
        }
        let bad = |n: &str, why: &str| BuiltinError::Parameter {
            builtin: name.to_owned(),
            name: n.to_owned(),
            why: why.to_owned(),
        };
        if let Some(k) = p.keys().find(|k| !matches!(k.as_str(), "leaves_pow2" | "openings")) {
            return Err(bad(k, "unknown parameter (expected `leaves_pow2`, `openings`)"));
        }
        let get = |n: &str, default: u64| match p.get(n) {
            None => Ok(default),
            Some(v) => v.as_u64().ok_or_else(|| bad(n, "must be a non-negative integer")),
        };
        let leaves_pow2 = get("leaves_pow2", 16)?;
        let openings = get("openings", 64)?;
        if !(1..=MAX_LEAVES_POW2).contains(&leaves_pow2) {
            return Err(bad("leaves_pow2", "must be in 1..=24"));
        }
        if openings == 0 || openings > 1 << leaves_pow2 {
            return Err(bad("openings", "must be in 1..=2^leaves_pow2"));
        }
        Ok(MerkleParams { leaves_pow2, openings })
    }
}

/// The trace spec of `merkle_build_open_v1`.
pub fn merkle_trace_spec() -> TraceSpecV1 {
    TraceSpecV1 {
        schema: Default::default(),
        format_id: "capsulebench/merkle-build-open/v1".to_owned(),
        record_schema: "capsulebench/merkle-build-open/opening/v1".to_owned(),
        encoding_id: "le-u64-index+leaf32+pathdigest24".to_owned(),
        field_id: None,
        row_width: 64,
    }
}

fn leaf(i: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(i.to_le_bytes());
    h.finalize().into()
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// The outcome of one execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleOutcome {
    /// The result digest (root and every opened leaf, under the result tag).
    pub result: Digest,
    /// One 64-byte row per opening: index (u64 LE), leaf (32 bytes), the
    /// first 24 bytes of SHA-256 over the concatenated sibling path.
    pub rows: Vec<u8>,
}

/// Builds, opens and verifies.
pub fn merkle_build_open(p: MerkleParams) -> Result<MerkleOutcome, BuiltinError> {
    let n = 1u64 << p.leaves_pow2;
    let mut levels: Vec<Vec<[u8; 32]>> = vec![(0..n).map(leaf).collect()];
    while levels[levels.len() - 1].len() > 1 {
        let prev = &levels[levels.len() - 1];
        let next: Vec<[u8; 32]> = prev.chunks_exact(2).map(|c| node(&c[0], &c[1])).collect();
        levels.push(next);
    }
    let root = levels[levels.len() - 1][0];
    let mut result = TaggedHasher::new(Tag::Result);
    result.update(&root);
    let mut rows = Vec::with_capacity(p.openings as usize * 64);
    for j in 0..p.openings {
        // An odd multiplier is a bijection modulo 2^k: distinct indices.
        let index = j.wrapping_mul(0x9e37_79b9_7f4a_7c15) & (n - 1);
        let mut acc = levels[0][index as usize];
        let mut path = Sha256::new();
        let mut pos = index;
        for level in &levels[..levels.len() - 1] {
            let sib = level[(pos ^ 1) as usize];
            path.update(sib);
            acc = if pos & 1 == 0 { node(&acc, &sib) } else { node(&sib, &acc) };
            pos >>= 1;
        }
        if acc != root {
            return Err(BuiltinError::PathFailed { index });
        }
        let l = levels[0][index as usize];
        result.update(&index.to_le_bytes());
        result.update(&l);
        rows.extend_from_slice(&index.to_le_bytes());
        rows.extend_from_slice(&l);
        rows.extend_from_slice(&path.finalize()[..24]);
    }
    Ok(MerkleOutcome { result: result.finish(), rows })
}

impl MerkleParams {
    /// The parameters as a statement records them (defaults included).
    pub fn to_parameters(self) -> BTreeMap<String, Value> {
        let mut m = BTreeMap::new();
        m.insert("leaves_pow2".to_owned(), Value::from(self.leaves_pow2));
        m.insert("openings".to_owned(), Value::from(self.openings));
        m
    }
}

/// The child side of a builtin repetition: runs it and returns the line the
/// child prints (the result digest).
pub fn child_main(name: &str, params_json: &str) -> Result<String, String> {
    let params: BTreeMap<String, Value> =
        serde_json::from_str(params_json).map_err(|e| format!("invalid parameters: {e}"))?;
    let p = MerkleParams::parse(name, &params).map_err(|e| e.to_string())?;
    let out = merkle_build_open(p).map_err(|e| e.to_string())?;
    Ok(out.result.to_string())
}

/// Serves a proving builtin over the adapter protocol on stdin/stdout
/// (`cargo-capsule __adapter NAME`).
pub fn serve_adapter(name: &str) -> Result<(), String> {
    if name != STARK {
        return Err(format!("`{name}` is not a proving builtin (proving builtins: {STARK})"));
    }
    let stdin = std::io::stdin().lock();
    capsule_adapter::serve(capsule_stark::StarkAdapter::default(), stdin, std::io::stdout()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters() {
        let p = |v: Value| serde_json::from_value::<BTreeMap<String, Value>>(v).unwrap();
        assert_eq!(
            MerkleParams::parse("merkle_build_open_v1", &p(json!({}))).unwrap(),
            MerkleParams { leaves_pow2: 16, openings: 64 }
        );
        for (v, bad) in [
            (json!({"leaves_pow2": 0}), "leaves_pow2"),
            (json!({"leaves_pow2": 25}), "leaves_pow2"),
            (json!({"leaves_pow2": 3, "openings": 9}), "openings"),
            (json!({"leaves_pow2": "8"}), "leaves_pow2"),
            (json!({"leaf_pow2": 8}), "leaf_pow2"),
        ] {
            let e = MerkleParams::parse("merkle_build_open_v1", &p(v)).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        assert!(MerkleParams::parse("nope", &p(json!({}))).is_err());
    }

    #[test]
    fn deterministic_and_distinct_openings() {
        let p = MerkleParams { leaves_pow2: 6, openings: 64 };
        let a = merkle_build_open(p).unwrap();
        assert_eq!(a, merkle_build_open(p).unwrap());
        assert_eq!(a.rows.len(), 64 * 64);
        let mut idx: Vec<&[u8]> = a.rows.chunks(64).map(|r| &r[..8]).collect();
        idx.sort();
        idx.dedup();
        assert_eq!(idx.len(), 64);
        assert_ne!(a.result, merkle_build_open(MerkleParams { leaves_pow2: 7, openings: 64 }).unwrap().result);
    }
}
