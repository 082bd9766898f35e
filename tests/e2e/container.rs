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

use super::bench::{git, stderr, workspace};
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
        assert!(start.elapsed() < Duration::from_secs(20), "the registry did not start: {:?}", dir.join("registry.log"));
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
/// `FROM scratch` image holding it at `/workload`, pushes it to the
/// registry and returns the pushed manifest digest and the binary.
fn image(dir: &Path, env: &[(String, PathBuf)], registry: &str) -> (String, PathBuf) {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let bin = ctx.join("workload");
    let o = Command::new("rustc")
        .args(["--edition", "2024", "-O", "-C", "target-feature=+crt-static", "-o"])
        .arg(&bin)
        .arg(root().join("fixtures/containers/workload.rs"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(ctx.join("Containerfile"), "FROM scratch\nCOPY workload /workload\n").unwrap();
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

fn bench(ws: &Path, env: &[(String, PathBuf)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    c.arg("capsule").arg("bench").args(args).current_dir(ws);
    c.env("CARGO_TARGET_DIR", ws.join("target")).env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS");
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c.stdin(Stdio::null()).output().unwrap()
}

fn capsule_json(ws: &Path, args: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-capsule")).arg("capsule").args(args).current_dir(ws).output().unwrap();
    json(&o)
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
    if !(have("podman") && have("docker-registry")) {
        assert!(std::env::var_os("CI").is_none(), "CI must install podman and docker-registry (.ci/run does)");
        eprintln!("skipped: podman and docker-registry are not installed");
        return;
    }
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let (_registry, reg) = registry(tmp.path());
    let env = engine_env(tmp.path(), &reg);
    let (digest, native) = image(tmp.path(), &env, &reg);
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
    let r = capsule_json(&ws, &["verify", "inside.tgz", "--json"]);
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(r["policy"]["id"], "capsulebench-container", "{r}");
    let c = capsule_json(&ws, &["inspect", "inside.tgz", "--json"]);
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
    let o = bench(&ws, &env, &["--workload", "inside", "--baseline", "HEAD", "--repetitions", "20", "--out", "head.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "compare", "head-base.tgz", "head.tgz", "--markdown"])
        .current_dir(&ws)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("on both sides"), "{}", stdout(&o));

    // The workload's failure comes through with its exit code and stderr.
    let o = bench(&ws, &env, &["--workload", "fails", "--out", "fails.tgz"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("exit code 3") && stderr(&o).contains("failing on purpose"), "{}", stderr(&o));

    // No network: the host's listener is unreachable from inside.
    let o = bench(&ws, &env, &["--workload", "online", "--out", "online.tgz"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("cannot connect to {target}")), "{}", stderr(&o));
    assert!(listener.accept().is_err(), "the container reached the host");

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
