//! Running a workload's repetitions inside a container image pinned by
//! digest (docs/spec/container.md).
//!
//! Owns the image reference rule ([`ImageRef`]: `NAME@sha256:<64 hex>`,
//! nothing else), the engine abstraction ([`Engine`]: docker or podman,
//! found on PATH or chosen), the timing shim (`shim/capsule-shim.rs`,
//! compiled once per toolchain with `rustc` and cached, [`shim`]), and a
//! running container ([`Session`]): one container per side of a run, the
//! shim as its entrypoint, each repetition a fresh process the shim times
//! inside, so a sample means what it means natively. What the pack records
//! about the container ([`ContainerManifestV1`]) is read from the engine's
//! own records and from inside the container, and checked against the pin
//! before anything is measured.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use capsule::digest::Digest;
use capsule::objects::{ContainerEngineV1, ContainerLimitsV1, ContainerManifestV1};
use serde_json::Value;

use crate::measure::Sample;

/// Where the workspace is mounted (read-only) inside the container, and
/// the working directory of every repetition.
pub const WORKSPACE_MOUNT: &str = "/workspace";
/// Where the shim is mounted (read-only) inside the container.
pub const SHIM_MOUNT: &str = "/.capsule/shim";
/// Where a binary built inside the image lives: the build's target
/// directory (writable while building, read-only while measured).
pub const TARGET_MOUNT: &str = "/.capsule/target";
/// The build's `CARGO_HOME` inside the image (a fresh directory).
pub const CARGO_HOME_MOUNT: &str = "/.capsule/cargo-home";
/// The one writable mount of a measured container, for what a harness
/// writes as its output (criterion's home, an adapter's rows and proofs,
/// the usage an adapter's shim reports): a fresh directory of the run's.
pub const OUT_MOUNT: &str = "/.capsule/out";

/// The shim's source, compiled on first use.
pub const SHIM_SOURCE: &str = include_str!("../shim/capsule-shim.rs");

/// Why a container cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The reference does not pin a digest, or is malformed.
    #[error("container image `{reference}` is not pinned by digest: {why}")]
    Reference {
        /// The reference as written.
        reference: String,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// No engine answers.
    #[error("no container engine is usable: {why}")]
    NoEngine {
        /// What was tried.
        why: String,
    },
    /// An engine command failed.
    #[error("`{command}` failed{}: {stderr}", .code.map(|c| format!(" (exit {c})")).unwrap_or_default())]
    Engine {
        /// The command line.
        command: String,
        /// Its exit code.
        code: Option<i32>,
        /// The end of its stderr.
        stderr: String,
    },
    /// An engine command could not be started.
    #[error("failed to run `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The engine printed something this runner does not understand.
    #[error("failed to read the output of `{command}`: {why}")]
    Output {
        /// The command line.
        command: String,
        /// What was wrong.
        why: String,
    },
    /// The engine's records contradict the pin or the requested settings.
    #[error("container of image `{image}` does not match what was asked: {why}")]
    Mismatch {
        /// The pinned reference.
        image: String,
        /// What differs.
        why: String,
    },
    /// `cargo build` inside the image failed.
    #[error(
        "failed to build binary `{bin}` inside image `{image}` (exit {code:?}); the build runs there with no network \
         (`cargo build --offline`): the image needs cargo and a linker, and dependencies must be vendored (`cargo vendor`)"
    )]
    Build {
        /// The binary target.
        bin: String,
        /// The pinned image.
        image: String,
        /// cargo's exit code.
        code: Option<i32>,
    },
    /// A directory the container needs cannot be named in a mount.
    #[error("cannot mount `{path}` into the container: a path with `,` or `\"` cannot be named in `--mount`; move it")]
    MountPath {
        /// The path.
        path: String,
    },
    /// Building the timing shim failed.
    #[error("failed to build the container timing shim with `rustc`: {why}")]
    Shim {
        /// Why (rustc's stderr, or the I/O error).
        why: String,
    },
    /// The shim inside the container stopped answering.
    #[error("the timing shim in container `{name}` stopped answering: {why}")]
    Protocol {
        /// The container name.
        name: String,
        /// What went wrong (with the engine's stderr when it exited).
        why: String,
    },
}

/// A container image reference pinned by its manifest digest:
/// `REGISTRY/NAME@sha256:<64 lowercase hex>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// `REGISTRY/NAME` (no tag).
    pub name: String,
    /// The manifest digest.
    pub digest: Digest,
}

const HOW_TO_PIN: &str = "pin the image by its manifest digest, `NAME@sha256:<digest>`; get the digest with \
     `skopeo inspect docker://REF --format '{{.Digest}}'` or `docker buildx imagetools inspect REF`";

impl ImageRef {
    /// Parses `NAME@sha256:<64 lowercase hex>`; a tag alone, a tag beside
    /// the digest, or another digest algorithm is refused with how to get
    /// the digest.
    pub fn parse(reference: &str) -> Result<ImageRef, ContainerError> {
        let refuse = |why: String| ContainerError::Reference { reference: reference.to_owned(), why };
        let Some((name, digest)) = reference.rsplit_once('@') else {
            return Err(refuse(format!("a tag names whatever it points to today; {HOW_TO_PIN}")));
        };
        let Some(hex) = digest.strip_prefix("sha256:") else {
            return Err(refuse(format!("`{digest}` is not a sha256 digest; {HOW_TO_PIN}")));
        };
        let digest = format!("sha256:{hex}")
            .parse::<Digest>()
            .ok()
            .ok_or_else(|| refuse(format!("`sha256:{hex}` is not 64 lowercase hex digits; {HOW_TO_PIN}")))?;
        let last = name.rsplit('/').next().unwrap_or(name);
        if last.contains(':') {
            return Err(refuse(format!(
                "the tag beside the digest is ignored by the engine and would mislead a reader; write `{}@sha256:{hex}`",
                &name[..name.len() - last.len() + last.find(':').unwrap_or(last.len())]
            )));
        }
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c);
        if name.is_empty() || name.starts_with('/') || name.ends_with('/') || !name.chars().all(valid) {
            return Err(refuse(format!(
                "`{name}` is not an image name (lowercase letters, digits, `.`, `_`, `-`, `/`, and a registry port)"
            )));
        }
        Ok(ImageRef { name: name.to_owned(), digest })
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.digest)
    }
}

/// The container engines the runner drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// Docker (dockerd).
    Docker,
    /// Podman.
    Podman,
}

impl EngineKind {
    /// `docker` or `podman`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }
}

/// What an engine reports about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    /// The engine's server version.
    pub version: String,
    /// The default OCI runtime's name.
    pub runtime: String,
    /// Its version, when the engine reports one.
    pub runtime_version: Option<String>,
    /// `1` or `2`.
    pub cgroup_version: String,
}

/// A usable container engine.
#[derive(Clone, Debug)]
pub struct Engine {
    /// Which engine.
    pub kind: EngineKind,
    /// What it reported.
    pub info: EngineInfo,
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ")
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    let start = s.len().saturating_sub(2000);
    let start = (start..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(s.len());
    s[start..].to_owned()
}

impl Engine {
    /// The engine named, or the first that answers: docker (when its
    /// daemon answers), then podman.
    pub fn detect(choice: Option<EngineKind>) -> Result<Engine, ContainerError> {
        let candidates = match choice {
            Some(k) => vec![k],
            None => vec![EngineKind::Docker, EngineKind::Podman],
        };
        let mut why = Vec::new();
        for kind in candidates {
            match Engine::info(kind) {
                Ok(info) => return Ok(Engine { kind, info }),
                Err(e) => why.push(e.to_string()),
            }
        }
        Err(ContainerError::NoEngine {
            why: format!("{}; install docker or podman, or choose one with `--engine`", why.join("; ")),
        })
    }

    fn info(kind: EngineKind) -> Result<EngineInfo, ContainerError> {
        let args: &[&str] = match kind {
            EngineKind::Docker => &["info", "--format", "{{json .}}"],
            EngineKind::Podman => &["info", "--format", "json"],
        };
        let out = run_engine(kind, args)?;
        parse_info(kind, &out).map_err(|why| ContainerError::Output { command: command_line(kind.as_str(), args), why })
    }

    fn run(&self, args: &[&str]) -> Result<Vec<u8>, ContainerError> {
        run_engine(self.kind, args)
    }

    /// Makes the pinned image present (pulling it by digest when it is
    /// not; the engine checks the manifest and every layer against their
    /// digests) and returns the engine's record of it, checked to list the
    /// pinned digest.
    pub fn ensure_image(&self, image: &ImageRef) -> Result<ImageFacts, ContainerError> {
        let r = image.to_string();
        let inspected = match self.run(&["image", "inspect", &r]) {
            Ok(out) => out,
            Err(_) => {
                self.run(&["pull", "--quiet", &r])?;
                self.run(&["image", "inspect", &r])?
            }
        };
        let facts = parse_image(&inspected).map_err(|why| ContainerError::Output {
            command: command_line(self.kind.as_str(), &["image", "inspect", &r]),
            why,
        })?;
        let pinned = format!("@{}", image.digest);
        if !facts.repo_digests.iter().any(|d| d.ends_with(&pinned)) {
            return Err(ContainerError::Mismatch {
                image: r,
                why: format!(
                    "the engine's record of the image lists digests {:?}, not the pinned one",
                    facts.repo_digests
                ),
            });
        }
        Ok(facts)
    }
}

fn run_engine(kind: EngineKind, args: &[&str]) -> Result<Vec<u8>, ContainerError> {
    let command = command_line(kind.as_str(), args);
    let out = Command::new(kind.as_str())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ContainerError::Spawn { command: command.clone(), source })?;
    if !out.status.success() {
        return Err(ContainerError::Engine { command, code: out.status.code(), stderr: tail(&out.stderr) });
    }
    Ok(out.stdout)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// Reads `docker info --format '{{json .}}'` or `podman info --format json`.
pub fn parse_info(kind: EngineKind, bytes: &[u8]) -> Result<EngineInfo, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let missing = |what: &str| format!("no `{what}` in the engine's info");
    let first_line = |s: &str| s.lines().next().unwrap_or("").trim().to_owned();
    match kind {
        EngineKind::Docker => {
            // A client without a daemon prints its own info with an error.
            if let Some(errors) = v.get("ServerErrors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
                return Err(format!("the docker daemon does not answer: {}", errors[0].as_str().unwrap_or("")));
            }
            let version = str_at(&v, &["ServerVersion"])
                .filter(|s| !s.is_empty())
                .ok_or("the docker daemon does not answer (no server version)")?;
            let runtime = str_at(&v, &["DefaultRuntime"]).ok_or_else(|| missing("DefaultRuntime"))?;
            Ok(EngineInfo {
                version: version.to_owned(),
                runtime: runtime.to_owned(),
                runtime_version: (runtime == "runc")
                    .then(|| str_at(&v, &["RuncCommit", "ID"]).map(first_line))
                    .flatten()
                    .filter(|s| !s.is_empty()),
                cgroup_version: str_at(&v, &["CgroupVersion"]).ok_or_else(|| missing("CgroupVersion"))?.to_owned(),
            })
        }
        EngineKind::Podman => Ok(EngineInfo {
            version: str_at(&v, &["version", "Version"]).ok_or_else(|| missing("version.Version"))?.to_owned(),
            runtime: str_at(&v, &["host", "ociRuntime", "name"])
                .ok_or_else(|| missing("host.ociRuntime.name"))?
                .to_owned(),
            // `runc version 1.1.5+ds1` (first line): the version alone.
            runtime_version: str_at(&v, &["host", "ociRuntime", "version"])
                .map(first_line)
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
                .filter(|s| !s.is_empty()),
            cgroup_version: str_at(&v, &["host", "cgroupVersion"])
                .ok_or_else(|| missing("host.cgroupVersion"))?
                .trim_start_matches('v')
                .to_owned(),
        }),
    }
}

/// The engine's record of a local image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    /// The image id (`sha256:` + hex): the config digest on podman and on
    /// docker's classic image store; the manifest digest on docker's
    /// containerd store.
    pub id: String,
    /// `NAME@sha256:…` entries the engine holds for it.
    pub repo_digests: Vec<String>,
    /// `os/architecture[/variant]`.
    pub platform: String,
}

fn with_sha256(id: &str) -> String {
    if id.starts_with("sha256:") { id.to_owned() } else { format!("sha256:{id}") }
}

/// Reads `image inspect` output (a one-element array), docker's or podman's.
pub fn parse_image(bytes: &[u8]) -> Result<ImageFacts, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let v = v.get(0).ok_or("an empty inspect array")?;
    let id = str_at(v, &["Id"]).ok_or("no `Id`")?;
    let repo_digests = v
        .get("RepoDigests")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let os = str_at(v, &["Os"]).ok_or("no `Os`")?;
    let arch = str_at(v, &["Architecture"]).ok_or("no `Architecture`")?;
    let mut platform = format!("{os}/{arch}");
    if let Some(variant) = str_at(v, &["Variant"]).filter(|s| !s.is_empty()) {
        platform = format!("{platform}/{variant}");
    }
    Ok(ImageFacts { id: with_sha256(id), repo_digests, platform })
}

/// The engine's record of a running container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerFacts {
    /// The image reference it runs, as the engine recorded it.
    pub image: String,
    /// The image id it runs.
    pub image_id: String,
    /// The OCI runtime that runs it.
    pub runtime: String,
    /// The limits the engine applied (its HostConfig).
    pub limits: ContainerLimitsV1,
    /// `HostConfig.NetworkMode`.
    pub network: String,
    /// `HostConfig.ReadonlyRootfs`.
    pub read_only_rootfs: bool,
}

/// Reads `inspect CONTAINER` output, docker's or podman's.
pub fn parse_container(kind: EngineKind, bytes: &[u8]) -> Result<ContainerFacts, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let v = v.get(0).ok_or("an empty inspect array")?;
    let h = v.get("HostConfig").ok_or("no `HostConfig`")?;
    let num = |k: &str| {
        h.get(k)
            .and_then(|x| x.as_u64().or_else(|| x.as_i64().map(|n| n.max(0) as u64)))
            .ok_or(format!("no `HostConfig.{k}`"))
    };
    let (image, runtime) = match kind {
        EngineKind::Docker => (str_at(v, &["Config", "Image"]), str_at(h, &["Runtime"])),
        EngineKind::Podman => (str_at(v, &["ImageName"]), str_at(v, &["OCIRuntime"])),
    };
    Ok(ContainerFacts {
        image: image.ok_or("no image name")?.to_owned(),
        image_id: with_sha256(str_at(v, &["Image"]).ok_or("no `Image`")?),
        runtime: runtime.ok_or("no runtime")?.to_owned(),
        limits: ContainerLimitsV1 {
            nano_cpus: num("NanoCpus")?,
            memory_bytes: num("Memory")?,
            memory_swap_bytes: num("MemorySwap")?,
            pids: num("PidsLimit")?,
        },
        network: str_at(h, &["NetworkMode"]).ok_or("no `HostConfig.NetworkMode`")?.to_owned(),
        read_only_rootfs: h.get("ReadonlyRootfs").and_then(Value::as_bool).ok_or("no `HostConfig.ReadonlyRootfs`")?,
    })
}

/// The resource limits a container gets: the workload's configuration,
/// else these defaults (every CPU the machine has, 4 GiB of memory and no
/// swap beyond it, 1024 processes).
pub fn limits(cpus: Option<f64>, memory_bytes: Option<u64>, pids: Option<u64>) -> Result<ContainerLimitsV1, String> {
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpus = cpus.unwrap_or(host_cpus);
    if !(0.01..=1024.0).contains(&cpus) {
        return Err(format!("`cpus` = {cpus} is not between 0.01 and 1024"));
    }
    let memory = memory_bytes.unwrap_or(4 << 30);
    if memory < 6 << 20 {
        return Err(format!("`memory_bytes` = {memory} is below the engines' least (6 MiB)"));
    }
    let pids = pids.unwrap_or(1024);
    if pids == 0 {
        return Err("`pids` must be at least 1".to_owned());
    }
    // The manifest records them as canonical JSON numbers.
    let max = capsule::canonical::MAX_SAFE_INTEGER;
    if memory > max || pids > max {
        return Err(format!("`memory_bytes` and `pids` must be at most {max}"));
    }
    Ok(ContainerLimitsV1 {
        nano_cpus: (cpus * 1e9).round() as u64,
        memory_bytes: memory,
        memory_swap_bytes: memory,
        pids,
    })
}

/// Compiles the shim for this toolchain (or finds it compiled) under
/// `cache`, keyed by the source and `rustc -vV`; returns its path and the
/// SHA-256 of its bytes.
pub fn shim(cache: &Path) -> Result<(PathBuf, Digest), ContainerError> {
    let failed = |why: String| ContainerError::Shim { why };
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(&rustc).arg("-vV").output().map_err(|e| failed(e.to_string()))?;
    if !version.status.success() {
        return Err(failed(tail(&version.stderr)));
    }
    let mut key = SHIM_SOURCE.as_bytes().to_vec();
    key.extend_from_slice(&version.stdout);
    let dir = cache.join(&capsule::digest::plain(&key).to_hex()[..16]);
    let bin = dir.join("capsule-shim");
    if !bin.is_file() {
        std::fs::create_dir_all(&dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
        let tmp = tempfile::Builder::new().prefix(".shim-").tempdir_in(&dir).map_err(|e| failed(e.to_string()))?;
        let src = tmp.path().join("capsule-shim.rs");
        std::fs::write(&src, SHIM_SOURCE).map_err(|e| failed(e.to_string()))?;
        let out = tmp.path().join("capsule-shim");
        let built = Command::new(&rustc)
            .args(["--edition", "2024", "-C", "opt-level=3", "-C", "target-feature=+crt-static", "-C", "strip=symbols"])
            .args(["-C", "panic=abort", "--crate-name", "capsule_shim", "-o"])
            .arg(&out)
            .arg(&src)
            .env_remove("RUSTFLAGS")
            .output()
            .map_err(|e| failed(e.to_string()))?;
        if !built.status.success() {
            return Err(failed(format!(
                "{}; a static build needs the C library's static archive (Debian: libc6-dev)",
                tail(&built.stderr)
            )));
        }
        // Renamed into place whole: a concurrent run sees it or not.
        std::fs::rename(&out, &bin).map_err(|e| failed(e.to_string()))?;
    }
    let bytes = std::fs::read(&bin).map_err(|e| failed(format!("{}: {e}", bin.display())))?;
    Ok((bin, capsule::digest::plain(&bytes)))
}

/// What a side runs in: the pinned image, its limits, the workspace.
#[derive(Clone, Debug)]
pub struct RunSpec<'a> {
    /// The pinned image.
    pub image: &'a ImageRef,
    /// The requested limits.
    pub limits: ContainerLimitsV1,
    /// The workspace root, mounted read-only at [`WORKSPACE_MOUNT`].
    pub workspace: &'a Path,
    /// The compiled shim.
    pub shim: &'a Path,
    /// Environment variables the workload gets.
    pub env: Vec<(String, String)>,
    /// More directories mounted read-only: (source, target inside).
    pub mounts: Vec<(PathBuf, &'static str)>,
    /// A directory mounted writable at [`OUT_MOUNT`], for a harness's
    /// output.
    pub output: Option<PathBuf>,
    /// A name unique to this run side.
    pub name: String,
}

/// A running container with the shim waiting for repetitions. Dropping it
/// removes the container.
pub struct Session {
    kind: EngineKind,
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    /// The writable mount's directory, as this process names it.
    output: Option<PathBuf>,
    /// From just before the engine was started to the shim's first line,
    /// on the machine's monotonic clock.
    pub start_ns: u64,
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    #[expect(unsafe_code, reason = "the shim reports CLOCK_MONOTONIC; std's Instant does not expose its value")]
    // SAFETY: `ts` is a valid timespec for writes.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// Refuses a path `--mount` cannot name (its fields are comma-separated).
pub fn mountable(path: &Path) -> Result<(), ContainerError> {
    let bytes = path.as_os_str().as_encoded_bytes();
    if bytes.iter().any(|b| matches!(b, b',' | b'"')) {
        return Err(ContainerError::MountPath { path: path.display().to_string() });
    }
    Ok(())
}

fn bind(src: &Path, dst: &str, read_only: bool) -> OsString {
    let mut m = OsString::from("type=bind,source=");
    m.push(src.as_os_str());
    m.push(format!(",target={dst}"));
    if read_only {
        m.push(",readonly");
    }
    m
}

/// Builds `cargo_args` (`build --release --bin …`) inside the pinned image,
/// with no network and `--offline`: the workspace read-only at
/// [`WORKSPACE_MOUNT`], `target_dir` writable at [`TARGET_MOUNT`], a fresh
/// `CARGO_HOME`, and the recorded RUSTFLAGS. Cargo's diagnostics go to
/// this process's stderr, as a native build's do. Returns the command line
/// and cargo's standard output (its messages, with `--message-format`).
pub fn build_in_image(
    engine: &Engine,
    image: &ImageRef,
    workspace: &Path,
    target_dir: &Path,
    cargo_args: &[String],
    rustflags: &[String],
    bin: &str,
) -> Result<(String, Vec<u8>), ContainerError> {
    let home = target_dir.join(".cargo-home");
    for p in [workspace, target_dir] {
        mountable(p)?;
    }
    std::fs::create_dir_all(&home)
        .map_err(|source| ContainerError::Spawn { command: format!("mkdir {}", home.display()), source })?;
    let mut a: Vec<OsString> = [
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "none",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--entrypoint",
        "cargo",
    ]
    .map(OsString::from)
    .to_vec();
    a.extend([OsString::from("--workdir"), WORKSPACE_MOUNT.into()]);
    for (src, dst, ro) in
        [(workspace, WORKSPACE_MOUNT, true), (target_dir, TARGET_MOUNT, false), (&home, CARGO_HOME_MOUNT, false)]
    {
        a.extend([OsString::from("--mount"), bind(src, dst, ro)]);
    }
    for (k, v) in [
        ("CARGO_HOME", CARGO_HOME_MOUNT.to_owned()),
        ("CARGO_TARGET_DIR", TARGET_MOUNT.to_owned()),
        ("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}")),
    ] {
        a.extend([OsString::from("--env"), format!("{k}={v}").into()]);
    }
    a.push(image.to_string().into());
    a.extend(cargo_args.iter().map(OsString::from));
    let command = format!("cargo {}", cargo_args.join(" "));
    let out = Command::new(engine.kind.as_str())
        .args(&a)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| ContainerError::Spawn { command: command.clone(), source })?;
    if !out.status.success() {
        return Err(ContainerError::Build { bin: bin.to_owned(), image: image.to_string(), code: out.status.code() });
    }
    Ok((command, out.stdout))
}

/// `rustc -vV` and `cargo -V` as the pinned image answers them.
pub fn toolchain_in_image(engine: &Engine, image: &ImageRef) -> Result<(String, String), ContainerError> {
    let r = image.to_string();
    let ask = |program: &str, flag: &str| -> Result<String, ContainerError> {
        let out =
            engine.run(&["run", "--rm", "--pull", "never", "--network", "none", "--entrypoint", program, &r, flag])?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    };
    Ok((ask("rustc", "-vV")?, ask("cargo", "-V")?))
}

/// The engine arguments that start `spec`'s container (the shim as its
/// entrypoint, waiting on stdin).
pub fn run_args(spec: &RunSpec<'_>) -> Vec<OsString> {
    let l = &spec.limits;
    let mut a: Vec<OsString> = ["run", "--interactive", "--rm", "--pull", "never", "--network", "none", "--read-only"]
        .map(OsString::from)
        .to_vec();
    a.extend(
        [
            "--name".to_owned(),
            spec.name.clone(),
            "--tmpfs".to_owned(),
            "/tmp".to_owned(),
            "--cpus".to_owned(),
            format!("{}.{:09}", l.nano_cpus / 1_000_000_000, l.nano_cpus % 1_000_000_000),
            "--memory".to_owned(),
            l.memory_bytes.to_string(),
            "--memory-swap".to_owned(),
            l.memory_swap_bytes.to_string(),
            "--pids-limit".to_owned(),
            l.pids.to_string(),
            "--workdir".to_owned(),
            WORKSPACE_MOUNT.to_owned(),
            "--entrypoint".to_owned(),
            SHIM_MOUNT.to_owned(),
        ]
        .map(OsString::from),
    );
    let extra = spec.mounts.iter().map(|(s, d)| (s.as_path(), *d, true));
    let output = spec.output.iter().map(|o| (o.as_path(), OUT_MOUNT, false));
    for (src, dst, ro) in
        [(spec.shim, SHIM_MOUNT, true), (spec.workspace, WORKSPACE_MOUNT, true)].into_iter().chain(extra).chain(output)
    {
        a.extend([OsString::from("--mount"), bind(src, dst, ro)]);
    }
    for (k, v) in &spec.env {
        a.extend([OsString::from("--env"), OsString::from(format!("{k}={v}"))]);
    }
    a.push(spec.image.to_string().into());
    a
}

impl Session {
    /// Starts `spec`'s container and waits for the shim's first line.
    pub fn start(engine: &Engine, spec: &RunSpec<'_>) -> Result<Session, ContainerError> {
        use std::os::unix::process::CommandExt;
        let others = spec.mounts.iter().map(|(s, _)| s.as_path()).chain(spec.output.as_deref());
        for p in [spec.shim, spec.workspace].into_iter().chain(others) {
            mountable(p)?;
        }
        let args = run_args(spec);
        let command = format!("{} run … {}", engine.kind.as_str(), spec.image);
        let t0 = monotonic_ns();
        let mut child = Command::new(engine.kind.as_str())
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|source| ContainerError::Spawn { command, source })?;
        let stdin = child.stdin.take();
        let stdout =
            BufReader::new(child.stdout.take().ok_or_else(|| ContainerError::Protocol {
                name: spec.name.clone(),
                why: "no stdout pipe".to_owned(),
            })?);
        let mut err = child.stderr.take();
        let stderr = std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut v);
            }
            v
        });
        let mut s = Session {
            kind: engine.kind,
            name: spec.name.clone(),
            child,
            stdin,
            stdout,
            stderr: Some(stderr),
            output: spec.output.clone(),
            start_ns: 0,
        };
        let line = s.line()?;
        let ready = line
            .strip_prefix("capsule-shim 1 ")
            .and_then(|t| t.trim().parse::<u64>().ok())
            .ok_or_else(|| s.broken(format!("expected the shim's greeting, read {line:?}")))?;
        s.start_ns = ready.saturating_sub(t0);
        Ok(s)
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine process's id (it leads its own process group).
    pub fn engine_pid(&self) -> u32 {
        self.child.id()
    }

    fn broken(&mut self, why: String) -> ContainerError {
        // The engine's own words say why a container did not start.
        let _ = self.stdin.take();
        let stderr = match self.child.try_wait() {
            Ok(Some(_)) => self.stderr.take().and_then(|t| t.join().ok()).map(|e| tail(&e)).unwrap_or_default(),
            _ => String::new(),
        };
        let why = if stderr.is_empty() { why } else { format!("{why}; the engine said: {stderr}") };
        ContainerError::Protocol { name: self.name.clone(), why }
    }

    fn line(&mut self) -> Result<String, ContainerError> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => {
                let _ = self.child.wait();
                Err(self.broken("the container exited".to_owned()))
            }
            Ok(_) => Ok(line),
            Err(e) => Err(self.broken(e.to_string())),
        }
    }

    fn exact(&mut self, n: usize) -> Result<Vec<u8>, ContainerError> {
        let mut v = vec![0u8; n];
        match self.stdout.read_exact(&mut v) {
            Ok(()) => Ok(v),
            Err(e) => Err(self.broken(e.to_string())),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), ContainerError> {
        let sent = match self.stdin.as_mut() {
            Some(i) => i.write_all(bytes).and_then(|()| i.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        sent.map_err(|e| self.broken(e.to_string()))
    }

    /// Runs `argv` once in `cwd` inside the container, timed by the shim.
    pub fn run(&mut self, cwd: &str, argv: &[OsString]) -> Result<Sample, ContainerError> {
        let mut payload = cwd.as_bytes().to_vec();
        for a in argv {
            payload.push(0);
            payload.extend_from_slice(a.as_bytes());
        }
        let mut frame = format!("run {}\n", payload.len()).into_bytes();
        frame.extend_from_slice(&payload);
        crate::interrupt::measuring(self.child.id());
        let answered = self.send(&frame).and_then(|()| self.line());
        let answer = answered.and_then(|line| self.sample(&line));
        crate::interrupt::measuring(0);
        answer
    }

    fn sample(&mut self, line: &str) -> Result<Sample, ContainerError> {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let ["error", n] = w.as_slice() {
            let n = n.parse().map_err(|_| self.broken(format!("a malformed answer {line:?}")))?;
            let why = String::from_utf8_lossy(&self.exact(n)?).into_owned();
            return Err(ContainerError::Protocol { name: self.name.clone(), why });
        }
        let ["sample", rest @ ..] = w.as_slice() else {
            return Err(self.broken(format!("a malformed answer {line:?}")));
        };
        let parsed = parse_sample_line(rest).ok_or_else(|| self.broken(format!("a malformed answer {line:?}")))?;
        let (mut s, out_len, err_len) = parsed;
        s.stdout = self.exact(out_len)?;
        s.stderr_tail = self.exact(err_len)?;
        Ok(s)
    }

    /// The limits and settings as the workload sees them from inside.
    pub fn probe(&mut self) -> Result<BTreeMap<String, String>, ContainerError> {
        self.send(b"probe\n")?;
        let line = self.line()?;
        let n = line
            .strip_prefix("probe ")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| self.broken(format!("a malformed answer {line:?}")))?;
        let text = String::from_utf8_lossy(&self.exact(n)?).into_owned();
        Ok(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// Sets environment variables for the processes `run` starts from now
    /// on (a harness's home, for one round).
    pub fn set_env(&mut self, vars: &[(&str, &str)]) -> Result<(), ContainerError> {
        let mut payload = Vec::new();
        for (i, (k, v)) in vars.iter().enumerate() {
            if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
                return Err(self.broken(format!("cannot pass the variable {k:?} to the shim")));
            }
            if i > 0 {
                payload.push(0);
            }
            payload.extend_from_slice(format!("{k}={v}").as_bytes());
        }
        let mut frame = format!("env {}\n", payload.len()).into_bytes();
        frame.extend_from_slice(&payload);
        self.send(&frame)?;
        let line = self.line()?;
        if line.trim_end() != "ok" {
            return Err(self.broken(format!("a malformed answer {line:?}")));
        }
        Ok(())
    }

    /// How to start processes beside the waiting shim, when the container
    /// has the writable mount.
    pub fn exec_target(&self) -> Option<ExecTarget> {
        let output = self.output.clone()?;
        Some(ExecTarget { kind: self.kind, name: self.name.clone(), output })
    }

    /// The engine's record of this container.
    pub fn inspect(&self, engine: &Engine) -> Result<ContainerFacts, ContainerError> {
        let out = engine.run(&["inspect", &self.name])?;
        parse_container(self.kind, &out).map_err(|why| ContainerError::Output {
            command: command_line(self.kind.as_str(), &["inspect", &self.name]),
            why,
        })
    }
}

/// Starts a process beside a running container's shim with the engine's
/// `exec`, its standard streams the command's own: for a harness that
/// speaks on them, a Trace Adapter. The process runs in the container's
/// namespaces and cgroup (its network, root, limits), in the workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecTarget {
    kind: EngineKind,
    name: String,
    output: PathBuf,
}

impl ExecTarget {
    /// The engine program.
    pub fn program(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The engine's arguments that run `argv` through the shim's `exec`,
    /// which measures it inside and writes its usage to the file `usage`
    /// of the writable mount ([`ExecTarget::usage_path`], [`read_usage`]).
    pub fn args(&self, argv: &[OsString], usage: &str) -> Vec<OsString> {
        let mut a: Vec<OsString> =
            ["exec", "--interactive", "--workdir", WORKSPACE_MOUNT, &self.name, SHIM_MOUNT, "exec"]
                .map(OsString::from)
                .to_vec();
        a.push(format!("{OUT_MOUNT}/{usage}").into());
        a.extend(argv.iter().cloned());
        a
    }

    /// The command of [`ExecTarget::args`].
    pub fn command(&self, argv: &[OsString], usage: &str) -> Command {
        let mut c = Command::new(self.program());
        c.args(self.args(argv, usage));
        c
    }

    /// Where this process finds the usage file `usage`.
    pub fn usage_path(&self, usage: &str) -> PathBuf {
        self.output.join(usage)
    }

    /// The writable mount, as this process and as the container name it.
    pub fn scratch(&self) -> capsule_adapter::Scratch {
        capsule_adapter::Scratch { host: self.output.clone(), inside: PathBuf::from(OUT_MOUNT) }
    }
}

/// `wall user sys rss exit signal out_len err_len` (`-` for none).
fn parse_sample_line(w: &[&str]) -> Option<(Sample, usize, usize)> {
    let [usage @ .., out, err] = w else { return None };
    Some((
        parse_usage(usage)?,
        out.parse().ok().filter(|n| *n <= 1 << 30)?,
        err.parse().ok().filter(|n| *n <= crate::measure::STDERR_TAIL)?,
    ))
}

/// `wall user sys rss exit signal` (`-` for none).
fn parse_usage(w: &[&str]) -> Option<Sample> {
    let [wall, user, sys, rss, exit, signal] = w else { return None };
    let opt = |s: &str| if s == "-" { Some(None) } else { s.parse::<i32>().ok().map(Some) };
    Some(Sample {
        wall_ns: wall.parse().ok()?,
        user_ns: user.parse().ok()?,
        sys_ns: sys.parse().ok()?,
        peak_rss_bytes: rss.parse().ok()?,
        stdout: Vec::new(),
        stderr_tail: Vec::new(),
        exit_code: opt(exit)?,
        signal: opt(signal)?,
    })
}

/// Reads (and removes) the usage the shim's `exec` wrote at `path` (in the
/// writable mount, seen from the host): `usage <wall> <user> <sys> <rss>
/// <exit|-> <signal|->`.
pub fn read_usage(path: &Path) -> Result<Sample, ContainerError> {
    let malformed = |why: String| ContainerError::Output { command: "capsule-shim exec".to_owned(), why };
    let text =
        std::fs::read_to_string(path).map_err(|e| malformed(format!("no usage at `{}`: {e}", path.display())))?;
    let _ = std::fs::remove_file(path);
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["usage", rest @ ..] if text.ends_with('\n') => parse_usage(rest),
        _ => None,
    }
    .ok_or_else(|| malformed(format!("a malformed usage {text:?} at `{}`", path.display())))
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing stdin ends the shim and so the container (`--rm`): the
        // engine then exits 0. A container that does not end so (its
        // engine process was ended by an interrupt, or the shim is stuck
        // behind a workload) is removed by force, with what runs in it.
        let _ = self.stdin.take();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let ended_cleanly = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.success(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => break false,
            }
        };
        if !ended_cleanly {
            let _ = Command::new(self.kind.as_str())
                .args(["rm", "--force", &self.name])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(t) = self.stderr.take() {
            let _ = t.join();
        }
    }
}

/// Checks the engine's records of the running container against the pin
/// and the requested settings, and assembles the manifest.
#[expect(clippy::too_many_arguments, reason = "each is one recorded fact from its own source")]
pub fn manifest(
    engine: &Engine,
    image: &ImageRef,
    facts: &ImageFacts,
    running: &ContainerFacts,
    requested: &ContainerLimitsV1,
    applied: BTreeMap<String, String>,
    shim_digest: Digest,
    start_ns: u64,
    build: Option<capsule::objects::ContainerBuildV1>,
) -> Result<ContainerManifestV1, ContainerError> {
    let pinned = image.to_string();
    let mismatch = |why: String| ContainerError::Mismatch { image: pinned.clone(), why };
    // Podman records a name without a registry as `localhost/…`; docker as
    // given. Either way the digest part must be the pin.
    if !running.image.ends_with(&format!("@{}", image.digest)) {
        return Err(mismatch(format!("the engine says the container runs `{}`", running.image)));
    }
    if running.image_id != facts.id {
        return Err(mismatch(format!(
            "the container runs image {} but the pinned image is {}",
            running.image_id, facts.id
        )));
    }
    if running.network != "none" {
        return Err(mismatch(format!("network mode is `{}`, not `none`", running.network)));
    }
    if !running.read_only_rootfs {
        return Err(mismatch("the root filesystem is writable".to_owned()));
    }
    if running.limits != *requested {
        return Err(mismatch(format!("the engine applied limits {:?}, not {requested:?}", running.limits)));
    }
    if applied.get("network_interfaces").is_some_and(|n| n.split(',').any(|i| !i.is_empty() && i != "lo")) {
        return Err(mismatch(format!("the container sees network interfaces {}", applied["network_interfaces"])));
    }
    if applied.get("rootfs_writable").map(String::as_str) == Some("true") {
        return Err(mismatch("the root filesystem is writable from inside".to_owned()));
    }
    let runtime_version =
        (running.runtime == engine.info.runtime).then(|| engine.info.runtime_version.clone()).flatten();
    Ok(ContainerManifestV1 {
        schema: Default::default(),
        image: pinned,
        image_digest: image.digest,
        image_id: facts.id.clone(),
        platform: facts.platform.clone(),
        engine: ContainerEngineV1 {
            name: engine.kind.as_str().to_owned(),
            version: engine.info.version.clone(),
            runtime: running.runtime.clone(),
            runtime_version,
            cgroup_version: engine.info.cgroup_version.clone(),
        },
        network: running.network.clone(),
        read_only_rootfs: running.read_only_rootfs,
        workspace_mount: WORKSPACE_MOUNT.to_owned(),
        limits_requested: requested.clone(),
        limits_applied: applied,
        shim_digest,
        start_ns,
        build,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "489b2e440e7299f65d9f86a6cef35b4576c92bdfabf6116735cfe3448c299aa3";

    #[test]
    fn references_must_pin_a_digest() {
        let ok = ImageRef::parse(&format!("127.0.0.1:5000/bench@sha256:{D}")).unwrap();
        assert_eq!(ok.name, "127.0.0.1:5000/bench");
        assert_eq!(ok.to_string(), format!("127.0.0.1:5000/bench@sha256:{D}"));
        assert!(ImageRef::parse(&format!("ghcr.io/o/r/img@sha256:{D}")).is_ok());
        let cases: &[(&str, &str)] = &[
            ("ghcr.io/o/img:1.2", "skopeo inspect"),
            ("ghcr.io/o/img", "skopeo inspect"),
            (&format!("ghcr.io/o/img:1.2@sha256:{D}"), "write `ghcr.io/o/img@sha256:"),
            (&format!("img@sha512:{D}"), "not a sha256 digest"),
            ("img@sha256:1234", "not 64 lowercase hex"),
            (&format!("img@sha256:{}", D.to_uppercase()), "not 64 lowercase hex"),
            (&format!("Img@sha256:{D}"), "is not an image name"),
            (&format!("@sha256:{D}"), "is not an image name"),
            (&format!("a b@sha256:{D}"), "is not an image name"),
        ];
        for (r, why) in cases {
            let e = ImageRef::parse(r).unwrap_err().to_string();
            assert!(e.contains(why), "{r}: {e}");
            assert!(e.contains("not pinned by digest"), "{e}");
        }
        // A registry port is not a tag.
        assert!(ImageRef::parse(&format!("localhost:5000/img@sha256:{D}")).is_ok());
    }

    fn recorded(name: &str) -> Vec<u8> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/containers").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn reads_both_engines_records() {
        let podman = parse_info(EngineKind::Podman, &recorded("podman-4.3-info.json")).unwrap();
        assert_eq!(podman.runtime, "runc");
        assert_eq!(podman.runtime_version.as_deref(), Some("1.1.5+ds1"));
        assert_eq!(podman.cgroup_version, "1");
        let docker = parse_info(EngineKind::Docker, &recorded("docker-28-info.json")).unwrap();
        assert_eq!(docker.cgroup_version, "2");
        assert_eq!(docker.runtime, "runc");
        assert!(docker.runtime_version.is_some());
        let e = parse_info(EngineKind::Docker, &recorded("docker-client-only-info.json")).unwrap_err();
        assert!(e.contains("daemon does not answer"), "{e}");

        for (kind, file) in
            [(EngineKind::Podman, "podman-4.3-container.json"), (EngineKind::Docker, "docker-28-container.json")]
        {
            let c = parse_container(kind, &recorded(file)).unwrap();
            assert_eq!(c.network, "none", "{file}");
            assert!(c.read_only_rootfs, "{file}");
            assert_eq!(c.runtime, "runc", "{file}");
            assert_eq!(c.limits.memory_bytes, 268_435_456, "{file}");
            assert_eq!(c.limits.memory_swap_bytes, 268_435_456, "{file}");
            assert_eq!(c.limits.nano_cpus, 1_000_000_000, "{file}");
            assert_eq!(c.limits.pids, 64, "{file}");
            assert!(c.image.contains("@sha256:"), "{file}");
            assert!(c.image_id.starts_with("sha256:"), "{file}");
        }
        for file in ["podman-4.3-image.json", "docker-28-image.json"] {
            let i = parse_image(&recorded(file)).unwrap();
            assert_eq!(i.platform, "linux/amd64", "{file}");
            assert!(i.id.starts_with("sha256:") && i.repo_digests.iter().any(|d| d.contains("@sha256:")), "{file}");
        }
    }

    #[test]
    fn samples_are_read_strictly() {
        let (s, o, e) = parse_sample_line(&["10", "7", "2", "4096", "0", "-", "3", "0"]).unwrap();
        assert_eq!((s.wall_ns, s.exit_code, s.signal, o, e), (10, Some(0), None, 3, 0));
        let (s, ..) = parse_sample_line(&["10", "7", "2", "4096", "-", "9", "0", "0"]).unwrap();
        assert_eq!(s.signal, Some(9));
        for bad in [
            &["10", "7", "2", "4096", "0", "-", "3"][..],
            &["x", "7", "2", "4096", "0", "-", "3", "0"],
            &["10", "7", "2", "4096", "0", "-", "3", "4097"],
            &["10", "7", "2", "4096", "0", "-", "99999999999", "0"],
        ] {
            assert!(parse_sample_line(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn paths_a_mount_cannot_name_are_refused() {
        assert!(mountable(Path::new("/home/me/work space/ws")).is_ok());
        for p in ["/home/me/a,b", "/tmp/\"q\""] {
            let e = mountable(Path::new(p)).unwrap_err().to_string();
            assert!(e.contains("cannot mount") && e.contains(p), "{e}");
        }
    }

    #[test]
    fn default_limits_give_no_swap_beyond_memory() {
        let l = limits(Some(1.5), Some(256 << 20), Some(64)).unwrap();
        assert_eq!(
            (l.nano_cpus, l.memory_bytes, l.memory_swap_bytes, l.pids),
            (1_500_000_000, 256 << 20, 256 << 20, 64)
        );
        let d = limits(None, None, None).unwrap();
        assert_eq!(d.memory_swap_bytes, d.memory_bytes);
        assert!(limits(Some(0.0), None, None).is_err());
        assert!(limits(None, Some(1024), None).is_err());
        assert!(limits(None, None, Some(0)).is_err());
        assert!(limits(None, Some(u64::MAX), None).is_err());
    }

    #[test]
    fn the_shim_builds_and_times_a_process() {
        let cache = tempfile::tempdir().unwrap();
        let (bin, digest) = shim(cache.path()).unwrap();
        // Cached: the second call compiles nothing and finds the same bytes.
        assert_eq!(shim(cache.path()).unwrap(), (bin.clone(), digest));
        let mut child = Command::new(&bin).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let payload = b"/\0/bin/sh\0-c\0exit 3";
        stdin.write_all(format!("run {}\n", payload.len()).as_bytes()).unwrap();
        stdin.write_all(payload).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("capsule-shim 1 "));
        let sample: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let (s, o, e) = parse_sample_line(&sample[1..]).unwrap();
        assert_eq!((s.exit_code, o, e), (Some(3), 0, 0));
        assert!(s.wall_ns > 0 && s.peak_rss_bytes > 0);

        // `env` sets what later runs see.
        let mut child = Command::new(&bin).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let vars = b"CAPSULE_A=one\0CAPSULE_B=two=2";
        stdin.write_all(format!("env {}\n", vars.len()).as_bytes()).unwrap();
        stdin.write_all(vars).unwrap();
        let payload = b"/\0/bin/sh\0-c\0printf %s-%s \"$CAPSULE_A\" \"$CAPSULE_B\"";
        stdin.write_all(format!("run {}\n", payload.len()).as_bytes()).unwrap();
        stdin.write_all(payload).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "ok", "{text}");
        assert!(lines[2].starts_with("sample ") && lines[2].ends_with(" 9 0"), "{text}");
        assert_eq!(lines[3], "one-two=2", "{text}");

        // `exec`: the process speaks on the shim's own streams, its usage
        // goes to the file, and the shim exits as it did.
        let dir = tempfile::tempdir().unwrap();
        let usage = dir.path().join("rep-0.usage");
        let out = Command::new(&bin)
            .arg("exec")
            .arg(&usage)
            .args(["/bin/sh", "-c", "read line; echo \"got $line\"; exit 4"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(b"hello\n")?;
                c.wait_with_output()
            })
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(out.stdout, b"got hello\n");
        let u = read_usage(&usage).unwrap();
        assert_eq!((u.exit_code, u.signal), (Some(4), None));
        assert!(u.wall_ns > 0 && u.peak_rss_bytes > 0);
        assert!(!usage.exists(), "a usage is read once");
        // A killed process: the shim exits 128 + the signal and says so.
        let out = Command::new(&bin).arg("exec").arg(&usage).args(["/bin/sh", "-c", "kill -9 $$"]).output().unwrap();
        assert_eq!(out.status.code(), Some(137));
        assert_eq!(read_usage(&usage).unwrap().signal, Some(9));
        // A program that does not exist: no usage, and the shim says why.
        let out = Command::new(&bin).arg("exec").arg(&usage).arg("/nonexistent").output().unwrap();
        assert_eq!(out.status.code(), Some(127));
        assert!(String::from_utf8_lossy(&out.stderr).contains("failed to start `/nonexistent`"));
        assert!(read_usage(&usage).is_err());
    }

    #[test]
    fn usages_are_read_strictly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u");
        for bad in ["", "usage 1 2 3 4 0 -", "usage 1 2 3 4 0\n", "usage 1 2 3 x 0 -\n", "sample 1 2 3 4 0 -\n"] {
            std::fs::write(&p, bad).unwrap();
            assert!(read_usage(&p).is_err(), "{bad:?}");
        }
        std::fs::write(&p, "usage 10 2 3 4096 - 9\n").unwrap();
        let u = read_usage(&p).unwrap();
        assert_eq!(
            (u.wall_ns, u.user_ns, u.sys_ns, u.peak_rss_bytes, u.exit_code, u.signal),
            (10, 2, 3, 4096, None, Some(9))
        );
    }

    /// The shim's own tests (what its probe reads on cgroup v1 and v2),
    /// built with `rustc --test` as the shim is built with `rustc`.
    #[test]
    fn the_shims_own_tests_pass() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("capsule-shim.rs");
        std::fs::write(&src, SHIM_SOURCE).unwrap();
        let bin = dir.path().join("shim-tests");
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let built = Command::new(rustc)
            .args(["--edition", "2024", "--test", "-o"])
            .arg(&bin)
            .arg(&src)
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
        let ran = Command::new(&bin).output().unwrap();
        let out = String::from_utf8_lossy(&ran.stdout);
        assert!(ran.status.success(), "{out}");
        assert!(out.contains("2 passed"), "{out}");
    }
}
