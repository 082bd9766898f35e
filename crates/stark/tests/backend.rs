//! The built-in STARK backend: a proof verifies for its statement under the
//! pinned parameters, and verification rejects a different statement hash,
//! a changed public output, a flipped or truncated proof, a proof for
//! another trace and weaker parameters than the policy pins.

use capsule::digest::{Digest, plain};
use capsule_stark::{StarkParams, prove, verify};

#[test]
fn proofs_bind_their_statement_and_parameters() {
    let params = StarkParams::default();
    let statement = plain(b"statement");
    let proof = prove(&statement, 7, 1, 1 << 10, &params).unwrap();
    let bits = verify(&statement, &proof, &params).unwrap();
    assert!(bits >= 96, "default parameters give {bits} bits");

    let mut changed_output = proof.clone();
    changed_output[16] ^= 1; // the result
    let mut changed_nonce = proof.clone();
    changed_nonce[8] ^= 1;
    let mut flipped = proof.clone();
    let mid = proof.len() / 2;
    flipped[mid] ^= 0x10;
    let truncated = proof[..proof.len() - 1].to_vec();
    let other_trace = prove(&statement, 8, 2, 1 << 10, &params).unwrap();
    let mut spliced = other_trace.clone();
    spliced[8..16].copy_from_slice(&proof[8..16]); // another trace's proof under this nonce
    let mut other_seed = proof.clone();
    other_seed[28] ^= 1;
    let weaker = StarkParams { queries: 8, ..params.clone() };
    let weak_proof = prove(&statement, 7, 1, 1 << 10, &weaker).unwrap();

    let cases: Vec<(&str, Digest, &[u8], &StarkParams)> = vec![
        ("a different statement hash", plain(b"another statement"), &proof, &params),
        ("a changed public output", statement, &changed_output, &params),
        ("a changed nonce", statement, &changed_nonce, &params),
        ("a flipped proof byte", statement, &flipped, &params),
        ("a truncated proof", statement, &truncated, &params),
        ("a proof for another trace", statement, &spliced, &params),
        ("a claimed seed other than the proven one", statement, &other_seed, &params),
        ("weaker parameters than pinned", statement, &weak_proof, &params),
        ("not an artifact", statement, b"CBSTARK", &params),
    ];
    for (case, st, bytes, p) in cases {
        assert!(verify(&st, bytes, p).is_err(), "{case} was accepted");
    }
    // The weaker proof verifies under its own parameters, with fewer bits.
    assert!(verify(&statement, &weak_proof, &weaker).unwrap() < bits);
}

#[test]
fn parameters_from_a_policy_are_checked_before_use() {
    for bad in [
        StarkParams { blowup: 4, ..StarkParams::default() },
        StarkParams { blowup: 12, ..StarkParams::default() },
        StarkParams { queries: 0, ..StarkParams::default() },
        StarkParams { fri_folding: 3, ..StarkParams::default() },
        StarkParams { fri_remainder_max_degree: 30, ..StarkParams::default() },
        StarkParams { field_extension: "quartic".into(), ..StarkParams::default() },
        StarkParams { hash: "sha3-256".into(), ..StarkParams::default() },
    ] {
        assert!(bad.options().is_err(), "{bad:?}");
    }
    assert!(capsule_stark::execute(0, 100).is_err(), "not a power of two");
}

/// Through the verifier: a pack whose every repetition proves a distinct
/// instance verifies under a policy that pins the parameters; an attacker
/// who changes any bound value and reseals everything reachable (reusing
/// the honest proofs, or altering them consistently) is caught by the proof.
#[test]
fn the_verifier_checks_stark_proofs_through_the_backend_registry() {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use capsule::objects::PublicInputsV1;
    use capsule::sample::{SampleProver, SampleRun, build};
    use capsule::standard::{PinnedPolicy, standard_policy};
    use capsule::verify::{BackendRegistry, PolicyPin, ProofAxis, VerifyOptions, verify_pack};

    let policy_with = |params: Option<&StarkParams>, min_bits: u32| {
        let mut p = standard_policy("standard-proof-v1").unwrap().policy.clone();
        p.proof.backends.clear();
        if let Some(params) = params {
            p.proof.backends.insert(capsule_stark::BACKEND_ID.to_owned(), serde_json::to_value(params).unwrap());
        }
        p.proof.min_security_bits = min_bits;
        PinnedPolicy::new(p).unwrap()
    };
    let (seed, len) = (3u64, 1u64 << 8);
    let result = capsule_stark::execute(seed, len as usize).unwrap().get(0, len as usize - 1).as_int();
    let inputs = |seed: u64, result: u64| PublicInputsV1 {
        workload_id: capsule_stark::WORKLOAD_ID.to_owned(),
        parameters: capsule_stark::Workload { seed, trace_length: len }.to_parameters(),
        result_digest: Some(capsule_stark::result_digest(seed, len, result)),
    };
    let pack = |policy: &PinnedPolicy, inputs: PublicInputsV1, rows: u64, prover: SampleProver| {
        let run = SampleRun {
            policy: policy.clone(),
            rows,
            public_inputs: Some(inputs),
            prover: Some((capsule_stark::BACKEND_ID.to_owned(), prover)),
            ..SampleRun::default()
        };
        build(&run).unwrap().write_to(Vec::new()).unwrap()
    };
    let verify = |bytes: &[u8], policy: &PinnedPolicy| {
        let mut backends = BackendRegistry::default();
        backends.register(Arc::new(capsule_stark::StarkBackend));
        let opts = VerifyOptions {
            pins: vec![PolicyPin { hash: policy.hash, source: "test".into() }],
            backends,
            ..VerifyOptions::default()
        };
        verify_pack(bytes, &opts).0
    };
    // The honest run, its proofs kept by nonce for the attacker.
    let cache: Arc<Mutex<BTreeMap<u64, Vec<u8>>>> = Arc::default();
    let honest = {
        let cache = cache.clone();
        move |params: StarkParams| -> SampleProver {
            let cache = cache.clone();
            Box::new(move |st: Digest, nonce: u64| {
                let proof = prove(&st, nonce, seed, len as usize, &params).unwrap();
                cache.lock().unwrap().insert(nonce, proof.clone());
                proof
            })
        }
    };
    let cached = || -> SampleProver {
        let cache = cache.clone();
        Box::new(move |_: Digest, nonce: u64| cache.lock().unwrap()[&nonce].clone())
    };
    let pinned = policy_with(Some(&StarkParams::default()), 96);
    let r = verify(&pack(&pinned, inputs(seed, result), 10, honest(StarkParams::default())), &pinned);
    assert!(r.accepted(), "{:?}", r.findings);
    assert_eq!(r.proof, ProofAxis::BoundAndVerified);
    assert!(!r.proof_binds_trace_root, "the row root is a side commitment");

    let flipped = || -> SampleProver {
        let cache = cache.clone();
        Box::new(move |_: Digest, nonce: u64| {
            let mut p = cache.lock().unwrap()[&nonce].clone();
            let mid = p.len() / 2;
            p[mid] ^= 1;
            p
        })
    };
    let other_seed = capsule_stark::execute(4, len as usize).unwrap().get(0, len as usize - 1).as_int();
    let unpinned = policy_with(None, 96);
    let demanding = policy_with(Some(&StarkParams::default()), 128);
    let cases: Vec<(&str, PinnedPolicy, PublicInputsV1, u64, SampleProver, &str)> = vec![
        ("another seed claimed", pinned.clone(), inputs(4, other_seed), 10, cached(), "proof-invalid"),
        ("another result claimed", pinned.clone(), inputs(seed, result ^ 1), 10, cached(), "proof-invalid"),
        ("another trace root", pinned.clone(), inputs(seed, result), 11, cached(), "proof-invalid"),
        ("a flipped proof byte", pinned.clone(), inputs(seed, result), 10, flipped(), "proof-invalid"),
        (
            "weaker options than pinned",
            pinned.clone(),
            inputs(seed, result),
            10,
            honest(StarkParams { queries: 8, ..StarkParams::default() }),
            "proof-invalid",
        ),
        (
            "other options than pinned",
            pinned.clone(),
            inputs(seed, result),
            10,
            honest(StarkParams { queries: 40, ..StarkParams::default() }),
            "proof-invalid",
        ),
        (
            "no pinned options",
            unpinned.clone(),
            inputs(seed, result),
            10,
            honest(StarkParams::default()),
            "proof-invalid",
        ),
        (
            "fewer bits than required",
            demanding.clone(),
            inputs(seed, result),
            10,
            honest(StarkParams::default()),
            "proof-too-weak",
        ),
    ];
    for (case, policy, inputs, rows, prover, code) in cases {
        let r = verify(&pack(&policy, inputs, rows, prover), &policy);
        assert!(r.codes().contains(&code), "{case}: {:?}", r.codes());
        assert_eq!(r.proof, ProofAxis::Failed, "{case}");
    }
}

/// The built-in backend through the Trace Adapter API passes the same
/// conformance check `cargo capsule adapter check` runs on external ones.
#[test]
fn the_built_in_adapter_is_conformant() {
    let mut adapter = capsule_stark::StarkAdapter::default();
    let params = serde_json::to_value(StarkParams::default()).unwrap();
    let report = capsule_adapter::conformance::check(&mut adapter, None, None, Some(params)).unwrap();
    for c in &report.cases {
        assert!(c.passed, "{}: {}", c.name, c.detail);
    }
    assert_eq!(report.row_count, 1 << 10);
}

/// A statement must claim what the proof proves: its parameters and
/// result digest are checked against the artifact.
#[test]
fn the_statement_must_claim_what_is_proven() {
    use capsule_stark::{Workload, result_digest, verify_claim};
    let params = StarkParams::default();
    let statement = plain(b"statement");
    let w = Workload { seed: 5, trace_length: 1 << 8 };
    let proof = prove(&statement, 1, 5, 1 << 8, &params).unwrap();
    let chain = capsule_stark::execute(5, 1 << 8).unwrap();
    let result = chain.get(0, (1 << 8) - 1).as_int();
    let digest = result_digest(5, 1 << 8, result);
    assert!(verify_claim(&statement, &w, &digest, &proof, &params).is_ok());
    for (case, w, d) in [
        ("another seed", Workload { seed: 6, ..w }, digest),
        ("a longer trace", Workload { trace_length: 1 << 9, ..w }, digest),
        ("another result", w, result_digest(5, 1 << 8, result ^ 1)),
    ] {
        assert!(verify_claim(&statement, &w, &d, &proof, &params).is_err(), "{case} was accepted");
    }
}

/// Honest proofs pass the byte walk that runs before winterfell parses a
/// proof, under every kind of parameter set a policy may pin.
#[test]
fn honest_proofs_pass_the_byte_walk_under_every_option_kind() {
    let statement = plain(b"statement");
    for params in [
        StarkParams::default(),
        StarkParams { field_extension: "none".into(), blowup: 16, ..StarkParams::default() },
        StarkParams { field_extension: "cubic".into(), fri_folding: 2, queries: 64, ..StarkParams::default() },
        StarkParams { fri_folding: 16, fri_remainder_max_degree: 7, grinding: 0, ..StarkParams::default() },
    ] {
        for len in [64usize, 1 << 12] {
            let proof = prove(&statement, 3, 9, len, &params).unwrap();
            capsule_stark::verify(&statement, &proof, &params).unwrap_or_else(|e| panic!("{params:?} {len}: {e}"));
        }
    }
}

/// Hostile proof bytes are a verification failure, never a panic or an
/// allocation sized by a count the bytes declare. winterfell's own parser
/// panics on some of them (shown first); the backend never sees them.
#[test]
fn hostile_proof_bytes_fail_without_panicking() {
    const HEADER: usize = 36;
    let params = StarkParams::default();
    let statement = plain(b"statement");
    let proof = prove(&statement, 0, 1, 1 << 8, &params).unwrap();
    // Context offsets: aux random elements, log2 trace length, grinding.
    for (at, value) in [(2, 1u8), (3, 64), (17, 33)] {
        let mut p = proof[HEADER..].to_vec();
        p[at] = value;
        let parsed = std::panic::catch_unwind(|| winterfell::Proof::from_bytes(&p));
        assert!(parsed.is_err(), "winterfell parsed byte {at} = {value} without panicking");
        let mut artifact = proof.clone();
        artifact[HEADER + at] = value;
        assert!(capsule_stark::verify(&statement, &artifact, &params).is_err());
    }
    // Every byte of the first KiB (context, commitments, the first length
    // prefixes and openings) flipped, then a stride through the rest.
    let positions = (0..1024.min(proof.len())).chain((1024..proof.len()).step_by(97));
    for at in positions {
        let mut p = proof.clone();
        p[at] ^= 0xff;
        let r = std::panic::catch_unwind(|| capsule_stark::verify(&statement, &p, &params));
        assert!(matches!(r, Ok(Err(_))), "byte {at} flipped: {r:?}");
    }
    for len in [0, HEADER, HEADER + 1, HEADER + 100, proof.len() - 1] {
        assert!(capsule_stark::verify(&statement, &proof[..len], &params).is_err(), "cut at {len}");
    }
}
