//! Verification findings: stable codes with one-line explanations.
//!
//! Findings are data, not errors. Each code is part of the public surface
//! (scripts and the leaderboard key on it): never rename one; add new ones.
//! `docs/spec/verification.md` lists them, and a test keeps the two in step.

use serde::Serialize;

use super::Profile;

macro_rules! codes {
    ($($variant:ident = $code:literal, $profile:ident, $explain:literal;)*) => {
        /// A stable finding code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(
                #[doc = $explain]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in specification order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The kebab-case code.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }

            /// The one-line explanation.
            pub fn explanation(self) -> &'static str {
                match self { $(Code::$variant => $explain),* }
            }

            /// The profile whose checks raise it.
            pub fn profile(self) -> Profile {
                match self { $(Code::$variant => Profile::$profile),* }
            }

            /// Looks a code up by its text.
            pub fn parse(s: &str) -> Option<Code> {
                match s { $($code => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    PackIo = "pack-io", Integrity, "the pack file could not be read";
    PackCorrupt = "pack-corrupt", Integrity, "the gzip or tar stream is corrupt or truncated";
    PackNonUtf8Path = "pack-non-utf8-path", Integrity, "a member name is not UTF-8";
    PackUnsafePath = "pack-unsafe-path", Integrity, "a member path is absolute, contains `..`, or is otherwise not a plain relative path";
    PackEntryType = "pack-entry-type", Integrity, "a member is a symlink, hard link, device, directory or other non-file entry";
    PackDuplicateMember = "pack-duplicate-member", Integrity, "two members have the same name";
    PackPathConflict = "pack-path-conflict", Integrity, "a member's path is a directory of another member's path (`proofs/a` and `proofs/a/b`)";
    PackMemberTooLarge = "pack-member-too-large", Integrity, "a member is larger than the reader's cap";
    PackTooLarge = "pack-too-large", Integrity, "the pack's members exceed the reader's total or count cap";
    PackTrailingData = "pack-trailing-data", Integrity, "data follows the end of the archive";
    PackMemberOrder = "pack-member-order", Integrity, "members are not in canonical order (capsule.json, listed members by path, then signatures)";
    CapsuleMissing = "capsule-missing", Integrity, "`capsule.json` is not the first member";
    CapsuleMalformed = "capsule-malformed", Integrity, "`capsule.json` is not a canonical CapsuleV1";
    CapsuleHashUnexpected = "capsule-hash-unexpected", Integrity, "the capsule hash is not the one the verifier expected (`--expect-capsule`)";
    MemberUnlisted = "member-unlisted", Integrity, "a member is not listed by the capsule";
    MemberMissing = "member-missing", Integrity, "a member the capsule lists or the layout requires is absent";
    MemberUnknown = "member-unknown", Integrity, "the capsule lists a member outside the pack layout";
    MemberSizeMismatch = "member-size-mismatch", Integrity, "a member's size differs from the capsule's listing";
    MemberDigestMismatch = "member-digest-mismatch", Integrity, "a member's digest differs from the capsule's listing";
    MemberTooLargeToCheck = "member-too-large-to-check", Integrity, "a member the verifier must parse exceeds its in-memory budget";
    SignatureUnsupported = "signature-unsupported", Integrity, "a `signatures/` member is of a kind this verifier does not know (names end in `.key.json` or `.sigstore.json`)";
    SignatureMalformed = "signature-malformed", Integrity, "a signature member is not a readable key signature or Sigstore bundle, or is misnamed";
    SignatureInvalid = "signature-invalid", Integrity, "a signature, or a Sigstore bundle's chain, log entry or timestamps, does not verify";
    SignatureSubjectMismatch = "signature-subject-mismatch", Integrity, "a signature is over another capsule (or another artifact)";
    SignaturePredicateMismatch = "signature-predicate-mismatch", Integrity, "a receipt signature names a policy other than the capsule's";
    ImportedSourceMismatch = "imported-source-mismatch", Integrity, "an imported receipt's source file and its anchor disagree, or series are classed imported without a source (or the reverse)";
    ObjectNotCanonical = "object-not-canonical", Integrity, "a JSON member is not in canonical form (RFC 8785, safe integers, no duplicate keys)";
    ObjectMalformed = "object-malformed", Integrity, "a JSON member does not match its schema (unknown field, wrong type or version)";
    TraceSpecHashMismatch = "trace-spec-hash-mismatch", Integrity, "the trace spec's hash differs from the statement's";
    PolicyHashMismatch = "policy-hash-mismatch", Integrity, "the policy's hash differs from the statement's";
    StatementHashMismatch = "statement-hash-mismatch", Integrity, "the statement's hash differs from the capsule's";
    CommitmentMalformed = "commitment-malformed", Integrity, "the row commitment's parameters, counts or chunk list are inconsistent";
    TraceRootMismatch = "trace-root-mismatch", Integrity, "the trace root recomputed from the committed chunks differs from the statement's";
    RowsMismatch = "rows-mismatch", Integrity, "the trace rows in the pack do not hash to the committed chunks";
    ManifestAnchorMismatch = "manifest-anchor-mismatch", Integrity, "a manifest and its anchor disagree (hash differs, or one is absent)";
    AnchorMalformed = "anchor-malformed", Integrity, "an anchor or public input is malformed (commit not full hex, parameter not a scalar)";
    EventsChainBroken = "events-chain-broken", Integrity, "the event log is not a valid hash chain of this run";
    EventsHeadMismatch = "events-head-mismatch", Integrity, "the event chain's head or count differs from what the capsule sealed";
    MeasurementsMalformed = "measurements-malformed", Integrity, "the measurement table is inconsistent (ids, metrics, repetition order, classes)";
    MeasurementClaimMismatch = "measurement-claim-mismatch", Integrity, "an aggregate the capsule claims differs from the one recomputed from the samples";
    PolicySelfChosen = "policy-self-chosen", Policy, "the pack's policy is neither a standard policy nor one the verifier named";
    PolicyTrackUnknown = "policy-track-unknown", Policy, "the statement's track is not defined by the policy";
    PolicyTrackViolation = "policy-track-violation", Policy, "the toolchain uses a setting the track forbids";
    PolicyTrackUnverifiable = "policy-track-unverifiable", Policy, "the track has rules but the pack has no toolchain manifest to check them against";
    PolicyAnchorMissing = "policy-anchor-missing", Policy, "an anchor the policy requires is absent";
    PolicyContainerLimits = "policy-container-limits", Policy, "the policy fixes container limits and the run was not in a container with exactly those";
    PolicyPublicInputMissing = "policy-public-input-missing", Policy, "a public input the policy requires is absent";
    PolicyWarmups = "policy-warmups", Policy, "the warmups are not the policy's count, or are not the first repetitions";
    PolicyRepetitions = "policy-repetitions", Policy, "fewer measured repetitions than the policy requires";
    PolicyMetricMissing = "policy-metric-missing", Policy, "a metric the policy requires is not measured";
    PolicyWorstCase = "policy-worst-case", Policy, "a series has too few measured samples for a worst-case statistic the policy requires (`pNN` needs ⌈100 / (100 − NN)⌉)";
    PolicyUnsupported = "policy-unsupported", Policy, "the policy asks for a rule this verifier does not implement";
    PolicyProofRequired = "policy-proof-required", Policy, "the policy requires a proof and the pack has none";
    ProofBackendUnknown = "proof-backend-unknown", Policy, "the proof's backend is not configured in this verifier";
    ProofWorkloadUnserved = "proof-workload-unserved", Policy, "the proof's backend does not prove the statement's workload";
    ProofProgramMismatch = "proof-program-mismatch", Policy, "the reader pinned the statement's workload to a program the proof's backend does not check";
    ProofInvalid = "proof-invalid", Policy, "the proof does not verify against the statement";
    ProofTooWeak = "proof-too-weak", Policy, "the proof's computed security level is below the policy's minimum";
    ProofNotFromRun = "proof-not-from-run", Policy, "the packed proof is not one the run's repetitions produced";
    ProfileUnavailable = "profile-unavailable", Certified, "the requested profile cannot be checked by this verifier; it is rejected, never downgraded (reserved: this verifier checks every profile)";
    CertifiedImported = "certified-imported", Certified, "the certified track refuses imported receipts";
    AclMissing = "acl-missing", Certified, "profile `certified` was asked for without an ACL (`--acl`)";
    RegistryRootMissing = "registry-root-missing", Certified, "profile `certified` was asked for without a registry root (`--registry-root`)";
    AclPolicyNotListed = "acl-policy-not-listed", Certified, "the ACL has no entry for the capsule's policy id";
    SignerNotAllowed = "signer-not-allowed", Certified, "no receipt signature is by a signer the ACL allows for this policy";
    SignatureNotReceipt = "signature-not-receipt", Certified, "an allowed signer signed something other than a receipt attestation, which does not count";
    SigstoreIssuerMismatch = "sigstore-issuer-mismatch", Certified, "a Sigstore certificate's OIDC issuer is not the one the ACL allows";
    SigstoreRepositoryMismatch = "sigstore-repository-mismatch", Certified, "a Sigstore certificate's source repository (name or numeric id) is not the one the ACL allows";
    SigstoreWorkflowMismatch = "sigstore-workflow-mismatch", Certified, "a Sigstore certificate's workflow (SAN) or Build Signer URI and digest is not the one the ACL allows";
    SigstoreRunnerMismatch = "sigstore-runner-mismatch", Certified, "a Sigstore certificate's runner environment is not the one the ACL requires";
    SigstoreCommitMismatch = "sigstore-commit-mismatch", Certified, "a Sigstore certificate's source commit is not the capsule's `workflow_commit` anchor";
    SigstoreRunMismatch = "sigstore-run-mismatch", Certified, "a Sigstore certificate's run invocation URI (run and attempt) is not the capsule's `run_uri` anchor";
    RegistryProofMissing = "registry-proof-missing", Certified, "no allowed receipt signature carries a registry inclusion proof";
    RegistryProofInvalid = "registry-proof-invalid", Certified, "the registry inclusion proof is malformed, tampered with, or for another policy";
    RegistryRootMismatch = "registry-root-mismatch", Certified, "the inclusion proof is for a registry root other than the pinned one";
    AuditArchiveMissing = "audit-archive-missing", Audited, "profile `audited` was asked for without a row archive (`--archive`), or without randomness to draw from";
    AuditArchiveMismatch = "audit-archive-mismatch", Audited, "the row archive does not serve this capsule's trace commitment";
    AuditChunkMissing = "audit-chunk-missing", Audited, "a drawn chunk cannot be retrieved from the row archive";
    AuditChunkMismatch = "audit-chunk-mismatch", Audited, "a drawn chunk from the row archive does not match the trace root";
}

/// Severity of a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The pack is rejected at the finding's profile.
    Error,
    /// Worth knowing; does not reject.
    Warning,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The code.
    pub code: Code,
    /// Severity.
    pub severity: Severity,
    /// What exactly was found (member names, values).
    pub detail: String,
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Finding", 5)?;
        st.serialize_field("code", self.code.as_str())?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("profile", &self.code.profile())?;
        st.serialize_field("explanation", self.code.explanation())?;
        st.serialize_field("detail", &self.detail)?;
        st.end()
    }
}
