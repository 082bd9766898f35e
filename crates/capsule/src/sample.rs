//! A deterministic sample run: the golden fixture, tests and docs use it.
//!
//! Owns nothing normative. It drives the [`builder`](crate::builder) the way
//! a runner does, with a fixed clock and synthetic rows and samples, so that
//! the same inputs always give the same pack bytes.

use std::collections::BTreeMap;

use serde_json::json;

use crate::builder::{BuildError, CapsuleBuilder, SealedCapsule};
use crate::digest::{Digest, Tag, tagged};
use crate::objects::{
    AnchorsV1, CiManifestV1, GitManifestV1, HardwareManifestV1, ManifestKind, MeasurementsV1, OsManifestV1,
    PublicInputsV1, SampleV1, SeriesV1, ToolchainManifestV1, TraceSpecV1, ValueClass,
};
use crate::rows::RowParams;
use crate::standard::{PinnedPolicy, standard_policy};

/// A prover for the sample: `(statement hash, repetition nonce) -> proof`.
pub type SampleProver = Box<dyn Fn(Digest, u64) -> Vec<u8>>;

/// What to build.
pub struct SampleRun {
    /// The policy the run claims.
    pub policy: PinnedPolicy,
    /// The track.
    pub track: String,
    /// Trace rows (64 bytes each).
    pub rows: u64,
    /// Whether the rows travel in the pack.
    pub include_rows: bool,
    /// A backend id and prover, for a proving run.
    pub prover: Option<(String, SampleProver)>,
    /// Extra RUSTFLAGS recorded in the toolchain manifest.
    pub rustflags: Vec<String>,
    /// A CI context: its manifest and the `workflow_commit`, `run_uri` and
    /// `run_attempt` anchors it implies.
    pub ci: Option<CiManifestV1>,
    /// Public inputs to claim instead of the sample workload's (a proving
    /// sample claims what its prover proves).
    pub public_inputs: Option<PublicInputsV1>,
}

impl Default for SampleRun {
    fn default() -> Self {
        SampleRun {
            #[expect(clippy::expect_used, reason = "the shipped policy exists")]
            policy: standard_policy("standard-v1").expect("shipped").clone(),
            track: "baseline_no_accel".to_owned(),
            rows: 2000,
            include_rows: true,
            prover: None,
            rustflags: Vec::new(),
            ci: None,
            public_inputs: None,
        }
    }
}

/// Row `i` of the sample trace: eight little-endian u64 words.
pub fn sample_row(i: u64) -> [u8; 64] {
    let mut row = [0u8; 64];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d;
    for w in 0..8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        row[w * 8..w * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    row
}

/// Builds and seals the sample capsule.
pub fn build(run: &SampleRun) -> Result<SealedCapsule, BuildError> {
    let mut t = 1_767_225_600_000u64; // 2026-01-01T00:00:00Z
    let clock = Box::new(move || {
        t += 7;
        t
    });
    let spec = TraceSpecV1 {
        schema: Default::default(),
        format_id: "capsulebench/sample-xorshift/v1".to_owned(),
        record_schema: "capsulebench/sample-xorshift/row/v1".to_owned(),
        encoding_id: "le-u64x8".to_owned(),
        field_id: None,
        row_width: 64,
    };
    let mut b = CapsuleBuilder::new(
        "run-sample-0001",
        json!({"runner_name": "capsulebench-sample", "runner_version": "1"}),
        spec,
        run.policy.clone(),
        clock,
    )?;
    b.manifest(
        ManifestKind::Hardware,
        &HardwareManifestV1 {
            schema: Default::default(),
            arch: "x86_64".to_owned(),
            cpu_model: "Sample CPU".to_owned(),
            logical_cores: 2,
            cpu_flags: vec!["avx2".to_owned(), "sha_ni".to_owned()],
            memory_bytes: 24 << 30,
            gpus: Vec::new(),
        },
    )?;
    b.manifest(
        ManifestKind::Os,
        &OsManifestV1 {
            schema: Default::default(),
            kernel: "Linux 6.1.0".to_owned(),
            distribution: "Debian GNU/Linux 12".to_owned(),
            libc: "glibc 2.36".to_owned(),
        },
    )?;
    b.manifest(
        ManifestKind::Toolchain,
        &ToolchainManifestV1 {
            schema: Default::default(),
            rustc: "rustc 1.95.0".to_owned(),
            cargo: "cargo 1.95.0".to_owned(),
            target: "x86_64-unknown-linux-gnu".to_owned(),
            rustflags: run.rustflags.clone(),
            features: Vec::new(),
            profile: "release".to_owned(),
            accelerators: Vec::new(),
        },
    )?;
    let commit = "0123456789abcdef0123456789abcdef01234567".to_owned();
    b.manifest(
        ManifestKind::Git,
        &GitManifestV1 {
            schema: Default::default(),
            commit: Some(commit.clone()),
            dirty: false,
            diff_hash: None,
            remote: Some("https://example.invalid/sample.git".to_owned()),
            note: None,
        },
    )?;
    if let Some(ci) = &run.ci {
        b.manifest(ManifestKind::Ci, ci)?;
    }
    b.anchors(AnchorsV1 {
        workload_commit: Some(commit),
        workload_input_hash: Some(tagged(Tag::WorkloadInput, b"sample input")),
        workflow_commit: run.ci.as_ref().map(|c| c.workflow_commit.clone()),
        run_uri: run.ci.as_ref().map(|c| c.run_uri.clone()),
        run_attempt: run.ci.as_ref().map(|c| c.run_attempt),
        // A proving run names itself (deterministically, for fixtures).
        run_nonce: run.prover.as_ref().map(|_| crate::digest::plain(b"sample run nonce").to_hex()),
        ..AnchorsV1::default()
    });
    let params = RowParams { row_width: 64, chunk_len: 64, arity: 16 };
    let mut rows = Vec::with_capacity(run.rows as usize * 64);
    for i in 0..run.rows {
        rows.extend_from_slice(&sample_row(i));
    }
    b.commit_rows(params, &rows[..], run.include_rows)?;
    let mut parameters = BTreeMap::new();
    parameters.insert("rows".to_owned(), json!(run.rows));
    let result = tagged(Tag::Result, &rows[rows.len().saturating_sub(64)..]);
    let inputs = run.public_inputs.clone().unwrap_or(PublicInputsV1 {
        workload_id: "sample_xorshift_v1".to_owned(),
        parameters,
        result_digest: Some(result),
    });
    let mut locked = b.lock_statement(&run.track, inputs)?;
    let st = locked.statement_hash();
    let mut metrics = vec!["wall_ns", "user_ns", "sys_ns", "peak_rss_bytes"];
    if run.prover.is_some() {
        metrics.extend(["prove_ns", "proof_bytes", "verify_ns"]);
    }
    let mut samples = Vec::new();
    for rep in 0..12u32 {
        let r = u64::from(rep);
        let mut values = vec![1_000_000 + (r * 7919) % 50_000, 900_000 + (r * 104_729) % 40_000, 10_000 + r, 50 << 20];
        let mut proof_digest = None;
        if let Some((backend, prove)) = &run.prover {
            let proof = prove(st, r);
            proof_digest = Some(tagged(Tag::Member, &proof));
            values.extend([2_000_000 + r * 11, proof.len() as u64, 30_000 + r]);
            locked.proof(backend, &repetition_proof(rep), proof)?;
        }
        samples.push(SampleV1 { rep, warmup: rep < 2, values, proof_digest });
    }
    locked.measurements(MeasurementsV1 {
        schema: Default::default(),
        series: vec![SeriesV1 {
            id: "sample_xorshift_v1".to_owned(),
            class: ValueClass::Measured,
            metrics: metrics.into_iter().map(str::to_owned).collect(),
            samples,
        }],
        looks: None,
    })?;
    locked.seal()
}

/// The name under `proofs/` of repetition `index`'s proof.
pub fn repetition_proof(index: u32) -> String {
    format!("rep-{index:04}.bin")
}
