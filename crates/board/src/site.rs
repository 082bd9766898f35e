//! Writing the site: [`build`] verifies every pack under some directories
//! (in parallel) and writes a whole site, into a fresh directory renamed
//! into place; [`add`] verifies one pack and rewrites only the files it
//! changes, each written whole and renamed into place. The layout is
//! docs/spec/board.md §4.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use capsule::digest::Digest;
use rayon::prelude::*;
use serde::Serialize;

use crate::collect::{Checked, Outcome, Verifier, WorkloadKey, check, file_digest};
use crate::model::{BOARD_SCHEMA, BoardV1, EntryV1, RejectedV1, WorkloadV1};
use crate::{BoardError, cache, chart, html};

/// What a build or an add did.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Always `capsulebench/board-summary/v1`.
    pub schema: &'static str,
    /// The site directory.
    pub site: String,
    /// Packs read.
    pub packs: usize,
    /// Of them, verified now.
    pub verified: usize,
    /// Of them, whose verdict the cache held.
    pub cached: usize,
    /// Packs whose capsule another pack already showed.
    pub duplicates: usize,
    /// Entries on the board, by track.
    pub certified: usize,
    /// Community entries.
    pub community: usize,
    /// Rejected packs on the board.
    pub rejected: usize,
    /// Milliseconds the verification took.
    pub verify_ms: u64,
    /// Files written, relative to the site.
    pub written: usize,
}

/// A site's files are for everyone to read (a web server's user, a Pages
/// upload), whatever the temporary file they were written as.
fn readable(f: &tempfile::NamedTempFile, path: &Path) -> Result<(), BoardError> {
    use std::os::unix::fs::PermissionsExt;
    f.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|source| BoardError::Io {
        what: "write",
        path: path.to_owned(),
        source,
    })
}

/// Writes `bytes` to `path` whole: a temporary file beside it, renamed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BoardError> {
    use std::io::Write;
    let dir = capsule::pack::parent_dir(path);
    let io = |what, p: &Path| {
        let p = p.to_owned();
        move |source| BoardError::Io { what, path: p, source }
    };
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let mut tmp = tempfile::Builder::new().prefix(".board-").tempfile_in(dir).map_err(io("write in", dir))?;
    tmp.write_all(bytes).map_err(io("write", path))?;
    readable(&tmp, path)?;
    tmp.persist(path).map_err(|e| BoardError::Io { what: "write", path: path.to_owned(), source: e.error })?;
    Ok(())
}

fn copy_atomic(from: &Path, to: &Path) -> Result<(), BoardError> {
    let dir = capsule::pack::parent_dir(to);
    std::fs::create_dir_all(dir).map_err(|source| BoardError::Io { what: "create", path: dir.to_owned(), source })?;
    let tmp = tempfile::Builder::new().prefix(".board-").tempfile_in(dir).map_err(|source| BoardError::Io {
        what: "write in",
        path: dir.to_owned(),
        source,
    })?;
    std::fs::copy(from, tmp.path()).map_err(|source| BoardError::Io { what: "copy", path: from.to_owned(), source })?;
    readable(&tmp, to)?;
    tmp.persist(to).map_err(|e| BoardError::Io { what: "write", path: to.to_owned(), source: e.error })?;
    Ok(())
}

/// Every `*.tgz` file under `dirs` (recursively), sorted.
fn packs_under(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, BoardError> {
    let mut out = Vec::new();
    let mut todo: Vec<PathBuf> = dirs.to_vec();
    while let Some(d) = todo.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| BoardError::Io { what: "read", path: d.clone(), source })?;
        for e in rd {
            let e = e.map_err(|source| BoardError::Io { what: "read", path: d.clone(), source })?;
            let p = e.path();
            let ft = e.file_type().map_err(|source| BoardError::Io { what: "read", path: p.clone(), source })?;
            if ft.is_dir() {
                todo.push(p);
            } else if ft.is_file() && p.extension().is_some_and(|x| x == "tgz") {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(BoardError::NoPacks { dirs: dirs.to_vec() });
    }
    Ok(out)
}

/// The board being assembled: entries by capsule hash, rejections by pack
/// digest, with what each page needs.
#[derive(Default)]
struct Assembly {
    entries: BTreeMap<Digest, (WorkloadKey, EntryV1)>,
    rejected: BTreeMap<Digest, RejectedV1>,
    duplicates: usize,
}

/// Lower is kept: certified first, then the most allowed signatures, the
/// most signatures, and the lowest pack digest.
fn rank(e: &EntryV1) -> (u8, std::cmp::Reverse<usize>, std::cmp::Reverse<usize>, Digest) {
    let allowed = e.trust.signers.iter().filter(|s| s.allowed).count();
    (
        u8::from(e.track != "certified"),
        std::cmp::Reverse(allowed),
        std::cmp::Reverse(e.trust.signers.len()),
        e.pack_digest,
    )
}

impl Assembly {
    /// Adds an outcome; of two packs of one capsule, the one [`rank`]ed
    /// lower stays. Returns whether the
    /// board changed.
    fn insert(&mut self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Rejected(r) => self.rejected.insert(r.pack_digest, r.clone()).as_ref() != Some(&r),
            Outcome::Shown { key, entry } => match self.entries.get(&entry.capsule_hash) {
                Some((_, old)) if rank(old) <= rank(&entry) => {
                    self.duplicates += usize::from(old.pack_digest != entry.pack_digest);
                    false
                }
                Some(_) => {
                    self.duplicates += 1;
                    self.entries.insert(entry.capsule_hash, (key, *entry));
                    true
                }
                None => {
                    self.entries.insert(entry.capsule_hash, (key, *entry));
                    true
                }
            },
        }
    }

    fn board(&self, v: &Verifier) -> BoardV1 {
        let mut groups: BTreeMap<String, (WorkloadKey, Vec<EntryV1>)> = BTreeMap::new();
        for (key, e) in self.entries.values() {
            groups.entry(key.slug()).or_insert_with(|| (key.clone(), Vec::new())).1.push(e.clone());
        }
        let workloads = groups
            .into_iter()
            .map(|(slug, (key, mut entries))| {
                entries.sort_by(|a, b| {
                    let m = |e: &EntryV1| e.series.first().map_or(u64::MAX, |s| s.median);
                    (a.track != "certified", m(a), a.capsule_hash.0).cmp(&(
                        b.track != "certified",
                        m(b),
                        b.capsule_hash.0,
                    ))
                });
                WorkloadV1 {
                    slug,
                    workload_id: key.workload_id.clone(),
                    policy: key.policy(),
                    primary_metric: key.primary_metric.clone(),
                    confidence: key.confidence.clone(),
                    entries,
                }
            })
            .collect();
        let mut rejected: Vec<RejectedV1> = self.rejected.values().cloned().collect();
        rejected.sort_by(|a, b| (&a.file, a.pack_digest.0).cmp(&(&b.file, b.pack_digest.0)));
        BoardV1 {
            schema: BOARD_SCHEMA.to_owned(),
            verifier: v.meta.clone(),
            branch: v.branch.clone(),
            workloads,
            rejected,
        }
    }

    fn from_board(b: &BoardV1) -> Assembly {
        let mut a = Assembly::default();
        for w in &b.workloads {
            let key = WorkloadKey {
                workload_id: w.workload_id.clone(),
                policy_hash: w.policy.hash,
                policy_id: w.policy.id.clone(),
                policy_version: w.policy.version.clone(),
                primary_metric: w.primary_metric.clone(),
                confidence: w.confidence.clone(),
            };
            for e in &w.entries {
                a.entries.insert(e.capsule_hash, (key.clone(), e.clone()));
            }
        }
        for r in &b.rejected {
            a.rejected.insert(r.pack_digest, r.clone());
        }
        a
    }
}

/// The series ids of a workload, in order of first appearance.
fn series_ids(w: &WorkloadV1) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for s in w.entries.iter().flat_map(|e| &e.series) {
        if !ids.contains(&s.id) {
            ids.push(s.id.clone());
        }
    }
    ids
}

/// A workload page, with a history chart per series that has a history.
fn workload_page(w: &WorkloadV1) -> Result<String, BoardError> {
    let mut charts = Vec::new();
    for id in series_ids(w) {
        let mut history: Vec<(&EntryV1, &crate::model::SeriesFiguresV1)> = w
            .entries
            .iter()
            .filter(|e| e.history)
            .filter_map(|e| e.series.iter().find(|s| s.id == id).map(|s| (e, s)))
            .collect();
        history.sort_by_key(|a| (a.0.sealed_ms, a.0.capsule_hash.0));
        let points: Vec<chart::Point> = history
            .iter()
            .map(|(e, s)| chart::Point {
                label: html::commit_label(e.commit.as_deref()),
                median: s.median,
                interval: s.interval,
                certified: e.track == "certified",
            })
            .collect();
        let svg = if points.is_empty() { None } else { Some(chart::history(&id, &w.primary_metric, &points)?) };
        charts.push((id, svg));
    }
    Ok(html::workload(w, &charts).into_string())
}

fn json_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// The files of one entry: its page, report, timeline and pack.
fn write_entry(
    site: &Path,
    w: &WorkloadV1,
    e: &EntryV1,
    checked: &Checked,
    pack: &Path,
    written: &mut usize,
) -> Result<(), BoardError> {
    let h = e.capsule_hash.to_hex();
    write_atomic(
        &site.join("r").join(format!("{h}.html")),
        html::entry(w, e, &checked.report).into_string().as_bytes(),
    )?;
    write_atomic(&site.join("r").join(format!("{h}.json")), &json_bytes(&checked.report))?;
    write_atomic(
        &site.join("t").join(format!("{h}.html")),
        html::timeline(e, &checked.events).into_string().as_bytes(),
    )?;
    copy_atomic(pack, &site.join("packs").join(format!("{h}.tgz")))?;
    *written += 5;
    Ok(())
}

/// The files every change rewrites: the index, `board.json`, the assets.
fn write_common(site: &Path, b: &BoardV1, written: &mut usize) -> Result<(), BoardError> {
    write_atomic(&site.join("board.json"), &json_bytes(b))?;
    write_atomic(&site.join("index.html"), html::index(b).into_string().as_bytes())?;
    write_atomic(&site.join("style.css"), html::STYLE.as_bytes())?;
    write_atomic(&site.join("board.js"), html::SCRIPT.as_bytes())?;
    write_atomic(&site.join("badge.svg"), html::readme_badge(b).as_bytes())?;
    *written += 5;
    Ok(())
}

/// Verifies every pack under `dirs` and writes the site at `out`: built in
/// a new directory beside it, then renamed into place (an `out` that
/// exists must be a board site, and is replaced whole).
pub fn build(dirs: &[PathBuf], out: &Path, v: &Verifier) -> Result<Summary, BoardError> {
    let packs = packs_under(dirs)?;
    if out.exists() && !(out.join("board.json").is_file() || is_empty_dir(out)) {
        return Err(BoardError::Index {
            path: out.join("board.json"),
            why: "the directory exists and is not a board site; choose a new or empty directory".to_owned(),
        });
    }
    let old_cache = cache::dir(out, v.meta.options_hash);
    let parent = capsule::pack::parent_dir(out);
    std::fs::create_dir_all(parent).map_err(|source| BoardError::Io {
        what: "create",
        path: parent.to_owned(),
        source,
    })?;
    let tmp = tempfile::Builder::new().prefix(".board-build-").tempdir_in(parent).map_err(|source| BoardError::Io {
        what: "write in",
        path: parent.to_owned(),
        source,
    })?;
    let site = tmp.path();
    let new_cache = cache::dir(site, v.meta.options_hash);
    let t = Instant::now();
    let results: Vec<Result<(PathBuf, Digest, Checked, bool), BoardError>> = packs
        .par_iter()
        .map(|p| {
            let d = file_digest(p)?;
            let (c, hit) = match cache::get(&old_cache, d) {
                Some(c) => (c, true),
                None => (check(p, d, v), false),
            };
            cache::put(&new_cache, d, &c)?;
            Ok((p.clone(), d, c, hit))
        })
        .collect();
    let verify_ms = t.elapsed().as_millis() as u64;
    let results = results.into_iter().collect::<Result<Vec<_>, _>>()?;

    let mut a = Assembly::default();
    let mut sources: BTreeMap<Digest, (PathBuf, Checked)> = BTreeMap::new();
    let mut rejected_reports = Vec::new();
    let (mut verified, mut cached) = (0, 0);
    for (path, _, c, hit) in results {
        if hit {
            cached += 1;
        } else {
            verified += 1;
        }
        match &c.outcome {
            Outcome::Shown { entry, .. } => {
                let keep = a.entries.get(&entry.capsule_hash).is_none_or(|(_, old)| rank(entry) < rank(old));
                if keep {
                    sources.insert(entry.capsule_hash, (path.clone(), c.clone()));
                }
            }
            Outcome::Rejected(r) => rejected_reports.push((r.pack_digest, c.report.clone())),
        }
        a.insert(c.outcome);
    }
    let board = a.board(v);
    let mut written = 0;
    write_common(site, &board, &mut written)?;
    // Every other file, in parallel: the workload pages, each entry's
    // files, the rejected packs' reports.
    let src = &sources;
    let jobs: Vec<(&WorkloadV1, &EntryV1, &(PathBuf, Checked))> = board
        .workloads
        .iter()
        .flat_map(|w| w.entries.iter().filter_map(move |e| src.get(&e.capsule_hash).map(|src| (w, e, src))))
        .collect();
    let pages: Vec<Result<usize, BoardError>> = board
        .workloads
        .par_iter()
        .map(|w| {
            write_atomic(&site.join("w").join(format!("{}.html", w.slug)), workload_page(w)?.as_bytes())?;
            Ok(1)
        })
        .chain(jobs.par_iter().map(|(w, e, (path, c))| {
            let mut n = 0;
            write_entry(site, w, e, c, path, &mut n)?;
            Ok(n)
        }))
        .chain(rejected_reports.par_iter().map(|(d, report)| {
            write_atomic(&site.join("x").join(format!("{}.json", d.to_hex())), &json_bytes(report))?;
            Ok(1)
        }))
        .collect();
    for n in pages {
        written += n?;
    }
    // Into place: the old site (if any) aside, the new one renamed in, the
    // old one removed.
    let staged = tmp.keep();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).map_err(|source| BoardError::Io {
            what: "write",
            path: staged.clone(),
            source,
        })?;
    }
    let aside = parent.join(format!(".board-old-{}", std::process::id()));
    if out.exists() {
        std::fs::rename(out, &aside).map_err(|source| BoardError::Io {
            what: "move aside",
            path: out.to_owned(),
            source,
        })?;
    }
    if let Err(source) = std::fs::rename(&staged, out) {
        if aside.exists() {
            let _ = std::fs::rename(&aside, out);
        }
        let _ = std::fs::remove_dir_all(&staged);
        return Err(BoardError::Io { what: "move into place", path: out.to_owned(), source });
    }
    if aside.exists() {
        let _ = std::fs::remove_dir_all(&aside);
    }
    Ok(summary(out, &board, packs.len(), verified, cached, a.duplicates, verify_ms, written))
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

#[expect(clippy::too_many_arguments, reason = "each is one figure of the summary")]
fn summary(
    site: &Path,
    b: &BoardV1,
    packs: usize,
    verified: usize,
    cached: usize,
    duplicates: usize,
    verify_ms: u64,
    written: usize,
) -> Summary {
    let entries = b.workloads.iter().flat_map(|w| &w.entries);
    let certified = entries.clone().filter(|e| e.track == "certified").count();
    Summary {
        schema: "capsulebench/board-summary/v1",
        site: site.display().to_string(),
        packs,
        verified,
        cached,
        duplicates,
        certified,
        community: entries.count() - certified,
        rejected: b.rejected.len(),
        verify_ms,
        written,
    }
}

/// Verifies `pack` (or finds its verdict in the site's cache) and adds it
/// to the site at `site`, rewriting only what changes: `board.json`, the
/// index and, for an entry, its workload's page and its own files.
pub fn add(pack: &Path, site: &Path, v: &Verifier) -> Result<Summary, BoardError> {
    let index = site.join("board.json");
    let bytes = std::fs::read(&index).map_err(|source| BoardError::Io { what: "read", path: index.clone(), source })?;
    let old: BoardV1 =
        serde_json::from_slice(&bytes).map_err(|e| BoardError::Index { path: index.clone(), why: e.to_string() })?;
    if old.schema != BOARD_SCHEMA {
        return Err(BoardError::Index { path: index, why: format!("its schema is `{}`", old.schema) });
    }
    if old.verifier.options_hash != v.meta.options_hash || old.branch != v.branch {
        return Err(BoardError::OptionsChanged {
            site: site.to_owned(),
            built: old.verifier.options_hash,
            now: v.meta.options_hash,
        });
    }
    let t = Instant::now();
    let d = file_digest(pack)?;
    let dir = cache::dir(site, v.meta.options_hash);
    let (checked, hit) = match cache::get(&dir, d) {
        Some(c) => (c, true),
        None => (check(pack, d, v), false),
    };
    let verify_ms = t.elapsed().as_millis() as u64;
    cache::put(&dir, d, &checked)?;
    let mut a = Assembly::from_board(&old);
    let changed = a.insert(checked.outcome.clone());
    let board = a.board(v);
    let mut written = 0;
    if changed {
        match &checked.outcome {
            Outcome::Shown { key, entry } => {
                let slug = key.slug();
                if let Some(w) = board.workloads.iter().find(|w| w.slug == slug) {
                    write_atomic(&site.join("w").join(format!("{slug}.html")), workload_page(w)?.as_bytes())?;
                    written += 1;
                    if let Some(e) = w.entries.iter().find(|e| e.capsule_hash == entry.capsule_hash) {
                        write_entry(site, w, e, &checked, pack, &mut written)?;
                    }
                }
            }
            Outcome::Rejected(r) => {
                write_atomic(
                    &site.join("x").join(format!("{}.json", r.pack_digest.to_hex())),
                    &json_bytes(&checked.report),
                )?;
                written += 1;
            }
        }
        write_common(site, &board, &mut written)?;
    }
    Ok(summary(site, &board, 1, usize::from(!hit), usize::from(hit), a.duplicates, verify_ms, written))
}
