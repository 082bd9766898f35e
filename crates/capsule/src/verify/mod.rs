//! The strict verifier.
//!
//! Owns the ordered checks of every profile and the report they produce. A
//! pack is read once, streaming: `capsule.json` first, then every member is
//! hashed (and the trace rows recommitted) as it is decompressed. Profiles are
//! chosen by the verifier and fail closed: a requested profile whose checks
//! cannot run is a rejection, never a silent downgrade. Findings are data
//! ([`Finding`]); the only thing this module never does is execute or trust
//! anything a pack says about how to check it.

mod findings;
mod proof;
mod report;
mod signatures;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use findings::{Code, Finding, Severity};
pub use proof::{BackendRegistry, ProofAxis, ProofBackend, ProofCheck, ProofOutcome, Serves, provable};
pub use report::{PinnedFile, PolicyInfo, Report, ReportValue, TrustUsed, Verdict};
pub use signatures::{SignedVerdict, SignerInfo, SignerKind};

use crate::canonical::{self, CanonicalError};
use crate::digest::{Digest, Tag, TaggedHasher, tagged};
use crate::events::{CheckedChain, check_chain};
use crate::objects::{
    AnchorName, CapsuleV1, ManifestKind, MeasurementsV1, PolicyV1, PublicInputName, StatementV1, ToolchainManifestV1,
    TraceSpecV1, TrackRulesV1, ValueClass, paths,
};
use crate::pack::{Limits, Member, PackError, path_problem, read_members};
use crate::rows::{self, RowCommitter};
use crate::standard::standard_policies;

/// Verification profiles, weakest first. Each includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Every byte is bound and every hash, chain and aggregate recomputes.
    Integrity,
    /// The policy is pinned by the verifier and its rules hold; the proof
    /// axis is checked.
    Policy,
    /// A signature by an allowed signer and registry inclusion.
    Certified,
    /// Verifier-drawn data-availability samples.
    Audited,
}

impl Profile {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Integrity => "integrity",
            Profile::Policy => "policy",
            Profile::Certified => "certified",
            Profile::Audited => "audited",
        }
    }

    /// Parses a profile name.
    pub fn parse(s: &str) -> Option<Profile> {
        [Profile::Integrity, Profile::Policy, Profile::Certified, Profile::Audited]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A policy hash the verifier pins, and who pinned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyPin {
    /// The pinned hash.
    pub hash: Digest,
    /// How it was pinned (`--policy FILE`, `--policy-hash`).
    pub source: String,
}

/// What the verifier's user decides. Nothing here is read from a pack.
#[derive(Clone)]
pub struct VerifyOptions {
    /// The profile to check.
    pub profile: Profile,
    /// Policies pinned in addition to the standard ones.
    pub pins: Vec<PolicyPin>,
    /// The capsule hash the user expects, if any.
    pub expect_capsule: Option<Digest>,
    /// Container caps.
    pub limits: Limits,
    /// Bytes of members the verifier may hold in memory to parse.
    pub retain_budget: u64,
    /// Proof backends, by id.
    pub backends: BackendRegistry,
    /// The Sigstore trusted root; `None`: the embedded production root.
    pub trust_root: Option<std::sync::Arc<crate::trust::sigstore::TrustRoot>>,
    /// Who may sign, per policy id (the certified profile).
    pub acl: Option<std::sync::Arc<crate::trust::acl::Acl>>,
    /// The pinned policy registry root (the certified profile).
    pub registry_root: Option<Digest>,
    /// The external row archive and how to sample it (the audited profile).
    pub audit: Option<crate::trust::audit::AuditOptions>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            profile: Profile::Policy,
            pins: Vec::new(),
            expect_capsule: None,
            limits: Limits::default(),
            retain_budget: 128 << 20,
            backends: BackendRegistry::default(),
            trust_root: None,
            acl: None,
            registry_root: None,
            audit: None,
        }
    }
}

/// The parsed, integrity-checked objects of a pack, for `inspect` and
/// `replay`.
#[derive(Clone, Debug)]
pub struct PackContents {
    /// The capsule.
    pub capsule: CapsuleV1,
    /// The statement.
    pub statement: StatementV1,
    /// The trace spec.
    pub trace_spec: TraceSpecV1,
    /// The policy the pack claims.
    pub policy: PolicyV1,
    /// The measurement table.
    pub measurements: MeasurementsV1,
    /// The checked event chain.
    pub events: CheckedChain,
    /// Manifests present, as JSON.
    pub manifests: BTreeMap<&'static str, Value>,
}

impl PackContents {
    /// The manifest of `kind` as its typed object, when present (integrity
    /// has checked its shape).
    pub fn manifest<T: serde::de::DeserializeOwned>(&self, kind: crate::objects::ManifestKind) -> Option<T> {
        self.manifests.get(kind.path()).and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

/// What the streaming pass gathered about one member.
struct Got {
    size: u64,
    digest: Digest,
    bytes: Option<Vec<u8>>,
    leaves: Option<Vec<Digest>>,
}

/// Ends the streaming pass early with a finding.
struct Stop(Finding);

impl From<PackError> for Stop {
    fn from(e: PackError) -> Self {
        let code = Code::parse(e.code()).unwrap_or(Code::PackCorrupt);
        Stop(error(code, render_chain(&e)))
    }
}

fn render_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn error(code: Code, detail: impl Into<String>) -> Finding {
    Finding { code, severity: Severity::Error, detail: detail.into() }
}

/// Verifies the pack at `path`.
pub fn verify_pack_file(path: &Path, opts: &VerifyOptions) -> (Report, Option<PackContents>) {
    match std::fs::File::open(path) {
        Ok(f) => {
            let mut r = verify_pack(std::io::BufReader::with_capacity(1 << 20, f), opts);
            r.0.pack = Some(path.display().to_string());
            r
        }
        Err(e) => {
            let mut rep = Report::new(opts.profile);
            rep.pack = Some(path.display().to_string());
            rep.reject(error(Code::PackIo, format!("failed to open `{}`: {e}", path.display())));
            (rep, None)
        }
    }
}

/// Verifies the pack at `pack` at `opts.profile` and, when it is accepted,
/// unpacks those same bytes into the new directory `dest`. The pack is first
/// copied into a private temporary directory beside `dest`, so the bytes
/// verified are the bytes extracted even if the file changes meanwhile.
/// Returns the report and, when accepted, the unpacked member paths.
pub fn verify_and_unpack(
    pack: &Path,
    dest: &Path,
    opts: &VerifyOptions,
) -> Result<(Report, Option<Vec<std::path::PathBuf>>), PackError> {
    if dest.exists() {
        return Err(PackError::DestinationExists { path: dest.display().to_string() });
    }
    let parent = crate::pack::parent_dir(dest);
    let write_err = |path: &Path, source| PackError::Write { path: path.display().to_string(), source };
    let private =
        tempfile::Builder::new().prefix(".capsule-verify-").tempdir_in(parent).map_err(|e| write_err(parent, e))?;
    let copy = private.path().join("pack.tgz");
    {
        let mut from =
            std::fs::File::open(pack).map_err(|source| PackError::Open { path: pack.display().to_string(), source })?;
        let mut to = std::fs::File::create(&copy).map_err(|e| write_err(&copy, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut from, &mut buf)
                .map_err(|source| PackError::Open { path: pack.display().to_string(), source })?;
            if n == 0 {
                break;
            }
            std::io::Write::write_all(&mut to, &buf[..n]).map_err(|e| write_err(&copy, e))?;
        }
    }
    let (mut report, _) = verify_pack_file(&copy, opts);
    report.pack = Some(pack.display().to_string());
    if !report.accepted() {
        return Ok((report, None));
    }
    let written = crate::pack::unpack(&copy, dest, &opts.limits)?;
    Ok((report, Some(written)))
}

/// Verifies a pack read from `r`.
pub fn verify_pack<R: BufRead>(r: R, opts: &VerifyOptions) -> (Report, Option<PackContents>) {
    let mut rep = Report::new(opts.profile);
    let loaded = match load(r, opts) {
        Ok(l) => l,
        Err(Stop(f)) => {
            rep.reject(f);
            return (rep, None);
        }
    };
    rep.capsule_hash = Some(loaded.hash);
    rep.run_id = Some(loaded.capsule.run_id.clone());
    let contents = integrity(&loaded, opts, &mut rep);
    let Some(contents) = contents.filter(|_| rep.findings.is_empty()) else {
        rep.finish();
        return (rep, None);
    };
    rep.passed.push(Profile::Integrity);
    if opts.profile >= Profile::Policy {
        policy_profile(&loaded, &contents, opts, &mut rep);
        if rep.findings.iter().all(|f| f.severity != Severity::Error) {
            rep.passed.push(Profile::Policy);
        }
    } else {
        describe_policy(&contents, opts, &mut rep);
    }
    rep.trust = TrustUsed {
        acl: opts.acl.as_ref().map(|a| report::PinnedFile { source: a.source.clone(), hash: a.hash }),
        registry_root: opts.registry_root,
        trusted_root: opts.trust_root.as_ref().map(|r| r.source.clone()),
    };
    // The stronger profiles run their checks whenever the policy holds, so
    // one report names everything missing; each passes only on top of the
    // one before.
    // An imported receipt is refused by the certified track whatever else
    // holds: its values were read from a third-party file.
    if opts.profile >= Profile::Certified && contents.statement.anchors.imported_source_hash.is_some() {
        rep.reject(error(
            Code::CertifiedImported,
            "an imported receipt (values read from a third-party file) cannot be certified",
        ));
    }
    if opts.profile >= Profile::Certified && rep.passed.contains(&Profile::Policy) {
        let before = rep.error_count();
        signatures::check_certified(&contents, opts, &mut rep);
        if rep.error_count() == before {
            rep.passed.push(Profile::Certified);
        }
    }
    if opts.profile >= Profile::Audited && rep.passed.contains(&Profile::Policy) {
        let before = rep.error_count();
        signatures::check_audited(&contents, opts, &mut rep);
        if rep.error_count() == before && rep.passed.contains(&Profile::Certified) {
            rep.passed.push(Profile::Audited);
        }
    }
    values::describe(&loaded, &contents, &mut rep);
    rep.finish();
    (rep, Some(contents))
}

struct Loaded {
    capsule: CapsuleV1,
    hash: Digest,
    members: BTreeMap<String, Got>,
    /// The `signatures/` members, path and bytes, in pack order.
    signatures: Vec<(String, Vec<u8>)>,
}

/// Largest JSON object member (capsule, trace spec, statement, policy,
/// manifests): 1 MiB.
pub const MAX_JSON_OBJECT_BYTES: u64 = 1 << 20;

/// Largest event log or measurement table: 4 MiB.
pub const MAX_JSON_LOG_BYTES: u64 = 4 << 20;

fn is_json_member(path: &str) -> bool {
    matches!(path, paths::TRACE_SPEC | paths::POLICY | paths::STATEMENT | paths::MEASUREMENTS | paths::EVENTS)
        || (path.starts_with(paths::MANIFESTS_DIR) && path.ends_with(".json"))
}

fn load<R: BufRead>(r: R, opts: &VerifyOptions) -> Result<Loaded, Stop> {
    let mut capsule: Option<(CapsuleV1, Digest)> = None;
    let mut listed: BTreeMap<String, (u64, Digest)> = BTreeMap::new();
    let mut members = BTreeMap::new();
    let mut signatures: Vec<(String, Vec<u8>)> = Vec::new();
    let mut budget = opts.retain_budget;
    // Canonical order: capsule.json, the listed members by path, then
    // signatures by path. One capsule has exactly one pack layout.
    let mut last_listed: Option<String> = None;
    read_members::<_, Stop, _>(r, &opts.limits, |m: &mut Member<'_>| {
        let Some((cap, _)) = capsule.as_ref() else {
            if m.path != paths::CAPSULE {
                return Err(Stop(error(Code::CapsuleMissing, format!("first member is `{}`", m.path))));
            }
            if m.size > budget {
                return Err(Stop(error(Code::MemberTooLargeToCheck, "capsule.json")));
            }
            budget -= m.size;
            if m.size > MAX_JSON_OBJECT_BYTES {
                return Err(Stop(error(
                    Code::MemberTooLargeToCheck,
                    format!("capsule.json is {} bytes; at most {MAX_JSON_OBJECT_BYTES}", m.size),
                )));
            }
            let bytes = m.read_all()?;
            let c: CapsuleV1 =
                canonical::parse(&bytes).map_err(|e| Stop(error(Code::CapsuleMalformed, render_chain(&e))))?;
            check_listing(&c)?;
            for mem in &c.members {
                listed.insert(mem.path.clone(), (mem.size, mem.digest));
            }
            capsule = Some((c, crate::digest::plain(&bytes)));
            return Ok(());
        };
        if m.path.starts_with(paths::SIGNATURES_DIR) {
            if signatures.last().is_some_and(|(p, _)| p.as_str() >= m.path) {
                return Err(Stop(error(Code::PackMemberOrder, format!("`{}` is out of order", m.path))));
            }
            if m.size > MAX_JSON_OBJECT_BYTES || m.size > budget {
                return Err(Stop(error(
                    Code::MemberTooLargeToCheck,
                    format!("`{}` is {} bytes; a signature may hold at most {MAX_JSON_OBJECT_BYTES}", m.path, m.size),
                )));
            }
            budget -= m.size;
            signatures.push((m.path.to_owned(), m.read_all()?));
            return Ok(());
        }
        if !listed.contains_key(m.path) {
            return Err(Stop(error(Code::MemberUnlisted, format!("`{}` is not listed by the capsule", m.path))));
        }
        if !signatures.is_empty() || last_listed.as_deref().is_some_and(|p| p >= m.path) {
            return Err(Stop(error(
                Code::PackMemberOrder,
                format!("`{}` is out of order: listed members come sorted by path, signatures last", m.path),
            )));
        }
        last_listed = Some(m.path.to_owned());
        // Every proof is checked, so every proof is held (within budget).
        let retain = is_json_member(m.path) || m.path == paths::CHUNKS || m.path.starts_with(paths::PROOFS_DIR);
        // Parsing JSON costs far more memory than its bytes (a `Value` per
        // element), so JSON members have their own, smaller caps.
        let json_cap = match m.path {
            paths::EVENTS | paths::MEASUREMENTS => Some(MAX_JSON_LOG_BYTES),
            p if is_json_member(p) => Some(MAX_JSON_OBJECT_BYTES),
            _ => None,
        };
        if let Some(limit) = json_cap
            && m.size > limit
        {
            return Err(Stop(error(
                Code::MemberTooLargeToCheck,
                format!("`{}` is {} bytes; JSON members of its kind may hold at most {limit}", m.path, m.size),
            )));
        }
        if retain && m.size > budget {
            return Err(Stop(error(
                Code::MemberTooLargeToCheck,
                format!("`{}` is {} bytes; the verifier's budget is {budget}", m.path, m.size),
            )));
        }
        // The row archive's listed digest is its row-commitment root; every
        // other member's is the member-tagged hash of its bytes.
        let mut committer = if m.path == paths::ROWS { Some(rows_committer(cap, m.size, &mut budget)?) } else { None };
        let mut hasher = TaggedHasher::new(Tag::Member);
        let mut kept = retain.then(|| Vec::with_capacity(m.size as usize));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = m.read(&mut buf).map_err(|e| Stop::from(PackError::Corrupt(e)))?;
            if n == 0 {
                break;
            }
            let piece = &buf[..n];
            match committer.as_mut() {
                Some(c) => c.update(piece),
                None => hasher.update(piece),
            }
            if let Some(k) = kept.as_mut() {
                k.extend_from_slice(piece);
            }
        }
        if retain {
            budget -= m.size;
        }
        let (digest, leaves) = match committer {
            Some(c) => match c.finish() {
                Ok((commitment, leaves)) => (commitment.root, Some(leaves)),
                Err(e) => {
                    return Err(Stop(error(Code::RowsMismatch, format!("`{}`: {}", m.path, render_chain(&e)))));
                }
            },
            None => (hasher.finish(), None),
        };
        members.insert(m.path.to_owned(), Got { size: m.size, digest, bytes: kept, leaves });
        Ok(())
    })?;
    let Some((capsule, hash)) = capsule else {
        return Err(Stop(error(Code::CapsuleMissing, "the pack is empty")));
    };
    Ok(Loaded { capsule, hash, members, signatures })
}

/// A committer for `rows/rows.bin`, after checking, before a byte is hashed,
/// that the member is exactly the committed rows and that its chunk digests
/// fit the verifier's memory budget (so hostile parameters such as 1-byte
/// rows in 1-row chunks cannot make the verifier hold billions of digests).
fn rows_committer(cap: &CapsuleV1, size: u64, budget: &mut u64) -> Result<RowCommitter, Stop> {
    let c = &cap.commitment;
    let params = c.params();
    let committer = RowCommitter::new(params).map_err(|e| Stop(error(Code::CommitmentMalformed, render_chain(&e))))?;
    let expected = c.row_count.checked_mul(u64::from(c.row_width));
    if expected != Some(size) || c.chunk_count != params.chunk_count(c.row_count) {
        return Err(Stop(error(
            Code::RowsMismatch,
            format!(
                "`{}` is {size} bytes; the commitment holds {} rows of {} bytes in {} chunks",
                paths::ROWS,
                c.row_count,
                c.row_width,
                c.chunk_count
            ),
        )));
    }
    let digests = c.chunk_count.saturating_mul(32);
    if digests > *budget {
        return Err(Stop(error(
            Code::MemberTooLargeToCheck,
            format!("{} chunk digests exceed the verifier's budget of {} bytes", c.chunk_count, budget),
        )));
    }
    *budget -= digests;
    Ok(committer)
}

/// Checks the capsule's own member list: sorted, unique, safe paths within
/// the layout.
fn check_listing(c: &CapsuleV1) -> Result<(), Stop> {
    let mut prev: Option<&str> = None;
    let mut listed = BTreeSet::new();
    for m in &c.members {
        if let Some(other) = crate::pack::read::conflict(&listed, &m.path) {
            return Err(Stop(error(
                Code::PackPathConflict,
                format!("listed paths `{other}` and `{}`: one would be a directory of the other", m.path),
            )));
        }
        listed.insert(m.path.clone());
        if let Some(reason) = path_problem(&m.path) {
            return Err(Stop(error(Code::CapsuleMalformed, format!("listed path `{}`: {reason}", m.path))));
        }
        if prev.is_some_and(|p| p >= m.path.as_str()) {
            return Err(Stop(error(
                Code::CapsuleMalformed,
                format!("members are not sorted and unique at `{}`", m.path),
            )));
        }
        prev = Some(&m.path);
        let known = matches!(
            m.path.as_str(),
            paths::TRACE_SPEC
                | paths::POLICY
                | paths::STATEMENT
                | paths::MEASUREMENTS
                | paths::EVENTS
                | paths::CHUNKS
                | paths::ROWS
        ) || ManifestKind::ALL.iter().any(|k| k.path() == m.path)
            || m.path.starts_with(paths::PROOFS_DIR)
            || m.path == paths::IMPORTED_SOURCE;
        if !known {
            return Err(Stop(error(Code::MemberUnknown, format!("`{}` is outside the pack layout", m.path))));
        }
    }
    Ok(())
}

/// A JSON member that failed its strict parse: malformed when the schema
/// rejected it, not canonical otherwise.
fn object_finding(path: &str, e: &CanonicalError) -> Finding {
    let code = match e {
        CanonicalError::Schema(_) => Code::ObjectMalformed,
        _ => Code::ObjectNotCanonical,
    };
    error(code, format!("`{path}`: {}", render_chain(e)))
}

fn parse_member<T: DeserializeOwned + Serialize>(loaded: &Loaded, path: &str, rep: &mut Report) -> Option<T> {
    let bytes = loaded.members.get(path)?.bytes.as_ref()?;
    match canonical::parse::<T>(bytes) {
        Ok(t) => Some(t),
        Err(e) => {
            rep.reject(object_finding(path, &e));
            None
        }
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_full_hex_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && is_lower_hex(s)
}

fn integrity(loaded: &Loaded, opts: &VerifyOptions, rep: &mut Report) -> Option<PackContents> {
    let cap = &loaded.capsule;
    if let Some(expected) = opts.expect_capsule
        && expected != loaded.hash
    {
        rep.reject(error(Code::CapsuleHashUnexpected, format!("capsule hash is {}, expected {expected}", loaded.hash)));
    }
    for m in &cap.members {
        match loaded.members.get(&m.path) {
            None => rep.reject(error(Code::MemberMissing, format!("`{}` is listed but absent", m.path))),
            Some(g) if g.size != m.size => rep.reject(error(
                Code::MemberSizeMismatch,
                format!("`{}` is {} bytes, listed as {}", m.path, g.size, m.size),
            )),
            Some(g) if g.digest != m.digest && m.path == paths::ROWS => rep.reject(error(
                Code::RowsMismatch,
                format!(
                    "`{}` recommits to {} under the capsule's parameters, listed as {}",
                    m.path, g.digest, m.digest
                ),
            )),
            Some(g) if g.digest != m.digest => rep.reject(error(
                Code::MemberDigestMismatch,
                format!("`{}` hashes to {}, listed as {}", m.path, g.digest, m.digest),
            )),
            Some(_) => {}
        }
    }
    for required in
        [paths::TRACE_SPEC, paths::POLICY, paths::STATEMENT, paths::MEASUREMENTS, paths::EVENTS, paths::CHUNKS]
    {
        if !cap.members.iter().any(|m| m.path == required) {
            rep.reject(error(Code::MemberMissing, format!("the layout requires `{required}`")));
        }
    }
    if let Some(p) = &cap.proof
        && !(p.member.starts_with(paths::PROOFS_DIR) && cap.members.iter().any(|m| m.path == p.member))
    {
        rep.reject(error(
            Code::MemberMissing,
            format!("proof member `{}` is not a listed member under proofs/", p.member),
        ));
    }
    if !rep.findings.is_empty() {
        return None;
    }

    let spec: Option<TraceSpecV1> = parse_member(loaded, paths::TRACE_SPEC, rep);
    let policy: Option<PolicyV1> = parse_member(loaded, paths::POLICY, rep);
    let statement: Option<StatementV1> = parse_member(loaded, paths::STATEMENT, rep);
    let measurements: Option<MeasurementsV1> = parse_member(loaded, paths::MEASUREMENTS, rep);
    let (spec, policy, statement, measurements) = (spec?, policy?, statement?, measurements?);
    let bytes_of = |p: &str| loaded.members.get(p).and_then(|g| g.bytes.as_deref()).unwrap_or_default();

    let spec_hash = tagged(Tag::TraceSpec, bytes_of(paths::TRACE_SPEC));
    if spec_hash != statement.trace_spec_hash {
        rep.reject(error(
            Code::TraceSpecHashMismatch,
            format!("trace spec hashes to {spec_hash}, statement says {}", statement.trace_spec_hash),
        ));
    }
    let policy_hash = tagged(Tag::Policy, bytes_of(paths::POLICY));
    if policy_hash != statement.policy_hash {
        rep.reject(error(
            Code::PolicyHashMismatch,
            format!("policy hashes to {policy_hash}, statement says {}", statement.policy_hash),
        ));
    }
    let st_hash = tagged(Tag::Statement, bytes_of(paths::STATEMENT));
    if st_hash != cap.statement {
        rep.reject(error(
            Code::StatementHashMismatch,
            format!("statement hashes to {st_hash}, capsule says {}", cap.statement),
        ));
    }

    check_commitment(loaded, &spec, &statement, rep);
    check_anchors(&statement, rep);
    let manifests = check_manifests(loaded, &statement, rep);

    let events = match check_chain(bytes_of(paths::EVENTS), &cap.run_id) {
        Ok(chain) => {
            if chain.head != cap.events.head || chain.events.len() as u64 != cap.events.count {
                rep.reject(error(
                    Code::EventsHeadMismatch,
                    format!(
                        "chain has {} events ending {}, capsule sealed {} ending {}",
                        chain.events.len(),
                        chain.head,
                        cap.events.count,
                        cap.events.head
                    ),
                ));
            }
            Some(chain)
        }
        Err(e) => {
            rep.reject(error(Code::EventsChainBroken, render_chain(&e)));
            None
        }
    };
    check_measurements(cap, &measurements, rep);
    check_imported(cap, &statement, &measurements, rep);
    let contents = PackContents {
        capsule: cap.clone(),
        statement,
        trace_spec: spec,
        policy,
        measurements,
        events: events?,
        manifests,
    };
    signatures::check_signatures(&loaded.hash, &loaded.signatures, &contents, opts, rep);
    Some(contents)
}

/// An imported receipt carries its source file under its own anchor, and
/// all its series (and only an imported receipt's) are classed imported.
fn check_imported(cap: &CapsuleV1, statement: &StatementV1, m: &MeasurementsV1, rep: &mut Report) {
    let anchor = statement.anchors.imported_source_hash;
    let listed = cap.members.iter().find(|x| x.path == paths::IMPORTED_SOURCE).map(|x| x.digest);
    let problem = match (anchor, listed) {
        (Some(a), Some(d)) if a != d => {
            Some(format!("`{}` hashes to {d}; the anchor says {a}", paths::IMPORTED_SOURCE))
        }
        (Some(_), None) => {
            Some(format!("the anchor names an imported source but `{}` is absent", paths::IMPORTED_SOURCE))
        }
        (None, Some(_)) => Some(format!("`{}` is present but no anchor binds it", paths::IMPORTED_SOURCE)),
        _ => None,
    }
    .or_else(|| {
        let imported = m.series.iter().filter(|s| s.class == ValueClass::Imported).count();
        match (anchor.is_some(), imported) {
            (false, n) if n > 0 => Some(format!("{n} series are classed imported but the receipt names no source")),
            (true, n) if n < m.series.len() => {
                Some("every series of an imported receipt must be classed imported".to_owned())
            }
            _ => None,
        }
    });
    if let Some(p) = problem {
        rep.reject(error(Code::ImportedSourceMismatch, p));
    }
}

fn check_commitment(loaded: &Loaded, spec: &TraceSpecV1, statement: &StatementV1, rep: &mut Report) {
    let c = &loaded.capsule.commitment;
    let params = c.params();
    if c.scheme != rows::SCHEME || params.validate().is_err() {
        rep.reject(error(Code::CommitmentMalformed, format!("unsupported scheme or parameters: {params:?}")));
        return;
    }
    if spec.row_width != c.row_width {
        rep.reject(error(
            Code::CommitmentMalformed,
            format!("trace spec row width {} differs from the commitment's {}", spec.row_width, c.row_width),
        ));
    }
    if c.chunk_count != params.chunk_count(c.row_count) {
        rep.reject(error(
            Code::CommitmentMalformed,
            format!("{} rows make {} chunks, not {}", c.row_count, params.chunk_count(c.row_count), c.chunk_count),
        ));
        return;
    }
    let Some(chunks) = loaded.members.get(paths::CHUNKS).and_then(|g| g.bytes.as_ref()) else {
        return;
    };
    if chunks.len() as u64 != c.chunk_count * 32 {
        rep.reject(error(
            Code::CommitmentMalformed,
            format!("`{}` holds {} bytes, not 32 per chunk", paths::CHUNKS, chunks.len()),
        ));
        return;
    }
    let leaves: Vec<Digest> = chunks
        .chunks_exact(32)
        .map(|b| {
            let mut d = [0u8; 32];
            d.copy_from_slice(b);
            Digest(d)
        })
        .collect();
    let root = rows::root_from_leaves(&params, c.row_count, &leaves);
    if root != c.root || root != statement.trace_root {
        rep.reject(error(
            Code::TraceRootMismatch,
            format!("chunks recompute to {root}; capsule says {}, statement says {}", c.root, statement.trace_root),
        ));
    }
    if let Some(got) = loaded.members.get(paths::ROWS) {
        let ok = got.leaves.as_ref().is_some_and(|l| *l == leaves) && got.size == c.row_count * u64::from(c.row_width);
        if !ok {
            rep.reject(error(Code::RowsMismatch, format!("`{}` does not recommit to the listed chunks", paths::ROWS)));
        }
    }
}

fn check_anchors(statement: &StatementV1, rep: &mut Report) {
    let a = &statement.anchors;
    if let Some(n) = &a.run_nonce
        && !(n.len() == 64 && is_lower_hex(n))
    {
        rep.reject(error(Code::AnchorMalformed, format!("`run_nonce` is `{n}`, not 64 lowercase hex digits")));
    }
    for (name, v) in [("workload_commit", &a.workload_commit), ("workflow_commit", &a.workflow_commit)] {
        if let Some(v) = v
            && !is_full_hex_commit(v)
        {
            rep.reject(error(Code::AnchorMalformed, format!("`{name}` is `{v}`, not a full 40/64-hex commit")));
        }
    }
    for (k, v) in &statement.public_inputs.parameters {
        if !(v.is_string() || v.is_boolean() || v.is_i64() || v.is_u64()) {
            rep.reject(error(Code::AnchorMalformed, format!("parameter `{k}` is not a string, integer or boolean")));
        }
    }
}

fn check_manifests(loaded: &Loaded, statement: &StatementV1, rep: &mut Report) -> BTreeMap<&'static str, Value> {
    let a = &statement.anchors;
    let mut out = BTreeMap::new();
    // An image digest means nothing without the container manifest that
    // says how it ran.
    if a.container_image_digest.is_some() && a.container_manifest_hash.is_none() {
        rep.reject(error(
            Code::ManifestAnchorMismatch,
            "anchor `container_image_digest` is set but there is no container manifest".to_owned(),
        ));
    }
    for kind in ManifestKind::ALL {
        let anchor = a.manifest_hash(kind);
        let bytes = loaded.members.get(kind.path()).and_then(|g| g.bytes.as_ref());
        match (bytes, anchor) {
            (None, None) => {}
            (Some(b), Some(h)) => {
                let got = tagged(Tag::Manifest, b);
                if got != h {
                    rep.reject(error(
                        Code::ManifestAnchorMismatch,
                        format!("`{}` hashes to {got}, anchor `{}` says {h}", kind.path(), kind.anchor()),
                    ));
                    continue;
                }
                let parsed = match kind {
                    ManifestKind::Hardware => typed::<crate::objects::HardwareManifestV1>(b),
                    ManifestKind::Os => typed::<crate::objects::OsManifestV1>(b),
                    ManifestKind::Toolchain => typed::<ToolchainManifestV1>(b),
                    ManifestKind::Git => typed::<crate::objects::GitManifestV1>(b),
                    ManifestKind::Ci => typed::<crate::objects::CiManifestV1>(b),
                    ManifestKind::Container => typed::<crate::objects::ContainerManifestV1>(b),
                };
                match parsed {
                    Ok(v) => {
                        if let Some(why) = manifest_contradicts_anchors(kind, &v, a) {
                            rep.reject(error(Code::ManifestAnchorMismatch, format!("`{}`: {why}", kind.path())));
                        }
                        out.insert(kind.path(), v);
                    }
                    Err(e) => {
                        rep.reject(object_finding(kind.path(), &e));
                    }
                }
            }
            (None, Some(_)) => rep.reject(error(
                Code::ManifestAnchorMismatch,
                format!("anchor `{}` is set but `{}` is absent", kind.anchor(), kind.path()),
            )),
            (Some(_), None) => rep.reject(error(
                Code::ManifestAnchorMismatch,
                format!("`{}` is present but anchor `{}` is not set", kind.path(), kind.anchor()),
            )),
        }
    }
    out
}

/// Manifests repeat some anchors (the commit, the CI run, the image
/// digest); the two must agree.
fn manifest_contradicts_anchors(kind: ManifestKind, v: &Value, a: &crate::objects::AnchorsV1) -> Option<String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let pairs: Vec<(&str, Option<String>, Option<String>)> = match kind {
        ManifestKind::Git => vec![("workload_commit", s("commit"), a.workload_commit.clone())],
        ManifestKind::Ci => vec![
            ("workflow_commit", s("workflow_commit"), a.workflow_commit.clone()),
            ("run_uri", s("run_uri"), a.run_uri.clone()),
            ("run_attempt", v.get("run_attempt").map(|x| x.to_string()), a.run_attempt.map(|x| x.to_string())),
        ],
        ManifestKind::Container => {
            // The reference that ran must name the pinned digest itself.
            if let (Some(image), Some(d)) = (s("image"), s("image_digest"))
                && !image.ends_with(&format!("@{d}"))
            {
                return Some(format!("image `{image}` is not the pinned digest {d}"));
            }
            vec![("container_image_digest", s("image_digest"), a.container_image_digest.map(|d| d.to_string()))]
        }
        _ => Vec::new(),
    };
    pairs.into_iter().find(|(_, m, an)| m != an).map(|(name, m, an)| {
        format!(
            "says {} but anchor `{name}` says {}",
            m.as_deref().unwrap_or("nothing"),
            an.as_deref().unwrap_or("nothing")
        )
    })
}

fn typed<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let t: T = canonical::parse(bytes)?;
    serde_json::to_value(t).map_err(CanonicalError::Serialize)
}

fn check_measurements(cap: &CapsuleV1, m: &MeasurementsV1, rep: &mut Report) {
    if let Some(looks @ 0..=1) = m.looks {
        rep.reject(error(
            Code::MeasurementsMalformed,
            format!("`looks` is {looks}; it is written only for a run that could look at least twice"),
        ));
    }
    let mut ids = BTreeSet::new();
    let mut expected = BTreeMap::new();
    for s in &m.series {
        if !ids.insert(s.id.as_str()) {
            rep.reject(error(Code::MeasurementsMalformed, format!("series `{}` appears twice", s.id)));
        }
        if matches!(s.class, ValueClass::Proven | ValueClass::Recomputed) {
            rep.reject(error(
                Code::MeasurementsMalformed,
                format!(
                    "series `{}` claims class `{}`; samples can only be measured, harness-reported or imported",
                    s.id,
                    s.class.as_str()
                ),
            ));
        }
        let metric_set: BTreeSet<&str> = s.metrics.iter().map(String::as_str).collect();
        if metric_set.len() != s.metrics.len() {
            rep.reject(error(Code::MeasurementsMalformed, format!("series `{}` repeats a metric", s.id)));
        }
        for (i, sample) in s.samples.iter().enumerate() {
            if sample.rep as usize != i || sample.values.len() != s.metrics.len() {
                rep.reject(error(
                    Code::MeasurementsMalformed,
                    format!("series `{}` sample {i}: repetition index or value count is wrong", s.id),
                ));
                return;
            }
        }
        for (i, metric) in s.metrics.iter().enumerate() {
            if let Some(a) = s.aggregates(i) {
                expected.insert((s.id.clone(), metric.clone()), a);
            }
        }
    }
    let mut claimed = BTreeMap::new();
    for c in &cap.measurements.claims {
        if claimed.insert((c.series.clone(), c.metric.clone()), c.aggregates).is_some() {
            rep.reject(error(
                Code::MeasurementClaimMismatch,
                format!("claim for `{}`/`{}` appears twice", c.series, c.metric),
            ));
        }
    }
    for (key, want) in &expected {
        match claimed.get(key) {
            Some(got) if got == want => {}
            Some(got) => rep.reject(error(
                Code::MeasurementClaimMismatch,
                format!("`{}`/`{}`: capsule claims {got:?}, samples give {want:?}", key.0, key.1),
            )),
            None => rep.reject(error(
                Code::MeasurementClaimMismatch,
                format!("`{}`/`{}` has samples but no claim", key.0, key.1),
            )),
        }
    }
    for key in claimed.keys() {
        if !expected.contains_key(key) {
            rep.reject(error(
                Code::MeasurementClaimMismatch,
                format!("claim for `{}`/`{}` has no measured samples", key.0, key.1),
            ));
        }
    }
}

/// RUSTFLAGS as codegen settings, the way rustc reads them: `-C x=y`,
/// `-Cx=y`, `--codegen x=y` and `--codegen=x=y` all become `x=y`, `_` in the
/// key reads as `-`, and a `target-feature` list becomes one setting per
/// feature. Other flags are kept as written.
pub fn normalize_rustflags(flags: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = flags.iter();
    while let Some(f) = it.next() {
        let setting = if f == "-C" || f == "--codegen" {
            it.next().cloned()
        } else if let Some(r) = f.strip_prefix("--codegen=").or_else(|| f.strip_prefix("-C")) {
            Some(r.to_owned())
        } else {
            out.push(f.clone());
            continue;
        };
        let Some(setting) = setting else { continue };
        let (key, value) = setting.split_once('=').unwrap_or((&setting, ""));
        let key = key.replace('_', "-");
        if key == "target-feature" {
            out.extend(value.split(',').filter(|p| !p.is_empty()).map(|p| format!("target-feature={p}")));
        } else if value.is_empty() {
            out.push(key);
        } else {
            out.push(format!("{key}={value}"));
        }
    }
    out
}

/// What a toolchain does that a track forbids, one sentence per setting.
/// The runner refuses a run with the same rules before it starts.
pub fn track_violations(track: &str, rules: &TrackRulesV1, tc: &ToolchainManifestV1) -> Vec<String> {
    let mut out = Vec::new();
    for setting in normalize_rustflags(&tc.rustflags) {
        if let Some(bad) = rules.forbidden_rustflags.iter().find(|f| setting.contains(f.as_str())) {
            out.push(format!("RUSTFLAGS entry `{setting}` matches `{bad}`, forbidden on track `{track}`"));
        }
    }
    for feat in &tc.features {
        // `dep/feature` enables `feature` of a dependency: the same setting.
        let name = feat.rsplit('/').next().unwrap_or(feat);
        if rules.forbidden_features.iter().any(|f| f == name) {
            out.push(format!("feature `{feat}` is forbidden on track `{track}`"));
        }
    }
    if !rules.allow_gpu && !tc.accelerators.is_empty() {
        out.push(format!("accelerators {:?} are used on track `{track}`", tc.accelerators));
    }
    out
}

fn pinned_by(hash: &Digest, opts: &VerifyOptions) -> Option<String> {
    if let Some((name, _)) = standard_policies().iter().find(|(_, p)| p.hash == *hash) {
        return Some(format!("standard:{name}"));
    }
    opts.pins.iter().find(|p| p.hash == *hash).map(|p| p.source.clone())
}

fn describe_policy(c: &PackContents, opts: &VerifyOptions, rep: &mut Report) {
    rep.policy = Some(PolicyInfo {
        id: c.policy.id.clone(),
        version: c.policy.version.clone(),
        hash: c.statement.policy_hash,
        pinned_by: pinned_by(&c.statement.policy_hash, opts).unwrap_or_else(|| "self-chosen".to_owned()),
    });
}

fn anchor_present(a: &crate::objects::AnchorsV1, name: AnchorName) -> bool {
    match name {
        AnchorName::WorkloadCommit => a.workload_commit.is_some(),
        AnchorName::WorkflowCommit => a.workflow_commit.is_some(),
        AnchorName::ContainerImageDigest => a.container_image_digest.is_some(),
        AnchorName::HardwareManifestHash => a.hardware_manifest_hash.is_some(),
        AnchorName::OsFingerprintHash => a.os_fingerprint_hash.is_some(),
        AnchorName::ToolchainHash => a.toolchain_hash.is_some(),
        AnchorName::WorkloadInputHash => a.workload_input_hash.is_some(),
        AnchorName::ImportedSourceHash => a.imported_source_hash.is_some(),
    }
}

fn policy_profile(loaded: &Loaded, c: &PackContents, opts: &VerifyOptions, rep: &mut Report) {
    describe_policy(c, opts, rep);
    let policy = &c.policy;
    let st = &c.statement;
    if pinned_by(&st.policy_hash, opts).is_none() {
        rep.reject(error(
            Code::PolicySelfChosen,
            format!(
                "policy `{}` {} ({}) is not pinned; name it with --policy FILE or --policy-hash",
                policy.id, policy.version, st.policy_hash
            ),
        ));
    }
    // Track rules.
    match policy.tracks.get(&st.track) {
        None => rep.reject(error(Code::PolicyTrackUnknown, format!("track `{}`", st.track))),
        Some(rules) => {
            // Forbidding a setting, or asking that accelerators be declared,
            // both need the toolchain manifest to check against.
            let has_rules = !rules.forbidden_rustflags.is_empty()
                || !rules.forbidden_features.is_empty()
                || !rules.allow_gpu
                || rules.accelerators_declared;
            match c.manifests.get(ManifestKind::Toolchain.path()) {
                None if has_rules => rep.reject(error(
                    Code::PolicyTrackUnverifiable,
                    format!("track `{}` forbids settings; `manifests/toolchain.json` is absent", st.track),
                )),
                None => {}
                Some(v) => {
                    if let Ok(tc) = serde_json::from_value::<ToolchainManifestV1>(v.clone()) {
                        for why in track_violations(&st.track, rules, &tc) {
                            rep.reject(error(Code::PolicyTrackViolation, why));
                        }
                    }
                }
            }
        }
    }
    for a in &policy.required_anchors {
        if !anchor_present(&st.anchors, *a) {
            rep.reject(error(Code::PolicyAnchorMissing, format!("`{}`", a.as_str())));
        }
    }
    if let Some(fixed) = &policy.container_limits {
        let ran = c.manifest::<crate::objects::ContainerManifestV1>(crate::objects::ManifestKind::Container);
        match ran {
            None => rep.reject(error(
                Code::PolicyContainerLimits,
                "the policy fixes container limits and the pack ran in no container".to_owned(),
            )),
            Some(m) if m.limits_requested != *fixed => rep.reject(error(
                Code::PolicyContainerLimits,
                format!("the container had {:?}; the policy fixes {fixed:?}", m.limits_requested),
            )),
            Some(_) => {}
        }
    }
    for p in &policy.required_public_inputs {
        let present = match p {
            PublicInputName::Parameters => !st.public_inputs.parameters.is_empty(),
            PublicInputName::ResultDigest => st.public_inputs.result_digest.is_some(),
        };
        if !present {
            rep.reject(error(
                Code::PolicyPublicInputMissing,
                format!(
                    "`{}`",
                    serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                ),
            ));
        }
    }
    let proc_ = &policy.measurement;
    if proc_.aggregation != "median" {
        rep.reject(error(Code::PolicyUnsupported, format!("aggregation `{}`", proc_.aggregation)));
    }
    if c.measurements.series.is_empty() {
        rep.reject(error(Code::PolicyRepetitions, "the measurement table has no series"));
    }
    let mut worst_case = Vec::new();
    for w in &proc_.worst_case {
        match crate::objects::WorstCase::parse(w) {
            Some(w) => worst_case.push(w),
            None => rep.reject(error(Code::PolicyUnsupported, format!("worst-case statistic `{w}`"))),
        }
    }
    let proving = loaded.capsule.proof.is_some();
    for s in &c.measurements.series {
        // The runner records its warmups; a harness (criterion, hyperfine)
        // or an imported file ran its own and exports none, so its series
        // must record none.
        let runner_measured = s.class == ValueClass::Measured;
        let want_warm = if runner_measured { u64::from(proc_.warmups) } else { 0 };
        let warm: Vec<bool> = s.samples.iter().map(|x| x.warmup).collect();
        let n_warm = warm.iter().filter(|w| **w).count() as u64;
        let leading = warm.iter().take_while(|w| **w).count() as u64;
        if n_warm != want_warm || leading != n_warm {
            rep.reject(error(
                Code::PolicyWarmups,
                format!(
                    "series `{}` ({}): {n_warm} warmups ({leading} leading), policy requires {want_warm} first",
                    s.id,
                    s.class.as_str()
                ),
            ));
        }
        let measured = s.samples.len() as u64 - n_warm;
        if measured < u64::from(proc_.min_repetitions) {
            rep.reject(error(
                Code::PolicyRepetitions,
                format!(
                    "series `{}`: {measured} measured repetitions, policy requires {}",
                    s.id, proc_.min_repetitions
                ),
            ));
        }
        if let Some(w) = worst_case.iter().find(|w| measured < w.min_samples()) {
            rep.reject(error(
                Code::PolicyWorstCase,
                format!(
                    "series `{}`: {measured} measured samples; `{}` needs at least {}",
                    s.id,
                    w.name(),
                    w.min_samples()
                ),
            ));
        }
        // Required metrics bind what the runner measures; a harness series
        // needs only the primary metric; an imported series carries what its
        // source recorded, and needs none.
        let mut needed: Vec<&String> =
            if runner_measured { policy.required_metrics.iter().collect() } else { Vec::new() };
        if s.class != ValueClass::Imported {
            needed.push(&proc_.primary_metric);
        }
        if proving && runner_measured {
            needed.extend(policy.proof.required_metrics.iter());
        }
        needed.sort();
        needed.dedup();
        for m in needed {
            if s.metric_index(m).is_none() {
                rep.reject(error(Code::PolicyMetricMissing, format!("series `{}` lacks `{m}`", s.id)));
            }
        }
    }
    // The proof axis.
    rep.proof = match &loaded.capsule.proof {
        None => {
            if policy.proof.required {
                rep.reject(error(Code::PolicyProofRequired, format!("policy `{}`", policy.id)));
            }
            if loaded.capsule.commitment.chunk_count > 0 { ProofAxis::CommittedNotProven } else { ProofAxis::None }
        }
        Some(p) => proof::check(loaded, c, p, opts, rep),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustflags_are_read_as_rustc_reads_them() {
        let flags = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        for (input, want) in [
            ("-C target-cpu=native", vec!["target-cpu=native"]),
            ("-Ctarget_cpu=native", vec!["target-cpu=native"]),
            ("--codegen target-cpu=skylake", vec!["target-cpu=skylake"]),
            ("--codegen=opt-level=3", vec!["opt-level=3"]),
            ("-Ctarget-feature=-crt-static,+avx2", vec!["target-feature=-crt-static", "target-feature=+avx2"]),
            ("--cfg foo -Cdebuginfo", vec!["--cfg", "foo", "debuginfo"]),
        ] {
            assert_eq!(normalize_rustflags(&flags(input)), want, "{input}");
        }
    }
}
