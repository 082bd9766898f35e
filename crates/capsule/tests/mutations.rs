//! The mutation matrix.
//!
//! For every bound field of every JSON member (every leaf of every object and
//! event line, and of `capsule.json`) and every pack member, two attacks:
//!
//! 1. **left alone**: change the value and leave every hash as it was. The
//!    verifier must reject at `integrity` with the specific code the matrix
//!    names.
//! 2. **resealed**: change the value, then recompute every hash an attacker
//!    can reach (member digests, statement hashes, anchors, the trace root,
//!    the event chain, the capsule). The matrix names what must reject it:
//!    an `integrity` code (a structural rule), a `policy` profile code (the
//!    pinned policy), the proof (the statement hash the proof absorbed), or
//!    only `--expect-capsule` (self-reported data, vouched for by a signer in
//!    the certified profile). Each expectation is asserted, including that
//!    the weaker checks *accept* what only a stronger one catches, so the
//!    matrix also documents exactly what each level protects.
//!
//! Every leaf must be matched by a rule: a new field without a rule fails.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a broken fixture")]

use std::collections::BTreeMap;
use std::sync::Arc;

use capsule::digest::{Digest, Tag, plain, tagged};
use capsule::objects::paths;
use capsule::sample::{SampleRun, build};
use capsule::verify::{
    BackendRegistry, Profile, ProofAxis, ProofBackend, ProofCheck, ProofOutcome, Report, Serves, VerifyOptions,
    verify_pack,
};
use capsule_testkit::forge::{Forged as Pack, jcs};
use serde_json::Value;

/// A keyed test backend: the proof is `nonce || H(key || statement hash ||
/// nonce)`. Only code holding the key can prove; the verifier's
/// configuration holds it, never the pack.
struct KeyedBackend;

const BACKEND: &str = "capsulebench-test-keyed-v1";
const KEY: &[u8] = b"test backend key, configured by the verifier";

fn keyed(statement: Digest, nonce: u64) -> Vec<u8> {
    let mut input = KEY.to_vec();
    input.extend_from_slice(&statement.0);
    input.extend_from_slice(&nonce.to_be_bytes());
    let mut out = nonce.to_be_bytes().to_vec();
    out.extend_from_slice(&plain(&input).0);
    out
}

impl ProofBackend for KeyedBackend {
    fn id(&self) -> &str {
        BACKEND
    }
    fn serves(&self, _: &str) -> Serves {
        Serves::Program("keyed".to_owned())
    }
    fn verify(&self, c: &ProofCheck<'_>) -> Result<ProofOutcome, String> {
        let nonce: [u8; 8] = c.proof.get(..8).and_then(|b| b.try_into().ok()).ok_or("short proof")?;
        if c.proof != keyed(c.statement_hash, u64::from_be_bytes(nonce)).as_slice() {
            return Err("proof does not match the statement".to_owned());
        }
        // The keyed proof covers the whole statement hash.
        let mut proven = vec!["workload_id".to_owned(), "result_digest".to_owned()];
        proven.extend(c.statement.public_inputs.parameters.keys().map(|k| format!("parameters.{k}")));
        Ok(ProofOutcome { security_bits: 128, binds_trace_root: false, proven })
    }
}

type Members = BTreeMap<String, Vec<u8>>;

/// The proof the capsule names: the last repetition's.
const PACKED: &str = "proofs/rep-0011.bin";

fn golden() -> Pack {
    let run = SampleRun { rows: 300, prover: Some((BACKEND.to_owned(), Box::new(keyed))), ..SampleRun::default() };
    Pack::read(&build(&run).unwrap().write_to(Vec::new()).unwrap())
}

fn write(p: &Pack) -> Vec<u8> {
    p.write()
}

fn capsule_hash(p: &Pack) -> Digest {
    p.capsule_hash()
}

fn verify(p: &Pack, profile: Profile, expect: Option<Digest>) -> Report {
    let mut backends = BackendRegistry::default();
    backends.register(Arc::new(KeyedBackend));
    let opts = VerifyOptions { profile, expect_capsule: expect, backends, ..VerifyOptions::default() };
    verify_pack(&write(p)[..], &opts).0
}

fn json_of(m: &Members, path: &str) -> Value {
    serde_json::from_slice(&m[path]).unwrap()
}

/// The attacker's re-seal (`capsule_testkit::forge`): recompute every hash
/// reachable from the pack's own data.
fn reseal(p: &mut Pack, changed: &str, old_proof: Digest) {
    p.reseal(changed, old_proof);
}

/// Changes a JSON leaf so the result stays canonical and well-typed where
/// possible: numbers +1, booleans flipped, digests and commits change a hex
/// digit, other strings gain a character.
fn mutate_leaf(v: &mut Value) {
    *v = match v.take() {
        Value::Number(n) => (n.as_u64().unwrap() + 1).into(),
        Value::Bool(b) => (!b).into(),
        Value::String(s) if s.starts_with("sha256:") || (s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())) => {
            let mut c: Vec<char> = s.chars().collect();
            let last = c.len() - 1;
            c[last] = if c[last] == '0' { '1' } else { '0' };
            c.into_iter().collect::<String>().into()
        }
        Value::String(s) => format!("{s}x").into(),
        other => other,
    };
}

fn leaves(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        // JSON Pointer tokens escape `~` and `/` (RFC 6901).
        Value::Object(m) => {
            m.iter().for_each(|(k, x)| leaves(x, format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1")), out))
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| leaves(x, format!("{prefix}/{i}"), out)),
        _ => out.push(prefix),
    }
}

/// What must reject a resealed mutation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Catch {
    /// A structural rule at `integrity`.
    Integrity(&'static str),
    /// The `policy` profile, with this code.
    Policy(&'static str),
    /// The proof (profile `policy`, proof axis failed).
    Proof(&'static str),
    /// Only the verifier's expected capsule hash: the data is self-reported.
    ExpectCapsule,
    /// The field is itself a hash the reseal recomputes: the pack returns to
    /// its original identity.
    Recomputed,
}

/// What catches the edit when hashes are left alone.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Alone {
    /// The member's digest or size no longer matches the listing.
    Member,
    /// This code (edits of `capsule.json`, the listing itself).
    Code(&'static str),
    /// Only `--expect-capsule` (a `capsule.json` field nothing else binds),
    /// or `policy` with this code.
    ExpectOr(Option<&'static str>),
}

/// `(target pattern, left alone, resealed)`, first match wins. A target is
/// `member#pointer`; `*` matches one pointer segment, a trailing `**` any
/// rest.
const RULES: &[(&str, Alone, Catch)] = &[
    // capsule.json
    ("capsule.json#/schema", Alone::Code("capsule-malformed"), Catch::Integrity("capsule-malformed")),
    ("capsule.json#/run_id", Alone::Code("events-chain-broken"), Catch::Integrity("events-chain-broken")),
    ("capsule.json#/sealed_ms", Alone::ExpectOr(None), Catch::ExpectCapsule),
    ("capsule.json#/statement", Alone::Code("statement-hash-mismatch"), Catch::Recomputed),
    ("capsule.json#/commitment/root", Alone::Code("trace-root-mismatch"), Catch::Recomputed),
    ("capsule.json#/commitment/arity", Alone::Code("rows-mismatch"), Catch::Proof("proof-invalid")),
    ("capsule.json#/commitment/chunk_len", Alone::Code("rows-mismatch"), Catch::Integrity("rows-mismatch")),
    ("capsule.json#/commitment/row_count", Alone::Code("rows-mismatch"), Catch::Integrity("rows-mismatch")),
    ("capsule.json#/commitment/chunk_count", Alone::Code("rows-mismatch"), Catch::Integrity("rows-mismatch")),
    ("capsule.json#/commitment/row_width", Alone::Code("rows-mismatch"), Catch::Integrity("rows-mismatch")),
    ("capsule.json#/commitment/scheme", Alone::Code("commitment-malformed"), Catch::Integrity("commitment-malformed")),
    ("capsule.json#/measurements/**", Alone::Code("measurement-claim-mismatch"), Catch::Recomputed),
    (
        "capsule.json#/proof/backend",
        Alone::ExpectOr(Some("proof-backend-unknown")),
        Catch::Policy("proof-backend-unknown"),
    ),
    ("capsule.json#/proof/member", Alone::Code("member-missing"), Catch::Integrity("member-missing")),
    ("capsule.json#/events/**", Alone::Code("events-head-mismatch"), Catch::Recomputed),
    ("capsule.json#/members/*/path", Alone::Code("member-unknown|member-unlisted"), Catch::Recomputed),
    ("capsule.json#/members/*/size", Alone::Code("member-size-mismatch"), Catch::Recomputed),
    ("capsule.json#/members/*/digest", Alone::Code("member-digest-mismatch|rows-mismatch"), Catch::Recomputed),
    // The statement: the proof absorbed its hash.
    ("statement.json#/schema", Alone::Member, Catch::Integrity("object-malformed")),
    ("statement.json#/trace_spec_hash", Alone::Member, Catch::Recomputed),
    ("statement.json#/policy_hash", Alone::Member, Catch::Recomputed),
    ("statement.json#/trace_root", Alone::Member, Catch::Recomputed),
    ("statement.json#/anchors/*_manifest_hash", Alone::Member, Catch::Recomputed),
    ("statement.json#/anchors/os_fingerprint_hash", Alone::Member, Catch::Recomputed),
    ("statement.json#/anchors/toolchain_hash", Alone::Member, Catch::Recomputed),
    ("statement.json#/anchors/workload_commit", Alone::Member, Catch::Integrity("manifest-anchor-mismatch")),
    ("statement.json#/anchors/run_nonce", Alone::Member, Catch::Integrity("anchor-malformed")),
    ("statement.json#/track", Alone::Member, Catch::Policy("policy-track-unknown")),
    ("statement.json#/**", Alone::Member, Catch::Proof("proof-invalid")),
    ("trace_spec.json#/schema", Alone::Member, Catch::Integrity("object-malformed")),
    ("trace_spec.json#/row_width", Alone::Member, Catch::Integrity("commitment-malformed")),
    ("trace_spec.json#/**", Alone::Member, Catch::Proof("proof-invalid")),
    // The policy: only a verifier-pinned policy counts.
    ("policy.json#/schema", Alone::Member, Catch::Integrity("object-malformed")),
    ("policy.json#/required_anchors/*", Alone::Member, Catch::Integrity("object-malformed")),
    ("policy.json#/required_public_inputs/*", Alone::Member, Catch::Integrity("object-malformed")),
    ("policy.json#/**", Alone::Member, Catch::Policy("policy-self-chosen")),
    // Manifests are bound by anchors in the statement, hence by the proof.
    ("manifests/*#/schema", Alone::Member, Catch::Integrity("object-malformed")),
    ("manifests/git.json#/commit", Alone::Member, Catch::Integrity("manifest-anchor-mismatch")),
    ("manifests/*#/**", Alone::Member, Catch::Proof("proof-invalid")),
    // The measurement table: structure is checked, numbers are self-reported.
    ("measurements.json#/schema", Alone::Member, Catch::Integrity("object-malformed")),
    ("measurements.json#/series/*/class", Alone::Member, Catch::Integrity("object-malformed")),
    ("measurements.json#/series/*/id", Alone::Member, Catch::ExpectCapsule),
    ("measurements.json#/series/*/metrics/1", Alone::Member, Catch::ExpectCapsule),
    ("measurements.json#/series/*/metrics/2", Alone::Member, Catch::ExpectCapsule),
    ("measurements.json#/series/*/metrics/*", Alone::Member, Catch::Policy("policy-metric-missing")),
    ("measurements.json#/series/*/samples/*/rep", Alone::Member, Catch::Integrity("measurements-malformed")),
    ("measurements.json#/series/*/samples/*/warmup", Alone::Member, Catch::Policy("policy-warmups")),
    // Every repetition's proof is in the pack and verified: a digest
    // that names no proof the pack holds is caught.
    ("measurements.json#/series/*/samples/*/proof_digest", Alone::Member, Catch::Proof("proof-not-from-run")),
    ("measurements.json#/series/*/samples/*/values/*", Alone::Member, Catch::ExpectCapsule),
    // The event log: the capsule binds head and count; content is self-reported.
    ("events.jsonl#/*/schema", Alone::Member, Catch::Integrity("events-chain-broken")),
    ("events.jsonl#/*/seq", Alone::Member, Catch::Integrity("events-chain-broken")),
    ("events.jsonl#/*/run_id", Alone::Member, Catch::Integrity("events-chain-broken")),
    ("events.jsonl#/*/source", Alone::Member, Catch::Integrity("events-chain-broken")),
    ("events.jsonl#/*/prev", Alone::Member, Catch::Recomputed),
    ("events.jsonl#/**", Alone::Member, Catch::ExpectCapsule),
];

fn matches(pattern: &str, target: &str) -> bool {
    let (pm, pp) = pattern.split_once('#').unwrap();
    let (tm, tp) = target.split_once('#').unwrap();
    let member_ok = match pm.strip_suffix('*') {
        Some(prefix) => tm.starts_with(prefix),
        None => pm == tm,
    };
    if !member_ok {
        return false;
    }
    let ps: Vec<&str> = pp.split('/').collect();
    let ts: Vec<&str> = tp.split('/').collect();
    for (i, p) in ps.iter().enumerate() {
        if *p == "**" {
            return ts.len() >= i;
        }
        let Some(t) = ts.get(i) else { return false };
        let ok = match (p.strip_prefix('*'), p.strip_suffix('*')) {
            _ if *p == "*" => true,
            (Some(suffix), _) => t.ends_with(suffix),
            (_, Some(prefix)) => t.starts_with(prefix),
            _ => p == t,
        };
        if !ok {
            return false;
        }
    }
    ps.len() == ts.len()
}

fn rule_for(target: &str) -> (Alone, Catch) {
    RULES
        .iter()
        .find(|(p, _, _)| matches(p, target))
        .map(|(_, a, c)| (*a, *c))
        .unwrap_or_else(|| panic!("no mutation-matrix rule for `{target}`: add one"))
}

/// Applies an edit at `member#pointer`.
fn edit(p: &mut Pack, member: &str, pointer: &str) {
    if member == paths::CAPSULE {
        mutate_leaf(p.capsule.pointer_mut(pointer).unwrap());
    } else if member == paths::EVENTS {
        let (line, rest) = pointer[1..].split_once('/').unwrap();
        let line: usize = line.parse().unwrap();
        let mut lines: Vec<Value> = p.members[member]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        mutate_leaf(lines[line].pointer_mut(&format!("/{rest}")).unwrap());
        let mut out = Vec::new();
        for l in &lines {
            out.extend(jcs(l));
            out.push(b'\n');
        }
        p.members.insert(member.to_owned(), out);
    } else {
        let mut v = json_of(&p.members, member);
        mutate_leaf(v.pointer_mut(pointer).unwrap());
        p.members.insert(member.to_owned(), jcs(&v));
    }
}

fn has(r: &Report, code: &str) -> bool {
    r.codes().contains(&code)
}

fn check_alone(name: &str, p: &Pack, original: &Pack, member: &str, alone: Alone) {
    let expect_code = match alone {
        Alone::Member => {
            if p.members[member].len() != original.members[member].len() {
                "member-size-mismatch"
            } else if member == paths::ROWS {
                "rows-mismatch"
            } else {
                "member-digest-mismatch"
            }
        }
        Alone::Code(c) => c,
        Alone::ExpectOr(code) => {
            let r = verify(p, Profile::Integrity, None);
            assert!(r.accepted(), "{name}: integrity alone cannot see this edit: {:?}", r.codes());
            if let Some(code) = code {
                let r = verify(p, Profile::Policy, None);
                assert!(has(&r, code), "{name}: policy must reject with {code}: {:?}", r.codes());
            }
            let r = verify(p, Profile::Integrity, Some(capsule_hash(original)));
            assert!(has(&r, "capsule-hash-unexpected"), "{name}: {:?}", r.codes());
            return;
        }
    };
    let r = verify(p, Profile::Integrity, None);
    assert!(!r.accepted() && !r.passed.contains(&Profile::Integrity), "{name}: accepted at integrity");
    assert!(expect_code.split('|').any(|c| has(&r, c)), "{name}: expected {expect_code}, got {:?}", r.codes());
}

fn check_resealed(name: &str, p: &Pack, original: &Pack, catch: Catch) {
    let orig_hash = capsule_hash(original);
    match catch {
        Catch::Recomputed => {
            assert_eq!(capsule_hash(p), orig_hash, "{name}: reseal should restore the original capsule");
        }
        Catch::Integrity(code) => {
            let r = verify(p, Profile::Integrity, None);
            assert!(has(&r, code), "{name}: resealed, expected integrity {code}, got {:?}", r.codes());
        }
        Catch::Policy(code) | Catch::Proof(code) => {
            let r = verify(p, Profile::Integrity, None);
            assert!(r.accepted(), "{name}: resealed pack should pass integrity: {:?}", r.codes());
            let r = verify(p, Profile::Policy, None);
            assert!(!r.accepted(), "{name}: resealed pack accepted at policy");
            assert!(has(&r, code), "{name}: resealed, expected {code}, got {:?}", r.codes());
            if matches!(catch, Catch::Proof(_)) {
                assert_eq!(r.proof, ProofAxis::Failed, "{name}");
            }
        }
        Catch::ExpectCapsule => {
            let r = verify(p, Profile::Policy, None);
            assert!(r.accepted(), "{name}: matrix says only --expect-capsule catches this, but: {:?}", r.codes());
            assert_ne!(capsule_hash(p), orig_hash, "{name}");
            let r = verify(p, Profile::Policy, Some(orig_hash));
            assert!(has(&r, "capsule-hash-unexpected"), "{name}: {:?}", r.codes());
        }
    }
}

#[test]
fn golden_with_proof_verifies() {
    let g = golden();
    let r = verify(&g, Profile::Policy, Some(capsule_hash(&g)));
    assert!(r.accepted(), "{:#?}", r.findings);
    assert_eq!(r.proof, ProofAxis::BoundAndVerified);
}

#[test]
fn every_bound_field() {
    let original = golden();
    let old_proof = tagged(Tag::Member, &original.members[PACKED]);
    let mut targets = Vec::new();
    let mut ptrs = Vec::new();
    leaves(&original.capsule, String::new(), &mut ptrs);
    targets.extend(ptrs.drain(..).map(|p| (paths::CAPSULE.to_owned(), p)));
    for (path, bytes) in &original.members {
        if path == paths::EVENTS {
            for (i, line) in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
                let v: Value = serde_json::from_slice(line).unwrap();
                leaves(&v, format!("/{i}"), &mut ptrs);
            }
        } else if path.ends_with(".json") {
            leaves(&serde_json::from_slice(bytes).unwrap(), String::new(), &mut ptrs);
        }
        targets.extend(ptrs.drain(..).map(|p| (path.clone(), p)));
    }
    assert!(targets.len() > 300, "the matrix should cover every leaf, found {}", targets.len());
    for (member, pointer) in &targets {
        let name = format!("{member}#{pointer}");
        let (alone, catch) = rule_for(&name);
        let mut p = Pack { capsule: original.capsule.clone(), members: original.members.clone() };
        edit(&mut p, member, pointer);
        check_alone(&name, &p, &original, member, alone);
        reseal(&mut p, member, old_proof);
        check_resealed(&name, &p, &original, catch);
    }
}

/// Whether a member rule (a path, or a folder ending in `/`) names `path`.
fn member_rule(rule: &str, path: &str) -> bool {
    rule == path || (rule.ends_with('/') && path.starts_with(rule))
}

/// Binary and whole-member attacks: a flipped byte in every member, and
/// every member removed.
#[test]
fn every_member() {
    let original = golden();
    // Each repetition's proof, flipped and resealed (its sample pointed at
    // the flipped bytes), fails verification.
    let flip: &[(&str, Catch)] = &[
        (paths::ROWS, Catch::Proof("proof-invalid")),
        (paths::CHUNKS, Catch::Integrity("rows-mismatch")),
        ("proofs/", Catch::Proof("proof-invalid")),
    ];
    for path in original.members.keys() {
        let name = format!("flip a byte of {path}");
        let mut p = Pack { capsule: original.capsule.clone(), members: original.members.clone() };
        let old = tagged(Tag::Member, &original.members[if path.starts_with("proofs/") { path } else { PACKED }]);
        let b = p.members.get_mut(path).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0x01;
        check_alone(&name, &p, &original, path, Alone::Member);
        if let Some((_, catch)) = flip.iter().find(|(m, _)| member_rule(m, path)) {
            reseal(&mut p, path, old);
            check_resealed(&name, &p, &original, *catch);
        }
    }
    let old_proof = tagged(Tag::Member, &original.members[PACKED]);
    let removed: &[(&str, Catch)] = &[
        (paths::ROWS, Catch::ExpectCapsule),
        (PACKED, Catch::Integrity("member-missing")),
        // Any other repetition's proof: its sample names a proof the pack
        // does not hold.
        ("proofs/", Catch::Proof("proof-not-from-run")),
        ("manifests/hardware.json", Catch::Proof("proof-invalid")),
        ("manifests/os.json", Catch::Proof("proof-invalid")),
        ("manifests/toolchain.json", Catch::Policy("policy-track-unverifiable")),
        ("manifests/git.json", Catch::Proof("proof-invalid")),
        (paths::CHUNKS, Catch::Integrity("member-missing")),
        (paths::TRACE_SPEC, Catch::Integrity("member-missing")),
        (paths::POLICY, Catch::Integrity("member-missing")),
        (paths::MEASUREMENTS, Catch::Integrity("member-missing")),
        (paths::EVENTS, Catch::Integrity("member-missing")),
    ];
    for path in original.members.keys() {
        let name = format!("remove {path}");
        let mut p = Pack { capsule: original.capsule.clone(), members: original.members.clone() };
        p.members.remove(path);
        let r = verify(&p, Profile::Integrity, None);
        assert!(has(&r, "member-missing"), "{name}: {:?}", r.codes());
        if path == paths::STATEMENT {
            continue; // The reseal needs the statement; its absence is the case above.
        }
        let (_, catch) =
            removed.iter().find(|(m, _)| member_rule(m, path)).unwrap_or_else(|| panic!("no removal rule for {path}"));
        reseal(&mut p, path, old_proof);
        check_resealed(&name, &p, &original, *catch);
    }
}

#[test]
fn proof_requirements() {
    // A pack without a proof under a policy that requires one.
    let run = SampleRun {
        rows: 100,
        policy: capsule::standard::standard_policy("standard-proof-v1").unwrap().clone(),
        ..SampleRun::default()
    };
    let bytes = build(&run).unwrap().write_to(Vec::new()).unwrap();
    let r = verify_pack(&bytes[..], &VerifyOptions::default()).0;
    assert!(has(&r, "policy-proof-required"), "{:?}", r.codes());
    // A proof whose backend the verifier does not know is a failure, not a
    // downgrade.
    let g = golden();
    let r = verify_pack(&write(&g)[..], &VerifyOptions::default()).0;
    assert!(has(&r, "proof-backend-unknown"), "{:?}", r.codes());
    assert_eq!(r.proof, ProofAxis::Failed);
    assert!(!r.accepted());
}

#[test]
fn profiles_fail_closed() {
    let g = golden();
    // Without the trust roots they need, the stronger profiles reject and
    // name what is missing; they never downgrade.
    for (profile, missing) in [
        (Profile::Certified, vec!["acl-missing", "registry-root-missing"]),
        (Profile::Audited, vec!["acl-missing", "registry-root-missing", "audit-archive-missing"]),
    ] {
        let r = verify(&g, profile, None);
        assert!(!r.accepted());
        assert_eq!(r.codes(), missing);
        assert_eq!(r.passed, vec![Profile::Integrity, Profile::Policy]);
    }
}

#[test]
fn policy_teeth() {
    // A forbidden flag on baseline_no_accel.
    let run = SampleRun { rows: 10, rustflags: vec!["-Ctarget-cpu=native".to_owned()], ..SampleRun::default() };
    let bytes = build(&run).unwrap().write_to(Vec::new()).unwrap();
    let r = verify_pack(&bytes[..], &VerifyOptions::default()).0;
    assert!(has(&r, "policy-track-violation"), "{:?}", r.codes());
    // The same flags are allowed on optimized_declared.
    let run = SampleRun {
        rows: 10,
        rustflags: vec!["-Ctarget-cpu=native".to_owned()],
        track: "optimized_declared".to_owned(),
        ..SampleRun::default()
    };
    let bytes = build(&run).unwrap().write_to(Vec::new()).unwrap();
    let r = verify_pack(&bytes[..], &VerifyOptions::default()).0;
    assert!(r.accepted(), "{:?}", r.codes());
    // Too few repetitions and a missing anchor, under a stricter pinned policy.
    let mut strict = capsule::standard::standard_policy("standard-v1").unwrap().policy.clone();
    strict.id = "strict".to_owned();
    strict.measurement.min_repetitions = 50;
    strict.required_anchors.push(capsule::objects::AnchorName::ContainerImageDigest);
    let strict = capsule::standard::PinnedPolicy::new(strict).unwrap();
    let run = SampleRun { rows: 10, policy: strict.clone(), ..SampleRun::default() };
    let bytes = build(&run).unwrap().write_to(Vec::new()).unwrap();
    let r = verify_pack(&bytes[..], &VerifyOptions::default()).0;
    assert!(has(&r, "policy-self-chosen"), "{:?}", r.codes());
    let opts = VerifyOptions {
        pins: vec![capsule::verify::PolicyPin { hash: strict.hash, source: "test".to_owned() }],
        ..VerifyOptions::default()
    };
    let r = verify_pack(&bytes[..], &opts).0;
    assert!(!has(&r, "policy-self-chosen"), "{:?}", r.codes());
    assert!(has(&r, "policy-repetitions"), "{:?}", r.codes());
    assert!(has(&r, "policy-anchor-missing"), "{:?}", r.codes());
}

/// A policy's worst-case statistics: a percentile is never just the
/// largest sample (p95 needs 20 measured samples; the sample run has 10),
/// an unknown statistic is unsupported, and the accepted ones are
/// recomputed into the report.
#[test]
fn worst_case_statistics_need_enough_samples() {
    let with = |stats: &[&str]| {
        let mut p = capsule::standard::standard_policy("standard-v1").unwrap().policy.clone();
        p.id = format!("worst-{}", stats.join("-"));
        p.measurement.worst_case = stats.iter().map(|s| s.to_string()).collect();
        let pinned = capsule::standard::PinnedPolicy::new(p).unwrap();
        let run = SampleRun { rows: 10, policy: pinned.clone(), ..SampleRun::default() };
        let bytes = build(&run).unwrap().write_to(Vec::new()).unwrap();
        let opts = VerifyOptions {
            pins: vec![capsule::verify::PolicyPin { hash: pinned.hash, source: "test".to_owned() }],
            ..VerifyOptions::default()
        };
        verify_pack(&bytes[..], &opts).0
    };
    let r = with(&["p95"]);
    assert!(has(&r, "policy-worst-case"), "{:?}", r.codes());
    assert!(r.findings.iter().any(|f| f.detail.contains("`p95` needs at least 20")), "{:?}", r.findings);
    let r = with(&["p101"]);
    assert!(has(&r, "policy-unsupported"), "{:?}", r.codes());
    let r = with(&["p50", "max"]);
    assert!(r.accepted(), "{:?}", r.codes());
    let names: Vec<&str> = r.values.iter().map(|v| v.name.as_str()).collect();
    assert!(names.iter().any(|n| n.ends_with(".wall_ns.p50")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".wall_ns.max")), "{names:?}");
}
