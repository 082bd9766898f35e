//! The standard policies this crate ships, known by hash.
//!
//! Owns the built-in trust roots for the `policy` profile: a verifier pins
//! these by hash without being told, and pins any other policy only when its
//! user names it. The files under `policies/` are the source; their hashes are
//! recomputed from canonical bytes, and a test vector fixes them.

use std::sync::OnceLock;

use crate::canonical::{self, CanonicalError};
use crate::digest::{Digest, Tag};
use crate::objects::PolicyV1;

/// A policy with its canonical bytes and hash.
#[derive(Clone, Debug)]
pub struct PinnedPolicy {
    /// The parsed policy.
    pub policy: PolicyV1,
    /// Its canonical bytes (what `policy.json` holds).
    pub bytes: Vec<u8>,
    /// `sha256(policy-tag || 0x00 || bytes)`.
    pub hash: Digest,
}

impl PinnedPolicy {
    /// Canonicalizes a policy.
    pub fn new(policy: PolicyV1) -> Result<Self, CanonicalError> {
        let (bytes, hash) = canonical::hash(Tag::Policy, &policy)?;
        Ok(PinnedPolicy { policy, bytes, hash })
    }

    /// Reads a policy file as a user writes it (any whitespace and key
    /// order; still no floats, no unknown fields).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, CanonicalError> {
        PinnedPolicy::new(canonical::parse_lenient(bytes)?)
    }
}

const SOURCES: [(&str, &str); 5] = [
    ("standard-v1", include_str!("../policies/standard-v1.json")),
    ("standard-proof-v1", include_str!("../policies/standard-proof-v1.json")),
    ("import-v1", include_str!("../policies/import-v1.json")),
    ("instructions-v1", include_str!("../policies/instructions-v1.json")),
    ("container-v1", include_str!("../policies/container-v1.json")),
];

/// The shipped policies, by file stem.
pub fn standard_policies() -> &'static [(&'static str, PinnedPolicy)] {
    static CELL: OnceLock<Vec<(&'static str, PinnedPolicy)>> = OnceLock::new();
    CELL.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(name, src)| {
                #[expect(clippy::expect_used, reason = "shipped policies are tested to parse")]
                let p = PinnedPolicy::from_file_bytes(src.as_bytes()).expect("shipped policy parses");
                (*name, p)
            })
            .collect()
    })
}

/// The shipped policy named `name` (`standard-v1`, `standard-proof-v1`,
/// `import-v1`, `instructions-v1`, `container-v1`).
pub fn standard_policy(name: &str) -> Option<&'static PinnedPolicy> {
    standard_policies().iter().find(|(n, _)| *n == name).map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policies_parse_and_differ() {
        let all = standard_policies();
        assert_eq!(all.len(), 5);
        let hashes: std::collections::BTreeSet<_> = all.iter().map(|(_, p)| p.hash).collect();
        assert_eq!(hashes.len(), all.len());
        let import = standard_policy("import-v1").map(|p| &p.policy);
        assert!(import.is_some_and(|p| p.required_anchors == [crate::objects::AnchorName::ImportedSourceHash]));
        assert!(standard_policy("standard-proof-v1").is_some_and(|p| p.policy.proof.required));
        assert!(
            standard_policy("container-v1")
                .is_some_and(|p| p.policy.required_anchors.contains(&crate::objects::AnchorName::ContainerImageDigest))
        );
        let counts = standard_policy("instructions-v1").map(|p| &p.policy);
        assert!(
            counts.is_some_and(|p| p.measurement.primary_metric == "instructions_count" && p.measurement.warmups == 0)
        );
    }

    /// `instructions-v1`'s counts give intervals: its minimum at its
    /// confidence, and a paired run's first count (or the minimum, with
    /// `--repetitions`) at the level of each of its three looks
    /// (objects.md §6.6).
    #[test]
    fn the_instruction_policy_has_intervals_at_its_counts() {
        use crate::compare::{ci_rank, parse_ppm, sequential_level};
        let p = &standard_policy("instructions-v1").map(|p| p.policy.clone()).unwrap_or_else(|| unreachable!());
        let c = parse_ppm("confidence", &p.comparison.confidence).unwrap_or_default();
        let (min, paired) =
            (u64::from(p.measurement.min_repetitions), u64::from(p.comparison.paired_repetitions.unwrap_or(0)));
        assert!(ci_rank(min, min, c).is_some());
        assert!(ci_rank(min, min, sequential_level(c, 3)).is_some(), "`--repetitions` down to the minimum pairs");
        assert!(ci_rank(paired, paired, sequential_level(c, 3)).is_some());
    }
}
