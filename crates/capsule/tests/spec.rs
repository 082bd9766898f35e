//! The specification and the code stay in step: every finding code and every
//! domain tag appears in `docs/spec/`, and every shipped object schema is
//! named there.

use capsule::digest::Tag;
use capsule::verify::Code;

fn spec(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/spec").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_finding_code_is_specified() {
    let text = spec("verification.md");
    let missing: Vec<&str> =
        Code::ALL.iter().map(|c| c.as_str()).filter(|c| !text.contains(&format!("`{c}`"))).collect();
    assert!(missing.is_empty(), "docs/spec/verification.md lacks codes {missing:?}");
}

#[test]
fn every_domain_tag_is_specified() {
    let text = spec("encoding.md");
    let missing: Vec<&str> =
        Tag::ALL.iter().map(|t| t.as_str()).filter(|t| !text.contains(&format!("`{t}`"))).collect();
    assert!(missing.is_empty(), "docs/spec/encoding.md lacks tags {missing:?}");
}

#[test]
fn codes_are_unique_and_kebab_case() {
    let mut seen = std::collections::BTreeSet::new();
    for c in Code::ALL {
        let s = c.as_str();
        assert!(seen.insert(s), "duplicate code {s}");
        assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{s}");
        assert_eq!(Code::parse(s), Some(*c));
        assert!(!c.explanation().is_empty());
    }
}
