//! The adapter protocol's parsers: each line of the input as a request
//! (what `serve` reads), a reply and an event (what `ProcessAdapter`
//! reads). A line that parses must serialize and parse back to itself.
#![no_main]

use capsule_adapter::protocol::{Event, Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        if let Ok(r) = serde_json::from_slice::<Request>(line) {
            let again = serde_json::to_vec(&r).expect("a parsed request serializes");
            let back: Request = serde_json::from_slice(&again).expect("a serialized request parses");
            assert_eq!(serde_json::to_value(&back).ok(), serde_json::to_value(&r).ok());
        }
        if let Ok(r) = serde_json::from_slice::<Reply>(line) {
            let again = serde_json::to_vec(&r).expect("a parsed reply serializes");
            let back: Reply = serde_json::from_slice(&again).expect("a serialized reply parses");
            assert_eq!(back, r);
        }
        let _ = serde_json::from_slice::<Event>(line);
    }
});
