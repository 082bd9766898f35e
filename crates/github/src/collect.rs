//! Collecting a repository's packs for its board: every `.tgz` asset of
//! its published releases, and the packs its benchmark workflow uploaded
//! as artifacts on pushes to the default branch.
//!
//! Nothing collected is trusted: the board verifies every pack. What this
//! module guards is the collecting machine: downloads are capped (each
//! pack, and all of them together), written under names it makes itself
//! (never a path from an archive or the API), completed in a temporary
//! file and renamed into place, and the credential never leaves GitHub's
//! API host (the storage a download redirects to gets no `Authorization`).
//! Runs are taken only when the API says they are pushes to the branch of
//! this repository itself: a fork's pull request may name its branch
//! `main` and upload an artifact of any name.

use std::io::{Read as _, Write as _};
use std::path::Path;

use serde::Deserialize;

use crate::{Github, GithubError, Repo, encode};

/// What to collect, and the limits.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// Take the `.tgz` assets of every published release.
    pub releases: bool,
    /// The benchmark workflow's file name (`capsulebench.yml`), whose runs'
    /// artifacts are taken; `None` takes none.
    pub workflow: Option<String>,
    /// The branch whose pushes count (the default branch).
    pub branch: String,
    /// The artifact names to take from each run, in order of preference
    /// (`capsulepacks-signed`, `capsulepacks`).
    pub artifacts: Vec<String>,
    /// The most runs looked at, newest first.
    pub max_runs: usize,
    /// The largest pack taken.
    pub max_pack_bytes: u64,
    /// The most bytes taken in all; older packs beyond it are left out.
    pub max_total_bytes: u64,
}

/// What was collected, and what was left out and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Published releases looked at.
    pub releases: usize,
    /// Runs looked at.
    pub runs: usize,
    /// Artifacts downloaded.
    pub artifacts: usize,
    /// Packs written.
    pub packs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// What was left out, one line each (`what: why`).
    pub skipped: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Release {
    id: u64,
    tag_name: String,
    #[serde(default)]
    draft: bool,
}

#[derive(Debug, Deserialize)]
struct ReleaseAsset {
    id: u64,
    name: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    state: String,
}

#[derive(Debug, Deserialize)]
struct RepoRef {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Run {
    id: u64,
    event: String,
    #[serde(default)]
    head_branch: Option<String>,
    #[serde(default)]
    head_repository: Option<RepoRef>,
}

#[derive(Debug, Deserialize)]
struct Artifact {
    id: u64,
    name: String,
    #[serde(default)]
    size_in_bytes: u64,
    #[serde(default)]
    expired: bool,
}

/// A file or directory name made from `s`: ASCII letters, digits, `.`,
/// `_` and `-` kept, anything else `_`; never empty, never starting with
/// a dot.
fn safe_name(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).take(100).collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

struct Budget<'a> {
    options: &'a CollectOptions,
    out: &'a Path,
    collected: Collected,
}

impl Budget<'_> {
    /// The bytes that may still be collected.
    fn left(&self) -> u64 {
        self.options.max_total_bytes - self.collected.bytes
    }

    /// Whether `size` more bytes fit in what is left; says why not in
    /// `skipped`.
    fn fits_total(&mut self, what: &str, size: u64) -> bool {
        let fits = size <= self.left();
        if !fits {
            self.collected.skipped.push(format!(
                "{what}: over the {} bytes collected in all (older packs are left out)",
                self.options.max_total_bytes
            ));
        }
        fits
    }

    /// Whether a pack of `size` bytes fits, alone and in what is left;
    /// says why not in `skipped`.
    fn fits(&mut self, what: &str, size: u64) -> bool {
        if size > self.options.max_pack_bytes {
            self.collected
                .skipped
                .push(format!("{what}: {size} bytes, over the {} a pack may have", self.options.max_pack_bytes));
            false
        } else {
            self.fits_total(what, size)
        }
    }

    /// Writes `reader` (at most the pack limit) to `dir/name` through a
    /// temporary file; a reader longer than it says is refused.
    fn write(&mut self, what: &str, dir: &Path, name: &str, reader: &mut dyn std::io::Read) -> Result<(), GithubError> {
        let io = |source| GithubError::Write { path: dir.join(name), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        let room = self.options.max_pack_bytes.min(self.left());
        let n = std::io::copy(&mut reader.take(room + 1), &mut tmp).map_err(io)?;
        if n > room {
            self.collected.skipped.push(format!("{what}: longer than it said, over the limit"));
            return Ok(());
        }
        tmp.as_file_mut().flush().map_err(io)?;
        tmp.persist(dir.join(name)).map_err(|e| io(e.error))?;
        self.collected.packs += 1;
        self.collected.bytes += n;
        Ok(())
    }
}

impl Github {
    /// Collects `repo`'s packs into `out` (which must not exist, or be
    /// empty): `release-<id>/<asset>` for release assets,
    /// `run-<id>/<artifact>/<file>` for the `.tgz` files of run artifacts.
    pub fn collect_packs(&self, repo: &Repo, options: &CollectOptions, out: &Path) -> Result<Collected, GithubError> {
        let nonempty = std::fs::read_dir(out).map(|mut d| d.next().is_some());
        match nonempty {
            Ok(true) => return Err(GithubError::NotEmpty(out.to_path_buf())),
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(GithubError::Write { path: out.to_path_buf(), source }),
        }
        let mut b = Budget { options, out, collected: Collected::default() };
        if let Some(workflow) = &options.workflow {
            self.collect_runs(repo, workflow, &mut b)?;
        }
        if options.releases {
            self.collect_releases(repo, &mut b)?;
        }
        Ok(b.collected)
    }

    fn collect_releases(&self, repo: &Repo, b: &mut Budget<'_>) -> Result<(), GithubError> {
        let releases: Vec<Release> = self.list("list the releases", &format!("/repos/{repo}/releases"))?;
        for r in releases.into_iter().filter(|r| !r.draft) {
            b.collected.releases += 1;
            let assets: Vec<ReleaseAsset> = self.list(
                &format!("list the assets of release `{}`", r.tag_name),
                &format!("/repos/{repo}/releases/{}/assets", r.id),
            )?;
            for a in assets.into_iter().filter(|a| a.name.ends_with(".tgz") && a.state == "uploaded") {
                let what = format!("release `{}` asset `{}`", r.tag_name, a.name);
                if !b.fits(&what, a.size) {
                    continue;
                }
                let dir = b.out.join(format!("release-{}", r.id));
                let mut body = self.download(
                    &format!("download {what}"),
                    &format!("/repos/{repo}/releases/assets/{}", a.id),
                    "application/octet-stream",
                    b.options.max_pack_bytes,
                )?;
                b.write(&what, &dir, &safe_name(&a.name), &mut body)?;
            }
        }
        Ok(())
    }

    fn collect_runs(&self, repo: &Repo, workflow: &str, b: &mut Budget<'_>) -> Result<(), GithubError> {
        let route = format!(
            "/repos/{repo}/actions/workflows/{}/runs?branch={}&event=push&status=completed",
            encode(workflow),
            encode(&b.options.branch)
        );
        let what = format!("list the runs of `{workflow}`");
        let runs: Vec<Run> = self.pages(&what, &route, Some("workflow_runs"), b.options.max_runs)?;
        for run in runs {
            // The API filtered these; a run it should not have returned is
            // still not taken.
            let own = run.head_repository.as_ref().is_some_and(|h| h.full_name.eq_ignore_ascii_case(&repo.to_string()));
            if run.event != "push" || run.head_branch.as_deref() != Some(b.options.branch.as_str()) || !own {
                b.collected.skipped.push(format!("run {}: not a push to `{}` of {repo}", run.id, b.options.branch));
                continue;
            }
            b.collected.runs += 1;
            let artifacts: Vec<Artifact> = self.pages(
                &format!("list the artifacts of run {}", run.id),
                &format!("/repos/{repo}/actions/runs/{}/artifacts", run.id),
                Some("artifacts"),
                usize::MAX,
            )?;
            for name in &b.options.artifacts {
                let Some(a) = artifacts.iter().find(|a| &a.name == name) else { continue };
                let what = format!("artifact `{}` of run {}", a.name, run.id);
                if a.expired {
                    b.collected.skipped.push(format!("{what}: expired"));
                    continue;
                }
                if b.fits_total(&what, a.size_in_bytes) {
                    self.collect_artifact(repo, run.id, a, &what, b)?;
                }
            }
        }
        Ok(())
    }

    fn collect_artifact(
        &self,
        repo: &Repo,
        run: u64,
        a: &Artifact,
        what: &str,
        b: &mut Budget<'_>,
    ) -> Result<(), GithubError> {
        // The zip is read in memory (its directory is at its end), within
        // what the budget has left.
        let body = match self.download(
            &format!("download {what}"),
            &format!("/repos/{repo}/actions/artifacts/{}/zip", a.id),
            "application/vnd.github+json",
            b.left(),
        ) {
            // Between the listing and the download, it expired.
            Err(GithubError::Api { status: 410, .. }) => {
                b.collected.skipped.push(format!("{what}: expired"));
                return Ok(());
            }
            r => r?,
        };
        b.collected.artifacts += 1;
        let bad = |e: zip::result::ZipError| GithubError::Archive { what: what.to_owned(), source: e };
        let mut zip = zip::ZipArchive::new(body).map_err(bad)?;
        let dir = b.out.join(format!("run-{run}")).join(safe_name(&a.name));
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(bad)?;
            // Only a plain `NAME.tgz` at the archive's top level.
            let name = entry.enclosed_name().filter(|p| p.components().count() == 1);
            let name = name.as_deref().and_then(Path::to_str).filter(|n| n.ends_with(".tgz")).map(safe_name);
            let Some(name) = name.filter(|_| entry.is_file()) else {
                let shown =
                    entry.name().map(|n| n.escape_debug().to_string()).unwrap_or_else(|_| "(unreadable)".into());
                b.collected.skipped.push(format!("{what}: entry `{shown}` is not a pack at the top level"));
                continue;
            };
            let entry_what = format!("{what}: `{name}`");
            if b.fits(&entry_what, entry.size()) {
                b.write(&entry_what, &dir, &name, &mut entry)?;
            }
        }
        Ok(())
    }

    /// The body of `route` (redirects followed; the credential is sent to
    /// the API's own host only), read in full, at most `limit` bytes.
    fn download(
        &self,
        what: &str,
        route: &str,
        accept: &str,
        limit: u64,
    ) -> Result<std::io::Cursor<Vec<u8>>, GithubError> {
        use http_body_util::BodyExt as _;
        let url = format!("{}{route}", self.api);
        let transport =
            |e: Box<dyn std::error::Error + Send + Sync>| GithubError::Transport { what: what.to_owned(), source: e };
        let request = http::Request::builder()
            .method("GET")
            .uri(url.as_str())
            .header("accept", accept)
            .body(Vec::<u8>::new())
            .map_err(|e| transport(Box::new(e)))?;
        self.rt.block_on(async {
            let r = self.crab.execute(request).await.map_err(|e| Self::fail(what, e))?;
            let r = octocrab::map_github_error(r).await.map_err(|e| Self::fail(what, e))?;
            let mut body = r.into_body();
            let mut bytes = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| Self::fail(what, e))?;
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                    if bytes.len() as u64 > limit {
                        return Err(GithubError::TooLarge { what: what.to_owned(), limit });
                    }
                }
            }
            Ok(std::io::Cursor::new(bytes))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn names_are_made_safe() {
        for (given, made) in [
            ("x.tgz", "x.tgz"),
            ("../x.tgz", "_.._x.tgz"),
            (".hidden.tgz", "_.hidden.tgz"),
            ("", "_"),
            ("a b/c\u{e9}.tgz", "a_b_c_.tgz"),
            ("..", "_.."),
        ] {
            assert_eq!(safe_name(given), made, "{given:?}");
        }
    }
}
