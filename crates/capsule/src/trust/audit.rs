//! Data-availability audits: does the row archive a capsule commits to
//! still hold its rows? The verifier draws chunk indices from its own
//! randomness, opens those chunks from an external archive and checks each
//! against the trace root. Chunks a prover picks prove nothing; only draws
//! the verifier makes count.
//!
//! Owns the row archive layout (`capsulebench/row-archive/v1`), the draw
//! (seed → distinct indices), the audit itself and the detection
//! probability a number of samples implies.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Tag, TaggedHasher};
use crate::rows::{self, Commitment};

/// The schema of `archive.json`.
pub const ARCHIVE_SCHEMA: &str = "capsulebench/row-archive/v1";
/// The archive's description.
pub const ARCHIVE_JSON: &str = "archive.json";
/// The rows, contiguous: chunk `i` is at byte `i · chunk_len · row_width`.
pub const ARCHIVE_ROWS: &str = "rows.bin";
/// The chunk digests, 32 bytes each, in chunk order.
pub const ARCHIVE_LEAVES: &str = "leaves.bin";

/// `archive.json`: which commitment the archive serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveV1 {
    /// Always `capsulebench/row-archive/v1`.
    pub schema: String,
    /// The commitment whose rows this is.
    pub commitment: Commitment,
}

/// Why an archive cannot be written or audited at all.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file of the archive could not be read or written.
    #[error("failed to access `{path}`")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The pack could not be read.
    #[error("failed to read the pack")]
    Pack(#[from] crate::pack::PackError),
    /// `archive.json` is not an archive description, or the pack's rows
    /// cannot be archived.
    #[error("`{path}` is not a row archive description: {why}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

/// Writes the row archive of the pack at `pack` into the new directory
/// `dir`: its rows streamed out of `rows/rows.bin`, the chunk digests
/// recomputed on the way, and `archive.json` naming the commitment. The
/// caller verifies the pack first; the rows must recommit to its root.
pub fn write_archive(pack: &Path, dir: &Path, limits: &crate::pack::Limits) -> Result<Commitment, ArchiveError> {
    use std::io::Write as _;
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| ArchiveError::Io { path, source }
    };
    if dir.exists() {
        return Err(ArchiveError::Io {
            path: dir.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the archive directory already exists"),
        });
    }
    let parent = crate::pack::parent_dir(dir);
    let staging = tempfile::Builder::new().prefix(".capsule-archive-").tempdir_in(parent).map_err(io(parent))?;
    let mut commitment: Option<Commitment> = None;
    let mut leaves: Option<Vec<Digest>> = None;
    let malformed = |why: String| ArchiveError::Malformed { path: pack.display().to_string(), why };
    crate::pack::read_pack_file::<ArchiveError, _>(pack, limits, |m| {
        if m.path == crate::objects::paths::CAPSULE {
            let bytes = m.read_all().map_err(|e| malformed(e.to_string()))?;
            let cap: crate::objects::CapsuleV1 =
                crate::canonical::parse(&bytes).map_err(|e| malformed(e.to_string()))?;
            commitment = Some(cap.commitment);
        } else if m.path == crate::objects::paths::ROWS {
            let c = commitment.as_ref().ok_or_else(|| malformed("`capsule.json` is not first".into()))?;
            let mut committer = rows::RowCommitter::new(c.params()).map_err(|e| malformed(e.to_string()))?;
            let out_path = staging.path().join(ARCHIVE_ROWS);
            let mut out = std::io::BufWriter::new(std::fs::File::create(&out_path).map_err(io(&out_path))?);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = m.read(&mut buf).map_err(|e| malformed(e.to_string()))?;
                if n == 0 {
                    break;
                }
                committer.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(io(&out_path))?;
            }
            out.into_inner().map_err(|e| io(&out_path)(e.into_error()))?.sync_all().map_err(io(&out_path))?;
            let (got, l) = committer.finish().map_err(|e| malformed(e.to_string()))?;
            if got != *c {
                return Err(malformed(format!("the rows recommit to {}, not the trace root {}", got.root, c.root)));
            }
            leaves = Some(l);
        }
        Ok(())
    })?;
    let commitment = commitment.ok_or_else(|| malformed("no `capsule.json`".into()))?;
    let leaves = match leaves {
        Some(l) => l,
        None if commitment.row_count == 0 => {
            let p = staging.path().join(ARCHIVE_ROWS);
            std::fs::write(&p, b"").map_err(io(&p))?;
            Vec::new()
        }
        None => return Err(malformed(format!("the pack carries no `{}` to archive", crate::objects::paths::ROWS))),
    };
    let desc = ArchiveV1 { schema: ARCHIVE_SCHEMA.to_owned(), commitment: commitment.clone() };
    let json = crate::canonical::to_vec(&desc).map_err(|e| malformed(e.to_string()))?;
    let leaf_bytes: Vec<u8> = leaves.iter().flat_map(|d| d.0).collect();
    for (name, bytes) in [(ARCHIVE_LEAVES, &leaf_bytes[..]), (ARCHIVE_JSON, &json[..])] {
        let p = staging.path().join(name);
        std::fs::write(&p, bytes).map_err(io(&p))?;
    }
    let kept = staging.keep();
    std::fs::rename(&kept, dir).map_err(io(dir))?;
    Ok(commitment)
}

/// The `count` distinct chunk indices below `chunks` that `seed` draws:
/// the `j`-th candidate is the first 8 bytes (little-endian) of
/// `H(audit-draw, seed ‖ le64(j))`, rejected when it falls in the biased
/// tail above the largest multiple of `chunks`, else reduced modulo
/// `chunks`; repeats are skipped. `count` is capped at `chunks`.
pub fn draw(seed: &[u8; 32], chunks: u64, count: u64) -> Vec<u64> {
    let want = count.min(chunks);
    let mut out = Vec::with_capacity(want as usize);
    let mut seen = std::collections::HashSet::new();
    if chunks == 0 {
        return out;
    }
    // Reject x >= 2^64 - (2^64 mod chunks), so every index is equally
    // likely; `tail` is 2^64 mod chunks.
    let tail = (u64::MAX % chunks + 1) % chunks;
    let mut j: u64 = 0;
    while (out.len() as u64) < want {
        let mut h = TaggedHasher::new(Tag::AuditDraw);
        h.update(seed);
        h.update(&j.to_le_bytes());
        j += 1;
        let d = h.finish();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d.0[..8]);
        let x = u64::from_le_bytes(first);
        if tail != 0 && x > u64::MAX - tail {
            continue;
        }
        let idx = x % chunks;
        if seen.insert(idx) {
            out.push(idx);
        }
    }
    out
}

/// The probability, in parts per million (nearest; binary64 arithmetic in
/// the order written), that `samples`
/// distinct uniform draws among `chunks` chunks hit at least one of the
/// `bad = ceil(fraction_ppm · chunks / 10^6)` withheld or altered chunks:
/// `1 − Π_{i<samples} (chunks − bad − i) / (chunks − i)`.
pub fn detection_ppm(chunks: u64, samples: u64, fraction_ppm: u64) -> u64 {
    if chunks == 0 || fraction_ppm == 0 {
        return 0;
    }
    let bad = (u128::from(fraction_ppm.min(1_000_000)) * u128::from(chunks)).div_ceil(1_000_000) as u64;
    let samples = samples.min(chunks);
    if samples > chunks - bad {
        return 1_000_000;
    }
    let mut miss = 1.0f64;
    for i in 0..samples {
        miss *= (chunks - bad - i) as f64 / (chunks - i) as f64;
    }
    ((1.0 - miss) * 1e6).round().clamp(0.0, 1e6) as u64
}

/// One drawn chunk that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkFailure {
    /// The chunk index.
    pub index: u64,
    /// `missing` (not retrievable) or `altered` (does not match the root).
    pub kind: &'static str,
    /// Details.
    pub detail: String,
}

/// The outcome of an audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The archive directory.
    pub archive: String,
    /// The seed, hex (replay the audit with `--seed`).
    pub seed: String,
    /// Whether the verifier drew the seed itself (`false`: given by the
    /// user, for reproduction).
    pub seed_from_verifier: bool,
    /// Chunks in the trace.
    pub chunks: u64,
    /// The indices drawn, in draw order.
    pub drawn: Vec<u64>,
    /// The withheld fraction the probability is stated for, in ppm.
    pub withheld_fraction_ppm: u64,
    /// The probability that these draws would catch that fraction, in ppm.
    pub detection_ppm: u64,
    /// Draws that failed.
    pub failures: Vec<ChunkFailure>,
    /// The archive does not serve this commitment at all (why).
    pub archive_problem: Option<String>,
}

impl AuditReport {
    /// Whether every drawn chunk was retrieved and matched.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.archive_problem.is_none()
    }
}

/// How to audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditOptions {
    /// The archive directory.
    pub archive: PathBuf,
    /// Chunks to draw.
    pub samples: u64,
    /// A seed to reproduce an audit; `None`: the verifier's own randomness.
    pub seed: Option<[u8; 32]>,
    /// The withheld fraction to state the detection probability for, ppm.
    pub withheld_fraction_ppm: u64,
    /// Bytes of chunk digests the auditor may hold.
    pub budget: u64,
}

/// Draws a seed from the operating system.
pub fn fresh_seed() -> Result<[u8; 32], getrandom::Error> {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s)?;
    Ok(s)
}

/// Audits the archive in `opts.archive` against `commitment`.
pub fn audit(commitment: &Commitment, opts: &AuditOptions, seed: [u8; 32]) -> AuditReport {
    let mut rep = AuditReport {
        archive: opts.archive.display().to_string(),
        seed: hex::encode(seed),
        seed_from_verifier: opts.seed.is_none(),
        chunks: commitment.chunk_count,
        drawn: Vec::new(),
        withheld_fraction_ppm: opts.withheld_fraction_ppm,
        detection_ppm: 0,
        failures: Vec::new(),
        archive_problem: None,
    };
    let leaves = match open_leaves(commitment, opts) {
        Ok(l) => l,
        Err(why) => {
            rep.archive_problem = Some(why);
            return rep;
        }
    };
    rep.drawn = draw(&seed, commitment.chunk_count, opts.samples);
    rep.detection_ppm = detection_ppm(commitment.chunk_count, rep.drawn.len() as u64, opts.withheld_fraction_ppm);
    let rows_path = opts.archive.join(ARCHIVE_ROWS);
    // An absent rows file withholds every drawn chunk; one that is there
    // but not a regular file is refused outright.
    let mut file = match open_archive_file(&rows_path) {
        Ok(f) => Some(f),
        Err(_) if std::fs::symlink_metadata(&rows_path).is_err() => None,
        Err(why) => {
            rep.archive_problem = Some(why);
            return rep;
        }
    };
    let p = commitment.params();
    for &index in &rep.drawn {
        let n = p.rows_in_chunk(commitment.row_count, index);
        let len = n * u64::from(p.row_width);
        let offset = index * p.chunk_bytes() as u64;
        let mut chunk = vec![0u8; len as usize];
        let got = file.as_mut().map(|f| f.seek(SeekFrom::Start(offset)).and_then(|_| f.read_exact(&mut chunk)));
        match got {
            Some(Ok(())) => {
                let d = rows::leaf(index, n, &chunk);
                if d != leaves[index as usize] {
                    rep.failures.push(ChunkFailure {
                        index,
                        kind: "altered",
                        detail: format!(
                            "chunk {index} hashes to {d}, the committed digest is {}",
                            leaves[index as usize]
                        ),
                    });
                }
            }
            Some(Err(e)) => rep.failures.push(ChunkFailure {
                index,
                kind: "missing",
                detail: format!("chunk {index} ({len} bytes at offset {offset}) cannot be read: {e}"),
            }),
            None => rep.failures.push(ChunkFailure {
                index,
                kind: "missing",
                detail: format!("`{}` cannot be opened", rows_path.display()),
            }),
        }
    }
    rep
}

/// Opens a file of the archive, which is the prover's and so hostile: a
/// symbolic link is not followed (it could point anywhere on the auditor's
/// machine), opening never blocks (a FIFO would wait forever for a writer),
/// and only a regular file is read.
fn open_archive_file(path: &Path) -> Result<std::fs::File, String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!("`{}` is a symbolic link; an archive holds regular files only", path.display()));
    }
    let f = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return format!("`{}` is a symbolic link; an archive holds regular files only", path.display());
        }
        format!("`{}` cannot be read: {e}", path.display())
    })?;
    let meta = f.metadata().map_err(|e| format!("`{}` cannot be read: {e}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!("`{}` is not a regular file; an archive holds regular files only", path.display()));
    }
    Ok(f)
}

/// Reads at most `cap` bytes of `path`, failing if it holds more: the
/// archive is the prover's, so its files are read under the auditor's caps.
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let f = open_archive_file(path)?;
    let mut bytes = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("`{}` cannot be read: {e}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(format!("`{}` holds more than the {cap} bytes it may", path.display()));
    }
    Ok(bytes)
}

/// Reads the archive's description and chunk digests and checks them
/// against `commitment` (the digests must recommit to its root).
fn open_leaves(commitment: &Commitment, opts: &AuditOptions) -> Result<Vec<Digest>, String> {
    let desc_path = opts.archive.join(ARCHIVE_JSON);
    let text = read_capped(&desc_path, 1 << 20)?;
    let desc: ArchiveV1 = crate::canonical::parse_lenient(&text)
        .map_err(|e| format!("`{}` is not a row archive description: {e}", desc_path.display()))?;
    if desc.schema != ARCHIVE_SCHEMA || desc.commitment != *commitment {
        return Err(format!("`{}` describes another commitment (root {})", desc_path.display(), desc.commitment.root));
    }
    let want = commitment.chunk_count.saturating_mul(32);
    if want > opts.budget {
        return Err(format!(
            "{} chunk digests exceed the auditor's budget of {} bytes",
            commitment.chunk_count, opts.budget
        ));
    }
    let leaves_path = opts.archive.join(ARCHIVE_LEAVES);
    let bytes = read_capped(&leaves_path, want)?;
    if bytes.len() as u64 != want {
        return Err(format!(
            "`{}` is {} bytes; {} chunk digests need {want}",
            leaves_path.display(),
            bytes.len(),
            commitment.chunk_count
        ));
    }
    let leaves: Vec<Digest> = bytes
        .chunks_exact(32)
        .map(|c| {
            let mut d = [0u8; 32];
            d.copy_from_slice(c);
            Digest(d)
        })
        .collect();
    let root = rows::root_from_leaves(&commitment.params(), commitment.row_count, &leaves);
    if root != commitment.root {
        return Err(format!("`{}` recommits to {root}, not the trace root {}", leaves_path.display(), commitment.root));
    }
    Ok(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_distinct_in_range_and_reproducible() {
        let seed = [7u8; 32];
        for (chunks, count) in [(1u64, 5u64), (10, 10), (1000, 50), (3, 2)] {
            let d = draw(&seed, chunks, count);
            assert_eq!(d.len() as u64, count.min(chunks));
            assert!(d.iter().all(|i| *i < chunks));
            let set: std::collections::HashSet<_> = d.iter().collect();
            assert_eq!(set.len(), d.len());
            assert_eq!(d, draw(&seed, chunks, count));
        }
        assert!(draw(&seed, 0, 5).is_empty());
    }

    #[test]
    fn detection_probability_matches_a_simulation() {
        // 1000 chunks, 1 % withheld (10 chunks), 100 draws.
        let (chunks, samples, fraction) = (1000u64, 100u64, 10_000u64);
        let p = detection_ppm(chunks, samples, fraction) as f64 / 1e6;
        let bad: std::collections::HashSet<u64> = (0..10).map(|i| i * 97).collect();
        let trials = 20_000u32;
        let mut caught = 0u32;
        for t in 0..trials {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&t.to_le_bytes());
            if draw(&seed, chunks, samples).iter().any(|i| bad.contains(i)) {
                caught += 1;
            }
        }
        let sim = f64::from(caught) / f64::from(trials);
        let sigma = (p * (1.0 - p) / f64::from(trials)).sqrt();
        assert!((sim - p).abs() < 5.0 * sigma, "simulated {sim}, formula {p}");
        // Edge cases of the formula.
        assert_eq!(detection_ppm(10, 10, 100_000), 1_000_000);
        assert_eq!(detection_ppm(10, 0, 100_000), 0);
        assert_eq!(detection_ppm(10, 1, 100_000), 100_000);
    }
}
