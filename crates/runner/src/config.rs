//! Workload configuration: `[workspace.metadata.capsule]` and
//! `[package.metadata.capsule]`, read through `cargo metadata`.
//!
//! Owns the schema users write (documented in `docs/config.md`, with a JSON
//! Schema in `docs/config.schema.json`) and its validation. Unknown keys are
//! errors that name the table and the key path. With no configuration at all,
//! the embedded default workload runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The id and builtin name of the embedded default workload.
pub const DEFAULT_WORKLOAD: &str = "merkle_build_open_v1";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `cargo metadata` failed (not a Cargo workspace, broken manifest).
    #[error("failed to read the workspace with `cargo metadata`")]
    Metadata(#[source] cargo_metadata::Error),
    /// A key or value the schema does not allow.
    #[error("invalid `{table}` in `{manifest}` at `{key}`: {message}")]
    Invalid {
        /// `[workspace.metadata.capsule]` or `[package.metadata.capsule]`.
        table: &'static str,
        /// The Cargo.toml that holds it.
        manifest: String,
        /// The key path inside the table (`workloads[1].paramters`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Two workloads with the same id.
    #[error("workload id `{id}` is defined twice (in `{first}` and `{second}`)")]
    DuplicateWorkload {
        /// The id.
        id: String,
        /// Where first defined.
        first: String,
        /// Where defined again.
        second: String,
    },
    /// Several workloads and no `--workload`.
    #[error("several workloads are configured; choose one with --workload: {known}")]
    Ambiguous {
        /// The ids, comma-separated.
        known: String,
    },
    /// `--workload` names nothing.
    #[error("no workload `{id}`{suggestion}; configured: {known}; builtins: {builtins}")]
    UnknownWorkload {
        /// The requested id.
        id: String,
        /// ` (did you mean `x`?)` for the closest id, or empty.
        suggestion: String,
        /// The ids that exist, comma-separated.
        known: String,
        /// The builtins, which run by name.
        builtins: String,
    },
    /// The policy file cannot be read or is not a policy.
    #[error(
        "failed to load policy `{policy}` (a standard policy name: {standard}; or a policy file relative to the workspace root)"
    )]
    Policy {
        /// The policy name or path.
        policy: String,
        /// The standard policies' names, comma-separated.
        standard: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The `capsule` table.
#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "CapsuleBench workload configuration")]
pub struct CapsuleTable {
    /// `standard-v1`, `standard-proof-v1`, `instructions-v1`, `container-v1`, or a path to a policy file
    /// (relative to the workspace root).
    #[serde(default)]
    pub policy: Option<String>,
    /// The track used when `--track` is not given.
    #[serde(default)]
    pub default_track: Option<String>,
    /// The workloads.
    #[serde(default)]
    pub workloads: Vec<WorkloadConfig>,
}

/// One input of a `command` workload with several: its own series.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseConfig {
    /// The case's id: its series id (unique in the workload).
    pub id: String,
    /// Arguments appended to the workload's for this case.
    #[serde(default)]
    pub args: Vec<String>,
}

/// Resource limits of a workload's container.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerLimitsConfig {
    /// CPUs (may be fractional, `1.5`).
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Memory in bytes; swap is never allowed beyond it.
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// The most processes (and threads).
    #[serde(default)]
    pub pids: Option<u64>,
}

/// One workload, by kind.
#[derive(Clone, Debug, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkloadConfig {
    /// A workload shipped with the tool.
    Builtin {
        /// Workload id.
        id: String,
        /// The builtin's name (`merkle_build_open_v1`).
        builtin: String,
        /// Parameters (strings, integers, booleans).
        #[serde(default)]
        parameters: BTreeMap<String, Value>,
        /// Input files whose hashes form the workload input hash.
        #[serde(default)]
        inputs: Vec<String>,
    },
    /// A binary target of the workspace, or a command line; each repetition
    /// is a fresh process and its stdout is the result.
    Command {
        /// Workload id.
        id: String,
        /// A binary target to build with cargo (exclusive with `command`).
        #[serde(default)]
        bin: Option<String>,
        /// The package of `bin`, when the name is ambiguous.
        #[serde(default)]
        package: Option<String>,
        /// Arguments passed to `bin`, or the whole command line when `bin`
        /// is absent.
        #[serde(default)]
        args: Vec<String>,
        /// Cargo features to enable when building `bin`.
        #[serde(default)]
        features: Vec<String>,
        /// Accelerators the workload uses (declared on `optimized_declared`).
        #[serde(default)]
        accelerators: Vec<String>,
        /// Parameters recorded in the statement.
        #[serde(default)]
        parameters: BTreeMap<String, Value>,
        /// Input files whose hashes form the workload input hash.
        #[serde(default)]
        inputs: Vec<String>,
        /// Inputs to run one by one, each its own series (the worst case
        /// among them shown): `[{ id = "worst_block", args = ["blocks/19.bin"] }]`.
        /// A case's `args` follow the workload's.
        #[serde(default)]
        cases: Vec<CaseConfig>,
        /// Run every repetition inside this container image, pinned by its
        /// manifest digest: `REGISTRY/NAME@sha256:<64 hex>`; `bin` is then
        /// built inside the image, and without `bin`, `args` is the command
        /// line inside it.
        #[serde(default)]
        container: Option<String>,
        /// The container's resource limits (default: every CPU, 4 GiB of
        /// memory and no swap, 1024 processes).
        #[serde(default)]
        container_limits: ContainerLimitsConfig,
    },
    /// A criterion bench target; every benchmark id becomes a series of
    /// harness-reported raw samples.
    Criterion {
        /// Workload id.
        id: String,
        /// The bench target (`cargo bench --bench <bench>`).
        bench: String,
        /// Its package, when the name is ambiguous.
        #[serde(default)]
        package: Option<String>,
        /// Arguments for criterion (after `--`).
        #[serde(default)]
        args: Vec<String>,
        /// Cargo features to enable.
        #[serde(default)]
        features: Vec<String>,
        /// Accelerators the workload uses.
        #[serde(default)]
        accelerators: Vec<String>,
        /// Parameters recorded in the statement.
        #[serde(default)]
        parameters: BTreeMap<String, Value>,
        /// Input files whose hashes form the workload input hash.
        #[serde(default)]
        inputs: Vec<String>,
        /// Run the bench target inside this container image, pinned by its manifest
        /// digest (`REGISTRY/NAME@sha256:<64 hex>`); it is built inside the image too.
        #[serde(default)]
        container: Option<String>,
        /// The container's resource limits (default: every CPU, 4 GiB of
        /// memory and no swap, 1024 processes).
        #[serde(default)]
        container_limits: ContainerLimitsConfig,
    },
    /// A gungraun bench target: every benchmark's callgrind counts
    /// (instructions first) become a series of harness-reported samples,
    /// one per run of the bench executable.
    Gungraun {
        /// Workload id.
        id: String,
        /// The bench target (`cargo bench --bench <bench>`).
        bench: String,
        /// Its package, when the name is ambiguous.
        #[serde(default)]
        package: Option<String>,
        /// Arguments for gungraun (after `--bench`): a benchmark filter, or
        /// gungraun's own options such as `--callgrind-args`.
        #[serde(default)]
        args: Vec<String>,
        /// Cargo features to enable.
        #[serde(default)]
        features: Vec<String>,
        /// Accelerators the workload uses.
        #[serde(default)]
        accelerators: Vec<String>,
        /// The policy its packs are sealed under: a standard policy name or a
        /// policy file (default `instructions-v1`, whose primary metric is
        /// the instruction count; the workspace's policy measures time).
        #[serde(default)]
        policy: Option<String>,
        /// Parameters recorded in the statement.
        #[serde(default)]
        parameters: BTreeMap<String, Value>,
        /// Input files whose hashes form the workload input hash.
        #[serde(default)]
        inputs: Vec<String>,
    },
    /// An external Trace Adapter: a program speaking the adapter protocol
    /// (`docs/adapters.md`), which executes the workload, exports its trace
    /// rows and proves each repetition for the locked statement.
    Adapter {
        /// Workload id.
        id: String,
        /// The adapter's command line: program (relative to the workspace
        /// root when it contains a `/`) and arguments.
        command: Vec<String>,
        /// Accelerators the adapter uses (declared on `optimized_declared`).
        #[serde(default)]
        accelerators: Vec<String>,
        /// Parameters sent to the adapter and recorded in the statement.
        #[serde(default)]
        parameters: BTreeMap<String, Value>,
        /// Input files whose hashes form the workload input hash.
        #[serde(default)]
        inputs: Vec<String>,
        /// Run the adapter inside this container image, pinned by its manifest
        /// digest (`REGISTRY/NAME@sha256:<64 hex>`); the image provides its program.
        #[serde(default)]
        container: Option<String>,
        /// The container's resource limits (default: every CPU, 4 GiB of
        /// memory and no swap, 1024 processes).
        #[serde(default)]
        container_limits: ContainerLimitsConfig,
    },
    /// A command timed by hyperfine (`--export-json`), harness-reported.
    Hyperfine {
        /// Workload id.
        id: String,
        /// The command hyperfine runs.
        command: String,
        /// Run it through a shell (default: no shell, `hyperfine -N`).
        #[serde(default)]
        shell: bool,
        /// Run hyperfine inside this container image, pinned by its
        /// manifest digest (`REGISTRY/NAME@sha256:<64 hex>`); the image
        /// provides `hyperfine` and the command.
        #[serde(default)]
        container: Option<String>,
        /// The container's resource limits (default: every CPU, 4 GiB of
        /// memory and no swap, 1024 processes).
        #[serde(default)]
        container_limits: ContainerLimitsConfig,
        /// Parameters recorded in the statement.
        #[serde(default)]
        parameters: BTreeMap<String, Value>,
        /// Input files whose hashes form the workload input hash.
        #[serde(default)]
        inputs: Vec<String>,
    },
}

impl WorkloadConfig {
    /// The parameters the user wrote.
    pub fn parameters(&self) -> &BTreeMap<String, Value> {
        match self {
            WorkloadConfig::Builtin { parameters, .. }
            | WorkloadConfig::Command { parameters, .. }
            | WorkloadConfig::Criterion { parameters, .. }
            | WorkloadConfig::Gungraun { parameters, .. }
            | WorkloadConfig::Adapter { parameters, .. }
            | WorkloadConfig::Hyperfine { parameters, .. } => parameters,
        }
    }

    /// The input files.
    pub fn inputs(&self) -> &[String] {
        match self {
            WorkloadConfig::Builtin { inputs, .. }
            | WorkloadConfig::Command { inputs, .. }
            | WorkloadConfig::Criterion { inputs, .. }
            | WorkloadConfig::Gungraun { inputs, .. }
            | WorkloadConfig::Adapter { inputs, .. }
            | WorkloadConfig::Hyperfine { inputs, .. } => inputs,
        }
    }

    /// The pinned image the workload runs in and its limits, when it sets
    /// `container`.
    pub fn container(&self) -> Option<(&str, &ContainerLimitsConfig)> {
        match self {
            WorkloadConfig::Command { container: Some(image), container_limits, .. }
            | WorkloadConfig::Criterion { container: Some(image), container_limits, .. }
            | WorkloadConfig::Adapter { container: Some(image), container_limits, .. }
            | WorkloadConfig::Hyperfine { container: Some(image), container_limits, .. } => {
                Some((image.as_str(), container_limits))
            }
            _ => None,
        }
    }

    /// The workload id.
    pub fn id(&self) -> &str {
        match self {
            WorkloadConfig::Builtin { id, .. }
            | WorkloadConfig::Command { id, .. }
            | WorkloadConfig::Criterion { id, .. }
            | WorkloadConfig::Gungraun { id, .. }
            | WorkloadConfig::Adapter { id, .. }
            | WorkloadConfig::Hyperfine { id, .. } => id,
        }
    }

    /// The embedded default: `merkle_build_open_v1` with parameters sized
    /// to take tens of milliseconds.
    pub fn embedded_default() -> Self {
        let mut parameters = BTreeMap::new();
        parameters.insert("leaves_pow2".to_owned(), Value::from(16));
        parameters.insert("openings".to_owned(), Value::from(64));
        WorkloadConfig::Builtin {
            id: DEFAULT_WORKLOAD.to_owned(),
            builtin: DEFAULT_WORKLOAD.to_owned(),
            parameters,
            inputs: Vec::new(),
        }
    }
}

/// The JSON Schema of the `capsule` table (`docs/config.schema.json`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(CapsuleTable);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// Everything the workspace configures.
#[derive(Clone, Debug)]
pub struct WorkspaceConfig {
    /// The workspace root.
    pub root: PathBuf,
    /// The cargo target directory.
    pub target_dir: PathBuf,
    /// The workspace table (defaults when absent).
    pub table: CapsuleTable,
    /// Every workload, with the manifest that defines it.
    pub workloads: Vec<(WorkloadConfig, String)>,
    /// The workspace's packages: what a build of one of their targets
    /// enables.
    pub packages: Vec<PackageInfo>,
    /// The RUSTFLAGS every cargo the run starts gets, as resolved and
    /// recorded in the toolchain manifest (set before anything builds).
    pub rustflags: Vec<String>,
}

/// What the runner needs to know of a workspace package.
#[derive(Clone, Debug)]
pub struct PackageInfo {
    /// Package name.
    pub name: String,
    /// Its `Cargo.toml`.
    pub manifest_path: String,
    /// Names of its binary and bench targets.
    pub targets: Vec<String>,
    /// Its `[features]` table.
    pub features: BTreeMap<String, Vec<String>>,
}

impl PackageInfo {
    /// The features cargo enables when building this package with
    /// `requested` (default features on): `requested` and `default`,
    /// expanded through the `[features]` table. Entries that reach into
    /// dependencies (`dep:x`, `x/y`, `x?/y`) are kept as written.
    pub fn resolve_features(&self, requested: &[String]) -> Vec<String> {
        let mut on = std::collections::BTreeSet::new();
        let mut todo: Vec<String> = requested.to_vec();
        if self.features.contains_key("default") {
            todo.push("default".to_owned());
        }
        while let Some(f) = todo.pop() {
            if !on.insert(f.clone()) {
                continue;
            }
            if let Some(implied) = self.features.get(&f) {
                todo.extend(implied.iter().cloned());
            }
        }
        on.into_iter().collect()
    }
}

/// Why a workload kind does not take `container`, for the kinds that do not.
fn no_container(kind: &str) -> Option<&'static str> {
    match kind {
        "builtin" => Some(
            "a `builtin` workload runs this tool's own code, which no image holds; \
             to run the same work in a container, build it as a `command` workload's `bin`",
        ),
        "gungraun" => Some(
            "a `gungraun` workload counts instructions with this machine's valgrind and gungraun runner, \
             and cannot run in a container; remove the key",
        ),
        _ => None,
    }
}

fn parse_table(v: &Value, table: &'static str, manifest: &str) -> Result<CapsuleTable, ConfigError> {
    // A kind that cannot run in a container says why, rather than calling
    // the key unknown.
    let listed = v.get("workloads").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (i, w) in listed.iter().enumerate() {
        let kind = w.get("kind").and_then(Value::as_str).unwrap_or_default();
        for key in ["container", "container_limits"] {
            if let (Some(why), Some(_)) = (no_container(kind), w.get(key)) {
                return Err(ConfigError::Invalid {
                    table,
                    manifest: manifest.to_owned(),
                    key: format!("workloads[{i}].{key}"),
                    message: why.to_owned(),
                });
            }
        }
    }
    let t = serde_path_to_error::deserialize::<_, CapsuleTable>(v.clone()).map_err(|e| ConfigError::Invalid {
        table,
        manifest: manifest.to_owned(),
        key: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    // Parameters enter the statement: strings, booleans and integers within
    // ±(2^53−1) only, checked here rather than after the workload has run.
    // Inputs are hashed by their path, so they must be relative paths
    // inside the workspace (no machine paths in a receipt).
    for (i, w) in t.workloads.iter().enumerate() {
        for (j, input) in w.inputs().iter().enumerate() {
            let p = std::path::Path::new(input);
            if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(ConfigError::Invalid {
                    table,
                    manifest: manifest.to_owned(),
                    key: format!("workloads[{i}].inputs[{j}]"),
                    message: format!("`{input}` must be a relative path inside the workspace"),
                });
            }
        }
        if let Some((image, container_limits)) = w.container() {
            let invalid = |key: &str, message: String| ConfigError::Invalid {
                table,
                manifest: manifest.to_owned(),
                key: format!("workloads[{i}].{key}"),
                message,
            };
            if let Err(e) = crate::container::ImageRef::parse(image) {
                let message = match e {
                    crate::container::ContainerError::Reference { why, .. } => format!("`{image}`: {why}"),
                    other => other.to_string(),
                };
                return Err(invalid("container", message));
            }
            let l = container_limits;
            crate::container::limits(l.cpus, l.memory_bytes, l.pids).map_err(|why| invalid("container_limits", why))?;
        }
        if let WorkloadConfig::Command { cases, .. } = w {
            for (j, c) in cases.iter().enumerate() {
                let why = if c.id.is_empty() {
                    Some("a case id must not be empty".to_owned())
                } else if cases[..j].iter().any(|o| o.id == c.id) {
                    Some(format!("case id `{}` is used twice", c.id))
                } else {
                    None
                };
                if let Some(message) = why {
                    return Err(ConfigError::Invalid {
                        table,
                        manifest: manifest.to_owned(),
                        key: format!("workloads[{i}].cases[{j}].id"),
                        message,
                    });
                }
            }
        }
        for (k, p) in w.parameters() {
            let ok = p.is_string()
                || p.is_boolean()
                || p.as_u64().is_some_and(|u| u <= capsule::canonical::MAX_SAFE_INTEGER)
                || p.as_i64().is_some_and(|n| n.unsigned_abs() <= capsule::canonical::MAX_SAFE_INTEGER);
            if !ok {
                return Err(ConfigError::Invalid {
                    table,
                    manifest: manifest.to_owned(),
                    key: format!("workloads[{i}].parameters.{k}"),
                    message: "a parameter must be a string, a boolean or an integer within ±(2^53−1)".to_owned(),
                });
            }
        }
    }
    Ok(t)
}

/// Reads the configuration of the workspace that holds `manifest_path`
/// (or the current directory).
pub fn load(manifest_path: Option<&Path>) -> Result<WorkspaceConfig, ConfigError> {
    let mut cmd = cargo_metadata::MetadataCommand::new();
    cmd.no_deps();
    if let Some(p) = manifest_path {
        cmd.manifest_path(p);
    }
    let meta = cmd.exec().map_err(ConfigError::Metadata)?;
    let root = meta.workspace_root.clone().into_std_path_buf();
    let root_manifest = root.join("Cargo.toml").display().to_string();
    let table = match meta.workspace_metadata.get("capsule") {
        Some(v) => parse_table(v, "[workspace.metadata.capsule]", &root_manifest)?,
        None => CapsuleTable::default(),
    };
    let mut workloads: Vec<(WorkloadConfig, String)> =
        table.workloads.iter().cloned().map(|w| (w, root_manifest.clone())).collect();
    for pkg in meta.workspace_packages() {
        let Some(v) = pkg.metadata.get("capsule") else { continue };
        let manifest = pkg.manifest_path.to_string();
        let t = parse_table(v, "[package.metadata.capsule]", &manifest)?;
        if t.policy.is_some() || t.default_track.is_some() {
            return Err(ConfigError::Invalid {
                table: "[package.metadata.capsule]",
                manifest,
                key: if t.policy.is_some() { "policy" } else { "default_track" }.to_owned(),
                message: "policy and default_track belong in [workspace.metadata.capsule]".to_owned(),
            });
        }
        workloads.extend(t.workloads.into_iter().map(|w| (w, manifest.clone())));
    }
    for (i, (w, at)) in workloads.iter().enumerate() {
        if let Some((_, first)) = workloads[..i].iter().find(|(o, _)| o.id() == w.id()) {
            return Err(ConfigError::DuplicateWorkload {
                id: w.id().to_owned(),
                first: first.clone(),
                second: at.clone(),
            });
        }
    }
    let packages = meta
        .workspace_packages()
        .iter()
        .map(|p| PackageInfo {
            name: p.name.to_string(),
            manifest_path: p.manifest_path.to_string(),
            targets: p.targets.iter().filter(|t| t.is_bin() || t.is_bench()).map(|t| t.name.clone()).collect(),
            features: p.features.clone(),
        })
        .collect();
    Ok(WorkspaceConfig {
        root,
        target_dir: meta.target_directory.into_std_path_buf(),
        table,
        workloads,
        packages,
        rustflags: Vec::new(),
    })
}

/// The version of `package` that `<root>/Cargo.lock` resolves, when it
/// resolves exactly one (`None` without a readable lockfile, or with no or
/// several versions of it).
pub fn locked_version(root: &Path, package: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Locked>,
    }
    #[derive(Deserialize)]
    struct Locked {
        name: String,
        version: String,
    }
    let lock: Lock = toml::from_str(&std::fs::read_to_string(root.join("Cargo.lock")).ok()?).ok()?;
    let mut versions = lock.package.into_iter().filter(|p| p.name == package).map(|p| p.version);
    let first = versions.next()?;
    versions.next().is_none().then_some(first)
}

impl WorkspaceConfig {
    /// Features and accelerators a build of `workload` uses, known before
    /// building: the requested features resolved through the package's
    /// `[features]` table (default features included).
    pub fn build_settings(&self, workload: &WorkloadConfig) -> (Vec<String>, Vec<String>) {
        let (target, package, features, accelerators) = match workload {
            WorkloadConfig::Command { bin: Some(bin), package, features, accelerators, .. } => {
                (bin, package, features, accelerators)
            }
            WorkloadConfig::Criterion { bench, package, features, accelerators, .. }
            | WorkloadConfig::Gungraun { bench, package, features, accelerators, .. } => {
                (bench, package, features, accelerators)
            }
            // A command line builds nothing; builtins are the tool's own code.
            WorkloadConfig::Command { bin: None, accelerators, .. } | WorkloadConfig::Adapter { accelerators, .. } => {
                return (Vec::new(), accelerators.clone());
            }
            WorkloadConfig::Builtin { .. } | WorkloadConfig::Hyperfine { .. } => return (Vec::new(), Vec::new()),
        };
        let owner = self.packages.iter().find(|p| match package {
            Some(name) => &p.name == name,
            None => p.targets.contains(target),
        });
        let features = match owner {
            Some(p) => p.resolve_features(features),
            None => features.clone(),
        };
        (features, accelerators.clone())
    }

    /// The package a workload belongs to: the one it names (`package`),
    /// else the one owning its `bin` or `bench` target, else the package
    /// whose `[package.metadata.capsule]` defines it; `None` for a
    /// workspace-level workload of no package.
    pub fn package_of<'a>(&'a self, workload: &'a WorkloadConfig, manifest: &str) -> Option<&'a str> {
        let (named, target) = match workload {
            WorkloadConfig::Command { package, bin, .. } => (package.as_deref(), bin.as_deref()),
            WorkloadConfig::Criterion { package, bench, .. } | WorkloadConfig::Gungraun { package, bench, .. } => {
                (package.as_deref(), Some(bench.as_str()))
            }
            _ => (None, None),
        };
        named
            .or_else(|| {
                target
                    .and_then(|t| self.packages.iter().find(|p| p.targets.iter().any(|x| x == t)))
                    .map(|p| p.name.as_str())
            })
            .or_else(|| self.packages.iter().find(|p| p.manifest_path == manifest).map(|p| p.name.as_str()))
    }

    /// The ids of the configured workloads cargo-style flags select: of the
    /// packages named (`-p`), not excluded (`--exclude`), and, with
    /// `benches`, only criterion workloads of those bench targets. With no
    /// flag, every workload.
    pub fn select_by(&self, packages: &[String], exclude: &[String], benches: &[String]) -> Vec<String> {
        self.workloads
            .iter()
            .filter(|(w, m)| {
                let pkg = self.package_of(w, m);
                (packages.is_empty() || pkg.is_some_and(|p| packages.iter().any(|x| x == p)))
                    && !pkg.is_some_and(|p| exclude.iter().any(|x| x == p))
                    && (benches.is_empty()
                        || matches!(w, WorkloadConfig::Criterion { bench, .. } | WorkloadConfig::Gungraun { bench, .. }
                            if benches.contains(bench)))
            })
            .map(|(w, _)| w.id().to_owned())
            .collect()
    }

    /// The workload to run: the one named, else the only one, else the
    /// embedded default (when none is configured).
    pub fn select(&self, id: Option<&str>) -> Result<WorkloadConfig, ConfigError> {
        let known = || {
            let mut ids: Vec<&str> = self.workloads.iter().map(|(w, _)| w.id()).collect();
            if ids.is_empty() {
                ids.push(DEFAULT_WORKLOAD);
            }
            ids.join(", ")
        };
        match id {
            Some(id) => {
                if let Some((w, _)) = self.workloads.iter().find(|(w, _)| w.id() == id) {
                    return Ok(w.clone());
                }
                if id == DEFAULT_WORKLOAD && self.workloads.is_empty() {
                    return Ok(WorkloadConfig::embedded_default());
                }
                // A builtin runs by name with its default parameters.
                if crate::builtin::BUILTINS.contains(&id) {
                    return Ok(WorkloadConfig::Builtin {
                        id: id.to_owned(),
                        builtin: id.to_owned(),
                        parameters: BTreeMap::new(),
                        inputs: Vec::new(),
                    });
                }
                let mut candidates: Vec<&str> = self.workloads.iter().map(|(w, _)| w.id()).collect();
                candidates.extend(crate::builtin::BUILTINS.iter().copied());
                let suggestion = candidates
                    .iter()
                    .map(|c| (strsim::jaro_winkler(id, c), *c))
                    .filter(|(score, _)| *score > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, c)| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                Err(ConfigError::UnknownWorkload {
                    id: id.to_owned(),
                    suggestion,
                    known: known(),
                    builtins: crate::builtin::BUILTINS.join(", "),
                })
            }
            None => match self.workloads.as_slice() {
                [] => Ok(WorkloadConfig::embedded_default()),
                [(w, _)] => Ok(w.clone()),
                _ => Err(ConfigError::Ambiguous { known: known() }),
            },
        }
    }

    /// Loads the policy the workspace names (default `standard-v1`).
    pub fn policy(&self) -> Result<capsule::standard::PinnedPolicy, ConfigError> {
        self.load_policy(self.table.policy.clone().unwrap_or_else(|| "standard-v1".to_owned()))
    }

    /// Loads the policy `workload` is sealed under: a gungraun workload's
    /// own (default `instructions-v1`: it counts instructions, and the
    /// workspace's policy measures time), any other the workspace's.
    pub fn policy_for(&self, workload: &WorkloadConfig) -> Result<capsule::standard::PinnedPolicy, ConfigError> {
        match workload {
            WorkloadConfig::Gungraun { policy, .. } => {
                self.load_policy(policy.clone().unwrap_or_else(|| "instructions-v1".to_owned()))
            }
            _ => self.policy(),
        }
    }

    fn load_policy(&self, name: String) -> Result<capsule::standard::PinnedPolicy, ConfigError> {
        if let Some(p) = capsule::standard::standard_policy(&name) {
            return Ok(p.clone());
        }
        let standard = || capsule::standard::standard_policies().iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        let path = self.root.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| ConfigError::Policy {
            policy: name.clone(),
            standard: standard(),
            source: Box::new(e),
        })?;
        capsule::standard::PinnedPolicy::from_file_bytes(&bytes).map_err(|e| ConfigError::Policy {
            policy: name,
            standard: standard(),
            source: Box::new(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `-p`, `--exclude` and `--bench` choose workloads by the package
    /// they belong to (named, owning their target, or defining them) and by
    /// bench target.
    #[test]
    fn cargo_style_selection() {
        let w = |v: Value| -> WorkloadConfig { serde_json::from_value(v).unwrap() };
        let pkg = |name: &str, manifest: &str, targets: &[&str]| PackageInfo {
            name: name.to_owned(),
            manifest_path: manifest.to_owned(),
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            features: BTreeMap::new(),
        };
        let ws = WorkspaceConfig {
            root: "/ws".into(),
            target_dir: "/ws/target".into(),
            table: CapsuleTable::default(),
            workloads: vec![
                (w(json!({"kind": "command", "id": "a_bin", "bin": "tool"})), "/ws/Cargo.toml".to_owned()),
                (w(json!({"kind": "criterion", "id": "a_hash", "bench": "hashing"})), "/ws/Cargo.toml".to_owned()),
                (
                    w(json!({"kind": "criterion", "id": "b_parse", "bench": "parse", "package": "b"})),
                    "/ws/Cargo.toml".to_owned(),
                ),
                (w(json!({"kind": "hyperfine", "id": "b_cli", "command": "b --help"})), "/ws/b/Cargo.toml".to_owned()),
                (w(json!({"kind": "hyperfine", "id": "top", "command": "true"})), "/ws/Cargo.toml".to_owned()),
            ],
            packages: vec![
                pkg("a", "/ws/a/Cargo.toml", &["tool", "hashing"]),
                pkg("b", "/ws/b/Cargo.toml", &["parse"]),
            ],
            rustflags: Vec::new(),
        };
        let s = |p: &[&str], x: &[&str], b: &[&str]| {
            let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            ws.select_by(&v(p), &v(x), &v(b))
        };
        assert_eq!(s(&[], &[], &[]), ["a_bin", "a_hash", "b_parse", "b_cli", "top"]);
        assert_eq!(s(&["a"], &[], &[]), ["a_bin", "a_hash"]);
        assert_eq!(s(&["b"], &[], &[]), ["b_parse", "b_cli"]);
        assert_eq!(s(&[], &["a"], &[]), ["b_parse", "b_cli", "top"]);
        assert_eq!(s(&[], &[], &["hashing", "parse"]), ["a_hash", "b_parse"]);
        assert_eq!(s(&["b"], &[], &["hashing"]), Vec::<String>::new());
    }

    fn check(v: Value, expect: Result<usize, &str>) {
        let got = parse_table(&v, "[workspace.metadata.capsule]", "Cargo.toml");
        match (got, expect) {
            (Ok(t), Ok(n)) => assert_eq!(t.workloads.len(), n),
            (Err(e), Err(key)) => assert!(e.to_string().contains(key), "{e}"),
            (got, expect) => panic!("{v}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn features_resolve_like_cargo() {
        let table: BTreeMap<String, Vec<String>> = [
            ("default", vec!["fast"]),
            ("fast", vec!["simd-accel", "dep:rayon"]),
            ("simd-accel", vec!["blake3?/neon"]),
            ("gpu", vec![]),
            ("cycle-a", vec!["cycle-b"]),
            ("cycle-b", vec!["cycle-a"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        let p =
            PackageInfo { name: "p".into(), manifest_path: String::new(), targets: vec!["b".into()], features: table };
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &["blake3?/neon", "default", "dep:rayon", "fast", "simd-accel"]),
            (&["gpu"], &["blake3?/neon", "default", "dep:rayon", "fast", "gpu", "simd-accel"]),
            (&["cycle-a"], &["blake3?/neon", "cycle-a", "cycle-b", "default", "dep:rayon", "fast", "simd-accel"]),
        ];
        for (requested, want) in cases {
            let requested: Vec<String> = requested.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(p.resolve_features(&requested), *want, "{requested:?}");
        }
    }

    #[test]
    fn committed_json_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.schema.json");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == json_schema(), "docs/config.schema.json is stale: run `cargo xtask codegen`");
    }

    #[test]
    fn schema_cases() {
        check(json!({}), Ok(0));
        check(json!({"workloads": [{"kind": "builtin", "id": "m", "builtin": "merkle_build_open_v1"}]}), Ok(1));
        check(
            json!({"workloads": [{"kind": "command", "id": "c", "bin": "x", "args": ["--n", "3"], "features": ["f"]}]}),
            Ok(1),
        );
        check(json!({"polcy": "standard-v1"}), Err("at `polcy`"));
        check(
            json!({"workloads": [{"kind": "builtin", "id": "m", "builtin": "b"}, {"kind": "command", "id": "c", "arg": []}]}),
            Err("at `workloads[1]`: unknown field `arg`"),
        );
        check(json!({"workloads": [{"kind": "rocket", "id": "m"}]}), Err("unknown variant `rocket`"));
        check(json!({"workloads": [{"kind": "builtin", "builtin": "b"}]}), Err("missing field `id`"));
        check(
            json!({"workloads": [{"kind": "builtin", "id": "m", "builtin": "b", "parameters": {"x": 1.5}}]}),
            Err("at `workloads[0].parameters.x`"),
        );
        check(
            json!({"workloads": [{"kind": "builtin", "id": "m", "builtin": "b", "parameters": {"x": [1]}}]}),
            Err("at `workloads[0].parameters.x`"),
        );
        check(
            json!({"workloads": [{"kind": "builtin", "id": "m", "builtin": "b", "inputs": ["/home/a/x"]}]}),
            Err("at `workloads[0].inputs[0]`"),
        );
        check(
            json!({"workloads": [{"kind": "builtin", "id": "m", "builtin": "b", "inputs": ["../x"]}]}),
            Err("must be a relative path"),
        );
        // `container` on every kind that takes it; the others say why not.
        let pin = format!("r.example/i@sha256:{}", "a".repeat(64));
        for w in [
            json!({"kind": "command", "id": "c", "args": ["x"], "container": pin}),
            json!({"kind": "hyperfine", "id": "h", "command": "x", "container": pin}),
            json!({"kind": "criterion", "id": "c", "bench": "b", "container": pin, "container_limits": {"pids": 64}}),
            json!({"kind": "adapter", "id": "a", "command": ["x"], "container": pin}),
        ] {
            check(json!({ "workloads": [w] }), Ok(1));
        }
        check(
            json!({"workloads": [{"kind": "adapter", "id": "a", "command": ["x"], "container": "r.example/i:1"}]}),
            Err("at `workloads[0].container`"),
        );
        check(
            json!({"workloads": [{"kind": "builtin", "id": "m", "builtin": "b", "container": pin}]}),
            Err("at `workloads[0].container`: a `builtin` workload runs this tool's own code"),
        );
        check(
            json!({"workloads": [{"kind": "gungraun", "id": "g", "bench": "b", "container_limits": {}}]}),
            Err("at `workloads[0].container_limits`: a `gungraun` workload counts instructions"),
        );
    }
}
