//! The Sigstore identity rules through the whole verifier, with real
//! certificates: a local test CA, CT log and transparency log declared in a
//! `trusted_root.json` made here. The test issues a Fulcio-style leaf
//! certificate carrying GitHub Actions claims (repository, numeric id,
//! workflow, runner, commit), signs a receipt statement about a capsule with
//! it, logs it (signed entry timestamp) and embeds an SCT, exactly as the
//! public-good instance would; then checks that the certified profile
//! accepts the right identity and rejects each wrong one with its code.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a broken fixture")]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use capsule::digest::{Digest, plain};
use capsule::objects::CiManifestV1;
use capsule::sample::{SampleRun, build};
use capsule::trust::acl::Acl;
use capsule::trust::dsse::{self, RECEIPT_PREDICATE_SCHEMA, ReceiptPredicateV1};
use capsule::trust::registry;
use capsule::trust::sigstore::TrustRoot;
use capsule::verify::{Profile, Severity, SignedVerdict, VerifyOptions, verify_pack};
use der::{Decode as _, Encode as _};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::Digest as _;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const REPO: &str = "acme/bench";
const REPO_ID: &str = "4242";
const WORKFLOW: &str = "https://github.com/acme/bench/.github/workflows/bench.yml@refs/heads/main";
const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// The claims a leaf certificate carries.
#[derive(Clone)]
struct Claims {
    issuer: String,
    repository_uri: String,
    repository_id: String,
    workflow: String,
    runner: String,
    commit: String,
}

impl Default for Claims {
    fn default() -> Self {
        Claims {
            issuer: ISSUER.into(),
            repository_uri: format!("https://github.com/{REPO}"),
            repository_id: REPO_ID.into(),
            workflow: WORKFLOW.into(),
            runner: "github-hosted".into(),
            commit: COMMIT.into(),
        }
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(b).into()
}

fn der_utf8(s: &str) -> Vec<u8> {
    let mut v = vec![0x0c];
    der_len(&mut v, s.len());
    v.extend_from_slice(s.as_bytes());
    v
}

fn der_len(v: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        v.push(0x80 | bytes.len() as u8);
        v.extend(bytes);
    }
}

fn der_octets(b: &[u8]) -> Vec<u8> {
    let mut v = vec![0x04];
    der_len(&mut v, b.len());
    v.extend_from_slice(b);
    v
}

fn sign(key: &SigningKey, msg: &[u8]) -> Vec<u8> {
    let sig: Signature = key.sign(msg);
    sig.to_der().as_bytes().to_vec()
}

fn rcgen_key(key: &SigningKey) -> KeyPair {
    KeyPair::try_from(key.to_pkcs8_der().unwrap().as_bytes()).unwrap()
}

/// A local Sigstore instance: a CA, and one key serving as both the CT log
/// and the transparency log.
struct Instance {
    ca_key: SigningKey,
    ca_params: CertificateParams,
    ca_der: Vec<u8>,
    log_key: SigningKey,
    log_spki: Vec<u8>,
    log_id: [u8; 32],
}

impl Instance {
    fn new() -> Self {
        let ca_key = SigningKey::from_slice(&[0x11; 32]).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CommonName, "capsulebench test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let ca_der = ca_params.self_signed(&rcgen_key(&ca_key)).unwrap().der().to_vec();
        let log_key = SigningKey::from_slice(&[0x22; 32]).unwrap();
        let log_spki = log_key.verifying_key().to_public_key_der().unwrap().as_bytes().to_vec();
        let log_id = sha256(&log_spki);
        Instance { ca_key, ca_params, ca_der, log_key, log_spki, log_id }
    }

    fn trusted_root(&self) -> String {
        let key = serde_json::json!({
            "rawBytes": B64.encode(&self.log_spki),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": {"start": "2020-01-01T00:00:00Z"}
        });
        let log = serde_json::json!({
            "baseUrl": "http://localhost", "hashAlgorithm": "SHA2_256",
            "publicKey": key, "logId": {"keyId": B64.encode(self.log_id)}
        });
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log.clone()],
            "ctlogs": [log],
            "certificateAuthorities": [{
                "subject": {"organization": "capsulebench", "commonName": "test"},
                "uri": "http://localhost",
                "certChain": {"certificates": [{"rawBytes": B64.encode(&self.ca_der)}]},
                "validFor": {"start": "2020-01-01T00:00:00Z"}
            }],
            "timestampAuthorities": []
        })
        .to_string()
    }

    /// Issues a leaf for `claims` with an embedded SCT, signs `payload` with
    /// it, logs it, and returns the bundle (v0.1, DSSE).
    fn bundle(&self, claims: &Claims, payload: &[u8]) -> Vec<u8> {
        let now = time::OffsetDateTime::now_utc();
        let leaf_key = SigningKey::from_slice(&[0x33; 32]).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.serial_number = Some(SerialNumber::from_slice(&[7, 7, 7]));
        p.not_before = now - time::Duration::minutes(5);
        p.not_after = now + time::Duration::minutes(10);
        p.subject_alt_names = vec![SanType::URI(claims.workflow.as_str().try_into().unwrap())];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.use_authority_key_identifier_extension = true;
        let fulcio = |n: u64, v: &str| CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, n], der_utf8(v));
        p.custom_extensions = vec![
            fulcio(8, &claims.issuer),
            fulcio(9, &claims.workflow),
            fulcio(10, &claims.commit),
            fulcio(11, &claims.runner),
            fulcio(12, &claims.repository_uri),
            fulcio(13, &claims.commit),
            fulcio(15, &claims.repository_id),
        ];
        let issuer = Issuer::from_params(&self.ca_params, rcgen_key(&self.ca_key));
        let leaf_kp = rcgen_key(&leaf_key);
        // The precertificate: the leaf without its SCT. The SCT signs its TBS.
        let pre = p.signed_by(&leaf_kp, &issuer).unwrap();
        let tbs = x509_cert::Certificate::from_der(pre.der()).unwrap().tbs_certificate.to_der().unwrap();
        let ca_spki = x509_cert::Certificate::from_der(&self.ca_der)
            .unwrap()
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        let ts_ms = ((now - time::Duration::minutes(2)).unix_timestamp() * 1000) as u64;
        let mut signed = vec![0u8, 0u8];
        signed.extend(ts_ms.to_be_bytes());
        signed.extend([0u8, 1u8]);
        signed.extend(sha256(&ca_spki));
        signed.extend(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend(&tbs);
        signed.extend([0u8, 0u8]);
        let sct_sig = sign(&self.log_key, &signed);
        let mut sct = vec![0u8];
        sct.extend(self.log_id);
        sct.extend(ts_ms.to_be_bytes());
        sct.extend([0u8, 0u8, 4u8, 3u8]);
        sct.extend((sct_sig.len() as u16).to_be_bytes());
        sct.extend(&sct_sig);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend((sct.len() as u16).to_be_bytes());
        list.extend(&sct);
        p.custom_extensions
            .push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2], der_octets(&list)));
        let leaf = p.signed_by(&leaf_kp, &issuer).unwrap();
        let leaf_der = leaf.der().to_vec();

        let sig = sign(&leaf_key, &dsse::pae(dsse::PAYLOAD_TYPE, payload));
        let body = serde_json::json!({
            "apiVersion": "0.0.1", "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex::encode(sha256(b"envelope"))},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha256(payload))},
                "signatures": [{"signature": B64.encode(&sig), "verifier": B64.encode(leaf.pem())}]
            }
        });
        let body = serde_jcs::to_vec(&body).unwrap();
        let integrated = (now - time::Duration::minutes(1)).unix_timestamp();
        let set_payload = serde_jcs::to_vec(&serde_json::json!({
            "body": B64.encode(&body), "integratedTime": integrated,
            "logID": hex::encode(self.log_id), "logIndex": 7
        }))
        .unwrap();
        let set = sign(&self.log_key, &set_payload);
        serde_json::to_vec(&serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": {
                "x509CertificateChain": {"certificates": [{"rawBytes": B64.encode(&leaf_der)}]},
                "tlogEntries": [{
                    "logIndex": "7",
                    "logId": {"keyId": B64.encode(self.log_id)},
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": integrated.to_string(),
                    "inclusionPromise": {"signedEntryTimestamp": B64.encode(&set)},
                    "canonicalizedBody": B64.encode(&body)
                }]
            },
            "dsseEnvelope": {
                "payload": B64.encode(payload),
                "payloadType": dsse::PAYLOAD_TYPE,
                "signatures": [{"sig": B64.encode(&sig), "keyid": ""}]
            }
        }))
        .unwrap()
    }
}

/// A pack made in "GitHub Actions" (CI manifest, `workflow_commit` anchor).
fn ci_pack() -> (Vec<u8>, Digest, String, Digest) {
    let ci = CiManifestV1 {
        schema: Default::default(),
        provider: "github-actions".into(),
        repository: REPO.into(),
        repository_id: REPO_ID.into(),
        workflow_commit: COMMIT.into(),
        workflow_ref: "acme/bench/.github/workflows/bench.yml@refs/heads/main".into(),
        run_uri: "https://github.com/acme/bench/actions/runs/1/attempts/1".into(),
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
    let inst = Instance::new();
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
