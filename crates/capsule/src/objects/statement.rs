//! TraceSpecV1, StatementV1 (with its public inputs and anchors) and EventV1.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ManifestKind, schema_marker};
use crate::digest::Digest;

schema_marker!(
    /// `capsulebench/trace-spec/v1`
    TraceSpecSchema = "capsulebench/trace-spec/v1"
);
schema_marker!(
    /// `capsulebench/statement/v1`
    StatementSchema = "capsulebench/statement/v1"
);
schema_marker!(
    /// `capsulebench/event/v1`
    EventSchema = "capsulebench/event/v1"
);

/// What a trace *means*: its format, row schema and encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpecV1 {
    /// Always `capsulebench/trace-spec/v1`.
    pub schema: TraceSpecSchema,
    /// The trace format (for example `capsulebench/merkle-build-open/v1`).
    pub format_id: String,
    /// The row record schema (an identifier defined by the format).
    pub record_schema: String,
    /// How a row is encoded to bytes (for example `le-u64x8`).
    pub encoding_id: String,
    /// The field rows live in, when the trace is algebraic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_id: Option<String>,
    /// Bytes per encoded row; equal to the commitment's row width.
    pub row_width: u32,
}

/// The claim a proof binds: locked before proving, its hash absorbed into
/// the proof transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementV1 {
    /// Always `capsulebench/statement/v1`.
    pub schema: StatementSchema,
    /// Hash of the canonical trace spec.
    pub trace_spec_hash: Digest,
    /// Hash of the canonical policy.
    pub policy_hash: Digest,
    /// The row-commitment root.
    pub trace_root: Digest,
    /// The track the run claims (a key of the policy's `tracks`).
    pub track: String,
    /// The proven inputs.
    pub public_inputs: PublicInputsV1,
    /// The anchors.
    pub anchors: AnchorsV1,
}

/// What ran, on what, with what result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicInputsV1 {
    /// The workload id.
    pub workload_id: String,
    /// Workload parameters: strings, safe integers and booleans only.
    pub parameters: BTreeMap<String, Value>,
    /// Digest of the workload's result, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_digest: Option<Digest>,
}

/// Where and from what a run came. Absent anchors are absent, never empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorsV1 {
    /// The commit that was benchmarked (full 40 or 64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_commit: Option<String>,
    /// The commit whose CI workflow ran and signed (full hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_commit: Option<String>,
    /// The CI run invocation URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_uri: Option<String>,
    /// The CI run attempt number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<u32>,
    /// 32 random bytes the runner drew for this run (64 lowercase hex),
    /// locked into the statement before anything proves: two runs never
    /// lock the same statement, so a proof made in one run (or cached by
    /// an adapter) cannot verify in another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_nonce: Option<String>,
    /// The container image digest, when the runner launched the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_image_digest: Option<Digest>,
    /// Hash of `manifests/hardware.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_manifest_hash: Option<Digest>,
    /// Hash of `manifests/os.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_fingerprint_hash: Option<Digest>,
    /// Hash of `manifests/toolchain.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolchain_hash: Option<Digest>,
    /// Hash of `manifests/git.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_manifest_hash: Option<Digest>,
    /// Hash of `manifests/ci.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_manifest_hash: Option<Digest>,
    /// Hash of `manifests/container.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_manifest_hash: Option<Digest>,
    /// Hash of the workload's input files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_input_hash: Option<Digest>,
    /// For an imported receipt: the member digest of `imported/source`, the
    /// third-party file its values were read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_source_hash: Option<Digest>,
}

impl AnchorsV1 {
    /// The anchor that binds a manifest of `kind`.
    pub fn manifest_hash(&self, kind: ManifestKind) -> Option<Digest> {
        match kind {
            ManifestKind::Hardware => self.hardware_manifest_hash,
            ManifestKind::Os => self.os_fingerprint_hash,
            ManifestKind::Toolchain => self.toolchain_hash,
            ManifestKind::Git => self.git_manifest_hash,
            ManifestKind::Ci => self.ci_manifest_hash,
            ManifestKind::Container => self.container_manifest_hash,
        }
    }

    /// The anchor that binds a manifest of `kind`, to set.
    pub fn manifest_hash_mut(&mut self, kind: ManifestKind) -> &mut Option<Digest> {
        match kind {
            ManifestKind::Hardware => &mut self.hardware_manifest_hash,
            ManifestKind::Os => &mut self.os_fingerprint_hash,
            ManifestKind::Toolchain => &mut self.toolchain_hash,
            ManifestKind::Git => &mut self.git_manifest_hash,
            ManifestKind::Ci => &mut self.ci_manifest_hash,
            ManifestKind::Container => &mut self.container_manifest_hash,
        }
    }
}

/// One link of the sealed event chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventV1 {
    /// Always `capsulebench/event/v1`.
    pub schema: EventSchema,
    /// The run this event belongs to.
    pub run_id: String,
    /// Position in the chain, from 0.
    pub seq: u64,
    /// Wall-clock time in milliseconds since the Unix epoch (self-reported).
    pub ts_ms: u64,
    /// Who emitted it (`runner`).
    pub source: String,
    /// The event type (`run_started`, `spec_locked`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific payload.
    pub data: Value,
    /// Hash of the previous event (all zeros for the first).
    pub prev: Digest,
}
