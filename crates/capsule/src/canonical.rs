//! Canonical bytes: RFC 8785 (JCS) JSON, restricted to the safe subset.
//!
//! Owns the one way objects become bytes before hashing, and the strict check
//! that stored JSON already is in that form. The safe subset: no floats, no
//! integer outside ±(2^53−1) (JCS numbers are IEEE doubles), no duplicate keys.
//! Unknown fields are rejected by the typed parse (`deny_unknown_fields` on
//! every object), after the canonical check.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::digest::{Digest, Tag, tagged};

/// The largest integer a hashed object may hold: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why bytes are not canonical JSON of the expected object.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// The bytes are not JSON at all.
    #[error("not valid JSON")]
    Syntax(#[source] serde_json::Error),
    /// An object with the same key twice (JSON parsers disagree on which
    /// one wins, so the verifier refuses to guess).
    #[error("JSON has a duplicate object key")]
    DuplicateKey(#[source] serde_json::Error),
    /// A number outside the safe subset.
    #[error("number `{number}` at `{pointer}` is not an integer in ±(2^53−1)")]
    Number {
        /// JSON pointer to the value.
        pointer: String,
        /// The number as written.
        number: String,
    },
    /// Valid JSON, but not byte-identical to its canonical form.
    #[error("JSON is not in canonical form (RFC 8785) from byte {offset}")]
    NotCanonical {
        /// The first byte offset that differs from the canonical form.
        offset: usize,
    },
    /// Canonical JSON of the wrong shape (unknown field, wrong type, version).
    #[error("JSON does not match the schema")]
    Schema(#[source] serde_json::Error),
    /// Serialization failed (an object outside the safe subset).
    #[error("failed to serialize canonical JSON")]
    Serialize(#[source] serde_json::Error),
}

/// Serializes a value to canonical bytes, checking the safe subset.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let v = serde_json::to_value(value).map_err(CanonicalError::Serialize)?;
    check_numbers(&v, &mut String::new())?;
    serde_jcs::to_vec(&v).map_err(CanonicalError::Serialize)
}

/// Canonical bytes of a value and their domain-separated hash.
pub fn hash<T: Serialize + ?Sized>(tag: Tag, value: &T) -> Result<(Vec<u8>, Digest), CanonicalError> {
    let bytes = to_vec(value)?;
    let d = tagged(tag, &bytes);
    Ok((bytes, d))
}

/// Checks that `bytes` are canonical JSON in the safe subset and returns the
/// parsed value.
pub fn check(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let v = parse_value(bytes)?;
    check_numbers(&v, &mut String::new())?;
    let canon = serde_jcs::to_vec(&v).map_err(CanonicalError::Serialize)?;
    if canon != bytes {
        let offset = canon.iter().zip(bytes).position(|(a, b)| a != b).unwrap_or(canon.len().min(bytes.len()));
        return Err(CanonicalError::NotCanonical { offset });
    }
    Ok(v)
}

/// Checks canonical form, then parses into a typed object (which rejects
/// unknown fields), and requires that the object serializes back to exactly
/// these bytes, so no two byte strings denote the same object (an explicit
/// `null` for an absent optional field, say).
pub fn parse<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, CanonicalError> {
    let v = check(bytes)?;
    let t: T = serde_json::from_value(v).map_err(CanonicalError::Schema)?;
    let again = to_vec(&t)?;
    if again != bytes {
        let offset = again.iter().zip(bytes).position(|(a, b)| a != b).unwrap_or(again.len().min(bytes.len()));
        return Err(CanonicalError::NotCanonical { offset });
    }
    Ok(t)
}

/// Parses JSON that need not be canonical (a user's policy file, say) into a
/// typed object, still enforcing the number subset.
pub fn parse_lenient<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CanonicalError> {
    let v = parse_value(bytes)?;
    check_numbers(&v, &mut String::new())?;
    serde_json::from_value(v).map_err(CanonicalError::Schema)
}

/// Parses JSON written by other tools (any numbers), still refusing
/// duplicate keys anywhere, so no two readers can see different values.
pub fn parse_foreign<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CanonicalError> {
    serde_json::from_value(parse_value(bytes)?).map_err(CanonicalError::Schema)
}

/// Parses JSON, refusing duplicate keys anywhere (which `Value` would
/// silently merge).
fn parse_value(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let v: Value = serde_json::from_slice(bytes).map_err(CanonicalError::Syntax)?;
    serde_json::from_slice::<NoDuplicateKeys>(bytes).map_err(CanonicalError::DuplicateKey)?;
    Ok(v)
}

/// A deserialization target that accepts any JSON and fails on a repeated
/// key in any object.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = std::collections::BTreeSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if !keys.insert(k.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

fn check_numbers(v: &Value, pointer: &mut String) -> Result<(), CanonicalError> {
    match v {
        Value::Number(n) => {
            let ok = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u <= MAX_SAFE_INTEGER,
                (None, Some(i)) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
                _ => false,
            };
            if ok { Ok(()) } else { Err(CanonicalError::Number { pointer: pointer.clone(), number: n.to_string() }) }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                check_numbers(item, pointer)?;
                pointer.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                check_numbers(item, pointer)?;
                pointer.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_case(input: &str, ok: bool) {
        assert_eq!(check(input.as_bytes()).is_ok(), ok, "{input}");
    }

    #[test]
    fn duplicate_keys_are_named_even_in_lenient_parses() {
        let e = parse_lenient::<Value>(br#"{"tracks": {"x": 1, "x": 2}}"#).unwrap_err();
        assert!(matches!(e, CanonicalError::DuplicateKey(_)));
        assert!(std::error::Error::source(&e).unwrap().to_string().contains("duplicate key `x`"));
    }

    #[test]
    fn canonical_subset() {
        for (input, ok) in [
            (r#"{"a":1,"b":[true,null,"x"]}"#, true),
            (r#"{"b":1,"a":2}"#, false),
            (r#"{"a":1, "b":2}"#, false),
            (r#"{"a":1.5}"#, false),
            (r#"{"a":1.0}"#, false),
            (r#"{"a":1e3}"#, false),
            (r#"{"a":9007199254740991}"#, true),
            (r#"{"a":9007199254740992}"#, false),
            (r#"{"a":-9007199254740991}"#, true),
            (r#"{"a":1,"a":1}"#, false),
            (r#"{"a":{"b":1,"b":2}}"#, false),
            (r#"{"a":"\u0041"}"#, false),
            (r#"{"a":"é"}"#, true),
            ("{\"a\":1}\n", false),
        ] {
            check_case(input, ok);
        }
    }
}
