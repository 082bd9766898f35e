//! Driving an external adapter: the framework side of the protocol.
//!
//! Owns the adapter child process: its pipes, a scratch directory for the
//! files the protocol passes by path, and the tail of its stderr for error
//! messages. A [`ProcessAdapter`] is itself a [`TraceAdapter`], so the
//! framework and the conformance check treat in-process and external
//! adapters alike.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use capsule::digest::Digest;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::protocol::{Describe, Event, MAX_LINE, PROTOCOL, Proved, Reply, Request, Verified};
use crate::serve::read_proof;
use crate::{AdapterError, AdapterInfo, Execution, ProgressHook, ProofClaim, PublicOutputs, TraceAdapter};

/// Bytes of an adapter's stderr kept for error messages.
const STDERR_TAIL: usize = 4096;

/// Where the files the protocol passes by path are kept when the adapter
/// sees the file system under other names than the framework (an adapter
/// in a container): a directory of the framework's, `host`, that the
/// adapter sees at `inside`. The adapter may run as another user (a
/// container image's own), so the directory made under `host` is writable
/// by every user: keep `host` inside a directory only you can enter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scratch {
    /// The directory as the framework names it.
    pub host: std::path::PathBuf,
    /// The same directory as the adapter names it.
    pub inside: std::path::PathBuf,
}

/// An adapter process.
pub struct ProcessAdapter {
    program: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: std::io::Take<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
    /// `dir` as the adapter names it.
    seen: std::path::PathBuf,
    hook: Option<ProgressHook>,
    outputs: Option<PublicOutputs>,
}

impl std::fmt::Debug for ProcessAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessAdapter").field("program", &self.program).finish_non_exhaustive()
    }
}

impl ProcessAdapter {
    /// Starts `cmd` (its stdio is replaced by pipes).
    pub fn spawn(cmd: &mut Command) -> Result<Self, AdapterError> {
        Self::spawn_in(cmd, None)
    }

    /// Starts `cmd`, keeping the files passed by path in a directory under
    /// `scratch` (the system's temporary directory when `None`).
    pub fn spawn_in(cmd: &mut Command, scratch: Option<&Scratch>) -> Result<Self, AdapterError> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut b = tempfile::Builder::new();
        b.prefix("capsule-adapter-");
        let dir = match scratch {
            Some(s) => b.tempdir_in(&s.host),
            None => b.tempdir(),
        }
        .map_err(AdapterError::io("creating the adapter's scratch directory"))?;
        let seen = match (scratch, dir.path().file_name()) {
            (Some(s), Some(name)) => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                    .map_err(AdapterError::io("opening the adapter's scratch directory to its user"))?;
                s.inside.join(name)
            }
            _ => dir.path().to_path_buf(),
        };
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
                AdapterError::Process { program: program.clone(), why: format!("failed to start: {e}") }
            })?;
        let (Some(stdin), Some(stdout), Some(mut err)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(AdapterError::Process { program, why: "its pipes are missing".to_owned() });
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let tail = stderr.clone();
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                t.extend_from_slice(&buf[..n]);
                if t.len() > 2 * STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    t.drain(..cut);
                }
            }
        });
        Ok(ProcessAdapter {
            program,
            child: Some(child),
            stdin: Some(stdin),
            stdout: BufReader::new(stdout).take(0),
            stderr,
            stderr_thread: Some(stderr_thread),
            dir,
            seen,
            hook: None,
            outputs: None,
        })
    }

    /// The adapter's process id.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn broken(&self, why: impl Into<String>) -> AdapterError {
        let mut why = why.into();
        let tail =
            self.stderr.lock().map(|t| String::from_utf8_lossy(&t[t.len().saturating_sub(STDERR_TAIL)..]).into_owned());
        if let Ok(tail) = tail {
            let tail = tail.trim();
            if !tail.is_empty() {
                why.push_str("; its stderr ends:\n");
                why.push_str(tail);
            }
        }
        AdapterError::Process { program: self.program.clone(), why }
    }

    /// Sends `req`; returns the `ok` payload, or the adapter's `error`
    /// message as `Err(Ok(message))`.
    fn call(&mut self, req: &Request) -> Result<Result<Value, String>, AdapterError> {
        let method = serde_json::to_value(req)
            .ok()
            .and_then(|v| v.get("method").and_then(|m| m.as_str().map(str::to_owned)))
            .unwrap_or_default();
        let mut line = serde_json::to_vec(req).map_err(|e| self.broken(format!("cannot encode `{method}`: {e}")))?;
        line.push(b'\n');
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(&line).and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = sent {
            return Err(self.broken(format!("cannot send `{method}` (it may have exited): {e}")));
        }
        loop {
            let mut buf = Vec::new();
            self.stdout.set_limit(MAX_LINE as u64 + 1);
            match self.stdout.read_until(b'\n', &mut buf) {
                Err(e) => return Err(self.broken(format!("reading its reply to `{method}`: {e}"))),
                Ok(0) => return Err(self.broken(format!("it exited before answering `{method}`"))),
                Ok(_) => {}
            }
            if buf.len() > MAX_LINE {
                return Err(self.broken(format!("its reply to `{method}` is longer than {MAX_LINE} bytes")));
            }
            let reply: Reply = serde_json::from_slice(&buf).map_err(|e| {
                self.broken(format!(
                    "its reply to `{method}` is not a protocol line ({e}): {}",
                    String::from_utf8_lossy(&buf[..buf.len().min(200)]).trim_end()
                ))
            })?;
            match reply {
                Reply::Event(Event::Phase(p)) => {
                    if let Some(hook) = self.hook.as_mut() {
                        hook(&p);
                    }
                }
                Reply::Ok(v) => return Ok(Ok(v)),
                Reply::Error(e) => return Ok(Err(e.message)),
            }
        }
    }

    fn payload<T: DeserializeOwned>(&self, method: &str, v: Value) -> Result<T, AdapterError> {
        serde_json::from_value(v).map_err(|e| self.broken(format!("its `ok` to `{method}` is malformed: {e}")))
    }

    /// Asks the adapter to exit and returns its (unreaped) process, for a
    /// caller that measures it.
    pub fn shutdown(mut self) -> Result<Child, AdapterError> {
        match self.call(&Request::Shutdown)? {
            Ok(_) => {}
            Err(m) => return Err(self.broken(format!("it refused `shutdown`: {m}"))),
        }
        drop(self.stdin.take());
        let child = self.child.take().ok_or_else(|| self.broken("already shut down"))?;
        Ok(child)
    }

    /// Shuts the adapter down and waits for it; a non-zero exit is an error.
    pub fn close(self) -> Result<(), AdapterError> {
        let program = self.program.clone();
        let mut child = self.shutdown()?;
        let status = child.wait().map_err(AdapterError::io(format!("waiting for `{program}`")))?;
        if !status.success() {
            return Err(AdapterError::Process { program, why: format!("it exited with {status} after `shutdown`") });
        }
        Ok(())
    }

    fn failed(what: &'static str) -> impl FnOnce(String) -> AdapterError {
        move |why| AdapterError::Failed { what, why }
    }
}

impl Drop for ProcessAdapter {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

impl TraceAdapter for ProcessAdapter {
    fn describe(&mut self) -> Result<AdapterInfo, AdapterError> {
        let v = self.call(&Request::Describe { protocol: PROTOCOL.to_owned() })?.map_err(Self::failed("describe"))?;
        let d: Describe = self.payload("describe", v)?;
        if d.protocol != PROTOCOL {
            return Err(self.broken(format!("it speaks `{}`, not `{PROTOCOL}`", d.protocol)));
        }
        Ok(d.adapter)
    }

    fn execute(&mut self, execution: &Execution, rows: Option<&mut dyn Write>) -> Result<(), AdapterError> {
        self.outputs = None;
        let rows_path = rows.is_some().then(|| self.seen.join("rows.bin"));
        let req = Request::Execute { execution: execution.clone(), rows_path };
        let v = self.call(&req)?.map_err(Self::failed("execute"))?;
        let outputs: PublicOutputs = self.payload("execute", v)?;
        if let Some(w) = rows {
            let path = self.dir.path().join("rows.bin");
            let mut f = std::fs::File::open(&path)
                .map_err(AdapterError::io(format!("opening the rows it wrote at `{}`", path.display())))?;
            std::io::copy(&mut f, w).map_err(AdapterError::io("copying its rows"))?;
            let _ = std::fs::remove_file(&path);
        }
        self.outputs = Some(outputs);
        Ok(())
    }

    fn public_outputs(&mut self) -> Result<PublicOutputs, AdapterError> {
        self.outputs.clone().ok_or_else(|| AdapterError::Order("`public_outputs` before `execute`".to_owned()))
    }

    fn prove(&mut self, statement_hash: &Digest, nonce: u64) -> Result<Vec<u8>, AdapterError> {
        let name = format!("proof-{nonce}.bin");
        let proof_path = self.dir.path().join(&name);
        let v = self
            .call(&Request::Prove { statement_hash: *statement_hash, nonce, proof_path: self.seen.join(&name) })?
            .map_err(Self::failed("prove"))?;
        let proved: Proved = self.payload("prove", v)?;
        let proof = read_proof(&proof_path)?;
        let _ = std::fs::remove_file(&proof_path);
        if proof.len() as u64 != proved.proof_bytes {
            return Err(self.broken(format!(
                "it reported {} proof bytes but wrote {}",
                proved.proof_bytes,
                proof.len()
            )));
        }
        Ok(proof)
    }

    fn verify(&mut self, claim: &ProofClaim<'_>) -> Result<u32, AdapterError> {
        let proof_path = self.dir.path().join("verify.bin");
        std::fs::write(&proof_path, claim.proof).map_err(AdapterError::io("writing the proof for the adapter"))?;
        let req = Request::Verify {
            execution: claim.execution.clone(),
            program_id: claim.program_id.to_owned(),
            statement_hash: claim.statement_hash,
            result_digest: claim.result_digest,
            proof_path: self.seen.join("verify.bin"),
        };
        let answer = self.call(&req);
        let _ = std::fs::remove_file(&proof_path);
        let v = answer?.map_err(AdapterError::Rejected)?;
        let verified: Verified = self.payload("verify", v)?;
        Ok(verified.security_bits)
    }

    fn set_progress(&mut self, hook: ProgressHook) {
        self.hook = Some(hook);
    }
}
