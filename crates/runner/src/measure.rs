//! Measuring one repetition: a fresh child process, timed on the monotonic
//! clock, with its CPU times and peak RSS from `wait4`.
//!
//! Owns the only `unsafe` in the runner: the `wait4` call, which std does not
//! expose. Output pipes are drained on their own threads so a chatty child
//! never blocks.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What one repetition measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Wall time, monotonic, from spawn to reap.
    pub wall_ns: u64,
    /// User CPU time of the child.
    pub user_ns: u64,
    /// System CPU time of the child.
    pub sys_ns: u64,
    /// Peak resident set size of the child.
    pub peak_rss_bytes: u64,
    /// The child's stdout.
    pub stdout: Vec<u8>,
    /// The last 4 KiB of the child's stderr.
    pub stderr_tail: Vec<u8>,
    /// Exit code (`None` when killed by a signal).
    pub exit_code: Option<i32>,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
}

impl Sample {
    /// Whether the child exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Bytes of stderr kept for error reports.
pub const STDERR_TAIL: usize = 4096;

fn tv_ns(tv: libc::timeval) -> u64 {
    (tv.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(tv.tv_usec as u64 * 1000)
}

#[expect(unsafe_code, reason = "wait4 is the only way to get a child's rusage; std does not expose it")]
fn wait4(pid: u32) -> std::io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `ru` are valid for writes; `pid` is our own
        // unreaped child.
        let rc = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
        if rc >= 0 {
            return Ok((status, ru));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[expect(unsafe_code, reason = "killpg has no safe wrapper in std")]
fn kill_group(pgid: u32) {
    // SAFETY: plain system call; a group that no longer exists is ESRCH.
    unsafe {
        libc::killpg(pgid as libc::pid_t, libc::SIGKILL);
    }
}

/// Whether process `pid` exists (signal 0).
pub(crate) fn process_alive(pid: u32) -> bool {
    #[expect(unsafe_code, reason = "kill has no safe wrapper in std")]
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Asks process group `pgid` to end (SIGTERM, then SIGKILL when it is
/// still there 200 ms later): an interrupted run's workload.
pub(crate) fn terminate_group(pgid: u32) {
    #[expect(unsafe_code, reason = "killpg has no safe wrapper in std")]
    // SAFETY: plain system calls; a group that no longer exists is ESRCH.
    let alive = |sig| unsafe { libc::killpg(pgid as libc::pid_t, sig) == 0 };
    if alive(libc::SIGTERM) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        alive(libc::SIGKILL);
    }
}

/// Runs `cmd` once to completion and measures it. `cmd`'s stdio is
/// replaced: stdin is null, stdout and stderr are captured.
pub fn run(cmd: &mut Command) -> std::io::Result<Sample> {
    use std::os::unix::process::CommandExt;
    // Its own process group, so whatever it leaves running (and holding our
    // pipes open) can be ended once it has been reaped.
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    crate::interrupt::measuring(child.id());
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
    let waited = wait4(child.id());
    crate::interrupt::measuring(0);
    let (status, ru) = waited?;
    let wall_ns = start.elapsed().as_nanos() as u64;
    // The child is reaped; std's handle must not wait on it again.
    let pgid = child.id();
    std::mem::forget(child);
    kill_group(pgid);
    let stdout = out_t.join().unwrap_or_default();
    let stderr_tail = err_t.join().unwrap_or_default();
    Ok(sample_of(status, &ru, wall_ns, stdout, stderr_tail))
}

/// Reaps `child`, which has been asked to exit and whose pipes its owner
/// holds, and measures it from `start` (taken just before it was spawned).
pub fn reap(child: std::process::Child, start: Instant) -> std::io::Result<Sample> {
    let (status, ru) = wait4(child.id())?;
    let wall_ns = start.elapsed().as_nanos() as u64;
    std::mem::forget(child);
    Ok(sample_of(status, &ru, wall_ns, Vec::new(), Vec::new()))
}

/// `ru_maxrss` in bytes: Linux reports it in KiB, macOS in bytes.
fn maxrss_bytes(v: libc::c_long) -> u64 {
    let v = u64::try_from(v).unwrap_or(0);
    if cfg!(target_os = "macos") { v } else { v.saturating_mul(1024) }
}

fn sample_of(status: libc::c_int, ru: &libc::rusage, wall_ns: u64, stdout: Vec<u8>, stderr_tail: Vec<u8>) -> Sample {
    let (exit_code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Sample {
        wall_ns,
        user_ns: tv_ns(ru.ru_utime),
        sys_ns: tv_ns(ru.ru_stime),
        peak_rss_bytes: maxrss_bytes(ru.ru_maxrss),
        stdout,
        stderr_tail,
        exit_code,
        signal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_bytes_on_every_platform() {
        // Linux's kernel reports KiB, macOS's bytes.
        let expected = if cfg!(target_os = "macos") { 5_000 } else { 5_120_000 };
        assert_eq!(maxrss_bytes(5_000), expected);
        assert_eq!(maxrss_bytes(-1), 0);
        // A shell's peak is some hundreds of KiB to a few MiB: in bytes,
        // neither KiB (too small) nor KiB times 1024 twice (too large).
        let s = run(Command::new("sh").args(["-c", "true"])).unwrap();
        assert!(s.peak_rss_bytes > 100 << 10 && s.peak_rss_bytes < 1 << 30, "{}", s.peak_rss_bytes);
    }

    #[test]
    fn measures_a_child() {
        let s = run(Command::new("sh").args(["-c", "printf hello; printf oops >&2; exit 3"])).unwrap();
        assert_eq!(s.stdout, b"hello");
        assert_eq!(s.stderr_tail, b"oops");
        assert_eq!(s.exit_code, Some(3));
        assert!(!s.success());
        assert!(s.wall_ns > 0);
        assert!(s.peak_rss_bytes > 0);
    }

    #[test]
    fn keeps_only_the_stderr_tail() {
        let s =
            run(Command::new("sh").args(["-c", "head -c 100000 /dev/zero | tr '\\0' x >&2; printf END >&2"])).unwrap();
        assert_eq!(s.stderr_tail.len(), STDERR_TAIL);
        assert!(s.stderr_tail.ends_with(b"END"));
    }

    #[test]
    fn leftover_background_processes_cannot_hang_a_repetition() {
        let t = std::time::Instant::now();
        let s = run(Command::new("sh").args(["-c", "sleep 30 & echo done"])).unwrap();
        assert!(s.success());
        assert_eq!(s.stdout, b"done\n");
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn reports_signals() {
        let s = run(Command::new("sh").args(["-c", "kill -9 $$"])).unwrap();
        assert_eq!(s.signal, Some(9));
        assert!(!s.success());
    }
}

/// How instructions are counted on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstructionCounter {
    /// `perf stat -e instructions` (hardware counter; user and kernel).
    Perf,
    /// `valgrind --tool=callgrind` (simulated; user space only).
    Callgrind,
}

/// Why instructions cannot be counted.
#[derive(Debug, thiserror::Error)]
pub enum InstructionError {
    /// Neither counter works here.
    #[error("instruction counts are unavailable on this machine: {0}")]
    Unavailable(String),
    /// The counted run failed or its output could not be read.
    #[error("counting instructions failed: {0}")]
    Failed(String),
}

/// Finds a working counter: `perf` when the machine exposes the hardware
/// event, else `valgrind --tool=callgrind`.
pub fn instruction_counter() -> Result<InstructionCounter, InstructionError> {
    let perf = Command::new("perf").args(["stat", "-x,", "-e", "instructions", "true"]).output();
    let mut why = Vec::new();
    match perf {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stderr);
            if text.lines().any(|l| l.split(',').next().is_some_and(|n| n.trim().parse::<u64>().is_ok())) {
                return Ok(InstructionCounter::Perf);
            }
            why.push("perf reports the `instructions` event as not supported".to_owned());
        }
        Ok(_) => why.push("`perf stat` failed".to_owned()),
        Err(_) => why.push("perf is not installed".to_owned()),
    }
    match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => return Ok(InstructionCounter::Callgrind),
        _ => why.push("valgrind is not installed".to_owned()),
    }
    Err(InstructionError::Unavailable(why.join("; ")))
}

/// Runs `cmd` once under `counter` and returns the instructions it retired.
pub fn count_instructions(counter: InstructionCounter, cmd: &Command) -> Result<u64, InstructionError> {
    let dir = tempfile::tempdir().map_err(|e| InstructionError::Failed(e.to_string()))?;
    let out = dir.path().join("count.out");
    let mut wrapped = match counter {
        InstructionCounter::Perf => {
            let mut c = Command::new("perf");
            c.args(["stat", "-x,", "-e", "instructions", "-o"]).arg(&out).arg("--");
            c
        }
        InstructionCounter::Callgrind => {
            let mut c = Command::new("valgrind");
            c.args(["--tool=callgrind", "--quiet"]).arg(format!("--callgrind-out-file={}", out.display())).arg("--");
            c
        }
    };
    wrapped.arg(cmd.get_program()).args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        wrapped.current_dir(d);
    }
    let status = wrapped
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| InstructionError::Failed(e.to_string()))?;
    if !status.success() {
        return Err(InstructionError::Failed(format!("the counted run exited with {status}")));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| InstructionError::Failed(e.to_string()))?;
    parse_count(counter, &text)
        .ok_or_else(|| InstructionError::Failed("no instruction total in the counter's output".to_owned()))
}

fn parse_count(counter: InstructionCounter, text: &str) -> Option<u64> {
    match counter {
        InstructionCounter::Perf => text
            .lines()
            .find(|l| l.contains("instructions"))
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.trim().parse().ok()),
        InstructionCounter::Callgrind => text
            .lines()
            .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
            .and_then(|n| n.split_whitespace().next())
            .and_then(|n| n.parse().ok()),
    }
}

#[cfg(test)]
mod counter_tests {
    use super::*;

    #[test]
    fn parses_counter_outputs() {
        let perf = "# started on Thu\n\n123456,,instructions:u,1000,100.00,,\n";
        assert_eq!(parse_count(InstructionCounter::Perf, perf), Some(123_456));
        let cg = "version: 1\ncmd: x\nevents: Ir\nsummary: 987654\ntotals: 987654\n";
        assert_eq!(parse_count(InstructionCounter::Callgrind, cg), Some(987_654));
        assert_eq!(parse_count(InstructionCounter::Callgrind, "events: Ir\n"), None);
    }

    #[test]
    fn counts_a_real_process_when_a_counter_exists() {
        let Ok(counter) = instruction_counter() else { return };
        let n = count_instructions(counter, &Command::new("true")).unwrap();
        assert!(n > 1000, "{n}");
    }
}
