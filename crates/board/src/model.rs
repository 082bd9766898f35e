//! The board's JSON index, `capsulebench/board/v1` (docs/spec/board.md):
//! what the site shows, for programs. Every number in it comes from a pack
//! that verified under the options recorded in `verifier`; nothing is
//! stored here that the pack does not hold.

use capsule::digest::Digest;
use serde::{Deserialize, Serialize};

/// The schema id of [`BoardV1`].
pub const BOARD_SCHEMA: &str = "capsulebench/board/v1";

/// The board.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardV1 {
    /// Always [`BOARD_SCHEMA`].
    pub schema: String,
    /// What verified the packs, and its hash.
    pub verifier: VerifierV1,
    /// The branch whose pushes (and every release tag) make the history.
    pub branch: String,
    /// One per workload and policy, by slug.
    pub workloads: Vec<WorkloadV1>,
    /// Packs that did not verify, by file digest: never shown as results.
    pub rejected: Vec<RejectedV1>,
}

/// The verifier's settings: everything that decides a verdict. Two boards
/// with the same `options_hash` verify every pack alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierV1 {
    /// The tool that verified (`cargo-capsule <version>`).
    pub tool: String,
    /// The profile checked: `certified` (an ACL and a registry root were
    /// given) or `policy`.
    pub profile: String,
    /// Policy hashes pinned besides the standard ones, ascending.
    pub pinned_policies: Vec<Digest>,
    /// SHA-256 of the ACL file's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Digest>,
    /// The pinned policy registry root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_root: Option<Digest>,
    /// SHA-256 of the Sigstore trusted root file; absent: the embedded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<Digest>,
    /// Proof verifier programs (`backend=program`) and program pins
    /// (`workload=program id`), ascending.
    pub backends: Vec<String>,
    /// SHA-256 of the canonical JSON (RFC 8785) of this object with this
    /// field all zeros.
    pub options_hash: Digest,
}

impl VerifierV1 {
    /// Fills `options_hash` from the other fields.
    pub fn sealed(mut self) -> VerifierV1 {
        self.options_hash = Digest::ZERO;
        let bytes = serde_jcs::to_vec(&self).unwrap_or_default();
        self.options_hash = capsule::digest::plain(&bytes);
        self
    }
}

/// The policy a workload's entries were verified under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRefV1 {
    /// Its id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its hash.
    pub hash: Digest,
}

/// One workload under one policy: its entries, best first per track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadV1 {
    /// The page's name: the workload id made safe for a file name, and the
    /// policy hash's first 8 hex digits.
    pub slug: String,
    /// The statement's workload id.
    pub workload_id: String,
    /// The policy.
    pub policy: PolicyRefV1,
    /// The policy's primary metric (lower is better).
    pub primary_metric: String,
    /// The policy's confidence for the intervals, as a decimal string.
    pub confidence: String,
    /// The entries: certified first, then community, each by ascending
    /// primary median of the first series, then capsule hash.
    pub entries: Vec<EntryV1>,
}

/// One receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryV1 {
    /// The capsule hash (the entry's name).
    pub capsule_hash: Digest,
    /// SHA-256 of the pack file's bytes.
    pub pack_digest: Digest,
    /// The run id.
    pub run_id: String,
    /// `certified` or `community`.
    pub track: String,
    /// The statement's track (`baseline_no_accel`, …).
    pub statement_track: String,
    /// Who ran it, as the pack says (self-reported): the CI repository, or
    /// `local`.
    pub origin: String,
    /// The workload commit (self-reported; signed when the entry is
    /// certified by a Sigstore signature naming it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The CI workflow's ref (`refs/heads/main`, `refs/tags/v1`,
    /// `refs/pull/7/merge`), when the pack was made in CI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Whether the entry belongs to the history: a push to the board's
    /// branch, or a tag.
    pub history: bool,
    /// The last event's time, in ms since the epoch (self-reported).
    pub sealed_ms: u64,
    /// The container image, when the run was in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Every series' figures, in the pack's order.
    pub series: Vec<SeriesFiguresV1>,
    /// What about the entry is proven, recomputed, measured, signed,
    /// audited.
    pub trust: TrustV1,
}

/// One series of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesFiguresV1 {
    /// The series id.
    pub id: String,
    /// Who produced the numbers: `measured`, `harness-reported`, `imported`.
    pub class: String,
    /// Measured samples.
    pub count: u64,
    /// The primary metric's median.
    pub median: u64,
    /// The distribution-free interval of that median at the policy's
    /// confidence (docs/spec/board.md §3); absent with too few samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[u64; 2]>,
    /// The policy's worst-case statistics of the primary metric (`max`,
    /// `p95`, …) and their values.
    pub worst_case: std::collections::BTreeMap<String, u64>,
    /// Median peak RSS, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// Median proof size, for a proving series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_bytes: Option<u64>,
    /// Median proof verification time, for a proving series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_ns: Option<u64>,
}

/// The trust indicator of an entry, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustV1 {
    /// The proof axis (`bound-and-verified`, `committed-not-proven`,
    /// `none`).
    pub proof: String,
    /// Whether every hash, chain and aggregate recomputed (always, for a
    /// shown entry).
    pub recomputed: bool,
    /// Who measured the primary series: `runner`, `harness` or `import`.
    pub measured_by: String,
    /// Who signed, each as the verifier names them (`key:<id>`,
    /// `sigstore:<identity>`), and whether the ACL allows them.
    pub signers: Vec<SignerV1>,
    /// Whether the policy was shown in the pinned registry.
    pub registry_included: bool,
    /// Whether a data-availability audit passed.
    pub audited: bool,
}

/// One signer of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerV1 {
    /// `key:<key id>` or `sigstore:<certificate identity>`.
    pub who: String,
    /// Whether the verifier's ACL allows this signer.
    pub allowed: bool,
}

/// A pack that did not verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectedV1 {
    /// The pack file's name, as given.
    pub file: String,
    /// SHA-256 of its bytes.
    pub pack_digest: Digest,
    /// Its capsule hash, when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capsule_hash: Option<Digest>,
    /// The error findings' codes, in check order.
    pub codes: Vec<String>,
    /// The first error finding's explanation.
    pub detail: String,
}
