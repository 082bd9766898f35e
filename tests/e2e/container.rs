//! Workloads in a container pinned by digest, for real: a static workload
//! built offline into a `FROM scratch` image, pushed to a loopback
//! registry (Debian's `docker-registry`), and benchmarked by digest with
//! podman (docs/spec/container.md). Needs `podman` and `docker-registry`
//! (`.ci/run` installs them); without them the test fails under `CI` and
//! is skipped elsewhere.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use capsule::digest::{Tag, tagged};
use serde_json::Value;

use super::bench::{capsule, capsule_with_target, git, stderr, workspace};
use super::{json, root, stdout};

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

/// The registry process, ended when the test ends.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts Debian's `docker-registry` on a free loopback port, storing
/// under `dir`, and waits until it answers `GET /v2/`.
fn registry(dir: &Path) -> (Registry, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = dir.join("registry.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp: {{addr: {addr}}}\n",
            dir.join("registry-data").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let reg = Registry(child);
    let start = Instant::now();
    loop {
        let answered = TcpStream::connect(&addr).ok().and_then(|mut s| {
            s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).ok()?;
            let mut r = String::new();
            s.read_to_string(&mut r).ok()?;
            r.lines().next().is_some_and(|l| l.starts_with("HTTP/1.") && l.contains(" 200 ")).then_some(())
        });
        if answered.is_some() {
            return (reg, addr);
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the registry did not start: {:?}",
            dir.join("registry.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Everything a run talks to the engine with: the loopback registry is
/// plain HTTP, which the engine must be told (as a user would in
/// `registries.conf`).
fn engine_env(dir: &Path, registry: &str) -> Vec<(String, PathBuf)> {
    let conf = dir.join("registries.conf");
    std::fs::write(&conf, format!("[[registry]]\nlocation = \"{registry}\"\ninsecure = true\n")).unwrap();
    vec![("CONTAINERS_REGISTRIES_CONF".to_owned(), conf)]
}

fn podman(env: &[(String, PathBuf)], args: &[&str]) -> Output {
    let o = Command::new("podman").args(args).envs(env.iter().map(|(k, v)| (k, v))).output().unwrap();
    assert!(o.status.success(), "podman {args:?}: {}", stderr(&o));
    o
}

/// Builds the static workload (`fixtures/containers/workload.rs`) and a
/// `FROM scratch` image holding it at `/workload` (labelled `variant`, so
/// two variants are two images), pushes it to the registry and returns
/// the pushed manifest digest and the binary.
fn image(dir: &Path, env: &[(String, PathBuf)], registry: &str, variant: &str) -> (String, PathBuf) {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let bin = ctx.join("workload");
    static_workload(&bin);
    std::fs::write(
        ctx.join("Containerfile"),
        format!("FROM scratch\nCOPY workload /workload\nLABEL capsule.variant={variant}\n"),
    )
    .unwrap();
    let local = format!("localhost/capsule-e2e-{}:t", std::process::id());
    let ctx_s = ctx.to_str().unwrap();
    podman(env, &["build", "--quiet", "--network", "none", "--timestamp", "0", "-t", &local, ctx_s]);
    let digest_file = dir.join("digest");
    podman(
        env,
        &[
            "push",
            "--quiet",
            "--digestfile",
            digest_file.to_str().unwrap(),
            &local,
            &format!("docker://{registry}/capsule-e2e:t"),
        ],
    );
    podman(env, &["rmi", "--force", &local]);
    let digest = std::fs::read_to_string(&digest_file).unwrap().trim().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    (digest, bin)
}

/// `fixtures/containers/workload.rs`, compiled statically with `rustc`
/// alone to `out`.
fn static_workload(out: &Path) {
    let o = Command::new("rustc")
        .args(["--edition", "2024", "-O", "-C", "target-feature=+crt-static", "-o"])
        .arg(out)
        .arg(root().join("fixtures/containers/workload.rs"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Whether every tool is on `PATH`; under `CI` a missing one fails the
/// test (`.ci/run` installs them all).
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn tools(needed: &[&str]) -> bool {
    let missing: Vec<&&str> = needed.iter().filter(|t| !have(t)).collect();
    assert!(missing.is_empty() || std::env::var_os("CI").is_none(), "CI must install {missing:?} (.ci/run does)");
    if !missing.is_empty() {
        eprintln!("skipped: {missing:?} not installed");
    }
    missing.is_empty()
}

fn bench(ws: &Path, env: &[(String, PathBuf)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    c.arg("capsule").arg("bench").args(args).current_dir(ws);
    c.env("CARGO_TARGET_DIR", ws.join("target")).env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS");
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c.stdin(Stdio::null()).output().unwrap()
}

/// Rewrites the workspace's configuration to `workloads` (TOML array
/// entries) under `policy`, and commits it.
fn configure(ws: &Path, policy: &str, workloads: &str) {
    std::fs::write(
        ws.join("Cargo.toml"),
        format!(
            "[package]\nname = \"empty\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
             [workspace.metadata.capsule]\npolicy = \"{policy}\"\n\n{workloads}"
        ),
    )
    .unwrap();
    git(ws, &["add", "-A"]);
    git(ws, &["commit", "-qm", "configure", "--allow-empty"]);
}

/// An address of this machine that is not loopback (where a container
/// with a network could reach the host), else loopback.
fn host_address() -> String {
    let local = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.255.255.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    local.map_or_else(|| "127.0.0.1".to_owned(), |ip| ip.to_string())
}

/// A workload pinned by digest runs inside the image with the samples
/// timed inside, and its pack names the image; what is not pinned, not in
/// the registry, or reaches for the network is refused.
#[test]
fn a_workload_runs_in_an_image_pinned_by_digest() {
    if !tools(&["podman", "docker-registry"]) {
        return;
    }
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let (_registry, reg) = registry(tmp.path());
    let env = engine_env(tmp.path(), &reg);
    let (digest, native) = image(tmp.path(), &env, &reg, "a");
    let pinned = format!("{reg}/capsule-e2e@{digest}");
    let ws = workspace(tmp.path(), None);
    std::fs::create_dir_all(ws.join("input")).unwrap();
    std::fs::write(ws.join("input/data.txt"), "alpha\nbeta\ngamma\n").unwrap();

    // The host listens where a container with a network could connect.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = format!("{}:{}", host_address(), listener.local_addr().unwrap().port());
    let limits = "container_limits = { cpus = 1, memory_bytes = 268435456, pids = 64 }";
    let workloads = format!(
        "[[workspace.metadata.capsule.workloads]]\nid = \"inside\"\nkind = \"command\"\n\
         args = [\"/workload\", \"input/data.txt\"]\ninputs = [\"input/data.txt\"]\n\
         container = \"{pinned}\"\n{limits}\n\n\
         [[workspace.metadata.capsule.workloads]]\nid = \"fails\"\nkind = \"command\"\n\
         args = [\"/workload\", \"--fail\"]\ncontainer = \"{pinned}\"\n\n\
         [[workspace.metadata.capsule.workloads]]\nid = \"online\"\nkind = \"command\"\n\
         args = [\"/workload\", \"--connect\", \"{target}\"]\ncontainer = \"{pinned}\"\n\n\
         [[workspace.metadata.capsule.workloads]]\nid = \"wrong\"\nkind = \"command\"\n\
         args = [\"/workload\", \"input/data.txt\"]\ncontainer = \"{reg}/capsule-e2e@sha256:{}\"\n\n\
         [[workspace.metadata.capsule.workloads]]\nid = \"endless\"\nkind = \"command\"\n\
         args = [\"/workload\", \"--spin\", \"100000000000000\"]\ncontainer = \"{pinned}\"\n\n\
         [[workspace.metadata.capsule.workloads]]\nid = \"native\"\nkind = \"command\"\n\
         args = [\"{}\", \"input/data.txt\"]\n",
        "0".repeat(63) + "1",
        native.display(),
    );
    configure(&ws, "container-v1", &workloads);

    // Pinned, run inside, verified under the policy that requires the image.
    let o = bench(&ws, &env, &["--workload", "inside", "--out", "inside.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("container    {pinned} (podman ")), "{}", stdout(&o));
    let r = json(&capsule(&ws, &["verify", "inside.tgz", "--json"]));
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(r["policy"]["id"], "capsulebench-container", "{r}");
    let c = json(&capsule(&ws, &["inspect", "inside.tgz", "--json"]));
    let m = &c["manifests"]["manifests/container.json"];
    assert_eq!(m["image"], pinned.as_str(), "{m}");
    assert_eq!(m["image_digest"], digest.as_str(), "the recorded digest is the pinned one: {m}");
    assert_eq!(c["statement"]["anchors"]["container_image_digest"], digest.as_str());
    assert_eq!(m["engine"]["name"], "podman");
    assert_eq!((m["network"].as_str(), m["read_only_rootfs"].as_bool()), (Some("none"), Some(true)), "{m}");
    assert_eq!(m["limits_requested"]["memory_bytes"], 268_435_456);
    assert_eq!(m["limits_requested"]["memory_swap_bytes"], 268_435_456);
    let applied = &m["limits_applied"];
    assert_eq!(applied["network_interfaces"], "lo", "{applied}");
    assert_eq!(applied["rootfs_writable"], "false", "{applied}");
    assert_eq!(applied["cpus_visible"], "1", "{applied}");
    let memory = applied.get("memory.max").or_else(|| applied.get("memory.limit_in_bytes"));
    assert_eq!(memory.and_then(Value::as_str), Some("268435456"), "{applied}");
    assert!(m["start_ns"].as_u64().unwrap() > 1_000_000, "a container start takes milliseconds: {m}");
    // The result came through exactly: the bytes the workload printed.
    let printed = format!("{} bytes, bytesum {}\n", 17, "alpha\nbeta\ngamma\n".bytes().map(u64::from).sum::<u64>());
    assert_eq!(
        c["statement"]["public_inputs"]["result_digest"],
        tagged(Tag::Result, printed.as_bytes()).to_string(),
        "{}",
        c["statement"]
    );
    let series = &c["measurements"]["series"][0];
    assert_eq!(series["metrics"][0], "wall_ns");
    assert_eq!(series["samples"].as_array().unwrap().len(), 12, "2 warmups + 10, each timed inside");

    // A paired run: two containers, one a side, the same image.
    let o =
        bench(&ws, &env, &["--workload", "inside", "--baseline", "HEAD", "--repetitions", "20", "--out", "head.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = capsule(&ws, &["compare", "head-base.tgz", "head.tgz", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("on both sides"), "{}", stdout(&o));

    // A change that moves the pin, paired: each side in its own image,
    // compared, and said so.
    let (moved, _) = image(tmp.path(), &env, &reg, "b");
    assert_ne!(moved, digest);
    let config = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    std::fs::write(ws.join("Cargo.toml"), config.replacen(&digest, &moved, 1)).unwrap();
    git(&ws, &["commit", "-qam", "a new image for `inside`"]);
    let o = bench(
        &ws,
        &env,
        &["--workload", "inside", "--baseline", "HEAD~1", "--repetitions", "20", "--out", "moved.tgz"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json(&capsule(&ws, &["compare", "moved-base.tgz", "moved.tgz", "--json"]));
    assert_eq!(c["environment_mismatch"], serde_json::json!(["container"]), "{c}");
    assert_eq!(c["containers"], serde_json::json!([pinned, format!("{reg}/capsule-e2e@{moved}")]), "{c}");
    git(&ws, &["revert", "--no-edit", "HEAD"]);

    // The same through the Action's bench step (paired, verified, the
    // packs in its directory), as a workflow `init` writes runs it.
    let registries = env[0].1.to_str().unwrap();
    let o = super::github::script(
        &ws,
        "http://127.0.0.1:9",
        "run.sh",
        &[
            ("MODE", "bench"),
            ("WORKLOADS", "inside"),
            ("BASELINE_REF", "HEAD"),
            ("REPETITIONS", "20"),
            ("CONTAINERS_REGISTRIES_CONF", registries),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    for pack in ["inside.tgz", "inside-base.tgz"] {
        let c = json(&capsule(&ws, &["inspect", &format!("capsulepacks/{pack}"), "--json"]));
        assert_eq!(c["manifests"]["manifests/container.json"]["image"], pinned.as_str(), "{pack}");
    }
    let summary = std::fs::read_to_string(ws.parent().unwrap().join("summary.md")).unwrap();
    assert!(summary.contains("inside&#46;tgz: verified at `policy`"), "{summary}");
    assert!(summary.contains("inside&#45;base&#46;tgz: verified at `policy`"), "{summary}");

    // The workload's failure comes through with its exit code and stderr.
    let o = bench(&ws, &env, &["--workload", "fails", "--out", "fails.tgz"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("exit code 3") && stderr(&o).contains("failing on purpose"), "{}", stderr(&o));

    // No network: the host's listener is unreachable from inside.
    let o = bench(&ws, &env, &["--workload", "online", "--out", "online.tgz"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("cannot connect to {target}")), "{}", stderr(&o));
    assert!(listener.accept().is_err(), "the container reached the host");

    // Interrupted while a repetition runs inside: the run ends (exit 130)
    // and its container is removed, with the workload in it.
    let containers =
        || text(Command::new("podman").args(["ps", "--all", "--quiet", "--filter", "name=capsule-endless"]));
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "bench", "--quiet", "--workload", "endless", "--out", "endless.tgz"])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", ws.join("target"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while containers().is_empty() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!containers().is_empty(), "the container never started");
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(30), "it waited for the workload");
    assert_eq!(containers(), "", "the container was removed");
    assert!(!ws.join("endless.tgz").exists());

    // A digest the registry does not have is refused by the engine.
    let o = bench(&ws, &env, &["--workload", "wrong", "--out", "wrong.tgz"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("manifest unknown"), "{}", stderr(&o));

    // The policy requiring the image refuses a workload without one.
    let o = bench(&ws, &env, &["--workload", "native", "--out", "native.tgz"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("sets no `container`"), "{}", stderr(&o));

    // An engine that does not answer is named, not guessed around.
    if !Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success()) {
        let o = bench(&ws, &env, &["--workload", "inside", "--engine", "docker", "--out", "d.tgz"]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(stderr(&o).contains("docker info"), "{}", stderr(&o));
    }

    // A tag alone is refused before anything runs, saying how to pin.
    configure(
        &ws,
        "container-v1",
        &format!(
            "[[workspace.metadata.capsule.workloads]]\nid = \"tagged\"\nkind = \"command\"\n\
             args = [\"/workload\"]\ncontainer = \"{reg}/capsule-e2e:t\"\n"
        ),
    );
    let o = bench(&ws, &env, &["--out", "tagged.tgz"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("workloads[0].container"), "{}", stderr(&o));
    assert!(stderr(&o).contains("skopeo inspect docker://REF --format '{{.Digest}}'"), "{}", stderr(&o));
    assert!(!ws.join("tagged.tgz").exists());
}

/// Links (or copies) `from` to `root` + `at`, creating directories.
fn place(root: &Path, from: &Path, at: &str) {
    let to = root.join(at.trim_start_matches('/'));
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let from = from.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    if from.is_dir() {
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            place(root, &e.path(), &format!("{at}/{}", e.file_name().to_string_lossy()));
        }
    } else if !to.exists() && std::fs::hard_link(&from, &to).is_err() {
        std::fs::copy(&from, &to).unwrap();
    }
}

fn text(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// A Rust toolchain image made offline from this machine's own files:
/// the toolchain `rustc` runs from (rustc, cargo, the standard library,
/// rust-lld), gcc as the linker driver with its runtime objects, the C
/// library's development files, a C compiler for build scripts (`cc1`,
/// `as`, `ar` and the headers a small C file of criterion's dependencies
/// includes), and every shared library those need (what `ldd` lists), in
/// a merged-/usr layout. Returns the pinned reference (the digest the
/// engine's storage gives it).
fn toolchain_image(dir: &Path, env: &[(String, PathBuf)]) -> String {
    let rootfs = merged_usr(&dir.join("toolchain/rootfs"));
    let sysroot = PathBuf::from(text(Command::new("rustc").args(["--print", "sysroot"])));
    let host = text(Command::new("rustc").args(["--print", "host-tuple"]));
    let rust = "/usr/local/rust";
    for b in ["rustc", "cargo"] {
        place(&rootfs, &sysroot.join("bin").join(b), &format!("{rust}/bin/{b}"));
    }
    let mut elves = vec![rootfs.join("usr/local/rust/bin/rustc"), rootfs.join("usr/local/rust/bin/cargo")];
    for e in std::fs::read_dir(sysroot.join("lib")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().contains(".so") {
            place(&rootfs, &e.path(), &format!("{rust}/lib/{}", e.file_name().to_string_lossy()));
            elves.push(e.path());
        }
    }
    for sub in ["lib", "bin"] {
        place(&rootfs, &sysroot.join("lib/rustlib").join(&host).join(sub), &format!("{rust}/lib/rustlib/{host}/{sub}"));
    }
    elves.push(sysroot.join("lib/rustlib").join(&host).join("bin/rust-lld"));
    let gcc_dir = PathBuf::from(text(Command::new("gcc").arg("-print-libgcc-file-name")));
    let gcc_dir = gcc_dir.parent().unwrap().to_owned();
    for f in [
        "collect2",
        "lto-wrapper",
        "liblto_plugin.so",
        "crtbegin.o",
        "crtbeginS.o",
        "crtend.o",
        "crtendS.o",
        "libgcc.a",
        "libgcc_eh.a",
        "libgcc_s.so",
    ] {
        place(&rootfs, &gcc_dir.join(f), &format!("{}/{f}", gcc_dir.display()));
        elves.push(gcc_dir.join(f));
    }
    let cc = PathBuf::from(text(Command::new("sh").args(["-c", "command -v cc"])));
    place(&rootfs, &cc, "/usr/bin/cc");
    elves.push(cc);
    // A C compiler, for a build script that compiles C (criterion's
    // `alloca` dependency does, with the `cc` crate).
    let cc1 = PathBuf::from(text(Command::new("gcc").arg("-print-prog-name=cc1")));
    place(&rootfs, &cc1, &cc1.display().to_string());
    elves.push(cc1);
    for tool in ["as", "ar"] {
        let p = PathBuf::from(text(Command::new("sh").args(["-c", &format!("command -v {tool}")])));
        place(&rootfs, &p, &format!("/usr/bin/{tool}"));
        elves.push(p);
    }
    place(&rootfs, &gcc_dir.join("include"), &format!("{}/include", gcc_dir.display()));
    let probe = dir.join("probe.c");
    std::fs::write(&probe, "#include <stddef.h>\n#include <stdint.h>\n#include <malloc.h>\n#include <stdlib.h>\n")
        .unwrap();
    let deps = text(Command::new("gcc").args(["-M", "-O2", "-fPIC"]).arg(&probe));
    for h in deps.split_whitespace().filter(|w| w.starts_with("/usr/include/")) {
        place(&rootfs, Path::new(h), h);
    }
    let libdir = PathBuf::from(text(Command::new("gcc").arg("-print-multiarch")));
    let libdir = Path::new("/usr/lib").join(libdir);
    let dev = [
        "Scrt1.o",
        "crt1.o",
        "crti.o",
        "crtn.o",
        "libc.so",
        "libc_nonshared.a",
        "libm.so",
        "libmvec.so",
        "libmvec.so.1",
    ];
    // glibc 2.34+ keeps empty archives for what moved into libc.
    let stubs = ["libpthread.a", "libdl.a", "librt.a", "libutil.a"];
    for f in dev.into_iter().chain(stubs) {
        place(&rootfs, &libdir.join(f), &format!("{}/{f}", libdir.display()));
    }
    with_libraries(&rootfs, &elves);
    local_image(env, &dir.join("toolchain"), "capsule-e2e-toolchain", &format!("ENV PATH={rust}/bin:/usr/bin\n"))
}

/// An empty merged-/usr root (`bin`, `lib`, `lib64` link into `usr`).
fn merged_usr(rootfs: &Path) -> PathBuf {
    std::fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("usr/lib64")).unwrap();
    for l in ["bin", "lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{l}"), rootfs.join(l)).unwrap();
    }
    rootfs.to_owned()
}

/// Places in `rootfs` every shared library `elves` need (what `ldd`
/// lists), at its merged-/usr path.
fn with_libraries(rootfs: &Path, elves: &[PathBuf]) {
    let mut libs = std::collections::BTreeSet::new();
    for e in elves {
        let o = Command::new("ldd").arg(e).output().unwrap();
        for lib in String::from_utf8_lossy(&o.stdout).split_whitespace().filter(|w| w.starts_with('/')) {
            libs.insert(lib.to_owned());
        }
    }
    for lib in libs.iter().filter(|l| !l.contains("/rustlib/") && !l.contains("/.rustup/")) {
        let at = lib.replacen("/lib64/", "/usr/lib64/", 1);
        let at = if at.starts_with("/lib/") { format!("/usr{at}") } else { at };
        place(rootfs, Path::new(lib), &at);
    }
}

/// Builds `ctx/rootfs` into an image named `name` (`--timestamp 0`, no
/// network) and returns it pinned by the digest the engine's storage
/// gives it.
fn local_image(env: &[(String, PathBuf)], ctx: &Path, name: &str, more: &str) -> String {
    std::fs::write(ctx.join("Containerfile"), format!("FROM scratch\nCOPY rootfs/ /\n{more}")).unwrap();
    let tag = format!("localhost/{name}:{}", std::process::id());
    podman(env, &["build", "--quiet", "--network", "none", "--timestamp", "0", "-t", &tag, ctx.to_str().unwrap()]);
    let digest = text(Command::new("podman").args(["image", "inspect", "--format", "{{.Digest}}", &tag]));
    format!("localhost/{name}@{digest}")
}

/// What the pinned image's `rustc -vV` says.
fn image_rustc(pinned: &str) -> String {
    text(Command::new("podman").args(["run", "--rm", "--network", "none", "--entrypoint", "rustc", pinned, "-vV"]))
}

fn sha256_file(p: &Path) -> String {
    capsule::digest::plain(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).to_string()
}

/// The strongest story: the pinned image is the build environment too.
/// `bin` is built inside it (no network, `--offline`), so the pack pins
/// the compiler and system libraries as well, and two runs with the same
/// image and commit build the same binary.
#[test]
fn a_bin_is_built_inside_the_pinned_image() {
    if !tools(&["podman", "ldd", "gcc"]) {
        return;
    }
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let env = Vec::new();
    let pinned = toolchain_image(tmp.path(), &env);
    let ws = workspace(tmp.path(), None);
    std::fs::create_dir_all(ws.join("src/bin")).unwrap();
    std::fs::write(
        ws.join("src/bin/sum.rs"),
        "fn main() { let n: u64 = std::env::args().nth(1).unwrap().parse().unwrap(); println!(\"{}\", (0..n).sum::<u64>()); }\n",
    )
    .unwrap();
    std::fs::write(ws.join("src/bin/broken.rs"), "fn main() { let x: u32 = \"no\"; }\n").unwrap();
    let o = Command::new("cargo").args(["generate-lockfile", "--offline"]).current_dir(&ws).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let workloads = format!(
        "[[workspace.metadata.capsule.workloads]]\nid = \"sum\"\nkind = \"command\"\nbin = \"sum\"\nargs = [\"100000\"]\n\
         container = \"{pinned}\"\n\n\
         [[workspace.metadata.capsule.workloads]]\nid = \"broken\"\nkind = \"command\"\nbin = \"broken\"\n\
         container = \"{pinned}\"\n"
    );
    configure(&ws, "container-v1", &workloads);
    let image_rustc = image_rustc(&pinned);

    let mut digests = Vec::new();
    for target in ["target", "target-again"] {
        let o = capsule_with_target(
            &ws,
            &ws.join(target),
            &["bench", "--workload", "sum", "--out", &format!("{target}.tgz")],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(!ws.join(target).join("release/sum").exists(), "nothing is built on the machine itself");
        let c = json(&capsule(&ws, &["inspect", &format!("{target}.tgz"), "--json"]));
        let b = &c["manifests"]["manifests/container.json"]["build"];
        assert_eq!(b["binary"], "/.capsule/target/release/sum", "{b}");
        assert!(b["command"].as_str().unwrap().starts_with("cargo build --release --offline --bin sum"), "{b}");
        let d16 = &pinned.rsplit_once("sha256:").unwrap().1[..16];
        let built = ws.join(target).join("capsule/container").join(d16).join("release/sum");
        assert_eq!(b["binary_digest"], sha256_file(&built), "the pack names the binary that ran");
        assert_eq!(c["manifests"]["manifests/toolchain.json"]["rustc"], image_rustc.as_str(), "the image's compiler");
        assert_eq!(
            c["statement"]["public_inputs"]["result_digest"],
            tagged(Tag::Result, format!("{}\n", (0..100_000u64).sum::<u64>()).as_bytes()).to_string()
        );
        let r = json(&capsule(&ws, &["verify", &format!("{target}.tgz"), "--json"]));
        assert_eq!(r["verdict"], "accepted", "{r}");
        digests.push(b["binary_digest"].clone());
    }
    assert_eq!(digests[0], digests[1], "the same image and commit build the same binary");

    // A build that fails inside the image is the workload's failure.
    let o = bench(&ws, &env, &["--workload", "broken", "--out", "broken.tgz"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("failed to build binary `broken` inside image"), "{}", stderr(&o));
    assert!(stderr(&o).contains("mismatched types"), "cargo's own words reach the user: {}", stderr(&o));
    let _ = Command::new("podman").args(["rmi", "--force", &pinned]).output();
}

/// A `hyperfine` workload in a container: the image's hyperfine times the
/// command inside it, and the pack names the image.
#[test]
fn hyperfine_runs_inside_the_pinned_image() {
    if !tools(&["podman", "hyperfine", "ldd"]) {
        return;
    }
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let env = Vec::new();
    let ctx = tmp.path().join("hyperfine");
    let rootfs = merged_usr(&ctx.join("rootfs"));
    let hyperfine = PathBuf::from(text(Command::new("sh").args(["-c", "command -v hyperfine"])));
    place(&rootfs, &hyperfine, "/usr/bin/hyperfine");
    let workload = ctx.join("workload");
    static_workload(&workload);
    place(&rootfs, &workload, "/workload");
    with_libraries(&rootfs, &[hyperfine]);
    let pinned = local_image(&env, &ctx, "capsule-e2e-hyperfine", "ENV PATH=/usr/bin\n");

    let ws = workspace(tmp.path(), None);
    // A policy that fixes the box: the container gets its limits.
    box_policy(&ws);
    configure(
        &ws,
        "box.json",
        &format!(
            "[[workspace.metadata.capsule.workloads]]\nid = \"spin\"\nkind = \"hyperfine\"\n\
             command = \"/workload --spin 100000\"\ncontainer = \"{pinned}\"\n\n\
             [[workspace.metadata.capsule.workloads]]\nid = \"fails\"\nkind = \"hyperfine\"\n\
             command = \"/workload --fail\"\ncontainer = \"{pinned}\"\n"
        ),
    );
    let o = bench(&ws, &env, &["--workload", "spin", "--out", "spin.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json(&capsule(&ws, &["inspect", "spin.tgz", "--json"]));
    let m = &c["manifests"]["manifests/container.json"];
    assert_eq!(m["image"], pinned.as_str());
    assert_eq!(m["limits_requested"], box_limits(), "the policy's limits");
    assert_eq!(m["limits_applied"]["pids.max"], "64", "{m}");
    let series = &c["measurements"]["series"][0];
    assert_eq!(series["class"], "harness-reported", "{series}");
    assert_eq!(series["samples"].as_array().unwrap().len(), 10, "hyperfine's 10 runs, timed inside");
    assert_eq!(json(&capsule(&ws, &["verify", "spin.tgz", "--policy", "box.json", "--json"]))["verdict"], "accepted");
    // Paired: every round of each side in that side's container (the
    // command exists only in the image).
    assert!(!Path::new("/workload").exists());
    let o = bench(&ws, &env, &["--workload", "spin", "--baseline", "HEAD", "--repetitions", "10", "--out", "pair.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for pack in ["pair.tgz", "pair-base.tgz"] {
        let c = json(&capsule(&ws, &["inspect", pack, "--json"]));
        assert_eq!(c["manifests"]["manifests/container.json"]["image"], pinned.as_str(), "{pack}");
        let r = json(&capsule(&ws, &["verify", pack, "--policy", "box.json", "--json"]));
        assert_eq!(r["verdict"], "accepted", "{pack}: {r}");
    }
    // A failing command fails hyperfine inside, and the run says why.
    let o = bench(&ws, &env, &["--workload", "fails", "--out", "fails.tgz"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("hyperfine in the container: exit code 1"), "{}", stderr(&o));
    let _ = Command::new("podman").args(["rmi", "--force", &pinned]).output();
}

/// The limits the `box.json` policy fixes.
fn box_limits() -> Value {
    serde_json::json!({"nano_cpus": 1_000_000_000u64, "memory_bytes": 268_435_456u64, "memory_swap_bytes": 268_435_456u64, "pids": 64})
}

/// Writes `box.json` in `ws`: `container-v1` with fixed container limits.
fn box_policy(ws: &Path) {
    let mut policy: Value =
        serde_json::from_slice(&std::fs::read(root().join("crates/capsule/policies/container-v1.json")).unwrap())
            .unwrap();
    policy["id"] = "box".into();
    policy["container_limits"] = box_limits();
    std::fs::write(ws.join("box.json"), serde_json::to_vec_pretty(&policy).unwrap()).unwrap();
}

/// A policy that fixes the container's limits refuses, before anything
/// runs, a workload that asks for others or runs in no container; and
/// instructions are not counted in a container.
#[test]
fn a_policy_that_fixes_container_limits_refuses_others() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    box_policy(&ws);
    let image = format!("localhost/never-pulled@sha256:{}", "1".repeat(64));
    configure(
        &ws,
        "box.json",
        &format!(
            "[[workspace.metadata.capsule.workloads]]\nid = \"bigger\"\nkind = \"command\"\nargs = [\"/w\"]\n\
             container = \"{image}\"\ncontainer_limits = {{ cpus = 2 }}\n\n\
             [[workspace.metadata.capsule.workloads]]\nid = \"boxed\"\nkind = \"command\"\nargs = [\"/w\"]\n\
             container = \"{image}\"\n\n\
             [[workspace.metadata.capsule.workloads]]\nid = \"bare\"\nkind = \"command\"\nargs = [\"true\"]\n"
        ),
    );
    for (workload, why) in [("bigger", "the workload's `container_limits` ask for"), ("bare", "sets no `container`")] {
        let o = bench(&ws, &[], &["--workload", workload, "--out", "x.tgz"]);
        assert_eq!(o.status.code(), Some(3), "{workload}: {}", stderr(&o));
        assert!(stderr(&o).contains("policy `box` requires anchor `container limits`"), "{}", stderr(&o));
        assert!(stderr(&o).contains(why), "{workload}: {}", stderr(&o));
    }
    // Counting instructions in a container is refused before it starts.
    let o = bench(&ws, &[], &["--workload", "boxed", "--measure", "instructions", "--out", "x.tgz"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("runs in a container; `--measure instructions` is not supported there"),
        "{}",
        stderr(&o)
    );
}

/// A workspace copied from `fixtures/workspace` with its dependencies
/// vendored (`cargo vendor`, from cargo's cache: `.ci/run` fetches them),
/// as a build inside an image with no network needs, configured with
/// `capsule` (the text after `[workspace.metadata.capsule]`) and committed.
fn vendored_fixture(tmp: &Path, capsule: &str) -> PathBuf {
    let ws = workspace(tmp, Some(&root().join("fixtures/workspace")));
    let o = Command::new("cargo")
        .args(["vendor", "--locked", "--offline", "vendor"])
        .current_dir(&ws)
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the fixture's dependencies must be in cargo's cache (`.ci/run` fetches them): {}",
        stderr(&o)
    );
    std::fs::create_dir_all(ws.join(".cargo")).unwrap();
    std::fs::write(ws.join(".cargo/config.toml"), &o.stdout).unwrap();
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let package = manifest.split("[workspace.metadata.capsule]").next().unwrap();
    std::fs::write(ws.join("Cargo.toml"), format!("{package}[workspace.metadata.capsule]\n{capsule}")).unwrap();
    // Every vendored file, whatever an ignore rule for `target` says (the
    // baseline's worktree is checked out from the commit).
    git(&ws, &["add", "-A", "--force", "vendor"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "vendored, configured"]);
    ws
}

/// The series ids of a pack.
fn series_ids(ws: &Path, pack: &str) -> Vec<String> {
    let r = json(&capsule(ws, &["verify", pack, "--json"]));
    let mut ids: Vec<String> = r["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str()?.strip_suffix(".wall_ns.median").map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// A `criterion` workload in a container: its bench target is built inside
/// the pinned image from vendored sources (the build has no network),
/// criterion runs there with its home in the one writable mount, and a
/// paired run takes its rounds there too, one container a side.
#[test]
fn criterion_runs_inside_the_pinned_image() {
    if !tools(&["podman", "ldd", "gcc"]) {
        return;
    }
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let env = Vec::new();
    let pinned = toolchain_image(tmp.path(), &env);
    let ws = vendored_fixture(
        tmp.path(),
        &format!(
            "policy = \"container-v1\"\n\n\
             [[workspace.metadata.capsule.workloads]]\nkind = \"criterion\"\nid = \"hashing\"\nbench = \"hashing\"\n\
             args = [\"--warm-up-time\", \"0.1\", \"--measurement-time\", \"0.2\", \"--sample-size\", \"10\"]\n\
             container = \"{pinned}\"\n\n\
             [[workspace.metadata.capsule.workloads]]\nkind = \"criterion\"\nid = \"hashing_rounds\"\nbench = \"hashing\"\n\
             container = \"{pinned}\"\n"
        ),
    );
    let image_rustc = image_rustc(&pinned);

    let o = bench(&ws, &env, &["--workload", "hashing", "--out", "c.tgz", "--color=never"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("criterion: benchmark 1 `fnv_4k`: 10 samples ("), "{e}");
    assert!(e.contains("criterion: benchmark 2 `fnv_64`: 10 samples ("), "{e}");
    let c = json(&capsule(&ws, &["inspect", "c.tgz", "--json"]));
    let m = &c["manifests"]["manifests/container.json"];
    assert_eq!(m["image"], pinned.as_str(), "{m}");
    let b = &m["build"];
    let binary = b["binary"].as_str().unwrap();
    assert!(binary.starts_with("/.capsule/target/release/deps/hashing-"), "{b}");
    assert!(
        b["command"].as_str().unwrap().starts_with(
            "cargo bench --bench hashing --no-run --message-format json-render-diagnostics --offline --locked"
        ),
        "{b}"
    );
    let d16 = &pinned.rsplit_once("sha256:").unwrap().1[..16];
    let built = ws.join("target/capsule/container").join(d16).join(binary.strip_prefix("/.capsule/target/").unwrap());
    assert_eq!(b["binary_digest"], sha256_file(&built), "the pack names the executable that ran");
    assert_eq!(c["manifests"]["manifests/toolchain.json"]["rustc"], image_rustc.as_str(), "the image's compiler");
    assert!(!ws.join("target/release").exists(), "nothing is built on the machine itself");
    assert_eq!(series_ids(&ws, "c.tgz"), ["fnv_4k", "fnv_64"]);
    let r = json(&capsule(&ws, &["verify", "c.tgz", "--json"]));
    assert_eq!(r["verdict"], "accepted", "{r}");

    // Paired: the baseline's worktree builds in its own target directory,
    // inside the same image; every round runs in a side's container.
    let o = bench(
        &ws,
        &env,
        &["--workload", "hashing_rounds", "--baseline", "HEAD", "--repetitions", "10", "--out", "p.tgz"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for pack in ["p.tgz", "p-base.tgz"] {
        let c = json(&capsule(&ws, &["inspect", pack, "--json"]));
        let m = &c["manifests"]["manifests/container.json"];
        assert_eq!(m["image"], pinned.as_str(), "{pack}: {m}");
        assert!(m["build"]["binary"].as_str().unwrap().starts_with("/.capsule/target/release/deps/hashing-"));
        let r = json(&capsule(&ws, &["verify", pack, "--json"]));
        assert_eq!(r["verdict"], "accepted", "{pack}: {r}");
        assert_eq!(series_ids(&ws, pack), ["fnv_4k", "fnv_64"], "{pack}");
    }
    let o = capsule(&ws, &["compare", "p-base.tgz", "p.tgz", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("on both sides"), "{}", stdout(&o));
    let _ = Command::new("podman").args(["rmi", "--force", &pinned]).output();
}

/// An `adapter` workload in a container: the image holds the adapter (here
/// the reference adapter and the libraries it needs, on the image's `PATH`
/// only), every proving repetition starts it beside the shim with the
/// engine's `exec`, the rows and proofs pass through the writable mount,
/// and the run's own check of its proofs runs there too. A reader verifies
/// the pack with a verifier program of their own, natively.
#[test]
fn an_adapter_runs_inside_the_pinned_image() {
    if !tools(&["podman", "ldd"]) {
        return;
    }
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let env = Vec::new();
    let adapter = Path::new(env!("CARGO_BIN_EXE_cargo-capsule")).with_file_name("capsule-reference-adapter");
    assert!(adapter.exists(), "{} is built by `cargo test --workspace`", adapter.display());
    let ctx = tmp.path().join("adapter");
    let rootfs = merged_usr(&ctx.join("rootfs"));
    place(&rootfs, &adapter, "/usr/local/bin/capsule-reference-adapter");
    with_libraries(&rootfs, std::slice::from_ref(&adapter));
    // The image runs as a user of its own, not root.
    let pinned = local_image(&env, &ctx, "capsule-e2e-adapter", "ENV PATH=/usr/local/bin\nUSER 1000:1000\n");
    let ws = workspace(tmp.path(), None);
    let workloads = format!(
        "[[workspace.metadata.capsule.workloads]]\nkind = \"adapter\"\nid = \"stark_external\"\n\
         command = [\"capsule-reference-adapter\"]\nparameters = {{ seed = 7, trace_length = 1024 }}\n\
         container = \"{pinned}\"\n"
    );
    configure(&ws, "standard-proof-v1", &workloads);
    assert!(!have("capsule-reference-adapter"), "the adapter is on the image's PATH, not this machine's");

    let o = bench(&ws, &env, &["--workload", "stark_external", "--out", "a.tgz", "--events", "a.events"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json(&capsule(&ws, &["inspect", "a.tgz", "--json"]));
    let m = &c["manifests"]["manifests/container.json"];
    assert_eq!(m["image"], pinned.as_str(), "{m}");
    assert_eq!(c["statement"]["anchors"]["container_image_digest"], pinned.rsplit_once('@').unwrap().1);
    let events = std::fs::read_to_string(ws.join("a.events")).unwrap();
    let reps = events.lines().filter(|l| l.contains("\"repetition\"")).count();
    assert_eq!(reps, 12, "every repetition proved: {events}");

    // The reader's own verifier program, pinned: the proofs hold.
    let check = json(&capsule(&ws, &["adapter", "check", "--adapter", adapter.to_str().unwrap(), "--json"]));
    let program = check["adapter"]["program_id"].as_str().unwrap().to_owned();
    let verifier = format!("capsulebench-stark-mimc7/v1={}", adapter.display());
    let pin = format!("stark_external={program}");
    let r = json(&capsule(&ws, &["verify", "a.tgz", "--json", "--backend-verifier", &verifier, "--pin-program", &pin]));
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(r["proof"], "bound-and-verified", "{r}");
    // No container is left behind.
    let ps = text(Command::new("podman").args(["ps", "-a", "--format", "{{.Names}}"]));
    assert!(!ps.contains("capsule-starkexternal"), "{ps}");
    let _ = Command::new("podman").args(["rmi", "--force", &pinned]).output();
}
