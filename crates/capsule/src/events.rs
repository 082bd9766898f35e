//! The sealed event chain.
//!
//! Owns building and checking `events.jsonl`: one canonical EventV1 per line,
//! each line's `prev` the hash of the line before (all zeros for the first),
//! `seq` counting from 0. The capsule binds the head and count at sealing, so
//! any edit, reorder, drop or append is detected. Events that can only exist
//! after sealing (`capsule_sealed`, `pack_ready`, `signature_attached`) live
//! on the live stream and never in a pack.

use serde_json::Value;

use crate::canonical::{self, CanonicalError};
use crate::digest::{Digest, Tag, tagged};
use crate::objects::EventV1;

/// Event types that are emitted only after sealing, never stored in a pack.
pub const POST_SEAL_TYPES: [&str; 3] = ["capsule_sealed", "pack_ready", "signature_attached"];

/// The chain hash of one event.
pub fn event_hash(e: &EventV1) -> Result<Digest, CanonicalError> {
    Ok(canonical::hash(Tag::Event, e)?.1)
}

/// An event log being written.
#[derive(Clone, Debug)]
pub struct EventLog {
    run_id: String,
    events: Vec<EventV1>,
    jsonl: Vec<u8>,
    head: Digest,
}

impl EventLog {
    /// Starts an empty chain for `run_id`.
    pub fn new(run_id: &str) -> Self {
        EventLog { run_id: run_id.to_owned(), events: Vec::new(), jsonl: Vec::new(), head: Digest::ZERO }
    }

    /// Appends an event, returning it with its hash.
    pub fn push(&mut self, ts_ms: u64, kind: &str, data: Value) -> Result<(&EventV1, Digest), CanonicalError> {
        let e = EventV1 {
            schema: Default::default(),
            run_id: self.run_id.clone(),
            seq: self.events.len() as u64,
            ts_ms,
            source: "runner".to_owned(),
            kind: kind.to_owned(),
            data,
            prev: self.head,
        };
        let bytes = canonical::to_vec(&e)?;
        self.head = tagged(Tag::Event, &bytes);
        self.jsonl.extend_from_slice(&bytes);
        self.jsonl.push(b'\n');
        self.events.push(e);
        let last = self.events.len() - 1;
        Ok((&self.events[last], self.head))
    }

    /// The chain head (hash of the last event).
    pub fn head(&self) -> Digest {
        self.head
    }

    /// Number of events.
    pub fn count(&self) -> u64 {
        self.events.len() as u64
    }

    /// The events so far.
    pub fn events(&self) -> &[EventV1] {
        &self.events
    }

    /// The `events.jsonl` bytes.
    pub fn jsonl(&self) -> &[u8] {
        &self.jsonl
    }
}

/// A checked chain.
#[derive(Clone, Debug)]
pub struct CheckedChain {
    /// The events, in order.
    pub events: Vec<EventV1>,
    /// Each event's hash.
    pub hashes: Vec<Digest>,
    /// The head.
    pub head: Digest,
}

/// Why an event log fails its chain check.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The file does not end with a newline, or has an empty line.
    #[error("event log is not newline-terminated JSON lines (line {line})")]
    Framing {
        /// 1-based line number.
        line: usize,
    },
    /// A line is not a canonical EventV1.
    #[error("event on line {line} is not a canonical event")]
    Event {
        /// 1-based line number.
        line: usize,
        /// Why.
        #[source]
        source: CanonicalError,
    },
    /// A `seq` out of order.
    #[error("event on line {line} has seq {seq}, expected {expected}")]
    Seq {
        /// 1-based line number.
        line: usize,
        /// Found.
        seq: u64,
        /// Expected.
        expected: u64,
    },
    /// A `prev` that is not the previous event's hash.
    #[error("event on line {line} does not link to the previous event")]
    Link {
        /// 1-based line number.
        line: usize,
    },
    /// An event of another run.
    #[error("event on line {line} belongs to run `{run_id}`")]
    Run {
        /// 1-based line number.
        line: usize,
        /// The foreign run id.
        run_id: String,
    },
    /// An event from anyone but the runner (server events live on the
    /// stream only).
    #[error("event on line {line} comes from `{source_name}`, not the runner")]
    Source {
        /// 1-based line number.
        line: usize,
        /// The source it names.
        source_name: String,
    },
    /// An event type that can only exist after sealing.
    #[error("event on line {line} has post-seal type `{kind}`")]
    PostSeal {
        /// 1-based line number.
        line: usize,
        /// The type.
        kind: String,
    },
}

/// Checks an `events.jsonl` of run `run_id`.
pub fn check_chain(bytes: &[u8], run_id: &str) -> Result<CheckedChain, ChainError> {
    let mut out = CheckedChain { events: Vec::new(), hashes: Vec::new(), head: Digest::ZERO };
    if bytes.is_empty() {
        return Ok(out);
    }
    if bytes.last() != Some(&b'\n') {
        return Err(ChainError::Framing { line: bytes.split(|b| *b == b'\n').count() });
    }
    for (i, line) in bytes[..bytes.len() - 1].split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        if line.is_empty() {
            return Err(ChainError::Framing { line: n });
        }
        let e: EventV1 = canonical::parse(line).map_err(|source| ChainError::Event { line: n, source })?;
        if e.seq != i as u64 {
            return Err(ChainError::Seq { line: n, seq: e.seq, expected: i as u64 });
        }
        if e.prev != out.head {
            return Err(ChainError::Link { line: n });
        }
        if e.run_id != run_id {
            return Err(ChainError::Run { line: n, run_id: e.run_id });
        }
        if e.source != "runner" {
            return Err(ChainError::Source { line: n, source_name: e.source });
        }
        if POST_SEAL_TYPES.contains(&e.kind.as_str()) {
            return Err(ChainError::PostSeal { line: n, kind: e.kind });
        }
        out.head = tagged(Tag::Event, line);
        out.hashes.push(out.head);
        out.events.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log() -> EventLog {
        let mut l = EventLog::new("r1");
        for (i, k) in ["run_started", "spec_locked", "statement_locked"].iter().enumerate() {
            l.push(1000 + i as u64, k, json!({"i": i})).unwrap();
        }
        l
    }

    #[test]
    fn detects_edit_reorder_drop_append() {
        let l = log();
        let ok = check_chain(l.jsonl(), "r1").unwrap();
        assert_eq!((ok.head, ok.events.len()), (l.head(), 3));
        let lines: Vec<&[u8]> = l.jsonl().split_inclusive(|b| *b == b'\n').collect();
        let join = |ls: &[&[u8]]| ls.concat();
        // Reorder and drop break seq/prev; dropping the tail or appending keeps
        // a valid chain with another head or count, which the capsule catches.
        assert!(check_chain(&join(&[lines[1], lines[0], lines[2]]), "r1").is_err());
        assert!(check_chain(&join(&[lines[0], lines[2]]), "r1").is_err());
        let short = check_chain(&join(&[lines[0], lines[1]]), "r1").unwrap();
        assert_ne!(short.head, l.head());
        let edited = String::from_utf8(l.jsonl().to_vec()).unwrap().replace("\"i\":1", "\"i\":7");
        assert!(check_chain(edited.as_bytes(), "r1").is_err());
        let mut longer = l.clone();
        longer.push(9, "phase", json!({})).unwrap();
        assert_ne!(check_chain(longer.jsonl(), "r1").unwrap().head, l.head());
        assert!(check_chain(l.jsonl(), "r2").is_err());
        let mut sealed = l.clone();
        sealed.push(9, "capsule_sealed", json!({})).unwrap();
        assert!(matches!(check_chain(sealed.jsonl(), "r1"), Err(ChainError::PostSeal { .. })));
    }
}
