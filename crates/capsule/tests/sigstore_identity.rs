//! The Sigstore identity rules through the whole verifier, with real
//! certificates: a local test CA, CT log and transparency log declared in a
//! `trusted_root.json` (`capsule-testkit`). The test issues a Fulcio-style leaf
//! certificate carrying GitHub Actions claims (repository, numeric id,
//! workflow, runner, commit), signs a receipt statement about a capsule with
//! it, logs it (signed entry timestamp, inclusion proof, signed checkpoint)
//! and embeds an SCT, exactly as the
//! public-good instance would; then checks that the certified profile
//! accepts the right identity and rejects each wrong one with its code.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a broken fixture")]

use std::sync::Arc;

use capsule::digest::{Digest, plain};
use capsule::objects::CiManifestV1;
use capsule::sample::{SampleRun, build};
use capsule::trust::acl::Acl;
use capsule::trust::dsse::{self, RECEIPT_PREDICATE_SCHEMA, ReceiptPredicateV1};
use capsule::trust::registry;
use capsule::trust::sigstore::TrustRoot;
use capsule::verify::{Profile, Severity, SignedVerdict, VerifyOptions, verify_pack};
use capsule_testkit::sigstore::{Claims, ISSUER, LocalSigstore};

const REPO: &str = "acme/bench";
const REPO_ID: &str = "4242";
const WORKFLOW: &str = "https://github.com/acme/bench/.github/workflows/bench.yml@refs/heads/main";
const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// A pack made in "GitHub Actions" (CI manifest, `workflow_commit` anchor).
fn ci_pack() -> (Vec<u8>, Digest, String, Digest) {
    let ci = CiManifestV1 {
        schema: Default::default(),
        provider: "github-actions".into(),
        repository: REPO.into(),
        repository_id: REPO_ID.into(),
        workflow_commit: COMMIT.into(),
        workflow_ref: "acme/bench/.github/workflows/bench.yml@refs/heads/main".into(),
        run_uri: "https://github.com/acme/bench/actions/runs/99/attempts/2".into(),
        run_attempt: 1,
        runner_environment: "github-hosted".into(),
    };
    let mut sealed = build(&SampleRun { rows: 100, ci: Some(ci), ..SampleRun::default() }).unwrap();
    let bytes = sealed.write_to(Vec::new()).unwrap();
    let (r, c) = verify_pack(&bytes[..], &VerifyOptions { profile: Profile::Integrity, ..Default::default() });
    let c = c.unwrap();
    (bytes, r.capsule_hash.unwrap(), c.policy.id.clone(), c.statement.policy_hash)
}

/// `pack` with `bundle` appended as `signatures/ci.sigstore.json`.
fn with_bundle(pack: &[u8], bundle: &[u8]) -> Vec<u8> {
    let mut w = capsule::pack::PackWriter::new(Vec::new());
    capsule::pack::read_members::<_, capsule::pack::PackError, _>(pack, &Default::default(), |m| {
        let (p, size) = (m.path.to_owned(), m.size);
        w.append(&p, size, m).unwrap();
        Ok(())
    })
    .unwrap();
    w.append_bytes("signatures/ci.sigstore.json", bundle).unwrap();
    w.finish().unwrap()
}

#[test]
fn certified_checks_each_identity_rule_on_real_certificates() {
    let inst = LocalSigstore::new();
    assert_eq!(Claims::default().workflow, WORKFLOW, "the testkit's default identity");
    let root = Arc::new(TrustRoot::from_json(&inst.trusted_root(), "test trusted_root.json").unwrap());
    let (pack, hash, policy_id, policy_hash) = ci_pack();
    let reg = registry::build(vec![policy_hash]);
    let predicate = ReceiptPredicateV1 {
        schema: RECEIPT_PREDICATE_SCHEMA.to_owned(),
        policy_id: policy_id.clone(),
        policy_hash,
        registry: reg.prove(&policy_hash),
    };
    let payload = dsse::receipt_statement(&hash, &predicate).unwrap();
    let acl_text = format!(
        r#"{{"schema":"capsulebench/acl/v1","policies":{{"{policy_id}":{{"sigstore":[{{"issuer":"{ISSUER}","repository":"{REPO}","repository_id":"{REPO_ID}","workflow":"{WORKFLOW}","runner":"github-hosted"}}]}}}}}}"#
    );
    let acl = Arc::new(Acl::from_bytes(acl_text.as_bytes(), "acl.json").unwrap());
    let opts = VerifyOptions {
        profile: Profile::Certified,
        trust_root: Some(root.clone()),
        acl: Some(acl),
        registry_root: Some(reg.root()),
        ..Default::default()
    };
    let verify = |claims: &Claims, payload: &[u8]| {
        let signed = with_bundle(&pack, &inst.bundle(claims, payload));
        verify_pack(&signed[..], &opts).0
    };

    // The right identity: accepted, and the report names the signer.
    let r = verify(&Claims::default(), &payload);
    assert!(r.accepted(), "{:?}", r.findings);
    assert_eq!(r.signed, SignedVerdict::SignedByAllowed);
    let s = r.signers[0].sigstore.as_ref().unwrap();
    assert_eq!(s.commit.as_deref(), Some(COMMIT));
    assert_eq!(s.repository_id.as_deref(), Some(REPO_ID));
    // Without the test root (the production root pinned), the same bundle
    // does not verify at all.
    let signed = with_bundle(&pack, &inst.bundle(&Claims::default(), &payload));
    let (r, _) = verify_pack(&signed[..], &VerifyOptions { profile: Profile::Integrity, ..Default::default() });
    assert_eq!(r.codes(), ["signature-invalid"]);

    type Edit = fn(&mut Claims);
    let cases: &[(&str, Edit, &str)] = &[
        ("another issuer", |c| c.issuer = "https://accounts.google.com".into(), "sigstore-issuer-mismatch"),
        (
            "another repository",
            |c| c.repository_uri = "https://github.com/evil/bench".into(),
            "sigstore-repository-mismatch",
        ),
        ("a re-created repository", |c| c.repository_id = "9999".into(), "sigstore-repository-mismatch"),
        (
            "another workflow",
            |c| c.workflow = "https://github.com/acme/bench/.github/workflows/other.yml@refs/heads/main".into(),
            "sigstore-workflow-mismatch",
        ),
        ("a self-hosted runner", |c| c.runner = "self-hosted".into(), "sigstore-runner-mismatch"),
        ("another commit", |c| c.commit = "0".repeat(40), "sigstore-commit-mismatch"),
        (
            "another run's attempt",
            |c| c.run_uri = "https://github.com/acme/bench/actions/runs/99/attempts/3".into(),
            "sigstore-run-mismatch",
        ),
    ];
    for (case, edit, code) in cases {
        let mut claims = Claims::default();
        edit(&mut claims);
        let r = verify(&claims, &payload);
        let errors: Vec<&str> =
            r.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.code.as_str()).collect();
        assert_eq!(errors, [*code], "{case}: {:?}", r.findings);
        assert!(r.passed.contains(&Profile::Policy) && !r.passed.contains(&Profile::Certified), "{case}");
    }

    // A bundle over another capsule, by the right identity.
    let other = dsse::receipt_statement(&plain(b"another capsule"), &predicate).unwrap();
    let r = verify(&Claims::default(), &other);
    assert_eq!(r.codes(), ["signature-subject-mismatch"]);
}
