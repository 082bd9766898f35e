//! Benchmark Policy v1: the rules a run claims to follow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema_marker;

schema_marker!(
    /// `capsulebench/policy/v1`
    PolicySchema = "capsulebench/policy/v1"
);

/// A Benchmark Policy. Its hash is the tagged hash of its canonical bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyV1 {
    /// Always `capsulebench/policy/v1`.
    pub schema: PolicySchema,
    /// Stable policy id (ACLs and registries key on it).
    pub id: String,
    /// Policy version (semver text).
    pub version: String,
    /// What the policy is for.
    pub description: String,
    /// Tracks and their rules, by track id.
    pub tracks: BTreeMap<String, TrackRulesV1>,
    /// Anchors a run must carry.
    pub required_anchors: Vec<AnchorName>,
    /// Public inputs a run must carry.
    pub required_public_inputs: Vec<PublicInputName>,
    /// The measurement procedure.
    pub measurement: MeasurementProcedureV1,
    /// Metrics every measured series must have.
    pub required_metrics: Vec<String>,
    /// Proof rules.
    pub proof: ProofPolicyV1,
    /// Comparison rules.
    pub comparison: ComparisonV1,
    /// The container limits every run in a container gets under this
    /// policy (a standard box); absent: the workload's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_limits: Option<crate::objects::ContainerLimitsV1>,
}

/// Rules of one track.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRulesV1 {
    /// RUSTFLAGS entries the track forbids (matched as substrings of each
    /// flag, for example `target-cpu=native`).
    pub forbidden_rustflags: Vec<String>,
    /// Cargo features the track forbids.
    pub forbidden_features: Vec<String>,
    /// Whether a GPU backend may be used.
    pub allow_gpu: bool,
    /// Whether accelerators must be declared in the toolchain manifest.
    pub accelerators_declared: bool,
}

/// The anchors a policy can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorName {
    /// `workload_commit`
    WorkloadCommit,
    /// `workflow_commit`
    WorkflowCommit,
    /// `container_image_digest`
    ContainerImageDigest,
    /// `hardware_manifest_hash`
    HardwareManifestHash,
    /// `os_fingerprint_hash`
    OsFingerprintHash,
    /// `toolchain_hash`
    ToolchainHash,
    /// `workload_input_hash`
    WorkloadInputHash,
    /// `imported_source_hash` (an imported receipt's source file)
    ImportedSourceHash,
}

impl AnchorName {
    /// The snake_case field name.
    pub fn as_str(self) -> &'static str {
        match self {
            AnchorName::WorkloadCommit => "workload_commit",
            AnchorName::WorkflowCommit => "workflow_commit",
            AnchorName::ContainerImageDigest => "container_image_digest",
            AnchorName::HardwareManifestHash => "hardware_manifest_hash",
            AnchorName::OsFingerprintHash => "os_fingerprint_hash",
            AnchorName::ToolchainHash => "toolchain_hash",
            AnchorName::WorkloadInputHash => "workload_input_hash",
            AnchorName::ImportedSourceHash => "imported_source_hash",
        }
    }
}

/// The public inputs a policy can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicInputName {
    /// Non-empty `parameters`.
    Parameters,
    /// `result_digest`
    ResultDigest,
}

/// How samples are taken and aggregated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementProcedureV1 {
    /// Warmup repetitions, recorded first and excluded from aggregates.
    pub warmups: u32,
    /// The least number of measured repetitions.
    pub min_repetitions: u32,
    /// The aggregation rule (`median`).
    pub aggregation: String,
    /// The metric comparisons use (`wall_ns`).
    pub primary_metric: String,
    /// Worst-case statistics of the primary metric every summary shows
    /// beside the median (`max`, `p50` to `p99`: nearest rank); each series
    /// must have enough measured samples for each (`pNN` needs
    /// ⌈100 / (100 − NN)⌉). Absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worst_case: Vec<String>,
}

/// Proof rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofPolicyV1 {
    /// Whether a run must carry a bound, verified proof.
    pub required: bool,
    /// Metrics a proving series must have.
    pub required_metrics: Vec<String>,
    /// Pinned proof parameters per backend id (backend-defined shape).
    pub backends: BTreeMap<String, Value>,
    /// The least security level, in bits, the verifier computes from a proof.
    pub min_security_bits: u32,
}

/// Comparison rules (used by `compare`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComparisonV1 {
    /// Relative shift below which a change is called "no change", as a
    /// decimal string (for example `"0.02"`).
    pub threshold: String,
    /// Confidence level of the interval, as a decimal string (`"0.95"`).
    pub confidence: String,
    /// Measured repetitions per side that a paired run (`bench --baseline`)
    /// takes when none are asked for: enough for the threshold to be
    /// resolved on a noisy machine. Absent: the measurement minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_repetitions: Option<u32>,
}
