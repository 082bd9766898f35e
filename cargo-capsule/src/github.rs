//! `cargo capsule github comment` and `cargo capsule submit`: argument
//! parsing and rendering over `capsule-github`.

use std::path::PathBuf;

use capsule::verify::{Profile, VerifyOptions, verify_pack_file};
use capsule_github::{Github, Repo};
use clap::{Args, Subcommand};

use crate::errors::{CliError, ExitCode};
use crate::output;

/// GitHub integration.
#[derive(Debug, Subcommand)]
pub(crate) enum GithubCommand {
    /// Post the verified base-vs-head comparison on a pull request, or update
    /// CapsuleBench's comment there in place.
    Comment(CommentArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CommentArgs {
    /// A base pack; repeat with `--head` for several workloads (paired in
    /// order).
    #[arg(long, value_name = "PACK", required = true)]
    base: Vec<PathBuf>,
    /// A head pack.
    #[arg(long, value_name = "PACK", required = true)]
    head: Vec<PathBuf>,
    /// The pull request number (default: from `GITHUB_EVENT_PATH`).
    #[arg(long, value_name = "N", conflicts_with = "head_sha")]
    pr: Option<u64>,
    /// Find the open pull request whose head is this commit (for
    /// `workflow_run`: never trust an artifact to name the PR).
    #[arg(long, value_name = "SHA")]
    head_sha: Option<String>,
    /// `owner/name` (default: `GITHUB_REPOSITORY`).
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
    /// The login the existing comment must be by (the token's own user).
    #[arg(long, value_name = "LOGIN", default_value = "github-actions[bot]")]
    author: String,
    /// Pin this policy file (in addition to the standard policies).
    #[arg(long, value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// Print the comment instead of posting it.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// The pack to attach (it must verify at profile `integrity`).
    pack: PathBuf,
    /// The release's tag.
    #[arg(long, value_name = "TAG")]
    release: String,
    /// `owner/name` (default: `GITHUB_REPOSITORY`).
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
}

fn repo(given: Option<&str>) -> Result<Repo, CliError> {
    let r = match given {
        Some(r) => r.to_owned(),
        None => std::env::var("GITHUB_REPOSITORY").map_err(|_| {
            CliError::Github(capsule_github::GithubError::Env("GITHUB_REPOSITORY", "pass `--repo OWNER/NAME`"))
        })?,
    };
    r.parse().map_err(CliError::Github)
}

/// The payload of the event that started this GitHub Actions run
/// (`GITHUB_EVENT_PATH`); `None` outside Actions.
pub(crate) fn event_payload() -> Result<Option<serde_json::Value>, CliError> {
    let Some(path) = std::env::var_os("GITHUB_EVENT_PATH") else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path).map_err(|source| CliError::Read { path: path.clone().into(), source })?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| CliError::Usage("`GITHUB_EVENT_PATH` is not JSON"))
}

/// The pull request of a `pull_request` event (`GITHUB_EVENT_PATH`).
fn event_pr() -> Result<u64, CliError> {
    let missing = || CliError::Usage("give `--pr N` or `--head-sha SHA` (no pull request in `GITHUB_EVENT_PATH`)");
    let event = event_payload()?.ok_or_else(missing)?;
    event["pull_request"]["number"].as_u64().or_else(|| event["number"].as_u64()).ok_or_else(missing)
}

/// The comment's Markdown: the comparison of each base/head pair, every
/// pack verified first; with several pairs, a summary row for each first.
fn body(a: &CommentArgs) -> Result<Result<String, u8>, CliError> {
    if a.base.len() != a.head.len() {
        return Err(CliError::Usage("give as many `--base` as `--head` packs"));
    }
    let opts = VerifyOptions { pins: crate::cli::pins(&a.policy, &[])?, ..crate::cli::verify_options() };
    let (mut comparisons, mut sections) = (Vec::new(), Vec::new());
    for (b, h) in a.base.iter().zip(&a.head) {
        let mut sides = Vec::new();
        for p in [b, h] {
            crate::cli::readable(p)?;
            let (report, contents) = verify_pack_file(p, &opts);
            match (report.accepted(), contents, report.capsule_hash) {
                (true, Some(c), Some(h)) => sides.push((report, c, h)),
                _ => {
                    output::report(&report)?;
                    return Ok(Err(ExitCode::REJECTED));
                }
            }
        }
        let (base, head) = (&sides[0], &sides[1]);
        let cmp =
            capsule::compare::compare(base.2, &base.1, head.2, &head.1, capsule::compare::CompareOptions::default())
                .map_err(CliError::Compare)?;
        sections.push(capsule::compare::markdown(
            &cmp,
            &output::verified_line(&base.0),
            &output::verified_line(&head.0),
        ));
        comparisons.push(cmp);
    }
    // Several workloads open with one row each, which folding keeps.
    let summary = if comparisons.len() > 1 { capsule::compare::markdown_summary(&comparisons) } else { String::new() };
    Ok(Ok(summary + &sections.join("\n")))
}

pub(crate) fn run(c: GithubCommand) -> Result<u8, CliError> {
    let GithubCommand::Comment(a) = c;
    let markdown = match body(&a)? {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    if a.dry_run {
        output::line(&capsule_github::fold(&markdown))?;
        return Ok(ExitCode::OK);
    }
    let repo = repo(a.repo.as_deref())?;
    let gh = Github::from_env().map_err(CliError::Github)?;
    let pr = match (&a.pr, &a.head_sha) {
        (Some(n), _) => *n,
        (None, Some(sha)) => {
            let prs = gh.pull_requests_for_commit(&repo, sha).map_err(CliError::Github)?;
            match prs.as_slice() {
                [p] => p.number,
                [] => {
                    output::line(&format!("no open pull request has head {sha}; nothing to comment on"))?;
                    return Ok(ExitCode::OK);
                }
                _ => return Err(CliError::Usage("several open pull requests have this head commit; pass `--pr N`")),
            }
        }
        (None, None) => event_pr()?,
    };
    let c = gh.upsert_comment(&repo, pr, &markdown, &a.author).map_err(CliError::Github)?;
    output::line(&format!("{} {}", if c.updated { "updated" } else { "created" }, c.html_url))?;
    Ok(ExitCode::OK)
}

pub(crate) fn submit(a: SubmitArgs) -> Result<u8, CliError> {
    crate::cli::readable(&a.pack)?;
    let (report, _) =
        verify_pack_file(&a.pack, &VerifyOptions { profile: Profile::Integrity, ..crate::cli::verify_options() });
    if !report.accepted() {
        output::report(&report)?;
        return Ok(ExitCode::REJECTED);
    }
    let name = a
        .pack
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or(CliError::Usage("the pack path has no file name"))?;
    let bytes = std::fs::read(&a.pack).map_err(|source| CliError::Read { path: a.pack.clone(), source })?;
    let repo = repo(a.repo.as_deref())?;
    let gh = Github::from_env().map_err(CliError::Github)?;
    let asset = gh.replace_release_asset(&repo, &a.release, &name, bytes).map_err(CliError::Github)?;
    output::line(&format!(
        "{} {} on release {} ({})",
        if asset.replaced { "replaced" } else { "attached" },
        asset.name,
        a.release,
        asset.browser_download_url
    ))?;
    Ok(ExitCode::OK)
}
