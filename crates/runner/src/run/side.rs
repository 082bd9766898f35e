//! One side of a run: its configuration loaded, manifests collected, the
//! track's and policy's refusals checked, the workload prepared and the
//! capsule builder opened, before anything is measured.

use std::path::{Path, PathBuf};

use capsule::builder::{CapsuleBuilder, EventObserver, system_clock};
use capsule::digest::Digest;
use capsule::objects::{AnchorsV1, ManifestKind};
use capsule::standard::PinnedPolicy;
use capsule::verify::track_violations;
use serde_json::json;

use crate::config;
use crate::manifest;

use super::prepare::{Prepared, input_hash, preflight_measurements, prepare, produces, profile_of};
use super::{BenchError, BenchOptions, Observer, Progress};

/// 32 bytes of the operating system's randomness, as 64 lowercase hex
/// digits: the run's nonce, locked into its statement.
pub(super) fn run_nonce() -> Result<String, BenchError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| BenchError::Randomness(e.to_string()))?;
    Ok(Digest(b).to_hex())
}

/// One side of a run: its configuration, prepared workload and open builder.
pub(super) struct Side {
    pub(super) measure_instructions: bool,
    pub(super) ws: config::WorkspaceConfig,
    pub(super) id: String,
    pub(super) policy: PinnedPolicy,
    pub(super) track: String,
    pub(super) procedure: capsule::objects::MeasurementProcedureV1,
    pub(super) prepared: Prepared,
    pub(super) b: CapsuleBuilder,
    pub(super) out: PathBuf,
    /// The bench target built inside the workload's image (paths as the
    /// container names them).
    pub(super) bench_bin: Option<crate::harness::BenchBinary>,
    /// The running container every repetition runs in, when the workload
    /// sets `container`, and the directory of its writable mount (removed
    /// after the container).
    pub(super) container: Option<(crate::container::Session, Option<tempfile::TempDir>)>,
}

/// Prepares the workload of the loaded configuration `ws`, collects
/// manifests, refuses what the track or policy forbids, and opens the
/// builder.
pub(super) fn start_side(
    opts: &BenchOptions,
    mut ws: config::WorkspaceConfig,
    paired: bool,
    run_id: &str,
    events: Option<EventObserver>,
    observer: &mut dyn Observer,
) -> Result<Side, BenchError> {
    let workload = ws.select(opts.workload.as_deref())?;
    writable_destination(&opts.out)?;
    let policy: PinnedPolicy = ws.policy_for(&workload)?;
    let track =
        opts.track.clone().or_else(|| ws.table.default_track.clone()).unwrap_or_else(|| "baseline_no_accel".to_owned());
    let Some(rules) = policy.policy.tracks.get(&track) else {
        return Err(BenchError::UnknownTrack {
            track,
            policy: policy.policy.id.clone(),
            known: policy.policy.tracks.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    };
    let id = workload.id().to_owned();
    let mut procedure = policy.policy.measurement.clone();
    // A paired run takes the policy's paired repetitions unless told
    // otherwise (never fewer than the measurement minimum).
    let paired_default = policy.policy.comparison.paired_repetitions.filter(|_| paired);
    if let Some(n) = opts.repetitions.or(paired_default.map(|n| n.max(procedure.min_repetitions))) {
        if n < procedure.min_repetitions {
            return Err(BenchError::TooFewRepetitions {
                requested: n,
                policy: policy.policy.id.clone(),
                minimum: procedure.min_repetitions,
            });
        }
        procedure.min_repetitions = n;
    }
    // A worst-case statistic the policy requires needs enough samples; the
    // runner knows its own count (a harness's is the harness's).
    let runner_counted = matches!(
        workload,
        config::WorkloadConfig::Builtin { .. }
            | config::WorkloadConfig::Command { .. }
            | config::WorkloadConfig::Adapter { .. }
    );
    let mut worst = procedure.worst_case.iter().filter_map(|w| capsule::objects::WorstCase::parse(w));
    if let Some(w) = worst.find(|w| runner_counted && u64::from(procedure.min_repetitions) < w.min_samples()) {
        return Err(BenchError::PolicyRequires {
            policy: policy.policy.id.clone(),
            anchor: format!("worst-case statistic {}", w.name()),
            why: format!(
                "it needs at least {} measured repetitions and this run takes {}; raise `--repetitions` or the policy's `min_repetitions`",
                w.min_samples(),
                procedure.min_repetitions
            ),
        });
    }
    observer.progress(Progress::Plan {
        workload: &id,
        embedded_default: ws.workloads.is_empty() && id == config::DEFAULT_WORKLOAD,
        track: &track,
        policy: &policy.policy.id,
        warmups: procedure.warmups,
        repetitions: procedure.min_repetitions,
        harness: match workload {
            config::WorkloadConfig::Criterion { .. } if !paired => Some("criterion"),
            config::WorkloadConfig::Hyperfine { .. } if !paired => Some("hyperfine"),
            _ => None,
        },
    });

    observer.progress(Progress::Phase("collecting manifests"));
    // The track's rules are checked before anything is built or run.
    let (features, accelerators) = ws.build_settings(&workload);
    let flags = manifest::build_flags(&ws.root)
        .map_err(|why| BenchError::CargoConfig { root: ws.root.display().to_string(), why })?;
    let mut toolchain = manifest::toolchain(&flags, &features, profile_of(&workload), &accelerators);
    if let Some(setting) = track_violations(&track, rules, &toolchain).into_iter().next() {
        return Err(BenchError::TrackViolation { track, setting });
    }
    // A wrapper between cargo and rustc, or per-profile rustflags, can pass
    // flags the run never sees; a track that forbids flags cannot be
    // claimed through them.
    if !rules.forbidden_rustflags.is_empty()
        && let Some(w) = flags.unseen.first()
    {
        return Err(BenchError::TrackViolation {
            track,
            setting: format!("{w} could pass rustc flags this run cannot record; remove it"),
        });
    }
    // Every cargo the run starts (its own builds, and any a workload's
    // command runs) gets exactly the recorded flags.
    ws.rustflags = flags.rustflags.clone();
    preflight_measurements(&id, &policy, produces(&workload), opts)?;
    let image = workload.container().map(|(image, _)| image);
    if image.is_some() && opts.measure_instructions {
        return Err(BenchError::InContainer { workload: id, what: "`--measure instructions`".to_owned() });
    }
    let limits = container_limits(&workload, &policy)?;
    let input = input_hash(&ws.root, workload.inputs())?;
    let git = manifest::git(&ws.root);
    let ci = manifest::ci();
    // Refuse, before running anything, a run whose pack the policy would
    // reject for an anchor this machine cannot provide.
    for a in &policy.policy.required_anchors {
        use capsule::objects::AnchorName as A;
        let missing = match a {
            A::WorkloadCommit => git
                .commit
                .is_none()
                .then(|| git.note.clone().unwrap_or_else(|| "the workspace has no git commit".to_owned())),
            A::WorkflowCommit => ci
                .as_ref()
                .is_none_or(|c| c.workflow_commit.is_empty())
                .then(|| "not running in GitHub Actions (or GITHUB_SHA is empty)".to_owned()),
            A::ContainerImageDigest => image.is_none().then(|| {
                "the workload sets no `container`; pin an image by digest (kinds `command`, `hyperfine`, `criterion` \
                 and `adapter`, docs/config.md §5.7)"
                    .to_owned()
            }),
            A::ImportedSourceHash => Some(
                "it is the import policy: `bench` measures; use `cargo capsule import` for a harness's output"
                    .to_owned(),
            ),
            A::HardwareManifestHash | A::OsFingerprintHash | A::ToolchainHash | A::WorkloadInputHash => None,
        };
        if let Some(why) = missing {
            return Err(BenchError::PolicyRequires {
                policy: policy.policy.id.clone(),
                anchor: a.as_str().to_owned(),
                why,
            });
        }
    }

    // The container starts after every refusal above, and before
    // anything is run (an adapter's first execution is inside it too).
    let started = match (workload.container(), limits) {
        (Some((image, _)), Some(l)) => {
            let build = match &workload {
                config::WorkloadConfig::Command { bin: Some(bin), package, features, .. } => {
                    Some(InImage::Bin { bin, package: package.as_deref(), features })
                }
                config::WorkloadConfig::Criterion { bench, package, features, .. } => {
                    Some(InImage::Bench { bench, package: package.as_deref(), features })
                }
                _ => None,
            };
            // An adapter and criterion write their output; nothing else
            // gets a writable mount.
            let output =
                matches!(workload, config::WorkloadConfig::Adapter { .. } | config::WorkloadConfig::Criterion { .. });
            let wanted = InContainer { image, limits: l, build, output };
            let s = start_container(opts, &ws, &id, wanted, observer)
                .map_err(|source| BenchError::Container { workload: id.clone(), source })?;
            // What built the binary is the image's toolchain, not this
            // machine's.
            if let Some((rustc, cargo)) = &s.toolchain {
                toolchain.target =
                    rustc.lines().find_map(|l| l.strip_prefix("host: ")).unwrap_or(&toolchain.target).to_owned();
                toolchain.rustc = rustc.clone();
                toolchain.cargo = cargo.clone();
            }
            Some(s)
        }
        _ => None,
    };
    let exec = started.as_ref().and_then(|s| s.session.exec_target());
    let prepared = prepare(&workload, opts, &ws, &policy, exec.as_ref())?;
    let mut b = CapsuleBuilder::new(
        run_id,
        json!({"runner_name": "cargo-capsule", "runner_version": env!("CARGO_PKG_VERSION")}),
        prepared.spec.clone(),
        policy.clone(),
        system_clock(),
    )?;
    if let Some(e) = events {
        b.observe(e)?;
    }
    if let Some(s) = &started {
        b.manifest(ManifestKind::Container, &s.manifest)?;
    }
    b.manifest(ManifestKind::Hardware, &manifest::hardware())?;
    b.manifest(ManifestKind::Os, &manifest::os())?;
    b.manifest(ManifestKind::Toolchain, &toolchain)?;
    b.manifest(ManifestKind::Git, &git)?;
    if let Some(ci) = &ci {
        b.manifest(ManifestKind::Ci, ci)?;
    }
    b.anchors(AnchorsV1 {
        workload_commit: git.commit.clone(),
        workflow_commit: ci.as_ref().map(|c| c.workflow_commit.clone()).filter(|c| !c.is_empty()),
        run_uri: ci.as_ref().map(|c| c.run_uri.clone()),
        run_attempt: ci.as_ref().map(|c| c.run_attempt),
        run_nonce: Some(run_nonce()?),
        container_image_digest: started.as_ref().map(|s| s.manifest.image_digest),
        workload_input_hash: Some(input),
        ..AnchorsV1::default()
    });
    let total = procedure.warmups + procedure.min_repetitions;
    b.event(
        "phase",
        json!({"phase_id": "measure", "phase_label": "Running the workload", "progress": {"done": 0, "total": total, "unit": "repetitions"}}),
    )?;
    Ok(Side {
        measure_instructions: opts.measure_instructions,
        ws,
        id,
        policy,
        track,
        procedure,
        prepared,
        b,
        out: opts.out.clone(),
        bench_bin: started.as_ref().and_then(|s| s.bench.clone()),
        container: started.map(|s| (s.session, s.output)),
    })
}

/// The limits the workload's container gets: the policy's when it fixes
/// them (a workload that asks for others is refused), else the workload's
/// (with their defaults). A policy that fixes them refuses a workload that
/// runs in no container.
fn container_limits(
    workload: &config::WorkloadConfig,
    policy: &PinnedPolicy,
) -> Result<Option<capsule::objects::ContainerLimitsV1>, BenchError> {
    let refuse = |why: String| BenchError::PolicyRequires {
        policy: policy.policy.id.clone(),
        anchor: "container limits".to_owned(),
        why,
    };
    let fixed = policy.policy.container_limits.as_ref();
    let Some((image, l)) = workload.container() else {
        return match fixed {
            Some(_) => Err(refuse(
                "the policy fixes the limits of a container and the workload sets no `container`".to_owned(),
            )),
            None => Ok(None),
        };
    };
    let own = crate::container::limits(l.cpus, l.memory_bytes, l.pids).map_err(|why| BenchError::Container {
        workload: workload.id().to_owned(),
        source: crate::container::ContainerError::Mismatch { image: image.to_owned(), why },
    })?;
    match fixed {
        None => Ok(Some(own)),
        Some(f) if *l == config::ContainerLimitsConfig::default() || own == *f => Ok(Some(f.clone())),
        Some(f) => Err(refuse(format!(
            "the policy fixes {f:?} and the workload's `container_limits` ask for {own:?}; remove them"
        ))),
    }
}

/// What the workload's configuration asks of its container.
struct InContainer<'a> {
    image: &'a str,
    limits: capsule::objects::ContainerLimitsV1,
    build: Option<InImage<'a>>,
    /// Whether the harness writes its output to a writable mount.
    output: bool,
}

/// What to build inside the pinned image.
enum InImage<'a> {
    /// A `command` workload's `bin`.
    Bin { bin: &'a str, package: Option<&'a str>, features: &'a [String] },
    /// A `criterion` workload's bench target.
    Bench { bench: &'a str, package: Option<&'a str>, features: &'a [String] },
}

/// What [`start_container`] gives.
struct Started {
    /// The running container.
    session: crate::container::Session,
    /// Its manifest, checked.
    manifest: capsule::objects::ContainerManifestV1,
    /// The image's `rustc -vV` and `cargo -V`, when it built something.
    toolchain: Option<(String, String)>,
    /// The bench target it built (paths inside).
    bench: Option<crate::harness::BenchBinary>,
    /// The writable mount's directory.
    output: Option<tempfile::TempDir>,
}

/// Starts the workload's container: the engine found, the pinned image
/// present and checked, the binary built inside it (when the workload has
/// a `bin`), the shim built, the container started with the shim waiting;
/// its manifest read from the engine's records and from inside, checked
/// against the pin and the requested limits.
fn start_container(
    opts: &BenchOptions,
    ws: &config::WorkspaceConfig,
    id: &str,
    wanted: InContainer<'_>,
    observer: &mut dyn Observer,
) -> Result<Started, crate::container::ContainerError> {
    let InContainer { image, limits: requested, build, output } = wanted;
    use crate::container::{self as c, ContainerError};
    observer.progress(Progress::Phase("starting the container"));
    let pinned = c::ImageRef::parse(image)?;
    let engine = c::Engine::detect(opts.engine)?;
    let facts = engine.ensure_image(&pinned)?;
    let mut mounts = Vec::new();
    let mut built = None;
    let mut toolchain = None;
    let mut bench = None;
    if let Some(b) = build {
        observer.progress(Progress::Phase("building inside the image"));
        // One target directory per image: what one image built is never
        // run in another.
        let target = ws.target_dir.join("capsule").join("container").join(&pinned.digest.to_hex()[..16]);
        let (mut args, name, package, features) = match b {
            InImage::Bin { bin, package, features } => {
                (["build", "--release", "--offline", "--bin", bin].map(str::to_owned).to_vec(), bin, package, features)
            }
            InImage::Bench { bench, package, features } => {
                let mut args = crate::harness::bench_build_args(bench, None, &[]);
                args.push("--offline".to_owned());
                (args, bench, package, features)
            }
        };
        if ws.root.join("Cargo.lock").is_file() {
            args.push("--locked".to_owned());
        }
        if let Some(p) = package {
            args.extend(["--package".to_owned(), p.to_owned()]);
        }
        if !features.is_empty() {
            args.extend(["--features".to_owned(), features.join(",")]);
        }
        if opts.quiet {
            args.push("--quiet".to_owned());
        }
        std::fs::create_dir_all(&target)
            .map_err(|source| ContainerError::Spawn { command: format!("mkdir {}", target.display()), source })?;
        let (command, stdout) = c::build_in_image(&engine, &pinned, &ws.root, &target, &args, &ws.rustflags, name)?;
        // The binary as the container names it, and as this machine does.
        let inside = match b {
            InImage::Bin { bin, .. } => PathBuf::from(format!("{}/release/{bin}", c::TARGET_MOUNT)),
            InImage::Bench { bench: name, .. } => {
                let found = crate::harness::bench_binary(&stdout, name).ok_or_else(|| ContainerError::Output {
                    command: command.clone(),
                    why: format!("cargo named no executable of bench target `{name}`"),
                })?;
                let exe = found.exe.clone();
                bench = Some(found);
                exe
            }
        };
        let host_binary =
            inside.strip_prefix(c::TARGET_MOUNT).map(|rel| target.join(rel)).map_err(|_| ContainerError::Output {
                command: command.clone(),
                why: format!("the binary `{}` is not under {}", inside.display(), c::TARGET_MOUNT),
            })?;
        let bytes = std::fs::read(&host_binary).map_err(|e| ContainerError::Output {
            command: command.clone(),
            why: format!("no binary at `{}`: {e}", host_binary.display()),
        })?;
        built = Some(capsule::objects::ContainerBuildV1 {
            command,
            binary: inside.display().to_string(),
            binary_digest: capsule::digest::plain(&bytes),
        });
        toolchain = Some(c::toolchain_in_image(&engine, &pinned)?);
        mounts.push((target, c::TARGET_MOUNT));
    }
    // The writable mount is `io` in a directory only this user can enter:
    // `io` itself is writable by every user, since the image may run as a
    // user of its own (`USER`), and what the container sees of it is the
    // mount alone.
    let output = if output {
        use std::os::unix::fs::PermissionsExt;
        let parent = ws.target_dir.join("capsule");
        let dir = std::fs::create_dir_all(&parent)
            .and_then(|()| tempfile::Builder::new().prefix("out-").tempdir_in(&parent))
            .and_then(|d| {
                let io = d.path().join("io");
                std::fs::create_dir(&io)?;
                std::fs::set_permissions(&io, std::fs::Permissions::from_mode(0o777))?;
                Ok(d)
            })
            .map_err(|source| ContainerError::Spawn { command: format!("mkdir in {}", parent.display()), source })?;
        Some(dir)
    } else {
        None
    };
    let (shim, shim_digest) = c::shim(&ws.target_dir.join("capsule").join("shim"))?;
    // What a native repetition gets of the runner's doing (the recorded
    // RUSTFLAGS, for a cargo the workload runs) it gets inside too.
    let env = vec![("CARGO_ENCODED_RUSTFLAGS".to_owned(), ws.rustflags.join("\u{1f}"))];
    let suffix = run_nonce().map(|n| n[..12].to_owned()).unwrap_or_else(|_| std::process::id().to_string());
    let spec = c::RunSpec {
        image: &pinned,
        limits: requested.clone(),
        workspace: &ws.root,
        shim: &shim,
        env,
        mounts,
        output: output.as_ref().map(|d| d.path().join("io")),
        name: format!(
            "capsule-{}-{suffix}",
            id.chars().filter(char::is_ascii_alphanumeric).take(24).collect::<String>()
        ),
    };
    let mut session = c::Session::start(&engine, &spec)?;
    let applied = session.probe()?;
    let running = session.inspect(&engine)?;
    let manifest =
        c::manifest(&engine, &pinned, &facts, &running, &requested, applied, shim_digest, session.start_ns, built)?;
    Ok(Started { session, manifest, toolchain, bench, output })
}

/// Fails unless a file can be created beside `out` (where the pack is
/// written before it is renamed into place), before anything is built or
/// measured.
pub(super) fn writable_destination(out: &Path) -> Result<(), BenchError> {
    let dir = capsule::pack::parent_dir(out);
    tempfile::Builder::new()
        .prefix(".capsule-write-check-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|source| BenchError::Output { path: out.display().to_string(), source })
}

impl Side {
    /// What a bench side (criterion or gungraun) runs: its bench target in
    /// its own tree and target directory, with the recorded flags (`None`
    /// for other kinds).
    pub(super) fn bench_target(&self) -> Option<crate::harness::BenchTarget<'_>> {
        let super::prepare::Exec::Bench { bench, package, args, features, .. } = &self.prepared.exec else {
            return None;
        };
        Some(crate::harness::BenchTarget {
            root: &self.ws.root,
            target_dir: &self.ws.target_dir,
            rustflags: &self.ws.rustflags,
            bench,
            package: package.as_deref(),
            features,
            args,
        })
    }
}
