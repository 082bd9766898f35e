//! `cargo xtask bench-install [--binary PATH] [--runs N]`: how long the
//! Action's prebuilt install takes (`action/install.sh` in `mode: install`:
//! read the digest table, download, SHA-256, unpack, run `--version`),
//! against a loopback release serving an archive of `PATH` (default the
//! release build, else the debug build of cargo-capsule). The baseline,
//! measured in the same run, is a bare `curl` download of the same archive:
//! the ratio is what the checks cost over the transfer. On a runner the
//! download from GitHub's release host adds its own time (about 1 s per
//! 10 MB at 100 Mbit/s).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::say;

/// The target triple of this machine, as the install script derives it.
fn target() -> String {
    let arch = if cfg!(target_arch = "aarch64") { "aarch64" } else { "x86_64" };
    let os = if cfg!(target_os = "macos") { "apple-darwin" } else { "unknown-linux-gnu" };
    format!("{arch}-{os}")
}

fn sha256_file(path: &Path) -> Result<String, String> {
    use sha2::Digest as _;
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| e.to_string())?;
    Ok(format!("{:x}", h.finalize()))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub(crate) fn bench_install(root: &Path, binary: Option<PathBuf>, runs: usize) -> Result<(), String> {
    let binary = binary
        .or_else(|| Some(root.join("target/release/cargo-capsule")).filter(|p| p.exists()))
        .unwrap_or_else(|| root.join("target/debug/cargo-capsule"));
    if !binary.exists() {
        return Err(format!("`{}` does not exist: build cargo-capsule first", binary.display()));
    }
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = tmp.path();
    let version = env!("CARGO_PKG_VERSION");
    let target = target();
    let archive_name = format!("cargo-capsule-{version}-{target}.tar.gz");
    // The archive as the release workflow lays it out: the binary at the root.
    let stage = d.join("stage");
    std::fs::create_dir_all(&stage).map_err(|e| e.to_string())?;
    std::fs::copy(&binary, stage.join("cargo-capsule")).map_err(|e| e.to_string())?;
    let archive = d.join(&archive_name);
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&stage)
        .arg("-czf")
        .arg(&archive)
        .arg("cargo-capsule")
        .status()
        .map_err(|e| e.to_string())?
        .success();
    if !ok {
        return Err("tar failed".into());
    }
    let bytes = std::fs::read(&archive).map_err(|e| e.to_string())?;
    let size = bytes.len();
    let digest = sha256_file(&archive)?;

    let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?;
    let base = format!("http://{}", server.server_addr().to_ip().ok_or("no address")?);
    let served = bytes.clone();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let _ = req.respond(tiny_http::Response::from_data(served.clone()));
        }
    });

    // A copy of the Action whose table pins this archive on that server.
    let action = d.join("action-copy");
    std::fs::create_dir_all(action.join("action")).map_err(|e| e.to_string())?;
    for f in ["common.sh", "install.sh"] {
        std::fs::copy(root.join("action").join(f), action.join("action").join(f)).map_err(|e| e.to_string())?;
    }
    let table = serde_json::json!({
        "schema": "capsulebench/action-dist/v1",
        "tool": version,
        "download": format!("{base}/download/v{{version}}/{{archive}}"),
        "releases": { version: { target.as_str(): digest } }
    });
    std::fs::write(action.join("action/dist.json"), table.to_string()).map_err(|e| e.to_string())?;
    let url = format!("{base}/download/v{version}/{archive_name}");

    let (mut install, mut curl) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let runner_temp = d.join(format!("runner-{i}"));
        let t = Instant::now();
        let o = Command::new("bash")
            .arg(action.join("action/install.sh"))
            .env("MODE", "install")
            .env("GITHUB_ACTION_PATH", &action)
            .env("RUNNER_TEMP", &runner_temp)
            .env_remove("GITHUB_OUTPUT")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .output()
            .map_err(|e| e.to_string())?;
        install.push(t.elapsed());
        if !o.status.success() {
            return Err(format!("install.sh failed: {}", String::from_utf8_lossy(&o.stdout)));
        }
        let t = Instant::now();
        let ok = Command::new("curl")
            .args(["--fail", "--silent", "--location", "--output"])
            .arg(d.join("baseline.tar.gz"))
            .arg(&url)
            .status()
            .map_err(|e| e.to_string())?
            .success();
        curl.push(t.elapsed());
        if !ok {
            return Err("curl failed".into());
        }
        let _ = std::fs::remove_dir_all(&runner_temp);
    }
    let (i, c) = (median(install), median(curl));
    say(&format!("archive              {:.1} MB ({})", size as f64 / 1e6, binary.display()));
    say(&format!("install.sh (median of {runs})  {:>8.3} s   download, SHA-256, unpack, --version", i.as_secs_f64()));
    say(&format!("curl alone (baseline)  {:>8.3} s   the same archive from the same server", c.as_secs_f64()));
    say(&format!("ratio                  {:>8.2}x  (install.sh / curl)", i.as_secs_f64() / c.as_secs_f64().max(1e-9)));
    Ok(())
}
