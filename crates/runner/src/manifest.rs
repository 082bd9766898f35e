//! Manifest collection: hardware, OS, toolchain, git and CI context.
//!
//! Owns what the runner records about the machine and the source tree, and
//! the redaction that keeps secrets out of it: credentials inside URLs are
//! removed, environment values are read only from an allowlist (cargo's own
//! `CARGO_*`, `RUSTFLAGS` and wrapper variables are read to resolve build
//! flags, of which only the resolved flags are recorded), and the home
//! directory is written `~`. Everything here is self-reported (class
//! *measured*); the verifier binds it by hash, it cannot check it.

use std::path::Path;
use std::process::Command;

use capsule::digest::{Digest, Tag, tagged};
use capsule::objects::{CiManifestV1, GitManifestV1, HardwareManifestV1, OsManifestV1, ToolchainManifestV1};

/// Environment variables a manifest may read. Nothing else is ever recorded.
pub const ENV_ALLOWLIST: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_REPOSITORY",
    "GITHUB_REPOSITORY_ID",
    "GITHUB_SHA",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_SERVER_URL",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "RUNNER_ENVIRONMENT",
];

/// Reads an allowlisted environment variable (panics in debug builds if the
/// name is not allowlisted, so a new read cannot bypass the list).
pub fn env(name: &str) -> Option<String> {
    debug_assert!(ENV_ALLOWLIST.contains(&name), "`{name}` is not in the manifest allowlist");
    if !ENV_ALLOWLIST.contains(&name) {
        return None;
    }
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Removes credentials from a URL (`https://user:token@host/x` becomes
/// `https://host/x`; `git@host:x` keeps its user, which is not a secret).
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let mut out = format!("{scheme}://{host}{path}");
        // Query strings often carry tokens.
        if let Some(i) = out.find('?') {
            out.truncate(i);
        }
        return out;
    }
    url.to_owned()
}

/// Replaces the home directory prefix with `~` wherever it appears.
pub fn redact_home(s: &str, home: Option<&str>) -> String {
    let Some(h) = home.map(|h| h.trim_end_matches('/')).filter(|h| !h.is_empty()) else {
        return s.to_owned();
    };
    // Only whole path prefixes: `/home/al` must not rewrite `/home/alice`.
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(h) {
        let after = &rest[i + h.len()..];
        let boundary = after.is_empty()
            || after.starts_with('/')
            || !after.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.');
        out.push_str(&rest[..i]);
        out.push_str(if boundary { "~" } else { h });
        rest = after;
    }
    out.push_str(rest);
    out
}

fn home() -> Option<String> {
    std::env::var("HOME").ok()
}

/// A command's trimmed stdout, when it succeeds.
pub(crate) fn run(cmd: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut c = Command::new(cmd);
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let out = c.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// CPU flags that matter for performance claims.
const FLAGS: &[&str] = &[
    "sse4_2",
    "avx",
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512ifma",
    "bmi2",
    "adx",
    "aes",
    "sha_ni",
    "pclmulqdq",
    "vaes",
    "vpclmulqdq",
    "gfni",
    "asimd",
    "sha2",
    "sve",
];

/// The hardware manifest of this machine: the CPU model and total memory
/// from `sysinfo` (Linux and macOS alike), the performance-relevant CPU
/// flags from `/proc/cpuinfo` where there is one, and NVIDIA GPUs from the
/// driver's `/proc` entries.
pub fn hardware() -> HardwareManifestV1 {
    use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};
    let sys = System::new_with_specifics(
        RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()).with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let flags_line = field("flags").or_else(|| field("Features")).unwrap_or_default();
    let mut cpu_flags: Vec<String> =
        flags_line.split_whitespace().filter(|f| FLAGS.contains(f)).map(str::to_owned).collect();
    cpu_flags.sort();
    cpu_flags.dedup();
    let mut gpus = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/driver/nvidia/gpus") {
        for e in rd.flatten() {
            let info = std::fs::read_to_string(e.path().join("information")).unwrap_or_default();
            let model = info.lines().find_map(|l| l.strip_prefix("Model:")).map(str::trim).unwrap_or("NVIDIA GPU");
            gpus.push(model.to_owned());
        }
    }
    gpus.sort();
    let brand = sys.cpus().first().map(|c| c.brand().trim().to_owned()).filter(|b| !b.is_empty());
    HardwareManifestV1 {
        schema: Default::default(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu_model: brand
            .or_else(|| field("model name"))
            .or_else(|| field("Model"))
            .unwrap_or_else(|| "unknown".to_owned()),
        logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        cpu_flags,
        memory_bytes: sys.total_memory(),
        gpus,
    }
}

/// The OS manifest of this machine: kernel and distribution from
/// `sysinfo` (`Linux 6.1.0-…`, `Debian GNU/Linux 12`; `Darwin 24.1.0`,
/// `macOS 15.1`), and the C library.
pub fn os() -> OsManifestV1 {
    use sysinfo::System;
    let kernel =
        System::kernel_version().map_or_else(|| std::env::consts::OS.to_owned(), |v| format!("{} {v}", uname_system()));
    // Linux: `/etc/os-release`'s PRETTY_NAME; macOS: `macOS 15.1 Sequoia`.
    let distribution = pretty_name().or_else(System::long_os_version).unwrap_or_else(|| "unknown".to_owned());
    let libc = if cfg!(target_os = "macos") {
        "libSystem".to_owned()
    } else {
        run("ldd", &["--version"], None)
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    };
    OsManifestV1 { schema: Default::default(), kernel, distribution, libc }
}

/// The kernel's name as `uname -s` gives it (`Linux`, `Darwin`).
fn uname_system() -> &'static str {
    match std::env::consts::OS {
        "macos" => "Darwin",
        "linux" => "Linux",
        other => other,
    }
}

/// `PRETTY_NAME` of `/etc/os-release`, where there is one (Linux).
fn pretty_name() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim().trim_matches('"').to_owned())
}

/// How cargo will compile a workload's code in a workspace: the host
/// target, the RUSTFLAGS cargo resolves for it, and any rustc wrapper
/// (a program between cargo and rustc that can pass flags nobody sees).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildFlags {
    /// The host target triple.
    pub target: String,
    /// RUSTFLAGS exactly as cargo resolves them. The runner passes these
    /// to every cargo it runs as `CARGO_ENCODED_RUSTFLAGS`, which cargo
    /// obeys over every other source, so they are the flags the build
    /// uses.
    pub rustflags: Vec<String>,
    /// What could pass rustc flags beyond [`BuildFlags::rustflags`], each
    /// named with where it came from: rustc wrappers, and the unstable
    /// per-profile `rustflags` (which cargo appends to every other source).
    pub unseen: Vec<String>,
}

/// Gives `cmd` exactly `rustflags` for any cargo it runs: cargo obeys
/// `CARGO_ENCODED_RUSTFLAGS` (flags joined by 0x1F) over every other source.
pub(crate) fn with_rustflags<'a>(
    cmd: &'a mut std::process::Command,
    rustflags: &[String],
) -> &'a mut std::process::Command {
    cmd.env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}"))
}

/// Environment variables that decide cargo's build flags: read to resolve
/// them (only the resolved flags are recorded).
fn cargo_env() -> Vec<(String, std::ffi::OsString)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
        .filter(|(k, _)| {
            k.starts_with("CARGO_") || matches!(k.as_str(), "RUSTFLAGS" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER")
        })
        .collect()
}

/// Resolves the build flags of a cargo build in `root`, as cargo does
/// (`cargo-config2`: `CARGO_ENCODED_RUSTFLAGS`, `RUSTFLAGS`,
/// `CARGO_TARGET_<TRIPLE>_RUSTFLAGS`, `target.<triple>` and
/// `target.'cfg(..)'` tables, `CARGO_BUILD_RUSTFLAGS`, `build.rustflags`,
/// from every config file cargo reads, `$CARGO_HOME` included).
pub fn build_flags(root: &Path) -> Result<BuildFlags, String> {
    build_flags_in(root, &cargo_env(), cargo_home(), None)
}

fn cargo_home() -> Option<std::path::PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")))
}

/// Where the unstable `profile-rustflags` feature is turned on for a build
/// in `root`: the workspace manifest's `cargo-features`, an `[unstable]`
/// table of a configuration file cargo reads, or `CARGO_UNSTABLE_*` in the
/// environment. Any mention counts (a comment too): the run refuses rather
/// than guess.
fn profile_rustflags(
    root: &Path,
    env: &[(String, std::ffi::OsString)],
    cargo_home: Option<std::path::PathBuf>,
) -> Option<String> {
    const FEATURE: &str = "profile-rustflags";
    if let Some((k, _)) = env.iter().find(|(k, _)| k == "CARGO_UNSTABLE_PROFILE_RUSTFLAGS") {
        return Some(format!("`{k}` in the environment"));
    }
    let mut files = vec![root.join("Cargo.toml")];
    for dir in root.ancestors().map(|d| d.join(".cargo")).chain(cargo_home) {
        files.extend(["config.toml", "config"].map(|f| dir.join(f)));
    }
    files
        .into_iter()
        .find(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains(FEATURE)))
        .map(|f| format!("`{FEATURE}` in `{}`", f.display()))
}

/// [`build_flags`] under an explicit environment, cargo home and (when
/// given) host triple: the same ones resolve the flags and find what could
/// pass others.
fn build_flags_in(
    root: &Path,
    env: &[(String, std::ffi::OsString)],
    cargo_home: Option<std::path::PathBuf>,
    host: Option<&str>,
) -> Result<BuildFlags, String> {
    let mut options = cargo_config2::ResolveOptions::default().env(env.iter().cloned()).cargo_home(cargo_home.clone());
    if let Some(h) = host {
        options = options.host_triple(h);
    }
    let config = cargo_config2::Config::load_with_options(root, options).map_err(|e| format!("{e:#}"))?;
    let target = config.host_triple().map_err(|e| format!("{e:#}"))?.to_owned();
    let rustflags = config.rustflags(target.as_str()).map_err(|e| format!("{e:#}"))?.map(|f| f.flags);
    let mut unseen = Vec::new();
    for (name, w) in [
        ("rustc-wrapper", &config.build.rustc_wrapper),
        ("rustc-workspace-wrapper", &config.build.rustc_workspace_wrapper),
    ] {
        if let Some(w) = w {
            unseen.push(format!("{name} `{}`", w.display()));
        }
    }
    if let Some(at) = profile_rustflags(root, env, cargo_home) {
        unseen.push(format!("per-profile rustflags ({at})"));
    }
    Ok(BuildFlags { target, rustflags: rustflags.unwrap_or_default(), unseen })
}

/// The toolchain manifest for a build with `features` and `profile`
/// under `flags` (a workload the run does not build records none).
pub fn toolchain(
    flags: &BuildFlags,
    features: &[String],
    profile: &str,
    accelerators: &[String],
) -> ToolchainManifestV1 {
    let h = home();
    let rustc = run("rustc", &["-vV"], None).unwrap_or_else(|| "unknown".to_owned());
    let target = rustc.lines().find_map(|l| l.strip_prefix("host: ")).unwrap_or(&flags.target).to_owned();
    let rustflags = &flags.rustflags;
    let mut features = features.to_vec();
    features.sort();
    ToolchainManifestV1 {
        schema: Default::default(),
        rustc: redact_home(&rustc, h.as_deref()),
        cargo: run("cargo", &["-V"], None).unwrap_or_else(|| "unknown".to_owned()),
        target,
        rustflags: rustflags.iter().map(|f| redact_home(f, h.as_deref())).collect(),
        features,
        profile: profile.to_owned(),
        accelerators: accelerators.to_vec(),
    }
}

/// The git manifest of the tree at `root`: full commit, dirty flag with a
/// diff hash, redacted remote. Not a repository is recorded, not an error.
pub fn git(root: &Path) -> GitManifestV1 {
    let commit = run("git", &["rev-parse", "--verify", "HEAD"], Some(root))
        .filter(|c| (c.len() == 40 || c.len() == 64) && c.bytes().all(|b| b.is_ascii_hexdigit()));
    let Some(commit) = commit else {
        return GitManifestV1 {
            schema: Default::default(),
            commit: None,
            dirty: false,
            diff_hash: None,
            remote: None,
            note: Some("not a git repository (or no commit yet)".to_owned()),
        };
    };
    // Untracked (not ignored) files count: cargo builds them too.
    let status = run("git", &["status", "--porcelain", "--untracked-files=normal"], Some(root)).unwrap_or_default();
    let dirty = !status.is_empty();
    let diff_hash: Option<Digest> = dirty.then(|| {
        let mut bytes = Command::new("git")
            .args(["diff", "HEAD", "--binary"])
            .current_dir(root)
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        let untracked =
            run("git", &["ls-files", "--others", "--exclude-standard", "-z"], Some(root)).unwrap_or_default();
        let mut files: Vec<&str> = untracked.split('\0').filter(|f| !f.is_empty()).collect();
        files.sort_unstable();
        for f in files {
            bytes.extend_from_slice(f.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(
                &std::fs::read(root.join(f)).map(|b| capsule::digest::plain(&b).0).unwrap_or_default(),
            );
        }
        tagged(Tag::GitDiff, &bytes)
    });
    let remote = run("git", &["remote", "get-url", "origin"], Some(root)).map(|u| redact_url(&u));
    GitManifestV1 { schema: Default::default(), commit: Some(commit), dirty, diff_hash, remote, note: None }
}

/// The CI manifest, when running in GitHub Actions.
pub fn ci() -> Option<CiManifestV1> {
    if env("GITHUB_ACTIONS").as_deref() != Some("true") {
        return None;
    }
    let repository = env("GITHUB_REPOSITORY")?;
    let server = env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
    let run_id = env("GITHUB_RUN_ID")?;
    let run_attempt: u32 = env("GITHUB_RUN_ATTEMPT").and_then(|a| a.parse().ok()).unwrap_or(1);
    Some(CiManifestV1 {
        schema: Default::default(),
        provider: "github-actions".to_owned(),
        repository_id: env("GITHUB_REPOSITORY_ID").unwrap_or_default(),
        // Without the commit there is no workflow anchor to record.
        workflow_commit: env("GITHUB_SHA")?,
        workflow_ref: env("GITHUB_WORKFLOW_REF").unwrap_or_default(),
        run_uri: format!("{}/{repository}/actions/runs/{run_id}/attempts/{run_attempt}", redact_url(&server)),
        run_attempt,
        runner_environment: env("RUNNER_ENVIRONMENT").unwrap_or_else(|| "unknown".to_owned()),
        repository,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifests describe this machine as `/proc` and `uname` do.
    #[test]
    fn hardware_and_os_match_the_machine() {
        let h = hardware();
        assert_eq!(h.arch, std::env::consts::ARCH);
        assert!(h.logical_cores >= 1 && h.memory_bytes > 64 << 20, "{h:?}");
        assert_ne!(h.cpu_model, "unknown", "{h:?}");
        let o = os();
        let uname = |flag: &str| {
            String::from_utf8(std::process::Command::new("uname").arg(flag).output().unwrap().stdout).unwrap()
        };
        assert_eq!(o.kernel, format!("{} {}", uname("-s").trim(), uname("-r").trim()), "{o:?}");
        if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
            let kib: u64 = meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .unwrap()
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .unwrap();
            assert_eq!(h.memory_bytes, kib * 1024, "{h:?}");
        }
        if let Some(pretty) = pretty_name() {
            assert_eq!(o.distribution, pretty);
        }
    }

    #[test]
    fn url_redaction() {
        for (input, want) in [
            ("https://user:ghp_secret@github.com/o/r.git", "https://github.com/o/r.git"),
            ("https://x-access-token:abc@github.com/o/r", "https://github.com/o/r"),
            ("https://github.com/o/r?token=abc", "https://github.com/o/r"),
            ("https://github.com/o/r", "https://github.com/o/r"),
            ("ssh://git@host:22/o/r", "ssh://host:22/o/r"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ] {
            assert_eq!(redact_url(input), want);
        }
    }

    /// One source of flags: (config file in the workspace, config file in
    /// `$CARGO_HOME`, environment, expected flags).
    type FlagCase<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

    /// Every source cargo reads flags from is a row.
    #[test]
    fn build_flags_are_resolved_as_cargo_resolves_them() {
        let host = "x86_64-unknown-linux-gnu";
        let cases: &[FlagCase<'_>] = &[
            ("", "", &[], &[]),
            ("", "", &[("RUSTFLAGS", "-C target-cpu=native")], &["-C", "target-cpu=native"]),
            ("", "", &[("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-cpu=native\u{1f}-Cx")], &["-Ctarget-cpu=native", "-Cx"]),
            (
                "",
                "",
                &[("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS", "-Ctarget-cpu=native")],
                &["-Ctarget-cpu=native"],
            ),
            ("", "", &[("CARGO_BUILD_RUSTFLAGS", "-Ctarget-feature=+avx2")], &["-Ctarget-feature=+avx2"]),
            ("[build]\nrustflags = \"-C target-cpu=native\"\n", "", &[], &["-C", "target-cpu=native"]),
            ("", "[build]\nrustflags = [\"-Ctarget-cpu=native\"]\n", &[], &["-Ctarget-cpu=native"]),
            (
                "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-Ctarget-feature=+avx2\"]\n",
                "",
                &[],
                &["-Ctarget-feature=+avx2"],
            ),
            (
                "[target.'cfg(target_arch = \"x86_64\")']\nrustflags = [\"-Ctarget-cpu=native\"]\n",
                "",
                &[],
                &["-Ctarget-cpu=native"],
            ),
            ("[target.'cfg(target_arch = \"aarch64\")']\nrustflags = [\"-Ctarget-cpu=native\"]\n", "", &[], &[]),
            // Precedence: the environment's RUSTFLAGS over every file; a
            // target table over `build.rustflags`.
            ("[build]\nrustflags = [\"-Ca\"]\n", "", &[("RUSTFLAGS", "-Cb")], &["-Cb"]),
            (
                "[build]\nrustflags = [\"-Ca\"]\n[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-Cb\"]\n",
                "",
                &[],
                &["-Cb"],
            ),
            ("", "", &[("CARGO_ENCODED_RUSTFLAGS", "-Ca"), ("RUSTFLAGS", "-Cb")], &["-Ca"]),
        ];
        for (ws_config, home_config, env, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let (ws, home) = (dir.path().join("ws"), dir.path().join("cargo-home"));
            for (d, text) in [(ws.join(".cargo"), ws_config), (home.clone(), home_config)] {
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("config.toml"), text).unwrap();
            }
            let env: Vec<(String, std::ffi::OsString)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.into())).collect();
            let flags = build_flags_in(&ws, &env, Some(home), Some(host))
                .unwrap_or_else(|e| panic!("{ws_config} {env:?}: {e}"));
            assert_eq!(flags.rustflags, *want, "{ws_config} | {home_config} | {env:?}");
            assert_eq!(flags.target, host);
        }
    }

    #[test]
    fn per_profile_rustflags_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let find = |env: &[(String, std::ffi::OsString)]| profile_rustflags(dir.path(), env, Some(home.clone()));
        assert_eq!(find(&[]), None);
        let env = [("CARGO_UNSTABLE_PROFILE_RUSTFLAGS".to_owned(), "true".into())];
        assert!(find(&env).is_some_and(|w| w.contains("environment")));
        for (file, text) in [
            (dir.path().join("Cargo.toml"), "cargo-features = [\"profile-rustflags\"]\n"),
            (dir.path().join(".cargo/config.toml"), "[unstable]\nprofile-rustflags = true\n"),
            (home.join("config.toml"), "[unstable]\nprofile-rustflags = true\n"),
        ] {
            std::fs::write(&file, text).unwrap();
            assert!(find(&[]).is_some_and(|w| w.contains(&file.display().to_string())), "{}", file.display());
            std::fs::remove_file(&file).unwrap();
        }
    }

    #[test]
    fn rustc_wrappers_are_found() {
        let dir = tempfile::tempdir().unwrap();
        for (config, env, want) in [
            ("", vec![("RUSTC_WRAPPER", "/usr/bin/sccache")], "rustc-wrapper `/usr/bin/sccache`"),
            ("[build]\nrustc-workspace-wrapper = \"/opt/w\"\n", vec![], "rustc-workspace-wrapper `/opt/w`"),
        ] {
            std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
            std::fs::write(dir.path().join(".cargo/config.toml"), config).unwrap();
            let env: Vec<(String, std::ffi::OsString)> =
                env.into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
            let flags =
                build_flags_in(dir.path(), &env, Some(dir.path().join("no-home")), Some("x86_64-unknown-linux-gnu"))
                    .unwrap();
            assert_eq!(flags.unseen, [want]);
        }
    }

    #[test]
    fn home_redaction() {
        assert_eq!(redact_home("-L/home/alice/lib", Some("/home/alice")), "-L~/lib");
        assert_eq!(redact_home("/x", Some("/")), "/x");
        assert_eq!(redact_home("/home/alice/x /home/al/y", Some("/home/al")), "/home/alice/x ~/y");
        assert_eq!(redact_home("/x", None), "/x");
    }

    #[test]
    fn manifests_never_carry_the_home_directory_or_unlisted_env() {
        let h = home().unwrap_or_default();
        let all = serde_json::json!([
            hardware(),
            os(),
            toolchain(&BuildFlags::default(), &[], "release", &[]),
            git(Path::new("."))
        ])
        .to_string();
        if h.len() > 1 {
            assert!(!all.contains(&h), "home directory leaked: {all}");
        }
        // A secret in an unlisted variable never appears.
        assert!(!all.contains("PATH="));
    }
}
