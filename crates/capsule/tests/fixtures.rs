//! Recomputes every test vector in `fixtures/vectors/`, checks that the golden
//! pack is what the builder makes today and that it verifies, and that the
//! writer is deterministic.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a broken fixture")]

use std::path::PathBuf;

use capsule::canonical;
use capsule::digest::{Digest, Tag, plain, tagged};
use capsule::events::check_chain;
use capsule::objects::{
    CapsuleV1, GitManifestV1, HardwareManifestV1, MeasurementsV1, OsManifestV1, PolicyV1, StatementV1,
    ToolchainManifestV1, TraceSpecV1,
};
use capsule::rows::{self, ChunkProof, RowParams};
use capsule::sample::{SampleRun, build};
use capsule::standard::standard_policy;
use capsule::verify::{Profile, VerifyOptions, verify_pack};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn load(name: &str) -> Value {
    let p = fixtures().join("vectors").join(name);
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask fixtures`", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn digest(v: &Value) -> Digest {
    v.as_str().unwrap().parse().unwrap()
}

fn tag_named(name: &str) -> Tag {
    *Tag::ALL.iter().find(|t| t.as_str() == name).unwrap_or_else(|| panic!("unknown tag {name}"))
}

#[test]
fn tagged_hash_vectors() {
    let v = load("tagged.json");
    let cases = v["cases"].as_array().unwrap();
    let mut tags_seen = 0;
    for c in cases {
        let input = hex::decode(c["input_hex"].as_str().unwrap()).unwrap();
        let got = match c["tag"].as_str() {
            Some(t) => {
                tags_seen += 1;
                tagged(tag_named(t), &input)
            }
            None => plain(&input),
        };
        assert_eq!(got, digest(&c["digest"]), "{c}");
    }
    assert_eq!(tags_seen, Tag::ALL.len(), "every tag needs a vector");
}

#[test]
fn object_vectors_parse_and_hash() {
    let v = load("objects.json");
    for c in v["cases"].as_array().unwrap() {
        let kind = c["kind"].as_str().unwrap();
        let bytes = c["canonical"].as_str().unwrap().as_bytes();
        let ok = match kind {
            "trace-spec" => canonical::parse::<TraceSpecV1>(bytes).is_ok(),
            "statement" => canonical::parse::<StatementV1>(bytes).is_ok(),
            "policy" => canonical::parse::<PolicyV1>(bytes).is_ok(),
            "measurements" => canonical::parse::<MeasurementsV1>(bytes).is_ok(),
            "capsule" => canonical::parse::<CapsuleV1>(bytes).is_ok(),
            "manifest:manifests/hardware.json" => canonical::parse::<HardwareManifestV1>(bytes).is_ok(),
            "manifest:manifests/os.json" => canonical::parse::<OsManifestV1>(bytes).is_ok(),
            "manifest:manifests/toolchain.json" => canonical::parse::<ToolchainManifestV1>(bytes).is_ok(),
            "manifest:manifests/git.json" => canonical::parse::<GitManifestV1>(bytes).is_ok(),
            "manifest:manifests/container.json" => {
                canonical::parse::<capsule::objects::ContainerManifestV1>(bytes).is_ok()
            }
            other => panic!("unknown object kind {other}"),
        };
        assert!(ok, "{kind} does not parse canonically");
        let got = match c["tag"].as_str() {
            Some(t) => tagged(tag_named(t), bytes),
            None => plain(bytes),
        };
        assert_eq!(got, digest(&c["digest"]), "{kind}");
    }
}

#[test]
fn row_commitment_vectors() {
    let v = load("rows.json");
    for c in v["cases"].as_array().unwrap() {
        let params = RowParams {
            row_width: c["row_width"].as_u64().unwrap() as u32,
            chunk_len: c["chunk_len"].as_u64().unwrap() as u32,
            arity: c["arity"].as_u64().unwrap() as u32,
        };
        let data = hex::decode(c["rows_hex"].as_str().unwrap()).unwrap();
        let (commitment, leaves) = rows::commit(params, &data).unwrap();
        assert_eq!(commitment.root, digest(&c["root"]), "{params:?}");
        assert_eq!(commitment.row_count, c["row_count"].as_u64().unwrap());
        let want: Vec<Digest> = c["leaves"].as_array().unwrap().iter().map(digest).collect();
        assert_eq!(leaves, want);
        if leaves.is_empty() {
            assert_eq!(commitment.root, rows::empty_root(&params));
        }
        let cb = params.chunk_bytes();
        for (i, p) in c["proofs"].as_array().unwrap().iter().enumerate() {
            let proof: ChunkProof = serde_json::from_value(p.clone()).unwrap();
            let chunk = &data[i * cb..((i + 1) * cb).min(data.len())];
            assert!(rows::verify_chunk(&commitment, chunk, &proof), "chunk {i} of {params:?}");
            // Negative vectors: other bytes, another index, a forged root.
            let mut other = chunk.to_vec();
            other[0] ^= 0x80;
            assert!(!rows::verify_chunk(&commitment, &other, &proof));
            if commitment.chunk_count > 1 {
                let mut moved = proof.clone();
                moved.index = (moved.index + 1) % commitment.chunk_count;
                assert!(!rows::verify_chunk(&commitment, chunk, &moved));
            }
            let mut forged = commitment.clone();
            forged.arity = if params.arity == 2 { 3 } else { 2 };
            assert!(!rows::verify_chunk(&forged, chunk, &proof));
        }
    }
}

#[test]
fn event_chain_vector() {
    let v = load("events.json");
    let chain = check_chain(v["jsonl"].as_str().unwrap().as_bytes(), v["run_id"].as_str().unwrap()).unwrap();
    let want: Vec<Digest> = v["hashes"].as_array().unwrap().iter().map(digest).collect();
    assert_eq!(chain.hashes, want);
    assert_eq!(chain.head, digest(&v["head"]));
}

#[test]
fn trust_vectors() {
    use capsule::trust::{audit, dsse, key, registry};
    let v = load("trust.json");
    let k = &v["key"];
    let secret = key::SecretKey::from_pem(k["secret_pem"].as_str().unwrap()).unwrap();
    assert_eq!(secret.public_hex(), k["public_hex"].as_str().unwrap());
    assert_eq!(secret.key_id(), digest(&k["key_id"]));
    assert_eq!(key::public_key_id(k["public_hex"].as_str().unwrap()).unwrap(), digest(&k["key_id"]));
    // The signature recomputes byte for byte and verifies.
    let s = &v["signature"];
    let capsule = digest(&s["capsule"]);
    let predicate: dsse::ReceiptPredicateV1 = serde_json::from_value(s["predicate"].clone()).unwrap();
    let bytes = secret.sign(&capsule, &predicate).unwrap();
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), s["bytes"].as_str().unwrap());
    assert_eq!(key::member_path(&secret.key_id()), s["member"].as_str().unwrap());
    let checked = key::verify_member(&bytes, &capsule).unwrap();
    assert_eq!(checked.attested.receipt, Some(predicate));
    // The registry root and every inclusion proof.
    let r = &v["registry"];
    let policies: Vec<Digest> = r["policies"].as_array().unwrap().iter().map(digest).collect();
    let reg = registry::build(policies.clone());
    assert_eq!(reg.root(), digest(&r["root"]));
    for (p, proof) in policies.iter().zip(r["proofs"].as_array().unwrap()) {
        let proof: registry::RegistryProofV1 = serde_json::from_value(proof.clone()).unwrap();
        assert_eq!(reg.prove(p), Some(proof.clone()));
        assert_eq!(proof.check(p, &reg.root()), Ok(()));
    }
    // Audit draws and detection probabilities.
    for d in v["draws"].as_array().unwrap() {
        let seed: [u8; 32] = hex::decode(d["seed"].as_str().unwrap()).unwrap().try_into().unwrap();
        let drawn = audit::draw(&seed, d["chunks"].as_u64().unwrap(), d["samples"].as_u64().unwrap());
        assert_eq!(serde_json::json!(drawn), d["drawn"], "{d}");
    }
    for d in v["detection"].as_array().unwrap() {
        let got = audit::detection_ppm(
            d["chunks"].as_u64().unwrap(),
            d["samples"].as_u64().unwrap(),
            d["withheld_fraction_ppm"].as_u64().unwrap(),
        );
        assert_eq!(got, d["detection_ppm"].as_u64().unwrap(), "{d}");
    }
}

#[test]
fn standard_policy_hashes_are_fixed() {
    let v = load("policies.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), capsule::standard::standard_policies().len());
    for c in cases {
        let p = standard_policy(c["name"].as_str().unwrap()).unwrap();
        assert_eq!(p.hash, digest(&c["hash"]), "{c}: a shipped policy changed; that is a new policy version");
    }
}

#[test]
fn golden_pack_is_current_and_verifies() {
    let golden = std::fs::read(fixtures().join("golden/sample.tgz")).unwrap();
    let mut sealed = build(&SampleRun::default()).unwrap();
    let fresh = sealed.write_to(Vec::new()).unwrap();
    assert!(fresh == golden, "fixtures/golden/sample.tgz is stale: run `cargo xtask fixtures`");
    let expected: Digest =
        std::fs::read_to_string(fixtures().join("golden/sample.capsule-hash")).unwrap().trim().parse().unwrap();
    assert_eq!(sealed.hash, expected);
    let opts = VerifyOptions { profile: Profile::Policy, expect_capsule: Some(expected), ..VerifyOptions::default() };
    let (report, _) = verify_pack(&golden[..], &opts);
    assert!(report.accepted(), "{:#?}", report.findings);
    assert_eq!(report.passed, vec![Profile::Integrity, Profile::Policy]);
}

#[test]
fn writer_is_deterministic_and_atomic() {
    let a = build(&SampleRun::default()).unwrap().write_to(Vec::new()).unwrap();
    let b = build(&SampleRun::default()).unwrap().write_to(Vec::new()).unwrap();
    assert_eq!(a, b);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("capsulepack.tgz");
    let mut sealed = build(&SampleRun::default()).unwrap();
    sealed.write_file(&dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), a);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no temporary file is left beside the pack: {names:?}");
}

#[test]
fn large_trace_round_trips() {
    // 64 MiB of rows streamed through the builder's spool path: the pack
    // verifies and the rows recommit to the statement's root.
    let run = SampleRun { rows: 1 << 20, ..SampleRun::default() };
    let mut sealed = build(&run).unwrap();
    let pack = sealed.write_to(Vec::new()).unwrap();
    let (report, _) = verify_pack(&pack[..], &VerifyOptions::default());
    assert!(report.accepted(), "{:#?}", report.findings);
}

#[test]
fn compare_refuses_other_environments_unless_allowed() {
    use capsule::compare::{CompareError, CompareOptions, compare};
    let contents = |run: &SampleRun| {
        let bytes = build(run).unwrap().write_to(Vec::new()).unwrap();
        let (r, c) = verify_pack(&bytes[..], &VerifyOptions::default());
        assert!(r.accepted(), "{:?}", r.codes());
        (r.capsule_hash.unwrap(), c.unwrap())
    };
    let (bh, base) = contents(&SampleRun { rows: 10, ..SampleRun::default() });
    let other = SampleRun { rows: 10, rustflags: vec!["-Cdebuginfo=2".to_owned()], ..SampleRun::default() };
    let (hh, head) = contents(&other);
    let err = compare(bh, &base, hh, &head, CompareOptions::default()).unwrap_err();
    assert!(matches!(err, CompareError::Environment { ref fields } if fields == "toolchain"), "{err}");
    let c = compare(bh, &base, hh, &head, CompareOptions { allow_env_mismatch: true }).unwrap();
    assert_eq!(c.environment_mismatch, vec!["toolchain".to_owned()]);
    assert!(capsule::compare::markdown(&c, "b", "h").contains("Environments differ (toolchain)"));
    // Like for like only: another track, other parameters.
    let (hh, head) = contents(&SampleRun { rows: 11, ..SampleRun::default() });
    let err = compare(bh, &base, hh, &head, CompareOptions::default()).unwrap_err();
    assert!(matches!(err, CompareError::Mismatch { what: "parameters", .. }), "{err}");
    let (hh, head) = contents(&SampleRun { rows: 10, track: "optimized_declared".to_owned(), ..SampleRun::default() });
    let err = compare(bh, &base, hh, &head, CompareOptions::default()).unwrap_err();
    assert!(matches!(err, CompareError::Mismatch { what: "track", .. }), "{err}");
    // The same pack against itself: no change, equal results.
    let c = compare(bh, &base, bh, &base, CompareOptions::default()).unwrap();
    assert_eq!(c.verdict, capsule::compare::Change::NoChange);
    assert!(c.result_digest_equal && c.same_run);
}

/// A head that adds, removes or renames a benchmark compares the series
/// both have and lists the rest; bookkeeping metrics are never compared; a
/// shared series measured another way is still refused.
#[test]
fn comparisons_survive_added_and_removed_series() {
    use capsule::compare::{BOOKKEEPING_METRICS, Change, CompareError, CompareOptions, compare};
    use capsule::objects::{SeriesV1, ValueClass};
    let bytes = build(&SampleRun { rows: 10, ..SampleRun::default() }).unwrap().write_to(Vec::new()).unwrap();
    let (r, c) = verify_pack(&bytes[..], &VerifyOptions::default());
    let (hash, base) = (r.capsule_hash.unwrap(), c.unwrap());
    let shared = base.measurements.series[0].clone();
    let bench = |id: &str, class: ValueClass| SeriesV1 {
        id: id.to_owned(),
        class,
        metrics: vec!["wall_ns".to_owned(), "sample_total_ns".to_owned(), "sample_iters_count".to_owned()],
        samples: shared
            .samples
            .iter()
            .map(|s| capsule::objects::SampleV1 { values: vec![s.values[0], s.values[0] * 3, 3], ..s.clone() })
            .collect(),
    };
    let mut base = base;
    base.measurements.series.push(bench("bench/old_name", shared.class));
    base.measurements.series.push(bench("bench/kept", shared.class));
    let mut head = base.clone();
    head.measurements.series.retain(|s| s.id != "bench/old_name");
    head.measurements.series.push(bench("bench/new_name", shared.class));
    let c = compare(hash, &base, hash, &head, CompareOptions::default()).unwrap();
    assert_eq!(c.added, ["bench/new_name"]);
    assert_eq!(c.removed, ["bench/old_name"]);
    let series: Vec<&str> = c.metrics.iter().map(|m| m.series.as_str()).collect();
    assert!(
        series.contains(&"bench/kept") && !series.contains(&"bench/new_name") && !series.contains(&"bench/old_name")
    );
    assert!(c.metrics.iter().all(|m| !BOOKKEEPING_METRICS.contains(&m.metric.as_str())), "{:?}", c.metrics);
    assert_eq!(c.verdict, Change::NoChange);
    let md = capsule::compare::markdown(&c, "b", "h");
    assert!(md.contains("Added in head (not compared): bench/new\\_name."), "{md}");
    assert!(md.contains("Removed in head (not compared): bench/old\\_name."), "{md}");
    // The same id measured another way is another claim.
    let mut other = base.clone();
    other.measurements.series[2].class = ValueClass::Imported;
    let err = compare(hash, &base, hash, &other, CompareOptions::default()).unwrap_err();
    assert!(matches!(err, CompareError::Mismatch { what: "series class", .. }), "{err}");
}

/// A paired run that could look at its rounds three times is judged with
/// the policy's error rate divided by three: the larger count of the two
/// packs counts, every interval is at that level, and a change that only
/// clears the one-look interval is inconclusive.
#[test]
fn looks_divide_the_error_rate() {
    use capsule::compare::{Change, CompareOptions, compare, sequential_level};
    assert_eq!((sequential_level(950_000, 1), sequential_level(950_000, 3)), (950_000, 983_334));
    let bytes = build(&SampleRun { rows: 10, ..SampleRun::default() }).unwrap().write_to(Vec::new()).unwrap();
    let (r, c) = verify_pack(&bytes[..], &VerifyOptions::default());
    let (hash, mut base) = (r.capsule_hash.unwrap(), c.unwrap());
    // Ten measured samples a side, head's 35 above base's and overlapping
    // them: the 95 % interval lies above zero, the 98.33 % one does not.
    let series = &mut base.measurements.series[0];
    let width = series.metrics.len();
    series.samples = (0..12u32)
        .map(|rep| capsule::objects::SampleV1 {
            rep,
            warmup: rep < 2,
            values: vec![1000 + 10 * u64::from(rep.saturating_sub(2)); width],
            proof_digest: None,
        })
        .collect();
    let mut head = base.clone();
    for x in &mut head.measurements.series[0].samples {
        x.values[0] += 35;
    }
    let one = compare(hash, &base, hash, &head, CompareOptions::default()).unwrap();
    assert_eq!((one.looks, one.verdict, one.metrics[0].confidence.as_str()), (1, Change::Slower, "0.950000"));
    head.measurements.looks = Some(3);
    let three = compare(hash, &base, hash, &head, CompareOptions::default()).unwrap();
    assert_eq!((three.looks, three.metrics[0].confidence.as_str()), (3, "0.983334"));
    assert_eq!(three.verdict, Change::Inconclusive, "{:?}", three.metrics[0].ci_ratio);
    assert!(capsule::compare::markdown(&three, "b", "h").contains("any of 3 looks"));
    // A pack that says it looked once (or never) is malformed.
    for looks in [0, 1] {
        let mut f = capsule_testkit::forge::Forged::read(&bytes);
        let mut m = f.json("measurements.json");
        m["looks"] = looks.into();
        f.set_json("measurements.json", &m);
        f.reseal("measurements.json", capsule::digest::Digest::ZERO);
        let (r, _) = verify_pack(&f.write()[..], &VerifyOptions::default());
        assert!(r.codes().contains(&"measurements-malformed"), "{looks}: {:?}", r.codes());
    }
}

/// Thirty benchmarks, one slowed by half: the slowed one is called slower
/// after the multiplicity correction, the rest unchanged, and the Markdown
/// opens with the counts and the changed row, the full table folded.
#[test]
fn a_large_comparison_is_corrected_and_readable() {
    use capsule::compare::{Change, CompareOptions, compare};
    let bytes = build(&SampleRun { rows: 10, ..SampleRun::default() }).unwrap().write_to(Vec::new()).unwrap();
    let (r, c) = verify_pack(&bytes[..], &VerifyOptions::default());
    let (hash, mut base) = (r.capsule_hash.unwrap(), c.unwrap());
    let template = base.measurements.series[0].clone();
    for i in 0..30 {
        let mut s = template.clone();
        s.id = format!("bench/f{i:02}");
        base.measurements.series.push(s);
    }
    let mut head = base.clone();
    for s in &mut head.measurements.series {
        if s.id == "bench/f07" {
            for x in &mut s.samples {
                x.values[0] += x.values[0] / 2;
            }
        }
    }
    let c = compare(hash, &base, hash, &head, CompareOptions::default()).unwrap();
    assert_eq!(c.verdict, Change::Slower);
    let primary: Vec<_> = c.metrics.iter().filter(|m| m.metric == "wall_ns").collect();
    assert_eq!(primary.len(), 31);
    for m in &primary {
        let want = if m.series == "bench/f07" { Change::Slower } else { Change::NoChange };
        assert_eq!(m.verdict, want, "{}: {:?} at {}", m.series, m.ci_ratio, m.confidence);
    }
    let md = capsule::compare::markdown(&c, "b", "h");
    let open = &md[..md.find("<details>").expect("the full table is folded")];
    assert!(open.contains("31 series (wall\\_ns corrected for 31 comparisons, Holm): 🔴 1 slower"), "{open}");
    assert_eq!(open.matches("| bench/f").count(), 1, "only the changed row before the fold: {open}");
}
