//! CapsuleV1: the sealed receipt whose plain SHA-256 is its identity.

use serde::{Deserialize, Serialize};

use super::measurement::ClaimV1;
use super::schema_marker;
use crate::digest::Digest;
use crate::rows::Commitment;

schema_marker!(
    /// `capsulebench/capsule/v1`
    CapsuleSchema = "capsulebench/capsule/v1"
);

/// The capsule. Stored canonical as `capsule.json`, the first pack member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapsuleV1 {
    /// Always `capsulebench/capsule/v1`.
    pub schema: CapsuleSchema,
    /// The run id (shared by the packs of one paired run).
    pub run_id: String,
    /// When the capsule was sealed, in ms since the Unix epoch
    /// (self-reported).
    pub sealed_ms: u64,
    /// The statement hash.
    pub statement: Digest,
    /// The row commitment; its root equals the statement's trace root.
    pub commitment: Commitment,
    /// Claimed aggregates of the measurement table.
    pub measurements: MeasurementsRef,
    /// The proof, when the run proved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProofRefV1>,
    /// The sealed event chain.
    pub events: EventsRef,
    /// Every member of the pack but `capsule.json` and `signatures/`,
    /// sorted by path.
    pub members: Vec<MemberV1>,
}

/// Claimed aggregates; the verifier recomputes each from the samples.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementsRef {
    /// One claim per series and metric with measured samples.
    pub claims: Vec<ClaimV1>,
}

/// A proof artifact and the backend that checks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofRefV1 {
    /// The backend id (the verifier's configuration maps it to code).
    pub backend: String,
    /// The member holding the proof, under `proofs/`.
    pub member: String,
}

/// The head and length of the event chain at sealing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsRef {
    /// Hash of the last event.
    pub head: Digest,
    /// Number of events.
    pub count: u64,
}

/// A listed member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberV1 {
    /// Path inside the pack.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// `sha256(member-tag || 0x00 || bytes)`.
    pub digest: Digest,
}
