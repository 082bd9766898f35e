//! Manifest collection: hardware, OS, toolchain, git and CI context.
//!
//! Owns what the runner records about the machine and the source tree, and
//! the redaction that keeps secrets out of it: credentials inside URLs are
//! removed, environment values are read only from an allowlist, and the home
//! directory is written `~`. Everything here is self-reported (class
//! *measured*); the verifier binds it by hash, it cannot check it.

use std::path::Path;
use std::process::Command;

use capsule::digest::{Digest, Tag, tagged};
use capsule::objects::{CiManifestV1, GitManifestV1, HardwareManifestV1, OsManifestV1, ToolchainManifestV1};

/// Environment variables a manifest may read. Nothing else is ever recorded.
pub const ENV_ALLOWLIST: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
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

/// The hardware manifest of this machine.
pub fn hardware() -> HardwareManifestV1 {
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
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<u64>().ok()))
        })
        .map_or(0, |kib| kib * 1024);
    let mut gpus = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/driver/nvidia/gpus") {
        for e in rd.flatten() {
            let info = std::fs::read_to_string(e.path().join("information")).unwrap_or_default();
            let model = info.lines().find_map(|l| l.strip_prefix("Model:")).map(str::trim).unwrap_or("NVIDIA GPU");
            gpus.push(model.to_owned());
        }
    }
    gpus.sort();
    HardwareManifestV1 {
        schema: Default::default(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu_model: field("model name").or_else(|| field("Model")).unwrap_or_else(|| "unknown".to_owned()),
        logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        cpu_flags,
        memory_bytes,
        gpus,
    }
}

/// The OS manifest of this machine.
pub fn os() -> OsManifestV1 {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_owned()).ok();
    let kernel = match (read("/proc/sys/kernel/ostype"), read("/proc/sys/kernel/osrelease")) {
        (Some(t), Some(r)) => format!("{t} {r}"),
        _ => std::env::consts::OS.to_owned(),
    };
    let distribution = read("/etc/os-release")
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    let libc = run("ldd", &["--version"], None)
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    OsManifestV1 { schema: Default::default(), kernel, distribution, libc }
}

/// RUSTFLAGS as cargo would pass them for a build in `root` for `target`,
/// taking the first source that is set, in cargo's order:
/// `CARGO_ENCODED_RUSTFLAGS`, `RUSTFLAGS`, `target.<triple>.rustflags`,
/// and every `target.'cfg(..)'.rustflags` whose expression holds for
/// `target` (joined, as cargo joins them), then `build.rustflags`, from the
/// `.cargo/config.toml` files cargo reads (`root` and its ancestors, then
/// `$CARGO_HOME`). `cfg` expressions are evaluated as cargo does: against
/// the target's built-in description and `rustc --print cfg` (`cfgs`);
/// `test`, `debug_assertions`, `proc_macro` and `feature` never match.
pub fn rustflags(root: &Path, target: &str, cfgs: &[String]) -> Vec<String> {
    if let Some(enc) = env("CARGO_ENCODED_RUSTFLAGS") {
        return enc.split('\u{1f}').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    }
    if let Some(flags) = env("RUSTFLAGS") {
        return flags.split_whitespace().map(str::to_owned).collect();
    }
    let configs = cargo_configs(root);
    let collect = |get: &dyn Fn(&toml::Table) -> Option<toml::Value>| -> Vec<String> {
        // Arrays from several files join, the nearer file's entries last.
        let mut out = Vec::new();
        for table in configs.iter().rev() {
            match get(table) {
                Some(toml::Value::String(s)) => out.extend(s.split_whitespace().map(str::to_owned)),
                Some(toml::Value::Array(a)) => {
                    out.extend(a.iter().filter_map(|v| v.as_str().map(str::to_owned)));
                }
                _ => {}
            }
        }
        out
    };
    let by_target = collect(&|t| {
        let mut flags = Vec::new();
        for (key, table) in t.get("target")?.as_table()? {
            let applies = if key.starts_with("cfg(") { cfg_holds(key, target, cfgs) } else { key == target };
            match table.get("rustflags") {
                Some(toml::Value::String(s)) if applies => {
                    flags.extend(s.split_whitespace().map(|f| toml::Value::String(f.to_owned())));
                }
                Some(toml::Value::Array(a)) if applies => flags.extend(a.iter().cloned()),
                _ => {}
            }
        }
        Some(toml::Value::Array(flags))
    });
    if !by_target.is_empty() {
        return by_target;
    }
    collect(&|t| t.get("build")?.get("rustflags").cloned())
}

/// Whether the `cfg(..)` expression `expr` holds for `target`, whose
/// `rustc --print cfg` lines are `cfgs`. An expression that does not parse
/// is taken to hold: a flag is then recorded (and checked against the
/// track) rather than silently dropped.
fn cfg_holds(expr: &str, target: &str, cfgs: &[String]) -> bool {
    use cfg_expr::{Expression, Predicate};
    let Ok(expr) = Expression::parse(expr) else { return true };
    let builtin = cfg_expr::targets::get_builtin_target_by_triple(target);
    let has = |line: String| cfgs.contains(&line);
    expr.eval(|p| match p {
        Predicate::Target(tp) => builtin.is_some_and(|info| tp.matches(info)),
        Predicate::TargetFeature(f) => has(format!("target_feature=\"{f}\"")),
        Predicate::Flag(f) => has((*f).to_owned()),
        Predicate::KeyValue { key, val } => has(format!("{key}=\"{val}\"")),
        Predicate::Test | Predicate::DebugAssertions | Predicate::ProcMacro | Predicate::Feature(_) => false,
    })
}

/// The cargo configuration files that apply in `root`, nearest first.
fn cargo_configs(root: &Path) -> Vec<toml::Table> {
    let mut files = Vec::new();
    for dir in root.ancestors() {
        files.push(dir.join(".cargo"));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")));
    if let Some(h) = cargo_home
        && !files.contains(&h)
    {
        files.push(h);
    }
    files
        .iter()
        .filter_map(|d| ["config.toml", "config"].iter().find_map(|name| std::fs::read_to_string(d.join(name)).ok()))
        .filter_map(|text| text.parse::<toml::Table>().ok())
        .collect()
}

/// The toolchain manifest for a build with `features` and `profile`.
pub fn toolchain(root: &Path, features: &[String], profile: &str, accelerators: &[String]) -> ToolchainManifestV1 {
    let h = home();
    let rustc = run("rustc", &["-vV"], None).unwrap_or_else(|| "unknown".to_owned());
    let target = rustc.lines().find_map(|l| l.strip_prefix("host: ")).unwrap_or("unknown").to_owned();
    let cfgs: Vec<String> =
        run("rustc", &["--print", "cfg"], None).map(|s| s.lines().map(str::to_owned).collect()).unwrap_or_default();
    let rustflags = rustflags(root, &target, &cfgs);
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

    #[test]
    fn rustflags_from_cargo_config() {
        if std::env::var_os("RUSTFLAGS").is_some() || std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_some() {
            return; // The environment wins over configuration files.
        }
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join(".cargo")).unwrap();
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        std::fs::write(dir.path().join(".cargo/config.toml"), "[build]\nrustflags = [\"-Cdebuginfo=1\"]\n").unwrap();
        std::fs::write(ws.join(".cargo/config.toml"), "[build]\nrustflags = \"-C target-cpu=native\"\n").unwrap();
        assert_eq!(rustflags(&ws, "x86_64-unknown-linux-gnu", &[])[..3], ["-Cdebuginfo=1", "-C", "target-cpu=native"]);
        std::fs::write(
            ws.join(".cargo/config.toml"),
            "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-Ctarget-feature=+avx2\"]\n",
        )
        .unwrap();
        assert_eq!(rustflags(&ws, "x86_64-unknown-linux-gnu", &[])[0], "-Ctarget-feature=+avx2");
    }

    #[test]
    fn rustflags_from_cfg_tables() {
        if std::env::var_os("RUSTFLAGS").is_some() || std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_some() {
            return;
        }
        let cfgs: Vec<String> =
            ["unix", "target_arch=\"x86_64\"", "target_feature=\"sse2\""].iter().map(|s| (*s).to_owned()).collect();
        // (config, target, expected first flag or None)
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "[target.'cfg(target_arch = \"x86_64\")']\nrustflags = [\"-Ctarget-cpu=native\"]\n",
                "x86_64-unknown-linux-gnu",
                Some("-Ctarget-cpu=native"),
            ),
            (
                "[target.'cfg(target_arch = \"aarch64\")']\nrustflags = [\"-Ctarget-cpu=native\"]\n",
                "x86_64-unknown-linux-gnu",
                None,
            ),
            (
                "[target.'cfg(all(unix, not(windows)))']\nrustflags = \"-C target-cpu=native\"\n",
                "x86_64-unknown-linux-gnu",
                Some("-C"),
            ),
            (
                "[target.'cfg(target_feature = \"sse2\")']\nrustflags = [\"-Cx\"]\n",
                "x86_64-unknown-linux-gnu",
                Some("-Cx"),
            ),
            ("[target.'cfg(debug_assertions)']\nrustflags = [\"-Cx\"]\n", "x86_64-unknown-linux-gnu", None),
            // Not parseable: recorded rather than dropped.
            ("[target.'cfg(all(unix'] \nrustflags = [\"-Cx\"]\n", "x86_64-unknown-linux-gnu", Some("-Cx")),
        ];
        for (config, target, first) in cases {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
            std::fs::write(dir.path().join(".cargo/config.toml"), config).unwrap();
            let flags = rustflags(dir.path(), target, &cfgs);
            let ours = flags.first().filter(|f| f.as_str() != "-Cdebuginfo=1");
            match first {
                Some(f) => assert_eq!(flags.first().map(String::as_str), Some(*f), "{config}"),
                None => {
                    assert!(ours.is_none_or(|f| !f.starts_with("-Ctarget-cpu") && f != "-Cx"), "{config}: {flags:?}")
                }
            }
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
        let all =
            serde_json::json!([hardware(), os(), toolchain(Path::new("."), &[], "release", &[]), git(Path::new("."))])
                .to_string();
        if h.len() > 1 {
            assert!(!all.contains(&h), "home directory leaked: {all}");
        }
        // A secret in an unlisted variable never appears.
        assert!(!all.contains("PATH="));
    }
}
