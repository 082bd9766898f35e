//! Verifying one pack and turning it into a board entry or a rejection.
//!
//! Owns the track rule (certified: the certified profile passed; community:
//! the policy profile passed; otherwise rejected) and which figures of a
//! pack an entry shows. Every figure is recomputed from the verified
//! measurement table, never taken from a summary the pack states.

use std::io::{BufRead, BufReader};
use std::path::Path;

use capsule::digest::Digest;
use capsule::objects::{EventV1, ManifestKind, ValueClass, WorstCase, median_of_sorted};
use capsule::verify::{PackContents, Profile, ProofAxis, Report, VerifyOptions, verify_pack_file};
use serde::{Deserialize, Serialize};

use crate::BoardError;
use crate::model::{EntryV1, PolicyRefV1, RejectedV1, SeriesFiguresV1, SignerV1, TrustV1, VerifierV1};

/// What verifies the board's packs: the verifier's options (never read
/// from a pack), their description in the index, and the history branch.
#[derive(Clone)]
pub struct Verifier {
    /// The options; the profile is set by the board: `certified` when an
    /// ACL and a registry root are given, else `policy`.
    pub options: VerifyOptions,
    /// Their description, with its hash ([`VerifierV1::sealed`]).
    pub meta: VerifierV1,
    /// The branch whose pushes make the history (`main`).
    pub branch: String,
}

impl Verifier {
    /// Whether entries can be certified: an ACL and a registry root given.
    pub fn certifies(&self) -> bool {
        self.options.acl.is_some() && self.options.registry_root.is_some()
    }
}

/// The workload and policy an entry belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct WorkloadKey {
    pub(crate) workload_id: String,
    pub(crate) policy_hash: Digest,
    pub(crate) policy_id: String,
    pub(crate) policy_version: String,
    pub(crate) primary_metric: String,
    pub(crate) confidence: String,
}

impl WorkloadKey {
    pub(crate) fn policy(&self) -> PolicyRefV1 {
        PolicyRefV1 { id: self.policy_id.clone(), version: self.policy_version.clone(), hash: self.policy_hash }
    }

    pub(crate) fn slug(&self) -> String {
        slug(&self.workload_id, self.policy_hash)
    }
}

/// A workload page's name: the workload id with every character outside
/// `[A-Za-z0-9-]` replaced by `_` (at most 64 characters), then `-` and the
/// policy hash's first 8 hex digits (docs/spec/board.md §4).
pub fn slug(workload_id: &str, policy_hash: Digest) -> String {
    let id: String =
        workload_id.chars().take(64).map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{id}-{}", &policy_hash.to_hex()[..8])
}

/// What verifying one pack gave: an entry or a rejection, the report (as
/// its JSON), and the sealed events (for the timeline).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Checked {
    pub(crate) outcome: Outcome,
    pub(crate) report: serde_json::Value,
    pub(crate) events: Vec<EventV1>,
}

/// An entry with its workload, or a rejection.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Shown { key: WorkloadKey, entry: Box<EntryV1> },
    Rejected(RejectedV1),
}

/// SHA-256 of a file's bytes, streamed.
pub(crate) fn file_digest(path: &Path) -> Result<Digest, BoardError> {
    use sha2::Digest as _;
    let io = |source| BoardError::Io { what: "read", path: path.to_owned(), source };
    let mut f = BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(io)?);
    let mut h = sha2::Sha256::new();
    loop {
        let buf = f.fill_buf().map_err(io)?;
        if buf.is_empty() {
            break;
        }
        h.update(buf);
        let n = buf.len();
        f.consume(n);
    }
    Ok(Digest(h.finalize().into()))
}

/// Verifies the pack at `path` (whose bytes have SHA-256 `digest`) as the
/// board does: at the certified profile when the verifier certifies, and,
/// for a pack that passes only the policy profile, once more at that
/// profile so that its report says what it is (accepted, community).
pub(crate) fn check(path: &Path, digest: Digest, v: &Verifier) -> Checked {
    let mut opts = v.options.clone();
    opts.profile = if v.certifies() { Profile::Certified } else { Profile::Policy };
    let (mut report, mut contents) = verify_pack_file(path, &opts);
    let certified = v.certifies() && report.passed.contains(&Profile::Certified) && report.accepted();
    if v.certifies() && !certified && report.passed.contains(&Profile::Policy) {
        opts.profile = Profile::Policy;
        (report, contents) = verify_pack_file(path, &opts);
    }
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let events = contents.as_ref().map(|c| c.events.events.clone()).unwrap_or_default();
    let outcome = match contents {
        Some(c) if report.accepted() => match entry(&report, &c, digest, certified, &v.branch) {
            Some((key, entry)) => Outcome::Shown { key, entry: Box::new(entry) },
            None => Outcome::Rejected(RejectedV1 {
                file,
                pack_digest: digest,
                capsule_hash: report.capsule_hash,
                codes: vec!["board-no-figures".to_owned()],
                detail: "the pack verified but no series carries its policy's primary metric".to_owned(),
            }),
        },
        _ => {
            let first = report.findings.iter().find(|f| f.severity == capsule::verify::Severity::Error);
            Outcome::Rejected(RejectedV1 {
                file,
                pack_digest: digest,
                capsule_hash: report.capsule_hash,
                codes: report.codes().into_iter().map(str::to_owned).collect(),
                detail: first.map(|f| f.detail.clone()).unwrap_or_else(|| "not accepted".to_owned()),
            })
        }
    };
    let report = serde_json::to_value(&report).unwrap_or(serde_json::Value::Null);
    Checked { outcome, report, events }
}

/// The entry of an accepted pack; `None` when no series carries the
/// policy's primary metric.
fn entry(
    report: &Report,
    c: &PackContents,
    pack_digest: Digest,
    certified: bool,
    branch: &str,
) -> Option<(WorkloadKey, EntryV1)> {
    let policy = report.policy.as_ref()?;
    let primary = &c.policy.measurement.primary_metric;
    let confidence_ppm = capsule::compare::parse_ppm("confidence", &c.policy.comparison.confidence).ok();
    let key = WorkloadKey {
        workload_id: c.statement.public_inputs.workload_id.clone(),
        policy_hash: policy.hash,
        policy_id: policy.id.clone(),
        policy_version: policy.version.clone(),
        primary_metric: primary.clone(),
        confidence: c.policy.comparison.confidence.clone(),
    };
    let mut series = Vec::new();
    for s in &c.measurements.series {
        let Some(i) = s.metrics.iter().position(|m| m == primary) else { continue };
        let Some(sorted) = s.measured_sorted(i).filter(|v| !v.is_empty()) else { continue };
        let median_metric = |name: &str| {
            let j = s.metrics.iter().position(|m| m == name)?;
            s.measured_sorted(j).filter(|v| !v.is_empty()).map(|v| median_of_sorted(&v))
        };
        let worst_case = c
            .policy
            .measurement
            .worst_case
            .iter()
            .filter_map(|w| WorstCase::parse(w))
            .map(|w| (w.name(), w.of_sorted(&sorted)))
            .collect();
        series.push(SeriesFiguresV1 {
            id: s.id.clone(),
            class: s.class.as_str().to_owned(),
            count: sorted.len() as u64,
            median: median_of_sorted(&sorted),
            interval: confidence_ppm.and_then(|p| capsule::compare::median_interval(&sorted, p)),
            worst_case,
            peak_rss_bytes: median_metric("peak_rss_bytes"),
            proof_bytes: median_metric("proof_bytes"),
            verify_ns: median_metric("verify_ns"),
        });
    }
    let first_class = c.measurements.series.first().map(|s| s.class);
    if series.is_empty() {
        return None;
    }
    let ci: Option<capsule::objects::CiManifestV1> = c.manifest(ManifestKind::Ci);
    let git_ref = ci.as_ref().and_then(|ci| ci.workflow_ref.rsplit_once('@').map(|(_, r)| r.to_owned()));
    let history =
        git_ref.as_deref().is_some_and(|r| r == format!("refs/heads/{branch}") || r.starts_with("refs/tags/"));
    let container: Option<capsule::objects::ContainerManifestV1> = c.manifest(ManifestKind::Container);
    let trust = TrustV1 {
        proof: report.proof.as_str().to_owned(),
        recomputed: report.passed.contains(&Profile::Integrity),
        measured_by: match first_class {
            Some(ValueClass::Measured) => "runner",
            Some(ValueClass::HarnessReported) => "harness",
            Some(ValueClass::Imported) => "import",
            _ => "unknown",
        }
        .to_owned(),
        signers: report
            .signers
            .iter()
            .map(|s| SignerV1 { who: s.describe(), allowed: s.allowed.unwrap_or(false) })
            .collect(),
        registry_included: report.registry_included,
        audited: report.passed.contains(&Profile::Audited),
    };
    debug_assert!(report.proof != ProofAxis::Failed);
    let entry = EntryV1 {
        capsule_hash: report.capsule_hash?,
        pack_digest,
        run_id: c.capsule.run_id.clone(),
        track: if certified { "certified" } else { "community" }.to_owned(),
        statement_track: c.statement.track.clone(),
        origin: ci.as_ref().map_or_else(|| "local".to_owned(), |ci| ci.repository.clone()),
        commit: c.statement.anchors.workload_commit.clone(),
        git_ref,
        history,
        sealed_ms: c.events.events.last().map_or(0, |e| e.ts_ms),
        container: container.map(|m| m.image),
        series,
        trust,
    };
    Some((key, entry))
}
