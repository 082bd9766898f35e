//! The event chain: any bytes as an `events.jsonl`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = capsule::events::check_chain(data, "run-sample-0001");
});
