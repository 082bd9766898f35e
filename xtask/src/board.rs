//! `cargo xtask bench-board [--packs N]`: `board build` over N small packs
//! (default 10,000: sample runs, each its own capsule, as CI pushes to
//! `main`) on this machine, against verifying the same packs alone in the
//! same run (in parallel, nothing written), and `board add` of one more
//! pack into the board built, first verified, then found in the cache.

use std::path::Path;
use std::time::Instant;

use capsule::objects::CiManifestV1;
use capsule::sample::{SampleRun, build};
use rayon::prelude::*;

fn pack(i: usize) -> Result<Vec<u8>, String> {
    let run = SampleRun {
        ci: Some(CiManifestV1 {
            schema: Default::default(),
            provider: "github-actions".to_owned(),
            repository: "octo/bench".to_owned(),
            repository_id: "1".to_owned(),
            workflow_commit: format!("{i:040x}"),
            workflow_ref: "octo/bench/.github/workflows/bench.yml@refs/heads/main".to_owned(),
            run_uri: format!("https://github.com/octo/bench/actions/runs/{i}/attempts/1"),
            run_attempt: 1,
            runner_environment: "github-hosted".to_owned(),
        }),
        // A small pack, as a command workload's is (about 6 KB).
        rows: 64,
        ..SampleRun::default()
    };
    let mut sealed = build(&run).map_err(|e| e.to_string())?;
    sealed.write_to(Vec::new()).map_err(|e| e.to_string())
}

fn verifier() -> capsule_board::Verifier {
    let options = capsule::verify::VerifyOptions {
        backends: capsule_runner::default_backends(),
        ..capsule::verify::VerifyOptions::default()
    };
    let meta = capsule_board::model::VerifierV1 {
        tool: "cargo-capsule bench".to_owned(),
        profile: "policy".to_owned(),
        pinned_policies: Vec::new(),
        acl: None,
        registry_root: None,
        trusted_root: None,
        backends: Vec::new(),
        options_hash: capsule::digest::Digest::ZERO,
    }
    .sealed();
    capsule_board::Verifier { options, meta, branch: "main".to_owned() }
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// Runs the benchmark and prints its figures.
pub(crate) fn bench_board(n: usize) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().join("packs");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let t = Instant::now();
    (0..=n).into_par_iter().try_for_each(|i| {
        let name = if i == n { tmp.path().join("late.tgz") } else { dir.join(format!("p{i:05}.tgz")) };
        std::fs::write(name, pack(i)?).map_err(|e| e.to_string())
    })?;
    let size = std::fs::metadata(dir.join("p00000.tgz")).map_err(|e| e.to_string())?.len();
    crate::say(&format!(
        "{n} packs of {size} bytes written in {:.1} s; {} threads",
        secs(t),
        rayon::current_num_threads()
    ));
    let v = verifier();

    // Baseline: every pack verified, in parallel, nothing written.
    let paths: Vec<_> = (0..n).map(|i| dir.join(format!("p{i:05}.tgz"))).collect();
    let t = Instant::now();
    let accepted = paths.par_iter().filter(|p| capsule::verify::verify_pack_file(p, &v.options).0.accepted()).count();
    let verify_s = secs(t);
    if accepted != n {
        return Err(format!("{} of the {n} sample packs were rejected", n - accepted));
    }

    let site = tmp.path().join("site");
    let t = Instant::now();
    let s = capsule_board::build(std::slice::from_ref(&dir), &site, &v).map_err(|e| e.to_string())?;
    let build_s = secs(t);
    let late = tmp.path().join("late.tgz");
    let t = Instant::now();
    let added = capsule_board::add(&late, &site, &v).map_err(|e| e.to_string())?;
    let add_s = secs(t);
    let t = Instant::now();
    let again = capsule_board::add(&late, &site, &v).map_err(|e| e.to_string())?;
    let again_s = secs(t);
    let site_bytes = du(&site);
    let index_bytes = std::fs::metadata(site.join("board.json")).map(|m| m.len()).unwrap_or(0);
    let html_bytes = std::fs::metadata(site.join("index.html")).map(|m| m.len()).unwrap_or(0);

    crate::say(&format!("{:<44} {:>9} {:>12} {:>8}", "", "seconds", "packs/s", "ratio"));
    crate::say(&format!(
        "{:<44} {:>9.2} {:>12.0} {:>8}",
        "verify alone (baseline)",
        verify_s,
        n as f64 / verify_s,
        "1.00"
    ));
    crate::say(&format!(
        "{:<44} {:>9.2} {:>12.0} {:>8.2}",
        "board build (verify, site, cache)",
        build_s,
        n as f64 / build_s,
        build_s / verify_s
    ));
    crate::say(&format!(
        "{:<44} {:>9.3}   ({} verified, {} files written)",
        "board add of one more pack", add_s, added.verified, added.written
    ));
    crate::say(&format!(
        "{:<44} {:>9.3}   ({} from the cache)",
        "board add of the same pack again", again_s, again.cached
    ));
    crate::say(&format!(
        "site: {} entries, {:.1} MiB ({} bytes per pack, packs included); board.json {:.1} MiB, index.html {:.1} KiB",
        s.community + s.certified,
        site_bytes as f64 / (1u64 << 20) as f64,
        site_bytes / n.max(1) as u64,
        index_bytes as f64 / (1u64 << 20) as f64,
        html_bytes as f64 / 1024.0
    ));
    Ok(())
}

fn du(p: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![p.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => todo.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
