//! gungraun as a receipt producer: instruction counts per benchmark.
//!
//! Owns one *round* of a gungraun bench executable (the bench target built
//! once by [`crate::harness::build_bench_target`]) and reading what it
//! saved: gungraun runs every benchmark under callgrind, and with
//! `--save-summary=json` writes one `summary.json` per benchmark (its
//! summary schema, `"version": "7"`) under `$GUNGRAUN_HOME`, which the
//! runner points at a fresh directory for each round. The integer totals
//! of the callgrind profile become one sample per benchmark per round, so a
//! gungraun workload is measured, paired and compared like a criterion one,
//! with deterministic numbers: the same binary and input give the same
//! counts on any machine, whatever else it is running.
//!
//! The counts come from another tool, so every series is classed
//! *harness-reported*. Rates gungraun derives (`L1HitRate`, ...) are not
//! samples and are left out.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{BenchBinary, HarnessError, RoundValue};

/// The summary schema version this reader understands.
pub const SUMMARY_VERSION: &str = "7";

/// The tools a gungraun round needs besides the bench executable, with how
/// to install each.
const TOOLS: [(&str, &str); 2] = [
    (
        "gungraun-runner",
        "install the version equal to the workload's `gungraun` dependency with \
         `cargo install gungraun-runner --version <that version>`",
    ),
    ("valgrind", "install it with `apt install valgrind`, `dnf install valgrind` or your system's package manager"),
];

/// The versions of `gungraun-runner` and `valgrind` on `PATH` (their
/// `--version` lines), or which one is missing and how to install it.
pub fn tool_versions() -> Result<[String; 2], HarnessError> {
    let version = |(tool, install): (&str, &'static str)| -> Result<String, HarnessError> {
        let out = Command::new(tool).arg("--version").output();
        match out {
            Ok(o) if o.status.success() => {
                Ok(String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().trim().to_owned())
            }
            _ => Err(HarnessError::NotInstalled { tool: tool.to_owned(), install }),
        }
    };
    Ok([version(TOOLS[0])?, version(TOOLS[1])?])
}

/// The command of one round: the bench executable in bench mode, saving a
/// JSON summary per benchmark into `home`, with the workload's `args`,
/// in its package's directory. Every other `GUNGRAUN_*` variable of the
/// caller's environment is removed, so the workload's `args` alone
/// configure what is counted.
pub fn round_command(bin: &BenchBinary, args: &[String], home: &Path) -> Command {
    let mut cmd = Command::new(&bin.exe);
    cmd.args(["--bench", "--save-summary=json"]).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("GUNGRAUN_")) {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(&bin.package_dir).env("GUNGRAUN_HOME", home).env("CARGO_MANIFEST_DIR", &bin.package_dir);
    cmd
}

/// The metric a callgrind event total is recorded as: `Ir` (instructions
/// executed) is `instructions_count`, the name `--measure instructions`
/// gives the same count; every other event `Name` is `callgrind_` + its
/// name in snake case + `_count` (`EstimatedCycles` is
/// `callgrind_estimated_cycles_count`, `L1hits` `callgrind_l1hits_count`).
pub fn metric_name(event: &str) -> String {
    if event == "Ir" {
        return "instructions_count".to_owned();
    }
    let mut snake = String::with_capacity(event.len() + 4);
    let mut prev_lower = false;
    for c in event.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            snake.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        snake.push(c.to_ascii_lowercase());
    }
    format!("callgrind_{snake}_count")
}

/// One benchmark's figures from one summary: its id and its metrics (the
/// instruction count first, then the other integer totals in the order the
/// summary lists them).
pub fn summary_value(text: &str, path: &str) -> Result<RoundValue, HarnessError> {
    let bad = |why: String| HarnessError::Output { path: path.to_owned(), why };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let version = v["version"].as_str().unwrap_or_default();
    if version != SUMMARY_VERSION {
        return Err(bad(format!(
            "summary schema version `{version}`; this reader understands `{SUMMARY_VERSION}` (gungraun 0.17 to 0.20)"
        )));
    }
    let module = v["module_path"].as_str().ok_or_else(|| bad("no `module_path`".to_owned()))?;
    let id = match v["id"].as_str() {
        Some(id) => format!("{module}.{id}"),
        None => module.to_owned(),
    };
    let profiles = v["profiles"].as_array().map(Vec::as_slice).unwrap_or_default();
    let Some(callgrind) = profiles.iter().find(|p| p["tool"] == "Callgrind") else {
        return Err(bad(format!(
            "benchmark `{id}` has no callgrind profile; a gungraun workload counts with callgrind"
        )));
    };
    let totals = callgrind["data"]["total"]["metrics"]
        .as_object()
        .ok_or_else(|| bad(format!("benchmark `{id}`: no callgrind totals")))?;
    let (mut metrics, mut values) = (Vec::new(), Vec::new());
    for (event, m) in totals {
        // Counts are integers; gungraun's derived rates are not samples.
        let Some(n) = m["values"]["new"].as_u64() else { continue };
        let name = metric_name(event);
        if name == "instructions_count" {
            metrics.insert(0, name);
            values.insert(0, n);
        } else {
            metrics.push(name);
            values.push(n);
        }
    }
    if metrics.first().is_none_or(|m| m != "instructions_count") {
        return Err(bad(format!("benchmark `{id}`: callgrind reported no instruction count (`Ir`)")));
    }
    Ok(RoundValue { id, metrics, values })
}

/// Reads every `summary.json` a round wrote under `home`, in ascending
/// order of benchmark id; none is an error naming `shown`.
pub fn round_values(home: &Path, shown: &str) -> Result<Vec<RoundValue>, HarnessError> {
    let mut files = Vec::new();
    summaries(home, &mut files);
    if files.is_empty() {
        return Err(HarnessError::Empty { command: shown.to_owned(), dir: home.display().to_string() });
    }
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| HarnessError::Output { path: f.display().to_string(), why: e.to_string() })?;
        out.push(summary_value(&text, &f.display().to_string())?);
    }
    crate::harness::by_unique_id(out, |v| &v.id, home)
}

fn summaries(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            summaries(&p, out);
        } else if p.file_name().is_some_and(|n| n == "summary.json") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/gungraun/summary-v7.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A summary gungraun 0.20 wrote for `fixtures/counts`, and hostile
    /// edits of it: the counts are read exactly, and what cannot be read
    /// is an error saying why.
    #[test]
    fn summaries_are_read_exactly_or_refused() {
        let v = summary_value(&recorded().to_string(), "s").unwrap();
        assert_eq!(v.id, "counts::counts::bench_checksum.small");
        assert_eq!((v.metrics[0].as_str(), v.values[0]), ("instructions_count", 8014));
        assert_eq!(v.metrics.len(), 14, "{:?}", v.metrics);
        let at = |m: &str| v.values[v.metrics.iter().position(|x| x == m).unwrap()];
        assert_eq!((at("callgrind_estimated_cycles_count"), at("callgrind_total_rw_count")), (10053, 10019));
        assert!(!v.metrics.iter().any(|m| m.contains("rate")), "rates are not samples");
        const TOTAL: &str = "/profiles/0/data/total/metrics";
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit, &str); 6] = [
            ("another schema", |v| v["version"] = "8".into(), "schema version `8`"),
            ("no callgrind", |v| v["profiles"][0]["tool"] = "DHAT".into(), "no callgrind profile"),
            (
                "no Ir",
                |v| drop(v.pointer_mut(TOTAL).unwrap().as_object_mut().unwrap().remove("Ir")),
                "no instruction count",
            ),
            (
                "Ir not an integer",
                |v| v.pointer_mut(TOTAL).unwrap()["Ir"]["values"]["new"] = (-1).into(),
                "no instruction count",
            ),
            ("no module path", |v| drop(v.as_object_mut().unwrap().remove("module_path")), "no `module_path`"),
            ("no profiles", |v| v["profiles"] = Value::Null, "no callgrind profile"),
        ];
        for (name, edit, want) in cases {
            let mut v = recorded();
            edit(&mut v);
            let err = summary_value(&v.to_string(), "s").unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        assert!(summary_value("not json", "s").is_err());
        // Without a bench id the module path alone names the benchmark.
        let mut v = recorded();
        v.as_object_mut().unwrap().remove("id");
        assert_eq!(summary_value(&v.to_string(), "s").unwrap().id, "counts::counts::bench_checksum");
    }

    #[test]
    fn metric_names_are_snake_case_counts() {
        for (event, name) in [
            ("Ir", "instructions_count"),
            ("EstimatedCycles", "callgrind_estimated_cycles_count"),
            ("L1hits", "callgrind_l1hits_count"),
            ("LLhits", "callgrind_llhits_count"),
            ("RamHits", "callgrind_ram_hits_count"),
            ("TotalRW", "callgrind_total_rw_count"),
            ("I1mr", "callgrind_i1mr_count"),
            ("DLmw", "callgrind_dlmw_count"),
            ("Dr", "callgrind_dr_count"),
        ] {
            assert_eq!(metric_name(event), name);
        }
    }
}
