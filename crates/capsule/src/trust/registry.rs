//! The policy registry: a commitment over the hashes of the policies a
//! community recognizes, and inclusion proofs of one policy in it.
//!
//! Owns `capsulebench/registry-proof/v1`. The registry is a row commitment
//! ([`crate::rows`], same leaf, node and root rules) over the sorted,
//! distinct policy hashes as 32-byte rows, one row per chunk, arity 16: its
//! root is what a verifier pins (`--registry-root`).

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::rows::{self, ChunkProof, Commitment, RowParams};

/// The schema of a registry inclusion proof.
pub const REGISTRY_PROOF_SCHEMA: &str = "capsulebench/registry-proof/v1";

/// The commitment parameters of every registry.
pub const REGISTRY_PARAMS: RowParams = RowParams { row_width: 32, chunk_len: 1, arity: 16 };

/// A built registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// The policy hashes, sorted and distinct.
    pub policies: Vec<Digest>,
    /// The commitment (its `root` is the registry root).
    pub commitment: Commitment,
    leaves: Vec<Digest>,
}

/// Builds the registry of `policies` (sorted and deduplicated here).
pub fn build(mut policies: Vec<Digest>) -> Registry {
    policies.sort();
    policies.dedup();
    let bytes: Vec<u8> = policies.iter().flat_map(|d| d.0).collect();
    // The parameters are valid constants, so committing cannot fail.
    let (commitment, leaves) = rows::commit(REGISTRY_PARAMS, &bytes).unwrap_or_else(|_| unreachable!());
    Registry { policies, commitment, leaves }
}

impl Registry {
    /// The registry root.
    pub fn root(&self) -> Digest {
        self.commitment.root
    }

    /// The inclusion proof of `policy`, if it is registered.
    pub fn prove(&self, policy: &Digest) -> Option<RegistryProofV1> {
        let index = self.policies.binary_search(policy).ok()? as u64;
        let proof = rows::prove_chunk(&REGISTRY_PARAMS, &self.leaves, index)?;
        Some(RegistryProofV1 {
            schema: REGISTRY_PROOF_SCHEMA.to_owned(),
            root: self.root(),
            policy_count: self.policies.len() as u64,
            policy_hash: *policy,
            index,
            siblings: proof.siblings,
        })
    }
}

/// An inclusion proof of one policy hash in a registry,
/// `capsulebench/registry-proof/v1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryProofV1 {
    /// Always `capsulebench/registry-proof/v1`.
    pub schema: String,
    /// The registry root the proof leads to.
    pub root: Digest,
    /// Policies in the registry.
    pub policy_count: u64,
    /// The policy proven.
    pub policy_hash: Digest,
    /// Its position among the sorted hashes.
    pub index: u64,
    /// Siblings at each level, bottom up (as [`ChunkProof::siblings`]).
    pub siblings: Vec<Vec<Digest>>,
}

/// Why an inclusion proof does not show a policy in a pinned registry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InclusionProblem {
    /// The proof is about another policy.
    #[error("the proof is for policy {proven}, not {policy}")]
    OtherPolicy {
        /// The policy the proof names.
        proven: Digest,
        /// The policy that needed proving.
        policy: Digest,
    },
    /// The proof does not lead to the root it names.
    #[error("the inclusion proof does not lead to the root it names ({0})")]
    Invalid(Digest),
    /// The proof is sound but for a registry other than the pinned one.
    #[error("the proof is for registry root {proven}; the verifier pinned {pinned}")]
    OtherRoot {
        /// The root the proof leads to.
        proven: Digest,
        /// The pinned root.
        pinned: Digest,
    },
}

impl RegistryProofV1 {
    /// Checks that this proof shows `policy` in the registry with root
    /// `pinned`.
    pub fn check(&self, policy: &Digest, pinned: &Digest) -> Result<(), InclusionProblem> {
        if self.policy_hash != *policy {
            return Err(InclusionProblem::OtherPolicy { proven: self.policy_hash, policy: *policy });
        }
        let commitment = Commitment {
            scheme: rows::SCHEME.to_owned(),
            row_width: REGISTRY_PARAMS.row_width,
            chunk_len: REGISTRY_PARAMS.chunk_len,
            arity: REGISTRY_PARAMS.arity,
            row_count: self.policy_count,
            chunk_count: self.policy_count,
            root: self.root,
        };
        let proof = ChunkProof { index: self.index, siblings: self.siblings.clone() };
        if self.schema != REGISTRY_PROOF_SCHEMA || !rows::verify_chunk(&commitment, &policy.0, &proof) {
            return Err(InclusionProblem::Invalid(self.root));
        }
        if self.root != *pinned {
            return Err(InclusionProblem::OtherRoot { proven: self.root, pinned: *pinned });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::plain;

    #[test]
    fn every_policy_proves_and_nothing_else_does() {
        for n in [1usize, 2, 16, 17, 300] {
            let policies: Vec<Digest> = (0..n).map(|i| plain(&i.to_le_bytes())).collect();
            let reg = build(policies.clone());
            for p in &policies {
                let proof = reg.prove(p).unwrap();
                assert_eq!(proof.check(p, &reg.root()), Ok(()));
                assert!(matches!(proof.check(p, &plain(b"other root")), Err(InclusionProblem::OtherRoot { .. })));
                let mut bad = proof.clone();
                if let Some(level) = bad.siblings.first_mut().and_then(|l| l.first_mut()) {
                    level.0[0] ^= 1;
                    assert!(matches!(bad.check(p, &reg.root()), Err(InclusionProblem::Invalid(_))));
                }
            }
            assert!(reg.prove(&plain(b"unregistered")).is_none());
        }
    }
}
