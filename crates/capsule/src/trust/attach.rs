//! Adding a signature to a pack. Signatures are post-seal members, so the
//! capsule hash does not change; the pack is rewritten beside itself,
//! verified, and renamed into place only if it verifies with the new
//! signature.

use std::path::Path;

use crate::digest::Digest;
use crate::objects::paths;
use crate::pack::write::WriteError;
use crate::pack::{PackError, read_pack_file, write_pack_beside};
use crate::verify::{Profile, Report, VerifyOptions, verify_pack_file};

/// Why a signature could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The pack could not be read.
    #[error("failed to read the pack")]
    Read(#[from] PackError),
    /// The new pack could not be written.
    #[error("failed to write the signed pack")]
    Write(#[from] WriteError),
    /// The rewritten pack does not verify (nothing was replaced).
    #[error("the signed pack does not verify: {}", .0.codes().join(", "))]
    Rejected(Box<Report>),
    /// The pack changed while it was being signed.
    #[error("the pack changed while it was being signed (capsule {found}, signed {expected})")]
    Changed {
        /// The capsule signed.
        expected: Digest,
        /// The capsule found.
        found: String,
    },
}

/// Adds (or replaces) the signature member `member` with `bytes` in the pack
/// at `pack`, whose capsule hash must be `capsule`. The result must verify
/// at profile `integrity` (which checks every signature) before it replaces
/// the original; on any failure the original is untouched.
pub fn attach_signature(
    pack: &Path,
    capsule: &Digest,
    member: &str,
    bytes: &[u8],
    opts: &VerifyOptions,
) -> Result<Report, AttachError> {
    let shown = pack.display().to_string();
    let io = |source| WriteError::Io { path: shown.clone(), source };
    // Through a symlink, the file it names is the one rewritten; the new
    // file keeps the original's permissions.
    let pack = &std::fs::canonicalize(pack).map_err(|source| PackError::Open { path: shown.clone(), source })?;
    let permissions = std::fs::metadata(pack).map_err(io)?.permissions();
    let tmp = write_pack_beside::<AttachError, _>(pack, |w| {
        let mut inserted = false;
        read_pack_file::<AttachError, _>(pack, &opts.limits, |m| {
            if m.path.starts_with(paths::SIGNATURES_DIR) && !inserted && m.path >= member {
                w.append_bytes(member, bytes)?;
                inserted = true;
                if m.path == member {
                    return Ok(()); // replaced
                }
            }
            let (path, size) = (m.path.to_owned(), m.size);
            w.append(&path, size, m)?;
            Ok(())
        })?;
        if !inserted {
            w.append_bytes(member, bytes)?;
        }
        Ok(())
    })?;
    tmp.as_file().set_permissions(permissions).map_err(io)?;
    let check = VerifyOptions { profile: Profile::Integrity, ..opts.clone() };
    let (report, _) = verify_pack_file(tmp.path(), &check);
    if report.capsule_hash != Some(*capsule) {
        return Err(AttachError::Changed {
            expected: *capsule,
            found: report.capsule_hash.map_or_else(|| "unreadable".to_owned(), |h| h.to_string()),
        });
    }
    if !report.accepted() {
        return Err(AttachError::Rejected(Box::new(report)));
    }
    tmp.persist(pack).map_err(|e| io(e.error))?;
    Ok(report)
}
