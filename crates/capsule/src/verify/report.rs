//! The verification report: `capsulebench/verify-report/v1`.
//!
//! The JSON form is documented in `docs/spec/verification.md`; the CLI
//! renders the human form from the same struct.

use serde::Serialize;
use serde_json::Value;

use super::{Finding, Profile, ProofAxis, Severity, SignedVerdict, SignerInfo};
use crate::digest::Digest;
use crate::objects::ValueClass;
use crate::trust::audit::AuditReport;

/// The overall verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check of the requested profile passed.
    Accepted,
    /// At least one error finding.
    Rejected,
}

/// Which policy governed, and who pinned it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: String,
    /// Policy hash.
    pub hash: Digest,
    /// `standard:<name>`, `--policy <file>`, `--policy-hash`, or
    /// `self-chosen`.
    pub pinned_by: String,
}

/// A file the verifier's user pinned, and its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinnedFile {
    /// Where it was read from.
    pub source: String,
    /// Plain SHA-256 of its bytes.
    pub hash: Digest,
}

/// The trust roots used: all given by the verifier's user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrustUsed {
    /// The ACL (`--acl`).
    pub acl: Option<PinnedFile>,
    /// The policy registry root (`--registry-root`).
    pub registry_root: Option<Digest>,
    /// The Sigstore trusted root (`--trusted-root`); absent: the embedded
    /// production root, used only when the pack carries a bundle.
    pub trusted_root: Option<String>,
}

/// A reported value and its class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportValue {
    /// Dotted name.
    pub name: String,
    /// The value.
    pub value: Value,
    /// Who vouches for it.
    pub class: ValueClass,
    /// How the verifier obtained it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ReportValue {
    pub(crate) fn new(name: &str, value: Value, class: ValueClass) -> Self {
        ReportValue { name: name.to_owned(), value, class, note: None }
    }

    pub(crate) fn note(mut self, note: &str) -> Self {
        self.note = Some(note.to_owned());
        self
    }
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `capsulebench/verify-report/v1`.
    pub schema: &'static str,
    /// The pack path, when read from a file.
    pub pack: Option<String>,
    /// The profile the verifier asked for.
    pub requested_profile: Profile,
    /// The verdict.
    pub verdict: Verdict,
    /// Profiles that passed, weakest first.
    pub passed: Vec<Profile>,
    /// The capsule hash, once read.
    pub capsule_hash: Option<Digest>,
    /// The run id, once read.
    pub run_id: Option<String>,
    /// Where the pack stands on the proof axis.
    pub proof: ProofAxis,
    /// Whether a verified proof also binds the trace root.
    pub proof_binds_trace_root: bool,
    /// The governing policy.
    pub policy: Option<PolicyInfo>,
    /// Who signed: every valid signature over the capsule.
    pub signers: Vec<SignerInfo>,
    /// The signed verdict, kept apart from what is proven and what is only
    /// self-reported.
    pub signed: SignedVerdict,
    /// Whether the policy was shown in the pinned registry.
    pub registry_included: bool,
    /// The trust roots the verifier's user pinned for this verification.
    pub trust: TrustUsed,
    /// The data-availability audit, when one ran.
    pub audit: Option<AuditReport>,
    /// Reported values with their classes.
    pub values: Vec<ReportValue>,
    /// Findings, in check order.
    pub findings: Vec<Finding>,
    /// The statement fields the verified proof establishes (report names).
    #[serde(skip)]
    pub(crate) proven: std::collections::BTreeSet<String>,
    /// The backend that verified the proof.
    #[serde(skip)]
    pub(crate) proven_by: Option<String>,
}

impl Report {
    pub(crate) fn new(profile: Profile) -> Self {
        Report {
            schema: "capsulebench/verify-report/v1",
            pack: None,
            requested_profile: profile,
            verdict: Verdict::Rejected,
            passed: Vec::new(),
            capsule_hash: None,
            run_id: None,
            proof: ProofAxis::Unchecked,
            proof_binds_trace_root: false,
            policy: None,
            signers: Vec::new(),
            signed: SignedVerdict::Unsigned,
            registry_included: false,
            trust: TrustUsed::default(),
            audit: None,
            values: Vec::new(),
            findings: Vec::new(),
            proven: Default::default(),
            proven_by: None,
        }
    }

    pub(crate) fn reject(&mut self, f: Finding) {
        self.findings.push(f);
    }

    pub(crate) fn error_count(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }

    pub(crate) fn finish(&mut self) {
        let errors = self.findings.iter().any(|f| f.severity == Severity::Error);
        self.verdict = if !errors && self.passed.contains(&self.requested_profile) {
            Verdict::Accepted
        } else {
            Verdict::Rejected
        };
    }

    /// Whether the pack was accepted at the requested profile.
    pub fn accepted(&self) -> bool {
        self.verdict == Verdict::Accepted
    }

    /// The codes of the error findings.
    pub fn codes(&self) -> Vec<&'static str> {
        self.findings.iter().map(|f| f.code.as_str()).collect()
    }
}
