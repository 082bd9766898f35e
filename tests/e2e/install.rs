//! The Action's install path against a loopback release server: the
//! release scripts build the archives (`.github/release/build.sh`, with a
//! stand-in `cargo` that copies the built binary, so nothing compiles) and
//! pin them (`pin.sh`) in a copy of the Action's `dist.json`; `install.sh`
//! then installs the prebuilt for the runner's OS and arch only when its
//! digest is the pinned one. Tampered, missing and unpinned archives, macOS
//! without `sha256sum`, and Windows are tested with a stand-in `uname`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use super::github::{file_sha256, last_output, script_in};
use super::{root, stdout};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn write_exe(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Release assets by file name.
type Assets = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A loopback release host: `GET /download/v{VERSION}/{name}` serves
/// `files[name]`, anything else 404, as GitHub's download URLs do.
struct Release {
    base: String,
    files: Assets,
}

fn release_server() -> Release {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let files: Assets = Arc::default();
    let served = files.clone();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let prefix = format!("/download/v{VERSION}/");
            let body = req
                .url()
                .strip_prefix(&prefix)
                .and_then(|name| served.lock().unwrap().iter().find(|(n, _)| n == name).map(|(_, b)| b.clone()));
            let _ = match body {
                Some(b) => req.respond(tiny_http::Response::from_data(b)),
                None => req.respond(tiny_http::Response::from_string("Not Found").with_status_code(404)),
            };
        }
    });
    Release { base, files }
}

/// A stand-in for the `cargo-capsule` built for `target` (the real one is
/// hundreds of MB unoptimized): it answers `capsule --version` as the tool
/// does, and differs per target.
fn fake_tool(dir: &Path, target: &str) -> PathBuf {
    let path = dir.join("tools").join(target);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_exe(
        &path,
        &format!("#!/bin/sh\n[ \"$1 $2\" = \"capsule --version\" ] && echo \"cargo capsule {VERSION} ({target})\"\n"),
    );
    path
}

/// Runs the release workflow's build script for `target` in `dir` with
/// stand-in `cargo` and `rustup`; returns the archive's path.
fn build_archive(dir: &Path, target: &str) -> PathBuf {
    let bin = dir.join("release-bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake_tool(dir, target);
    write_exe(
        &bin.join("cargo"),
        &format!(
            "#!/bin/sh\ncase \"$1\" in\n  metadata) echo '{{\"packages\":[{{\"name\":\"cargo-capsule\",\"version\":\"{VERSION}\"}}]}}' ;;\n  build) mkdir -p \"target/$TARGET/release\" && cp {}/tools/\"$TARGET\" \"target/$TARGET/release/cargo-capsule\" ;;\n  *) exit 9 ;;\nesac\n",
            dir.display()
        ),
    );
    write_exe(&bin.join("rustup"), "#!/bin/sh\nexit 0\n");
    for f in ["LICENSE-MIT", "LICENSE-APACHE", "README.md"] {
        std::fs::copy(root().join(f), dir.join(f)).unwrap();
    }
    let o = std::process::Command::new("bash")
        .arg(root().join(".github/release/build.sh"))
        .current_dir(dir)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .env("TARGET", target)
        .env("TAG", format!("v{VERSION}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    dir.join("dist").join(format!("cargo-capsule-{VERSION}-{target}.tar.gz"))
}

/// A copy of the Action (its `action.yml` and scripts) whose `dist.json`
/// downloads from `base`.
fn action_copy(dir: &Path, base: &str) -> PathBuf {
    let copy = dir.join("action-copy");
    std::fs::create_dir_all(copy.join("action")).unwrap();
    std::fs::copy(root().join("action.yml"), copy.join("action.yml")).unwrap();
    for e in std::fs::read_dir(root().join("action")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join("action").join(e.file_name())).unwrap();
    }
    let table = copy.join("action/dist.json");
    let mut t: serde_json::Value = serde_json::from_slice(&std::fs::read(&table).unwrap()).unwrap();
    t["download"] = format!("{base}/download/v{{version}}/{{archive}}").into();
    std::fs::write(&table, serde_json::to_vec_pretty(&t).unwrap()).unwrap();
    copy
}

/// A `bin` directory with a `uname` that reports `os` and `arch`, and a
/// `cargo` that fails loudly (or stands in for `cargo install` when
/// `can_build`).
fn runner_bin(dir: &Path, name: &str, os: &str, arch: &str, can_build: bool) -> PathBuf {
    let bin = dir.join(name);
    std::fs::create_dir_all(&bin).unwrap();
    write_exe(&bin.join("uname"), &format!("#!/bin/sh\ncase \"$1\" in -s) echo {os} ;; -m) echo {arch} ;; esac\n"));
    let cargo = if can_build {
        let tool = fake_tool(dir, "source-build");
        format!("#!/bin/sh\nmkdir -p \"$4/bin\" && cp {} \"$4/bin/cargo-capsule\"\n", tool.display())
    } else {
        "#!/bin/sh\necho 'cargo ran: nothing may be built here' >&2\nexit 97\n".to_owned()
    };
    write_exe(&bin.join("cargo"), &cargo);
    bin
}

struct Installed {
    code: Option<i32>,
    text: String,
    tool: Option<String>,
    sha: Option<String>,
}

fn install(action: &Path, ws: &Path, path: &str, vars: &[(&str, &str)]) -> Installed {
    let outputs = ws.parent().unwrap().join("outputs.txt");
    let _ = std::fs::remove_file(&outputs);
    let all = [&[("PATH", path)][..], vars].concat();
    let o: Output = script_in(action, ws, "http://127.0.0.1:9", "install.sh", &all);
    let out = std::fs::read_to_string(&outputs).unwrap_or_default();
    Installed {
        code: o.status.code(),
        text: format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr)),
        tool: last_output(&out, "tool"),
        sha: last_output(&out, "tool-sha256"),
    }
}

#[test]
fn the_pinned_prebuilt_is_installed_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ws = d.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let server = release_server();
    // The release: two targets built, pinned into the Action's table.
    let linux = build_archive(d, "x86_64-unknown-linux-gnu");
    let mac = build_archive(d, "aarch64-apple-darwin");
    let action = action_copy(d, &server.base);
    let o = std::process::Command::new("bash")
        .arg(root().join(".github/release/pin.sh"))
        .args([VERSION, d.join("dist").to_str().unwrap(), action.join("action/dist.json").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(action.join("action/dist.json")).unwrap()).unwrap();
    assert_eq!(table["tool"], VERSION);
    assert_eq!(table["releases"][VERSION]["x86_64-unknown-linux-gnu"], file_sha256(&linux).as_str(), "{table}");
    for a in [&linux, &mac] {
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        server.files.lock().unwrap().push((name, std::fs::read(a).unwrap()));
    }
    let system = std::env::var("PATH").unwrap_or_default();
    let binary_sha = file_sha256(&d.join("tools/x86_64-unknown-linux-gnu"));
    let dest = d.join("runner-temp/capsulebench-tool/bin/cargo-capsule");

    // Linux x86_64: the pinned archive, checked, unpacked; no build.
    let linux_bin = runner_bin(d, "linux-x64", "Linux", "x86_64", false);
    let path = format!("{}:{system}", linux_bin.display());
    for mode in ["install", "bench", "comment"] {
        let r = install(&action, &ws, &path, &[("MODE", mode)]);
        assert_eq!(r.code, Some(0), "{mode}: {}", r.text);
        assert!(r.text.contains(&format!("(prebuilt, SHA-256 {} as pinned)", file_sha256(&linux))), "{}", r.text);
        assert_eq!(r.tool.as_deref(), dest.to_str(), "{mode}");
        assert_eq!(r.sha.as_deref(), Some(binary_sha.as_str()), "{mode}");
    }

    // Tampered: another archive under the pinned name fails, naming both
    // digests, and leaves no tool behind.
    let tampered = {
        let mut files = server.files.lock().unwrap();
        let entry = files.iter_mut().find(|(n, _)| n.contains("x86_64-unknown-linux-gnu")).unwrap();
        let good = entry.1.clone();
        entry.1 = std::fs::read(&mac).unwrap();
        good
    };
    let r = install(&action, &ws, &path, &[("MODE", "install")]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert!(
        r.text.contains(&format!("has SHA-256 {}, but the action pins {}", file_sha256(&mac), file_sha256(&linux))),
        "{}",
        r.text
    );
    assert!(!dest.exists() && r.tool.is_none(), "nothing installed");
    // Missing: the table pins it, the release lacks it.
    server.files.lock().unwrap().retain(|(n, _)| !n.contains("x86_64-unknown-linux-gnu"));
    let r = install(&action, &ws, &path, &[("MODE", "install")]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert!(r.text.contains("failed to download cargo-capsule-") && r.text.contains("404"), "{}", r.text);
    server.files.lock().unwrap().push((linux.file_name().unwrap().to_string_lossy().into_owned(), tampered));

    // Another arch with no pinned archive: a job without credentials builds
    // from source with a warning; one holding a credential refuses.
    let arm_bin = runner_bin(d, "linux-arm", "Linux", "aarch64", true);
    let arm_path = format!("{}:{system}", arm_bin.display());
    let r = install(&action, &ws, &arm_path, &[("MODE", "install")]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert!(
        r.text.contains(&format!(
            "::warning title=CapsuleBench::the action pins no prebuilt cargo-capsule {VERSION} for aarch64-unknown-linux-gnu: building it from source"
        )),
        "{}",
        r.text
    );
    for mode in ["comment", "sign", "publish"] {
        let r = install(&action, &ws, &arm_path, &[("MODE", mode)]);
        assert_eq!(r.code, Some(1), "{mode}: {}", r.text);
        assert!(r.text.contains(&format!("mode {mode} builds nothing")), "{mode}: {}", r.text);
    }
    let r = install(&action, &ws, &arm_path, &[("MODE", "install"), ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://x")]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert!(r.text.contains("refusing to build in a job that can request an OIDC token"), "{}", r.text);
    let r = install(&action, &ws, &arm_path, &[("MODE", "bench"), ("SIGNING_KEY", "k")]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert!(r.text.contains("mode bench refuses signing-key"), "{}", r.text);

    // macOS on arm64, where there is no `sha256sum`: `shasum -a 256`
    // checks the archive. Only the tools the script needs are on PATH.
    let mac_bin = runner_bin(d, "macos-arm", "Darwin", "arm64", false);
    for tool in ["bash", "dirname", "jq", "mkdir", "rm", "curl", "tar", "gzip", "chmod", "shasum", "cut", "install"] {
        let found = String::from_utf8(std::process::Command::new("which").arg(tool).output().unwrap().stdout).unwrap();
        std::os::unix::fs::symlink(found.trim(), mac_bin.join(tool)).unwrap();
    }
    let mac_path = mac_bin.display().to_string();
    let r = install(&action, &ws, &mac_path, &[("MODE", "install")]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert!(
        r.text.contains(&format!("for aarch64-apple-darwin (prebuilt, SHA-256 {}", file_sha256(&mac))),
        "{}",
        r.text
    );
    assert_eq!(r.sha.as_deref(), Some(file_sha256(&d.join("tools/aarch64-apple-darwin")).as_str()));

    // Windows: refused at once, before anything is downloaded or built.
    let win_bin = runner_bin(d, "windows", "MINGW64_NT-10.0-20348", "x86_64", false);
    let r = install(&action, &ws, &format!("{}:{system}", win_bin.display()), &[("MODE", "install")]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert!(r.text.contains("does not run on Windows runners"), "{}", r.text);

    // The signing job's prebuilt from the tool job: checked by its digest.
    let artifact = d.join("artifact-cargo-capsule");
    std::fs::copy(d.join("tools/x86_64-unknown-linux-gnu"), &artifact).unwrap();
    std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o644)).unwrap();
    let artifact = artifact.to_str().unwrap();
    let wrong = "0".repeat(64);
    let r = install(&action, &ws, &path, &[("MODE", "sign"), ("TOOL_BINARY", artifact), ("TOOL_SHA256", &wrong)]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert!(r.text.contains(&format!("has SHA-256 {binary_sha}, not the tool job's")), "{}", r.text);
    let r = install(&action, &ws, &path, &[("MODE", "sign"), ("TOOL_BINARY", artifact), ("TOOL_SHA256", &binary_sha)]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert_ne!(r.tool.as_deref(), Some(artifact), "the checked copy runs, not the download");
}

/// The archive names agree: what the release workflow builds is what
/// `install.sh` downloads and what `cargo binstall` looks for.
#[test]
fn the_archive_name_is_the_same_everywhere() {
    let manifest = std::fs::read_to_string(root().join("cargo-capsule/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(
            "pkg-url = \"{ repo }/releases/download/v{ version }/{ name }-{ version }-{ target }.tar.gz\"\npkg-fmt = \"tgz\"\nbin-dir = \"{ bin }{ binary-ext }\""
        ),
        "{manifest}"
    );
    let build = std::fs::read_to_string(root().join(".github/release/build.sh")).unwrap();
    assert!(build.contains("archive=\"cargo-capsule-$version-$TARGET.tar.gz\""), "{build}");
    let install = std::fs::read_to_string(root().join("action/install.sh")).unwrap();
    assert!(install.contains("archive=\"cargo-capsule-$version-$target.tar.gz\""), "{install}");
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("action/dist.json")).unwrap()).unwrap();
    assert_eq!(table["schema"], "capsulebench/action-dist/v1");
    assert_eq!(table["tool"], VERSION, "the Action installs this source's version");
    let repo = "https://github.com/capsulebench/capsulebench";
    assert_eq!(table["download"], format!("{repo}/releases/download/v{{version}}/{{archive}}"));
    assert!(manifest.contains("repository.workspace = true"));
    let workspace = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(workspace.contains(&format!("repository = \"{repo}\"")));
}
