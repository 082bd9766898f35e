//! The Sigstore conformance suite (`../shared/vectors/sigstore-conformance`,
//! read in place): every bundle gives the verdict its directory name
//! implies (`_fail`: rejected; otherwise accepted with the identity its
//! README and files give), through `TrustRoot::verify`, the same
//! bundle-verification path the capsule verifier uses.
//!
//! When the vectors are missing the test fails if `CI` is set, and says it
//! skipped otherwise.

use std::path::{Path, PathBuf};

use capsule::trust::sigstore::{BundleArtifact, TrustRoot};
use sigstore_verify::types::DerPublicKey;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn suite() -> Result<PathBuf, PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/sigstore-conformance");
    if dir.is_dir() {
        return Ok(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "the Sigstore conformance vectors are missing at {}", dir.display());
    Err(dir)
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

/// Runs one case: `Ok(())` if accepted with the expected identity.
fn verify_case(dir: &Path, production: &TrustRoot) -> Result<(), String> {
    let bundle = std::fs::read(dir.join("bundle.sigstore.json")).map_err(|e| format!("no bundle: {e}"))?;
    let artifact_path = if dir.join("artifact").exists() { dir.join("artifact") } else { dir.join("../a.txt") };
    let artifact = std::fs::read(&artifact_path).map_err(|e| format!("no artifact: {e}"))?;
    let custom = match std::fs::read_to_string(dir.join("trusted_root.json")) {
        Ok(text) => Some(TrustRoot::from_json(&text, "trusted_root.json").map_err(|e| e.to_string())?),
        Err(_) => None,
    };
    let root = custom.as_ref().unwrap_or(production);
    let key = match std::fs::read_to_string(dir.join("key.pub")) {
        Ok(pem) => Some(DerPublicKey::from_pem(&pem).map_err(|e| format!("key.pub: {e}"))?),
        Err(_) => None,
    };
    let signer = root.verify(&bundle, BundleArtifact::Bytes(&artifact), key.as_ref()).map_err(|e| e.to_string())?;
    if key.is_none() {
        let identity = read_trimmed(&dir.join("identity")).unwrap_or_else(|| DEFAULT_IDENTITY.to_owned());
        let issuer = read_trimmed(&dir.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        if signer.san.as_deref() != Some(identity.as_str()) {
            return Err(format!("identity {:?}, expected {identity}", signer.san));
        }
        if signer.issuer.as_deref() != Some(issuer.as_str()) {
            return Err(format!("issuer {:?}, expected {issuer}", signer.issuer));
        }
    }
    Ok(())
}

#[test]
fn every_conformance_bundle_gets_the_verdict_its_name_implies() {
    let suite = match suite() {
        Ok(s) => s,
        Err(missing) => {
            eprintln!("skipped: the Sigstore conformance vectors are not at {}", missing.display());
            return;
        }
    };
    let production = TrustRoot::production().expect("the embedded production root loads");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&suite)
        .expect("read the suite")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("bundle.sigstore.json").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 50, "expected the whole suite, found {} cases", cases.len());
    let mut wrong = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for dir in &cases {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let expect_fail = name.ends_with("_fail");
        match (verify_case(dir, &production), expect_fail) {
            (Ok(()), false) => accepted += 1,
            (Err(_), true) => rejected += 1,
            (Ok(()), true) => wrong.push(format!("{name}: accepted, but the suite expects a rejection")),
            (Err(e), false) => wrong.push(format!("{name}: rejected ({e}), but the suite expects acceptance")),
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases disagree:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
    eprintln!("{accepted} accepted and {rejected} rejected, as their names say");
}
