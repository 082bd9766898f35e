//! Ending a run cleanly on SIGINT or SIGTERM. [`install`] turns the signals
//! into a flag (`signal-hook`) and a watcher thread that, while the flag is
//! set, ends the process group of the workload being measured (every child
//! [`crate::measure::run`] starts leads its own group, as does every
//! harness process [`crate::harness`] starts). The run then stops
//! at its next step with [`crate::BenchError::Interrupted`], unwinding
//! normally: a paired run's git worktree is removed by its guard, nothing
//! is renamed into place, and the CLI exits 130. Without [`install`]
//! (library use) signals keep their default effect.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
/// The process group being measured, 0 when none.
static RUNNING: AtomicU32 = AtomicU32::new(0);

/// Routes SIGINT and SIGTERM to the flag and starts the watcher. Calling
/// it again does nothing.
pub fn install() -> std::io::Result<()> {
    if FLAG.get().is_some() {
        return Ok(());
    }
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, flag.clone())?;
    }
    let watched = flag.clone();
    std::thread::Builder::new().name("capsule-interrupt".into()).spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(20));
            if watched.load(Ordering::SeqCst) {
                let pgid = RUNNING.load(Ordering::SeqCst);
                if pgid != 0 {
                    crate::measure::terminate_group(pgid);
                }
            }
        }
    })?;
    let _ = FLAG.set(flag);
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`install`].
pub fn interrupted() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// Marks `pgid` as the group being measured (0: none).
pub(crate) fn measuring(pgid: u32) {
    RUNNING.store(pgid, Ordering::SeqCst);
}
