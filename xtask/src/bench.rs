//! `cargo xtask bench`: the receipt standard's performance, as ratios against
//! baselines measured in the same run (never as timed assertions in tests).
//!
//! 1. Row commitment over 1 GiB of synthetic 64-byte rows, against
//!    single-thread SHA-256 over the same bytes times the thread count
//!    (goal: ratio >= 0.8).
//! 2. `verify` (profile `policy`) of a 256 MiB pack, against gunzip +
//!    SHA-256 of the same pack (goal: <= 1.3x).
//!
//! Each figure is the best of several runs. Build with `--release`:
//! `cargo run --release -p xtask -- bench`.

use std::io::Read;
use std::time::{Duration, Instant};

use capsule::rows::{RowCommitter, RowParams};
use capsule::sample::{SampleRun, build, sample_row};
use capsule::verify::{VerifyOptions, verify_pack_file};
use flate2::bufread::GzDecoder;
use sha2::{Digest as _, Sha256};

use crate::say;

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    #[expect(clippy::expect_used, reason = "runs >= 1")]
    (best, last.expect("at least one run"))
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

pub(crate) fn run(quick: bool) -> Result<(), String> {
    if cfg!(debug_assertions) {
        say("note: debug build; run `cargo run --release -p xtask -- bench` for real figures");
    }
    let threads = rayon::current_num_threads();
    let runs = if quick { 1 } else { 3 };
    let trace_bytes: usize = if quick { 64 << 20 } else { 1 << 30 };
    let pack_rows: u64 = if quick { 1 << 18 } else { 1 << 22 };

    // 1. Row commitment throughput.
    let mut rows = Vec::with_capacity(trace_bytes);
    let mut i = 0u64;
    while rows.len() < trace_bytes {
        rows.extend_from_slice(&sample_row(i));
        i += 1;
    }
    let (sha_t, _) = best(runs, || Sha256::digest(&rows));
    let params = RowParams::default();
    let (commit_t, root) = best(runs, || {
        let mut c = RowCommitter::new(params).map_err(|e| e.to_string())?;
        for piece in rows.chunks(64 << 20) {
            c.update(piece);
        }
        c.finish().map(|(c, _)| c.root).map_err(|e| e.to_string())
    });
    root?;
    let sha_rate = mib_s(trace_bytes as u64, sha_t);
    let commit_rate = mib_s(trace_bytes as u64, commit_t);
    let ratio = commit_rate / (sha_rate * threads as f64);
    say(&format!(
        "row commitment: {} MiB of 64-byte rows (chunk_len {}, arity {})",
        trace_bytes >> 20,
        params.chunk_len,
        params.arity
    ));
    say(&format!("  sha2 single thread      {sha_rate:9.1} MiB/s"));
    say(&format!("  commit, {threads} threads       {commit_rate:9.1} MiB/s"));
    say(&format!(
        "  ratio commit / (sha2 x {threads})  {ratio:.3}  (goal >= 0.8) {}",
        if ratio >= 0.8 { "MET" } else { "NOT MET" }
    ));
    drop(rows);

    // 2. Verify a large pack.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let pack = dir.path().join("big.tgz");
    let run = SampleRun { rows: pack_rows, ..SampleRun::default() };
    build(&run).and_then(|mut s| s.write_file(&pack)).map_err(|e| e.to_string())?;
    let size = std::fs::metadata(&pack).map_err(|e| e.to_string())?.len();
    let (base_t, _) = best(runs, || -> Result<(), String> {
        let f = std::fs::File::open(&pack).map_err(|e| e.to_string())?;
        let mut gz = GzDecoder::new(std::io::BufReader::with_capacity(1 << 20, f));
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = gz.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let _ = h.finalize();
        Ok(())
    });
    let (verify_t, accepted) = best(runs, || verify_pack_file(&pack, &VerifyOptions::default()).0.accepted());
    if !accepted {
        return Err("the benchmark pack did not verify".to_owned());
    }
    let ratio = verify_t.as_secs_f64() / base_t.as_secs_f64();
    say(&format!(
        "verify: {:.1} MiB pack ({} rows of 64 bytes, rows in the pack)",
        size as f64 / (1 << 20) as f64,
        pack_rows
    ));
    say(&format!("  gunzip + sha256         {:9.3} s", base_t.as_secs_f64()));
    say(&format!("  verify --profile policy {:9.3} s", verify_t.as_secs_f64()));
    say(&format!(
        "  ratio verify / baseline {ratio:.3}  (goal <= 1.3) {}",
        if ratio <= 1.3 { "MET" } else { "NOT MET" }
    ));
    Ok(())
}
