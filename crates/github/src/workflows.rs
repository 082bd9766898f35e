//! The workflows `cargo capsule init` writes: the two-workflow pattern that
//! keeps a fork's benchmark code away from every secret and write token.
//!
//! `capsulebench.yml` runs on `pull_request` (and pushes and releases) with
//! a read-only token and no secrets, and uploads the packs as an artifact;
//! `capsulebench-comment.yml` runs on `workflow_run` in the base
//! repository, downloads the packs, verifies them (they stay unsigned) and
//! comments on the pull request it finds by the run's head commit through
//! the API. Packs of pushes and releases are signed keylessly by a job that
//! holds `id-token: write` and runs no workload or build code, and a
//! release's are attached to it by a job that holds `contents: write`.
//! Third-party actions are pinned by commit SHA.

/// `actions/checkout` v4.1.1.
pub const CHECKOUT: &str = "actions/checkout@b4ffde65f46336ab88eb53be808477a3936bae11 # v4.1.1";
/// `actions/upload-artifact` v4.3.1.
pub const UPLOAD_ARTIFACT: &str = "actions/upload-artifact@5d5d22a31266ced268874388b861e4b58bb5c2f3 # v4.3.1";
/// `actions/download-artifact` v4.1.8.
pub const DOWNLOAD_ARTIFACT: &str = "actions/download-artifact@fa0a91b85d4f404e444e00e005971372dc801d16 # v4.1.8";

/// A file `init` writes, relative to the repository root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowFile {
    /// The path (`.github/workflows/…`).
    pub path: &'static str,
    /// The contents.
    pub contents: String,
}

/// The workflows, using the CapsuleBench Action at `action` (`owner/repo@<40-hex
/// commit>` to pin it, or `./` for a repository that holds the Action).
pub fn workflows(action: &str) -> Vec<WorkflowFile> {
    let pin_note = if action.starts_with("./") {
        " # zizmor: ignore[self-repository] actionlint does not accept the newer `$/` form yet".to_owned()
    } else if action.rsplit('@').next().is_some_and(is_sha) {
        String::new()
    } else {
        " # zizmor: ignore[unpinned-uses] pin a commit with `cargo capsule init --action OWNER/REPO@SHA`".to_owned()
    };
    let uses = format!("{action}{pin_note}");
    let checkout_action = if action.starts_with("./") {
        format!(
            "      # The Action is this repository's own code, from the default branch.\n      - uses: {CHECKOUT}\n        with:\n          persist-credentials: false\n"
        )
    } else {
        String::new()
    };
    vec![
        WorkflowFile {
            path: ".github/workflows/capsulebench.yml",
            contents: format!(
                r#"# Benchmarks every pull request, push and release with CapsuleBench and
# uploads the receipts (capsulepacks) as an artifact. The bench job runs the
# code under test, so it holds no secrets, a read-only token and no
# `id-token`; `capsulebench-comment.yml` comments on pull requests from a
# separate workflow. Packs of pushes and releases are signed keylessly by a
# job that runs no workload or build code (a pull request's never are), and
# a release's are attached to it. Written by `cargo capsule init`.
name: CapsuleBench

on:
  pull_request:
  push:
    branches: [main]
  release:
    types: [published]

permissions: {{}}

jobs:
  bench:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: {CHECKOUT}
        with:
          fetch-depth: 0 # paired mode builds the base commit in a worktree
          persist-credentials: false
      - uses: {uses}
        with:
          comment: false
      - uses: {UPLOAD_ARTIFACT}
        with:
          name: capsulepacks
          path: capsulepacks/
          if-no-files-found: error

  sign:
    if: github.event_name != 'pull_request'
    needs: bench
    runs-on: ubuntu-latest
    permissions:
      id-token: write # a Sigstore certificate for this workflow; no workload code runs here
    steps:
{checkout_action}      - uses: {DOWNLOAD_ARTIFACT}
        with:
          name: capsulepacks
          path: capsulepacks
      - uses: {uses}
        with:
          mode: sign
          sign: sigstore
      - uses: {UPLOAD_ARTIFACT}
        with:
          name: capsulepacks-signed
          path: capsulepacks/
          if-no-files-found: error

  publish:
    if: github.event_name == 'release'
    needs: sign
    runs-on: ubuntu-latest
    permissions:
      contents: write # attach the signed packs to the release
    steps:
{checkout_action}      - uses: {DOWNLOAD_ARTIFACT}
        with:
          name: capsulepacks-signed
          path: capsulepacks
      - uses: {uses}
        with:
          mode: publish
          upload-release: ${{{{ github.event.release.tag_name }}}}
"#
            ),
        },
        WorkflowFile {
            path: ".github/workflows/capsulebench-comment.yml",
            contents: format!(
                r#"# Comments the verified base-vs-head comparison on the pull request that
# `capsulebench.yml` benchmarked. It runs in the base repository with a write
# token and never runs the pull request's code: it only verifies the packs
# (which stay unsigned) and finds the pull request by the run's head commit
# through the API, never from the artifact. Written by `cargo capsule init`.
name: CapsuleBench comment

on:
  workflow_run: # zizmor: ignore[dangerous-triggers] no code from the triggering run is executed; its packs are only verified
    workflows: [CapsuleBench]
    types: [completed]

permissions: {{}}

jobs:
  comment:
    if: github.event.workflow_run.event == 'pull_request' && github.event.workflow_run.conclusion == 'success'
    runs-on: ubuntu-latest
    permissions:
      actions: read # download the triggering run's artifact
      pull-requests: write # create or update the comment
    steps:
{checkout_action}      - uses: {DOWNLOAD_ARTIFACT}
        with:
          name: capsulepacks
          path: capsulepacks
          run-id: ${{{{ github.event.workflow_run.id }}}}
          github-token: ${{{{ github.token }}}}
      - uses: {uses}
        with:
          mode: comment
          head-sha: ${{{{ github.event.workflow_run.head_sha }}}}
"#
            ),
        },
    ]
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// What `init` would do with one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// It does not exist yet.
    Create,
    /// It exists with the same contents.
    Unchanged,
    /// It exists and differs: the unified diff from it to what `init` writes.
    Differs(String),
}

/// Compares each file with what is at `root`.
pub fn plan(root: &std::path::Path, files: &[WorkflowFile]) -> std::io::Result<Vec<Plan>> {
    files
        .iter()
        .map(|f| match std::fs::read_to_string(root.join(f.path)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Plan::Create),
            Err(e) => Err(e),
            Ok(old) if old == f.contents => Ok(Plan::Unchanged),
            Ok(old) => Ok(Plan::Differs(
                similar::TextDiff::from_lines(&old, &f.contents)
                    .unified_diff()
                    .header(&format!("a/{}", f.path), &format!("b/{}", f.path))
                    .to_string(),
            )),
        })
        .collect()
}
