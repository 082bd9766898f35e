//! `cargo capsule github comment`, `github mark-stale`, `github collect`
//! and `cargo capsule submit`: argument parsing, the checks of packs against the run that made
//! them, and rendering over `capsule-github`.

use std::path::{Path, PathBuf};

use capsule::compare::Change;
use capsule::objects::{CiManifestV1, GitManifestV1, ManifestKind};
use capsule::verify::{PackContents, Profile, VerifyOptions, verify_pack_file};
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
    /// Mark CapsuleBench's comment on the pull request of a `workflow_run`
    /// stale, when that run failed or was cancelled (a newer push superseded
    /// it): an old "faster" is not left standing for a head it was not
    /// measured on.
    MarkStale(MarkStaleArgs),
    /// Download a repository's packs for its board: the `.tgz` assets of
    /// its published releases, and the packs its benchmark workflow
    /// uploaded on pushes to the default branch. Nothing is verified here:
    /// `board build` verifies every pack.
    Collect(CollectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CollectArgs {
    /// A new (or empty) directory to write the packs into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// `owner/name` (default: `GITHUB_REPOSITORY`).
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
    /// The benchmark workflow's file name, whose runs' artifacts are taken.
    #[arg(long, value_name = "FILE", default_value = "capsulebench.yml")]
    workflow: String,
    /// The branch whose pushes count.
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    branch: String,
    /// An artifact name to take from each run (repeat; default
    /// `capsulepacks-signed` and `capsulepacks`).
    #[arg(long, value_name = "NAME")]
    artifact: Vec<String>,
    /// Take no run artifacts.
    #[arg(long)]
    no_artifacts: bool,
    /// Take no release assets.
    #[arg(long)]
    no_releases: bool,
    /// The most runs looked at, newest first.
    #[arg(long, value_name = "N", default_value_t = 200)]
    max_runs: usize,
    /// The largest pack taken, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_pack_mib: u64,
    /// The most MiB taken in all (older packs beyond it are left out).
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    max_total_mib: u64,
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
    #[arg(long, value_name = "N", conflicts_with = "workflow_run")]
    pr: Option<u64>,
    /// In a `workflow_run` workflow: find the pull request from the event
    /// payload (`GITHUB_EVENT_PATH`: the run's head repository owner, head
    /// branch and head commit; never from an artifact), and refuse packs
    /// that this run did not make (another repository, run or head commit).
    #[arg(long)]
    workflow_run: bool,
    /// `owner/name` (default: `GITHUB_REPOSITORY`).
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
    /// The login the existing comment must be by (the token's own user).
    #[arg(long, value_name = "LOGIN", default_value = "github-actions[bot]")]
    author: String,
    /// Pin this policy file (in addition to the standard policies).
    #[arg(long, value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// When to post a new comment: `always`, on a `change` (slower or
    /// faster) or on a `regression` (slower). An existing comment is
    /// always updated, so it never keeps an outdated verdict.
    #[arg(long, value_enum, default_value = "always")]
    comment_on: CommentOn,
    /// Also append the comparison to this file (the job summary,
    /// `$GITHUB_STEP_SUMMARY`).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Write the verdict over every pair to this file (`slower`, `faster`,
    /// `inconclusive` or `no-change`, as in `compare --json`).
    #[arg(long, value_name = "FILE")]
    verdict_out: Option<PathBuf>,
    /// Print the comment instead of posting it.
    #[arg(long)]
    dry_run: bool,
}

/// When a new comment is posted.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum CommentOn {
    /// Whatever the verdict.
    Always,
    /// When some workload is slower or faster.
    Change,
    /// When some workload is slower.
    Regression,
}

impl CommentOn {
    fn as_str(self) -> &'static str {
        match self {
            CommentOn::Always => "always",
            CommentOn::Change => "change",
            CommentOn::Regression => "regression",
        }
    }

    fn wants(self, v: Change) -> bool {
        use crate::cli::FailOn;
        match self {
            CommentOn::Always => true,
            CommentOn::Change => FailOn::Change.fails(v),
            CommentOn::Regression => FailOn::Regression.fails(v),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct MarkStaleArgs {
    /// Take the pull request and the run from the `workflow_run` payload
    /// (`GITHUB_EVENT_PATH`); the only source there is.
    #[arg(long, required = true)]
    workflow_run: bool,
    /// `owner/name` (default: `GITHUB_REPOSITORY`).
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
    /// The login the existing comment must be by (the token's own user).
    #[arg(long, value_name = "LOGIN", default_value = "github-actions[bot]")]
    author: String,
}

#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// The pack to attach (it must verify at profile `integrity`).
    pack: PathBuf,
    /// The release's tag.
    #[arg(long, value_name = "TAG", required_unless_present = "server", conflicts_with = "server")]
    release: Option<String>,
    /// Submit to this CapsuleBench server (`cargo capsule serve`) instead,
    /// under the run id the pack names; the runner token comes from
    /// `CAPSULE_STREAM_TOKEN`. The server verifies it and answers.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
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
    let missing = || CliError::Usage("give `--pr N` or `--workflow-run` (no pull request in `GITHUB_EVENT_PATH`)");
    let event = event_payload()?.ok_or_else(missing)?;
    event["pull_request"]["number"].as_u64().or_else(|| event["number"].as_u64()).ok_or_else(missing)
}

/// The run a `workflow_run` workflow was triggered by, from its payload:
/// written by GitHub, not by the run, so it is what packs are checked
/// against.
#[derive(Debug)]
struct TriggeringRun {
    id: u64,
    html_url: String,
    repository: String,
    head_owner: String,
    head_branch: String,
    head_sha: String,
    conclusion: String,
}

impl TriggeringRun {
    fn from_event() -> Result<TriggeringRun, CliError> {
        let missing = || {
            CliError::Usage(
                "`--workflow-run` needs the `workflow_run` payload at `GITHUB_EVENT_PATH` (run it in a workflow triggered by `workflow_run`)",
            )
        };
        let event = event_payload()?.ok_or_else(missing)?;
        let r = &event["workflow_run"];
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).ok_or_else(missing);
        Ok(TriggeringRun {
            id: r["id"].as_u64().ok_or_else(missing)?,
            html_url: r["html_url"].as_str().unwrap_or_default().to_owned(),
            repository: text(&r["repository"]["full_name"])?,
            head_owner: text(&r["head_repository"]["owner"]["login"])?,
            head_branch: text(&r["head_branch"])?,
            head_sha: text(&r["head_sha"])?,
            conclusion: r["conclusion"].as_str().unwrap_or("unknown").to_owned(),
        })
    }

    /// The open pull request this run benchmarked: by head branch (a
    /// fork's commit has none by commit), still at the run's head commit.
    /// `None` (with a warning annotation) when there is none.
    fn pull_request(&self, gh: &Github, repo: &Repo) -> Result<Option<capsule_github::PullRequest>, CliError> {
        let prs = gh
            .pull_requests_for_head(repo, &self.head_owner, &self.head_branch, &self.head_sha)
            .map_err(CliError::Github)?;
        match prs.len() {
            1 => Ok(prs.into_iter().next()),
            0 => {
                output::line(&format!(
                    "::warning title=CapsuleBench::no open pull request has head {} at {}; nothing to comment on (the pull request was closed or has moved on)",
                    annotation(&format!("{}:{}", self.head_owner, self.head_branch)),
                    annotation(&self.head_sha),
                ))?;
                Ok(None)
            }
            _ => Err(CliError::Usage("several open pull requests have this head; pass `--pr N`")),
        }
    }
}

/// Text for a workflow command (`::warning::…`): `%`, CR and LF escaped as
/// GitHub reads them, so a branch name cannot end the annotation or start
/// another command.
fn annotation(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Why a pack is not from the triggering run, if it is not: its CI
/// manifest must name the run (repository and run id, any attempt), and a
/// head pack's git manifest the run's head commit.
fn from_elsewhere(c: &PackContents, run: &TriggeringRun, is_head: bool) -> Option<String> {
    let want = format!("{}/{}/actions/runs/{}/attempts/", server_url().trim_end_matches('/'), run.repository, run.id);
    match c.manifest::<CiManifestV1>(ManifestKind::Ci) {
        Some(ci) if ci.run_uri.starts_with(&want) => {}
        Some(ci) => {
            return Some(format!("it was made by run {}, not run {} of {}", ci.run_uri, run.id, run.repository));
        }
        None => return Some("it records no CI run (no CI manifest)".to_owned()),
    }
    let commit = c.manifest::<GitManifestV1>(ManifestKind::Git).and_then(|g| g.commit);
    if is_head && commit.as_deref() != Some(run.head_sha.as_str()) {
        return Some(format!(
            "it measured commit {}, not the run's head {}",
            commit.as_deref().unwrap_or("(none)"),
            run.head_sha
        ));
    }
    None
}

/// This GitHub server (`GITHUB_SERVER_URL`, default GitHub.com).
fn server_url() -> String {
    std::env::var("GITHUB_SERVER_URL").unwrap_or_else(|_| capsule::trust::sigstore::GITHUB_SERVER.to_owned())
}

/// Where the comment links commits: the repository it comments on
/// (`{GITHUB_SERVER_URL}/{owner}/{name}`, from the run's payload, `--repo`
/// or `GITHUB_REPOSITORY`), never a URL taken from a pack.
fn link_base(a: &CommentArgs, run: Option<&TriggeringRun>) -> Option<String> {
    let repo = run
        .map(|r| r.repository.clone())
        .or_else(|| a.repo.clone())
        .or_else(|| std::env::var("GITHUB_REPOSITORY").ok())?;
    let safe = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let (owner, name) = repo.split_once('/')?;
    if !safe(owner) || !safe(name) {
        return None;
    }
    let server = server_url();
    let host = server.strip_prefix("https://")?.trim_end_matches('/');
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)) {
        return None;
    }
    Some(format!("https://{host}/{owner}/{name}"))
}

/// The row of one side in the comment's run table: the commit (short,
/// linked under `link`), whether the tree was dirty, the runner and the
/// repetitions.
fn side_row(side: &str, c: &PackContents, reps: u64, link: Option<&str>) -> String {
    let m =
        |k: ManifestKind, f: &str| c.manifests.get(k.path()).and_then(|v| v[f].as_str()).unwrap_or_default().to_owned();
    let git = c.manifest::<GitManifestV1>(ManifestKind::Git);
    let commit = git.as_ref().and_then(|g| g.commit.clone()).unwrap_or_default();
    let short = commit.get(..7).unwrap_or(&commit);
    let commit_cell = match link {
        Some(repo_url) if !commit.is_empty() => {
            format!("[`{}`]({repo_url}/commit/{})", esc(short), link_part(&commit))
        }
        _ if !commit.is_empty() => format!("`{}`", esc(short)),
        _ => "(no commit)".to_owned(),
    };
    let dirty = git.is_some_and(|g| g.dirty);
    let hw = c.manifests.get(ManifestKind::Hardware.path());
    let cores = hw.and_then(|v| v["logical_cores"].as_u64()).unwrap_or(0);
    let runner = format!(
        "{}, {} {} ({cores} cores)",
        esc(&m(ManifestKind::Os, "distribution")),
        esc(&m(ManifestKind::Hardware, "arch")),
        esc(&m(ManifestKind::Hardware, "cpu_model"))
    );
    format!("| {side} | {commit_cell}{} | {runner} | {reps} |\n", if dirty { " ⚠️ dirty tree" } else { "" })
}

fn esc(s: &str) -> String {
    capsule::compare::escape_markdown(s)
}

/// Only what may stand in a link's path.
fn link_part(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// The comment's Markdown: what a reader can rely on, the runs' commits and
/// runners, then the comparison of each base/head pair, every pack verified
/// first (and, for a `workflow_run`, checked to come from that run); with
/// several pairs, a summary row for each first.
fn body(a: &CommentArgs, run: Option<&TriggeringRun>) -> Result<Result<(String, Change), u8>, CliError> {
    if a.base.len() != a.head.len() {
        return Err(CliError::Usage("give as many `--base` as `--head` packs"));
    }
    let opts = VerifyOptions { pins: crate::inputs::pins(&a.policy, &[])?, ..crate::inputs::verify_options() };
    let (mut comparisons, mut sections) = (Vec::new(), Vec::new());
    let mut runs_table = String::new();
    let mut all_unsigned = true;
    let link = link_base(a, run);
    for (b, h) in a.base.iter().zip(&a.head) {
        let mut sides = Vec::new();
        for (p, is_head) in [(b, false), (h, true)] {
            crate::inputs::readable(p)?;
            let (report, contents) = verify_pack_file(p, &opts);
            match (report.accepted(), contents, report.capsule_hash) {
                (true, Some(c), Some(h)) => {
                    if let Some(why) = run.and_then(|r| from_elsewhere(&c, r, is_head)) {
                        output::line(&format!(
                            "::error title=CapsuleBench::refusing `{}`: {}",
                            annotation(&p.display().to_string()),
                            annotation(&why)
                        ))?;
                        return Ok(Err(ExitCode::REJECTED));
                    }
                    all_unsigned &= report.signers.is_empty();
                    sides.push((report, c, h));
                }
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
        if runs_table.is_empty() {
            let (nb, nh) = cmp.metrics.first().map_or((0, 0), |m| (m.n_base, m.n_head));
            runs_table = format!(
                "| | commit | runner | repetitions |\n|---|---|---|---|\n{}{}",
                side_row("base", &base.1, nb, link.as_deref()),
                side_row("head", &head.1, nh, link.as_deref())
            );
        }
        sections.push(capsule::compare::markdown(
            &cmp,
            &output::verified_line(&base.0),
            &output::verified_line(&head.0),
        ));
        comparisons.push(cmp);
    }
    let mut md = String::new();
    if let Some(r) = run {
        md.push_str(&capsule_github::head_marker(&link_part(&r.head_sha)));
        md.push('\n');
    }
    // The run: from the `workflow_run` payload, else this run's own id.
    let run_link = match run {
        Some(r) if !r.html_url.is_empty() => Some((r.id.to_string(), r.html_url.clone())),
        Some(_) => None,
        None => std::env::var("GITHUB_RUN_ID")
            .ok()
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .zip(link.clone())
            .map(|(id, base)| (id.clone(), format!("{base}/actions/runs/{id}"))),
    };
    let by = match run_link {
        Some((id, url)) => format!("this pull request's own workflow run ([run {id}]({url}))"),
        None => "this pull request's own workflow run".to_owned(),
    };
    if let Some(r) = run
        && r.conclusion != "success"
    {
        md.push_str(&format!(
            "> [!WARNING]\n> The benchmark run ended `{}` after uploading these packs (a CI gate, or a workload that failed after others finished).\n\n",
            esc(&r.conclusion)
        ));
    }
    if all_unsigned {
        md.push_str(&format!(
            "> [!NOTE]\n> Measured by {by}, unsigned. CapsuleBench verified each pack's integrity and policy: the numbers are consistent with the samples committed in the packs, not proof that the run measured honestly.\n\n"
        ));
    } else {
        md.push_str(&format!("> [!NOTE]\n> Measured by {by}; each pack's line below says who signed it.\n\n"));
    }
    md.push_str(&runs_table);
    md.push('\n');
    // Several workloads open with one row each, which folding keeps.
    if comparisons.len() > 1 {
        md.push_str(&capsule::compare::markdown_summary(&comparisons));
    }
    md.push_str(capsule_github::DETAILS);
    md.push('\n');
    md.push_str(&sections.join("\n"));
    let verdict = capsule::compare::overall(comparisons.iter().map(|c| c.verdict));
    Ok(Ok((md, verdict)))
}

fn append(path: &Path, text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| CliError::Write { path: path.to_path_buf(), source })
}

pub(crate) fn run(c: GithubCommand) -> Result<u8, CliError> {
    let a = match c {
        GithubCommand::Comment(a) => a,
        GithubCommand::MarkStale(a) => return mark_stale(a),
        GithubCommand::Collect(a) => return collect(a),
    };
    let triggering = if a.workflow_run { Some(TriggeringRun::from_event()?) } else { None };
    let (markdown, verdict) = match body(&a, triggering.as_ref())? {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    if let Some(path) = &a.summary {
        append(path, &format!("{markdown}\n"))?;
    }
    if let Some(path) = &a.verdict_out {
        let word = serde_json::to_value(verdict).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        std::fs::write(path, format!("{word}\n")).map_err(|source| CliError::Write { path: path.clone(), source })?;
    }
    if a.dry_run {
        output::line(&capsule_github::fold(&markdown))?;
        return Ok(ExitCode::OK);
    }
    let repo = repo(a.repo.as_deref())?;
    let gh = Github::from_env().map_err(CliError::Github)?;
    let pr = match (&a.pr, &triggering) {
        (Some(n), _) => *n,
        (None, Some(r)) => match r.pull_request(&gh, &repo)? {
            Some(p) => p.number,
            None => return Ok(ExitCode::OK),
        },
        (None, None) => event_pr()?,
    };
    // A new comment only for the verdicts asked; an existing one is always
    // brought up to date.
    let posted = if a.comment_on.wants(verdict) {
        Some(gh.upsert_comment(&repo, pr, &markdown, &a.author))
    } else {
        gh.update_existing_comment(&repo, pr, &markdown, &a.author).transpose()
    };
    let Some(c) = posted.transpose().map_err(CliError::Github)? else {
        output::line(&format!(
            "no comment: the comparison is {} and comment-on is {}",
            verdict.as_str(),
            a.comment_on.as_str()
        ))?;
        return Ok(ExitCode::OK);
    };
    output::line(&format!("{} {}", if c.updated { "updated" } else { "created" }, c.html_url))?;
    Ok(ExitCode::OK)
}

fn mark_stale(a: MarkStaleArgs) -> Result<u8, CliError> {
    let run = TriggeringRun::from_event()?;
    let repo = repo(a.repo.as_deref())?;
    let gh = Github::from_env().map_err(CliError::Github)?;
    // Only for the pull request's current head: a superseded run's pull
    // request has moved on, and the newer run updates the comment itself.
    let Some(pr) = run.pull_request(&gh, &repo)? else {
        return Ok(ExitCode::OK);
    };
    let Some(c) = gh.find_comment(&repo, pr.number, &a.author).map_err(CliError::Github)? else {
        output::line(&format!("pull request #{} has no CapsuleBench comment to mark stale", pr.number))?;
        return Ok(ExitCode::OK);
    };
    let old = c.body.unwrap_or_default();
    let compared = capsule_github::comment_head(&old).map(|s| s.get(..7).unwrap_or(s).to_owned());
    let what = match run.conclusion.as_str() {
        "cancelled" => "was cancelled",
        "failure" => "failed",
        "timed_out" => "timed out",
        _ => "did not succeed",
    };
    let run_link =
        if run.html_url.is_empty() { format!("run {}", run.id) } else { format!("[run {}]({})", run.id, run.html_url) };
    let why = format!(
        "The benchmark {run_link} for the pull request's head `{}` {what}; the comparison below is for {} and does not describe the head.",
        esc(run.head_sha.get(..7).unwrap_or(&run.head_sha)),
        compared.map_or("an earlier commit".to_owned(), |s| format!("`{}`", esc(&s))),
    );
    let c = gh.update_comment(&repo, c.id, &capsule_github::mark_stale(&old, &why)).map_err(CliError::Github)?;
    output::line(&format!("marked stale {}", c.html_url))?;
    Ok(ExitCode::OK)
}

fn collect(a: CollectArgs) -> Result<u8, CliError> {
    let repo = repo(a.repo.as_deref())?;
    let artifacts = match (a.no_artifacts, a.artifact.is_empty()) {
        (true, _) => Vec::new(),
        (false, true) => vec!["capsulepacks-signed".to_owned(), "capsulepacks".to_owned()],
        (false, false) => a.artifact,
    };
    let options = capsule_github::collect::CollectOptions {
        releases: !a.no_releases,
        workflow: (!artifacts.is_empty()).then_some(a.workflow),
        branch: a.branch,
        artifacts,
        max_runs: a.max_runs,
        max_pack_bytes: a.max_pack_mib.saturating_mul(1 << 20),
        max_total_bytes: a.max_total_mib.saturating_mul(1 << 20),
    };
    // Release assets of a public repository need no token; artifacts do.
    let gh = Github::from_env_or_anonymous().map_err(CliError::Github)?;
    let c = gh.collect_packs(&repo, &options, &a.out).map_err(CliError::Github)?;
    for s in &c.skipped {
        output::line(&format!("left out: {s}"))?;
    }
    output::line(&format!(
        "collected {} packs ({} bytes) from {} releases and {} artifacts of {} runs into {}",
        c.packs,
        c.bytes,
        c.releases,
        c.artifacts,
        c.runs,
        a.out.display()
    ))?;
    Ok(ExitCode::OK)
}

pub(crate) fn submit(a: SubmitArgs) -> Result<u8, CliError> {
    crate::inputs::readable(&a.pack)?;
    let (report, _) =
        verify_pack_file(&a.pack, &VerifyOptions { profile: Profile::Integrity, ..crate::inputs::verify_options() });
    if !report.accepted() {
        output::report(&report)?;
        return Ok(ExitCode::REJECTED);
    }
    let Some(release) = a.release else {
        let server = a.server.unwrap_or_default();
        let token = crate::serve::token()?;
        let run_id = report.run_id.clone().unwrap_or_default();
        let s = capsule_server::client::submit_pack(&server, &token, &run_id, &a.pack).map_err(CliError::Stream)?;
        output::line(&format!("submitted run {run_id} to {server}: {} (stream: {})", s.verdict, s.stream.as_str()))?;
        return Ok(if s.verdict == "accepted" { ExitCode::OK } else { ExitCode::REJECTED });
    };
    let name = a
        .pack
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or(CliError::Usage("the pack path has no file name"))?;
    let bytes = std::fs::read(&a.pack).map_err(|source| CliError::Read { path: a.pack.clone(), source })?;
    let repo = repo(a.repo.as_deref())?;
    let gh = Github::from_env().map_err(CliError::Github)?;
    let asset = gh.replace_release_asset(&repo, &release, &name, bytes).map_err(CliError::Github)?;
    output::line(&format!(
        "{} {} on release {} ({})",
        if asset.replaced { "replaced" } else { "attached" },
        asset.name,
        release,
        asset.browser_download_url
    ))?;
    Ok(ExitCode::OK)
}
