//! The workflows `cargo capsule init` writes: the two-workflow pattern that
//! keeps a fork's benchmark code away from every secret and write token.
//!
//! `capsulebench.yml` runs on `pull_request` (and pushes and releases) with
//! a read-only token and no secrets, and uploads the packs as an artifact;
//! `capsulebench-comment.yml` runs on `workflow_run` in the base
//! repository, downloads the packs, verifies them (they stay unsigned) and
//! comments on the pull request it finds by the run's head commit through
//! the API. For an Action pinned by commit (or this repository's own), packs
//! of pushes and releases are signed keylessly by a job that holds
//! `id-token: write` and runs only a cargo-capsule built by a job holding no
//! credential (checked by its SHA-256), and a release's are attached to it
//! by a job that holds `contents: write` the same way. Third-party actions
//! are pinned by commit SHA.

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
            "      # The Action is this repository's own code, at this run's commit.\n      - uses: {CHECKOUT}\n        with:\n          persist-credentials: false\n"
        )
    } else {
        String::new()
    };
    let pinned = writes_signing_jobs(action);
    let header = if pinned {
        "# Benchmarks every pull request, push and release with CapsuleBench. The bench
# job runs the code under test, so it holds no secrets, a read-only token and
# no `id-token`, and uploads the receipts (capsulepacks) as an artifact;
# `capsulebench-comment.yml` comments on pull requests from a separate
# workflow. For pushes and releases, `tool` builds cargo-capsule holding no
# credential; `sign` runs that binary (checked by its SHA-256) and nothing
# else to sign the packs keylessly; `publish` attaches a release's signed
# packs to it. A pull request's packs are never signed. Written by
# `cargo capsule init`.
"
    } else {
        "# Benchmarks every pull request and push with CapsuleBench. The bench job
# runs the code under test, so it holds no secrets and a read-only token, and
# uploads the receipts (capsulepacks) as an artifact;
# `capsulebench-comment.yml` comments on pull requests from a separate
# workflow. The jobs that sign packs and attach them to releases hold
# credentials, so `init` writes them only for an Action pinned by commit
# (`cargo capsule init --action OWNER/REPO@SHA`). Written by
# `cargo capsule init`.
"
    };
    let release_trigger = if pinned { "  release:\n    types: [published]\n" } else { "" };
    // What the jobs holding a credential run: the `tool` job's binary.
    let download_tool = format!(
        "      - uses: {DOWNLOAD_ARTIFACT}\n        with:\n          name: cargo-capsule\n          path: ${{{{ runner.temp }}}}/cargo-capsule-artifact\n"
    );
    let prebuilt_tool = "          tool-binary: ${{ runner.temp }}/cargo-capsule-artifact/cargo-capsule\n          tool-sha256: ${{ needs.tool.outputs.sha256 }}\n";
    let signing_jobs = if pinned {
        format!(
            r#"
  tool:
    if: github.event_name != 'pull_request'
    runs-on: ubuntu-latest
    permissions:
      contents: read
    outputs:
      sha256: ${{{{ steps.install.outputs.tool-sha256 }}}}
    steps:
{checkout_action}      - id: install
        uses: {uses}
        with:
          mode: install
      - uses: {UPLOAD_ARTIFACT}
        with:
          name: cargo-capsule
          path: ${{{{ steps.install.outputs.tool }}}}
          if-no-files-found: error

  sign:
    if: github.event_name != 'pull_request'
    needs: [bench, tool]
    runs-on: ubuntu-latest
    permissions:
      id-token: write # a Sigstore certificate for this workflow; only the prebuilt tool runs here
    steps:
{checkout_action}      - uses: {DOWNLOAD_ARTIFACT}
        with:
          name: capsulepacks
          path: capsulepacks
{download_tool}      - uses: {uses}
        with:
          mode: sign
          sign: sigstore
{prebuilt_tool}      - uses: {UPLOAD_ARTIFACT}
        with:
          name: capsulepacks-signed
          path: capsulepacks/
          if-no-files-found: error

  publish:
    if: github.event_name == 'release'
    needs: [sign, tool]
    runs-on: ubuntu-latest
    permissions:
      contents: write # attach the signed packs to the release; only the prebuilt tool runs here
    steps:
{checkout_action}      - uses: {DOWNLOAD_ARTIFACT}
        with:
          name: capsulepacks-signed
          path: capsulepacks
{download_tool}      - uses: {uses}
        with:
          mode: publish
          upload-release: ${{{{ github.event.release.tag_name }}}}
{prebuilt_tool}"#
        )
    } else {
        String::new()
    };
    vec![
        WorkflowFile {
            path: ".github/workflows/capsulebench.yml",
            contents: format!(
                r#"{header}name: CapsuleBench

on:
  pull_request:
  push:
    branches: [main]
{release_trigger}
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
{signing_jobs}"#
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

/// Whether the workflows for `action` include the jobs that hold
/// credentials (keyless signing, release assets): only for an Action pinned
/// by commit, or this repository's own (`./`).
pub fn writes_signing_jobs(action: &str) -> bool {
    action.starts_with("./") || action.rsplit('@').next().is_some_and(is_sha)
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

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: &str = "capsulebench/action@0123456789abcdef0123456789abcdef01234567";

    /// The jobs of a workflow, each as its name and its text.
    fn jobs(yaml: &str) -> Vec<(String, String)> {
        let body = yaml.split_once("\njobs:\n").map(|(_, b)| b).unwrap_or_default();
        let mut out: Vec<(String, String)> = Vec::new();
        for line in body.lines() {
            match line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
                Some(name) if !name.starts_with(' ') => out.push((name.to_owned(), String::new())),
                _ => {
                    if let Some((_, text)) = out.last_mut() {
                        text.push_str(line);
                        text.push('\n');
                    }
                }
            }
        }
        out
    }

    fn main_workflow(action: &str) -> String {
        workflows(action)
            .into_iter()
            .find(|f| f.path.ends_with("capsulebench.yml"))
            .map(|f| f.contents)
            .unwrap_or_default()
    }

    /// Who holds what: only `sign` can mint a certificate, only `publish`
    /// can write, both run the `tool` job's binary checked by its digest and
    /// never for a pull request; nothing else holds a credential.
    #[test]
    fn only_the_signing_and_release_jobs_hold_credentials() {
        for action in [PINNED, "./"] {
            let jobs = jobs(&main_workflow(action));
            let names: Vec<&str> = jobs.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["bench", "tool", "sign", "publish"], "{action}");
            for (name, text) in &jobs {
                assert_eq!(text.contains("id-token: write"), name == "sign", "{action} {name}");
                assert_eq!(text.contains("contents: write"), name == "publish", "{action} {name}");
                assert!(!text.contains("secrets."), "{action} {name}");
                if name == "sign" || name == "publish" {
                    assert!(text.contains("tool-sha256: ${{ needs.tool.outputs.sha256 }}"), "{action} {name}");
                    assert!(text.contains("tool-binary: "), "{action} {name}");
                    assert!(!text.contains("mode: install") && !text.contains("mode: bench"), "{action} {name}");
                }
            }
            let job = |n: &str| jobs.iter().find(|(name, _)| name == n).map(|(_, t)| t.as_str()).unwrap_or_default();
            assert!(job("tool").contains("if: github.event_name != 'pull_request'"));
            assert!(job("sign").contains("if: github.event_name != 'pull_request'"));
            assert!(job("sign").contains("needs: [bench, tool]"));
            assert!(job("publish").contains("if: github.event_name == 'release'"));
            assert!(job("tool").contains("mode: install") && job("tool").contains("contents: read"));
        }
        // Unpinned: no job holds a credential at all.
        let unpinned = main_workflow("capsulebench/action@v1");
        let names: Vec<String> = jobs(&unpinned).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["bench"]);
        assert!(!unpinned.contains("id-token") && !unpinned.contains("contents: write"));
    }

    /// This repository runs exactly what `init --action ./` writes.
    #[test]
    fn the_repository_runs_what_init_writes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for f in workflows("./") {
            let ours = std::fs::read_to_string(root.join(f.path)).unwrap_or_default();
            assert_eq!(ours, f.contents, "{} differs: run `cargo capsule init --action ./ --force`", f.path);
        }
    }

    /// The Action reuses a cached tool only in the bench job, gives its
    /// scripts what they check the tool with, and passes inputs only
    /// through `env:`.
    #[test]
    fn the_action_wires_its_steps() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let action = std::fs::read_to_string(root.join("action.yml")).unwrap_or_default();
        let step = |name: &str| action.split("    - name: ").find(|s| s.starts_with(name)).unwrap_or_default();
        assert!(step("Cache cargo-capsule").contains("if: inputs.mode == 'bench'"));
        let install = step("Install cargo-capsule");
        for line in [
            "id: install",
            "MODE: ${{ inputs.mode }}",
            "TOOL_BINARY: ${{ inputs.tool-binary }}",
            "TOOL_SHA256: ${{ inputs.tool-sha256 }}",
            "run: bash \"$GITHUB_ACTION_PATH/action/install.sh\"",
        ] {
            assert!(install.contains(line), "the install step lacks `{line}`");
        }
        let run = step("Run CapsuleBench");
        for line in [
            "if: inputs.mode != 'install'",
            "CAPSULE_BIN: ${{ steps.install.outputs.tool }}",
            "TOOL_SHA256: ${{ inputs.tool-sha256 }}",
            "MODE: ${{ inputs.mode }}",
            "run: bash \"$GITHUB_ACTION_PATH/action/run.sh\"",
        ] {
            assert!(run.contains(line), "the run step lacks `{line}`");
        }
        for run in action.lines().filter(|l| l.trim_start().starts_with("run:")) {
            assert!(!run.contains("${{"), "an expression inside `run:`: {run}");
        }
    }
}
