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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use capsule::digest::Digest;
    use serde_json::Value;

    use super::serve;
    use crate::{AdapterError, AdapterInfo, Execution, ProofClaim, PublicOutputs, TraceAdapter};

    /// An adapter whose trace is its `n` parameter's count of one-byte rows.
    #[derive(Default)]
    struct Toy {
        n: Option<u64>,
    }

    impl TraceAdapter for Toy {
        fn describe(&mut self) -> Result<AdapterInfo, AdapterError> {
            Ok(AdapterInfo {
                backend_id: "toy/v1".into(),
                program_id: "00".into(),
                trace_spec: capsule::objects::TraceSpecV1 {
                    schema: Default::default(),
                    format_id: "toy".into(),
                    record_schema: "toy".into(),
                    encoding_id: "u8".into(),
                    field_id: None,
                    row_width: 1,
                },
                examples: Vec::new(),
            })
        }
        fn execute(&mut self, e: &Execution, rows: Option<&mut dyn Write>) -> Result<(), AdapterError> {
            let n = e.parameters.get("n").and_then(Value::as_u64).ok_or(AdapterError::Parameters("`n`".into()))?;
            if let Some(w) = rows {
                w.write_all(&vec![7; n as usize]).map_err(AdapterError::io("rows"))?;
            }
            self.n = Some(n);
            Ok(())
        }
        fn public_outputs(&mut self) -> Result<PublicOutputs, AdapterError> {
            let n = self.n.ok_or(AdapterError::Order("execute first".into()))?;
            Ok(PublicOutputs { row_count: n, result_digest: Digest::ZERO, values: Value::Null })
        }
        fn prove(&mut self, _: &Digest, _: u64) -> Result<Vec<u8>, AdapterError> {
            self.n.map(|n| vec![n as u8]).ok_or(AdapterError::Order("`prove` before `execute`".into()))
        }
        fn verify(&mut self, _: &ProofClaim<'_>) -> Result<u32, AdapterError> {
            Err(AdapterError::Rejected("toy proofs never verify".into()))
        }
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Each request gets exactly one `ok` or `error` line, bad requests
    /// included, and the loop goes on until `shutdown`.
    #[test]
    fn every_request_is_answered_once() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        let rows = dir.path().join("rows.bin");
        let proof = dir.path().join("proof.bin");
        let long = "x".repeat(crate::protocol::MAX_LINE + 10);
        let requests = [
            "not json".to_owned(),
            long,
            r#"{"method":"describe","protocol":"capsulebench/adapter-protocol/v0"}"#.to_owned(),
            r#"{"method":"describe","protocol":"capsulebench/adapter-protocol/v1","extra":1}"#.to_owned(),
            format!(
                r#"{{"method":"prove","statement_hash":"sha256:{}","nonce":0,"proof_path":{:?}}}"#,
                "00".repeat(32),
                proof
            ),
            r#"{"method":"describe","protocol":"capsulebench/adapter-protocol/v1"}"#.to_owned(),
            format!(r#"{{"method":"execute","execution":{{"parameters":{{"n":5}}}},"rows_path":{rows:?}}}"#),
            format!(
                r#"{{"method":"verify","execution":{{"parameters":{{"n":5}}}},"program_id":"00","statement_hash":"sha256:{z}","result_digest":"sha256:{z}","proof_path":{proof:?}}}"#,
                z = "00".repeat(32)
            ),
            r#"{"method":"shutdown"}"#.to_owned(),
            r#"{"method":"describe","protocol":"capsulebench/adapter-protocol/v1"}"#.to_owned(),
        ];
        let input = requests.join("\n") + "\n";
        let out = Shared::default();
        std::fs::write(&proof, [1]).ok();
        let served = serve(Toy::default(), input.as_bytes(), out.clone());
        assert!(served.is_ok(), "{served:?}");
        let bytes = out.0.lock().map(|b| b.clone()).unwrap_or_default();
        let replies: Vec<Value> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let kinds: Vec<&str> =
            replies.iter().map(|r| r.as_object().and_then(|o| o.keys().next()).map_or("?", |k| k.as_str())).collect();
        // The request after `shutdown` is never read.
        assert_eq!(kinds, ["error", "error", "error", "error", "error", "ok", "ok", "error", "ok"], "{replies:?}");
        assert_eq!(replies[7]["error"]["message"], "toy proofs never verify");
        assert_eq!(replies[6]["ok"]["row_count"], 5);
        assert_eq!(std::fs::read(&rows).ok(), Some(vec![7; 5]));
    }
}
