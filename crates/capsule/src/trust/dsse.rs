//! DSSE envelopes over in-toto Statement v1: the one signed statement every
//! CapsuleBench signature carries, whoever makes it (a repository key or a
//! Sigstore bundle).
//!
//! Owns the pre-authentication encoding, the statement and envelope shapes,
//! our receipt predicate (`capsulebench/receipt-predicate/v1`) and the check
//! that a statement speaks of one capsule. Signing and key handling live in
//! [`super::key`]; certificate chains in [`super::sigstore`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::registry::RegistryProofV1;
use crate::canonical;
use crate::digest::Digest;

/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type we write and accept.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Our predicate type: a CapsuleBench receipt. Only statements of this type
/// count for certification.
pub const RECEIPT_PREDICATE_TYPE: &str = "https://capsulebench.dev/receipt/v1";
/// The subject name of a capsule: the file whose SHA-256 is the capsule hash.
pub const SUBJECT_NAME: &str = "capsule.json";

/// The DSSE pre-authentication encoding of `payload` of type `payload_type`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope, as the DSSE specification writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Base64 (standard alphabet, padded) of the payload.
    pub payload: String,
    /// The payload type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Signatures over `pae(payloadType, payload)`.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// The signer's key id.
    pub keyid: String,
    /// Base64 of the signature bytes.
    pub sig: String,
}

impl Envelope {
    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, StatementProblem> {
        B64.decode(&self.payload).map_err(|e| StatementProblem::Malformed(format!("payload is not base64: {e}")))
    }

    /// Wraps `payload` (an in-toto statement) with one signature.
    pub fn new(payload: &[u8], keyid: String, sig: &[u8]) -> Self {
        Envelope {
            payload: B64.encode(payload),
            payload_type: PAYLOAD_TYPE.to_owned(),
            signatures: vec![EnvelopeSignature { keyid, sig: B64.encode(sig) }],
        }
    }
}

/// Decodes base64 signature bytes.
pub(crate) fn decode_sig(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

/// An in-toto Statement v1. Fields other tools may add are ignored, but the
/// ones below must have these shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InTotoStatement {
    /// `https://in-toto.io/Statement/v1`.
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate type.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate (an empty object when omitted).
    #[serde(default)]
    pub predicate: Value,
}

/// One subject: a name and its digests by algorithm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The artifact name.
    #[serde(default)]
    pub name: String,
    /// Digests by algorithm name (lowercase hex values).
    pub digest: std::collections::BTreeMap<String, String>,
}

/// Our receipt predicate, `capsulebench/receipt-predicate/v1`: what the
/// signer vouches for beyond the capsule hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptPredicateV1 {
    /// Always `capsulebench/receipt-predicate/v1`.
    pub schema: String,
    /// The id of the policy the capsule was run under.
    pub policy_id: String,
    /// Its hash (the statement's `policy_hash`).
    pub policy_hash: Digest,
    /// The policy's inclusion in a policy registry, when the signer carries
    /// one (the certified profile needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryProofV1>,
}

/// The schema string of [`ReceiptPredicateV1`].
pub const RECEIPT_PREDICATE_SCHEMA: &str = "capsulebench/receipt-predicate/v1";

/// What a signed statement says about a capsule, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attested {
    /// The predicate type.
    pub predicate_type: String,
    /// Our predicate, when the type is ours and it parses.
    pub receipt: Option<ReceiptPredicateV1>,
}

/// Why a signed statement does not speak of a capsule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatementProblem {
    /// Not an in-toto Statement v1 we can read.
    #[error("malformed statement: {0}")]
    Malformed(String),
    /// No subject is this capsule.
    #[error("the statement's subjects are {found}, not capsule {expected}")]
    OtherSubject {
        /// The subject digests found.
        found: String,
        /// The capsule hash.
        expected: Digest,
    },
}

/// The in-toto statement a signer signs for `capsule_hash`.
pub fn receipt_statement(capsule_hash: &Digest, predicate: &ReceiptPredicateV1) -> Result<Vec<u8>, StatementProblem> {
    let st = InTotoStatement {
        type_: STATEMENT_TYPE.to_owned(),
        subject: vec![Subject {
            name: SUBJECT_NAME.to_owned(),
            digest: [("sha256".to_owned(), capsule_hash.to_hex())].into_iter().collect(),
        }],
        predicate_type: RECEIPT_PREDICATE_TYPE.to_owned(),
        predicate: serde_json::to_value(predicate).map_err(|e| StatementProblem::Malformed(e.to_string()))?,
    };
    canonical::to_vec(&st).map_err(|e| StatementProblem::Malformed(e.to_string()))
}

/// Checks that `payload` (of `payload_type`) is an in-toto Statement v1
/// with a subject whose SHA-256 is `capsule_hash`, and reads our predicate
/// when it has our type.
pub fn check_statement(
    payload_type: &str,
    payload: &[u8],
    capsule_hash: &Digest,
) -> Result<Attested, StatementProblem> {
    if payload_type != PAYLOAD_TYPE {
        return Err(StatementProblem::Malformed(format!("payload type is `{payload_type}`, not `{PAYLOAD_TYPE}`")));
    }
    // Other tools' statements may hold any JSON; ours are read under the
    // strict rules (no duplicate keys, safe numbers), so one payload cannot
    // mean two predicates.
    let st: InTotoStatement =
        canonical::parse_foreign(payload).map_err(|e| StatementProblem::Malformed(e.to_string()))?;
    let st = if st.predicate_type == RECEIPT_PREDICATE_TYPE {
        canonical::parse_lenient::<InTotoStatement>(payload).map_err(|e| StatementProblem::Malformed(e.to_string()))?
    } else {
        st
    };
    if st.type_ != STATEMENT_TYPE {
        return Err(StatementProblem::Malformed(format!("statement type is `{}`, not `{STATEMENT_TYPE}`", st.type_)));
    }
    let hex = capsule_hash.to_hex();
    if !st.subject.iter().any(|s| s.digest.get("sha256").is_some_and(|d| *d == hex)) {
        let found: Vec<String> = st
            .subject
            .iter()
            .map(|s| s.digest.get("sha256").cloned().unwrap_or_else(|| "(no sha256)".into()))
            .collect();
        return Err(StatementProblem::OtherSubject { found: found.join(", "), expected: *capsule_hash });
    }
    let receipt = if st.predicate_type == RECEIPT_PREDICATE_TYPE {
        let p: ReceiptPredicateV1 = serde_json::from_value(st.predicate.clone())
            .map_err(|e| StatementProblem::Malformed(format!("receipt predicate: {e}")))?;
        if p.schema != RECEIPT_PREDICATE_SCHEMA {
            return Err(StatementProblem::Malformed(format!("receipt predicate schema is `{}`", p.schema)));
        }
        Some(p)
    } else {
        None
    };
    Ok(Attested { predicate_type: st.predicate_type, receipt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }
}
