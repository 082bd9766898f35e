//! Manifests: hardware, OS, toolchain, git, CI and container descriptions.
//!
//! Each is stored at `manifests/<kind>.json` and bound by its tagged hash in
//! an anchor. Manifests are self-reported (class *measured*) and must never
//! hold secrets; redaction happens where they are collected.

use serde::{Deserialize, Serialize};

use super::schema_marker;
use crate::digest::Digest;

schema_marker!(
    /// `capsulebench/manifest/hardware/v1`
    HardwareSchema = "capsulebench/manifest/hardware/v1"
);
schema_marker!(
    /// `capsulebench/manifest/os/v1`
    OsSchema = "capsulebench/manifest/os/v1"
);
schema_marker!(
    /// `capsulebench/manifest/toolchain/v1`
    ToolchainSchema = "capsulebench/manifest/toolchain/v1"
);
schema_marker!(
    /// `capsulebench/manifest/git/v1`
    GitSchema = "capsulebench/manifest/git/v1"
);
schema_marker!(
    /// `capsulebench/manifest/ci/v1`
    CiSchema = "capsulebench/manifest/ci/v1"
);
schema_marker!(
    /// `capsulebench/manifest/container/v1`
    ContainerSchema = "capsulebench/manifest/container/v1"
);

/// The manifest kinds and their member names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ManifestKind {
    /// `manifests/hardware.json`, anchored by `hardware_manifest_hash`.
    Hardware,
    /// `manifests/os.json`, anchored by `os_fingerprint_hash`.
    Os,
    /// `manifests/toolchain.json`, anchored by `toolchain_hash`.
    Toolchain,
    /// `manifests/git.json`, anchored by `git_manifest_hash`.
    Git,
    /// `manifests/ci.json`, anchored by `ci_manifest_hash`.
    Ci,
    /// `manifests/container.json`, anchored by `container_manifest_hash`.
    Container,
}

impl ManifestKind {
    /// Every kind.
    pub const ALL: [ManifestKind; 6] = [
        ManifestKind::Hardware,
        ManifestKind::Os,
        ManifestKind::Toolchain,
        ManifestKind::Git,
        ManifestKind::Ci,
        ManifestKind::Container,
    ];

    /// The member path.
    pub fn path(self) -> &'static str {
        match self {
            ManifestKind::Hardware => "manifests/hardware.json",
            ManifestKind::Os => "manifests/os.json",
            ManifestKind::Toolchain => "manifests/toolchain.json",
            ManifestKind::Git => "manifests/git.json",
            ManifestKind::Ci => "manifests/ci.json",
            ManifestKind::Container => "manifests/container.json",
        }
    }

    /// The anchor that binds it.
    pub fn anchor(self) -> &'static str {
        match self {
            ManifestKind::Hardware => "hardware_manifest_hash",
            ManifestKind::Os => "os_fingerprint_hash",
            ManifestKind::Toolchain => "toolchain_hash",
            ManifestKind::Git => "git_manifest_hash",
            ManifestKind::Ci => "ci_manifest_hash",
            ManifestKind::Container => "container_manifest_hash",
        }
    }
}

/// The machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareManifestV1 {
    /// Always `capsulebench/manifest/hardware/v1`.
    pub schema: HardwareSchema,
    /// CPU architecture (`x86_64`).
    pub arch: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical cores available to the run.
    pub logical_cores: u32,
    /// CPU flags that matter for performance (sorted).
    pub cpu_flags: Vec<String>,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// GPUs present (empty when none).
    pub gpus: Vec<String>,
}

/// The operating system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsManifestV1 {
    /// Always `capsulebench/manifest/os/v1`.
    pub schema: OsSchema,
    /// Kernel name and release.
    pub kernel: String,
    /// Distribution name and version.
    pub distribution: String,
    /// The C library and version.
    pub libc: String,
}

/// The toolchain and build settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainManifestV1 {
    /// Always `capsulebench/manifest/toolchain/v1`.
    pub schema: ToolchainSchema,
    /// `rustc -vV` output.
    pub rustc: String,
    /// `cargo -V` output.
    pub cargo: String,
    /// The target triple.
    pub target: String,
    /// RUSTFLAGS, split into flags.
    pub rustflags: Vec<String>,
    /// Enabled cargo features.
    pub features: Vec<String>,
    /// The cargo profile.
    pub profile: String,
    /// Declared accelerators (empty when none).
    pub accelerators: Vec<String>,
}

/// The source tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitManifestV1 {
    /// Always `capsulebench/manifest/git/v1`.
    pub schema: GitSchema,
    /// Full commit hash, absent when the workspace is not a git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Whether the work tree differs from the commit.
    pub dirty: bool,
    /// Hash of the diff against the commit, when dirty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_hash: Option<Digest>,
    /// The remote URL, credentials redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Why there is no commit, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The CI context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiManifestV1 {
    /// Always `capsulebench/manifest/ci/v1`.
    pub schema: CiSchema,
    /// The provider (`github-actions`).
    pub provider: String,
    /// Repository `owner/name`.
    pub repository: String,
    /// Numeric repository id, as a decimal string.
    pub repository_id: String,
    /// The commit whose workflow ran.
    pub workflow_commit: String,
    /// The workflow reference.
    pub workflow_ref: String,
    /// The run invocation URI.
    pub run_uri: String,
    /// The run attempt.
    pub run_attempt: u32,
    /// The runner environment (`github-hosted`).
    pub runner_environment: String,
}

/// The container the runner launched, as the engine recorded it and as the
/// workload saw it from inside (objects.md §5, container.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerManifestV1 {
    /// Always `capsulebench/manifest/container/v1`.
    pub schema: ContainerSchema,
    /// The pinned reference that ran: `NAME@sha256:<manifest digest>`.
    pub image: String,
    /// The image's manifest digest (the pin; repeated by the
    /// `container_image_digest` anchor).
    pub image_digest: Digest,
    /// The engine's image id (`sha256:…`): the config digest on podman and
    /// docker's classic store, the manifest digest on docker's containerd
    /// store.
    pub image_id: String,
    /// `os/architecture[/variant]` of the image.
    pub platform: String,
    /// The engine and runtime.
    pub engine: ContainerEngineV1,
    /// The network mode (`none`).
    pub network: String,
    /// Whether the root filesystem was mounted read-only.
    pub read_only_rootfs: bool,
    /// Where the workspace was mounted, read-only (the working directory).
    pub workspace_mount: String,
    /// The limits the runner asked for and the engine recorded.
    pub limits_requested: ContainerLimitsV1,
    /// The limits as the workload saw them from inside (cgroup files, CPUs
    /// visible, network interfaces), as read: self-reported.
    pub limits_applied: std::collections::BTreeMap<String, String>,
    /// SHA-256 of the timing shim that measured inside.
    pub shim_digest: Digest,
    /// Nanoseconds from starting the engine to the shim's first word
    /// (the start overhead, not in any sample).
    pub start_ns: u64,
    /// The workload's binary, when it was built inside the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<ContainerBuildV1>,
}

/// A binary built inside the pinned image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerBuildV1 {
    /// The cargo command that ran inside the image.
    pub command: String,
    /// Where the binary was inside the container when it ran.
    pub binary: String,
    /// SHA-256 of the built binary's bytes.
    pub binary_digest: Digest,
}

impl ContainerManifestV1 {
    /// One line for people: the pinned image, engine and runtime, limits,
    /// network and the start overhead.
    pub fn describe(&self) -> String {
        let l = &self.limits_requested;
        let cpus = format!("{}.{:02}", l.nano_cpus / 1_000_000_000, (l.nano_cpus % 1_000_000_000) / 10_000_000);
        let cpus = cpus.trim_end_matches('0').trim_end_matches('.');
        let built = self
            .build
            .as_ref()
            .map(|b| format!("; `{}` built inside it: {} {}", b.command, b.binary, b.binary_digest))
            .unwrap_or_default();
        format!(
            "{} ({} {}, {}{}; {cpus} CPU, {} MiB without swap, {} processes; network {}{}; start {}.{:01} ms, outside the samples{built})",
            self.image,
            self.engine.name,
            self.engine.version,
            self.engine.runtime,
            self.engine.runtime_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default(),
            l.memory_bytes >> 20,
            l.pids,
            self.network,
            if self.read_only_rootfs { ", read-only root" } else { ", WRITABLE root" },
            self.start_ns / 1_000_000,
            (self.start_ns % 1_000_000) / 100_000,
        )
    }
}

/// The container engine and the OCI runtime it used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerEngineV1 {
    /// `docker` or `podman`.
    pub name: String,
    /// The engine's version.
    pub version: String,
    /// The OCI runtime that ran the container (`runc`, `crun`).
    pub runtime: String,
    /// Its version, when the engine reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    /// The cgroup version (`1` or `2`).
    pub cgroup_version: String,
}

/// Container resource limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerLimitsV1 {
    /// CPUs, in billionths.
    pub nano_cpus: u64,
    /// Memory, in bytes.
    pub memory_bytes: u64,
    /// Memory and swap together, in bytes (equal to `memory_bytes`: no swap).
    pub memory_swap_bytes: u64,
    /// The most processes.
    pub pids: u64,
}
