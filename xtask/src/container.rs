//! `cargo xtask bench-container [--rounds N] [--engine docker|podman]`: a
//! repetition timed inside a container (by the runner's timing shim, one
//! container for all of them) against the same static binary timed
//! natively (`measure::run`), interleaved round by round in one run, with
//! the ratio of medians; the same for a process started beside the shim
//! with the engine's `exec` (how an adapter runs), measured inside by the
//! shim's `exec` mode, with the `exec` overhead no sample includes; and the
//! container start overhead beside them, which no sample includes either.
//!
//! Builds `fixtures/containers/workload.rs` statically with `rustc`, puts
//! it in a `FROM scratch` image with the engine (`build --timestamp 0`)
//! and runs it by the digest the engine's storage gives it.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use capsule_runner::container::{self, Engine, EngineKind, ImageRef, RunSpec, Session};

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    if v.is_empty() { 0 } else { v[v.len() / 2] }
}

fn ms(ns: u64) -> String {
    format!("{}.{:03} ms", ns / 1_000_000, (ns % 1_000_000) / 1_000)
}

fn run(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let o = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(o.stdout)
}

/// Runs the benchmark and prints its table.
pub(crate) fn bench_container(root: &Path, rounds: usize, engine: Option<EngineKind>) -> Result<(), String> {
    let engine = Engine::detect(engine).map_err(|e| e.to_string())?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).map_err(|e| e.to_string())?;
    let bin = ctx.join("workload");
    run(Command::new("rustc")
        .args(["--edition", "2024", "-O", "-C", "target-feature=+crt-static", "-o"])
        .arg(&bin)
        .arg(root.join("fixtures/containers/workload.rs"))
        .env_remove("RUSTFLAGS"))?;
    std::fs::write(ctx.join("Containerfile"), "FROM scratch\nCOPY workload /workload\n").map_err(|e| e.to_string())?;
    let tag = format!("localhost/capsule-bench-container:{}", std::process::id());
    let e = engine.kind.as_str();
    run(Command::new(e).args(["build", "--quiet", "--network", "none", "-t", &tag]).arg(&ctx))?;
    let digest = run(Command::new(e).args(["image", "inspect", "--format", "{{.Digest}}", &tag]))?;
    let digest = String::from_utf8_lossy(&digest).trim().to_owned();
    let image = ImageRef::parse(&format!("localhost/capsule-bench-container@{digest}")).map_err(|e| e.to_string())?;
    std::fs::write(tmp.path().join("input.txt"), "alpha\nbeta\ngamma\n".repeat(4096)).map_err(|e| e.to_string())?;
    let (shim, _) = container::shim(&tmp.path().join("shim")).map_err(|e| e.to_string())?;
    let out = tempfile::tempdir().map_err(|e| e.to_string())?;
    let limits = container::limits(None, None, None)?;
    let spec = |name: String| RunSpec {
        image: &image,
        limits: limits.clone(),
        workspace: tmp.path(),
        shim: &shim,
        env: Vec::new(),
        mounts: Vec::new(),
        output: Some(out.path().to_path_buf()),
        name,
    };

    let mut session =
        Session::start(&engine, &spec(format!("capsule-bench-{}", std::process::id()))).map_err(|e| e.to_string())?;
    crate::say(&format!(
        "the same static binary timed natively and inside one container ({} {}, {}), {rounds} interleaved rounds each:\n",
        e, engine.info.version, engine.info.runtime
    ));
    crate::say(&format!("{:<22} {:>14} {:>14} {:>10}", "workload", "native median", "in container", "ratio"));
    let cases: [(&str, Vec<&str>); 3] = [
        ("read 64 KiB input", vec!["input.txt"]),
        ("spin 1M rounds", vec!["--spin", "1000000"]),
        ("spin 10M rounds", vec!["--spin", "10000000"]),
    ];
    for (name, args) in cases {
        let (mut native, mut inside) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
        let argv: Vec<OsString> =
            std::iter::once(OsString::from("/workload")).chain(args.iter().map(OsString::from)).collect();
        for round in 0..rounds + 2 {
            let mut cmd = Command::new(&bin);
            cmd.args(&args).current_dir(tmp.path());
            // Alternate which goes first, so neither always follows the other.
            let (n, c) = if round % 2 == 0 {
                let n = capsule_runner::measure::run(&mut cmd).map_err(|e| e.to_string())?;
                (n, session.run(container::WORKSPACE_MOUNT, &argv).map_err(|e| e.to_string())?)
            } else {
                let c = session.run(container::WORKSPACE_MOUNT, &argv).map_err(|e| e.to_string())?;
                (capsule_runner::measure::run(&mut cmd).map_err(|e| e.to_string())?, c)
            };
            if !(n.success() && c.success()) || n.stdout != c.stdout {
                return Err(format!("`{name}` printed different results natively and inside"));
            }
            // Two warmup rounds.
            if round >= 2 {
                native.push(n.wall_ns);
                inside.push(c.wall_ns);
            }
        }
        let (n, c) = (median(&mut native), median(&mut inside));
        crate::say(&format!("{name:<22} {:>14} {:>14} {:>10.4}", ms(n), ms(c), c as f64 / n.max(1) as f64));
    }
    // An adapter's path: each run a process started with the engine's
    // `exec`, measured inside by the shim's `exec` mode.
    let exec_rounds = rounds.min(100);
    let target = session.exec_target().ok_or("the container has no writable mount")?;
    for (name, spin) in [("spin 1M, via exec", "1000000"), ("spin 10M, via exec", "10000000")] {
        let argv: Vec<OsString> = ["/workload", "--spin", spin].map(OsString::from).to_vec();
        let (mut native, mut inside, mut client) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..exec_rounds + 2 {
            let mut cmd = Command::new(&bin);
            cmd.args(["--spin", spin]).current_dir(tmp.path());
            let mut exec = target.command(&argv, "bench.usage");
            // Alternate which goes first, so neither always follows the other.
            let (n, c) = if round % 2 == 0 {
                let n = capsule_runner::measure::run(&mut cmd).map_err(|e| e.to_string())?;
                (n, capsule_runner::measure::run(&mut exec).map_err(|e| e.to_string())?)
            } else {
                let c = capsule_runner::measure::run(&mut exec).map_err(|e| e.to_string())?;
                (capsule_runner::measure::run(&mut cmd).map_err(|e| e.to_string())?, c)
            };
            let u = container::read_usage(&target.usage_path("bench.usage")).map_err(|e| e.to_string())?;
            if !(n.success() && c.success() && u.success()) || n.stdout != c.stdout {
                return Err(format!("`{name}` printed different results natively and through `exec`"));
            }
            if round >= 2 {
                native.push(n.wall_ns);
                inside.push(u.wall_ns);
                client.push(c.wall_ns.saturating_sub(u.wall_ns));
            }
        }
        let (n, c) = (median(&mut native), median(&mut inside));
        crate::say(&format!(
            "{name:<22} {:>14} {:>14} {:>10.4}   ({exec_rounds} rounds; the engine's `exec`, in no sample: median {})",
            ms(n),
            ms(c),
            c as f64 / n.max(1) as f64,
            ms(median(&mut client))
        ));
    }
    drop(session);
    let mut starts = Vec::new();
    for i in 0..10 {
        let s = Session::start(&engine, &spec(format!("capsule-bench-{}-{i}", std::process::id())))
            .map_err(|e| e.to_string())?;
        starts.push(s.start_ns);
    }
    let (min, max) = (starts.iter().min().copied().unwrap_or(0), starts.iter().max().copied().unwrap_or(0));
    crate::say(&format!(
        "\ncontainer start (engine started to shim ready, recorded apart, in no sample): median {} over 10 starts (min {}, max {})",
        ms(median(&mut starts)),
        ms(min),
        ms(max)
    ));
    let _ = Command::new(e).args(["rmi", "--force", &tag]).output();
    Ok(())
}
