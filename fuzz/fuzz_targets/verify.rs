//! The whole verifier at profile `policy`, the built-in STARK backend
//! registered: container, listing, canonical objects, hash chains,
//! aggregates, signatures and the proof, from any bytes.
#![no_main]

use std::sync::Arc;

use capsule::verify::{BackendRegistry, Profile, VerifyOptions, verify_pack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut backends = BackendRegistry::default();
    backends.register(Arc::new(capsule_stark::StarkBackend));
    let opts = VerifyOptions {
        profile: Profile::Policy,
        limits: capsule::pack::Limits { max_member_bytes: 1 << 24, max_total_bytes: 1 << 26, max_members: 1000 },
        retain_budget: 1 << 26,
        backends,
        ..VerifyOptions::default()
    };
    let _ = verify_pack(data, &opts);
});
