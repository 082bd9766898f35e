//! The board's cache of verdicts: `SITE/.cache/<options hash>/<pack
//! digest>.json`, what verifying a pack gave (its entry or rejection, its
//! report and its events), keyed by the SHA-256 of the pack's bytes (a
//! signature added to a pack changes its bytes, not its capsule hash) under
//! the hash of the verifier's options. Nothing else is trusted from it: a
//! file that does not parse is a miss.

use std::path::{Path, PathBuf};

use capsule::digest::Digest;

use crate::BoardError;
use crate::collect::Checked;

/// The cache directory of a site, for one set of verifier options.
pub(crate) fn dir(site: &Path, options: Digest) -> PathBuf {
    site.join(".cache").join(options.to_hex())
}

/// A cached verdict, when there is one that parses.
pub(crate) fn get(dir: &Path, pack: Digest) -> Option<Checked> {
    let bytes = std::fs::read(dir.join(format!("{}.json", pack.to_hex()))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Stores a verdict (written whole, then renamed into place).
pub(crate) fn put(dir: &Path, pack: Digest, checked: &Checked) -> Result<(), BoardError> {
    let bytes = serde_json::to_vec(checked).unwrap_or_default();
    crate::site::write_atomic(&dir.join(format!("{}.json", pack.to_hex())), &bytes)
}
