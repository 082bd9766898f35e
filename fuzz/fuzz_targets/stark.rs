//! The built-in STARK's proof artifact: parsed and verified from any
//! bytes under the standard policies' parameters. The seed corpus holds
//! honest artifacts, so mutations reach winterfell's parser and verifier.
#![no_main]

use capsule::digest::plain;
use capsule_stark::{StarkParams, Workload, verify, verify_claim};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params = StarkParams::default();
    let statement = plain(b"fuzz statement");
    let _ = verify(&statement, data, &params);
    let w = Workload { seed: 1, trace_length: 1 << 8 };
    let _ = verify_claim(&statement, &w, &plain(b"result"), data, &params);
});
