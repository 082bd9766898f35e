//! `fixtures/vectors/stark.json` recomputed: the chains' rows and result
//! digests, the program id, and the adapter's protocol lines, byte for
//! byte (`cargo xtask fixtures` writes the file).

use capsule_adapter::protocol::{Describe, PROTOCOL, Reply, Request};
use capsule_adapter::{Execution, TraceAdapter};
use capsule_stark::{StarkAdapter, StarkParams, Workload};
use serde_json::{Value, json};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn stark_vectors_recompute() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectors/stark.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).expect("run `cargo xtask fixtures`")).unwrap();
    assert_eq!(v["backend_id"], capsule_stark::BACKEND_ID);
    assert_eq!(v["program_id"], capsule_stark::program_id());
    let chains = v["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 3);
    for c in chains {
        let w = Workload { seed: c["seed"].as_u64().unwrap(), trace_length: c["trace_length"].as_u64().unwrap() };
        let mut a = StarkAdapter::default();
        let mut rows = Vec::new();
        let e = Execution { parameters: w.to_parameters(), proof_params: Some(json!(StarkParams::default())) };
        a.execute(&e, Some(&mut rows)).unwrap();
        let out = a.public_outputs().unwrap();
        assert_eq!(rows.len() as u64, 8 * w.trace_length);
        assert_eq!(hex(&rows[..16]), c["first_rows"], "{w:?}");
        assert_eq!(hex(&rows[rows.len() - 8..]), c["last_row"], "{w:?}");
        assert_eq!(capsule::digest::plain(&rows).to_string(), c["rows_sha256"], "{w:?}");
        assert_eq!(out.values["result"], c["result"], "{w:?}");
        assert_eq!(out.result_digest.to_string(), c["result_digest"], "{w:?}");
        let result: u64 = c["result"].as_str().unwrap().parse().unwrap();
        assert_eq!(capsule_stark::result_digest(w.seed, w.trace_length, result).to_string(), c["result_digest"]);
    }
    // The protocol lines, as serve writes and reads them.
    let describe = Describe { protocol: PROTOCOL.to_owned(), adapter: StarkAdapter::default().describe().unwrap() };
    assert_eq!(serde_json::to_string(&Reply::Ok(json!(describe))).unwrap(), v["describe_reply_line"]);
    let line = v["execute_request_line"].as_str().unwrap();
    let req: Request = serde_json::from_str(line).unwrap();
    assert_eq!(serde_json::to_string(&req).unwrap(), line);
}
