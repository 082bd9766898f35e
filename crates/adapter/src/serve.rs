//! Serving a [`TraceAdapter`] as a process: the adapter side of the
//! protocol. A Rust adapter's `main` is `serve(MyAdapter::new(), stdin,
//! stdout)`.

use std::fs::File;
use std::io::{BufRead, BufWriter, Read, Write};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::protocol::{Describe, ErrorReply, Event, MAX_LINE, PROTOCOL, Proved, Reply, Request, Verified};
use crate::{AdapterError, ProofClaim, TraceAdapter};

/// A reply writer shared with the progress hook.
struct Out<W>(Arc<Mutex<W>>);

impl<W> Clone for Out<W> {
    fn clone(&self) -> Self {
        Out(self.0.clone())
    }
}

impl<W: Write> Out<W> {
    fn send(&self, reply: &Reply) -> Result<(), AdapterError> {
        let mut line = serde_json::to_vec(reply)
            .map_err(|e| AdapterError::Failed { what: "encoding a reply", why: e.to_string() })?;
        line.push(b'\n');
        let mut w = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        w.write_all(&line).and_then(|()| w.flush()).map_err(AdapterError::io("writing a reply"))
    }
}

/// Answers requests from `input` on `output` until `shutdown` or the end of
/// `input`. A request that fails is answered with `error` and the loop goes
/// on; only a broken pipe ends it with `Err`.
pub fn serve<A, R, W>(mut adapter: A, input: R, output: W) -> Result<(), AdapterError>
where
    A: TraceAdapter,
    R: BufRead,
    W: Write + Send + 'static,
{
    let out = Out(Arc::new(Mutex::new(output)));
    let hook_out = out.clone();
    adapter.set_progress(Box::new(move |p| {
        let _ = hook_out.send(&Reply::Event(Event::Phase(p.clone())));
    }));
    let mut input = input.take(0);
    loop {
        let mut line = Vec::new();
        input.set_limit(MAX_LINE as u64 + 1);
        input.read_until(b'\n', &mut line).map_err(AdapterError::io("reading a request"))?;
        if line.is_empty() {
            return Ok(());
        }
        let reply = if line.len() > MAX_LINE {
            // Skip the rest of the oversized line.
            input.set_limit(u64::MAX);
            let mut rest = Vec::new();
            input.read_until(b'\n', &mut rest).map_err(AdapterError::io("reading a request"))?;
            Err(format!("request line longer than {MAX_LINE} bytes"))
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Err(e) => Err(format!("malformed request: {e}")),
                Ok(Request::Shutdown) => {
                    out.send(&Reply::Ok(json!({})))?;
                    return Ok(());
                }
                // A rejection's reason is the message; the framework
                // knows a failed `verify` is a rejection.
                Ok(req) => handle(&mut adapter, req).map_err(|e| match e {
                    AdapterError::Rejected(why) => why,
                    e => e.to_string(),
                }),
            }
        };
        out.send(&match reply {
            Ok(v) => Reply::Ok(v),
            Err(message) => Reply::Error(ErrorReply { message }),
        })?;
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, AdapterError> {
    serde_json::to_value(v).map_err(|e| AdapterError::Failed { what: "encoding a reply", why: e.to_string() })
}

fn handle<A: TraceAdapter>(adapter: &mut A, req: Request) -> Result<Value, AdapterError> {
    match req {
        Request::Describe { protocol } => {
            if protocol != PROTOCOL {
                return Err(AdapterError::Order(format!(
                    "protocol `{protocol}` is not supported (this adapter speaks `{PROTOCOL}`)"
                )));
            }
            to_value(&Describe { protocol: PROTOCOL.to_owned(), adapter: adapter.describe()? })
        }
        Request::Execute { execution, rows_path } => {
            match rows_path {
                None => adapter.execute(&execution, None)?,
                Some(path) => {
                    let file =
                        File::create(&path).map_err(AdapterError::io(format!("creating `{}`", path.display())))?;
                    let mut w = BufWriter::new(file);
                    adapter.execute(&execution, Some(&mut w))?;
                    w.into_inner()
                        .map_err(|e| e.into_error())
                        .and_then(|f| f.sync_all())
                        .map_err(AdapterError::io(format!("writing `{}`", path.display())))?;
                }
            }
            to_value(&adapter.public_outputs()?)
        }
        Request::Prove { statement_hash, nonce, proof_path } => {
            let proof = adapter.prove(&statement_hash, nonce)?;
            std::fs::write(&proof_path, &proof)
                .map_err(AdapterError::io(format!("writing `{}`", proof_path.display())))?;
            to_value(&Proved { proof_bytes: proof.len() as u64 })
        }
        Request::Verify { execution, program_id, statement_hash, result_digest, proof_path } => {
            let proof = read_proof(&proof_path)?;
            let claim = ProofClaim {
                execution: &execution,
                program_id: &program_id,
                statement_hash,
                result_digest,
                proof: &proof,
            };
            to_value(&Verified { security_bits: adapter.verify(&claim)? })
        }
        Request::Shutdown => Ok(json!({})),
    }
}

/// Largest proof either side reads (256 MiB).
pub(crate) const MAX_PROOF: u64 = 256 << 20;

pub(crate) fn read_proof(path: &std::path::Path) -> Result<Vec<u8>, AdapterError> {
    let file = File::open(path).map_err(AdapterError::io(format!("opening `{}`", path.display())))?;
    let mut proof = Vec::new();
    file.take(MAX_PROOF + 1)
        .read_to_end(&mut proof)
        .map_err(AdapterError::io(format!("reading `{}`", path.display())))?;
    if proof.len() as u64 > MAX_PROOF {
        return Err(AdapterError::Failed {
            what: "reading the proof",
            why: format!("`{}` is larger than {MAX_PROOF} bytes", path.display()),
        });
    }
    Ok(proof)
}
