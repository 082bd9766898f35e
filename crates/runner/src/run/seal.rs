//! The end of a side: trace rows committed, statement locked, samples
//! added, capsule sealed, written beside the destination and verified
//! there; and proving sides, whose repetitions prove for the locked
//! statement.

use std::path::PathBuf;
use std::time::Instant;

use capsule::builder::{CapsuleBuilder, LockedCapsule};
use capsule::digest::{Digest, Tag, tagged};
use capsule::objects::{ManifestKind, MeasurementsV1, PublicInputsV1, SampleV1, SeriesV1, ValueClass};
use capsule::rows::RowParams;
use capsule::standard::PinnedPolicy;
use capsule::verify::{BackendRegistry, PolicyPin, Profile, VerifyOptions, verify_pack_file};
use capsule_adapter::{AdapterError, ProofClaim, TraceAdapter};
use serde_json::json;

use crate::measure;

use super::execute::status_text;
use super::prepare::{ADAPTER_METRICS, Exec, Prepared};
use super::side::Side;
use super::{BenchError, BenchOutcome, Observer, Progress};

/// Commits a side's trace rows and locks its statement.
pub(super) fn lock_side(
    b: CapsuleBuilder,
    prepared: &Prepared,
    track: &str,
    id: &str,
    result_digest: Digest,
) -> Result<LockedCapsule, BenchError> {
    let params = RowParams { row_width: prepared.spec.row_width, chunk_len: 1024, arity: 16 };
    let mut b = b;
    b.commit_rows(params, &prepared.rows[..], true)?;
    Ok(b.lock_statement(
        track,
        PublicInputsV1 {
            workload_id: id.to_owned(),
            parameters: prepared.parameters.clone(),
            result_digest: Some(result_digest),
        },
    )?)
}

/// Seals a side, writes its pack beside the destination, verifies it there
/// (the workspace's own policy pinned) and renames it into place only when
/// it verifies: the destination never holds a partial or rejected pack.
pub(super) fn finish_side(
    side: Side,
    series: Vec<SeriesV1>,
    result_digest: Digest,
    looks: Option<u32>,
    observer: &mut dyn Observer,
) -> Result<Verified, BenchError> {
    let Side { id, policy, track, prepared, mut b, out, .. } = side;
    b.event("phase", json!({"phase_id": "measured", "phase_label": "Workload finished", "series": series.len()}))?;
    observer.progress(Progress::Phase("sealing"));
    let locked = lock_side(b, &prepared, &track, &id, result_digest)?;
    seal_side(locked, Sealing { id, policy, track, backends: prepared.backends, out, result_digest, looks }, series)
}

/// What sealing a side needs besides the locked capsule.
pub(super) struct Sealing {
    pub(super) id: String,
    pub(super) policy: PinnedPolicy,
    pub(super) track: String,
    pub(super) backends: BackendRegistry,
    pub(super) out: PathBuf,
    pub(super) result_digest: Digest,
    /// The looks a paired run's stopping rule could take (objects.md §7).
    pub(super) looks: Option<u32>,
}

pub(super) fn seal_side(mut locked: LockedCapsule, s: Sealing, series: Vec<SeriesV1>) -> Result<Verified, BenchError> {
    let Sealing { id, policy, track, backends, out, result_digest, looks } = s;
    let table = MeasurementsV1 { schema: Default::default(), series, looks };
    let single = table.series.len() == 1;
    let mut aggregates = Vec::new();
    for s in &table.series {
        for (i, m) in s.metrics.iter().enumerate() {
            if let Some(a) = s.aggregates(i) {
                aggregates.push((if single { m.clone() } else { format!("{}/{m}", s.id) }, a));
            }
        }
    }
    let procedure = &policy.policy.measurement;
    let worst_case = capsule::compare::worst_case(
        &MeasurementsV1 { schema: Default::default(), series: Vec::new(), looks: None },
        &table,
        &procedure.primary_metric,
        &procedure.worst_case,
    );
    locked.measurements(table)?;
    let mut sealed = locked.seal()?;

    let tmp = sealed.write_beside(&out)?;
    let vopts = VerifyOptions {
        profile: Profile::Policy,
        pins: vec![PolicyPin { hash: policy.hash, source: "workspace configuration".to_owned() }],
        expect_capsule: Some(sealed.hash),
        backends,
        ..VerifyOptions::default()
    };
    let (mut report, contents) = verify_pack_file(tmp.path(), &vopts);
    report.pack = Some(out.display().to_string());
    if !report.accepted() {
        return Err(BenchError::Rejected(Box::new(report)));
    }
    let git = contents.as_ref().and_then(|c| c.manifest(ManifestKind::Git));
    let container = contents.as_ref().and_then(|c| c.manifest(ManifestKind::Container));
    let outcome = BenchOutcome {
        pack: out,
        capsule_hash: sealed.hash,
        workload: id,
        track,
        result_digest,
        aggregates,
        report,
        git,
        container,
        events: sealed.events().clone(),
        worst_case,
    };
    Ok(Verified { outcome, tmp })
}

/// A proving side: rows committed and the statement locked first, then
/// every repetition (warmups included) starts a fresh adapter process that
/// executes, proves for the statement hash with the repetition index as
/// nonce, and verifies; the last proof joins the pack, every repetition's
/// proof digest its sample.
pub(super) fn prove_side(side: Side, observer: &mut dyn Observer) -> Result<Verified, BenchError> {
    // The container (when the adapter runs in one) stays up until the
    // pack is sealed: the run's own check of the proofs runs there too.
    let Side { id, policy, track, procedure, prepared, b, out, container: _container, .. } = side;
    let Exec::Adapter(run) = &prepared.exec else {
        return Err(BenchError::PairedUnsupported(id));
    };
    let failed = |source| BenchError::Adapter { workload: id.clone(), source };
    observer.progress(Progress::Phase("committing the trace and locking the statement"));
    let mut locked = lock_side(b, &prepared, &track, &run.statement_workload, run.outputs.result_digest)?;
    let statement_hash = locked.statement_hash();
    observer.progress(Progress::Phase("proving"));
    let total = procedure.warmups + procedure.min_repetitions;
    let mut samples = Vec::with_capacity(total as usize);
    for index in 0..total {
        let warmup = index < procedure.warmups;
        let start = Instant::now();
        let usage_file = format!("rep-{index}.usage");
        let mut a = run.spawn(&usage_file).map_err(failed)?;
        a.execute(&run.execution, None).map_err(failed)?;
        let t = Instant::now();
        let proof = a.prove(&statement_hash, u64::from(index)).map_err(failed)?;
        let prove_ns = t.elapsed().as_nanos() as u64;
        let claim = ProofClaim {
            execution: &run.execution,
            program_id: &run.info.program_id,
            statement_hash,
            result_digest: run.outputs.result_digest,
            proof: &proof,
        };
        let t = Instant::now();
        a.verify(&claim).map_err(failed)?;
        let verify_ns = t.elapsed().as_nanos() as u64;
        let child = a.shutdown().map_err(failed)?;
        let mut usage =
            measure::reap(child, start).map_err(|e| failed(AdapterError::io("waiting for the adapter")(e)))?;
        if let (Some(target), Some(0)) = (&run.container, usage.exit_code) {
            // In a container the engine's `exec` was reaped here; the
            // adapter itself was measured inside, by the shim.
            usage = crate::container::read_usage(&target.usage_path(&usage_file))
                .map_err(|source| BenchError::Container { workload: id.clone(), source })?;
        }
        if usage.exit_code != Some(0) {
            return Err(BenchError::Failed {
                workload: id.clone(),
                index,
                warmup,
                status: status_text(&usage),
                stderr_tail: String::new(),
            });
        }
        locked.event(
            "repetition",
            json!({"index": index, "warmup": warmup, "wall_ns": usage.wall_ns, "peak_rss_bytes": usage.peak_rss_bytes, "prove_ns": prove_ns, "proof_bytes": proof.len()}),
        )?;
        observer.progress(Progress::Repetition { index, total, warmup, wall_ns: usage.wall_ns });
        samples.push(SampleV1 {
            rep: index,
            warmup,
            values: vec![
                usage.wall_ns,
                usage.user_ns,
                usage.sys_ns,
                usage.peak_rss_bytes,
                prove_ns,
                proof.len() as u64,
                verify_ns,
            ],
            proof_digest: Some(tagged(Tag::Member, &proof)),
        });
        // Every repetition's proof is packed, so every one is verified.
        locked.proof(&run.info.backend_id, &capsule::sample::repetition_proof(index), proof)?;
    }
    locked.event("phase", json!({"phase_id": "measured", "phase_label": "Workload finished", "series": 1}))?;
    observer.progress(Progress::Phase("sealing"));
    let series = SeriesV1 {
        id: id.clone(),
        class: ValueClass::Measured,
        metrics: ADAPTER_METRICS.map(str::to_owned).to_vec(),
        samples,
    };
    let result_digest = run.outputs.result_digest;
    let sealing = Sealing { id, policy, track, backends: prepared.backends, out, result_digest, looks: None };
    seal_side(locked, sealing, vec![series])
}

/// A sealed pack that verified, still beside its destination.
pub(super) struct Verified {
    pub(super) outcome: BenchOutcome,
    pub(super) tmp: tempfile::NamedTempFile,
}

impl Verified {
    /// Renames the pack into place.
    pub(super) fn persist(self) -> Result<BenchOutcome, BenchError> {
        let dest = self.outcome.pack.clone();
        self.tmp
            .persist(&dest)
            .map_err(|e| BenchError::Output { path: dest.display().to_string(), source: e.error })?;
        Ok(self.outcome)
    }
}
