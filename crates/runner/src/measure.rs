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

/// Runs `cmd` once to completion and measures it. `cmd`'s stdio is
/// replaced: stdin is null, stdout and stderr are captured.
pub fn run(cmd: &mut Command) -> std::io::Result<Sample> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn()?;
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
    let (status, ru) = wait4(child.id())?;
    let wall_ns = start.elapsed().as_nanos() as u64;
    // The child is reaped; std's handle must not wait on it again.
    std::mem::forget(child);
    let stdout = out_t.join().unwrap_or_default();
    let stderr_tail = err_t.join().unwrap_or_default();
    let (exit_code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Ok(Sample {
        wall_ns,
        user_ns: tv_ns(ru.ru_utime),
        sys_ns: tv_ns(ru.ru_stime),
        peak_rss_bytes: (ru.ru_maxrss as u64).saturating_mul(1024),
        stdout,
        stderr_tail,
        exit_code,
        signal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn reports_signals() {
        let s = run(Command::new("sh").args(["-c", "kill -9 $$"])).unwrap();
        assert_eq!(s.signal, Some(9));
        assert!(!s.success());
    }
}
