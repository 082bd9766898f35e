//! Sigstore bundles, verified offline: the certificate chain against a
//! trusted root the verifier pins, the transparency-log entry, the signature,
//! and then the signer's identity against a policy the verifier gives.
//!
//! Owns the one bundle-verification path ([`TrustRoot::verify`]) used both by
//! the capsule verifier (artifact = the capsule hash) and by the Sigstore
//! conformance suite (artifact = a file), and the GitHub Actions identity
//! rules ([`SigstoreIdentity`]). Cryptography is `sigstore-verify`'s; this
//! module decides what is asked of it and what its result means for us.

use serde::{Deserialize, Serialize};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Artifact, Bundle, DerPublicKey, SignatureContent};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, Verifier};

use super::dsse::{self, Attested, StatementProblem};
use crate::digest::Digest;

/// The issuer of GitHub Actions OIDC tokens.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The suffix of a Sigstore bundle member under `signatures/`.
pub const BUNDLE_SUFFIX: &str = ".sigstore.json";

/// A trusted root the verifier pins, ready to verify bundles.
pub struct TrustRoot {
    verifier: Verifier,
    /// Where it came from: `embedded:sigstore-production` or a file path.
    pub source: String,
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustRoot({})", self.source)
    }
}

/// Why a trusted root cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("failed to load the trusted root `{source_name}`: {why}")]
pub struct TrustRootError {
    /// Where it came from.
    pub source_name: String,
    /// What is wrong with it.
    pub why: String,
}

impl TrustRoot {
    /// The Sigstore public-good production root embedded in the tool.
    pub fn production() -> Result<Self, TrustRootError> {
        Self::from_json(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT, "embedded:sigstore-production")
    }

    /// A root from `trusted_root.json` text.
    pub fn from_json(json: &str, source: &str) -> Result<Self, TrustRootError> {
        let bad = |why: String| TrustRootError { source_name: source.to_owned(), why };
        let root = TrustedRoot::from_json(json).map_err(|e| bad(e.to_string()))?;
        let verifier = Verifier::new(&root).map_err(|e| bad(e.to_string()))?;
        Ok(TrustRoot { verifier, source: source.to_owned() })
    }

    /// Verifies a bundle over `artifact`. With `key`, the bundle must be a
    /// managed-key bundle signed by it; otherwise a certificate bundle whose
    /// chain leads to this root. Identity is not judged here: the returned
    /// signer carries the certificate's claims for a [`SigstoreIdentity`] or
    /// an exact SAN/issuer check.
    pub fn verify(
        &self,
        bundle_json: &[u8],
        artifact: BundleArtifact<'_>,
        key: Option<&DerPublicKey>,
    ) -> Result<BundleSigner, BundleProblem> {
        let text = std::str::from_utf8(bundle_json).map_err(|_| BundleProblem::Malformed("not UTF-8".into()))?;
        let bundle = Bundle::from_json(text).map_err(|e| BundleProblem::Malformed(e.to_string()))?;
        // What the bundle says it signs, checked against the capsule first so
        // that "signed something else" has its own answer.
        let (sigstore_artifact, attested) = match artifact {
            BundleArtifact::Bytes(b) => (Artifact::from_blob(b), None),
            BundleArtifact::Capsule(hash) => {
                let attested = match &bundle.content {
                    SignatureContent::DsseEnvelope(env) => Some(
                        dsse::check_statement(&env.payload_type, env.payload.as_bytes(), &hash)
                            .map_err(BundleProblem::Statement)?,
                    ),
                    SignatureContent::MessageSignature(m) => {
                        let Some(d) = &m.message_digest else {
                            return Err(BundleProblem::Malformed(
                                "a message signature over a capsule must carry its message digest".into(),
                            ));
                        };
                        if d.digest.as_bytes() != hash.0.as_slice() {
                            return Err(BundleProblem::Statement(StatementProblem::OtherSubject {
                                found: hex::encode(d.digest.as_bytes()),
                                expected: hash,
                            }));
                        }
                        None
                    }
                    _ => return Err(BundleProblem::Malformed("unsupported signature content".into())),
                };
                let digest = sigstore_verify::types::Sha256Hash::new(hash.0);
                (Artifact::from_digest(digest), attested)
            }
        };
        let result = match key {
            Some(k) => self.verifier.verify(sigstore_artifact, &bundle, &PublicKeyVerificationPolicy::new(k.clone())),
            None => self.verifier.verify(sigstore_artifact, &bundle, &VerificationPolicy::any_identity()),
        }
        .map_err(|e| BundleProblem::Invalid(e.to_string()))?;
        let c = result.certificate().map(|c| c.ci_claims.clone()).unwrap_or_default();
        Ok(BundleSigner {
            san: result.identity().map(|s| s.as_str().to_owned()),
            issuer: result.issuer().map(str::to_owned),
            repository_uri: c.source_repository_uri,
            repository_id: c.source_repository_identifier,
            build_signer_uri: c.build_signer_uri,
            build_signer_digest: c.build_signer_digest,
            runner: c.runner_environment,
            commit: c.source_repository_digest,
            run_uri: c.run_invocation_uri,
            attested,
        })
    }
}

/// What a bundle is checked against.
#[derive(Clone, Copy, Debug)]
pub enum BundleArtifact<'a> {
    /// A file's bytes (the conformance suite signs `a.txt`).
    Bytes(&'a [u8]),
    /// A capsule, by its hash: the subject of a DSSE statement, or the
    /// digest of a message signature.
    Capsule(Digest),
}

/// Why a bundle is not a valid signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleProblem {
    /// Not a Sigstore bundle we can read.
    #[error("malformed Sigstore bundle: {0}")]
    Malformed(String),
    /// The signed statement is about something else, or unreadable.
    #[error(transparent)]
    Statement(StatementProblem),
    /// The chain, log entry, timestamps or signature do not verify.
    #[error("the Sigstore bundle does not verify: {0}")]
    Invalid(String),
}

/// A verified bundle's signer: the certificate's identity and CI claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BundleSigner {
    /// The certificate's SAN (for GitHub Actions, the workflow ref URI).
    pub san: Option<String>,
    /// The OIDC issuer.
    pub issuer: Option<String>,
    /// Source repository URI.
    pub repository_uri: Option<String>,
    /// Source repository numeric id.
    pub repository_id: Option<String>,
    /// Build Signer URI (the workflow file that signed, reusable or not).
    pub build_signer_uri: Option<String>,
    /// Build Signer digest (its commit).
    pub build_signer_digest: Option<String>,
    /// Runner environment (`github-hosted` or `self-hosted`).
    pub runner: Option<String>,
    /// Source repository digest: the commit the workflow ran at.
    pub commit: Option<String>,
    /// Run invocation URI.
    pub run_uri: Option<String>,
    /// The signed statement, for DSSE bundles over a capsule.
    #[serde(skip)]
    pub attested: Option<Attested>,
}

/// A reusable workflow pinned by its Build Signer URI and digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSigner {
    /// `https://github.com/<owner>/<repo>/.github/workflows/<file>@<ref>`.
    pub uri: String,
    /// The commit of that workflow file.
    pub digest: String,
}

/// Who may sign through Sigstore: the identity rules of one ACL entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigstoreIdentity {
    /// The OIDC issuer (GitHub Actions: [`GITHUB_ACTIONS_ISSUER`]).
    pub issuer: String,
    /// `owner/name` of the repository whose workflow signs.
    pub repository: String,
    /// Its numeric id (survives renames; a re-created name gets a new id).
    pub repository_id: String,
    /// The certificate SAN: the signing workflow's ref URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// A reusable workflow that must have signed, pinned by digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_signer: Option<BuildSigner>,
    /// Required runner environment (`github-hosted`).
    pub runner: String,
    /// The GitHub server the repository lives on (its `GITHUB_SERVER_URL`):
    /// `https://github.com` when absent; a GitHub Enterprise Server's URL
    /// otherwise. The repository URI the certificate must name is
    /// `{server}/{repository}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// GitHub.com, the server of an identity that names none.
pub const GITHUB_SERVER: &str = "https://github.com";

/// The identity rule a signer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdentityField {
    /// The OIDC issuer.
    Issuer,
    /// Repository name or numeric id.
    Repository,
    /// Workflow (SAN) or Build Signer URI/digest.
    Workflow,
    /// Runner environment.
    Runner,
    /// Source commit against the capsule's `workflow_commit` anchor.
    Commit,
    /// Run invocation URI against the capsule's `run_uri` anchor.
    Run,
}

impl SigstoreIdentity {
    /// The first rule `signer` fails (with why), given the capsule's
    /// `workflow_commit` anchor; `None` when every rule holds.
    pub fn mismatch(
        &self,
        signer: &BundleSigner,
        anchors: &crate::objects::AnchorsV1,
    ) -> Option<(IdentityField, String)> {
        let workflow_commit = anchors.workflow_commit.as_deref();
        let eq = |want: &str, got: &Option<String>| got.as_deref() == Some(want);
        let show = |got: &Option<String>| got.clone().unwrap_or_else(|| "(absent)".to_owned());
        if !eq(&self.issuer, &signer.issuer) {
            return Some((IdentityField::Issuer, format!("issuer {} is not {}", show(&signer.issuer), self.issuer)));
        }
        let server = self.server.as_deref().unwrap_or(GITHUB_SERVER).trim_end_matches('/');
        let repo_uri = format!("{server}/{}", self.repository);
        if !eq(&repo_uri, &signer.repository_uri) || !eq(&self.repository_id, &signer.repository_id) {
            return Some((
                IdentityField::Repository,
                format!(
                    "repository {} (id {}) is not {} (id {})",
                    show(&signer.repository_uri),
                    show(&signer.repository_id),
                    repo_uri,
                    self.repository_id
                ),
            ));
        }
        let workflow_ok = self.workflow.as_ref().is_none_or(|w| eq(w, &signer.san));
        let signer_ok = self
            .build_signer
            .as_ref()
            .is_none_or(|b| eq(&b.uri, &signer.build_signer_uri) && eq(&b.digest, &signer.build_signer_digest));
        if self.workflow.is_none() && self.build_signer.is_none() || !workflow_ok || !signer_ok {
            return Some((
                IdentityField::Workflow,
                format!(
                    "workflow {} (build signer {} at {}) is not the one allowed",
                    show(&signer.san),
                    show(&signer.build_signer_uri),
                    show(&signer.build_signer_digest)
                ),
            ));
        }
        if !eq(&self.runner, &signer.runner) {
            return Some((IdentityField::Runner, format!("runner {} is not {}", show(&signer.runner), self.runner)));
        }
        match (workflow_commit, &signer.commit) {
            (Some(anchor), Some(c)) if anchor == c => {}
            (None, _) => {
                return Some((IdentityField::Commit, "the capsule has no `workflow_commit` anchor".to_owned()));
            }
            (Some(anchor), got) => {
                return Some((
                    IdentityField::Commit,
                    format!(
                        "the certificate's source commit {} is not the capsule's workflow_commit {anchor}",
                        show(got)
                    ),
                ));
            }
        }
        // The run that signed is the run that benchmarked and proved: its
        // invocation URI (run id and attempt) is in the statement.
        match (anchors.run_uri.as_deref(), &signer.run_uri) {
            (Some(anchor), Some(r)) if anchor == r => None,
            (None, _) => Some((IdentityField::Run, "the capsule has no `run_uri` anchor".to_owned())),
            (Some(anchor), got) => Some((
                IdentityField::Run,
                format!("the certificate's run {} is not the capsule's run_uri {anchor}", show(got)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> SigstoreIdentity {
        SigstoreIdentity {
            issuer: GITHUB_ACTIONS_ISSUER.to_owned(),
            repository: "acme/bench".to_owned(),
            repository_id: "4242".to_owned(),
            workflow: Some("https://github.com/acme/bench/.github/workflows/bench.yml@refs/heads/main".to_owned()),
            build_signer: None,
            runner: "github-hosted".to_owned(),
            server: None,
        }
    }

    fn signer() -> BundleSigner {
        let s = |v: &str| Some(v.to_owned());
        BundleSigner {
            san: s("https://github.com/acme/bench/.github/workflows/bench.yml@refs/heads/main"),
            issuer: s(GITHUB_ACTIONS_ISSUER),
            repository_uri: s("https://github.com/acme/bench"),
            repository_id: s("4242"),
            build_signer_uri: s("https://github.com/acme/bench/.github/workflows/bench.yml@refs/heads/main"),
            build_signer_digest: s("0123456789abcdef0123456789abcdef01234567"),
            runner: s("github-hosted"),
            commit: s("89abcdef0123456789abcdef0123456789abcdef"),
            run_uri: s("https://github.com/acme/bench/actions/runs/1/attempts/1"),
            attested: None,
        }
    }

    fn anchors(commit: Option<&str>) -> crate::objects::AnchorsV1 {
        crate::objects::AnchorsV1 {
            workflow_commit: commit.map(str::to_owned),
            run_uri: Some("https://github.com/acme/bench/actions/runs/1/attempts/1".to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn identity_rules_each_catch_their_field() {
        let anchor = Some("89abcdef0123456789abcdef0123456789abcdef");
        assert_eq!(identity().mismatch(&signer(), &anchors(anchor)), None);
        type Edit = fn(&mut SigstoreIdentity, &mut BundleSigner);
        let cases: &[(&str, Edit, Option<&str>, IdentityField)] = &[
            (
                "another issuer",
                |_, s| s.issuer = Some("https://accounts.google.com".into()),
                anchor,
                IdentityField::Issuer,
            ),
            (
                "another repository",
                |_, s| s.repository_uri = Some("https://github.com/evil/bench".into()),
                anchor,
                IdentityField::Repository,
            ),
            (
                "a re-created repository (new id)",
                |_, s| s.repository_id = Some("9999".into()),
                anchor,
                IdentityField::Repository,
            ),
            (
                "another workflow",
                |_, s| s.san = Some("https://github.com/acme/bench/.github/workflows/other.yml@refs/heads/main".into()),
                anchor,
                IdentityField::Workflow,
            ),
            (
                "a reusable workflow at another digest",
                |i, s| {
                    i.workflow = None;
                    i.build_signer = Some(BuildSigner {
                        uri: "https://github.com/acme/bench/.github/workflows/bench.yml@refs/heads/main".into(),
                        digest: "0123456789abcdef0123456789abcdef01234567".into(),
                    });
                    s.build_signer_digest = Some("ffffffffffffffffffffffffffffffffffffffff".into());
                },
                anchor,
                IdentityField::Workflow,
            ),
            ("a self-hosted runner", |_, s| s.runner = Some("self-hosted".into()), anchor, IdentityField::Runner),
            ("another commit", |_, _| {}, Some("0000000000000000000000000000000000000000"), IdentityField::Commit),
            ("no workflow_commit anchor", |_, _| {}, None, IdentityField::Commit),
            ("an identity naming no workflow", |i, _| i.workflow = None, anchor, IdentityField::Workflow),
            (
                "another run (a re-run's attempt)",
                |_, s| s.run_uri = Some("https://github.com/acme/bench/actions/runs/1/attempts/2".into()),
                anchor,
                IdentityField::Run,
            ),
            ("a certificate naming no run", |_, s| s.run_uri = None, anchor, IdentityField::Run),
        ];
        for (case, edit, anchor, field) in cases {
            let (mut i, mut s) = (identity(), signer());
            edit(&mut i, &mut s);
            assert_eq!(i.mismatch(&s, &anchors(*anchor)).map(|(f, _)| f), Some(*field), "{case}");
        }
        // GitHub Enterprise Server: the repository URI is on the server the
        // identity names, and only there.
        let (mut ghes, mut on_ghes) = (identity(), signer());
        ghes.server = Some("https://ghe.example.com/".into());
        ghes.workflow = Some("https://ghe.example.com/acme/bench/.github/workflows/bench.yml@refs/heads/main".into());
        on_ghes.repository_uri = Some("https://ghe.example.com/acme/bench".into());
        on_ghes.san = ghes.workflow.clone();
        assert_eq!(ghes.mismatch(&on_ghes, &anchors(anchor)), None);
        assert_eq!(ghes.mismatch(&signer(), &anchors(anchor)).map(|(f, _)| f), Some(IdentityField::Repository));
        assert_eq!(identity().mismatch(&on_ghes, &anchors(anchor)).map(|(f, _)| f), Some(IdentityField::Repository));
        let mut no_run = anchors(anchor);
        no_run.run_uri = None;
        assert_eq!(identity().mismatch(&signer(), &no_run).map(|(f, _)| f), Some(IdentityField::Run));
    }
}
