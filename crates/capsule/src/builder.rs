//! The builder: assembles and seals a capsule from its parts.
//!
//! Owns the order of a run's cryptographic life, as types: a
//! [`CapsuleBuilder`] collects the trace spec, policy, manifests and anchors
//! and commits the rows; [`CapsuleBuilder::lock_statement`] fixes the
//! statement and yields a [`LockedCapsule`], whose statement hash a prover
//! absorbs; proofs and measurements join the locked capsule; `seal` writes
//! the capsule and yields a [`SealedCapsule`] that writes the pack. The event
//! chain is written as each step happens. Time comes from a caller's clock,
//! so a fixed clock gives byte-identical packs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use crate::canonical::{self, CanonicalError};
use crate::digest::{Digest, Tag, TaggedHasher, tagged};
use crate::events::EventLog;
use crate::objects::{
    AnchorsV1, CapsuleV1, EventV1, EventsRef, ManifestKind, MeasurementsRef, MeasurementsV1, MemberV1, ProofRefV1,
    PublicInputsV1, StatementV1, TraceSpecV1, paths,
};
use crate::pack::{PackWriter, WriteError, path_problem, write_pack_beside, write_pack_file};
use crate::rows::{Commitment, RowCommitter, RowError, RowParams};
use crate::standard::PinnedPolicy;

/// Most `chunk_committed` events one run writes; beyond this, every n-th
/// chunk (and the last) is reported.
pub const MAX_CHUNK_EVENTS: u64 = 1024;

/// Why a capsule could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An object outside the canonical subset.
    #[error("failed to encode `{what}` canonically")]
    Canonical {
        /// Which object.
        what: &'static str,
        /// Why.
        #[source]
        source: CanonicalError,
    },
    /// Row commitment failed.
    #[error("failed to commit trace rows")]
    Rows(#[from] RowError),
    /// The trace spec and the commitment disagree.
    #[error("trace spec row width {spec} differs from the commitment's {commitment}")]
    RowWidth {
        /// The spec's.
        spec: u32,
        /// The commitment's.
        commitment: u32,
    },
    /// Rows were already committed: a capsule has one trace.
    #[error("trace rows were already committed for this capsule")]
    RowsCommitted,
    /// The track is not one of the policy's.
    #[error("track `{track}` is not defined by policy `{policy}`")]
    UnknownTrack {
        /// The track.
        track: String,
        /// The policy id.
        policy: String,
    },
    /// A proof member name that is not a safe path.
    #[error("invalid proof artifact name `{name}`: {reason}")]
    ProofName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Spooling trace rows to a temporary file failed.
    #[error("failed to spool trace rows")]
    Spool(#[source] io::Error),
    /// Writing the pack failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

fn canon<T: Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, BuildError> {
    canonical::to_vec(v).map_err(|source| BuildError::Canonical { what, source })
}

/// A member's bytes: in memory, or a spooled file (large row archives).
enum Body {
    Bytes(Vec<u8>),
    File(File, u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        }
    }
}

/// A source of time in ms since the Unix epoch.
pub type Clock = Box<dyn FnMut() -> u64 + Send>;

/// Sees every event as it joins the chain (the live stream).
pub type EventObserver = Box<dyn FnMut(&EventV1, Digest) + Send>;

/// The system clock.
pub fn system_clock() -> Clock {
    Box::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    })
}

/// A capsule being assembled, before its statement is locked.
pub struct CapsuleBuilder {
    run_id: String,
    clock: Clock,
    events: EventLog,
    observer: Option<EventObserver>,
    trace_spec: TraceSpecV1,
    policy: PinnedPolicy,
    anchors: AnchorsV1,
    members: BTreeMap<String, Body>,
    commitment: Option<Commitment>,
}

impl CapsuleBuilder {
    /// Starts a run: records `run_started` with the runner's identity.
    pub fn new(
        run_id: &str,
        runner: Value,
        trace_spec: TraceSpecV1,
        policy: PinnedPolicy,
        mut clock: Clock,
    ) -> Result<Self, BuildError> {
        let mut events = EventLog::new(run_id);
        push(&mut events, &mut None, clock(), "run_started", json!({ "client": runner }))?;
        Ok(CapsuleBuilder {
            run_id: run_id.to_owned(),
            clock,
            events,
            observer: None,
            trace_spec,
            policy,
            anchors: AnchorsV1::default(),
            members: BTreeMap::new(),
            commitment: None,
        })
    }

    /// Records a progress event (`phase`, ...) on the chain.
    pub fn event(&mut self, kind: &str, data: Value) -> Result<(), BuildError> {
        let ts = (self.clock)();
        push(&mut self.events, &mut self.observer, ts, kind, data)
    }

    /// Streams events to `observer`, starting with those already recorded.
    pub fn observe(&mut self, mut observer: EventObserver) -> Result<(), BuildError> {
        let mut head = Digest::ZERO;
        for e in self.events.events() {
            head = crate::events::event_hash(e).map_err(|source| BuildError::Canonical { what: "event", source })?;
            observer(e, head);
        }
        debug_assert_eq!(head, self.events.head());
        self.observer = Some(observer);
        Ok(())
    }

    /// Sets the anchors that do not come from manifests (commits, run URI,
    /// workload input hash). Manifest anchors are set by [`Self::manifest`].
    pub fn anchors(&mut self, mut anchors: AnchorsV1) {
        for kind in ManifestKind::ALL {
            if let Some(h) = self.anchors.manifest_hash(kind) {
                *anchors.manifest_hash_mut(kind) = Some(h);
            }
        }
        if self.anchors.imported_source_hash.is_some() {
            anchors.imported_source_hash = self.anchors.imported_source_hash;
        }
        self.anchors = anchors;
    }

    /// For an imported receipt: carries the third-party `source` file as
    /// `imported/source` and binds its member digest into the
    /// `imported_source_hash` anchor. Every series of such a receipt is
    /// classed imported.
    pub fn imported_source(&mut self, source: Vec<u8>) -> Digest {
        let h = tagged(Tag::Member, &source);
        self.anchors.imported_source_hash = Some(h);
        self.members.insert(paths::IMPORTED_SOURCE.to_owned(), Body::Bytes(source));
        h
    }

    /// Adds a manifest and binds its hash into the matching anchor.
    pub fn manifest<T: Serialize>(&mut self, kind: ManifestKind, manifest: &T) -> Result<Digest, BuildError> {
        let bytes = canon("manifest", manifest)?;
        let h = tagged(Tag::Manifest, &bytes);
        *self.anchors.manifest_hash_mut(kind) = Some(h);
        self.members.insert(kind.path().to_owned(), Body::Bytes(bytes));
        Ok(h)
    }

    /// Commits trace rows read from `rows`; when `include` is set the rows
    /// travel in the pack (`rows/rows.bin`), spooled through a temporary
    /// file so memory stays bounded. Records `chunk_committed` and
    /// `row_root_finalized`.
    pub fn commit_rows<R: Read>(
        &mut self,
        params: RowParams,
        mut rows: R,
        include: bool,
    ) -> Result<Commitment, BuildError> {
        if self.commitment.is_some() {
            return Err(BuildError::RowsCommitted);
        }
        if self.trace_spec.row_width != params.row_width {
            return Err(BuildError::RowWidth { spec: self.trace_spec.row_width, commitment: params.row_width });
        }
        self.event("phase", json!({"phase_id": "commit_chunks", "phase_label": "Committing trace rows"}))?;
        let mut committer = RowCommitter::new(params)?;
        let mut spool = if include { Some(tempfile::tempfile().map_err(BuildError::Spool)?) } else { None };
        let mut buf = vec![0u8; 4 << 20];
        loop {
            let n = match rows.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BuildError::Rows(RowError::Read(e))),
            };
            committer.update(&buf[..n]);
            if let Some(f) = spool.as_mut() {
                f.write_all(&buf[..n]).map_err(BuildError::Spool)?;
            }
        }
        let (commitment, leaves) = committer.finish()?;
        let n = leaves.len() as u64;
        let step = n.div_ceil(MAX_CHUNK_EVENTS).max(1);
        for (i, d) in leaves.iter().enumerate() {
            let i = i as u64;
            if i.is_multiple_of(step) || i + 1 == n {
                let rows_in = params.rows_in_chunk(commitment.row_count, i);
                self.event(
                    "chunk_committed",
                    json!({
                        "chunk_index": i,
                        "chunk_rows": rows_in,
                        "chunk_bytes": rows_in * u64::from(params.row_width),
                        "chunk_digest": d,
                        "num_chunks": n,
                    }),
                )?;
            }
        }
        self.event("row_root_finalized", json!({ "commitment": &commitment, "chunks_member": paths::CHUNKS }))?;
        let mut chunks = Vec::with_capacity(leaves.len() * 32);
        for d in &leaves {
            chunks.extend_from_slice(&d.0);
        }
        self.members.insert(paths::CHUNKS.to_owned(), Body::Bytes(chunks));
        if let Some(mut f) = spool {
            let len = f.stream_position().map_err(BuildError::Spool)?;
            f.rewind().map_err(BuildError::Spool)?;
            self.members.insert(paths::ROWS.to_owned(), Body::File(f, len));
        }
        self.commitment = Some(commitment.clone());
        Ok(commitment)
    }

    /// Locks the statement (committing the empty trace if no rows were
    /// committed): records `spec_locked` and `statement_locked`.
    pub fn lock_statement(mut self, track: &str, public_inputs: PublicInputsV1) -> Result<LockedCapsule, BuildError> {
        if !self.policy.policy.tracks.contains_key(track) {
            return Err(BuildError::UnknownTrack { track: track.to_owned(), policy: self.policy.policy.id.clone() });
        }
        if self.commitment.is_none() {
            let params = RowParams { row_width: self.trace_spec.row_width, ..RowParams::default() };
            self.commit_rows(params, io::empty(), false)?;
        }
        let Some(commitment) = self.commitment.take() else {
            unreachable!("committed above");
        };
        let spec_bytes = canon("trace spec", &self.trace_spec)?;
        let spec_hash = tagged(Tag::TraceSpec, &spec_bytes);
        self.event(
            "spec_locked",
            json!({
                "trace_spec": &self.trace_spec,
                "trace_spec_hash": spec_hash,
                "policy_id": &self.policy.policy.id,
                "policy_version": &self.policy.policy.version,
                "policy_hash": self.policy.hash,
                "anchors": &self.anchors,
            }),
        )?;
        let statement = StatementV1 {
            schema: Default::default(),
            trace_spec_hash: spec_hash,
            policy_hash: self.policy.hash,
            trace_root: commitment.root,
            track: track.to_owned(),
            public_inputs,
            anchors: self.anchors.clone(),
        };
        let st_bytes = canon("statement", &statement)?;
        let st_hash = tagged(Tag::Statement, &st_bytes);
        self.event("statement_locked", json!({ "statement": &statement, "statement_hash": st_hash }))?;
        self.members.insert(paths::TRACE_SPEC.to_owned(), Body::Bytes(spec_bytes));
        self.members.insert(paths::POLICY.to_owned(), Body::Bytes(self.policy.bytes.clone()));
        self.members.insert(paths::STATEMENT.to_owned(), Body::Bytes(st_bytes));
        Ok(LockedCapsule {
            run_id: self.run_id,
            clock: self.clock,
            events: self.events,
            observer: self.observer,
            members: self.members,
            commitment,
            statement,
            statement_hash: st_hash,
            proof: None,
            measurements: None,
        })
    }
}

fn push(
    events: &mut EventLog,
    observer: &mut Option<EventObserver>,
    ts: u64,
    kind: &str,
    data: Value,
) -> Result<(), BuildError> {
    let (e, h) = events.push(ts, kind, data).map_err(|source| BuildError::Canonical { what: "event", source })?;
    if let Some(o) = observer.as_mut() {
        o(e, h);
    }
    Ok(())
}

/// A capsule whose statement is locked: proofs and measurements may join.
pub struct LockedCapsule {
    run_id: String,
    clock: Clock,
    events: EventLog,
    observer: Option<EventObserver>,
    members: BTreeMap<String, Body>,
    commitment: Commitment,
    statement: StatementV1,
    statement_hash: Digest,
    proof: Option<ProofRefV1>,
    measurements: Option<MeasurementsV1>,
}

impl LockedCapsule {
    /// The statement hash a prover must absorb into its transcript.
    pub fn statement_hash(&self) -> Digest {
        self.statement_hash
    }

    /// The locked statement.
    pub fn statement(&self) -> &StatementV1 {
        &self.statement
    }

    /// Records a progress event.
    pub fn event(&mut self, kind: &str, data: Value) -> Result<(), BuildError> {
        let ts = (self.clock)();
        push(&mut self.events, &mut self.observer, ts, kind, data)
    }

    /// Attaches the proof made by `backend` as `proofs/<name>`; records
    /// `proof_artifact`. Returns the proof member's digest (what each
    /// proving sample row records).
    pub fn proof(&mut self, backend: &str, name: &str, bytes: Vec<u8>) -> Result<Digest, BuildError> {
        let member = format!("{}{name}", paths::PROOFS_DIR);
        if let Some(reason) = path_problem(&member) {
            return Err(BuildError::ProofName { name: name.to_owned(), reason });
        }
        let digest = tagged(Tag::Member, &bytes);
        self.event(
            "proof_artifact",
            json!({
                "backend": backend,
                "path": &member,
                "size_bytes": bytes.len(),
                "digest": digest,
            }),
        )?;
        self.members.insert(member.clone(), Body::Bytes(bytes));
        self.proof = Some(ProofRefV1 { backend: backend.to_owned(), member });
        Ok(digest)
    }

    /// Sets the measurement table; records `measurements_recorded`.
    pub fn measurements(&mut self, table: MeasurementsV1) -> Result<(), BuildError> {
        let samples: usize = table.series.iter().map(|s| s.samples.len()).sum();
        self.event("measurements_recorded", json!({ "series": table.series.len(), "samples": samples }))?;
        self.measurements = Some(table);
        Ok(())
    }

    /// Seals the capsule: the event chain closes, every member is hashed and
    /// listed, and `capsule.json` is fixed.
    pub fn seal(mut self) -> Result<SealedCapsule, BuildError> {
        let table = self.measurements.take().unwrap_or(MeasurementsV1 {
            schema: Default::default(),
            series: Vec::new(),
            looks: None,
        });
        let claims = table.derive_claims();
        let m_bytes = canon("measurements", &table)?;
        self.members.insert(paths::MEASUREMENTS.to_owned(), Body::Bytes(m_bytes));
        self.event("phase", json!({"phase_id": "seal_capsule", "phase_label": "Sealing capsule"}))?;
        let sealed_ms = (self.clock)();
        self.members.insert(paths::EVENTS.to_owned(), Body::Bytes(self.events.jsonl().to_vec()));
        let mut listed = Vec::with_capacity(self.members.len());
        for (path, body) in self.members.iter_mut() {
            // The row archive is content-addressed by its row-commitment
            // root, which binds every byte: one hash pass, for the builder
            // and the verifier alike.
            let digest = match body {
                _ if path == paths::ROWS => self.commitment.root,
                Body::Bytes(b) => tagged(Tag::Member, b),
                Body::File(f, _) => {
                    f.rewind().map_err(BuildError::Spool)?;
                    let mut h = TaggedHasher::new(Tag::Member);
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = f.read(&mut buf).map_err(BuildError::Spool)?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                    f.rewind().map_err(BuildError::Spool)?;
                    h.finish()
                }
            };
            listed.push(MemberV1 { path: path.clone(), size: body.len(), digest });
        }
        let capsule = CapsuleV1 {
            schema: Default::default(),
            run_id: self.run_id,
            sealed_ms,
            statement: self.statement_hash,
            commitment: self.commitment,
            measurements: MeasurementsRef { claims },
            proof: self.proof,
            events: EventsRef { head: self.events.head(), count: self.events.count() },
            members: listed,
        };
        let bytes = canon("capsule", &capsule)?;
        let hash = crate::digest::plain(&bytes);
        Ok(SealedCapsule { capsule, bytes, hash, events: self.events, members: self.members })
    }
}

/// A sealed capsule, ready to be packed.
pub struct SealedCapsule {
    /// The capsule.
    pub capsule: CapsuleV1,
    /// Its canonical bytes.
    pub bytes: Vec<u8>,
    /// Its hash (plain SHA-256 of `bytes`).
    pub hash: Digest,
    events: EventLog,
    members: BTreeMap<String, Body>,
}

impl SealedCapsule {
    /// The sealed event log (post-seal events go to the live stream only).
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    /// An in-memory member's bytes (`None` for spooled rows).
    pub fn member(&self, path: &str) -> Option<&[u8]> {
        match self.members.get(path)? {
            Body::Bytes(b) => Some(b),
            Body::File(..) => None,
        }
    }

    /// Writes the pack to `w`: `capsule.json`, then members by path.
    pub fn write_to<W: Write>(&mut self, w: W) -> Result<W, BuildError> {
        let mut pw = PackWriter::new(w);
        self.fill(&mut pw)?;
        Ok(pw.finish()?)
    }

    /// Writes the pack to `dest` atomically.
    pub fn write_file(&mut self, dest: &Path) -> Result<(), BuildError> {
        write_pack_file(dest, |pw| self.fill(pw))
    }

    /// Writes the pack into a temporary file beside `dest`, for a caller
    /// that verifies it before renaming it into place.
    pub fn write_beside(&mut self, dest: &Path) -> Result<tempfile::NamedTempFile, BuildError> {
        write_pack_beside(dest, |pw| self.fill(pw))
    }

    fn fill<W: Write>(&mut self, pw: &mut PackWriter<W>) -> Result<(), BuildError> {
        pw.append_bytes(paths::CAPSULE, &self.bytes)?;
        for (path, body) in self.members.iter_mut() {
            match body {
                Body::Bytes(b) => pw.append_bytes(path, b)?,
                Body::File(f, n) => {
                    f.rewind().map_err(BuildError::Spool)?;
                    pw.append(path, *n, &mut *f)?;
                }
            }
        }
        Ok(())
    }
}
