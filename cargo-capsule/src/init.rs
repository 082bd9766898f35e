//! `cargo capsule init`: writes the fork-safe GitHub workflows and a
//! Dependabot configuration for the actions they pin. The Action is always
//! written pinned by commit: a tag or branch is resolved to its commit
//! through the GitHub API (`GITHUB_API_URL`), and kept as a comment for
//! Dependabot. Pushes are benchmarked on the repository's default branch
//! (detected from git). An existing file that differs is shown as a diff
//! and left alone without `--force`. With `--board`, it also writes the
//! workflow that publishes the board to GitHub Pages, and prints the
//! README badge that links to it.

use std::path::{Path, PathBuf};

use capsule_github::workflows::{
    DEPENDABOT, Plan, badge_markdown, board_workflow, dependabot_covers_actions, is_pinned, pages_url, plan, workflows,
};
use capsule_github::{Github, Repo};
use clap::Args;

use crate::errors::{CliError, ExitCode};
use crate::output;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The repository root.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// The CapsuleBench Action: `OWNER/REPO@REF` (a tag or branch is
    /// resolved to its commit through the GitHub API and written pinned),
    /// `OWNER/REPO@<commit SHA>`, or `./` for a repository holding the
    /// Action.
    #[arg(long, value_name = "REF", default_value = "capsulebench/action@v1")]
    action: String,
    /// The branch whose pushes are benchmarked (default: the repository's
    /// default branch, from `origin/HEAD`, else the current branch).
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    /// Overwrite files that differ.
    #[arg(long)]
    force: bool,
    /// Also write the workflow that publishes the board (leaderboards and
    /// history from every verified pack) to GitHub Pages.
    #[arg(long)]
    board: bool,
}

/// The action pinned by commit, with the reference it was resolved from as
/// a comment (which Dependabot keeps current).
fn pin(action: &str) -> Result<String, CliError> {
    if is_pinned(action) {
        return Ok(action.to_owned());
    }
    let unresolvable = |why: String| CliError::Pin { action: action.to_owned(), why };
    let (repo, reference) = action.split_once('@').ok_or_else(|| unresolvable("it has no `@REF`".to_owned()))?;
    let repo: Repo = repo.parse().map_err(|e: capsule_github::GithubError| unresolvable(e.to_string()))?;
    let gh = Github::from_env_or_anonymous().map_err(|e| unresolvable(e.to_string()))?;
    let sha = gh.resolve_commit(&repo, reference).map_err(|e| unresolvable(e.to_string()))?;
    Ok(format!("{repo}@{sha} # {reference}"))
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let o = std::process::Command::new("git").args(args).current_dir(dir).output().ok()?;
    let s = String::from_utf8(o.stdout).ok()?.trim().to_owned();
    (o.status.success() && !s.is_empty()).then_some(s)
}

/// The default branch: `origin/HEAD`'s, else the current branch, else
/// `main`.
fn default_branch(dir: &Path) -> String {
    git(dir, &["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"])
        .and_then(|r| r.strip_prefix("origin/").map(str::to_owned))
        .or_else(|| git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]))
        .unwrap_or_else(|| "main".to_owned())
}

/// `owner` and `name` of a GitHub remote URL (`https://github.com/o/r.git`,
/// `git@github.com:o/r.git`, `ssh://git@github.com/o/r`).
fn github_repo(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("git@github.com:").or_else(|| url.split_once("github.com/").map(|(_, r)| r))?;
    let (owner, name) = rest.trim_end_matches('/').trim_end_matches(".git").split_once('/')?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    (ok(owner) && ok(name)).then(|| (owner.to_owned(), name.to_owned()))
}

/// The workflow files under `dir` that run jobs on self-hosted runners.
fn self_hosted(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir.join(".github/workflows")) else {
        return Vec::new();
    };
    let mut found: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .is_ok_and(|t| t.lines().any(|l| l.split('#').next().is_some_and(|code| code.contains("self-hosted"))))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found
}

pub(crate) fn run(a: InitArgs) -> Result<u8, CliError> {
    let action = pin(&a.action)?;
    let branch = a.branch.clone().unwrap_or_else(|| default_branch(&a.dir));
    // What the bench job will run: every configured workload.
    let manifest = a.dir.join("Cargo.toml");
    let config = manifest.exists().then(|| capsule_runner::config::load(Some(&manifest)));
    // Gungraun workloads need valgrind and the runner of their version.
    let counts = config.as_ref().and_then(|c| c.as_ref().ok()).is_some_and(|ws| {
        ws.workloads.iter().any(|(w, _)| matches!(w, capsule_runner::config::WorkloadConfig::Gungraun { .. }))
    });
    let gungraun = config
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .filter(|_| counts)
        .and_then(|ws| capsule_runner::config::locked_version(&ws.root, "gungraun"));
    if counts && gungraun.is_none() {
        output::line(
            "note: a gungraun workload is configured, but Cargo.lock resolves no single `gungraun` version: before the CapsuleBench step, add one that installs valgrind and `cargo install --locked gungraun-runner@<that version>`",
        )?;
    }
    let mut files = workflows(&action, &branch, gungraun.as_deref());
    if a.board {
        files.push(board_workflow(&action, &branch));
    }
    // An existing Dependabot configuration is the user's: it is kept, and
    // only an entry for GitHub Actions is suggested when it lacks one.
    if let Ok(existing) = std::fs::read_to_string(a.dir.join(DEPENDABOT)) {
        files.retain(|f| f.path != DEPENDABOT);
        if !dependabot_covers_actions(&existing) {
            output::line(&format!(
                "note: {DEPENDABOT} exists and does not update GitHub Actions; add this entry under `updates:` to keep the pinned actions current:\n  - package-ecosystem: github-actions\n    directory: /\n    schedule:\n      interval: weekly"
            ))?;
        }
    }
    let plans = plan(&a.dir, &files).map_err(|source| CliError::Read { path: a.dir.clone(), source })?;
    let mut held = 0;
    for (f, p) in files.iter().zip(&plans) {
        let path = a.dir.join(f.path);
        let write = match p {
            Plan::Unchanged => {
                output::line(&format!("unchanged  {}", f.path))?;
                false
            }
            Plan::Create => true,
            Plan::Differs(diff) if a.force => {
                output::line(diff.trim_end())?;
                true
            }
            Plan::Differs(diff) => {
                output::line(diff.trim_end())?;
                output::line(&format!("differs    {} (left as it is; `--force` overwrites it)", f.path))?;
                held += 1;
                false
            }
        };
        if write {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| CliError::Write { path: parent.to_path_buf(), source })?;
            }
            capsule::pack::atomic_write(&path, f.contents.as_bytes())
                .map_err(|source| CliError::Write { path: path.clone(), source })?;
            output::line(&format!(
                "{}  {}",
                if matches!(p, Plan::Create) { "created   " } else { "overwrote " },
                f.path
            ))?;
        }
    }
    for f in self_hosted(&a.dir) {
        output::line(&format!(
            "warning: .github/workflows/{f} uses self-hosted runners: never run pull-request benchmarks on them (a fork's code would run on your machine); the CapsuleBench workflows use GitHub-hosted `ubuntu-latest`"
        ))?;
    }
    let workloads = match &config {
        Some(Ok(ws)) if ws.workloads.is_empty() => "the embedded default workload (none is configured)".to_owned(),
        Some(Ok(ws)) => {
            let ids: Vec<&str> = ws.workloads.iter().map(|(w, _)| w.id()).collect();
            format!("every configured workload ({})", ids.join(", "))
        }
        Some(Err(e)) => format!("nothing until the configuration loads ({e})"),
        None => "every workload the workspace configures".to_owned(),
    };
    output::line(&format!("the bench job runs {workloads}, paired with the merge base on pull requests"))?;
    if let Some(v) = &gungraun {
        output::line(&format!(
            "it first installs valgrind and gungraun-runner {v}, which the gungraun workloads need"
        ))?;
    }
    output::line(&format!(
        "\nnext steps:\n  1. commit the files above and push; pull requests get a verified comparison comment, pushes to `{branch}` and releases get signed packs\n  2. keep the runners GitHub-hosted: a pull request's code runs in the bench job\n  3. the Action is pinned at `{action}`; Dependabot proposes updates weekly\n  4. check a pack locally: `cargo capsule verify capsulepack.tgz`"
    ))?;
    if a.board {
        let url = git(&a.dir, &["remote", "get-url", "origin"])
            .and_then(|u| github_repo(&u))
            .map_or_else(|| "https://OWNER.github.io/REPO/".to_owned(), |(o, n)| pages_url(&o, &n));
        output::line(&format!(
            "  5. the board: in Settings > Pages, set the source to \"GitHub Actions\"; after the next push or release (or run `CapsuleBench board` by hand) it is at {url}\n  6. add its badge to README.md:\n     {}",
            badge_markdown(&url)
        ))?;
    }
    Ok(if held > 0 { ExitCode::REJECTED } else { ExitCode::OK })
}

#[cfg(test)]
mod tests {
    use super::github_repo;

    #[test]
    fn github_remotes_name_their_repository() {
        let r = |o: &str, n: &str| Some((o.to_owned(), n.to_owned()));
        for (url, want) in [
            ("https://github.com/capsulebench/capsulebench.git", r("capsulebench", "capsulebench")),
            ("https://github.com/o/r", r("o", "r")),
            ("git@github.com:o/r.git", r("o", "r")),
            ("ssh://git@github.com/o/my.repo/", r("o", "my.repo")),
            ("https://gitlab.com/o/r.git", None),
            ("https://github.com/o", None),
            ("https://github.com/o/r/x", None),
            ("https://github.com/o/<script>", None),
        ] {
            assert_eq!(github_repo(url), want, "{url}");
        }
    }
}
