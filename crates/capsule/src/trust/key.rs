//! Repository-key signatures: secp256k1 ECDSA (`k256`) over the DSSE
//! encoding of a receipt statement.
//!
//! Owns key generation, the key files (secret: PKCS#8 PEM; public: SEC1
//! compressed hex), the key id (plain SHA-256 of the compressed key) and the
//! pack member `signatures/<key id hex>.key.json`
//! (`capsulebench/key-signature/v1`). The secret key never leaves this
//! module except as the PEM the caller asked [`generate`] for.

use k256::ecdsa::signature::{Signer as _, Verifier as _};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use k256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::dsse::{self, Attested, Envelope, ReceiptPredicateV1, StatementProblem};
use crate::canonical;
use crate::digest::{Digest, plain};

/// The schema of a key-signature member.
pub const KEY_SIGNATURE_SCHEMA: &str = "capsulebench/key-signature/v1";
/// The suffix of a key-signature member under `signatures/`.
pub const KEY_SIGNATURE_SUFFIX: &str = ".key.json";

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's randomness failed.
    #[error("failed to draw a secret key from the operating system's randomness")]
    Random(#[source] getrandom::Error),
    /// The secret key is not a PKCS#8 PEM secp256k1 key.
    #[error("the secret key is not a PKCS#8 PEM secp256k1 key ({why})")]
    SecretFormat {
        /// What the parser said (never the key material).
        why: String,
    },
    /// A public key is not SEC1 compressed hex.
    #[error("`{text}` is not a SEC1 compressed secp256k1 public key in hex")]
    PublicFormat {
        /// The text given.
        text: String,
    },
    /// The statement could not be built.
    #[error("failed to build the signed statement")]
    Statement(#[source] StatementProblem),
}

/// A freshly generated key pair, as files hold it.
pub struct GeneratedKey {
    /// PKCS#8 PEM of the secret key (zeroed on drop).
    pub secret_pem: Zeroizing<String>,
    /// SEC1 compressed public key, lowercase hex.
    pub public_hex: String,
    /// The key id.
    pub key_id: Digest,
}

/// Generates a secp256k1 key from the operating system's randomness.
pub fn generate() -> Result<GeneratedKey, KeyError> {
    let sk = loop {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut bytes[..]).map_err(KeyError::Random)?;
        // Out-of-range scalars (probability ~2^-128) are drawn again.
        if let Ok(sk) = SigningKey::from_slice(&bytes[..]) {
            break sk;
        }
    };
    let secret_pem = sk.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::SecretFormat { why: e.to_string() })?;
    let vk = sk.verifying_key();
    Ok(GeneratedKey { secret_pem, public_hex: public_hex(vk), key_id: key_id(vk) })
}

/// A secret key read from its PEM.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// Parses a PKCS#8 PEM secp256k1 secret key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem.trim()).map(SecretKey).map_err(|e| KeyError::SecretFormat { why: e.to_string() })
    }

    /// Its key id.
    pub fn key_id(&self) -> Digest {
        key_id(self.0.verifying_key())
    }

    /// Its public key, SEC1 compressed hex.
    pub fn public_hex(&self) -> String {
        public_hex(self.0.verifying_key())
    }

    /// Signs `predicate` about `capsule_hash`: the bytes of the member
    /// [`member_path`] names. Deterministic (RFC 6979).
    pub fn sign(&self, capsule_hash: &Digest, predicate: &ReceiptPredicateV1) -> Result<Vec<u8>, KeyError> {
        let payload = dsse::receipt_statement(capsule_hash, predicate).map_err(KeyError::Statement)?;
        self.sign_payload(&payload)
    }

    /// Signs an in-toto statement's bytes as they are: the member bytes.
    /// [`SecretKey::sign`] is this over a receipt statement.
    pub fn sign_payload(&self, payload: &[u8]) -> Result<Vec<u8>, KeyError> {
        let sig: Signature = self.0.sign(&dsse::pae(dsse::PAYLOAD_TYPE, payload));
        let member = KeySignatureV1 {
            schema: KEY_SIGNATURE_SCHEMA.to_owned(),
            public_key: self.public_hex(),
            envelope: Envelope::new(payload, self.key_id().to_string(), sig.to_der().as_bytes()),
        };
        canonical::to_vec(&member).map_err(|e| KeyError::Statement(StatementProblem::Malformed(e.to_string())))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.key_id())
    }
}

/// The pack member a key signature lives in.
pub fn member_path(key_id: &Digest) -> String {
    format!("{}{}{KEY_SIGNATURE_SUFFIX}", crate::objects::paths::SIGNATURES_DIR, key_id.to_hex())
}

/// SEC1 compressed hex of a public key.
fn public_hex(vk: &VerifyingKey) -> String {
    hex::encode(vk.to_encoded_point(true).as_bytes())
}

/// The key id: plain SHA-256 of the SEC1 compressed public key.
fn key_id(vk: &VerifyingKey) -> Digest {
    plain(vk.to_encoded_point(true).as_bytes())
}

/// Parses a SEC1 compressed secp256k1 public key written in hex; the error
/// says which rule failed.
fn parse_public(text: &str) -> Result<VerifyingKey, &'static str> {
    let bytes = hex::decode(text).map_err(|_| "public_key is not hex")?;
    if bytes.len() != 33 {
        return Err("public_key is not a SEC1 compressed key");
    }
    VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| "public_key is not a secp256k1 point")
}

/// Parses a SEC1 compressed public key in hex and returns its key id.
pub fn public_key_id(text: &str) -> Result<Digest, KeyError> {
    let vk = parse_public(text.trim()).map_err(|_| KeyError::PublicFormat { text: text.chars().take(80).collect() })?;
    Ok(key_id(&vk))
}

/// A key-signature member, `capsulebench/key-signature/v1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySignatureV1 {
    /// Always `capsulebench/key-signature/v1`.
    pub schema: String,
    /// The signer's SEC1 compressed public key, hex. Self-asserted: what
    /// makes it trusted is its key id in the verifier's ACL.
    pub public_key: String,
    /// The DSSE envelope, with exactly one signature whose `keyid` is the
    /// key id of `public_key`.
    pub envelope: Envelope,
}

/// Why a key signature is not a valid signature over a capsule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeySignatureProblem {
    /// The member does not have the key-signature shape.
    #[error("malformed key signature: {0}")]
    Malformed(String),
    /// The signature does not verify under the key.
    #[error("the signature does not verify under key {0}")]
    BadSignature(Digest),
    /// The signed statement is about something else.
    #[error(transparent)]
    Statement(StatementProblem),
}

/// A checked key signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySigner {
    /// The key id.
    pub key_id: Digest,
    /// What it signed.
    pub attested: Attested,
}

/// Checks a key-signature member against `capsule_hash`.
pub fn verify_member(bytes: &[u8], capsule_hash: &Digest) -> Result<KeySigner, KeySignatureProblem> {
    let m: KeySignatureV1 =
        canonical::parse_lenient(bytes).map_err(|e| KeySignatureProblem::Malformed(e.to_string()))?;
    if m.schema != KEY_SIGNATURE_SCHEMA {
        return Err(KeySignatureProblem::Malformed(format!("schema is `{}`", m.schema)));
    }
    let vk = parse_public(&m.public_key).map_err(|why| KeySignatureProblem::Malformed(why.to_owned()))?;
    let id = key_id(&vk);
    let [sig] = m.envelope.signatures.as_slice() else {
        return Err(KeySignatureProblem::Malformed("the envelope must hold exactly one signature".into()));
    };
    if sig.keyid != id.to_string() {
        return Err(KeySignatureProblem::Malformed(format!("keyid `{}` is not the public key's id {id}", sig.keyid)));
    }
    let payload = m.envelope.payload_bytes().map_err(KeySignatureProblem::Statement)?;
    let der = dsse::decode_sig(&sig.sig).ok_or_else(|| KeySignatureProblem::Malformed("sig is not base64".into()))?;
    let signature = Signature::from_der(&der).map_err(|_| KeySignatureProblem::BadSignature(id))?;
    // k256 refuses high-S signatures, so a signature has one encoding.
    vk.verify(&dsse::pae(&m.envelope.payload_type, &payload), &signature)
        .map_err(|_| KeySignatureProblem::BadSignature(id))?;
    let attested = dsse::check_statement(&m.envelope.payload_type, &payload, capsule_hash)
        .map_err(KeySignatureProblem::Statement)?;
    Ok(KeySigner { key_id: id, attested })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predicate() -> ReceiptPredicateV1 {
        ReceiptPredicateV1 {
            schema: dsse::RECEIPT_PREDICATE_SCHEMA.to_owned(),
            policy_id: "p".into(),
            policy_hash: plain(b"policy"),
            registry: None,
        }
    }

    #[test]
    fn sign_then_verify_round_trips_and_binds_the_capsule() {
        let g = generate().unwrap();
        let sk = SecretKey::from_pem(&g.secret_pem).unwrap();
        assert_eq!(sk.key_id(), g.key_id);
        assert_eq!(public_key_id(&g.public_hex).unwrap(), g.key_id);
        let cap = plain(b"capsule");
        let bytes = sk.sign(&cap, &predicate()).unwrap();
        assert_eq!(bytes, sk.sign(&cap, &predicate()).unwrap(), "signing is deterministic");
        let s = verify_member(&bytes, &cap).unwrap();
        assert_eq!(s.key_id, g.key_id);
        assert_eq!(s.attested.receipt, Some(predicate()));
        assert!(matches!(
            verify_member(&bytes, &plain(b"another")),
            Err(KeySignatureProblem::Statement(StatementProblem::OtherSubject { .. }))
        ));
        // The secret never appears in what is written.
        let secret_body: String = g.secret_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!String::from_utf8_lossy(&bytes).contains(&secret_body));
    }

    #[test]
    fn another_key_or_altered_payload_fails() {
        let a = SecretKey::from_pem(&generate().unwrap().secret_pem).unwrap();
        let b = SecretKey::from_pem(&generate().unwrap().secret_pem).unwrap();
        let cap = plain(b"capsule");
        let mut m: KeySignatureV1 = serde_json::from_slice(&a.sign(&cap, &predicate()).unwrap()).unwrap();
        let honest = m.clone();
        m.public_key = b.public_hex();
        m.envelope.signatures[0].keyid = b.key_id().to_string();
        let bytes = serde_json::to_vec(&m).unwrap();
        assert!(matches!(verify_member(&bytes, &cap), Err(KeySignatureProblem::BadSignature(_))));
        let mut m = honest;
        m.envelope.payload = m.envelope.payload.replace('A', "B");
        let bytes = serde_json::to_vec(&m).unwrap();
        assert!(verify_member(&bytes, &cap).is_err());
    }
}
