//! capsule-shim: times a workload's repetitions inside its container.
//!
//! The runner compiles this file with `rustc` alone (std only, statically
//! linked: `-C target-feature=+crt-static`), mounts the binary read-only at
//! `/.capsule/shim` and starts the container with it as the entrypoint, so
//! one container start serves every repetition and each repetition is a
//! fresh process timed inside, exactly as the runner times one natively
//! (`crates/runner/src/measure.rs`): monotonic clock from spawn to reap,
//! CPU times and peak RSS from `wait4`, its own process group ended after.
//!
//! Protocol (docs/spec/container.md §3), on stdin and stdout:
//!
//! - at start the shim writes `capsule-shim 1 <CLOCK_MONOTONIC ns>\n`;
//! - `run <len>\n` + `len` bytes: the working directory and the argv,
//!   NUL-separated; answered by `sample <wall_ns> <user_ns> <sys_ns>
//!   <peak_rss_bytes> <exit|-> <signal|-> <stdout_len> <stderr_len>\n` and
//!   the stdout bytes and the last 4 KiB of stderr, or by `error <len>\n`
//!   and a message when the process cannot start;
//! - `env <len>\n` + `len` bytes: `KEY=VALUE` entries, NUL-separated,
//!   set for every later `run`; answered by `ok\n`;
//! - `probe\n`: answered by `probe <len>\n` and `key=value` lines (the
//!   limits as seen from inside);
//! - end of input or `exit\n`: the shim exits 0.
//!
//! `capsule-shim exec <usage file> <program> [args…]` (started with the
//! engine's `exec` beside the waiting shim) runs a process that speaks on
//! its own standard streams, a Trace Adapter, measures it the same way (50 ms
//! after the engine started it, once the engine's `exec` has settled) and
//! writes `usage <wall_ns> <user_ns> <sys_ns> <peak_rss_bytes> <exit|->
//! <signal|->\n` to the usage file.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

unsafe extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut [i64; 18]) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn clock_gettime(clock: i32, ts: *mut [i64; 2]) -> i32;
}

const CLOCK_MONOTONIC: i32 = 1;
const WNOHANG: i32 = 1;
const SIGKILL: i32 = 9;
const EINTR: i32 = 4;
const STDERR_TAIL: usize = 4096;
/// How long `exec` waits before it starts the measured process.
const EXEC_SETTLE_MS: u64 = 50;

fn monotonic_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: `ts` is a valid timespec (two 64-bit fields on 64-bit Linux).
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    (ts[0] as u64).saturating_mul(1_000_000_000).saturating_add(ts[1] as u64)
}

/// Reaps whatever has exited: as PID 1 the shim inherits orphans.
fn reap_orphans() {
    let mut status = 0;
    // SAFETY: plain system call with a valid status pointer.
    while unsafe { waitpid(-1, &mut status, WNOHANG) } > 0 {}
}

/// What `wait4` says of a reaped process, and the time from its spawn.
struct Usage {
    wall_ns: u64,
    user_ns: u64,
    sys_ns: u64,
    peak_rss_bytes: u64,
    exit: Option<i32>,
    signal: Option<i32>,
}

impl Usage {
    /// The words the protocol gives a usage: `<wall_ns> <user_ns> <sys_ns>
    /// <peak_rss_bytes> <exit|-> <signal|->`.
    fn words(&self) -> String {
        let opt = |v: Option<i32>| v.map_or("-".to_owned(), |v| v.to_string());
        format!(
            "{} {} {} {} {} {}",
            self.wall_ns,
            self.user_ns,
            self.sys_ns,
            self.peak_rss_bytes,
            opt(self.exit),
            opt(self.signal)
        )
    }
}

/// Spawns `cmd` in its own process group, reaps it with `wait4`, and ends
/// whatever it left in its group; `while_running` runs between the spawn
/// and the wait (to start the readers of its pipes).
fn measured(
    cmd: &mut Command,
    program: &OsString,
    while_running: impl FnOnce(&mut std::process::Child),
) -> Result<Usage, String> {
    cmd.process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("failed to start `{}`: {e}", program.to_string_lossy()))?;
    while_running(&mut child);
    let pid = child.id() as i32;
    let mut status = 0;
    let mut ru = [0i64; 18];
    loop {
        // SAFETY: `status` and `ru` (a 64-bit Linux `struct rusage`) are
        // valid for writes; `pid` is our own unreaped child.
        let rc = unsafe { wait4(pid, &mut status, 0, &mut ru) };
        if rc >= 0 {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(EINTR) {
            return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
        }
    }
    let wall_ns = start.elapsed().as_nanos() as u64;
    std::mem::forget(child);
    // SAFETY: plain system call; a group that no longer exists is ESRCH.
    unsafe { kill(-pid, SIGKILL) };
    let tv = |s: i64, us: i64| (s as u64).saturating_mul(1_000_000_000).saturating_add(us as u64 * 1000);
    // WIFEXITED / WIFSIGNALED, spelled out (no libc crate here).
    let (exit, signal) = match status & 0x7f {
        0 => (Some((status >> 8) & 0xff), None),
        0x7f => (None, None),
        sig => (None, Some(sig)),
    };
    Ok(Usage {
        wall_ns,
        user_ns: tv(ru[0], ru[1]),
        sys_ns: tv(ru[2], ru[3]),
        peak_rss_bytes: (ru[4].max(0) as u64).saturating_mul(1024),
        exit,
        signal,
    })
}

struct Sample {
    usage: Usage,
    stdout: Vec<u8>,
    stderr_tail: Vec<u8>,
}

fn run(cwd: OsString, argv: Vec<OsString>) -> Result<Sample, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("empty command".to_owned());
    };
    reap_orphans();
    // The shim changes its own directory rather than the child's: with a
    // child directory std cannot use `posix_spawn` in a static binary, and
    // falls back to `fork`, which costs ~0.1 ms more per repetition than
    // the runner's own spawn natively.
    std::env::set_current_dir(&cwd).map_err(|e| format!("failed to enter `{}`: {e}", cwd.to_string_lossy()))?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut readers = None;
    let usage = measured(&mut cmd, program, |child| {
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let out_t = std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut v);
            }
            v
        });
        let err_t = std::thread::spawn(move || {
            let mut tail = Vec::new();
            let mut buf = [0u8; 8192];
            if let Some(e) = err.as_mut() {
                while let Ok(n) = e.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 2 * STDERR_TAIL {
                        tail.drain(..tail.len() - STDERR_TAIL);
                    }
                }
            }
            if tail.len() > STDERR_TAIL {
                tail.drain(..tail.len() - STDERR_TAIL);
            }
            tail
        });
        readers = Some((out_t, err_t));
    })?;
    let (stdout, stderr_tail) = match readers {
        Some((o, e)) => (o.join().unwrap_or_default(), e.join().unwrap_or_default()),
        None => (Vec::new(), Vec::new()),
    };
    reap_orphans();
    Ok(Sample { usage, stdout, stderr_tail })
}

/// `capsule-shim exec <usage file> <program> [args…]`, for a process that
/// speaks on its own standard streams (a Trace Adapter, started with the
/// engine's `exec`): runs it with the shim's streams, measures it as `run`
/// does, writes `usage <words>\n` to the usage file (through a temporary
/// name, so a reader sees all of it or nothing), and exits as it did.
fn exec(usage_file: OsString, argv: Vec<OsString>) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("capsule-shim exec: no program");
        return 2;
    };
    // The engine's `exec` goes on working for some milliseconds after it
    // has started the shim (its client, the runtime, the stream relay);
    // on a 2-core machine a process started at once shares the CPUs with
    // that work (measured: +7 % on a 1.4 ms process, +3 % on 6 ms). The
    // measured process starts once it has settled.
    std::thread::sleep(std::time::Duration::from_millis(EXEC_SETTLE_MS));
    let usage = match measured(Command::new(program).args(args), program, |_| {}) {
        Ok(u) => u,
        Err(why) => {
            eprintln!("capsule-shim exec: {why}");
            return 127;
        }
    };
    let file = std::path::PathBuf::from(usage_file);
    let mut partial = file.clone().into_os_string();
    partial.push(".partial");
    let written =
        std::fs::write(&partial, format!("usage {}\n", usage.words())).and_then(|()| std::fs::rename(&partial, &file));
    if let Err(e) = written {
        eprintln!("capsule-shim exec: failed to write `{}`: {e}", file.display());
        return 125;
    }
    match (usage.exit, usage.signal) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => 125,
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// The limits as the workload sees them, under `root` (`/` in a
/// container): cgroup v2 files, or v1 files (at the controller's mount
/// root, or under the process's own cgroup path), the CPUs it may use,
/// its network interfaces, and whether the root filesystem is writable.
fn probe_in(root: &Path, cpus: usize) -> String {
    let mut lines = Vec::new();
    let mut put = |k: &str, v: String| lines.push(format!("{k}={}", v.replace('\n', " ")));
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let cgroup = read_trimmed(&at("/proc/self/cgroup")).unwrap_or_default();
    let v2 = at("/sys/fs/cgroup/cgroup.controllers").exists();
    put("cgroup", if v2 { "2".to_owned() } else { "1".to_owned() });
    let mut found = |key: &str, paths: &[String]| {
        if let Some(v) = paths.iter().find_map(|p| read_trimmed(&at(p))) {
            put(key, v);
        }
    };
    if v2 {
        for f in ["memory.max", "memory.swap.max", "cpu.max", "pids.max"] {
            found(f, &[format!("/sys/fs/cgroup/{f}")]);
        }
    } else {
        let own = |controller: &str, file: &str| {
            let mut v = vec![format!("/sys/fs/cgroup/{controller}/{file}")];
            for line in cgroup.lines() {
                let parts: Vec<&str> = line.splitn(3, ':').collect();
                if parts.len() == 3 && parts[1].split(',').any(|c| c == controller) {
                    v.push(format!("/sys/fs/cgroup/{}{}/{file}", parts[1], parts[2]));
                }
            }
            v
        };
        found("memory.limit_in_bytes", &own("memory", "memory.limit_in_bytes"));
        found("memory.memsw.limit_in_bytes", &own("memory", "memory.memsw.limit_in_bytes"));
        found("cpu.cfs_quota_us", &own("cpu", "cpu.cfs_quota_us"));
        found("cpu.cfs_period_us", &own("cpu", "cpu.cfs_period_us"));
        found("pids.max", &own("pids", "pids.max"));
    }
    put("cpus_visible", cpus.to_string());
    let mut nets: Vec<String> = std::fs::read_dir(at("/sys/class/net"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    nets.sort();
    put("network_interfaces", nets.join(","));
    let probe = at("/.capsule-probe");
    let rootfs_writable = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    put("rootfs_writable", rootfs_writable.to_string());
    lines.join("\n") + "\n"
}

fn main() {
    let mut argv = std::env::args_os().skip(1);
    if argv.next().is_some_and(|a| a == "exec") {
        let usage_file = argv.next().unwrap_or_default();
        std::process::exit(exec(usage_file, argv.collect()));
    }
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut out = std::io::stdout().lock();
    if writeln!(out, "capsule-shim 1 {}", monotonic_ns()).and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
    loop {
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut words = line.split_whitespace();
        let reply = match words.next() {
            Some("run") => {
                let Some(len) = words.next().and_then(|w| w.parse::<usize>().ok()) else { std::process::exit(2) };
                let mut payload = vec![0u8; len];
                if input.read_exact(&mut payload).is_err() {
                    std::process::exit(2);
                }
                let mut parts = payload.split(|b| *b == 0).map(|p| OsString::from_vec(p.to_vec()));
                let cwd = parts.next().unwrap_or_default();
                match run(cwd, parts.collect()) {
                    Ok(s) => {
                        let mut r = format!("sample {} {} {}\n", s.usage.words(), s.stdout.len(), s.stderr_tail.len())
                            .into_bytes();
                        r.extend_from_slice(&s.stdout);
                        r.extend_from_slice(&s.stderr_tail);
                        r
                    }
                    Err(why) => {
                        let mut r = format!("error {}\n", why.len()).into_bytes();
                        r.extend_from_slice(why.as_bytes());
                        r
                    }
                }
            }
            Some("env") => {
                let Some(len) = words.next().and_then(|w| w.parse::<usize>().ok()) else { std::process::exit(2) };
                let mut payload = vec![0u8; len];
                if input.read_exact(&mut payload).is_err() {
                    std::process::exit(2);
                }
                for var in payload.split(|b| *b == 0).filter(|v| !v.is_empty()) {
                    let var = OsString::from_vec(var.to_vec());
                    let bytes = var.as_encoded_bytes();
                    let Some(eq) = bytes.iter().position(|b| *b == b'=').filter(|i| *i > 0) else {
                        std::process::exit(2)
                    };
                    let (k, v) =
                        (OsString::from_vec(bytes[..eq].to_vec()), OsString::from_vec(bytes[eq + 1..].to_vec()));
                    // SAFETY: the shim has no other thread between requests.
                    unsafe { std::env::set_var(k, v) };
                }
                b"ok\n".to_vec()
            }
            Some("probe") => {
                let p = probe_in(Path::new("/"), std::thread::available_parallelism().map_or(0, |n| n.get()));
                let mut r = format!("probe {}\n", p.len()).into_bytes();
                r.extend_from_slice(p.as_bytes());
                r
            }
            _ => return,
        };
        if out.write_all(&reply).and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

// `rustc --test` builds these (the runner's tests do): what the probe reads
// on each cgroup version, from a made-up root.
#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> std::path::PathBuf {
        let root = std::env::temp_dir().join(format!("capsule-shim-test-{}-{}", std::process::id(), files.len()));
        let _ = std::fs::remove_dir_all(&root);
        for (p, v) in files {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, v).unwrap();
        }
        std::fs::create_dir_all(root.join("sys/class/net/lo")).unwrap();
        root
    }

    #[test]
    fn reads_cgroup_v2_limits() {
        // What docker on a cgroup v2 host (GitHub's ubuntu runners) mounts.
        let root = tree(&[
            ("proc/self/cgroup", "0::/\n"),
            ("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n"),
            ("sys/fs/cgroup/memory.max", "268435456\n"),
            ("sys/fs/cgroup/memory.swap.max", "0\n"),
            ("sys/fs/cgroup/cpu.max", "100000 100000\n"),
            ("sys/fs/cgroup/pids.max", "64\n"),
        ]);
        let p = probe_in(&root, 1);
        assert_eq!(
            p,
            "cgroup=2\nmemory.max=268435456\nmemory.swap.max=0\ncpu.max=100000 100000\npids.max=64\n\
             cpus_visible=1\nnetwork_interfaces=lo\nrootfs_writable=true\n"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn reads_cgroup_v1_limits_under_the_own_path() {
        // A v1 host whose container sees the host's hierarchy: the limits
        // live under the process's own cgroup path.
        let root = tree(&[
            ("proc/self/cgroup", "12:pids:/c1\n9:cpu,cpuacct:/c1\n4:memory:/c1\n"),
            ("sys/fs/cgroup/memory/c1/memory.limit_in_bytes", "268435456\n"),
            ("sys/fs/cgroup/cpu,cpuacct/c1/cpu.cfs_quota_us", "100000\n"),
            ("sys/fs/cgroup/cpu,cpuacct/c1/cpu.cfs_period_us", "100000\n"),
            ("sys/fs/cgroup/pids/c1/pids.max", "64\n"),
        ]);
        let p = probe_in(&root, 1);
        assert_eq!(
            p,
            "cgroup=1\nmemory.limit_in_bytes=268435456\ncpu.cfs_quota_us=100000\ncpu.cfs_period_us=100000\n\
             pids.max=64\ncpus_visible=1\nnetwork_interfaces=lo\nrootfs_writable=true\n"
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
