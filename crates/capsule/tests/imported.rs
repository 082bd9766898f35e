//! Imported receipts: the source file travels under its own anchor, every
//! series is classed imported, and the verifier holds both rules.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a broken fixture")]

use std::collections::BTreeMap;

use capsule::builder::CapsuleBuilder;
use capsule::digest::{Tag, tagged};
use capsule::objects::{MeasurementsV1, PublicInputsV1, SampleV1, SeriesV1, TraceSpecV1, ValueClass};
use capsule::rows::RowParams;
use capsule::standard::standard_policy;
use capsule::verify::{Profile, VerifyOptions, verify_pack};

/// A receipt with (or without) an imported source and series of `class`.
fn pack(source: Option<&[u8]>, class: ValueClass) -> Vec<u8> {
    let spec = TraceSpecV1 {
        schema: Default::default(),
        format_id: "capsulebench/no-trace/v1".into(),
        record_schema: "capsulebench/no-trace/row/v1".into(),
        encoding_id: "none".into(),
        field_id: None,
        row_width: 64,
    };
    let mut t = 0u64;
    let clock = Box::new(move || {
        t += 1;
        1_767_225_600_000 + t
    });
    let policy = standard_policy("standard-v1").unwrap().clone();
    let mut b =
        CapsuleBuilder::new("run-import", serde_json::json!({"runner_name": "test"}), spec, policy, clock).unwrap();
    if let Some(s) = source {
        b.imported_source(s.to_vec());
    }
    b.commit_rows(RowParams { row_width: 64, chunk_len: 1024, arity: 16 }, &[][..], true).unwrap();
    let mut locked = b
        .lock_statement(
            "optimized_declared",
            PublicInputsV1 {
                workload_id: "import:test".into(),
                parameters: BTreeMap::new(),
                result_digest: Some(tagged(Tag::Result, b"r")),
            },
        )
        .unwrap();
    locked
        .measurements(MeasurementsV1 {
            schema: Default::default(),
            series: vec![SeriesV1 {
                id: "s".into(),
                class,
                metrics: vec!["prove_ns".into()],
                samples: vec![SampleV1 { rep: 0, warmup: false, values: vec![42], proof_digest: None }],
            }],
            looks: None,
        })
        .unwrap();
    locked.seal().unwrap().write_to(Vec::new()).unwrap()
}

fn integrity_codes(bytes: &[u8]) -> Vec<&'static str> {
    let (r, _) = verify_pack(bytes, &VerifyOptions { profile: Profile::Integrity, ..Default::default() });
    r.codes()
}

#[test]
fn imported_receipts_carry_their_source_and_class() {
    // (case, source, series class, expected integrity codes)
    type Case<'a> = (&'a str, Option<&'a [u8]>, ValueClass, &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        ("an imported receipt", Some(b"program,prover\n"), ValueClass::Imported, &[]),
        ("a source with runner-measured series", Some(b"x"), ValueClass::Measured, &["imported-source-mismatch"]),
        ("imported series without a source", None, ValueClass::Imported, &["imported-source-mismatch"]),
        ("an ordinary receipt", None, ValueClass::HarnessReported, &[]),
    ];
    for (case, source, class, want) in cases {
        assert_eq!(integrity_codes(&pack(*source, *class)), *want, "{case}");
    }
    // Every value reported about an imported run is imported (or recomputed
    // by the verifier itself), never measured or proven.
    let (r, _) = verify_pack(
        &pack(Some(b"source"), ValueClass::Imported)[..],
        &VerifyOptions { profile: Profile::Integrity, ..Default::default() },
    );
    assert!(
        r.values.iter().all(|v| matches!(v.class, ValueClass::Imported | ValueClass::Recomputed)),
        "{:?}",
        r.values
    );
    // The certified track refuses it.
    let (r, _) = verify_pack(
        &pack(Some(b"source"), ValueClass::Imported)[..],
        &VerifyOptions { profile: Profile::Certified, ..Default::default() },
    );
    assert!(r.codes().contains(&"certified-imported"), "{:?}", r.codes());
}
