//! Importers: existing zkVM harness outputs read as records of exact
//! integer metrics, the first step toward imported receipts.
//!
//! Owns the formats (`zkvm-perf` CSV, `ere-hosts` BenchmarkRun JSON,
//! a16z `zkvm-benchmarks` CSV), how
//! each column or field maps to a metric with its unit in its name (`_ns`,
//! `_bytes`, `_count`), and the errors that name the file, line and column
//! of a bad value. Decimal seconds are parsed from their text exactly,
//! never through a float. [`import_pack`] seals the records into a receipt
//! that carries the source file under its own anchor and classes every
//! value *imported*.

use std::path::Path;

use serde::Deserialize;

use crate::harness::decimal_to_u64;

/// A source format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// succinctlabs/zkvm-perf `eval` CSV (durations in seconds, sizes in
    /// bytes).
    ZkvmPerf,
    /// eth-act ere-hosts `BenchmarkRun` JSON (one run per file).
    EreHosts,
    /// a16z zkvm-benchmarks CSV: `<input name>,prover time (ms),proof size
    /// (bytes)`, one row per input; the file name names the benchmark.
    A16z,
}

/// One imported record: a series id and its metrics, in source order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The series id the record becomes.
    pub id: String,
    /// Metric name (unit as suffix) and value.
    pub metrics: Vec<(String, u64)>,
    /// Descriptive fields that are not measurements (prover, hash
    /// function, gas used...), kept as text.
    pub labels: Vec<(String, String)>,
}

/// Why a source file cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("failed to read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The receipt could not be built.
    #[error("failed to build the imported receipt")]
    Seal(#[from] capsule::builder::BuildError),
    /// The pack could not be written.
    #[error("failed to write `{path}`")]
    Output {
        /// The destination.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The sealed pack does not verify (nothing was written).
    #[error("the imported receipt does not verify: {}", .0.codes().join(", "))]
    Rejected(Box<capsule::verify::Report>),
    /// A value, row or document that does not fit the format.
    #[error("{path}:{line}:{column}: {why}")]
    Malformed {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// 1-based column (CSV: field number; JSON: character).
        column: u64,
        /// What is wrong.
        why: String,
    },
}

impl Format {
    /// The format's name on the command line and in receipts.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::ZkvmPerf => "zkvm-perf",
            Format::EreHosts => "ere-hosts",
            Format::A16z => "a16z",
        }
    }

    /// Parses a format name.
    pub fn parse(s: &str) -> Option<Format> {
        [Format::ZkvmPerf, Format::EreHosts, Format::A16z].into_iter().find(|f| f.as_str() == s)
    }
}

/// What an import wrote.
#[derive(Clone, Debug)]
pub struct ImportOutcome {
    /// The pack.
    pub pack: std::path::PathBuf,
    /// Its capsule hash.
    pub capsule_hash: capsule::digest::Digest,
    /// Series imported.
    pub series: usize,
    /// The integrity report of the written pack.
    pub report: capsule::verify::Report,
}

/// Imports `source` as `format` into a receipt at `out`: the source file
/// travels in the pack as `imported/source`, bound by the
/// `imported_source_hash` anchor; each record becomes a series of one
/// sample classed imported; the workload id is `import:<format>`. The pack
/// is written beside `out`, verified at profile `integrity`, then renamed.
pub fn import_pack(format: Format, source: &Path, out: &Path) -> Result<ImportOutcome, ImportError> {
    use capsule::builder::{CapsuleBuilder, system_clock};
    use capsule::objects::{MeasurementsV1, PublicInputsV1, SampleV1, SeriesV1, ValueClass};
    use capsule::rows::RowParams;
    use capsule::verify::{Profile, VerifyOptions, verify_pack_file};
    use serde_json::{Value, json};

    let records = import(format, source)?;
    let bytes =
        std::fs::read(source).map_err(|e| ImportError::Read { path: source.display().to_string(), source: e })?;
    #[expect(clippy::expect_used, reason = "the shipped policy exists")]
    let policy = capsule::standard::standard_policy("import-v1").expect("shipped").clone();
    let runner = json!({"runner_name": "cargo-capsule", "runner_version": env!("CARGO_PKG_VERSION"), "mode": "import"});
    let mut b = CapsuleBuilder::new(&crate::run::run_id(), runner, crate::run::command_spec(), policy, system_clock())?;
    b.imported_source(bytes.clone());
    b.commit_rows(RowParams { row_width: 64, chunk_len: 1024, arity: 16 }, &[][..], true)?;
    let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut parameters = std::collections::BTreeMap::new();
    parameters.insert("format".to_owned(), Value::from(format.as_str()));
    parameters.insert("source".to_owned(), Value::from(name));
    // Nothing about the source's build is known: the import policy's one
    // track, which restricts nothing and says what the receipt is.
    let mut locked = b.lock_statement(
        "imported",
        PublicInputsV1 {
            workload_id: format!("import:{}", format.as_str()),
            parameters,
            result_digest: Some(capsule::digest::tagged(capsule::digest::Tag::Result, &bytes)),
        },
    )?;
    let mut series: Vec<SeriesV1> = Vec::with_capacity(records.len());
    for r in records {
        // A repeated id (the same configuration measured twice) gets a suffix.
        let mut id = r.id.clone();
        let mut n = 1;
        while series.iter().any(|s| s.id == id) {
            n += 1;
            id = format!("{}#{n}", r.id);
        }
        series.push(SeriesV1 {
            id,
            class: ValueClass::Imported,
            metrics: r.metrics.iter().map(|(m, _)| m.clone()).collect(),
            samples: vec![SampleV1 {
                rep: 0,
                warmup: false,
                values: r.metrics.iter().map(|(_, v)| *v).collect(),
                proof_digest: None,
            }],
        });
    }
    let count = series.len();
    locked.measurements(MeasurementsV1 { schema: Default::default(), series, looks: None })?;
    let mut sealed = locked.seal()?;
    let tmp = sealed.write_beside(out)?;
    let vopts =
        VerifyOptions { profile: Profile::Integrity, expect_capsule: Some(sealed.hash), ..VerifyOptions::default() };
    let (mut report, _) = verify_pack_file(tmp.path(), &vopts);
    report.pack = Some(out.display().to_string());
    if !report.accepted() {
        return Err(ImportError::Rejected(Box::new(report)));
    }
    tmp.persist(out).map_err(|e| ImportError::Output { path: out.display().to_string(), source: e.error })?;
    Ok(ImportOutcome { pack: out.to_path_buf(), capsule_hash: sealed.hash, series: count, report })
}

/// Reads `path` as `format`.
pub fn import(format: Format, path: &Path) -> Result<Vec<Record>, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read { path: path.display().to_string(), source })?;
    let shown = path.display().to_string();
    match format {
        Format::ZkvmPerf => zkvm_perf(&shown, &bytes),
        Format::EreHosts => ere_hosts(&shown, &bytes),
        Format::A16z => {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            a16z(&shown, &stem, &bytes)
        }
    }
}

/// How a zkvm-perf column is imported.
enum Column {
    /// Part of the series id.
    Key,
    /// Decimal seconds, imported as nanoseconds under this name.
    Seconds(&'static str),
    /// An integer, imported under this name.
    Integer(&'static str),
    /// Kept as a label.
    Label,
    /// A rate derived from other columns (a float): not imported.
    Derived,
}

fn zkvm_perf_column(name: &str) -> Option<Column> {
    Some(match name {
        "program" | "prover" | "hashfn" | "shard_size" => Column::Key,
        "execution_duration" => Column::Seconds("execution_ns"),
        "prove_duration" => Column::Seconds("prove_ns"),
        "core_prove_duration" => Column::Seconds("core_prove_ns"),
        "core_verify_duration" => Column::Seconds("core_verify_ns"),
        "compress_prove_duration" => Column::Seconds("compress_prove_ns"),
        "compress_verify_duration" => Column::Seconds("compress_verify_ns"),
        "shrink_prove_duration" => Column::Seconds("shrink_prove_ns"),
        "wrap_prove_duration" => Column::Seconds("wrap_prove_ns"),
        "groth16_prove_duration" => Column::Seconds("groth16_prove_ns"),
        "plonk_prove_duration" => Column::Seconds("plonk_prove_ns"),
        "cycles" => Column::Integer("cycles_count"),
        "shards" => Column::Integer("shards_count"),
        "gas" => Column::Integer("gas_count"),
        "core_proof_size" => Column::Integer("core_proof_bytes"),
        "compress_proof_size" => Column::Integer("compress_proof_bytes"),
        "priority" => Column::Label,
        "speed" | "core_khz" | "overall_khz" | "hashes_per_second" | "hash_bytes_per_second" => Column::Derived,
        _ => return None,
    })
}

/// A decimal integer within the receipt's safe range (at most 2^53 − 1).
fn safe_integer(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().filter(|n| *n <= capsule::canonical::MAX_SAFE_INTEGER)
}

fn zkvm_perf(path: &str, bytes: &[u8]) -> Result<Vec<Record>, ImportError> {
    let bad = |line: u64, column: u64, why: String| ImportError::Malformed { path: path.to_owned(), line, column, why };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let headers = reader.headers().map_err(|e| bad(1, 1, e.to_string()))?.clone();
    let mut columns = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let c = zkvm_perf_column(h).ok_or_else(|| bad(1, i as u64 + 1, format!("unknown column `{h}`")))?;
        columns.push(c);
    }
    for key in ["program", "prover"] {
        if !headers.iter().any(|h| h == key) {
            return Err(bad(1, 1, format!("the header has no `{key}` column")));
        }
    }
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, 1, e.to_string())
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let mut key = Vec::new();
        let mut rec = Record { id: String::new(), metrics: Vec::new(), labels: Vec::new() };
        for (i, (value, column)) in row.iter().zip(&columns).enumerate() {
            let col = i as u64 + 1;
            let name = &headers[i];
            match column {
                Column::Key => key.push(format!("{name}={value}")),
                Column::Label if !value.is_empty() => rec.labels.push((name.to_owned(), value.to_owned())),
                Column::Seconds(m) if !value.is_empty() => {
                    let ns = decimal_to_u64(value, 9).ok_or_else(|| {
                        bad(line, col, format!("`{value}` is not a non-negative decimal number of seconds"))
                    })?;
                    rec.metrics.push(((*m).to_owned(), ns));
                }
                Column::Integer(m) if !value.is_empty() => {
                    let n = safe_integer(value)
                        .ok_or_else(|| bad(line, col, format!("`{value}` is not a non-negative integer")))?;
                    rec.metrics.push(((*m).to_owned(), n));
                }
                _ => {}
            }
        }
        rec.id = key.join(",");
        out.push(rec);
    }
    if out.is_empty() {
        return Err(bad(1, 1, "the file has a header but no rows".to_owned()));
    }
    Ok(out)
}

fn a16z(path: &str, stem: &str, bytes: &[u8]) -> Result<Vec<Record>, ImportError> {
    let bad = |line: u64, column: u64, why: String| ImportError::Malformed { path: path.to_owned(), line, column, why };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let headers = reader.headers().map_err(|e| bad(1, 1, e.to_string()))?.clone();
    let expected = ["prover time (ms)", "proof size (bytes)"];
    if headers.len() != 3 || headers[0].is_empty() {
        return Err(bad(1, 1, format!("expected `<input name>,{},{}`", expected[0], expected[1])));
    }
    for (i, want) in expected.iter().enumerate() {
        if headers[i + 1] != **want {
            return Err(bad(1, i as u64 + 2, format!("column is `{}`, expected `{want}`", &headers[i + 1])));
        }
    }
    let input_name = headers[0].to_owned();
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| bad(e.position().map_or(0, |p| p.line()), 1, e.to_string()))?;
        let line = row.position().map_or(0, |p| p.line());
        let int = |col: usize| {
            safe_integer(&row[col])
                .ok_or_else(|| bad(line, col as u64 + 1, format!("`{}` is not a non-negative integer", &row[col])))
        };
        let ms = int(1)?;
        let ns = ms
            .checked_mul(1_000_000)
            .filter(|n| *n <= capsule::canonical::MAX_SAFE_INTEGER)
            .ok_or_else(|| bad(line, 2, format!("{ms} ms exceeds 2^53 - 1 nanoseconds")))?;
        out.push(Record {
            id: format!("{stem}/{input_name}={}", &row[0]),
            metrics: vec![("prove_ns".to_owned(), ns), ("proof_bytes".to_owned(), int(2)?)],
            labels: vec![(input_name.clone(), row[0].to_owned())],
        });
    }
    if out.is_empty() {
        return Err(bad(1, 1, "the file has a header but no rows".to_owned()));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchmarkRun {
    name: String,
    #[serde(default)]
    timestamp_completed: Option<String>,
    #[serde(default)]
    metadata: Option<RunMetadata>,
    #[serde(default)]
    execution: Option<Outcome<Execution>>,
    #[serde(default)]
    proving: Option<Outcome<Proving>>,
}

#[derive(Deserialize)]
struct RunMetadata {
    #[serde(default)]
    block_used_gas: Option<u64>,
}

/// `{"success": {...}}`, or another outcome (`crashed`, `timeout`...): a
/// run that did not succeed.
#[derive(Deserialize)]
struct Outcome<T> {
    success: Option<T>,
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, serde_json::Value>,
}

impl<T> Outcome<T> {
    fn failed(&self) -> bool {
        self.success.is_none() || !self.other.is_empty()
    }
}

#[derive(Deserialize)]
struct Execution {
    total_num_cycles: u64,
    #[serde(default)]
    region_cycles: std::collections::BTreeMap<String, u64>,
    execution_duration: Duration,
}

#[derive(Deserialize)]
struct Duration {
    secs: u64,
    nanos: u32,
}

#[derive(Deserialize)]
struct Proving {
    proof_size: u64,
    proving_time_ms: u64,
    verification_time_ms: u64,
    #[serde(default)]
    output_matched: Option<bool>,
}

fn ere_hosts(path: &str, bytes: &[u8]) -> Result<Vec<Record>, ImportError> {
    let run: BenchmarkRun = serde_json::from_slice(bytes).map_err(|e| ImportError::Malformed {
        path: path.to_owned(),
        line: e.line() as u64,
        column: e.column() as u64,
        why: e.to_string(),
    })?;
    let whole = |why: String| ImportError::Malformed { path: path.to_owned(), line: 1, column: 1, why };
    let mut rec = Record { id: run.name.clone(), metrics: Vec::new(), labels: Vec::new() };
    if let Some(t) = run.timestamp_completed {
        rec.labels.push(("timestamp_completed".to_owned(), t));
    }
    if let Some(gas) = run.metadata.and_then(|m| m.block_used_gas) {
        rec.metrics.push(("gas_count".to_owned(), gas));
    }
    let ms = |v: u64| v.checked_mul(1_000_000).ok_or_else(|| whole(format!("{v} ms overflows nanoseconds")));
    let failed_execution = run.execution.as_ref().filter(|o| o.failed()).map(|o| &o.other);
    if let Some(o) = failed_execution.or_else(|| run.proving.as_ref().filter(|o| o.failed()).map(|o| &o.other)) {
        let outcome: Vec<&str> = o.keys().map(String::as_str).collect();
        return Err(whole(format!("the run did not succeed ({}): not a result to import", outcome.join(", "))));
    }
    match (run.execution.and_then(|o| o.success), run.proving.and_then(|o| o.success)) {
        (Some(e), None) => {
            let ns = e
                .execution_duration
                .secs
                .checked_mul(1_000_000_000)
                .and_then(|s| s.checked_add(u64::from(e.execution_duration.nanos)))
                .ok_or_else(|| whole("the execution duration overflows nanoseconds".to_owned()))?;
            rec.metrics.push(("cycles_count".to_owned(), e.total_num_cycles));
            rec.metrics.push(("execution_ns".to_owned(), ns));
            for (region, cycles) in e.region_cycles {
                rec.metrics.push((format!("region.{region}.cycles_count"), cycles));
            }
        }
        (None, Some(p)) => {
            if p.output_matched == Some(false) {
                return Err(whole("the run's output did not match: not a result to import".to_owned()));
            }
            rec.metrics.push(("prove_ns".to_owned(), ms(p.proving_time_ms)?));
            rec.metrics.push(("verify_ns".to_owned(), ms(p.verification_time_ms)?));
            rec.metrics.push(("proof_bytes".to_owned(), p.proof_size));
        }
        _ => return Err(whole("a BenchmarkRun holds exactly one of `execution` and `proving`".to_owned())),
    }
    if let Some((name, v)) = rec.metrics.iter().find(|(_, v)| *v > capsule::canonical::MAX_SAFE_INTEGER) {
        return Err(whole(format!("`{name}` = {v} exceeds 2^53 - 1")));
    }
    Ok(vec![rec])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Option<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/harness-outputs");
        if dir.is_dir() {
            return Some(dir);
        }
        assert!(std::env::var_os("CI").is_none(), "the harness-output vectors are missing at {}", dir.display());
        None
    }

    #[test]
    fn zkvm_perf_vector_imports_exactly() {
        let Some(dir) = vectors() else { return };
        let recs = import(Format::ZkvmPerf, &dir.join("zkvm-perf/benchmarks_v4.0.1.csv")).unwrap();
        assert_eq!(recs.len(), 4);
        let first = &recs[0];
        assert_eq!(first.id, "program=fibonacci-300kn,prover=sp1,hashfn=poseidon,shard_size=21");
        let get = |name: &str| first.metrics.iter().find(|(m, _)| m == name).map(|(_, v)| *v);
        // "0.067575297" s and "40.231939957" s, exactly.
        assert_eq!(get("execution_ns"), Some(67_575_297));
        assert_eq!(get("prove_ns"), Some(40_231_939_957));
        assert_eq!(get("cycles_count"), Some(3_605_832));
        assert_eq!(get("core_proof_bytes"), Some(4_815_175));
        assert_eq!(get("gas_count"), None, "an empty cell is no metric");
    }

    #[test]
    fn ere_hosts_vectors_import_exactly() {
        let Some(dir) = vectors() else { return };
        let p = import(Format::EreHosts, &dir.join("ere-hosts/proving-zisk-ec_pairing_2_pair.json")).unwrap();
        assert_eq!(
            p[0].metrics,
            [
                ("gas_count".to_owned(), 60_000_000),
                ("prove_ns".to_owned(), 25_113_000_000),
                ("verify_ns".to_owned(), 5_000_000),
                ("proof_bytes".to_owned(), 261_313)
            ]
        );
        let e = import(Format::EreHosts, &dir.join("ere-hosts/execution-risc0-worst_jumpis.json")).unwrap();
        assert!(e[0].metrics.contains(&("execution_ns".to_owned(), 5_184_934_056)));
        assert!(e[0].metrics.contains(&("cycles_count".to_owned(), 192_576_676)));
    }

    #[test]
    fn every_shared_vector_becomes_an_imported_receipt() {
        use capsule::objects::ValueClass;
        use capsule::verify::{Profile, VerifyOptions, verify_pack_file};
        let Some(dir) = vectors() else { return };
        let out = tempfile::tempdir().unwrap();
        for (format, file) in [
            (Format::ZkvmPerf, "zkvm-perf/benchmarks_v4.0.1.csv"),
            (Format::EreHosts, "ere-hosts/proving-zisk-ec_pairing_2_pair.json"),
            (Format::EreHosts, "ere-hosts/execution-risc0-worst_jumpis.json"),
        ] {
            let pack = out.path().join("p.tgz");
            let o = import_pack(format, &dir.join(file), &pack).unwrap();
            let (r, c) =
                verify_pack_file(&pack, &VerifyOptions { profile: Profile::Integrity, ..VerifyOptions::default() });
            assert!(r.accepted(), "{file}: {:?}", r.findings);
            assert_eq!(r.capsule_hash, Some(o.capsule_hash));
            // Every value the verifier reports about the run is imported.
            for v in &r.values {
                assert!(
                    matches!(v.class, ValueClass::Imported | ValueClass::Recomputed),
                    "{file}: {} is {:?}",
                    v.name,
                    v.class
                );
            }
            assert!(r.values.iter().any(|v| v.class == ValueClass::Imported && v.name.ends_with(".median")));
            // The source travels in the pack, byte for byte.
            let c = c.unwrap();
            assert_eq!(c.statement.public_inputs.workload_id, format!("import:{}", format.as_str()));
            let mut source = None;
            capsule::pack::read_pack_file::<capsule::pack::PackError, _>(&pack, &Default::default(), |m| {
                if m.path == capsule::objects::paths::IMPORTED_SOURCE {
                    source = Some(m.read_all()?);
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(source.unwrap(), std::fs::read(dir.join(file)).unwrap());
            // The certified track refuses it, whoever signed.
            let (r, _) =
                verify_pack_file(&pack, &VerifyOptions { profile: Profile::Certified, ..VerifyOptions::default() });
            assert!(r.codes().contains(&"certified-imported"), "{:?}", r.codes());
        }
    }

    #[test]
    fn a16z_csv_from_its_documented_header() {
        // No real a16z output is public; this file follows the header its
        // `utils::write_csv` writes.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sha2_chain_sp1_1_shard.csv");
        std::fs::write(&p, "iters,prover time (ms),proof size (bytes)\n230,51234,1315503\n460,98765,1315503\n")
            .unwrap();
        let recs = import(Format::A16z, &p).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].id, "sha2_chain_sp1_1_shard/iters=230");
        assert_eq!(recs[0].metrics, [("prove_ns".to_owned(), 51_234_000_000), ("proof_bytes".to_owned(), 1_315_503)]);
    }

    #[test]
    fn malformed_input_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        // (format, file text, expected message fragment)
        let cases: &[(Format, &str, &str)] = &[
            (
                Format::ZkvmPerf,
                "program,prover,cycles\nfib,sp1,12\nfib,sp1,1.5\n",
                "x.in:3:3: `1.5` is not a non-negative integer",
            ),
            (
                Format::ZkvmPerf,
                "program,prover,prove_duration\nfib,sp1,-1\n",
                "x.in:2:3: `-1` is not a non-negative decimal",
            ),
            (Format::ZkvmPerf, "program,prover,mystery\n", "x.in:1:3: unknown column `mystery`"),
            (Format::ZkvmPerf, "program,prover,cycles\nfib,sp1\n", "x.in:2:1"),
            (Format::ZkvmPerf, "program,prover\n", "has a header but no rows"),
            (
                Format::EreHosts,
                "{\n  \"name\": \"x\",\n  \"proving\": {\"success\": {\"proof_size\": \"big\"}}\n}",
                "x.in:3:",
            ),
            (Format::EreHosts, r#"{"name":"x","proving":{"crashed":{"reason":"oom"}}}"#, "did not succeed"),
            (Format::EreHosts, r#"{"name":"x"}"#, "exactly one of"),
            (Format::A16z, "n,prover time (s),proof size (bytes)\n1,2,3\n", "x.in:1:2: column is `prover time (s)`"),
            (Format::A16z, "n,prover time (ms),proof size (bytes)\n1,2,3\n4,5.5,6\n", "x.in:3:2: `5.5` is not"),
            (Format::A16z, "n,prover time (ms),proof size (bytes)\n1,2\n", "x.in:2:1"),
        ];
        for (format, text, want) in cases {
            let p = dir.path().join("x.in");
            std::fs::write(&p, text).unwrap();
            let e = import(*format, &p).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
