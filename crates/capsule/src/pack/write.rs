//! The deterministic pack writer.
//!
//! Same capsule and members in, byte-identical `.tgz` out: ustar headers with
//! mode 0644, uid/gid 0, empty owner names and mtime 0; members in the order
//! the caller gives (the builder gives `capsule.json`, then the listed
//! members sorted by path, then signatures); gzip at level 6 with no name,
//! mtime 0 and OS byte 255. Files reach their destination only by rename.

use std::io::{self, Read, Write};
use std::path::Path;

use flate2::{Compression, GzBuilder};

use super::path_problem;

/// Why a pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A member path the reader would reject.
    #[error("refusing to write member `{path}`: {reason}")]
    Path {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The same path twice.
    #[error("refusing to write member `{path}` twice")]
    Duplicate {
        /// The path.
        path: String,
    },
    /// An I/O failure.
    #[error("failed to write pack `{path}`")]
    Io {
        /// The destination.
        path: String,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

/// Writes members into a deterministic `.tgz` stream.
pub struct PackWriter<W: Write> {
    tar: tar::Builder<flate2::write::GzEncoder<W>>,
    seen: std::collections::BTreeSet<String>,
}

impl<W: Write> PackWriter<W> {
    /// Starts a pack on `w`.
    pub fn new(w: W) -> Self {
        let gz = GzBuilder::new().mtime(0).operating_system(255).write(w, Compression::new(6));
        PackWriter { tar: tar::Builder::new(gz), seen: Default::default() }
    }

    /// Appends a member of `size` bytes read from `data`.
    pub fn append(&mut self, path: &str, size: u64, data: impl Read) -> Result<(), WriteError> {
        if let Some(reason) = path_problem(path) {
            return Err(WriteError::Path { path: path.to_owned(), reason });
        }
        if !self.seen.insert(path.to_owned()) {
            return Err(WriteError::Duplicate { path: path.to_owned() });
        }
        let mut h = tar::Header::new_ustar();
        h.set_path(path).map_err(|source| io_err(path, source))?;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_username("").map_err(|source| io_err(path, source))?;
        h.set_groupname("").map_err(|source| io_err(path, source))?;
        h.set_cksum();
        self.tar.append(&h, data.take(size)).map_err(|source| io_err(path, source))
    }

    /// Appends an in-memory member.
    pub fn append_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<(), WriteError> {
        self.append(path, bytes.len() as u64, bytes)
    }

    /// Finishes the archive and the gzip stream, returning the writer.
    pub fn finish(self) -> Result<W, WriteError> {
        let gz = self.tar.into_inner().map_err(|source| io_err("<pack>", source))?;
        gz.finish().map_err(|source| io_err("<pack>", source))
    }
}

fn io_err(path: &str, source: io::Error) -> WriteError {
    WriteError::Io { path: path.to_owned(), source }
}

/// Writes a pack to `dest` atomically: into a temporary file beside it, then
/// renamed into place, so an interrupted write never leaves a partial pack.
pub fn write_pack_file<E, F>(dest: &Path, fill: F) -> Result<(), E>
where
    E: From<WriteError>,
    F: FnOnce(&mut PackWriter<io::BufWriter<&mut std::fs::File>>) -> Result<(), E>,
{
    let tmp = write_pack_beside(dest, fill)?;
    tmp.persist(dest).map_err(|e| io_err(&dest.display().to_string(), e.error))?;
    Ok(())
}

/// Writes a pack into a synced temporary file beside `dest` (same
/// directory, so renaming it into place is atomic) and returns it, for a
/// caller that checks the pack before [`tempfile::NamedTempFile::persist`].
/// Dropping it removes it.
pub fn write_pack_beside<E, F>(dest: &Path, fill: F) -> Result<tempfile::NamedTempFile, E>
where
    E: From<WriteError>,
    F: FnOnce(&mut PackWriter<io::BufWriter<&mut std::fs::File>>) -> Result<(), E>,
{
    let shown = dest.display().to_string();
    let mut tmp = tempfile::Builder::new()
        .prefix(".capsulepack-")
        .suffix(".partial")
        .tempfile_in(super::parent_dir(dest))
        .map_err(|source| io_err(&shown, source))?;
    {
        let mut w = PackWriter::new(io::BufWriter::new(tmp.as_file_mut()));
        fill(&mut w)?;
        let buf: io::BufWriter<&mut std::fs::File> = w.finish()?;
        buf.into_inner()
            .map_err(|e| io_err(&shown, e.into_error()))?
            .sync_all()
            .map_err(|source| io_err(&shown, source))?;
    }
    Ok(tmp)
}

/// Writes a small file atomically: into a temporary file beside `dest`,
/// synced, then renamed into place.
pub fn atomic_write(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp =
        tempfile::Builder::new().prefix(".capsule-").suffix(".partial").tempfile_in(super::parent_dir(dest))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}
