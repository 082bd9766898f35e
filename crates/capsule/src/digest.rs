//! Digests and domain separation.
//!
//! Owns the `sha256:<hex>` digest type and the table of domain tags. Every
//! hash in a capsule except the capsule hash itself is `sha256(tag || 0x00 ||
//! bytes)` with exactly one tag per object kind; the capsule hash is the plain
//! SHA-256 of the canonical `capsule.json` bytes so that generic in-toto
//! tooling can check it. Nothing else in the crate calls SHA-256 directly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest, written `sha256:<64 lowercase hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest(pub [u8; 32]);

/// A domain tag: one per object kind, so that bytes hashed as one kind can
/// never be mistaken for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    /// A pack member's bytes.
    Member,
    /// A canonical TraceSpecV1.
    TraceSpec,
    /// A canonical StatementV1.
    Statement,
    /// A canonical Benchmark Policy v1.
    Policy,
    /// A canonical manifest.
    Manifest,
    /// A canonical event (the chain link).
    Event,
    /// A row-commitment chunk (leaf).
    RowLeaf,
    /// A row-commitment interior node.
    RowNode,
    /// The row-commitment root, binding the parameters.
    RowRoot,
    /// The workload input files.
    WorkloadInput,
    /// A workload result.
    Result,
    /// A `git diff` of a dirty work tree.
    GitDiff,
    /// A data-availability audit draw (seed and counter to a chunk index).
    AuditDraw,
}

impl Tag {
    /// Every tag, in specification order.
    pub const ALL: [Tag; 13] = [
        Tag::Member,
        Tag::TraceSpec,
        Tag::Statement,
        Tag::Policy,
        Tag::Manifest,
        Tag::Event,
        Tag::RowLeaf,
        Tag::RowNode,
        Tag::RowRoot,
        Tag::WorkloadInput,
        Tag::Result,
        Tag::GitDiff,
        Tag::AuditDraw,
    ];

    /// The tag's bytes as they enter the hash (ASCII, no terminator: the
    /// `0x00` separator follows).
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Member => "capsulebench/member/v1",
            Tag::TraceSpec => "capsulebench/trace-spec/v1",
            Tag::Statement => "capsulebench/statement/v1",
            Tag::Policy => "capsulebench/policy/v1",
            Tag::Manifest => "capsulebench/manifest/v1",
            Tag::Event => "capsulebench/event/v1",
            Tag::RowLeaf => "capsulebench/rows/leaf/v1",
            Tag::RowNode => "capsulebench/rows/node/v1",
            Tag::RowRoot => "capsulebench/rows/root/v1",
            Tag::WorkloadInput => "capsulebench/workload-input/v1",
            Tag::Result => "capsulebench/result/v1",
            Tag::GitDiff => "capsulebench/git-diff/v1",
            Tag::AuditDraw => "capsulebench/audit-draw/v1",
        }
    }
}

/// An incremental domain-separated hasher.
#[derive(Clone)]
pub struct TaggedHasher(Sha256);

impl TaggedHasher {
    /// Starts `sha256(tag || 0x00 || ...)`.
    pub fn new(tag: Tag) -> Self {
        let mut h = Sha256::new();
        h.update(tag.as_str().as_bytes());
        h.update([0u8]);
        TaggedHasher(h)
    }

    /// Absorbs bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Finishes the hash.
    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

/// `sha256(tag || 0x00 || bytes)`.
pub fn tagged(tag: Tag, bytes: &[u8]) -> Digest {
    let mut h = TaggedHasher::new(tag);
    h.update(bytes);
    h.finish()
}

/// Plain SHA-256, used only for the capsule hash (see the module docs).
pub fn plain(bytes: &[u8]) -> Digest {
    Digest(Sha256::digest(bytes).into())
}

impl Digest {
    /// The all-zero digest: the `prev` of the first event in a chain.
    pub const ZERO: Digest = Digest([0u8; 32]);

    /// Lowercase hex without the algorithm prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid digest `{text}`: expected `sha256:` followed by 64 lowercase hex digits")]
pub struct DigestParseError {
    /// The rejected text (truncated to 80 characters).
    pub text: String,
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DigestParseError { text: s.chars().take(80).collect() };
        let hex_part = s.strip_prefix("sha256:").ok_or_else(err)?;
        if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| err())?;
        Ok(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict() {
        let good = format!("sha256:{}", "ab".repeat(32));
        assert!(good.parse::<Digest>().is_ok());
        for bad in [
            format!("sha256:{}", "AB".repeat(32)),
            format!("sha256:{}", "ab".repeat(31)),
            format!("sha512:{}", "ab".repeat(32)),
            "ab".repeat(32),
            format!("sha256:{} ", "ab".repeat(32)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for t in Tag::ALL {
            assert!(seen.insert(t.as_str()));
            assert_ne!(tagged(t, b"x"), plain(b"x"));
        }
    }
}
