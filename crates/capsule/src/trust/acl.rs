//! Access-control lists: who may publish certified receipts under which
//! policy. An ACL is pinned by the verifier (`--acl FILE`), never read from
//! a pack.
//!
//! Owns `capsulebench/acl/v1`: per policy id, the repository-key ids and the
//! Sigstore identities allowed to sign.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sigstore::SigstoreIdentity;
use crate::canonical;
use crate::digest::{Digest, plain};

/// The schema of an ACL file.
pub const ACL_SCHEMA: &str = "capsulebench/acl/v1";

/// An ACL file, `capsulebench/acl/v1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclV1 {
    /// Always `capsulebench/acl/v1`.
    pub schema: String,
    /// Allowed signers by policy id.
    pub policies: BTreeMap<String, AclEntry>,
}

/// The signers allowed for one policy id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    /// Repository-key ids (`sha256:` of the SEC1 compressed key).
    #[serde(default)]
    pub keys: Vec<Digest>,
    /// Sigstore identities.
    #[serde(default)]
    pub sigstore: Vec<SigstoreIdentity>,
}

/// A loaded ACL and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    /// The rules.
    pub acl: AclV1,
    /// The file it was read from.
    pub source: String,
    /// Plain SHA-256 of the file's bytes, for the report.
    pub hash: Digest,
}

/// Why an ACL file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// Not JSON of the ACL shape.
    #[error("ACL `{source_name}` is malformed")]
    Malformed {
        /// The file.
        source_name: String,
        /// The parse error.
        #[source]
        source: canonical::CanonicalError,
    },
    /// A rule that cannot be satisfied or is ambiguous.
    #[error("ACL `{source_name}`: {why}")]
    Invalid {
        /// The file.
        source_name: String,
        /// What is wrong.
        why: String,
    },
}

impl Acl {
    /// Parses an ACL file's bytes.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Acl, AclError> {
        let acl: AclV1 = canonical::parse_lenient(bytes)
            .map_err(|e| AclError::Malformed { source_name: source.to_owned(), source: e })?;
        let invalid = |why: String| AclError::Invalid { source_name: source.to_owned(), why };
        if acl.schema != ACL_SCHEMA {
            return Err(invalid(format!("schema is `{}`, expected `{ACL_SCHEMA}`", acl.schema)));
        }
        for (policy, entry) in &acl.policies {
            if entry.keys.is_empty() && entry.sigstore.is_empty() {
                return Err(invalid(format!("policy `{policy}` allows no signer")));
            }
            for (i, id) in entry.sigstore.iter().enumerate() {
                let at = format!("policies.{policy}.sigstore[{i}]");
                if id.workflow.is_none() && id.build_signer.is_none() {
                    return Err(invalid(format!("{at}: name a `workflow` or a `build_signer`")));
                }
                let parts: Vec<&str> = id.repository.split('/').collect();
                if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                    return Err(invalid(format!("{at}: repository `{}` is not `owner/name`", id.repository)));
                }
                if id.repository_id.is_empty() || !id.repository_id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(format!("{at}: repository_id `{}` is not a number", id.repository_id)));
                }
                if let Some(server) = &id.server {
                    let host = server.strip_prefix("https://").unwrap_or_default().trim_end_matches('/');
                    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
                        return Err(invalid(format!("{at}: server `{server}` is not `https://HOST`")));
                    }
                }
            }
        }
        Ok(Acl { acl, source: source.to_owned(), hash: plain(bytes) })
    }

    /// The entry for `policy_id`, if any.
    pub fn entry(&self, policy_id: &str) -> Option<&AclEntry> {
        self.acl.policies.get(policy_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_cases() {
        let ok_identity =
            r#"{"issuer":"i","repository":"o/r","repository_id":"1","workflow":"w","runner":"github-hosted"}"#;
        // (file, expected error fragment or None)
        let cases: &[(String, Option<&str>)] = &[
            (format!(r#"{{"schema":"{ACL_SCHEMA}","policies":{{"p":{{"sigstore":[{ok_identity}]}}}}}}"#), None),
            (format!(r#"{{"schema":"{ACL_SCHEMA}","policies":{{"p":{{}}}}}}"#), Some("allows no signer")),
            (r#"{"schema":"x","policies":{}}"#.to_owned(), Some("schema is `x`")),
            (format!(r#"{{"schema":"{ACL_SCHEMA}","policies":{{}},"extra":1}}"#), Some("malformed")),
            (
                format!(
                    r#"{{"schema":"{ACL_SCHEMA}","policies":{{"p":{{"sigstore":[{}]}}}}}}"#,
                    ok_identity.replace(r#""workflow":"w","#, "")
                ),
                Some("name a `workflow`"),
            ),
            (
                format!(
                    r#"{{"schema":"{ACL_SCHEMA}","policies":{{"p":{{"sigstore":[{}]}}}}}}"#,
                    ok_identity.replace(r#""runner""#, r#""server":"https://ghe.example.com","runner""#)
                ),
                None,
            ),
            (
                format!(
                    r#"{{"schema":"{ACL_SCHEMA}","policies":{{"p":{{"sigstore":[{}]}}}}}}"#,
                    ok_identity.replace(r#""runner""#, r#""server":"http://ghe.example.com/x","runner""#)
                ),
                Some("is not `https://HOST`"),
            ),
            (
                format!(
                    r#"{{"schema":"{ACL_SCHEMA}","policies":{{"p":{{"sigstore":[{}]}}}}}}"#,
                    ok_identity.replace("o/r", "just-a-name")
                ),
                Some("is not `owner/name`"),
            ),
            (format!(r#"{{"schema":"{ACL_SCHEMA}","policies":{{"p":{{"keys":["nope"]}}}}}}"#), Some("malformed")),
        ];
        for (text, want) in cases {
            let got = Acl::from_bytes(text.as_bytes(), "acl.json");
            match (got, want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, wanted {want:?}"),
            }
        }
    }
}
