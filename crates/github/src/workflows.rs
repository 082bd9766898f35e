//! The workflows `cargo capsule init` writes: the two-workflow pattern that
//! keeps a fork's benchmark code away from every secret and write token.
//!
//! `capsulebench.yml` runs on `pull_request` (and pushes to the default
//! branch, and releases) with a read-only token and no secrets, and
//! uploads the packs as an artifact; `capsulebench-comment.yml` runs on
//! `workflow_run` in the base repository, verifies the packs (they stay
//! unsigned) and comments on the pull request it finds from the run's
//! payload, or marks its comment stale when the run failed. The jobs that
//! hold a credential (`sign`: `id-token: write`; `publish`: `contents:
//! write`; `comment`: `pull-requests: write`) build nothing: they run the
//! cargo-capsule that a `tool` job holding no credential installed (the
//! action's pinned prebuilt, or a source build), checked by its SHA-256.
//! `init --board` adds `capsulebench-board.yml` ([`board_workflow`]):
//! it collects and verifies the packs into the board's static site with a
//! read-only token, and publishes it to GitHub Pages from a job holding
//! only what Pages needs.
//! The Action and every third-party action are pinned by commit SHA; each
//! job has a time limit, and a pull request's superseded runs are
//! cancelled.

/// `actions/checkout` v6.0.1.
pub const CHECKOUT: &str = "actions/checkout@8e8c483db84b4bee98b60c0593521ed34d9990e8 # v6.0.1";
/// `actions/upload-artifact` v5.0.0.
pub const UPLOAD_ARTIFACT: &str = "actions/upload-artifact@330a01c490aca151604b8cf639adc76d48f6c5d4 # v5.0.0";
/// `actions/download-artifact` v5.0.0.
pub const DOWNLOAD_ARTIFACT: &str = "actions/download-artifact@634f93cb2916e3fdff6788551b99b062d0335ce0 # v5.0.0";

/// `actions/upload-pages-artifact` v5.0.0.
pub const UPLOAD_PAGES_ARTIFACT: &str =
    "actions/upload-pages-artifact@fc324d3547104276b827a68afc52ff2a11cc49c9 # v5.0.0";
/// `actions/deploy-pages` v5.0.0.
pub const DEPLOY_PAGES: &str = "actions/deploy-pages@cd2ce8fcbc39b97be8ca5fce6e763baed58fa128 # v5.0.0";

/// Where `init --board` writes the board's workflow.
pub const BOARD_WORKFLOW: &str = ".github/workflows/capsulebench-board.yml";

/// A file `init` writes, relative to the repository root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowFile {
    /// The path (`.github/workflows/…`).
    pub path: &'static str,
    /// The contents.
    pub contents: String,
}

/// Where `init` writes the Dependabot configuration.
pub const DEPENDABOT: &str = ".github/dependabot.yml";

/// The Dependabot configuration that keeps the pinned actions current.
pub fn dependabot() -> WorkflowFile {
    WorkflowFile {
        path: DEPENDABOT,
        contents: "# Keeps the actions the workflows pin by commit SHA current (a pull request\n\
                   # a week that updates the SHA and its version comment). Written by\n\
                   # `cargo capsule init`.\n\
                   version: 2\n\
                   updates:\n  \
                   - package-ecosystem: github-actions\n    \
                   directory: /\n    \
                   schedule:\n      \
                   interval: weekly\n"
            .to_owned(),
    }
}

/// Whether a Dependabot configuration already updates GitHub Actions.
pub fn dependabot_covers_actions(existing: &str) -> bool {
    existing.lines().any(|l| {
        let l = l.trim().trim_start_matches("- ").trim();
        l.strip_prefix("package-ecosystem:").is_some_and(|v| v.trim().trim_matches(['"', '\'']) == "github-actions")
    })
}

/// Whether `action` is one `init` can write: this repository's own (`./`)
/// or `owner/repo@<40-hex commit>`.
pub fn is_pinned(action: &str) -> bool {
    action.starts_with("./") || action.rsplit_once('@').is_some_and(|(_, r)| is_sha(r))
}

/// The workflows, using the CapsuleBench Action at `action` (`owner/repo@<40-hex
/// commit>`, or `./` for a repository that holds the Action; see
/// [`is_pinned`]), pushes to `branch` (the default branch). With
/// `gungraun`, the version of the workspace's `gungraun` dependency, the
/// bench job first installs what its gungraun workloads need: valgrind and
/// `gungraun-runner` of that version (a version that is not plain
/// `[0-9A-Za-z.+-]` text is left out of the file).
pub fn workflows(action: &str, branch: &str, gungraun: Option<&str>) -> Vec<WorkflowFile> {
    let (uses, checkout_action) = uses(action);
    let branch = yaml_string(branch);
    let tools = match gungraun
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c)))
    {
        Some(version) => format!(
            "      # The gungraun workloads count instructions under valgrind, with the\n      # gungraun-runner of the benches' gungraun version.\n      - name: Install valgrind and gungraun-runner {version}\n        run: |\n          sudo apt-get update -qq\n          sudo apt-get install -y -qq valgrind\n          cargo install --locked gungraun-runner@{version}\n"
        ),
        None => String::new(),
    };
    let download_tool = download_tool();
    let tool_job = |condition: &str| tool_job(&uses, &checkout_action, condition);
    let main_tool = tool_job("    if: github.event_name != 'pull_request'\n");
    let comment_tool = tool_job("    if: github.event.workflow_run.event == 'pull_request'\n");
    vec![
        WorkflowFile {
            path: ".github/workflows/capsulebench.yml",
            contents: format!(
                r#"# Benchmarks every pull request, push and release with CapsuleBench. The bench
# job runs the code under test, so it holds no secrets, a read-only token and
# no `id-token`, and uploads the receipts (capsulepacks) as an artifact;
# `capsulebench-comment.yml` comments on pull requests from a separate
# workflow. For pushes and releases, `tool` installs cargo-capsule holding no
# credential; `sign` runs that binary (checked by its SHA-256) and nothing
# else to sign the packs keylessly; `publish` attaches a release's signed
# packs to it. A pull request's packs are never signed. Run it on
# GitHub-hosted runners only: a self-hosted runner would run a fork's code on
# your machine. Written by `cargo capsule init`.
name: CapsuleBench

on:
  pull_request:
  push:
    branches: [{branch}]
  release:
    types: [published]

permissions: {{}}

# A pull request's newer push cancels its older run; pushes and releases
# each run to the end.
concurrency:
  group: capsulebench-${{{{ github.event.pull_request.number || github.sha }}}}
  cancel-in-progress: ${{{{ github.event_name == 'pull_request' }}}}

jobs:
  bench:
    name: Benchmark (read-only)
    runs-on: ubuntu-latest
    timeout-minutes: 60
    permissions:
      contents: read
    steps:
      - uses: {CHECKOUT}
        with:
          # The pull request's head itself (not GitHub's merge commit), so
          # the comment job can check the packs measured the run's head.
          ref: ${{{{ github.event.pull_request.head.sha || github.sha }}}}
          fetch-depth: 0 # paired mode builds the merge base in a worktree
          persist-credentials: false
{tools}      - uses: {uses}
        # with:
        #   fail-on-regression: true # fail this check when a workload is slower
      # Uploaded even when the step above failed its gate, so the comment
      # workflow can show why.
      - if: ${{{{ !cancelled() }}}}
        uses: {UPLOAD_ARTIFACT}
        with:
          name: capsulepacks
          path: capsulepacks/
          if-no-files-found: error

{main_tool}
  sign:
    name: Sign the packs (keyless)
    if: github.event_name != 'pull_request'
    needs: [bench, tool]
    runs-on: ubuntu-latest
    timeout-minutes: 15
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
{PREBUILT_TOOL}      - uses: {UPLOAD_ARTIFACT}
        with:
          name: capsulepacks-signed
          path: capsulepacks/
          if-no-files-found: error

  publish:
    name: Attach the packs to the release
    if: github.event_name == 'release'
    needs: [sign, tool]
    runs-on: ubuntu-latest
    timeout-minutes: 15
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
{PREBUILT_TOOL}"#
            ),
        },
        WorkflowFile {
            path: ".github/workflows/capsulebench-comment.yml",
            contents: format!(
                r#"# Comments the verified base-vs-head comparison on the pull request that
# `capsulebench.yml` benchmarked, or marks the comment stale when that run
# failed or was cancelled. It runs in the base repository with a write token
# and never runs the pull request's code: `tool` installs cargo-capsule
# holding no credential, and `comment` runs only that binary (checked by its
# SHA-256) to verify the packs (which stay unsigned), check that they come
# from the triggering run, and find the pull request from the run's payload
# (its head branch and commit), never from the artifact. Written by
# `cargo capsule init`.
name: CapsuleBench comment

on:
  workflow_run: # zizmor: ignore[dangerous-triggers] no code from the triggering run is executed; its packs are only verified
    workflows: [CapsuleBench]
    types: [completed]

permissions: {{}}

# One at a time per pull request head, the newest waiting last.
concurrency:
  group: capsulebench-comment-${{{{ github.event.workflow_run.head_repository.full_name }}}}-${{{{ github.event.workflow_run.head_branch }}}}
  cancel-in-progress: false

jobs:
{comment_tool}
  comment:
    name: Comment on the pull request
    if: github.event.workflow_run.event == 'pull_request'
    needs: [tool]
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      actions: read # download the triggering run's artifact
      pull-requests: write # create, update or mark stale the comment; only the prebuilt tool runs here
    steps:
{checkout_action}      # A run that failed may have uploaded its packs before its gate failed;
      # without them, the comment is marked stale.
      - if: contains(fromJSON('["success", "failure"]'), github.event.workflow_run.conclusion)
        continue-on-error: true
        uses: {DOWNLOAD_ARTIFACT}
        with:
          name: capsulepacks
          path: capsulepacks
          run-id: ${{{{ github.event.workflow_run.id }}}}
          github-token: ${{{{ github.token }}}}
{download_tool}      - uses: {uses}
        with:
          mode: comment
{PREBUILT_TOOL}"#
            ),
        },
        dependabot(),
    ]
}

/// The Action's `uses:` value, and the checkout step a job needs before it
/// when the Action is this repository's own (`./`).
fn uses(action: &str) -> (String, String) {
    if action.starts_with("./") {
        (
            format!("{action} # zizmor: ignore[self-repository] actionlint does not accept the newer `$/` form yet"),
            format!(
                "      # The Action is this repository's own code, at this run's commit.\n      - uses: {CHECKOUT}\n        with:\n          persist-credentials: false\n"
            ),
        )
    } else {
        (action.to_owned(), String::new())
    }
}

/// The step of a job holding a credential that fetches the `tool` job's
/// binary, which is all such a job runs.
fn download_tool() -> String {
    format!(
        "      - uses: {DOWNLOAD_ARTIFACT}\n        with:\n          name: cargo-capsule\n          path: ${{{{ runner.temp }}}}/cargo-capsule-artifact\n"
    )
}

/// The Action's inputs that make it run that binary.
const PREBUILT_TOOL: &str = "          tool-binary: ${{ runner.temp }}/cargo-capsule-artifact/cargo-capsule\n          tool-sha256: ${{ needs.tool.outputs.sha256 }}\n";

/// The job that installs cargo-capsule holding no credential and uploads
/// it for the jobs that do.
fn tool_job(uses: &str, checkout_action: &str, condition: &str) -> String {
    format!(
        r#"  tool:
    name: Install cargo-capsule (no credentials)
{condition}    runs-on: ubuntu-latest
    timeout-minutes: 30
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
"#
    )
}

/// The board's workflow (`init --board`), using the Action at `action` (as
/// [`workflows`] takes it), for the pushes to `branch`: after each
/// `CapsuleBench` run of a push or a release, and on demand, `board`
/// collects the packs (release assets, and the artifacts of pushes to
/// `branch`) with a read-only token, verifies them into the static site and
/// uploads it; `deploy` publishes it to GitHub Pages, holding only what
/// Pages needs and running no CapsuleBench code at all.
pub fn board_workflow(action: &str, branch: &str) -> WorkflowFile {
    let (uses, checkout_action) = uses(action);
    let only = "    if: github.event_name == 'workflow_dispatch' || contains(fromJSON('[\"push\", \"release\"]'), github.event.workflow_run.event)\n";
    let tool = tool_job(&uses, &checkout_action, only);
    let download_tool = download_tool();
    let branch = yaml_string(branch);
    WorkflowFile {
        path: BOARD_WORKFLOW,
        contents: format!(
            r#"# Publishes the CapsuleBench board of this repository to GitHub Pages: the
# leaderboards and history of every pack that verifies, from the release
# assets and the packs of pushes to `{branch}`. It runs after each
# `CapsuleBench` run of a push or a release, and on demand. `tool` installs
# cargo-capsule holding no credential; `board` runs only that binary
# (checked by its SHA-256), with a read-only token, to collect and verify
# the packs (nothing in a pack is ever run) and build the site; `deploy`
# runs only GitHub's deploy-pages, holding only the permissions Pages
# needs. In Settings > Pages, set the source to "GitHub Actions". Written by
# `cargo capsule init --board`.
name: CapsuleBench board

on:
  workflow_run: # zizmor: ignore[dangerous-triggers] no code from the triggering run is executed; the packs are only verified
    workflows: [CapsuleBench]
    types: [completed]
  workflow_dispatch:

permissions: {{}}

# One deployment at a time; a newer board waits for the one in progress.
concurrency:
  group: capsulebench-board
  cancel-in-progress: false

jobs:
{tool}
  board:
    name: Collect and verify the packs, build the board
{only}    needs: [tool]
    runs-on: ubuntu-latest
    timeout-minutes: 30
    permissions:
      contents: read # the releases and their assets
      actions: read # the benchmark runs and their artifacts
    steps:
{checkout_action}{download_tool}      - uses: {uses}
        with:
          mode: board
          board-branch: {branch}
          board-dir: capsulebench-board
{PREBUILT_TOOL}      - uses: {UPLOAD_PAGES_ARTIFACT}
        with:
          path: capsulebench-board/

  deploy:
    name: Publish the board to GitHub Pages
    needs: [board]
    runs-on: ubuntu-latest
    timeout-minutes: 10
    permissions:
      pages: write # publish the site
      id-token: write # deploy-pages proves this run to Pages; nothing else runs here
    environment:
      name: github-pages
      url: ${{{{ steps.deploy.outputs.page_url }}}}
    steps:
      - id: deploy
        uses: {DEPLOY_PAGES}
"#
        ),
    }
}

/// The board's address on GitHub Pages for `repo` (`owner/name`): a
/// project site, or the user or organization site when the repository is
/// `owner/owner.github.io`.
pub fn pages_url(owner: &str, name: &str) -> String {
    let host = format!("{}.github.io", owner.to_ascii_lowercase());
    if name.eq_ignore_ascii_case(&host) { format!("https://{host}/") } else { format!("https://{host}/{name}/") }
}

/// The Markdown of a README badge that shows the board's counts and links
/// to it (the board writes `badge.svg`).
pub fn badge_markdown(url: &str) -> String {
    format!("[![CapsuleBench board]({url}badge.svg)]({url})")
}

/// A YAML scalar for a branch name: bare when it is plainly safe, else
/// double-quoted with `"` and `\` escaped.
fn yaml_string(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b)) {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
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

    fn file(action: &str, name: &str) -> String {
        workflows(action, "main", None)
            .into_iter()
            .find(|f| f.path.ends_with(name))
            .map(|f| f.contents)
            .unwrap_or_default()
    }

    /// Who holds what: only `sign` can mint a certificate, only `publish`
    /// can write contents, only `comment` can write to pull requests; all
    /// three run the `tool` job's binary checked by its digest and build
    /// nothing; the bench job holds nothing; every job has a time limit.
    #[test]
    fn only_the_jobs_that_run_no_workload_hold_credentials() {
        for action in [PINNED, "./"] {
            let main = jobs(&file(action, "capsulebench.yml"));
            let comment = jobs(&file(action, "capsulebench-comment.yml"));
            let names: Vec<&str> = main.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["bench", "tool", "sign", "publish"], "{action}");
            let names: Vec<&str> = comment.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["tool", "comment"], "{action}");
            for (name, text) in main.iter().chain(&comment) {
                assert_eq!(text.contains("id-token: write"), name == "sign", "{action} {name}");
                assert_eq!(text.contains("contents: write"), name == "publish", "{action} {name}");
                assert_eq!(text.contains("pull-requests: write"), name == "comment", "{action} {name}");
                assert!(!text.contains("secrets."), "{action} {name}");
                assert!(text.contains("    timeout-minutes: "), "{action} {name} has no time limit");
                if ["sign", "publish", "comment"].contains(&name.as_str()) {
                    assert!(text.contains("tool-sha256: ${{ needs.tool.outputs.sha256 }}"), "{action} {name}");
                    assert!(text.contains("tool-binary: "), "{action} {name}");
                    assert!(!text.contains("mode: install") && !text.contains("mode: bench"), "{action} {name}");
                }
            }
            let job = |n: &str| main.iter().find(|(name, _)| name == n).map(|(_, t)| t.as_str()).unwrap_or_default();
            assert!(job("tool").contains("if: github.event_name != 'pull_request'"));
            assert!(job("sign").contains("if: github.event_name != 'pull_request'"));
            assert!(job("sign").contains("needs: [bench, tool]"));
            assert!(job("publish").contains("if: github.event_name == 'release'"));
            assert!(job("tool").contains("mode: install") && job("tool").contains("contents: read"));
            // The bench job does not comment: that is the workflow_run's.
            assert!(!job("bench").contains("comment:") && !job("bench").contains("pull-requests"));
            assert!(job("bench").contains("ref: ${{ github.event.pull_request.head.sha || github.sha }}"));
            assert!(job("bench").contains("fetch-depth: 0"));
        }
    }

    /// The board's workflow: `board` reads (releases, runs' artifacts) and
    /// runs only the `tool` job's binary; `deploy` holds only what Pages
    /// needs and runs only deploy-pages; nothing runs for pull requests;
    /// every action is pinned by commit.
    #[test]
    fn the_board_is_published_by_a_job_holding_only_pages_permissions() {
        for action in [PINNED, "./"] {
            let wf = board_workflow(action, "trunk");
            assert_eq!(wf.path, BOARD_WORKFLOW);
            let all = jobs(&wf.contents);
            let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["tool", "board", "deploy"], "{action}");
            let job = |n: &str| all.iter().find(|(name, _)| name == n).map(|(_, t)| t.as_str()).unwrap_or_default();
            let permissions = |n: &str| -> Vec<String> {
                let text = job(n);
                let block = text.split("    permissions:\n").nth(1).unwrap_or_default();
                block
                    .lines()
                    .take_while(|l| l.starts_with("      "))
                    .map(|l| l.trim().split(" #").next().unwrap_or_default().to_owned())
                    .collect()
            };
            assert_eq!(permissions("tool"), ["contents: read"], "{action}");
            assert_eq!(permissions("board"), ["contents: read", "actions: read"], "{action}");
            assert_eq!(permissions("deploy"), ["pages: write", "id-token: write"], "{action}");
            let board = job("board");
            assert!(board.contains("mode: board") && board.contains("board-branch: trunk"), "{board}");
            assert!(board.contains("tool-sha256: ${{ needs.tool.outputs.sha256 }}"), "{board}");
            assert!(board.contains(&format!("uses: {UPLOAD_PAGES_ARTIFACT}")), "{board}");
            let deploy = job("deploy");
            let steps: Vec<&str> = deploy.lines().filter(|l| l.trim_start().starts_with("- ")).collect();
            assert_eq!(steps, ["      - id: deploy"], "deploy runs one step: {deploy}");
            assert!(deploy.contains(&format!("uses: {DEPLOY_PAGES}")) && deploy.contains("name: github-pages"));
            assert!(!deploy.contains("checkout") && !deploy.contains("capsule"), "{deploy}");
            for n in ["tool", "board"] {
                assert!(
                    job(n).contains("contains(fromJSON('[\"push\", \"release\"]'), github.event.workflow_run.event)"),
                    "{n} runs after pushes and releases only"
                );
            }
            for line in wf
                .contents
                .lines()
                .filter(|l| l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:"))
            {
                let target = line.split("uses:").nth(1).unwrap_or_default().trim();
                assert!(is_pinned(target.split(' ').next().unwrap_or_default()), "not pinned: {line}");
            }
            assert!(!wf.contents.contains("secrets."));
        }
        assert_eq!(pages_url("CapsuleBench", "capsulebench"), "https://capsulebench.github.io/capsulebench/");
        assert_eq!(pages_url("o", "O.github.io"), "https://o.github.io/");
        assert_eq!(
            badge_markdown("https://o.github.io/r/"),
            "[![CapsuleBench board](https://o.github.io/r/badge.svg)](https://o.github.io/r/)"
        );
    }

    /// A pull request's newer push cancels its older run; every push and
    /// release runs to the end.
    /// A workspace with gungraun workloads gets valgrind and the runner of
    /// its gungraun version installed in the bench job, before the Action
    /// runs them; a version that is not plain text is never written.
    #[test]
    fn gungraun_tools_are_installed_before_the_bench_step() {
        let bench = |v: Option<&str>| workflows(PINNED, "main", v).remove(0).contents;
        let with = bench(Some("0.20.0"));
        let step = with.find("cargo install --locked gungraun-runner@0.20.0\n").expect("the install step");
        assert!(with.contains("sudo apt-get install -y -qq valgrind"), "{with}");
        assert!(step < with.find(&format!("uses: {PINNED}")).unwrap_or(0), "installed before the Action runs: {with}");
        for v in [None, Some(""), Some("1.0\n      - run: curl x | sh"), Some("${{ github.head_ref }}")] {
            assert_eq!(bench(v), bench(None), "{v:?}");
            assert!(!bench(v).contains("gungraun"));
        }
    }

    #[test]
    fn superseded_pull_request_runs_are_cancelled() {
        let main = file(PINNED, "capsulebench.yml");
        assert!(main.contains(
            "concurrency:\n  group: capsulebench-${{ github.event.pull_request.number || github.sha }}\n  cancel-in-progress: ${{ github.event_name == 'pull_request' }}\n"
        ));
    }

    /// The default branch is the one given, quoted when YAML needs it.
    #[test]
    fn pushes_to_the_default_branch_run() {
        for (branch, line) in
            [("main", "branches: [main]"), ("trunk", "branches: [trunk]"), ("a,b]#x", r#"branches: ["a,b]#x"]"#)]
        {
            let main = workflows(PINNED, branch, None).remove(0).contents;
            assert!(main.contains(line), "{branch}: {main}");
        }
    }

    #[test]
    fn dependabot_keeps_the_pins_current() {
        let d = dependabot().contents;
        assert!(dependabot_covers_actions(&d), "{d}");
        assert!(dependabot_covers_actions("updates:\n  - package-ecosystem: \"github-actions\"\n"));
        assert!(!dependabot_covers_actions("updates:\n  - package-ecosystem: cargo\n"));
        assert!(is_pinned(PINNED) && is_pinned("./"));
        for unpinned in
            ["capsulebench/action@v1", "capsulebench/action", "o/r@ABCDEF0123456789abcdef0123456789abcdef01"]
        {
            assert!(!is_pinned(unpinned), "{unpinned}");
        }
    }

    /// The README's one-job example holds only a read-only token, so it
    /// works for a fork's pull request, and checks out the full history the
    /// paired run needs; it does not ask to comment.
    #[test]
    fn the_readme_example_needs_no_write_token() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
        let section = readme.split("## In GitHub Actions").nth(1).unwrap_or_default();
        let example = section.split("```yaml\n").nth(1).and_then(|s| s.split("```").next()).unwrap_or_default();
        for line in
            ["on: pull_request", "permissions: {}", "contents: read", "fetch-depth: 0", "uses: capsulebench/action@"]
        {
            assert!(example.contains(line), "the README example lacks `{line}`: {example}");
        }
        for absent in ["write", "comment:", "secrets.", "id-token"] {
            assert!(!example.contains(absent), "the README example has `{absent}`: {example}");
        }
        assert!(example.contains(CHECKOUT), "the README pins the checkout `init` writes");
    }

    /// This repository runs exactly what `init --action ./ --board` writes.
    #[test]
    fn the_repository_runs_what_init_writes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for f in workflows("./", "main", None).into_iter().chain([board_workflow("./", "main")]) {
            let ours = std::fs::read_to_string(root.join(f.path)).unwrap_or_default();
            assert_eq!(ours, f.contents, "{} differs: run `cargo capsule init --action ./ --force`", f.path);
        }
    }

    /// The Action installs the tool with no cache, gives its scripts what
    /// they check the tool with, refuses Windows first, and passes inputs
    /// only through `env:`.
    #[test]
    fn the_action_wires_its_steps() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let action = std::fs::read_to_string(root.join("action.yml")).unwrap_or_default();
        assert!(!action.contains("actions/cache"), "no cache: a workload could write it");
        let steps: Vec<&str> = action.split("    - name: ").skip(1).collect();
        assert!(
            steps.first().is_some_and(|s| s.starts_with("Refuse Windows") && s.contains("if: runner.os == 'Windows'"))
        );
        let step = |name: &str| steps.iter().find(|s| s.starts_with(name)).copied().unwrap_or_default();
        let install = step("Install cargo-capsule");
        for line in [
            "id: install",
            "MODE: ${{ inputs.mode }}",
            "TOOL_BINARY: ${{ inputs.tool-binary }}",
            "TOOL_SHA256: ${{ inputs.tool-sha256 }}",
            "SIGNING_KEY: ${{ inputs.signing-key }}",
            "run: bash \"$GITHUB_ACTION_PATH/action/install.sh\"",
        ] {
            assert!(install.contains(line), "the install step lacks `{line}`");
        }
        let run = step("Run CapsuleBench");
        for line in [
            "if: inputs.mode != 'install'",
            "CAPSULE_BIN: ${{ steps.install.outputs.tool }}",
            "TOOL_SHA256: ${{ steps.install.outputs.tool-sha256 }}",
            "MODE: ${{ inputs.mode }}",
            "PR_BASE_SHA: ${{ github.event.pull_request.base.sha }}",
            "RUN_CONCLUSION: ${{ github.event.workflow_run.conclusion }}",
            "run: bash \"$GITHUB_ACTION_PATH/action/run.sh\"",
        ] {
            assert!(run.contains(line), "the run step lacks `{line}`");
        }
        for run in action.lines().filter(|l| l.trim_start().starts_with("run:")) {
            assert!(!run.contains("${{"), "an expression inside `run:`: {run}");
        }
    }
}
