//! Capsulepacks: the one `.tgz` a receipt travels in.
//!
//! Owns the byte-level container: a deterministic writer ([`write`]) and a
//! streaming reader that treats every pack as hostile ([`read`]). This module
//! knows paths, sizes and bytes; what members mean is the verifier's
//! business. Nothing here writes outside a directory the caller names.

pub mod read;
pub mod write;

pub use read::{Limits, Member, PackError, read_members, read_pack_file, unpack};
pub use write::{PackWriter, WriteError, atomic_write, write_pack_beside, write_pack_file};

/// Longest member path, in bytes (fits a ustar name field, so no extension
/// headers are ever needed).
pub const MAX_PATH_LEN: usize = 100;

/// The directory that holds `dest` (`.` for a bare file name): where
/// temporary files go so that a rename into place stays on one file system.
pub fn parent_dir(dest: &std::path::Path) -> &std::path::Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    }
}

/// Why a member path is unsafe, or `None` when it is acceptable: relative,
/// `/`-separated, no empty, `.` or `..` component, each component of
/// `[A-Za-z0-9._-]` not starting with `.`, at most [`MAX_PATH_LEN`] bytes.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty path");
    }
    if path.len() > MAX_PATH_LEN {
        return Some("path longer than 100 bytes");
    }
    if path.starts_with('/') {
        return Some("absolute path");
    }
    for comp in path.split('/') {
        match comp {
            "" => return Some("empty path component or trailing slash"),
            "." | ".." => return Some("`.` or `..` component"),
            _ if comp.starts_with('.') => return Some("component starting with `.`"),
            _ if !comp.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) => {
                return Some("character outside [A-Za-z0-9._-/]");
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        for (p, ok) in [
            ("capsule.json", true),
            ("proofs/stark-v1.bin", true),
            ("/etc/passwd", false),
            ("../x", false),
            ("a/../b", false),
            ("a//b", false),
            ("a/", false),
            ("./a", false),
            (".hidden", false),
            ("a\\b", false),
            ("a b", false),
            ("", false),
        ] {
            assert_eq!(path_problem(p).is_none(), ok, "{p}");
        }
        assert!(path_problem(&"a".repeat(101)).is_some());
    }
}
