//! A local Sigstore instance: a certificate authority, and one P-256 key
//! serving as both the CT log (embedded SCTs) and the transparency log
//! (signed entry timestamps, inclusion proofs, signed checkpoints), declared
//! in a `trusted_root.json` a test hands to the verifier. It issues
//! Fulcio-style leaf certificates carrying GitHub Actions claims and logs
//! DSSE entries the way Rekor v1 does, so what it produces verifies exactly
//! as public-good material would, under its own root only.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::{Decode as _, Encode as _};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use serde_json::{Value, json};
use sha2::Digest as _;

/// GitHub Actions' OIDC issuer.
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The GitHub Actions identity a certificate carries (in certificate form:
/// URIs where Fulcio writes URIs).
#[derive(Clone, Debug)]
pub struct Claims {
    /// The OIDC issuer.
    pub issuer: String,
    /// `https://github.com/OWNER/NAME`.
    pub repository_uri: String,
    /// The repository's numeric id.
    pub repository_id: String,
    /// `https://github.com/OWNER/NAME/.github/workflows/F.yml@REF`.
    pub workflow: String,
    /// `github-hosted` or `self-hosted`.
    pub runner: String,
    /// The commit the workflow ran at.
    pub commit: String,
    /// The run invocation URI: `https://github.com/OWNER/NAME/actions/runs/ID/attempts/N`.
    pub run_uri: String,
}

impl Default for Claims {
    fn default() -> Self {
        Claims {
            issuer: ISSUER.into(),
            repository_uri: "https://github.com/acme/bench".into(),
            repository_id: "4242".into(),
            workflow: "https://github.com/acme/bench/.github/workflows/bench.yml@refs/heads/main".into(),
            runner: "github-hosted".into(),
            commit: "89abcdef0123456789abcdef0123456789abcdef".into(),
            run_uri: "https://github.com/acme/bench/actions/runs/99/attempts/2".into(),
        }
    }
}

/// SHA-256.
pub fn sha256(b: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(b).into()
}

/// DSSE's pre-authentication encoding (written here from the DSSE spec, not
/// taken from the code under test).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    v.extend_from_slice(payload);
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

fn der_tagged(tag: u8, b: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    der_len(&mut v, b.len());
    v.extend_from_slice(b);
    v
}

/// An ECDSA P-256 SHA-256 signature, DER.
pub fn sign(key: &SigningKey, msg: &[u8]) -> Vec<u8> {
    let sig: Signature = key.sign(msg);
    sig.to_der().as_bytes().to_vec()
}

fn rcgen_key(key: &SigningKey) -> KeyPair {
    KeyPair::try_from(key.to_pkcs8_der().unwrap().as_bytes()).unwrap()
}

/// A P-256 public key to certify (an uncompressed SEC1 point).
struct EcPoint(Vec<u8>);

impl PublicKeyData for EcPoint {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// One logged entry, as Rekor v1 returns it and a bundle carries it.
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// The canonicalized entry body.
    pub body: Vec<u8>,
    /// Seconds since the epoch.
    pub integrated_time: i64,
    /// The signed entry timestamp (DER signature).
    pub set: Vec<u8>,
    /// The Merkle root of the two-leaf tree holding the entry at index 1.
    pub root: [u8; 32],
    /// The inclusion proof's one hash (the leaf at index 0).
    pub sibling: [u8; 32],
    /// The signed checkpoint for `root`.
    pub checkpoint: String,
}

/// The local instance.
pub struct LocalSigstore {
    ca_key: SigningKey,
    ca_params: CertificateParams,
    ca_der: Vec<u8>,
    log_key: SigningKey,
    log_spki: Vec<u8>,
    log_id: [u8; 32],
    serial: AtomicU64,
}

impl Default for LocalSigstore {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalSigstore {
    /// A fixed CA and log key (deterministic keys, fresh validity times).
    pub fn new() -> Self {
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
        LocalSigstore { ca_key, ca_params, ca_der, log_key, log_spki, log_id, serial: AtomicU64::new(7) }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        pem_cert(&self.ca_der)
    }

    /// The log's id (SHA-256 of its public key).
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The `trusted_root.json` declaring this instance (and nothing else).
    pub fn trusted_root(&self) -> String {
        let key = json!({
            "rawBytes": B64.encode(&self.log_spki),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": {"start": "2020-01-01T00:00:00Z"}
        });
        let log = json!({
            "baseUrl": "http://localhost", "hashAlgorithm": "SHA2_256",
            "publicKey": key, "logId": {"keyId": B64.encode(self.log_id)}
        });
        json!({
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

    /// Issues a leaf certificate (DER) for the P-256 key `point` (SEC1,
    /// uncompressed) with `claims` in Fulcio's extensions and an embedded
    /// SCT, valid for ten minutes from now.
    pub fn issue(&self, point: &[u8], claims: &Claims) -> Vec<u8> {
        let now = time::OffsetDateTime::now_utc();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.serial_number = Some(SerialNumber::from(self.serial.fetch_add(1, Ordering::Relaxed)));
        p.not_before = now - time::Duration::minutes(5);
        p.not_after = now + time::Duration::minutes(10);
        p.subject_alt_names = vec![SanType::URI(claims.workflow.as_str().try_into().unwrap())];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.use_authority_key_identifier_extension = true;
        let fulcio = |n: u64, v: &str| {
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, n], der_tagged(0x0c, v.as_bytes()))
        };
        p.custom_extensions = vec![
            fulcio(8, &claims.issuer),
            fulcio(9, &claims.workflow),
            fulcio(10, &claims.commit),
            fulcio(11, &claims.runner),
            fulcio(12, &claims.repository_uri),
            fulcio(13, &claims.commit),
            fulcio(15, &claims.repository_id),
            fulcio(21, &claims.run_uri),
        ];
        let issuer = Issuer::from_params(&self.ca_params, rcgen_key(&self.ca_key));
        let subject = EcPoint(point.to_vec());
        // The precertificate: the leaf without its SCT. The SCT signs its TBS.
        let pre = p.signed_by(&subject, &issuer).unwrap();
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
            .push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2], der_tagged(0x04, &list)));
        p.signed_by(&subject, &issuer).unwrap().der().to_vec()
    }

    /// Logs a DSSE entry (Rekor's `dsse` v0.0.1 body) for `envelope` (its
    /// JSON text), whose `payload` was signed with `signature` by the
    /// certificate `verifier_pem`; at index 1 of a two-leaf tree.
    pub fn log_dsse(&self, envelope: &[u8], payload: &[u8], signature: &[u8], verifier_pem: &str) -> LogEntry {
        let body = json!({
            "apiVersion": "0.0.1", "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex::encode(sha256(envelope))},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha256(payload))},
                "signatures": [{"signature": B64.encode(signature), "verifier": B64.encode(verifier_pem)}]
            }
        });
        self.log_body(&body)
    }

    /// Logs an entry whose canonical body is `body` (JCS).
    pub fn log_body(&self, body: &Value) -> LogEntry {
        let body = serde_jcs::to_vec(body).unwrap();
        let integrated_time = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
        let set_payload = serde_jcs::to_vec(&json!({
            "body": B64.encode(&body), "integratedTime": integrated_time,
            "logID": hex::encode(self.log_id), "logIndex": 1
        }))
        .unwrap();
        let set = sign(&self.log_key, &set_payload);
        // A two-leaf tree: an earlier entry at index 0, this one at index 1.
        let leaf = |b: &[u8]| sha256(&[&[0u8][..], b].concat());
        let sibling = leaf(b"an earlier entry");
        let root = sha256(&[&[1u8][..], &sibling, &leaf(&body)].concat());
        let origin = "capsulebench-test-log";
        let note = format!("{origin}\n2\n{}\n", B64.encode(root));
        let mut sig = self.log_id[..4].to_vec();
        sig.extend(sign(&self.log_key, note.as_bytes()));
        let checkpoint = format!("{note}\n\u{2014} {origin} {}\n", B64.encode(sig));
        LogEntry { body, integrated_time, set, root, sibling, checkpoint }
    }

    /// `entry` as Rekor v1's `POST /api/v1/log/entries` returns it.
    pub fn rekor_v1_response(&self, entry: &LogEntry) -> Value {
        let uuid = hex::encode(sha256(&entry.body));
        json!({ uuid: {
            "body": B64.encode(&entry.body),
            "integratedTime": entry.integrated_time,
            "logID": hex::encode(self.log_id),
            "logIndex": 1,
            "verification": {
                "inclusionProof": {
                    "checkpoint": entry.checkpoint, "hashes": [hex::encode(entry.sibling)], "logIndex": 1,
                    "rootHash": hex::encode(entry.root), "treeSize": 2
                },
                "signedEntryTimestamp": B64.encode(&entry.set)
            }
        }})
    }

    /// A complete bundle (v0.1, DSSE) over the in-toto `payload`, signed by
    /// a fixed key certified for `claims` and logged here: what a signer
    /// with this identity would attach.
    pub fn bundle(&self, claims: &Claims, payload: &[u8]) -> Vec<u8> {
        let key = SigningKey::from_slice(&[0x33; 32]).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let leaf = self.issue(point.as_bytes(), claims);
        let sig = sign(&key, &pae(IN_TOTO, payload));
        let envelope = json!({
            "payload": B64.encode(payload), "payloadType": IN_TOTO,
            "signatures": [{"sig": B64.encode(&sig), "keyid": ""}]
        });
        let entry = self.log_dsse(&serde_json::to_vec(&envelope).unwrap(), payload, &sig, &pem_cert(&leaf));
        serde_json::to_vec(&json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": {
                "x509CertificateChain": {"certificates": [{"rawBytes": B64.encode(&leaf)}]},
                "tlogEntries": [{
                    "logIndex": "1",
                    "logId": {"keyId": B64.encode(self.log_id)},
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": entry.integrated_time.to_string(),
                    "inclusionPromise": {"signedEntryTimestamp": B64.encode(&entry.set)},
                    "inclusionProof": {
                        "logIndex": "1", "rootHash": B64.encode(entry.root), "treeSize": "2",
                        "hashes": [B64.encode(entry.sibling)],
                        "checkpoint": {"envelope": entry.checkpoint}
                    },
                    "canonicalizedBody": B64.encode(&entry.body)
                }]
            },
            "dsseEnvelope": envelope
        }))
        .unwrap()
    }
}

/// A certificate, PEM.
pub fn pem_cert(der: &[u8]) -> String {
    use der::EncodePem as _;
    x509_cert::Certificate::from_der(der).unwrap().to_pem(der::pem::LineEnding::LF).unwrap()
}
