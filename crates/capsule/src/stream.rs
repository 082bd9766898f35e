//! The live stream's messages (`capsulebench/stream/v1`,
//! docs/spec/stream.md): what a runner sends a server while a run happens,
//! what the server answers, and the state snapshot folded from the events.
//!
//! Owns the message types and the chain rules a receiver applies to each
//! arriving event ([`ChainState::accept`]); it opens no connection (the
//! client and the server live in `capsule-server`). Nothing here is
//! evidence: the pack is the receipt, and the server checks the stream
//! against it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;
use crate::events::event_hash;
use crate::objects::EventV1;

/// The protocol name a `hello` carries.
pub const PROTOCOL: &str = "capsulebench/stream/v1";

/// A runner's message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunnerMessage {
    /// The first message on every connection.
    Hello {
        /// [`PROTOCOL`].
        protocol: String,
        /// The run.
        run_id: String,
        /// The runner's name and version.
        client: Value,
    },
    /// The next event of the chain.
    Event {
        /// The event, as it joins the chain.
        event: EventV1,
    },
    /// Where the run is.
    StateSnapshot {
        /// The snapshot.
        snapshot: Box<Snapshot>,
    },
}

/// A server's message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMessage {
    /// Send the events from `from_seq` on.
    ResumeRequest {
        /// The first event the server lacks.
        from_seq: u64,
        /// Whether to send a snapshot first.
        want_snapshot: bool,
    },
    /// Every event up to `last_seq` is stored.
    ServerReceived {
        /// The last stored event.
        last_seq: u64,
    },
    /// The run's pack arrived and was verified.
    ServerVerified {
        /// The verification report (`capsulebench/verify-report/v1`).
        report: Value,
        /// How the stream compares with the pack.
        stream: StreamVerdict,
    },
    /// The server refuses something, and closes the connection.
    Error {
        /// A stable kebab-case code.
        code: String,
        /// What happened.
        message: String,
    },
}

/// How a run's stored stream compares with its pack (spec §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamVerdict {
    /// The stream holds the sealed log byte for byte (and anything after
    /// it continues the chain).
    Matches,
    /// Fewer events were stored, and those match.
    Incomplete,
    /// The stream and the pack disagree.
    Mismatch,
    /// Nothing was streamed for the run.
    NotStreamed,
    /// The pack did not verify far enough to read its event log.
    Unchecked,
}

impl StreamVerdict {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamVerdict::Matches => "matches",
            StreamVerdict::Incomplete => "incomplete",
            StreamVerdict::Mismatch => "mismatch",
            StreamVerdict::NotStreamed => "not-streamed",
            StreamVerdict::Unchecked => "unchecked",
        }
    }
}

/// Compares a stored stream (canonical event lines, in order) with a
/// pack's sealed events (their canonical lines; the capsule binds their
/// count, which the verifier checked). Stored events past the sealed ones
/// are post-seal events; the receiver checked that they continue the chain
/// as it stored them.
pub fn compare(stream: &[Vec<u8>], sealed: &[Vec<u8>]) -> StreamVerdict {
    if stream.is_empty() {
        return StreamVerdict::NotStreamed;
    }
    let common = stream.len().min(sealed.len());
    if stream[..common] != sealed[..common] {
        return StreamVerdict::Mismatch;
    }
    if stream.len() < sealed.len() { StreamVerdict::Incomplete } else { StreamVerdict::Matches }
}

/// The canonical lines of events (as `events.jsonl` holds them).
pub fn lines(events: &[EventV1]) -> Vec<Vec<u8>> {
    events.iter().filter_map(|e| crate::canonical::to_vec(e).ok()).collect()
}

/// The phase a run is in, as its last `phase` event says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// `measure`, `commit_chunks`, ….
    pub phase_id: String,
    /// Its label.
    pub phase_label: String,
    /// `{done, total, unit}` when known.
    pub progress: Option<Value>,
}

/// The hashes locked so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    /// From `spec_locked`.
    pub trace_spec_hash: Option<Value>,
    /// From `spec_locked`.
    pub policy_hash: Option<Value>,
    /// From `statement_locked`.
    pub statement_hash: Option<Value>,
    /// From `row_root_finalized`.
    pub row_root: Option<Value>,
    /// From `capsule_sealed`.
    pub capsule_hash: Option<Value>,
}

/// The row commitment so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commitment {
    /// The chunk count, once known.
    pub num_chunks: Option<u64>,
    /// `chunk_committed` events seen.
    pub chunks_committed: u64,
    /// The last chunk index reported.
    pub last_chunk_index: Option<u64>,
}

/// The proof so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofState {
    /// The backend of the last `proof_artifact`.
    pub backend: Option<String>,
    /// Its size.
    pub size_bytes: Option<u64>,
    /// Its digest.
    pub digest: Option<Value>,
    /// Repetitions proved so far.
    pub proved: u64,
}

/// Where a run is (spec §2.3): folded from its events, informative only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The run.
    pub run_id: String,
    /// The last event folded in, if any.
    pub last_seq: Option<u64>,
    /// The current phase.
    pub phase: Phase,
    /// Repetitions done, when the run reports them.
    pub repetitions: u64,
    /// The hashes locked so far.
    pub locked: Locked,
    /// The row commitment so far.
    pub commitment: Commitment,
    /// The proof so far.
    pub proof: ProofState,
    /// Whether the pack is written (`pack_ready`).
    pub pack_ready: bool,
}

impl Snapshot {
    /// The snapshot of `run_id` before any event.
    pub fn new(run_id: &str) -> Snapshot {
        Snapshot { run_id: run_id.to_owned(), ..Snapshot::default() }
    }

    /// Folds one event in (events of other runs are ignored).
    pub fn fold(&mut self, e: &EventV1) {
        if e.run_id != self.run_id {
            return;
        }
        self.last_seq = Some(e.seq);
        let d = &e.data;
        let text = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        match e.kind.as_str() {
            "phase" => {
                self.phase = Phase {
                    phase_id: text("phase_id"),
                    phase_label: text("phase_label"),
                    progress: d.get("progress").cloned(),
                };
            }
            "repetition" => {
                self.repetitions += 1;
                if d.get("prove_ns").is_some() {
                    self.proof.proved += 1;
                }
                if let Some(Value::Object(p)) = &mut self.phase.progress {
                    p.insert("done".to_owned(), Value::from(self.repetitions));
                }
            }
            "chunk_committed" => {
                self.commitment.chunks_committed += 1;
                self.commitment.last_chunk_index = d.get("chunk_index").and_then(Value::as_u64);
                self.commitment.num_chunks = d.get("num_chunks").and_then(Value::as_u64);
            }
            "row_root_finalized" => self.locked.row_root = d.get("commitment").and_then(|c| c.get("root")).cloned(),
            "spec_locked" => {
                self.locked.trace_spec_hash = d.get("trace_spec_hash").cloned();
                self.locked.policy_hash = d.get("policy_hash").cloned();
            }
            "statement_locked" => self.locked.statement_hash = d.get("statement_hash").cloned(),
            "proof_artifact" => {
                self.proof.backend = d.get("backend").and_then(Value::as_str).map(str::to_owned);
                self.proof.size_bytes = d.get("size_bytes").and_then(Value::as_u64);
                self.proof.digest = d.get("digest").cloned();
            }
            "capsule_sealed" => self.locked.capsule_hash = d.get("capsule_hash").cloned(),
            "pack_ready" => self.pack_ready = true,
            _ => {}
        }
    }
}

/// Why an arriving event was not stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// It is of another run.
    #[error("the event is of run `{got}`, not `{want}`")]
    OtherRun {
        /// The stream's run.
        want: String,
        /// The event's.
        got: String,
    },
    /// Its `seq` is past the stored count: events are missing before it.
    #[error("event {seq} arrived with {count} stored: the events between are missing")]
    Gap {
        /// Its seq.
        seq: u64,
        /// How many are stored.
        count: u64,
    },
    /// Its `seq` is stored with other bytes.
    #[error("event {seq} is stored with other bytes")]
    Conflict {
        /// Its seq.
        seq: u64,
    },
    /// Its `prev` is not the hash of the event before it.
    #[error("event {seq} does not continue the chain (its `prev` is not the hash of event {})", seq.wrapping_sub(1))]
    Broken {
        /// Its seq.
        seq: u64,
    },
    /// It does not serialize canonically.
    #[error("event {seq} has no canonical form")]
    Unhashable {
        /// Its seq.
        seq: u64,
    },
}

/// What [`ChainState::accept`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// The next event: store these canonical bytes, whose hash is given.
    Append {
        /// The event's canonical line (no newline).
        bytes: Vec<u8>,
        /// Its chain hash.
        hash: Digest,
    },
    /// Already stored with the same bytes: ignore it.
    Duplicate,
}

/// What a receiver knows of a run's stored chain: its count and head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainState {
    /// The run.
    pub run_id: String,
    /// Events stored.
    pub count: u64,
    /// The hash of the last stored event (zero when none).
    pub head: Digest,
}

impl ChainState {
    /// A run with nothing stored.
    pub fn new(run_id: &str) -> ChainState {
        ChainState { run_id: run_id.to_owned(), count: 0, head: Digest::ZERO }
    }

    /// Decides about `e`; `stored(seq)` gives the canonical bytes of a
    /// stored event (for duplicates). On [`Accepted::Append`], the caller
    /// stores the bytes and then calls [`ChainState::appended`].
    pub fn accept(&self, e: &EventV1, stored: impl FnOnce(u64) -> Option<Vec<u8>>) -> Result<Accepted, Refused> {
        if e.run_id != self.run_id {
            return Err(Refused::OtherRun { want: self.run_id.clone(), got: e.run_id.clone() });
        }
        let bytes = crate::canonical::to_vec(e).map_err(|_| Refused::Unhashable { seq: e.seq })?;
        if e.seq < self.count {
            return if stored(e.seq).as_deref() == Some(bytes.as_slice()) {
                Ok(Accepted::Duplicate)
            } else {
                Err(Refused::Conflict { seq: e.seq })
            };
        }
        if e.seq > self.count {
            return Err(Refused::Gap { seq: e.seq, count: self.count });
        }
        if e.prev != self.head {
            return Err(Refused::Broken { seq: e.seq });
        }
        let hash = event_hash(e).map_err(|_| Refused::Unhashable { seq: e.seq })?;
        Ok(Accepted::Append { bytes, hash })
    }

    /// Records that the event with `hash` was stored.
    pub fn appended(&mut self, hash: Digest) {
        self.count += 1;
        self.head = hash;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventLog;
    use serde_json::json;

    fn log() -> EventLog {
        let mut l = EventLog::new("r1");
        for (i, (kind, data)) in [
            ("run_started", json!({"client": {}})),
            ("phase", json!({"phase_id": "measure", "phase_label": "Running", "progress": {"done": 0, "total": 2, "unit": "repetitions"}})),
            ("repetition", json!({"index": 0, "warmup": false, "wall_ns": 5, "peak_rss_bytes": 1})),
            ("chunk_committed", json!({"chunk_index": 0, "num_chunks": 3})),
            ("statement_locked", json!({"statement_hash": "sha256:00"})),
        ]
        .into_iter()
        .enumerate()
        {
            l.push(i as u64, kind, data).expect("an event");
        }
        l
    }

    /// The chain arrives whole and in order: the next event is stored, a
    /// stored one with the same bytes is a duplicate, with other bytes a
    /// conflict; a gap, a broken `prev` and another run are refused.
    #[test]
    fn a_receiver_stores_the_chain_in_order_only() {
        let l = log();
        let ev = l.events();
        let mut st = ChainState::new("r1");
        let mut stored: Vec<Vec<u8>> = Vec::new();
        assert_eq!(st.accept(&ev[1], |_| None), Err(Refused::Gap { seq: 1, count: 0 }));
        for e in &ev[..3] {
            match st.accept(e, |s| stored.get(s as usize).cloned()) {
                Ok(Accepted::Append { bytes, hash }) => {
                    stored.push(bytes);
                    st.appended(hash);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(st.accept(&ev[1], |s| stored.get(s as usize).cloned()), Ok(Accepted::Duplicate));
        let mut changed = ev[1].clone();
        changed.ts_ms += 1;
        assert_eq!(st.accept(&changed, |s| stored.get(s as usize).cloned()), Err(Refused::Conflict { seq: 1 }));
        let mut broken = ev[3].clone();
        broken.prev = Digest::ZERO;
        assert_eq!(st.accept(&broken, |_| None), Err(Refused::Broken { seq: 3 }));
        let mut other = ev[3].clone();
        other.run_id = "r2".into();
        assert!(matches!(st.accept(&other, |_| None), Err(Refused::OtherRun { .. })));
        // What was stored is the sealed log's bytes.
        let lines: Vec<&[u8]> = l.jsonl().split(|b| *b == b'\n').filter(|x| !x.is_empty()).collect();
        assert_eq!(stored, lines[..3].iter().map(|x| x.to_vec()).collect::<Vec<_>>());
    }

    #[test]
    fn the_stream_is_compared_with_the_sealed_log() {
        let l = log();
        let sealed = lines(l.events());
        let jsonl: Vec<Vec<u8>> =
            l.jsonl().split(|b| *b == b'\n').filter(|x| !x.is_empty()).map(<[u8]>::to_vec).collect();
        assert_eq!(sealed, jsonl, "the lines of events.jsonl");
        assert_eq!(compare(&sealed, &sealed), StreamVerdict::Matches);
        assert_eq!(compare(&sealed[..2], &sealed), StreamVerdict::Incomplete);
        assert_eq!(compare(&[], &sealed), StreamVerdict::NotStreamed);
        let mut other = sealed.clone();
        other[1] = b"{}".to_vec();
        assert_eq!(compare(&other, &sealed), StreamVerdict::Mismatch);
        let mut longer = sealed.clone();
        longer.push(b"post-seal".to_vec());
        assert_eq!(compare(&longer, &sealed), StreamVerdict::Matches);
        assert_eq!(compare(&sealed, &longer), StreamVerdict::Incomplete);
    }

    #[test]
    fn a_snapshot_folds_the_events() {
        let l = log();
        let mut s = Snapshot::new("r1");
        for e in l.events() {
            s.fold(e);
        }
        assert_eq!(s.last_seq, Some(4));
        assert_eq!(s.phase.phase_id, "measure");
        assert_eq!(s.repetitions, 1);
        assert_eq!(s.phase.progress, Some(json!({"done": 1, "total": 2, "unit": "repetitions"})));
        assert_eq!((s.commitment.chunks_committed, s.commitment.num_chunks), (1, Some(3)));
        assert_eq!(s.locked.statement_hash, Some(json!("sha256:00")));
        let wire =
            serde_json::to_string(&RunnerMessage::StateSnapshot { snapshot: Box::new(s.clone()) }).expect("json");
        assert_eq!(
            serde_json::from_str::<RunnerMessage>(&wire).expect("parses"),
            RunnerMessage::StateSnapshot { snapshot: Box::new(s) }
        );
    }
}
