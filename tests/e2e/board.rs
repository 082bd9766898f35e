//! The verifier-gated board end to end: real packs (bench runs over several
//! commits as CI pushes to `main`, a pull-request run, a signed and
//! certified one, an imported one) and forged ones, `board build`, the
//! site's index and pages, `board add` into it, and the same board built
//! whole.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use capsule_testkit::forge::Forged;
use serde_json::{Value, json};

use super::bench::{git, stderr, workspace};
use super::{json, root, stdout};

fn capsule_env(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    c.arg("capsule").args(args).current_dir(dir);
    c.env("CARGO_TARGET_DIR", dir.join("target")).env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS");
    for k in ["GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_SHA", "GITHUB_WORKFLOW_REF"] {
        c.env_remove(k);
    }
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c.output().unwrap()
}

fn capsule(dir: &Path, args: &[&str]) -> Output {
    capsule_env(dir, &[], args)
}

/// The environment of a GitHub Actions run of `octo/bench` at `commit` on
/// `git_ref`.
fn ci(commit: &str, git_ref: &str, run: u32) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("GITHUB_REPOSITORY", "octo/bench".to_owned()),
        ("GITHUB_RUN_ID", run.to_string()),
        ("GITHUB_SHA", commit.to_owned()),
        ("GITHUB_WORKFLOW_REF", format!("octo/bench/.github/workflows/bench.yml@{git_ref}")),
    ]
}

fn head(ws: &Path) -> String {
    let o = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(ws).output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// A workspace whose one workload is a fast command.
pub(super) fn fast_workspace(tmp: &Path) -> PathBuf {
    let ws = workspace(tmp, None);
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let config = "\n[workspace.metadata.capsule]\npolicy = \"standard-v1\"\n\n\
                  [[workspace.metadata.capsule.workloads]]\nkind = \"command\"\nid = \"fast\"\nargs = ['sh', '-c', 'echo 42']\n";
    std::fs::write(ws.join("Cargo.toml"), manifest + config).unwrap();
    git(&ws, &["commit", "-qam", "a fast workload"]);
    ws
}

fn board_json(site: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(site.join("board.json")).unwrap()).unwrap()
}

fn entries(b: &Value) -> Vec<Value> {
    b["workloads"].as_array().unwrap().iter().flat_map(|w| w["entries"].as_array().unwrap().clone()).collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What the board fixture holds: the workspace, the pack directory, the
/// trust files and the capsule hashes that matter.
pub(super) struct Fixture {
    pub(super) ws: PathBuf,
    pub(super) packs: PathBuf,
    pub(super) trust: Vec<String>,
    pub(super) signed: String,
    pub(super) forged: Vec<String>,
    pub(super) late: PathBuf,
}

/// Packs of three pushes to `main`, a pull request, a signed one (its
/// key allowed by an ACL, its policy in a registry), an imported one (when
/// the harness vectors are there), and two forged ones; one more push kept
/// apart for `board add`.
pub(super) fn fixture(tmp: &Path) -> Fixture {
    let ws = fast_workspace(tmp);
    let packs = tmp.join("packs");
    std::fs::create_dir_all(&packs).unwrap();
    for i in 1..=3u32 {
        std::fs::write(ws.join("src/lib.rs"), format!("// change {i}\n")).unwrap();
        git(&ws, &["commit", "-qam", &format!("change {i}")]);
        let c = head(&ws);
        let out = packs.join(format!("main-{i}.tgz"));
        let o = capsule_env(&ws, &ci(&c, "refs/heads/main", i), &["bench", "--out", out.to_str().unwrap(), "--quiet"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let c = head(&ws);
    let pr = packs.join("pr-7.tgz");
    let o = capsule_env(&ws, &ci(&c, "refs/pull/7/merge", 9), &["bench", "--out", pr.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A signed pack: a repository key the ACL allows, the policy proven in
    // the registry.
    let t = tmp.join("trust");
    std::fs::create_dir_all(t.join("policies")).unwrap();
    std::fs::copy(root().join("crates/capsule/policies/standard-v1.json"), t.join("policies/standard-v1.json"))
        .unwrap();
    let o = capsule(&t, &["keygen", "--out", "release"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let key_id = stdout(&o).lines().find_map(|l| l.strip_prefix("key id")).unwrap().trim().to_owned();
    let o = capsule(&t, &["policy", "registry", "build", "policies"]);
    let registry_root = stdout(&o).split_whitespace().next().unwrap().to_owned();
    let o = capsule(
        &t,
        &["policy", "registry", "prove", "policies/standard-v1.json", "--registry", "policies", "--out", "proof.json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let signed = packs.join("release-1.tgz");
    let o = capsule_env(&ws, &ci(&c, "refs/tags/v1.0.0", 10), &["bench", "--out", signed.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The same capsule unsigned, as it was before signing: one entry, the
    // certified one.
    std::fs::copy(&signed, packs.join("release-1-unsigned.tgz")).unwrap();
    let o = capsule(&t, &["sign", signed.to_str().unwrap(), "--key", "release.key", "--registry-proof", "proof.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let acl = json!({"schema": "capsulebench/acl/v1", "policies": {"capsulebench-standard": {"keys": [key_id]}}});
    std::fs::write(t.join("acl.json"), acl.to_string()).unwrap();
    let trust =
        vec!["--acl".to_owned(), t.join("acl.json").display().to_string(), "--registry-root".to_owned(), registry_root];
    let signed_hash = Forged::open(&signed).capsule_hash().to_string();

    // An imported receipt, from a real zkVM harness's output.
    let vectors = root().join("../shared/vectors/harness-outputs");
    if vectors.is_dir() {
        let csv = vectors.join("zkvm-perf/benchmarks_v4.0.1.csv");
        let out = packs.join("imported.tgz");
        let o =
            capsule(&ws, &["import", csv.to_str().unwrap(), "--format", "zkvm-perf", "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    } else {
        assert!(std::env::var_os("CI").is_none(), "the harness-output vectors are missing at {}", vectors.display());
    }

    // Forged: the signed pack made faster and resealed (its signature no
    // longer covers it), and a push's pack with a byte changed.
    let mut f = Forged::open(&signed);
    let mut m = f.json("measurements.json");
    for s in m["series"].as_array_mut().unwrap() {
        for sample in s["samples"].as_array_mut().unwrap() {
            sample["values"][0] = json!(1000);
        }
    }
    f.set_json("measurements.json", &m);
    f.reseal("measurements.json", capsule::digest::Digest::ZERO);
    let forged_signed = packs.join("forged-signed.tgz");
    f.write_to(&forged_signed);
    let mut bytes = std::fs::read(packs.join("main-1.tgz")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(packs.join("forged-bytes.tgz"), bytes).unwrap();
    let forged = vec![Forged::open(&forged_signed).capsule_hash().to_string()];

    std::fs::write(ws.join("src/lib.rs"), "// change 4\n").unwrap();
    git(&ws, &["commit", "-qam", "change 4"]);
    let late = tmp.join("late.tgz");
    let o = capsule_env(
        &ws,
        &ci(&head(&ws), "refs/heads/main", 11),
        &["bench", "--out", late.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    Fixture { ws, packs, trust, signed: signed_hash, forged, late }
}

fn board(f: &Fixture, args: &[&str]) -> Output {
    let mut a: Vec<&str> = args.to_vec();
    a.extend(f.trust.iter().map(String::as_str));
    capsule(&f.ws, &a)
}

/// `board build` of the fixture's packs into `tmp/site`, which succeeded.
fn built(f: &Fixture, tmp: &Path) -> (PathBuf, Output) {
    let site = tmp.join("site");
    let o = board(f, &["board", "build", "--packs", f.packs.to_str().unwrap(), "--out", site.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    (site, o)
}

#[test]
fn a_board_shows_verified_receipts_in_two_tracks_and_rejects_forgeries() {
    // Its benches and verifications load the machine.
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture(tmp.path());
    let (site, o) = built(&f, tmp.path());
    assert!(stdout(&o).contains("board built:"), "{}", stdout(&o));
    assert!(stdout(&o).contains(", 1 duplicates)"), "the unsigned copy of the release: {}", stdout(&o));
    // A static host serves it: the files are for everyone to read.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&site), 0o755);
    assert_eq!(mode(&site.join("index.html")), 0o644);
    let any_pack = std::fs::read_dir(site.join("packs")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(mode(&any_pack), 0o644, "{}", any_pack.display());
    let b = board_json(&site);
    assert_eq!(b["schema"], "capsulebench/board/v1");
    assert_eq!(b["verifier"]["profile"], "certified");

    // Tracks: the signed release is certified, the others community.
    let all = entries(&b);
    let signed: Vec<&Value> = all.iter().filter(|e| e["capsule_hash"] == f.signed.as_str()).collect();
    assert_eq!(signed.len(), 1, "{b}");
    assert_eq!(signed[0]["track"], "certified");
    assert!(signed[0]["trust"]["signers"][0]["allowed"].as_bool().unwrap());
    let fast = b["workloads"].as_array().unwrap().iter().find(|w| w["workload_id"] == "fast").unwrap();
    let tracks: Vec<&str> = fast["entries"].as_array().unwrap().iter().map(|e| e["track"].as_str().unwrap()).collect();
    assert_eq!(tracks, ["certified", "community", "community", "community", "community"], "{fast}");
    // History: the three pushes to main and the tag, not the pull request.
    let history: Vec<&str> = fast["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["history"] == true)
        .map(|e| e["git_ref"].as_str().unwrap())
        .collect();
    assert_eq!(history.len(), 4, "{fast}");
    assert!(!history.contains(&"refs/pull/7/merge"));
    for e in fast["entries"].as_array().unwrap() {
        let s = &e["series"][0];
        assert!(s["median"].as_u64().unwrap() > 0 && s["count"].as_u64().unwrap() >= 10, "{e}");
        let [lo, hi] = [s["interval"][0].as_u64().unwrap(), s["interval"][1].as_u64().unwrap()];
        assert!(lo <= s["median"].as_u64().unwrap() && s["median"].as_u64().unwrap() <= hi, "{s}");
    }
    if root().join("../shared/vectors/harness-outputs").is_dir() {
        let imported: Vec<&Value> = all.iter().filter(|e| e["trust"]["measured_by"] == "import").collect();
        assert!(!imported.is_empty(), "{b}");
        assert!(imported.iter().all(|e| e["track"] == "community"));
    }

    // Forgeries: listed as rejected with their codes, and nowhere else.
    let rejected = b["rejected"].as_array().unwrap();
    let files: Vec<&str> = rejected.iter().map(|r| r["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["forged-bytes.tgz", "forged-signed.tgz"], "{b}");
    let forged_signed = rejected.iter().find(|r| r["file"] == "forged-signed.tgz").unwrap();
    assert!(!forged_signed["codes"].as_array().unwrap().is_empty(), "{forged_signed}");
    for h in &f.forged {
        assert!(all.iter().all(|e| e["capsule_hash"] != h.as_str()), "the forged capsule {h} is shown");
    }
    let index = read(&site.join("index.html"));
    assert!(index.contains("forged-signed.tgz") && index.contains("forged-bytes.tgz"), "{index}");
    for r in rejected {
        let d = r["pack_digest"].as_str().unwrap().strip_prefix("sha256:").unwrap();
        let report: Value = serde_json::from_str(&read(&site.join("x").join(format!("{d}.json")))).unwrap();
        assert_eq!(report["verdict"], "rejected", "{report}");
        assert!(index.contains(&format!("href=\"x/{d}.json\"")), "the index links the report of {}", r["file"]);
    }
    let page = read(&site.join("w").join(format!("{}.html", fast["slug"].as_str().unwrap())));
    for h in &f.forged {
        assert!(!page.contains(&h[7..19]), "a forged capsule on the workload page");
    }
    assert!(page.contains("<svg"), "a history chart");
    assert!(page.contains("Certified") && page.contains("Community"));

    // Every entry links its pack (byte for byte), receipt, report, timeline.
    for e in fast["entries"].as_array().unwrap() {
        let h = e["capsule_hash"].as_str().unwrap().strip_prefix("sha256:").unwrap();
        let pack = site.join("packs").join(format!("{h}.tgz"));
        let r = json(&capsule(&f.ws, &["verify", pack.to_str().unwrap(), "--json"]));
        assert_eq!(r["verdict"], "accepted");
        let report: Value = serde_json::from_str(&read(&site.join("r").join(format!("{h}.json")))).unwrap();
        assert_eq!(report["capsule_hash"], e["capsule_hash"]);
        assert!(read(&site.join("r").join(format!("{h}.html"))).contains("What is proven, signed and self-reported"));
        assert!(read(&site.join("t").join(format!("{h}.html"))).contains("statement_locked"));
    }

    // `board add`: one more push, verified alone; the index and the
    // workload page change; the same packs built whole give the same index.
    let o = board(&f, &["board", "add", f.late.to_str().unwrap(), "--site", site.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = json(&o);
    assert_eq!((s["verified"].as_u64(), s["cached"].as_u64()), (Some(1), Some(0)), "{s}");
    let again = board(&f, &["board", "add", f.late.to_str().unwrap(), "--site", site.to_str().unwrap(), "--json"]);
    assert_eq!(json(&again)["cached"], 1, "the second add finds the verdict in the cache");
    std::fs::copy(&f.late, f.packs.join("late.tgz")).unwrap();
    let whole = tmp.path().join("whole");
    let o = board(&f, &["board", "build", "--packs", f.packs.to_str().unwrap(), "--out", whole.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(read(&site.join("board.json")), read(&whole.join("board.json")), "add and build agree");
    assert_eq!(read(&site.join("index.html")), read(&whole.join("index.html")));

    // A pack's text is never markup: a workload id that is a script tag,
    // resealed (self-reported text verifies), shows as text.
    let mut x = Forged::open(&f.packs.join("main-2.tgz"));
    let mut st = x.json("statement.json");
    st["public_inputs"]["workload_id"] = json!("<script>alert(1)</script>");
    x.set_json("statement.json", &st);
    x.reseal("statement.json", capsule::digest::Digest::ZERO);
    let hostile = tmp.path().join("hostile");
    std::fs::create_dir_all(&hostile).unwrap();
    x.write_to(&hostile.join("script.tgz"));
    let hsite = tmp.path().join("hostile-site");
    let o = board(&f, &["board", "build", "--packs", hostile.to_str().unwrap(), "--out", hsite.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hb = board_json(&hsite);
    assert_eq!(hb["workloads"][0]["workload_id"], "<script>alert(1)</script>", "{hb}");
    let slug = hb["workloads"][0]["slug"].as_str().unwrap();
    assert!(slug.starts_with("_script_alert_1___script_-"), "{slug}");
    for page in [hsite.join("index.html"), hsite.join("w").join(format!("{slug}.html"))] {
        let text = read(&page);
        assert!(!text.contains("<script>alert"), "{}", page.display());
        assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", page.display());
    }

    // Other verifier options: `add` refuses the site.
    let o = capsule(&f.ws, &["board", "add", f.late.to_str().unwrap(), "--site", site.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("other verifier options"), "{}", stderr(&o));
    // Without an ACL both copies of the release are community: the signed
    // one is kept (it says more), whichever copy's bytes hash lower.
    let csite = tmp.path().join("community-site");
    let o = capsule(&f.ws, &["board", "build", "--packs", f.packs.to_str().unwrap(), "--out", csite.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let cb = board_json(&csite);
    let release: Vec<Value> = entries(&cb).into_iter().filter(|e| e["capsule_hash"] == f.signed.as_str()).collect();
    assert_eq!(release.len(), 1);
    assert_eq!(release[0]["track"], "community");
    assert_eq!(release[0]["trust"]["signers"].as_array().map(Vec::len), Some(1), "{}", release[0]);
    // A directory that is not a board is never replaced.
    let o = board(&f, &["board", "build", "--packs", f.packs.to_str().unwrap(), "--out", f.ws.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(f.ws.join("Cargo.toml").exists());
}

/// Serves `dir` on a loopback port (GET of files only, with their content
/// types; nothing outside `dir`), as a static host would.
fn serve(dir: PathBuf) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let path = req.url().split('?').next().unwrap_or("/").trim_start_matches('/').to_owned();
            let path = if path.is_empty() { "index.html".to_owned() } else { path };
            let file = (!path.split('/').any(|c| c == ".." || c.is_empty())).then(|| dir.join(&path));
            let _ = match file.and_then(|f| std::fs::read(f).ok()) {
                Some(body) => {
                    let kind = match path.rsplit('.').next() {
                        Some("html") => "text/html; charset=utf-8",
                        Some("css") => "text/css",
                        Some("js") => "text/javascript",
                        Some("json") => "application/json",
                        _ => "application/octet-stream",
                    };
                    let header = tiny_http::Header::from_bytes("Content-Type", kind).unwrap();
                    req.respond(tiny_http::Response::from_data(body).with_header(header))
                }
                None => req.respond(tiny_http::Response::from_string("Not Found").with_status_code(404)),
            };
        }
    });
    base
}

/// Headless Chromium on `url`: `--dump-dom` (the DOM after the scripts
/// ran) or `--screenshot`.
pub(super) fn chromium(profile: &Path, args: &[&str], url: &str) -> Output {
    let o = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=3000"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(o.status.success(), "chromium {args:?} {url}: {}", stderr(&o));
    o
}

fn png_size(p: &Path) -> (u32, u32) {
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", p.display());
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// The board as a person sees it: served on loopback and opened in
/// headless Chromium (Debian's `chromium`; `.ci/run` installs it).
/// Screenshots of the index and a workload page, at a desktop's width and
/// a phone's, are kept under `target/board-screenshots/`; the DOM says
/// what a reader would read.
#[test]
fn the_board_reads_in_a_browser() {
    let have = Command::new("sh").args(["-c", "command -v chromium"]).output().is_ok_and(|o| o.status.success());
    if !have {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
        return;
    }
    // Chromium loads the machine.
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture(tmp.path());
    let (site, _) = built(&f, tmp.path());
    let b = board_json(&site);
    let slug = b["workloads"].as_array().unwrap().iter().find(|w| w["workload_id"] == "fast").unwrap()["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = serve(site.clone());
    let profile = tmp.path().join("chromium");

    // The index: the workloads, the rejected packs and why.
    let dom = stdout(&chromium(&profile, &["--dump-dom"], &format!("{base}/index.html")));
    assert!(dom.contains("<h1>Benchmark board</h1>"), "{dom}");
    assert!(dom.contains(&format!("href=\"w/{slug}.html\"")), "{dom}");
    assert!(dom.contains("id=\"rejected-packs\""), "{dom}");
    for file in ["forged-signed.tgz", "forged-bytes.tgz"] {
        assert!(dom.contains(file), "{file} listed as rejected");
    }
    assert!(dom.contains("signature-subject-mismatch") || dom.contains("signature-"), "{dom}");

    // A workload page: both tracks, the trust indicators in words, the
    // chart, no forged capsule, and the track filter working.
    let url = format!("{base}/w/{slug}.html");
    let dom = stdout(&chromium(&profile, &["--dump-dom"], &url));
    assert!(dom.contains("data-track=\"certified\"") && dom.contains("data-track=\"community\""), "{dom}");
    assert!(dom.contains("<svg"), "the history chart is inline SVG");
    assert!(dom.contains("title=\"certified: an allowed signer, the policy in the pinned registry\""), "{dom}");
    assert!(dom.contains("title=\"community: verifies under a pinned policy\""), "{dom}");
    assert!(dom.contains("title=\"measured by the runner (self-reported)\""), "{dom}");
    assert!(dom.contains("allowed by the ACL"), "the signer, named");
    for h in &f.forged {
        assert!(!dom.contains(h.trim_start_matches("sha256:")), "a forged capsule on the page");
    }
    let rows = dom.matches("<tr data-track=\"community\"").count();
    assert_eq!(rows, 4, "three pushes and a pull request");
    assert_eq!(dom.matches("<tr data-track=\"certified\"").count(), 1);
    // The entry page says what is proven, signed and self-reported.
    let h = f.signed.trim_start_matches("sha256:");
    let dom = stdout(&chromium(&profile, &["--dump-dom"], &format!("{base}/r/{h}.html")));
    assert!(dom.contains("What is proven, signed and self-reported"), "{dom}");
    assert!(dom.contains("class=\"signed on\""), "{dom}");
    assert!(dom.contains("class=\"proven off\">no proof"), "{dom}");

    // Screenshots, desktop and phone.
    let shots = root().join("target/board-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, url, size) in [
        ("index.png", format!("{base}/index.html"), "1200,900"),
        ("workload.png", url.clone(), "1200,1500"),
        ("workload-phone.png", url.clone(), "390,1500"),
    ] {
        let p = shots.join(name);
        let _ = std::fs::remove_file(&p);
        chromium(&profile, &[&format!("--screenshot={}", p.display()), &format!("--window-size={size}")], &url);
        let (w, _) = png_size(&p);
        let want: u32 = size.split(',').next().unwrap().parse().unwrap();
        assert_eq!(w, want, "{name}");
    }
}

/// The Action's `mode: board` as the workflow `init --board` runs it: the
/// packs are collected through the GitHub API (a release's asset, the
/// artifacts of pushes to `main`; a fork's pull-request run is not
/// taken), verified with the ACL and registry root given, and built into
/// the site, with its badge; a forged pack in a push's artifact is listed
/// as rejected.
#[test]
fn the_action_builds_the_board_from_releases_and_pushes() {
    use super::github::fake::{self, artifact, run, zip_of};
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture(tmp.path());
    let gh = fake::start();
    {
        let mut s = gh.state.lock().unwrap();
        let bytes = std::fs::read(f.packs.join("release-1.tgz")).unwrap();
        s.assets.push(json!({"id": 70, "release_id": 1, "name": "fast.tgz", "state": "uploaded", "size": bytes.len()}));
        s.asset_bytes.insert(70, bytes);
        for i in 1..=3u64 {
            s.runs.push(run(100 + i, "push", "main", "o/r"));
            let mut files =
                vec![("fast.tgz".to_owned(), std::fs::read(f.packs.join(format!("main-{i}.tgz"))).unwrap())];
            if i == 3 {
                files.push(("forged.tgz".to_owned(), std::fs::read(f.packs.join("forged-signed.tgz")).unwrap()));
            }
            let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
            let z = zip_of(&files);
            s.artifacts.push((artifact(200 + i, 100 + i, "capsulepacks", z.len(), false), z));
        }
        s.runs.push(run(900, "pull_request", "main", "forker/r"));
        let z = zip_of(&[("fast.tgz", &std::fs::read(f.packs.join("pr-7.tgz")).unwrap())]);
        s.artifacts.push((artifact(990, 900, "capsulepacks-signed", z.len(), false), z));
    }
    let ws = tmp.path().join("checkout");
    std::fs::create_dir_all(&ws).unwrap();
    let tool = env!("CARGO_BIN_EXE_cargo-capsule");
    let sha = super::github::file_sha256(Path::new(tool));
    let site = ws.join("capsulebench-board");
    let vars = [
        ("MODE", "board"),
        ("CAPSULE_BIN", tool),
        ("TOOL_SHA256", sha.as_str()),
        ("BOARD_BRANCH", "main"),
        ("BOARD_DIR", "capsulebench-board"),
        ("ACL", f.trust[1].as_str()),
        ("REGISTRY_ROOT", f.trust[3].as_str()),
    ];
    let o = super::github::script(&ws, &gh.base, "run.sh", &vars);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("collected 5 packs"), "{}", stdout(&o));
    let b = board_json(&site);
    let all = entries(&b);
    assert_eq!(all.len(), 4, "three pushes and the release: {all:#?}");
    assert_eq!(all.iter().filter(|e| e["track"] == "certified").count(), 1);
    assert!(all.iter().all(|e| !e["git_ref"].as_str().unwrap_or_default().starts_with("refs/pull/")));
    let rejected = b["rejected"].as_array().unwrap();
    assert!(rejected.iter().any(|r| r["capsule_hash"] == f.forged[0].as_str()), "{rejected:#?}");
    assert!(read(&site.join("badge.svg")).contains(">4 verified, 1 certified<"), "{}", read(&site.join("badge.svg")));
    let outputs = read(&ws.parent().unwrap().join("outputs.txt"));
    assert_eq!(super::github::last_output(&outputs, "site").as_deref(), Some("capsulebench-board"));
    let summary = read(&ws.parent().unwrap().join("summary.md"));
    assert!(summary.contains("## CapsuleBench board") && summary.contains("board built"), "{summary}");
    {
        let s = gh.state.lock().unwrap();
        assert!(!s.requests.iter().any(|r| r.contains("/artifacts/990/")), "the fork's artifact: {:?}", s.requests);
        assert_eq!(s.storage_refusals, 0);
    }

    // The same job without the tool job's digest runs nothing.
    let o = super::github::script(&ws, &gh.base, "run.sh", &[("MODE", "board"), ("CAPSULE_BIN", tool)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("runs only the prebuilt tool") || stderr(&o).contains("runs only the prebuilt tool"));
}
