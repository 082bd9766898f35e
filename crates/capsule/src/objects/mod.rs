//! The serialized objects of the receipt standard, version 1.
//!
//! Owns the Rust shape of every object a pack holds: the trace spec, the
//! statement, the Benchmark Policy, manifests, the measurement table, events
//! and the capsule. Each object carries a `schema` string that names its kind
//! and version, rejects unknown fields, and holds no floats. `docs/spec/` is
//! the normative text for these types; they must never drift apart.

mod capsule;
mod manifest;
mod measurement;
mod policy;
mod statement;

pub use capsule::{CapsuleV1, EventsRef, MeasurementsRef, MemberV1, ProofRefV1};
pub use manifest::{
    CiManifestV1, ContainerBuildV1, ContainerEngineV1, ContainerLimitsV1, ContainerManifestV1, GitManifestV1,
    HardwareManifestV1, ManifestKind, OsManifestV1, ToolchainManifestV1,
};
pub use measurement::{
    AggregatesV1, ClaimV1, MeasurementsV1, SampleV1, SeriesV1, WorstCase, median_of_sorted, percentile_of_sorted,
};
pub use policy::{
    AnchorName, ComparisonV1, MeasurementProcedureV1, PolicyV1, ProofPolicyV1, PublicInputName, TrackRulesV1,
};
pub use statement::{AnchorsV1, EventV1, PublicInputsV1, StatementV1, TraceSpecV1};

use serde::{Deserialize, Serialize};

/// Declares a single-valued schema marker type: it serializes as its schema
/// string and refuses any other string, so a wrong kind or version fails the
/// typed parse.
macro_rules! schema_marker {
    ($(#[$doc:meta])* $name:ident = $value:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;

        impl $name {
            /// The schema string.
            pub const VALUE: &'static str = $value;
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($value)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                if s == $value {
                    Ok($name)
                } else {
                    Err(serde::de::Error::custom(format!(
                        "unsupported schema `{s}`, expected `{}`",
                        $value
                    )))
                }
            }
        }
    };
}
pub(crate) use schema_marker;

/// The class of a reported value: who vouches for it. Nothing upgrades a
/// class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueClass {
    /// Established by a bound, verified proof.
    Proven,
    /// Recomputed by the verifier from committed data.
    Recomputed,
    /// Measured by the CapsuleBench runner; vouched for only by the signer.
    Measured,
    /// Produced by user code (a harness such as criterion).
    HarnessReported,
    /// Taken from a third-party file.
    Imported,
}

impl ValueClass {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueClass::Proven => "proven",
            ValueClass::Recomputed => "recomputed",
            ValueClass::Measured => "measured",
            ValueClass::HarnessReported => "harness-reported",
            ValueClass::Imported => "imported",
        }
    }
}

/// The fixed member paths of the pack layout.
pub mod paths {
    /// The capsule: always the first member.
    pub const CAPSULE: &str = "capsule.json";
    /// The trace spec.
    pub const TRACE_SPEC: &str = "trace_spec.json";
    /// The policy the run claims.
    pub const POLICY: &str = "policy.json";
    /// The statement.
    pub const STATEMENT: &str = "statement.json";
    /// The measurement table.
    pub const MEASUREMENTS: &str = "measurements.json";
    /// The sealed event log.
    pub const EVENTS: &str = "events.jsonl";
    /// The chunk digests of the row commitment.
    pub const CHUNKS: &str = "rows/chunks.bin";
    /// The trace rows themselves, when the pack carries them.
    pub const ROWS: &str = "rows/rows.bin";
    /// The directory of proof artifacts.
    pub const PROOFS_DIR: &str = "proofs/";
    /// The directory of manifests.
    pub const MANIFESTS_DIR: &str = "manifests/";
    /// The directory of post-seal signatures.
    pub const SIGNATURES_DIR: &str = "signatures/";
    /// The third-party file an imported receipt was made from.
    pub const IMPORTED_SOURCE: &str = "imported/source";
}
