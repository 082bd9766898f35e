//! Who vouches for a receipt, tested on the golden pack: repository-key
//! signatures, the certified profile's ACL and registry rules, the
//! attacks each must catch with its own code, Sigstore bundles over the
//! wrong artifact, and data-availability audits.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a broken fixture")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use capsule::digest::{Digest, plain};
use capsule::pack::{Limits, PackWriter, read_pack_file};
use capsule::standard::standard_policies;
use capsule::trust::acl::Acl;
use capsule::trust::audit::{self, AuditOptions};
use capsule::trust::dsse::{self, RECEIPT_PREDICATE_SCHEMA, ReceiptPredicateV1};
use capsule::trust::key::{self, SecretKey};
use capsule::trust::registry;
use capsule::verify::{Profile, Report, Severity, SignedVerdict, VerifyOptions, verify_pack_file};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden() -> PathBuf {
    root().join("fixtures/golden/sample.tgz")
}

/// The golden pack's capsule hash, policy id and policy hash.
fn golden_facts() -> (Digest, String, Digest) {
    let (rep, c) = verify_pack_file(&golden(), &VerifyOptions { profile: Profile::Integrity, ..Default::default() });
    let c = c.unwrap();
    (rep.capsule_hash.unwrap(), c.policy.id.clone(), c.statement.policy_hash)
}

/// A copy of the golden pack with `extra` signature members added, written
/// as an attacker would (no checks).
fn with_members(dir: &Path, name: &str, extra: &[(String, Vec<u8>)]) -> PathBuf {
    let out = dir.join(name);
    let f = std::fs::File::create(&out).unwrap();
    let mut w = PackWriter::new(std::io::BufWriter::new(f));
    read_pack_file::<capsule::pack::PackError, _>(&golden(), &Limits::default(), |m| {
        let (p, size) = (m.path.to_owned(), m.size);
        w.append(&p, size, m).unwrap();
        Ok(())
    })
    .unwrap();
    let mut extra = extra.to_vec();
    extra.sort();
    for (p, b) in &extra {
        w.append_bytes(p, b).unwrap();
    }
    w.finish().unwrap();
    out
}

fn key() -> SecretKey {
    SecretKey::from_pem(&key::generate().unwrap().secret_pem).unwrap()
}

fn standard_registry() -> registry::Registry {
    registry::build(standard_policies().iter().map(|(_, p)| p.hash).collect())
}

fn predicate(policy_id: &str, policy_hash: Digest, proof: Option<registry::RegistryProofV1>) -> ReceiptPredicateV1 {
    ReceiptPredicateV1 {
        schema: RECEIPT_PREDICATE_SCHEMA.to_owned(),
        policy_id: policy_id.to_owned(),
        policy_hash,
        registry: proof,
    }
}

fn acl_for(policy_id: &str, keys: &[Digest]) -> Arc<Acl> {
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    let text =
        format!(r#"{{"schema":"capsulebench/acl/v1","policies":{{"{policy_id}":{{"keys":[{}]}}}}}}"#, keys.join(","));
    Arc::new(Acl::from_bytes(text.as_bytes(), "test-acl.json").unwrap())
}

fn certified(acl: Option<Arc<Acl>>, root: Option<Digest>) -> VerifyOptions {
    VerifyOptions { profile: Profile::Certified, acl, registry_root: root, ..Default::default() }
}

fn errors(r: &Report) -> Vec<&'static str> {
    r.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.code.as_str()).collect()
}

#[test]
fn certified_accepts_an_allowed_key_and_rejects_each_attack_with_its_code() {
    let tmp = tempfile::tempdir().unwrap();
    let (hash, policy_id, policy_hash) = golden_facts();
    let reg = standard_registry();
    let proof = reg.prove(&policy_hash).unwrap();
    let allowed = key();
    let stranger = key();
    let sig =
        |k: &SecretKey, cap: &Digest, p: ReceiptPredicateV1| (key::member_path(&k.key_id()), k.sign(cap, &p).unwrap());
    let good = sig(&allowed, &hash, predicate(&policy_id, policy_hash, Some(proof.clone())));
    let acl = acl_for(&policy_id, &[allowed.key_id()]);

    // The honest case: accepted at certified, signer named, registry shown.
    let pack = with_members(tmp.path(), "good.tgz", std::slice::from_ref(&good));
    let (r, _) = verify_pack_file(&pack, &certified(Some(acl.clone()), Some(reg.root())));
    assert!(r.accepted(), "{:?}", r.findings);
    assert_eq!(r.signed, SignedVerdict::SignedByAllowed);
    assert!(r.registry_included);
    assert_eq!(r.signers[0].key_id, Some(allowed.key_id()));
    assert_eq!(r.signers[0].allowed, Some(true));
    // The signature never changes the capsule hash.
    assert_eq!(r.capsule_hash, Some(hash));
    // Without an ACL, the signature is valid but its signer unchecked.
    let (r, _) = verify_pack_file(&pack, &VerifyOptions::default());
    assert!(r.accepted());
    assert_eq!(r.signed, SignedVerdict::SignedUnpinned);

    let other_registry = registry::build(vec![plain(b"some other policy")]);
    let mut tampered = proof.clone();
    tampered.siblings[0][0].0[0] ^= 1;
    let not_a_receipt = {
        let st = format!(
            r#"{{"_type":"{}","predicateType":"https://slsa.dev/provenance/v1","predicate":{{}},"subject":[{{"digest":{{"sha256":"{}"}},"name":"capsule.json"}}]}}"#,
            dsse::STATEMENT_TYPE,
            hash.to_hex()
        );
        (key::member_path(&allowed.key_id()), allowed.sign_payload(st.as_bytes()).unwrap())
    };
    let mut flipped = good.1.clone();
    let pos = flipped.windows(6).position(|w| w == b"\"sig\":").unwrap() + 8;
    flipped[pos] = if flipped[pos] == b'A' { b'B' } else { b'A' };

    // (case, members, acl, registry root, profile, expected error codes)
    type Case<'a> = (&'a str, Vec<(String, Vec<u8>)>, Option<Arc<Acl>>, Option<Digest>, Profile, Vec<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (
            "a signature over another capsule",
            vec![sig(&allowed, &plain(b"another capsule"), predicate(&policy_id, policy_hash, Some(proof.clone())))],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Integrity,
            vec!["signature-subject-mismatch"],
        ),
        (
            "an altered signature",
            vec![(good.0.clone(), flipped)],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Integrity,
            vec!["signature-invalid"],
        ),
        (
            "a receipt predicate for another policy",
            vec![sig(&allowed, &hash, predicate(&policy_id, plain(b"other policy"), Some(proof.clone())))],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Integrity,
            vec!["signature-predicate-mismatch"],
        ),
        (
            "a key signature under another key's name",
            vec![(key::member_path(&stranger.key_id()), good.1.clone())],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Integrity,
            vec!["signature-malformed"],
        ),
        (
            "a key not in the ACL",
            vec![sig(&stranger, &hash, predicate(&policy_id, policy_hash, Some(proof.clone())))],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Certified,
            vec!["signer-not-allowed"],
        ),
        (
            "an ACL entry for another policy id",
            vec![good.clone()],
            Some(acl_for("someone-elses-policy", &[allowed.key_id()])),
            Some(reg.root()),
            Profile::Certified,
            vec!["acl-policy-not-listed"],
        ),
        (
            "a registry root that does not include the policy",
            vec![good.clone()],
            Some(acl.clone()),
            Some(other_registry.root()),
            Profile::Certified,
            vec!["registry-root-mismatch"],
        ),
        (
            "a tampered inclusion proof",
            vec![sig(&allowed, &hash, predicate(&policy_id, policy_hash, Some(tampered)))],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Certified,
            vec!["registry-proof-invalid"],
        ),
        (
            "no inclusion proof",
            vec![sig(&allowed, &hash, predicate(&policy_id, policy_hash, None))],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Certified,
            vec!["registry-proof-missing"],
        ),
        (
            "an allowed key that signed another predicate type",
            vec![not_a_receipt],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Certified,
            vec!["signer-not-allowed"],
        ),
        (
            "no signature at all",
            vec![],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Certified,
            vec!["signer-not-allowed"],
        ),
        (
            "certified without an ACL",
            vec![good.clone()],
            None,
            Some(reg.root()),
            Profile::Certified,
            vec!["acl-missing"],
        ),
        (
            "certified without a registry root",
            vec![good.clone()],
            Some(acl.clone()),
            None,
            Profile::Certified,
            vec!["registry-root-missing"],
        ),
        (
            "certified with neither",
            vec![good.clone()],
            None,
            None,
            Profile::Certified,
            vec!["acl-missing", "registry-root-missing"],
        ),
        (
            "audited without an archive",
            vec![good.clone()],
            Some(acl.clone()),
            Some(reg.root()),
            Profile::Audited,
            vec!["audit-archive-missing"],
        ),
    ];
    for (i, (case, members, acl, reg_root, profile, want)) in cases.into_iter().enumerate() {
        let pack = with_members(tmp.path(), &format!("case-{i}.tgz"), &members);
        let opts = VerifyOptions { profile, acl, registry_root: reg_root, ..Default::default() };
        let (r, _) = verify_pack_file(&pack, &opts);
        assert!(!r.accepted(), "{case}: accepted");
        assert_eq!(errors(&r), want, "{case}: {:?}", r.findings);
        // What is only a certified-profile matter leaves `policy` passing:
        // rejection happens at the requested profile, never a downgrade.
        if profile >= Profile::Certified {
            assert!(r.passed.contains(&Profile::Policy), "{case}");
            assert!(!r.passed.contains(&Profile::Certified) || profile == Profile::Audited, "{case}");
        }
    }
}

#[test]
fn a_sigstore_bundle_over_another_artifact_is_rejected() {
    let suite = root().join("../shared/vectors/sigstore-conformance");
    if !suite.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Sigstore conformance vectors are missing at {}",
            suite.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Real bundles over `a.txt` (a message signature and an in-toto DSSE
    // statement), placed in a pack: valid Sigstore bundles, wrong artifact.
    for case in ["happy-path-v0.3", "happy-path-intoto-in-dsse-v3"] {
        let bundle = std::fs::read(suite.join(case).join("bundle.sigstore.json")).unwrap();
        let pack =
            with_members(tmp.path(), &format!("{case}.tgz"), &[("signatures/ci.sigstore.json".to_owned(), bundle)]);
        let (r, _) = verify_pack_file(&pack, &VerifyOptions { profile: Profile::Integrity, ..Default::default() });
        assert_eq!(errors(&r), ["signature-subject-mismatch"], "{case}: {:?}", r.findings);
    }
}

#[test]
fn signing_a_pack_keeps_its_capsule_and_replaces_only_its_own_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("p.tgz");
    std::fs::copy(golden(), &pack).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&pack, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Signed through a symlink: the file it names is rewritten.
    let link = tmp.path().join("link.tgz");
    std::os::unix::fs::symlink(&pack, &link).unwrap();
    let (hash, policy_id, policy_hash) = golden_facts();
    let (a, b) = (key(), key());
    let opts = VerifyOptions { profile: Profile::Integrity, ..Default::default() };
    for k in [&a, &b, &a] {
        let bytes = k.sign(&hash, &predicate(&policy_id, policy_hash, None)).unwrap();
        let r = capsule::trust::attach::attach_signature(&link, &hash, &key::member_path(&k.key_id()), &bytes, &opts)
            .unwrap();
        assert!(r.accepted());
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::metadata(&pack).unwrap().permissions().mode() & 0o777, 0o644, "permissions are kept");
    let (r, _) = verify_pack_file(&pack, &opts);
    assert_eq!(r.capsule_hash, Some(hash));
    assert_eq!(r.signers.len(), 2, "two keys, two signatures: re-signing replaces");
    // A signature over another capsule is refused and the pack untouched.
    let before = std::fs::read(&pack).unwrap();
    let bad = a.sign(&plain(b"other"), &predicate(&policy_id, policy_hash, None)).unwrap();
    assert!(
        capsule::trust::attach::attach_signature(&pack, &hash, &key::member_path(&a.key_id()), &bad, &opts).is_err()
    );
    assert_eq!(std::fs::read(&pack).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path() != pack && e.path() != link)
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left behind");
}

#[test]
fn audits_catch_a_missing_or_altered_chunk_when_it_is_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    let commitment = audit::write_archive(&golden(), &dir, &Limits::default()).unwrap();
    let n = commitment.chunk_count;
    assert!(n > 4, "the golden trace has {n} chunks");
    let opts = |seed| AuditOptions {
        archive: dir.clone(),
        samples: 1,
        seed: Some(seed),
        withheld_fraction_ppm: 10_000,
        budget: 1 << 20,
    };
    // A seed whose single draw is chunk `i`, and one whose draw is not.
    let seed_drawing = |i: u64, hit: bool| {
        (0u32..)
            .map(|s| {
                let mut seed = [0u8; 32];
                seed[..4].copy_from_slice(&s.to_le_bytes());
                seed
            })
            .find(|seed| (audit::draw(seed, n, 1)[0] == i) == hit)
            .unwrap()
    };
    let target = 3u64;
    let full = audit::audit(&commitment, &AuditOptions { samples: n, ..opts([9; 32]) }, [9; 32]);
    assert!(full.passed(), "{full:?}");
    assert_eq!(full.detection_ppm, 1_000_000, "drawing every chunk catches any withholding");

    // Alter one byte of chunk 3.
    let rows_path = dir.join(audit::ARCHIVE_ROWS);
    let honest = std::fs::read(&rows_path).unwrap();
    let chunk_bytes = (commitment.chunk_len * commitment.row_width) as usize;
    let mut altered = honest.clone();
    altered[target as usize * chunk_bytes + 5] ^= 0x40;
    std::fs::write(&rows_path, &altered).unwrap();
    let r = audit::audit(&commitment, &opts(seed_drawing(target, true)), seed_drawing(target, true));
    assert_eq!(r.failures.iter().map(|f| (f.index, f.kind)).collect::<Vec<_>>(), [(target, "altered")]);
    assert!(audit::audit(&commitment, &opts(seed_drawing(target, false)), seed_drawing(target, false)).passed());

    // Withhold the last chunk (truncate the archive).
    let last = n - 1;
    std::fs::write(&rows_path, &honest[..last as usize * chunk_bytes]).unwrap();
    let r = audit::audit(&commitment, &opts(seed_drawing(last, true)), seed_drawing(last, true));
    assert_eq!(r.failures.iter().map(|f| (f.index, f.kind)).collect::<Vec<_>>(), [(last, "missing")]);
    std::fs::write(&rows_path, &honest).unwrap();

    // The archive is the prover's: its files are read under caps.
    let leaves_path = dir.join(audit::ARCHIVE_LEAVES);
    let leaves = std::fs::read(&leaves_path).unwrap();
    std::fs::write(&leaves_path, [&leaves[..], &[0u8; 32][..]].concat()).unwrap();
    let r = audit::audit(&commitment, &opts([9; 32]), [9; 32]);
    assert!(r.archive_problem.as_deref().is_some_and(|p| p.contains("holds more than")), "{r:?}");
    std::fs::write(&leaves_path, &leaves).unwrap();

    // Through the verifier: `audited` with an archive, every profile below
    // it satisfied.
    let (hash, policy_id, policy_hash) = golden_facts();
    let reg = standard_registry();
    let k = key();
    let member = (
        key::member_path(&k.key_id()),
        k.sign(&hash, &predicate(&policy_id, policy_hash, reg.prove(&policy_hash))).unwrap(),
    );
    let pack = with_members(tmp.path(), "signed.tgz", &[member]);
    let vopts = |archive: &Path| VerifyOptions {
        profile: Profile::Audited,
        acl: Some(acl_for(&policy_id, &[k.key_id()])),
        registry_root: Some(reg.root()),
        audit: Some(AuditOptions {
            archive: archive.to_path_buf(),
            samples: 8,
            seed: None,
            withheld_fraction_ppm: 100_000,
            budget: 1 << 20,
        }),
        ..Default::default()
    };
    let (r, _) = verify_pack_file(&pack, &vopts(&dir));
    assert!(r.accepted(), "{:?}", r.findings);
    let a = r.audit.as_ref().unwrap();
    assert!(a.seed_from_verifier);
    assert_eq!(a.drawn.len(), 8);
    assert_eq!(a.detection_ppm, audit::detection_ppm(n, 8, 100_000));
    // An archive of nothing at all.
    let (r, _) = verify_pack_file(&pack, &vopts(&tmp.path().join("nowhere")));
    assert_eq!(errors(&r), ["audit-archive-mismatch"]);
}
