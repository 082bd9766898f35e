//! The streaming pack reader: every pack is hostile.
//!
//! One pass over gzip and tar with bounded memory. Rejects absolute paths,
//! `..`, symlinks, hard links, devices, directories and every other non-file
//! entry, duplicate names, non-UTF-8 names, members or totals over the caps,
//! too many members, data after the archive, and corrupt or truncated gzip
//! (the gzip trailer's CRC and length are always checked). A declared size
//! over a cap fails before a byte of it is decompressed, so a gzip bomb fails
//! fast.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;

use super::path_problem;

/// Caps on what a pack may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest member, in bytes.
    pub max_member_bytes: u64,
    /// Largest total of member bytes.
    pub max_total_bytes: u64,
    /// Most members.
    pub max_members: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_member_bytes: 4 << 30, max_total_bytes: 16 << 30, max_members: 100_000 }
    }
}

/// Bytes of zero padding tolerated after the end-of-archive marker.
const MAX_TRAILING_ZEROS: u64 = 1 << 20;

/// A tar block.
const BLOCK: u64 = 512;

/// A member already read whose path is a directory of `path`, or that
/// lies under `path` as a directory: the two cannot both be files.
pub(crate) fn conflict(seen: &BTreeSet<String>, path: &str) -> Option<String> {
    let mut at = 0;
    while let Some(i) = path[at..].find('/') {
        let dir = &path[..at + i];
        if seen.contains(dir) {
            return Some(dir.to_owned());
        }
        at += i + 1;
    }
    let under = format!("{path}/");
    seen.range(under.clone()..).next().filter(|p| p.starts_with(&under)).cloned()
}

/// Why a pack is rejected at the container level. Each variant has a stable
/// finding code ([`PackError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The pack file could not be opened.
    #[error("failed to open pack `{path}`")]
    Open {
        /// The path.
        path: String,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// Corrupt or truncated gzip or tar data.
    #[error("corrupt or truncated pack data")]
    Corrupt(#[source] io::Error),
    /// A member name that is not UTF-8.
    #[error("member name is not UTF-8")]
    NonUtf8Path,
    /// A member path that could escape or is not normal.
    #[error("unsafe member path `{path}`: {reason}")]
    UnsafePath {
        /// The path (lossy).
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A member that is not a regular file.
    #[error("member `{path}` is a {kind}, not a regular file")]
    EntryType {
        /// The path.
        path: String,
        /// The kind.
        kind: String,
    },
    /// The same name twice.
    #[error("duplicate member `{path}`")]
    Duplicate {
        /// The path.
        path: String,
    },
    /// A member over the member cap.
    #[error("member `{path}` is {size} bytes, over the cap of {limit}")]
    MemberTooLarge {
        /// The path.
        path: String,
        /// Declared size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// Members over the total cap.
    #[error("pack members total more than the cap of {limit} bytes")]
    TotalTooLarge {
        /// The cap.
        limit: u64,
    },
    /// Too many members.
    #[error("pack has more than {limit} members")]
    TooManyMembers {
        /// The cap.
        limit: u32,
    },
    /// Bytes after the archive, inside or after the gzip stream.
    #[error("data after the end of the archive")]
    TrailingData,
    /// A member that is also a directory of another member's path.
    #[error("member `{path}` conflicts with member `{other}`: one would be a directory of the other")]
    PathConflict {
        /// The later member.
        path: String,
        /// The earlier one.
        other: String,
    },
    /// The archive ends without its end-of-archive marker.
    #[error("the archive has no end-of-archive marker (two zero blocks): it is truncated")]
    NoEndMarker,
    /// A member that is shorter than its header says.
    #[error("member `{path}` is truncated")]
    Truncated {
        /// The path.
        path: String,
    },
    /// Writing an unpacked member failed.
    #[error("failed to write unpacked member `{path}`")]
    Write {
        /// The destination.
        path: String,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The unpack destination already exists.
    #[error("destination `{path}` already exists; name a new directory")]
    DestinationExists {
        /// The destination.
        path: String,
    },
}

impl PackError {
    /// The stable finding code.
    pub fn code(&self) -> &'static str {
        match self {
            PackError::Open { .. } | PackError::Write { .. } | PackError::DestinationExists { .. } => "pack-io",
            PackError::Corrupt(_) | PackError::Truncated { .. } | PackError::NoEndMarker => "pack-corrupt",
            PackError::PathConflict { .. } => "pack-path-conflict",
            PackError::NonUtf8Path => "pack-non-utf8-path",
            PackError::UnsafePath { .. } => "pack-unsafe-path",
            PackError::EntryType { .. } => "pack-entry-type",
            PackError::Duplicate { .. } => "pack-duplicate-member",
            PackError::MemberTooLarge { .. } => "pack-member-too-large",
            PackError::TotalTooLarge { .. } | PackError::TooManyMembers { .. } => "pack-too-large",
            PackError::TrailingData => "pack-trailing-data",
        }
    }
}

/// One member being read: its path, declared size and bytes.
pub struct Member<'a> {
    /// The validated path.
    pub path: &'a str,
    /// The declared size.
    pub size: u64,
    reader: &'a mut dyn Read,
    read: u64,
}

impl Read for Member<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl Member<'_> {
    /// Reads the whole member into memory (the caller has checked the size
    /// against its own budget).
    pub fn read_all(&mut self) -> Result<Vec<u8>, PackError> {
        let mut v = Vec::with_capacity(self.size.min(64 << 20) as usize);
        self.read_to_end(&mut v).map_err(PackError::Corrupt)?;
        Ok(v)
    }
}

/// Reads a pack file, calling `visit` for each member in order.
pub fn read_pack_file<E, F>(path: &Path, limits: &Limits, visit: F) -> Result<(), E>
where
    E: From<PackError>,
    F: FnMut(&mut Member<'_>) -> Result<(), E>,
{
    let f = File::open(path).map_err(|source| PackError::Open { path: path.display().to_string(), source })?;
    read_members(BufReader::with_capacity(1 << 20, f), limits, visit)
}

/// Reads a pack from `r`, calling `visit` for each member in order. Whatever
/// `visit` leaves unread is skipped (and still decompressed, so integrity
/// and caps hold). Returns the first error.
pub fn read_members<R, E, F>(r: R, limits: &Limits, mut visit: F) -> Result<(), E>
where
    R: BufRead,
    E: From<PackError>,
    F: FnMut(&mut Member<'_>) -> Result<(), E>,
{
    let mut archive = tar::Archive::new(GzDecoder::new(r));
    let mut seen = BTreeSet::new();
    let mut total: u64 = 0;
    // Raw mode: GNU long-name and pax extension headers arrive as entries
    // (and are rejected below as non-files) instead of being read whole,
    // uncapped, by the tar crate before we see them.
    let entries = archive.entries().map_err(PackError::Corrupt)?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(PackError::Corrupt)?;
        // A ustar header may split a long name into `prefix` and `name`;
        // our writer never does (paths fit the 100-byte `name`), so a
        // prefix is refused rather than joined: one header, one reading.
        if let Some(u) = entry.header().as_ustar()
            && u.prefix.iter().any(|b| *b != 0)
        {
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            return Err(PackError::UnsafePath { path, reason: "the ustar `prefix` field is set" }.into());
        }
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw).map_err(|_| PackError::NonUtf8Path)?;
        if let Some(reason) = path_problem(&path) {
            return Err(PackError::UnsafePath { path, reason }.into());
        }
        let et = entry.header().entry_type();
        if !matches!(et, tar::EntryType::Regular) {
            return Err(PackError::EntryType { path, kind: entry_kind(et).to_owned() }.into());
        }
        if seen.contains(&path) {
            return Err(PackError::Duplicate { path }.into());
        }
        if let Some(other) = conflict(&seen, &path) {
            return Err(PackError::PathConflict { path, other }.into());
        }
        seen.insert(path.clone());
        if seen.len() as u64 > u64::from(limits.max_members) {
            return Err(PackError::TooManyMembers { limit: limits.max_members }.into());
        }
        let size = entry.size();
        if size > limits.max_member_bytes {
            return Err(PackError::MemberTooLarge { path, size, limit: limits.max_member_bytes }.into());
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(PackError::TotalTooLarge { limit: limits.max_total_bytes }.into());
        }
        let mut m = Member { path: &path, size, reader: &mut entry, read: 0 };
        visit(&mut m)?;
        // Drain the rest so truncation is detected here, not by a later
        // header read.
        let rest = io::copy(&mut m, &mut io::sink()).map_err(PackError::Corrupt)?;
        let _ = rest;
        if m.read != size {
            return Err(PackError::Truncated { path }.into());
        }
    }
    // The entries end at the first zero block (read by the tar reader) or
    // at the end of the data; the marker's second zero block must follow.
    // Past it only zero padding may follow, and the gzip stream must end
    // cleanly (CRC and length checked) with nothing after it in the file.
    let mut gz = archive.into_inner();
    let mut buf = [0u8; 8192];
    let mut trailing: u64 = 0;
    loop {
        let n = gz.read(&mut buf).map_err(PackError::Corrupt)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(PackError::TrailingData.into());
        }
        trailing += n as u64;
        if trailing > MAX_TRAILING_ZEROS {
            return Err(PackError::TrailingData.into());
        }
    }
    if trailing < BLOCK {
        return Err(PackError::NoEndMarker.into());
    }
    let mut inner = gz.into_inner();
    let after = inner.fill_buf().map_err(PackError::Corrupt)?;
    if !after.is_empty() {
        return Err(PackError::TrailingData.into());
    }
    Ok(())
}

fn entry_kind(et: tar::EntryType) -> &'static str {
    match et {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Directory => "directory",
        tar::EntryType::Fifo => "fifo",
        tar::EntryType::Continuous => "contiguous file",
        tar::EntryType::GNULongName | tar::EntryType::GNULongLink => "GNU long-name header",
        tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => "pax extension header",
        tar::EntryType::GNUSparse => "sparse file",
        _ => "non-file entry",
    }
}

/// Unpacks every member of the pack at `pack` into the new directory
/// `dest`. Members are written into a temporary directory beside `dest`,
/// which is renamed into place only when the whole pack has been read, so a
/// rejected pack leaves nothing behind. Paths were validated, and the
/// temporary directory is fresh, so nothing can land outside it.
pub fn unpack(pack: &Path, dest: &Path, limits: &Limits) -> Result<Vec<PathBuf>, PackError> {
    if dest.exists() {
        return Err(PackError::DestinationExists { path: dest.display().to_string() });
    }
    let parent = super::parent_dir(dest);
    let werr = |path: &Path, source| PackError::Write { path: path.display().to_string(), source };
    let tmp = tempfile::Builder::new().prefix(".capsule-unpack-").tempdir_in(parent).map_err(|e| werr(parent, e))?;
    let mut written = Vec::new();
    read_pack_file::<PackError, _>(pack, limits, |m| {
        let rel = PathBuf::from(m.path);
        let out = tmp.path().join(&rel);
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| werr(dir, e))?;
        }
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&out).map_err(|e| werr(&out, e))?;
        // Reading the pack and writing the destination fail differently:
        // a full disk is not a corrupt pack.
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = m.read(&mut buf).map_err(PackError::Corrupt)?;
            if n == 0 {
                break;
            }
            f.write_all(&buf[..n]).map_err(|e| werr(&out, e))?;
        }
        f.flush().map_err(|e| werr(&out, e))?;
        written.push(rel);
        Ok(())
    })?;
    let kept = tmp.keep();
    std::fs::rename(&kept, dest).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        werr(dest, e)
    })?;
    Ok(written)
}
