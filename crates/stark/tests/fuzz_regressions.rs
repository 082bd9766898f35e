//! Every input the `stark` fuzz target found a crash with (kept under
//! `fixtures/fuzz/stark/`) is replayed through the same calls: each must
//! be a verification failure, never a panic.

use capsule::digest::plain;
use capsule_stark::{StarkParams, Workload, verify, verify_claim};

#[test]
fn fuzz_findings_are_failures_not_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fuzz/stark");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let params = StarkParams::default();
        let statement = plain(b"fuzz statement");
        let w = Workload { seed: 1, trace_length: 1 << 8 };
        let outcome = std::panic::catch_unwind(|| {
            (
                verify(&statement, &data, &params).is_err(),
                verify_claim(&statement, &w, &plain(b"result"), &data, &params).is_err(),
            )
        });
        assert!(matches!(outcome, Ok((true, true))), "{}: {outcome:?}", path.display());
        replayed += 1;
    }
    assert!(replayed > 0, "no regression inputs under {}", dir.display());
}
