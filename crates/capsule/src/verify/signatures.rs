//! The verifier's trust checks: every post-seal signature at every profile,
//! the certified profile (an allowed signer under a verifier-pinned ACL and
//! the policy's inclusion in a pinned registry) and the audited profile
//! (verifier-drawn data-availability samples).
//!
//! Owns which signature counts for what and the findings each failure
//! raises; the cryptography and formats are in [`crate::trust`].

use serde::Serialize;

use super::{Code, Finding, PackContents, Report, Severity, VerifyOptions, error};
use crate::digest::Digest;
use crate::trust::audit;
use crate::trust::dsse::{ReceiptPredicateV1, StatementProblem};
use crate::trust::key::{self, KEY_SIGNATURE_SUFFIX, KeySignatureProblem};
use crate::trust::registry::RegistryProofV1;
use crate::trust::sigstore::{BUNDLE_SUFFIX, BundleArtifact, BundleProblem, BundleSigner, IdentityField, TrustRoot};

/// How a signature was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignerKind {
    /// A repository key (`signatures/<key id>.key.json`).
    Key,
    /// A Sigstore bundle (`signatures/<name>.sigstore.json`).
    Sigstore,
}

/// One valid signature over the capsule and who made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignerInfo {
    /// The pack member.
    pub member: String,
    /// Key or Sigstore.
    pub kind: SignerKind,
    /// The key id, for a key signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Digest>,
    /// The certificate's identity and CI claims, for a Sigstore bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigstore: Option<BundleSigner>,
    /// The in-toto predicate type; absent for a bare message signature.
    pub predicate_type: Option<String>,
    /// Whether it is a receipt attestation (only those count for
    /// certification).
    pub receipt: bool,
    /// Whether the verifier's ACL allows this signer for the capsule's
    /// policy; absent when no ACL was given.
    pub allowed: Option<bool>,
    /// The receipt predicate, for the certified checks.
    #[serde(skip)]
    pub(super) predicate: Option<ReceiptPredicateV1>,
}

impl SignerInfo {
    /// A one-line description: the key id, or repository, workflow, commit
    /// and runner of a Sigstore signer.
    pub fn describe(&self) -> String {
        match (&self.key_id, &self.sigstore) {
            (Some(id), _) => format!("key {id}"),
            (None, Some(s)) => {
                let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".to_owned());
                format!(
                    "sigstore {} (id {}) workflow {} commit {} runner {}",
                    o(&s.repository_uri),
                    o(&s.repository_id),
                    s.san.clone().or_else(|| s.build_signer_uri.clone()).unwrap_or_else(|| "?".to_owned()),
                    o(&s.commit),
                    o(&s.runner)
                )
            }
            (None, None) => "unknown signer".to_owned(),
        }
    }
}

/// What the verifier saw of who vouches for the capsule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignedVerdict {
    /// No signature.
    Unsigned,
    /// Valid signatures, but no ACL was given to say whose count.
    SignedUnpinned,
    /// A receipt signature by a signer the ACL allows.
    SignedByAllowed,
    /// Valid signatures, none by an allowed signer.
    SignedNotAllowed,
}

/// Checks every `signatures/` member against the capsule hash and the
/// capsule's policy. Any member that is not a valid signature over this
/// capsule rejects the pack, at every profile.
pub(super) fn check_signatures(
    hash: &Digest,
    members: &[(String, Vec<u8>)],
    contents: &PackContents,
    opts: &VerifyOptions,
    rep: &mut Report,
) {
    let mut production: Option<Result<TrustRoot, String>> = None;
    for (path, bytes) in members {
        let name = &path[crate::objects::paths::SIGNATURES_DIR.len()..];
        let checked = if name.ends_with(KEY_SIGNATURE_SUFFIX) {
            match key::verify_member(bytes, hash) {
                Ok(k) => {
                    let expected = key::member_path(&k.key_id);
                    if *path != expected {
                        rep.reject(error(
                            Code::SignatureMalformed,
                            format!("`{path}`: a signature by key {} must be named `{expected}`", k.key_id),
                        ));
                        continue;
                    }
                    Ok(SignerInfo {
                        member: path.clone(),
                        kind: SignerKind::Key,
                        key_id: Some(k.key_id),
                        sigstore: None,
                        predicate_type: Some(k.attested.predicate_type),
                        receipt: k.attested.receipt.is_some(),
                        allowed: None,
                        predicate: k.attested.receipt,
                    })
                }
                Err(KeySignatureProblem::Malformed(m)) => Err((Code::SignatureMalformed, m)),
                Err(KeySignatureProblem::BadSignature(id)) => {
                    Err((Code::SignatureInvalid, format!("the signature does not verify under key {id}")))
                }
                Err(KeySignatureProblem::Statement(p)) => Err(statement_finding(p)),
            }
        } else if name.ends_with(BUNDLE_SUFFIX) {
            let root = match &opts.trust_root {
                Some(r) => Ok(r.as_ref()),
                None => production
                    .get_or_insert_with(|| TrustRoot::production().map_err(|e| e.to_string()))
                    .as_ref()
                    .map_err(Clone::clone),
            };
            match root {
                Err(e) => Err((Code::SignatureInvalid, e)),
                Ok(root) => match root.verify(bytes, BundleArtifact::Capsule(*hash), None) {
                    Ok(s) => {
                        let attested = s.attested.clone();
                        Ok(SignerInfo {
                            member: path.clone(),
                            kind: SignerKind::Sigstore,
                            key_id: None,
                            predicate_type: attested.as_ref().map(|a| a.predicate_type.clone()),
                            receipt: attested.as_ref().is_some_and(|a| a.receipt.is_some()),
                            predicate: attested.and_then(|a| a.receipt),
                            sigstore: Some(s),
                            allowed: None,
                        })
                    }
                    Err(BundleProblem::Malformed(m)) => Err((Code::SignatureMalformed, m)),
                    Err(BundleProblem::Statement(p)) => Err(statement_finding(p)),
                    Err(BundleProblem::Invalid(m)) => Err((Code::SignatureInvalid, m)),
                },
            }
        } else {
            Err((
                Code::SignatureUnsupported,
                format!("signature members end in `{KEY_SIGNATURE_SUFFIX}` or `{BUNDLE_SUFFIX}`"),
            ))
        };
        match checked {
            Ok(s) => {
                if let Some(p) = &s.predicate
                    && (p.policy_hash != contents.statement.policy_hash || p.policy_id != contents.policy.id)
                {
                    rep.reject(error(
                        Code::SignaturePredicateMismatch,
                        format!(
                            "`{path}` vouches for policy `{}` {}; the capsule's is `{}` {}",
                            p.policy_id, p.policy_hash, contents.policy.id, contents.statement.policy_hash
                        ),
                    ));
                }
                rep.signers.push(s);
            }
            Err((code, detail)) => rep.reject(error(code, format!("`{path}`: {detail}"))),
        }
    }
    rep.signed = if rep.signers.is_empty() { SignedVerdict::Unsigned } else { SignedVerdict::SignedUnpinned };
}

fn statement_finding(p: StatementProblem) -> (Code, String) {
    match p {
        StatementProblem::OtherSubject { .. } => (Code::SignatureSubjectMismatch, p.to_string()),
        StatementProblem::Malformed(_) => (Code::SignatureMalformed, p.to_string()),
    }
}

fn identity_code(f: IdentityField) -> Code {
    match f {
        IdentityField::Issuer => Code::SigstoreIssuerMismatch,
        IdentityField::Repository => Code::SigstoreRepositoryMismatch,
        IdentityField::Workflow => Code::SigstoreWorkflowMismatch,
        IdentityField::Runner => Code::SigstoreRunnerMismatch,
        IdentityField::Commit => Code::SigstoreCommitMismatch,
        IdentityField::Run => Code::SigstoreRunMismatch,
    }
}

/// The certified profile: a receipt signature by a signer the verifier's
/// ACL allows for this policy id, and the policy's inclusion in the pinned
/// registry. Missing trust roots are rejections, never downgrades.
pub(super) fn check_certified(contents: &PackContents, opts: &VerifyOptions, rep: &mut Report) {
    let (Some(acl), Some(registry_root)) = (&opts.acl, &opts.registry_root) else {
        if opts.acl.is_none() {
            rep.reject(error(Code::AclMissing, "profile `certified` needs `--acl FILE`: who may sign, per policy id"));
        }
        if opts.registry_root.is_none() {
            rep.reject(error(
                Code::RegistryRootMissing,
                "profile `certified` needs `--registry-root HASH`: the policy registry to find the policy in",
            ));
        }
        return;
    };
    let policy_id = &contents.policy.id;
    let Some(entry) = acl.entry(policy_id) else {
        let known: Vec<&str> = acl.acl.policies.keys().map(String::as_str).collect();
        rep.reject(error(
            Code::AclPolicyNotListed,
            format!("ACL `{}` has no entry for policy `{policy_id}` (it lists: {})", acl.source, known.join(", ")),
        ));
        return;
    };
    let anchors = &contents.statement.anchors;
    let mut refusals: Vec<Finding> = Vec::new();
    for s in &mut rep.signers {
        let allowed = match (&s.key_id, &s.sigstore) {
            (Some(id), _) => {
                let ok = entry.keys.contains(id);
                if !ok {
                    refusals.push(error(
                        Code::SignerNotAllowed,
                        format!("`{}`: key {id} is not allowed for policy `{policy_id}`", s.member),
                    ));
                }
                ok
            }
            (None, Some(signer)) => {
                let mismatches: Vec<(IdentityField, String)> =
                    entry.sigstore.iter().filter_map(|id| id.mismatch(signer, anchors)).collect();
                let ok = mismatches.len() < entry.sigstore.len();
                // Report the identity that came closest (failed latest).
                if !ok {
                    match mismatches.into_iter().max_by_key(|(f, _)| *f) {
                        Some((f, why)) => refusals.push(error(identity_code(f), format!("`{}`: {why}", s.member))),
                        None => refusals.push(error(
                            Code::SignerNotAllowed,
                            format!("`{}`: the ACL allows no Sigstore identity for policy `{policy_id}`", s.member),
                        )),
                    }
                }
                ok
            }
            (None, None) => false,
        };
        s.allowed = Some(allowed);
        if allowed && !s.receipt {
            refusals.push(Finding {
                code: Code::SignatureNotReceipt,
                severity: Severity::Warning,
                detail: format!(
                    "`{}`: {} by an allowed signer does not count",
                    s.member,
                    s.predicate_type.as_ref().map_or_else(
                        || "a bare message signature".to_owned(),
                        |t| format!("an attestation of type `{t}`")
                    )
                ),
            });
        }
    }
    // (member, registry proof) of every signature that counts.
    let counting: Vec<(String, Option<RegistryProofV1>)> = rep
        .signers
        .iter()
        .filter(|s| s.allowed == Some(true) && s.receipt)
        .map(|s| (s.member.clone(), s.predicate.as_ref().and_then(|p| p.registry.clone())))
        .collect();
    if counting.is_empty() {
        let unsigned = rep.signers.is_empty();
        if !refusals.iter().any(|f| f.severity == Severity::Error) {
            refusals.push(error(
                Code::SignerNotAllowed,
                if unsigned {
                    "the pack carries no signature".to_owned()
                } else {
                    format!("none of the {} signatures is a receipt by a signer the ACL allows", rep.signers.len())
                },
            ));
        }
        for f in refusals {
            rep.reject(f);
        }
        rep.signed = if unsigned { SignedVerdict::Unsigned } else { SignedVerdict::SignedNotAllowed };
        return;
    }
    rep.signed = SignedVerdict::SignedByAllowed;
    for mut f in refusals {
        f.severity = Severity::Warning;
        rep.reject(f);
    }
    // The registry proof travels in an allowed signer's receipt predicate.
    let mut first_problem = None;
    for (member, proof) in counting {
        if let Some(proof) = proof {
            match proof.check(&contents.statement.policy_hash, registry_root) {
                Ok(()) => {
                    rep.registry_included = true;
                    return;
                }
                Err(e) => {
                    first_problem.get_or_insert((member, e));
                }
            }
        }
    }
    match first_problem {
        None => rep.reject(error(
            Code::RegistryProofMissing,
            "no allowed receipt signature carries a registry inclusion proof (`cargo capsule sign --registry-proof`)",
        )),
        Some((member, e)) => {
            let code = match e {
                crate::trust::registry::InclusionProblem::OtherRoot { .. } => Code::RegistryRootMismatch,
                _ => Code::RegistryProofInvalid,
            };
            rep.reject(error(code, format!("`{member}`: {e}")));
        }
    }
}

/// The audited profile: the verifier draws chunks and opens them from the
/// external row archive.
pub(super) fn check_audited(contents: &PackContents, opts: &VerifyOptions, rep: &mut Report) {
    let Some(a) = &opts.audit else {
        rep.reject(error(
            Code::AuditArchiveMissing,
            "profile `audited` needs `--archive DIR`: the external row archive to draw chunks from",
        ));
        return;
    };
    let seed = match a.seed {
        Some(s) => s,
        None => match audit::fresh_seed() {
            Ok(s) => s,
            Err(e) => {
                rep.reject(error(Code::AuditArchiveMissing, format!("the verifier's randomness failed: {e}")));
                return;
            }
        },
    };
    let report = audit::audit(&contents.capsule.commitment, a, seed);
    if let Some(why) = &report.archive_problem {
        rep.reject(error(Code::AuditArchiveMismatch, why.clone()));
    }
    for f in &report.failures {
        let code = if f.kind == "missing" { Code::AuditChunkMissing } else { Code::AuditChunkMismatch };
        rep.reject(error(code, f.detail.clone()));
    }
    rep.audit = Some(report);
}
