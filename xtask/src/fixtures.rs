//! Regenerates `fixtures/`: the golden pack, the test vectors and the hostile
//! packs. Output is deterministic; running it twice changes nothing.

use std::fs;
use std::io::Write;
use std::path::Path;

use capsule::digest::{Tag, plain, tagged};
use capsule::events::EventLog;
use capsule::objects::{ManifestKind, paths};
use capsule::rows::{self, RowParams};
use capsule::sample::{SampleRun, build};
use capsule::standard::standard_policies;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

type Res = Result<(), String>;

fn write(path: &Path, bytes: &[u8]) -> Res {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(|e| format!("failed to create `{}`: {e}", d.display()))?;
    }
    fs::write(path, bytes).map_err(|e| format!("failed to write `{}`: {e}", path.display()))
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s.into_bytes()
}

pub(crate) fn run(root: &Path) -> Res {
    let fx = root.join("fixtures");
    let mut sealed = build(&SampleRun::default()).map_err(|e| e.to_string())?;
    let pack = sealed.write_to(Vec::new()).map_err(|e| e.to_string())?;
    write(&fx.join("golden/sample.tgz"), &pack)?;
    write(&fx.join("golden/sample.capsule-hash"), format!("{}\n", sealed.hash).as_bytes())?;
    vectors(&fx.join("vectors"), &sealed)?;
    hostile(&fx.join("hostile"), &sealed, &pack)?;
    println_ok(&fx);
    Ok(())
}

fn println_ok(fx: &Path) {
    #[expect(clippy::print_stdout, reason = "xtask reports to its user")]
    {
        println!("regenerated {}", fx.display());
    }
}

fn vectors(dir: &Path, sealed: &capsule::builder::SealedCapsule) -> Res {
    // Tagged hashes of fixed inputs, one per tag, and the plain hash.
    let mut tagged_v = Vec::new();
    for (i, tag) in Tag::ALL.iter().enumerate() {
        let input: Vec<u8> = if i == 0 { Vec::new() } else { b"capsulebench".to_vec() };
        tagged_v.push(json!({
            "tag": tag.as_str(),
            "input_hex": hex(&input),
            "digest": tagged(*tag, &input),
        }));
    }
    tagged_v.push(json!({"tag": null, "input_hex": hex(b"capsulebench"), "digest": plain(b"capsulebench")}));
    write(
        &dir.join("tagged.json"),
        &pretty(&json!({
            "description": "sha256(tag || 0x00 || input) for every domain tag; tag null is plain SHA-256 (the capsule hash).",
            "cases": tagged_v,
        })),
    )?;

    // Objects of the golden pack, canonical, with their kind hash.
    let mut objs = Vec::new();
    let mut add = |kind: &str, tag: Option<Tag>, bytes: &[u8]| {
        objs.push(json!({
            "kind": kind,
            "tag": tag.map(Tag::as_str),
            "canonical": String::from_utf8_lossy(bytes),
            "digest": match tag { Some(t) => tagged(t, bytes), None => plain(bytes) },
        }));
    };
    let m = |p: &str| sealed.member(p).unwrap_or_default().to_vec();
    add("trace-spec", Some(Tag::TraceSpec), &m(paths::TRACE_SPEC));
    add("statement", Some(Tag::Statement), &m(paths::STATEMENT));
    add("policy", Some(Tag::Policy), &m(paths::POLICY));
    add("measurements", Some(Tag::Member), &m(paths::MEASUREMENTS));
    for k in [ManifestKind::Hardware, ManifestKind::Os, ManifestKind::Toolchain, ManifestKind::Git] {
        add(&format!("manifest:{}", k.path()), Some(Tag::Manifest), &m(k.path()));
    }
    // The golden pack ran no container: a manifest as a podman run on
    // cgroup v1 records one (docs/spec/container.md).
    let container: capsule::objects::ContainerManifestV1 = serde_json::from_value(json!({
        "schema": "capsulebench/manifest/container/v1",
        "image": "127.0.0.1:5000/bench@sha256:489b2e440e7299f65d9f86a6cef35b4576c92bdfabf6116735cfe3448c299aa3",
        "image_digest": "sha256:489b2e440e7299f65d9f86a6cef35b4576c92bdfabf6116735cfe3448c299aa3",
        "image_id": "sha256:0801e90b05fe225e2ee55178f9ef115a07ffe62d909866a4807e0e1f22211b44",
        "platform": "linux/amd64",
        "engine": {"name": "podman", "version": "4.3.1", "runtime": "runc", "runtime_version": "1.1.5+ds1", "cgroup_version": "1"},
        "network": "none",
        "read_only_rootfs": true,
        "workspace_mount": "/workspace",
        "limits_requested": {"nano_cpus": 1_000_000_000u64, "memory_bytes": 268_435_456u64, "memory_swap_bytes": 268_435_456u64, "pids": 64},
        "limits_applied": {"cgroup": "1", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "100000", "cpus_visible": "1",
            "memory.limit_in_bytes": "268435456", "memory.memsw.limit_in_bytes": "268435456", "network_interfaces": "lo",
            "pids.max": "64", "rootfs_writable": "false"},
        "shim_digest": "sha256:08ce6f24e7c30c3e05192cef29af63362dc13ac3f30d8c4a585573f224cd0e25",
        "start_ns": 88_942_692u64,
    }))
    .map_err(|e| e.to_string())?;
    add(
        "manifest:manifests/container.json",
        Some(Tag::Manifest),
        &capsule::canonical::to_vec(&container).map_err(|e| e.to_string())?,
    );
    add("capsule", None, &sealed.bytes);
    write(
        &dir.join("objects.json"),
        &pretty(&json!({
            "description": "Canonical objects from the golden pack and their hashes; capsule uses plain SHA-256.",
            "cases": objs,
        })),
    )?;

    // Row commitments, small enough to carry the rows.
    let mut row_cases = Vec::new();
    for (width, chunk_len, arity, count) in
        [(8u32, 4u32, 16u32, 0u64), (8, 4, 16, 1), (4, 2, 2, 7), (8, 1, 16, 40), (16, 3, 4, 50)]
    {
        let params = RowParams { row_width: width, chunk_len, arity };
        let data: Vec<u8> = (0..count * u64::from(width)).map(|i| (i * 7 % 256) as u8).collect();
        let (c, leaves) = rows::commit(params, &data).map_err(|e| e.to_string())?;
        let proofs: Vec<Value> = (0..c.chunk_count).map(|i| json!(rows::prove_chunk(&params, &leaves, i))).collect();
        row_cases.push(json!({
            "row_width": width, "chunk_len": chunk_len, "arity": arity, "row_count": count,
            "rows_hex": hex(&data),
            "leaves": leaves,
            "root": c.root,
            "proofs": proofs,
        }));
    }
    write(
        &dir.join("rows.json"),
        &pretty(&json!({
            "description": "Row commitments: leaves, root and every chunk's inclusion proof. A proof must fail for any other chunk bytes or index.",
            "cases": row_cases,
        })),
    )?;

    // An event chain.
    let mut log = EventLog::new("run-vector");
    for (i, k) in ["run_started", "spec_locked", "statement_locked"].iter().enumerate() {
        log.push(1_767_225_600_000 + i as u64, k, json!({"step": i})).map_err(|e| e.to_string())?;
    }
    let hashes: Vec<Value> =
        log.jsonl().split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| json!(tagged(Tag::Event, l))).collect();
    write(
        &dir.join("events.json"),
        &pretty(&json!({
            "description": "An event chain: each line's hash is the event tag over its canonical bytes; prev links them; head is the last hash.",
            "run_id": "run-vector",
            "jsonl": String::from_utf8_lossy(log.jsonl()),
            "hashes": hashes,
            "head": log.head(),
        })),
    )?;

    trust_vectors(dir, sealed)?;
    stark_vectors(dir)?;
    board_vectors(dir)?;

    let pols: Vec<Value> =
        standard_policies().iter().map(|(n, p)| json!({"name": n, "id": p.policy.id, "hash": p.hash})).collect();
    write(
        &dir.join("policies.json"),
        &pretty(&json!({
            "description": "Hashes of the shipped standard policies (policy tag over canonical bytes).",
            "cases": pols,
        })),
    )
}

/// Signatures, the policy registry and audit draws (`docs/spec/trust.md`).
fn trust_vectors(dir: &Path, sealed: &capsule::builder::SealedCapsule) -> Res {
    use capsule::trust::{audit, dsse, key, registry};
    use k256::pkcs8::EncodePrivateKey as _;
    // A published test key: never use it for anything but these vectors.
    let sk = k256::ecdsa::SigningKey::from_slice(&[0x42; 32]).map_err(|e| e.to_string())?;
    let pem = sk.to_pkcs8_pem(k256::pkcs8::LineEnding::LF).map_err(|e| e.to_string())?;
    let secret = key::SecretKey::from_pem(&pem).map_err(|e| e.to_string())?;
    let policy = standard_policies().iter().find(|(n, _)| *n == "standard-v1").ok_or("standard-v1")?.1.clone();
    let reg = registry::build(standard_policies().iter().map(|(_, p)| p.hash).collect());
    let predicate = dsse::ReceiptPredicateV1 {
        schema: dsse::RECEIPT_PREDICATE_SCHEMA.to_owned(),
        policy_id: policy.policy.id.clone(),
        policy_hash: policy.hash,
        registry: reg.prove(&policy.hash),
    };
    let member = secret.sign(&sealed.hash, &predicate).map_err(|e| e.to_string())?;
    let proofs: Vec<Value> = reg.policies.iter().map(|p| json!(reg.prove(p))).collect();
    let draws: Vec<Value> = [([0u8; 32], 32u64, 8u64), ([0xab; 32], 1000, 20), ([7; 32], 3, 5), ([1; 32], 1 << 40, 4)]
        .iter()
        .map(|(seed, n, k)| json!({"seed": hex(seed), "chunks": n, "samples": k, "drawn": audit::draw(seed, *n, *k)}))
        .collect();
    let detection: Vec<Value> = [(1000u64, 100u64, 10_000u64), (32, 8, 100_000), (10, 10, 100_000), (1_000_000, 64, 10_000)]
        .iter()
        .map(|(n, k, f)| json!({"chunks": n, "samples": k, "withheld_fraction_ppm": f, "detection_ppm": audit::detection_ppm(*n, *k, *f)}))
        .collect();
    write(
        &dir.join("trust.json"),
        &pretty(&json!({
            "description": "A published test key and its key id; its receipt signature over the golden capsule (deterministic, RFC 6979); the registry of the standard policies with every inclusion proof; audit draws and detection probabilities.",
            "key": {"secret_pem": pem.as_str(), "public_hex": secret.public_hex(), "key_id": secret.key_id()},
            "signature": {"capsule": sealed.hash, "member": key::member_path(&secret.key_id()), "bytes": String::from_utf8_lossy(&member), "predicate": predicate},
            "registry": {"policies": reg.policies, "root": reg.root(), "proofs": proofs},
            "draws": draws,
            "detection": detection,
        })),
    )
}

/// The built-in STARK's encodings (adapter.md §8) and protocol lines
/// (§2, §3): chains, rows, result digests, the program id, and the
/// `describe` and `execute` exchange of the adapter.
fn stark_vectors(dir: &Path) -> Res {
    use capsule_adapter::TraceAdapter as _;
    let chains: Vec<Value> = [(0u64, 64u64), (1, 1024), (capsule_stark::MAX_SEED, 256)]
        .iter()
        .map(|&(seed, n)| {
            let mut rows = Vec::new();
            let mut a = capsule_stark::StarkAdapter::default();
            let execution = capsule_adapter::Execution {
                parameters: capsule_stark::Workload { seed, trace_length: n }.to_parameters(),
                proof_params: Some(json!(capsule_stark::StarkParams::default())),
            };
            a.execute(&execution, Some(&mut rows)).map_err(|e| e.to_string())?;
            let out = a.public_outputs().map_err(|e| e.to_string())?;
            Ok(json!({
                "seed": seed,
                "trace_length": n,
                "first_rows": hex(&rows[..16]),
                "last_row": hex(&rows[rows.len() - 8..]),
                "rows_sha256": capsule::digest::plain(&rows),
                "result": out.values["result"],
                "result_digest": out.result_digest,
            }))
        })
        .collect::<Result<_, String>>()?;
    let mut a = capsule_stark::StarkAdapter::default();
    let describe = capsule_adapter::protocol::Describe {
        protocol: capsule_adapter::protocol::PROTOCOL.to_owned(),
        adapter: a.describe().map_err(|e| e.to_string())?,
    };
    let describe_line =
        serde_json::to_string(&capsule_adapter::protocol::Reply::Ok(json!(describe))).map_err(|e| e.to_string())?;
    let execute_line = serde_json::to_string(&capsule_adapter::protocol::Request::Execute {
        execution: capsule_adapter::Execution {
            parameters: capsule_stark::Workload { seed: 1, trace_length: 1024 }.to_parameters(),
            proof_params: Some(json!(capsule_stark::StarkParams::default())),
        },
        rows_path: None,
    })
    .map_err(|e| e.to_string())?;
    write(
        &dir.join("stark.json"),
        &pretty(&json!({
            "description": "The built-in STARK (docs/spec/adapter.md section 8): chains (rows are le64 states), result digests and the program id; and protocol lines (section 2, 3) a conforming adapter reads and writes byte for byte.",
            "backend_id": capsule_stark::BACKEND_ID,
            "program_id": capsule_stark::program_id(),
            "chains": chains,
            "describe_reply_line": describe_line,
            "execute_request_line": execute_line,
        })),
    )
}

fn board_vectors(dir: &Path) -> Res {
    let verifier = capsule_board::model::VerifierV1 {
        tool: "cargo-capsule 0.1.0".to_owned(),
        profile: "certified".to_owned(),
        pinned_policies: vec![capsule::digest::plain(b"a pinned policy")],
        acl: Some(capsule::digest::plain(b"an ACL file")),
        registry_root: Some(capsule::digest::plain(b"a registry")),
        trusted_root: None,
        backends: vec!["pin=stark_external=0123abcd".to_owned()],
        options_hash: capsule::digest::Digest::ZERO,
    };
    let canonical =
        String::from_utf8(serde_jcs::to_vec(&verifier).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let verifier = verifier.sealed();
    let intervals: Vec<Value> = [5usize, 6, 10, 20, 100]
        .iter()
        .map(|&n| {
            let samples: Vec<u64> = (1..=n as u64).map(|i| i * 1000 + (i * 37) % 11).collect();
            json!({
                "samples": samples,
                "confidence": "0.95",
                "interval": capsule::compare::median_interval(&samples, 950_000),
            })
        })
        .collect();
    let slugs: Vec<Value> = ["fast", "import:zkvm-perf", "héllo wörld/1", &"x".repeat(70)]
        .iter()
        .map(|id| {
            let hash = capsule::digest::plain(id.as_bytes());
            json!({"workload_id": id, "policy_hash": hash, "slug": capsule_board::slug(id, hash)})
        })
        .collect();
    write(
        &dir.join("board.json"),
        &pretty(&json!({
            "description": "The board (docs/spec/board.md): a verifier description, its canonical JSON with options_hash zero and its options hash (section 5); the median's interval at 95 % (section 3); page slugs (section 4).",
            "verifier": verifier,
            "verifier_canonical_zeroed": canonical,
            "median_intervals": intervals,
            "slugs": slugs,
        })),
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A raw tar header with any name and type, bypassing path validation.
fn raw_header(name: &[u8], kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    {
        let old = h.as_old_mut();
        let n = name.len().min(100);
        old.name[..n].copy_from_slice(&name[..n]);
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    h
}

enum Entry<'a> {
    File(&'a [u8], &'a [u8]),
    Raw(Box<tar::Header>, &'a [u8]),
    /// A header whose declared size is larger than the data that follows.
    Declared(&'a [u8], u64),
}

fn raw(h: tar::Header, data: &[u8]) -> Entry<'_> {
    Entry::Raw(Box::new(h), data)
}

/// One hostile pack: file stem, bytes, expected code, extra `verify`
/// arguments, and the attack it stands for.
type Case<'a> = (&'a str, Vec<u8>, &'a str, Vec<&'a str>, &'a str);

fn tgz(entries: &[Entry<'_>]) -> Result<Vec<u8>, String> {
    tgz_with_tail(entries, &[])
}

fn tgz_with_tail(entries: &[Entry<'_>], tail_inside_gzip: &[u8]) -> Result<Vec<u8>, String> {
    let e = |e: std::io::Error| e.to_string();
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(9));
    {
        let mut b = tar::Builder::new(&mut gz);
        for entry in entries {
            match entry {
                Entry::File(name, data) => {
                    let h = raw_header(name, tar::EntryType::Regular, data.len() as u64);
                    b.append(&h, *data).map_err(e)?;
                }
                Entry::Raw(h, data) => b.append(h.as_ref(), *data).map_err(e)?,
                Entry::Declared(name, size) => {
                    let h = raw_header(name, tar::EntryType::Regular, *size);
                    b.get_mut().write_all(h.as_bytes()).map_err(e)?;
                    b.get_mut().write_all(&vec![0u8; 1 << 16]).map_err(e)?;
                }
            }
        }
        b.finish().map_err(e)?;
    }
    gz.write_all(tail_inside_gzip).map_err(e)?;
    gz.finish().map_err(e)
}

fn hostile(dir: &Path, sealed: &capsule::builder::SealedCapsule, golden: &[u8]) -> Res {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let capsule = sealed.bytes.as_slice();
    let spec = sealed.member(paths::TRACE_SPEC).unwrap_or_default();
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    capsule::pack::read_members::<_, capsule::pack::PackError, _>(golden, &Default::default(), |m| {
        let b = m.read_all()?;
        members.push((m.path.to_owned(), b));
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let golden_entries = |extra: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut v: Vec<(Vec<u8>, Vec<u8>)> = members.iter().map(|(p, b)| (p.as_bytes().to_vec(), b.clone())).collect();
        v.extend(extra);
        v
    };
    let files = |v: &[(Vec<u8>, Vec<u8>)]| -> Result<Vec<u8>, String> {
        let entries: Vec<Entry<'_>> = v.iter().map(|(p, b)| Entry::File(p, b)).collect();
        tgz(&entries)
    };
    let link = |kind: tar::EntryType, name: &[u8], target: &str| -> Result<tar::Header, String> {
        let mut h = raw_header(name, kind, 0);
        h.set_link_name(target).map_err(|e| e.to_string())?;
        h.set_cksum();
        Ok(h)
    };
    let mut dev = raw_header(b"dev-null", tar::EntryType::Char, 0);
    dev.set_device_major(1).map_err(|e| e.to_string())?;
    dev.set_device_minor(3).map_err(|e| e.to_string())?;
    dev.set_cksum();
    let blk = raw_header(b"dev-sda", tar::EntryType::Block, 0);
    let fifo = raw_header(b"fifo", tar::EntryType::Fifo, 0);
    let dirh = raw_header(b"proofs", tar::EntryType::Directory, 0);
    let mut pax_path = Vec::new();
    let rec = b"path=../pax-escape.txt\n";
    let len = rec.len() + 3;
    pax_path.extend_from_slice(format!("{len} ").as_bytes());
    pax_path.extend_from_slice(rec);
    let long_name = [b"a/".repeat(60).as_slice(), b"x.json"].concat();
    let mut longname_entry = raw_header(b"././@LongLink", tar::EntryType::GNULongName, long_name.len() as u64 + 1);
    longname_entry.set_cksum();
    let long_data = [long_name.as_slice(), b"\0"].concat();
    let mut longname_bomb = raw_header(b"././@LongLink", tar::EntryType::GNULongName, 8 << 30);
    longname_bomb.set_cksum();
    // A ustar header whose `prefix` would make `a` read as `proofs/a`.
    let mut prefixed = raw_header(b"a", tar::EntryType::Regular, 1);
    if let Some(u) = prefixed.as_ustar_mut() {
        u.prefix[..6].copy_from_slice(b"proofs");
    }
    prefixed.set_cksum();
    // A capsule listing (and a pack holding) both `proofs/a` and
    // `proofs/a/b`, every digest right.
    let conflicting = {
        let extra: [(&str, &[u8]); 2] = [("proofs/a", b"x"), ("proofs/a/b", b"y")];
        let mut cap: Value = serde_json::from_slice(capsule).map_err(|e| e.to_string())?;
        let listing = cap["members"].as_array_mut().ok_or("capsule without members")?;
        for (p, b) in extra {
            let digest = capsule::digest::tagged(capsule::digest::Tag::Member, b);
            listing.push(json!({"path": p, "size": b.len(), "digest": digest.to_string()}));
        }
        listing.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        let mut v = vec![(b"capsule.json".to_vec(), serde_jcs::to_vec(&cap).map_err(|e| e.to_string())?)];
        let mut rest: Vec<(Vec<u8>, Vec<u8>)> = members
            .iter()
            .filter(|(p, _)| p != paths::CAPSULE)
            .map(|(p, b)| (p.as_bytes().to_vec(), b.clone()))
            .chain(extra.iter().map(|(p, b)| (p.as_bytes().to_vec(), b.to_vec())))
            .collect();
        rest.sort();
        v.extend(rest);
        v
    };
    // The golden pack's members with no end-of-archive marker.
    let unterminated = {
        let mut t = Vec::new();
        for (p, b) in &members {
            t.extend_from_slice(raw_header(p.as_bytes(), tar::EntryType::Regular, b.len() as u64).as_bytes());
            t.extend_from_slice(b);
            t.resize(t.len().next_multiple_of(512), 0);
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(9));
        gz.write_all(&t).map_err(|e| e.to_string())?;
        gz.finish().map_err(|e| e.to_string())?
    };

    let truncated = golden[..golden.len() / 2].to_vec();
    let mut flipped = golden.to_vec();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let mut bad_crc = golden.to_vec();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    let mut trailing_garbage = golden.to_vec();
    trailing_garbage.extend_from_slice(b"appended after the gzip stream");
    let mut plain_tar = Vec::new();
    {
        let mut b = tar::Builder::new(&mut plain_tar);
        let h = raw_header(b"capsule.json", tar::EntryType::Regular, capsule.len() as u64);
        b.append(&h, capsule).map_err(|e| e.to_string())?;
        b.finish().map_err(|e| e.to_string())?;
    }
    let zeros = vec![0u8; 20 << 20];
    let mut dup = golden_entries(vec![]);
    dup.push((paths::TRACE_SPEC.as_bytes().to_vec(), spec.to_vec()));
    let mut reordered = golden_entries(vec![]);
    reordered.swap(0, 1);
    let mut unsorted = golden_entries(vec![]);
    unsorted.swap(1, 2);
    // A capsule whose commitment claims 2^32 one-byte rows in one-row chunks:
    // recommitting them would hold 128 GiB of chunk digests.
    let mut tiny_rows: Value = serde_json::from_slice(capsule).map_err(|e| e.to_string())?;
    tiny_rows["commitment"]["row_width"] = json!(1);
    tiny_rows["commitment"]["chunk_len"] = json!(1);
    tiny_rows["commitment"]["row_count"] = json!(1u64 << 32);
    tiny_rows["commitment"]["chunk_count"] = json!(1u64 << 32);
    for m in tiny_rows["members"].as_array_mut().into_iter().flatten() {
        if m["path"] == paths::ROWS {
            m["size"] = json!(1u64 << 32);
        }
    }
    let tiny_rows = serde_jcs::to_vec(&tiny_rows).map_err(|e| e.to_string())?;

    // (name, bytes, expected code, extra verify args, what it attacks)
    let cases: Vec<Case<'_>> = vec![
        (
            "absolute-path",
            tgz(&[Entry::File(b"capsule.json", capsule), Entry::File(b"/tmp/capsule-escape.txt", b"x")])?,
            "pack-unsafe-path",
            vec![],
            "member with an absolute path",
        ),
        (
            "dotdot",
            tgz(&[Entry::File(b"capsule.json", capsule), Entry::File(b"../escape.txt", b"x")])?,
            "pack-unsafe-path",
            vec![],
            "member path with `..`",
        ),
        (
            "dotdot-nested",
            tgz(&[Entry::File(b"capsule.json", capsule), Entry::File(b"proofs/../../escape.txt", b"x")])?,
            "pack-unsafe-path",
            vec![],
            "`..` inside a nested path",
        ),
        (
            "dotdot-first",
            tgz(&[Entry::File(b"../capsule.json", capsule)])?,
            "pack-unsafe-path",
            vec![],
            "`..` before the capsule is read",
        ),
        (
            "symlink",
            tgz(&[Entry::File(b"capsule.json", capsule), raw(link(tar::EntryType::Symlink, b"proofs", "/etc")?, b"")])?,
            "pack-entry-type",
            vec![],
            "symlink to an absolute directory",
        ),
        (
            "symlink-then-write",
            tgz(&[raw(link(tar::EntryType::Symlink, b"rows", "../../")?, b""), Entry::File(b"rows/escape.txt", b"x")])?,
            "pack-entry-type",
            vec![],
            "symlink followed by a write through it",
        ),
        (
            "hardlink",
            tgz(&[
                Entry::File(b"capsule.json", capsule),
                raw(link(tar::EntryType::Link, b"trace_spec.json", "/etc/passwd")?, b""),
            ])?,
            "pack-entry-type",
            vec![],
            "hard link to a file outside",
        ),
        (
            "char-device",
            tgz(&[Entry::File(b"capsule.json", capsule), raw(dev, b"")])?,
            "pack-entry-type",
            vec![],
            "character device",
        ),
        (
            "block-device",
            tgz(&[Entry::File(b"capsule.json", capsule), raw(blk, b"")])?,
            "pack-entry-type",
            vec![],
            "block device",
        ),
        (
            "fifo",
            tgz(&[Entry::File(b"capsule.json", capsule), raw(fifo, b"")])?,
            "pack-entry-type",
            vec![],
            "named pipe",
        ),
        (
            "directory-entry",
            tgz(&[Entry::File(b"capsule.json", capsule), raw(dirh, b"")])?,
            "pack-entry-type",
            vec![],
            "directory entry",
        ),
        (
            "pax-path-override",
            tgz(&[
                Entry::File(b"capsule.json", capsule),
                raw(raw_header(b"PaxHeader", tar::EntryType::XHeader, pax_path.len() as u64), &pax_path),
                Entry::File(b"innocent.txt", b"x"),
            ])?,
            "pack-entry-type",
            vec![],
            "pax header renaming the next member to `../`",
        ),
        (
            "gnu-long-name",
            tgz(&[
                Entry::File(b"capsule.json", capsule),
                raw(longname_entry, &long_data),
                Entry::File(b"short", b"x"),
            ])?,
            "pack-unsafe-path",
            vec![],
            "GNU long name over 100 bytes",
        ),
        (
            "gnu-long-name-bomb",
            tgz(&[Entry::File(b"capsule.json", capsule), raw(longname_bomb, b"")])?,
            "pack-unsafe-path",
            vec![],
            "a GNU long-name header declaring 8 GiB (never read)",
        ),
        (
            "ustar-prefix",
            tgz(&[Entry::File(b"capsule.json", capsule), raw(prefixed, b"x")])?,
            "pack-unsafe-path",
            vec![],
            "a ustar prefix field that would turn `a` into `proofs/a`",
        ),
        ("no-end-marker", unterminated, "pack-corrupt", vec![], "the golden pack without its end-of-archive marker"),
        (
            "path-conflict",
            files(&conflicting)?,
            "pack-path-conflict",
            vec![],
            "`proofs/a` and `proofs/a/b`: both cannot be files when unpacked",
        ),
        (
            "non-utf8-name",
            tgz(&[Entry::File(b"capsule.json", capsule), Entry::File(b"proofs/\xff\xfe.bin", b"x")])?,
            "pack-non-utf8-path",
            vec![],
            "member name that is not UTF-8",
        ),
        (
            "duplicate-member",
            files(&dup)?,
            "pack-duplicate-member",
            vec![],
            "a member twice (second copy could shadow the first)",
        ),
        (
            "unlisted-member",
            files(&golden_entries(vec![(b"proofs/extra.bin".to_vec(), b"not listed".to_vec())]))?,
            "member-unlisted",
            vec![],
            "a member the capsule does not list",
        ),
        (
            "signature-member",
            files(&golden_entries(vec![(b"signatures/sig.json".to_vec(), b"{}".to_vec())]))?,
            "signature-unsupported",
            vec![],
            "a signature member of a kind no verifier knows (not `.key.json` or `.sigstore.json`)",
        ),
        ("capsule-not-first", files(&reordered)?, "capsule-missing", vec![], "capsule.json is not the first member"),
        (
            "members-out-of-order",
            files(&unsorted)?,
            "pack-member-order",
            vec![],
            "listed members out of canonical order",
        ),
        (
            "row-digest-bomb",
            tgz(&[Entry::File(b"capsule.json", &tiny_rows), Entry::Declared(b"rows/rows.bin", 1 << 32)])?,
            "member-too-large-to-check",
            vec![],
            "rows whose chunk digests would not fit in memory",
        ),
        ("empty-archive", tgz(&[])?, "capsule-missing", vec![], "an archive with no members"),
        (
            "gzip-bomb-declared",
            tgz(&[Entry::File(b"capsule.json", capsule), Entry::Declared(b"rows/rows.bin", 1 << 40)])?,
            "pack-member-too-large",
            vec![],
            "a member declaring 1 TiB",
        ),
        (
            "gzip-bomb-total",
            tgz(&[
                Entry::File(b"capsule.json", capsule),
                Entry::File(b"proofs/a", &zeros),
                Entry::File(b"proofs/b", &zeros),
                Entry::File(b"proofs/c", &zeros),
                Entry::File(b"proofs/d", &zeros),
            ])?,
            "pack-too-large",
            vec!["--max-total-bytes", "16777216"],
            "members of zeros totalling over the cap",
        ),
        (
            "gzip-bomb-trailing",
            tgz_with_tail(&[Entry::File(b"capsule.json", capsule)], &zeros)?,
            "pack-trailing-data",
            vec![],
            "megabytes of zeros after the end of the archive",
        ),
        (
            "capsule-too-large",
            tgz(&[Entry::Declared(b"capsule.json", 1 << 30)])?,
            "member-too-large-to-check",
            vec![],
            "a capsule.json over the verifier's parse budget",
        ),
        ("truncated-gzip", truncated, "pack-corrupt", vec![], "the pack cut in half"),
        ("corrupt-gzip", flipped, "pack-corrupt", vec![], "a flipped byte inside the deflate stream"),
        ("bad-gzip-crc", bad_crc, "pack-corrupt", vec![], "a wrong CRC in the gzip trailer"),
        ("trailing-garbage", trailing_garbage, "pack-trailing-data", vec![], "bytes after the gzip stream"),
        ("not-gzip", plain_tar, "pack-corrupt", vec![], "an uncompressed tar"),
    ];
    let mut index = Vec::new();
    for (name, bytes, code, args, what) in cases {
        write(&dir.join(format!("{name}.tgz")), &bytes)?;
        index.push(json!({"file": format!("{name}.tgz"), "code": code, "args": args, "attack": what}));
    }
    write(
        &dir.join("cases.json"),
        &pretty(&json!({
            "description": "Hostile packs: each must be rejected by `verify` and `unpack` with the given finding code, in bounded memory, writing nothing outside the target directory.",
            "cases": index,
        })),
    )
}
