//! All terminal output: the one place that prints.

use std::fmt::Write as _;
use std::io::Write;

use capsule::objects::ValueClass;
use capsule::verify::{PackContents, Report, Severity, SignedVerdict};
use serde::Serialize;
use serde_json::Value;

use crate::errors::CliError;

/// Text from a pack may hold terminal control sequences, bidirectional
/// overrides or invisible characters; every such character but the newline
/// is shown escaped (`\u{202e}`), never sent to the terminal.
fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| c != '\n' && capsule::text::is_deceptive(c);
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if hidden(c) {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    std::borrow::Cow::Owned(s)
}

/// How results are printed: `--message-format` and `--color`, set once by
/// [`set_mode`] before any output.
#[derive(Clone, Copy, Debug, Default)]
struct Mode {
    json: bool,
    color_stdout: bool,
    color_stderr: bool,
}

static MODE: std::sync::OnceLock<Mode> = std::sync::OnceLock::new();
/// Whether a JSON document has been printed (JSON mode).
static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Text a command printed for people while in JSON mode: it goes out as
/// one `capsulebench/messages/v1` document instead ([`finish`]).
static MESSAGES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour when the stream is a terminal, `NO_COLOR` is unset or empty
    /// and `TERM` is not `dumb`.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Sets how results are printed, once, before anything is printed.
pub(crate) fn set_mode(json: bool, color: ColorChoice) {
    use std::io::IsTerminal;
    let env_allows = || {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
    };
    let colors = |terminal: bool| match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && env_allows(),
    };
    let _ = MODE.set(Mode {
        json,
        color_stdout: colors(std::io::stdout().is_terminal()),
        color_stderr: colors(std::io::stderr().is_terminal()),
    });
}

fn mode() -> Mode {
    MODE.get().copied().unwrap_or_default()
}

/// Whether results are printed as JSON (`--message-format json`).
pub(crate) fn json_mode() -> bool {
    mode().json
}

/// In JSON mode, prints what a command said for people as one
/// `capsulebench/messages/v1` document (`messages`: its lines), unless it
/// printed a JSON document of its own.
pub(crate) fn finish() -> Result<(), CliError> {
    if !json_mode() || JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let messages = std::mem::take(&mut *MESSAGES.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    if messages.is_empty() {
        return Ok(());
    }
    json(&serde_json::json!({"schema": "capsulebench/messages/v1", "messages": messages}))
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BOLD_RED: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";

/// The colour of a verdict word the tool prints.
fn verdict_color(word: &str) -> Option<&'static str> {
    match word {
        "REJECTED" | "slower" | "larger" | "higher" | "FAILED" => Some(RED),
        "ACCEPTED" | "verified" | "faster" | "smaller" | "lower" | "passed" => Some(GREEN),
        "inconclusive" | "DIFFERS" => Some(YELLOW),
        _ => None,
    }
}

/// Colours the verdict words of lines the tool writes (`verdict …`,
/// `verify …`, `error[…]`, a comparison row's last word). Applied after
/// [`sanitize`], so text from a pack can carry no escape of its own; a
/// word is only coloured where the tool puts a verdict.
fn paint(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 64);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let labelled = ["verdict      ", "verify       ", "result       "]
            .iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (&line[..p.len()], rest)));
        if let Some((label, rest)) = labelled {
            let word = rest.split([' ', '(']).next().unwrap_or_default();
            if let Some(c) = verdict_color(word) {
                s.push_str(&format!("{label}{c}{word}{RESET}{}", &rest[word.len()..]));
                continue;
            }
        }
        if let Some(rest) = line.strip_prefix("  error[") {
            s.push_str(&format!("  {RED}error{RESET}[{rest}"));
            continue;
        }
        let last = line.rsplit("  ").next().unwrap_or_default();
        match verdict_color(last).filter(|_| line.starts_with("  ") && line.len() > last.len()) {
            Some(c) => s.push_str(&format!("{}{c}{last}{RESET}", &line[..line.len() - last.len()])),
            None => s.push_str(line),
        }
    }
    s
}

fn out(text: &str) -> Result<(), CliError> {
    let m = mode();
    if m.json {
        let mut messages = MESSAGES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        messages.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
        return Ok(());
    }
    let clean = sanitize(text);
    let shown = if m.color_stdout { std::borrow::Cow::Owned(paint(&clean)) } else { clean };
    let mut o = std::io::stdout().lock();
    o.write_all(shown.as_bytes()).and_then(|_| o.flush()).map_err(CliError::Output)
}

/// Prints one line.
pub(crate) fn line(s: &str) -> Result<(), CliError> {
    out(&format!("{s}\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(super::sanitize("a\u{1b}[31mred\rb\nc"), "a\\u{1b}[31mred\\rb\nc");
        assert_eq!(super::sanitize("plain\n"), "plain\n");
        assert_eq!(super::sanitize("a\u{202e}b\u{200b}c\u{feff}"), "a\\u{202e}b\\u{200b}c\\u{feff}");
    }

    #[test]
    fn json_escapes_del_and_c1_validly() {
        let s = super::escape_json_controls(&serde_json::to_string(&"a\u{7f}b\u{9b}c").unwrap());
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "a\u{7f}b\u{9b}c");
        assert!(!s.contains('\u{7f}'));
        let s = super::escape_json_controls(&serde_json::to_string(&"a\u{202e}b\u{2066}c\u{200b}").unwrap());
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "a\u{202e}b\u{2066}c\u{200b}");
        assert!(s.is_ascii(), "{s}");
    }
}

fn escape_json_controls(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    for c in raw.chars() {
        // serde_json escaped C0 inside strings, so a newline here is the
        // pretty-printer's. Everything else named is in the Basic
        // Multilingual Plane: one `\uXXXX`.
        if c != '\n' && capsule::text::is_deceptive(c) {
            s.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            s.push(c);
        }
    }
    s
}

/// Prints a value as pretty JSON. serde_json escapes C0 controls; DEL and
/// C1 controls (which a terminal may act on) are escaped here, as valid
/// JSON `\uXXXX` escapes, so the output stays parseable.
pub(crate) fn json<T: Serialize>(v: &T) -> Result<(), CliError> {
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    let raw = serde_json::to_string_pretty(v).map_err(|e| CliError::Output(e.into()))?;
    let mut s = escape_json_controls(&raw);
    s.push('\n');
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes()).and_then(|_| o.flush()).map_err(CliError::Output)
}

/// Prints a warning on stderr.
pub(crate) fn warn(msg: &str) -> Result<(), CliError> {
    let label = if mode().color_stderr { format!("{YELLOW}warning{RESET}") } else { "warning".to_owned() };
    let mut e = std::io::stderr().lock();
    e.write_all(format!("{label}: {}\n", sanitize(msg)).as_bytes()).map_err(CliError::Output)
}

/// Prints a data-availability audit for people.
pub(crate) fn audit(a: &capsule::trust::audit::AuditReport) -> Result<(), CliError> {
    let mut s = String::new();
    let _ = writeln!(s, "archive      {}", a.archive);
    let _ = writeln!(
        s,
        "seed         {} ({})",
        a.seed,
        if a.seed_from_verifier { "drawn by this verifier" } else { "given" }
    );
    let _ = writeln!(s, "drawn        {} of {} chunks", a.drawn.len(), a.chunks);
    let _ = writeln!(
        s,
        "detection    {} probability of catching {}% of chunks withheld or altered",
        ppm_fraction(a.detection_ppm),
        ppm_percent(a.withheld_fraction_ppm)
    );
    if let Some(p) = &a.archive_problem {
        let _ = writeln!(s, "verdict      FAILED: {p}");
    } else if a.failures.is_empty() {
        let _ = writeln!(s, "verdict      every drawn chunk was retrieved and matches the trace root");
    } else {
        let _ = writeln!(s, "verdict      FAILED: {} drawn chunks", a.failures.len());
        for f in &a.failures {
            let _ = writeln!(s, "  {} {}: {}", f.kind, f.index, f.detail);
        }
    }
    out(&s)
}

/// Renders an error once, with its source chain, on stderr.
pub(crate) fn error(e: &CliError) {
    let label = if mode().color_stderr { format!("{BOLD_RED}error{RESET}") } else { "error".to_owned() };
    let mut s = format!("{e}");
    let mut causes = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        let _ = write!(s, "\n  caused by: {c}");
        causes.push(c.to_string());
        cur = c.source();
    }
    #[expect(clippy::print_stderr, reason = "this is the output module")]
    {
        eprintln!("{label}: {}", sanitize(&s));
    }
    // In JSON mode the one document on standard output says what failed,
    // with what the command had reported before it did.
    if json_mode() && !JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
        let messages = std::mem::take(&mut *MESSAGES.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let _ = json(&serde_json::json!({
            "schema": "capsulebench/error/v1",
            "exit_code": e.exit_code(),
            "error": e.to_string(),
            "causes": causes,
            "messages": messages,
        }));
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const CLASS_SECTIONS: [(ValueClass, &str); 5] = [
    (ValueClass::Proven, "proven (by a bound, verified proof)"),
    (ValueClass::Recomputed, "recomputed (by this verifier, from committed data)"),
    (ValueClass::Measured, "measured (self-reported by the runner; vouched for only by a signer)"),
    (ValueClass::HarnessReported, "harness-reported (produced by user code)"),
    (ValueClass::Imported, "imported (taken from third-party files)"),
];

fn render_report(r: &Report, s: &mut String) {
    if let Some(p) = &r.pack {
        let _ = writeln!(s, "capsulepack  {p}");
    }
    if let Some(h) = &r.capsule_hash {
        let _ = writeln!(s, "capsule      {h}");
    }
    if let Some(id) = &r.run_id {
        let _ = writeln!(s, "run          {id}");
    }
    let passed: Vec<&str> = r.passed.iter().map(|p| p.as_str()).collect();
    let verdict = if r.accepted() { "ACCEPTED" } else { "REJECTED" };
    let _ = writeln!(
        s,
        "verdict      {verdict} at profile `{}` (passed: {})",
        r.requested_profile.as_str(),
        if passed.is_empty() { "none".to_owned() } else { passed.join(", ") }
    );
    if let Some(p) = &r.policy {
        let _ = writeln!(s, "policy       {} {} {} (pinned by {})", p.id, p.version, p.hash, p.pinned_by);
    }
    let _ = writeln!(s, "proof        {}", r.proof.as_str());
    // An imported receipt says what it is before anything else about it.
    let imported = r.values.iter().filter(|v| v.class == ValueClass::Imported).count();
    if imported > 0 && r.values.iter().all(|v| matches!(v.class, ValueClass::Imported | ValueClass::Recomputed)) {
        let _ = writeln!(
            s,
            "what it is   an imported receipt: {imported} values read from a third-party file carried in the pack (`imported/source`); nothing was measured, built or proven by CapsuleBench, and it can never be certified"
        );
    }
    let signed = match r.signed {
        SignedVerdict::Unsigned => "unsigned",
        SignedVerdict::SignedUnpinned => "signed, signers not checked against an ACL (profile `certified` does)",
        SignedVerdict::SignedByAllowed => "signed by a signer the ACL allows",
        SignedVerdict::SignedNotAllowed => "signed, but by no signer the ACL allows",
    };
    let _ = writeln!(s, "signed       {signed}");
    for signer in &r.signers {
        let standing = match signer.allowed {
            Some(true) => "allowed",
            Some(false) => "not allowed",
            None => "not checked",
        };
        let what = if signer.receipt { "receipt" } else { "not a receipt: does not count" };
        let _ = writeln!(s, "  {}  [{what}; {standing}]  {}", signer.describe(), signer.member);
    }
    if let Some(acl) = &r.trust.acl {
        let _ = writeln!(s, "acl          {} {}", acl.source, acl.hash);
    }
    if let Some(root) = &r.trust.registry_root {
        let included = if r.registry_included { "policy included" } else { "policy not shown included" };
        let _ = writeln!(s, "registry     {root} ({included})");
    }
    if let Some(t) = &r.trust.trusted_root {
        let _ = writeln!(s, "sigstore     trusted root {t}");
    }
    if let Some(a) = &r.audit {
        let _ = writeln!(
            s,
            "audit        {} of {} chunks drawn from {} ({} seed {}): {}; detects {}% withheld with probability {}",
            a.drawn.len(),
            a.chunks,
            a.archive,
            if a.seed_from_verifier { "verifier" } else { "given" },
            a.seed,
            if a.passed() { "all retrieved and matching" } else { "FAILED" },
            ppm_percent(a.withheld_fraction_ppm),
            ppm_fraction(a.detection_ppm),
        );
    }
    for (class, title) in CLASS_SECTIONS {
        let vals: Vec<_> = r.values.iter().filter(|v| v.class == class).collect();
        if vals.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title}");
        let width = vals.iter().map(|v| v.name.len()).max().unwrap_or(0);
        for v in vals {
            let _ = write!(s, "  {:width$}  {}", v.name, short(&v.value));
            if let Some(n) = &v.note {
                let _ = write!(s, "  ({n})");
            }
            s.push('\n');
        }
    }
    if !r.findings.is_empty() {
        let _ = writeln!(s, "\nfindings");
        for f in &r.findings {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = writeln!(s, "  {sev}[{}] {}", f.code.as_str(), f.code.explanation());
            let _ = writeln!(s, "      {}", f.detail);
        }
    }
}

fn ppm_percent(ppm: u64) -> String {
    format!("{}.{:04}", ppm / 10_000, ppm % 10_000)
}

fn ppm_fraction(ppm: u64) -> String {
    format!("{}.{:06}", ppm / 1_000_000, ppm % 1_000_000)
}

/// Prints a verification report for people.
pub(crate) fn report(r: &Report) -> Result<(), CliError> {
    if json_mode() {
        return json(r);
    }
    let mut s = String::new();
    render_report(r, &mut s);
    out(&s)
}

/// `inspect`: the pack at a glance.
pub(crate) fn inspect(r: &Report, c: Option<&PackContents>, as_json: bool) -> Result<(), CliError> {
    let Some(c) = c else {
        return if as_json { json(r) } else { report(r) };
    };
    if as_json {
        return json(&serde_json::json!({
            "capsule_hash": r.capsule_hash,
            "capsule": c.capsule,
            "statement": c.statement,
            "trace_spec": c.trace_spec,
            "policy": c.policy,
            "measurements": c.measurements,
            "manifests": c.manifests,
            "integrity": r.verdict,
            "signers": r.signers,
        }));
    }
    let st = &c.statement;
    let mut s = String::new();
    let _ = writeln!(s, "capsule      {}", r.capsule_hash.map(|h| h.to_string()).unwrap_or_default());
    let _ = writeln!(s, "integrity    ok (run `cargo capsule verify` for the policy profile)");
    let params: Vec<String> = st.public_inputs.parameters.iter().map(|(k, v)| format!("{k}={}", short(v))).collect();
    let _ = writeln!(s, "workload     {} ({})", st.public_inputs.workload_id, params.join(", "));
    let _ = writeln!(s, "track        {}", st.track);
    let _ = writeln!(s, "policy       {} {} {}", c.policy.id, c.policy.version, st.policy_hash);
    if let Some(d) = &st.public_inputs.result_digest {
        let _ = writeln!(s, "result       {d}");
    }
    if let Some(g) = c.manifest(capsule::objects::ManifestKind::Git) {
        let _ = writeln!(s, "source       {} (self-reported)", git_line(&g));
    }
    if let Some(m) = c.manifest::<capsule::objects::ContainerManifestV1>(capsule::objects::ManifestKind::Container) {
        let _ = writeln!(s, "container    {} (self-reported; the pin is bound)", m.describe());
    }
    let cm = &c.capsule.commitment;
    let rows_in = c.capsule.members.iter().any(|m| m.path == capsule::objects::paths::ROWS);
    let _ = writeln!(
        s,
        "trace        {} rows x {} B in {} chunks, root {} ({})",
        cm.row_count,
        cm.row_width,
        cm.chunk_count,
        cm.root,
        if rows_in { "rows in pack" } else { "rows not in pack" }
    );
    match &c.capsule.proof {
        Some(p) => {
            let _ = writeln!(s, "proof        {} in {} (run `verify` to check it)", p.backend, p.member);
        }
        None => {
            let _ = writeln!(s, "proof        none declared");
        }
    }
    if r.signers.is_empty() {
        let _ = writeln!(s, "signatures   none");
    }
    for (i, signer) in r.signers.iter().enumerate() {
        let head = if i == 0 { "signatures  " } else { "            " };
        let what = if signer.receipt { "receipt" } else { "not a receipt" };
        let _ = writeln!(s, "{head} {} ({what}; `verify --profile certified` checks the signer)", signer.describe());
    }
    let _ = writeln!(s, "\nanchors (self-reported)");
    if let Ok(Value::Object(a)) = serde_json::to_value(&st.anchors) {
        for (k, v) in a {
            let _ = writeln!(s, "  {k:24} {}", short(&v));
        }
    }
    let _ = writeln!(s, "\nmeasurements (aggregates recomputed from the committed samples)");
    for series in &c.measurements.series {
        let _ = writeln!(s, "  {} [{}]", series.id, series.class.as_str());
        for (i, m) in series.metrics.iter().enumerate() {
            if let Some(a) = series.aggregates(i) {
                let _ = writeln!(
                    s,
                    "    {m:16} median {:>12}  mad {:>10}  min {:>12}  max {:>12}  n={} (+{} warmups)",
                    a.median, a.mad, a.min, a.max, a.count, a.warmups
                );
            }
        }
    }
    let procedure = &c.policy.measurement;
    let empty = capsule::objects::MeasurementsV1 { schema: Default::default(), series: Vec::new(), looks: None };
    if let Some(w) =
        capsule::compare::worst_case(&empty, &c.measurements, &procedure.primary_metric, &procedure.worst_case)
    {
        let _ = writeln!(s, "  worst case: {} (by {})", worst_case_values(&w), w.statistic);
    }
    let _ = writeln!(
        s,
        "\nat a glance: proven: nothing until `verify` checks a proof; signed: nobody; self-reported: anchors, manifests, measurements"
    );
    out(&s)
}

fn abbrev(v: &Value) -> String {
    let s = short(v);
    match s.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 16 => format!("{}…", &hex[..16]),
        _ => s,
    }
}

/// One line per event type; unknown types show their data, truncated.
fn event_summary(kind: &str, d: &Value) -> String {
    match kind {
        "run_started" => format!("{} {}", short(&d["client"]["runner_name"]), short(&d["client"]["runner_version"])),
        "phase" => short(&d["phase_label"]),
        "chunk_committed" => format!(
            "chunk {}/{}  {} rows  {}",
            d["chunk_index"],
            d["num_chunks"],
            d["chunk_rows"],
            abbrev(&d["chunk_digest"])
        ),
        "row_root_finalized" => format!(
            "root {}  {} rows in {} chunks",
            abbrev(&d["commitment"]["root"]),
            d["commitment"]["row_count"],
            d["commitment"]["chunk_count"]
        ),
        "spec_locked" => format!(
            "trace spec {}  policy {} {} {}",
            abbrev(&d["trace_spec_hash"]),
            short(&d["policy_id"]),
            short(&d["policy_version"]),
            abbrev(&d["policy_hash"])
        ),
        "statement_locked" => format!("statement {}", abbrev(&d["statement_hash"])),
        "proof_artifact" => format!(
            "{} {} ({} bytes) {}",
            short(&d["backend"]),
            short(&d["path"]),
            d["size_bytes"],
            abbrev(&d["digest"])
        ),
        "measurements_recorded" => format!("{} series, {} samples", d["series"], d["samples"]),
        _ => {
            let mut data = d.to_string();
            if data.len() > 96 {
                let cut = (0..=96).rev().find(|i| data.is_char_boundary(*i)).unwrap_or(0);
                data.truncate(cut);
                data.push('…');
            }
            data
        }
    }
}

/// `replay`: the sealed timeline.
pub(crate) fn replay(r: &Report, c: Option<&PackContents>, as_json: bool) -> Result<(), CliError> {
    let Some(c) = c else {
        return if as_json { json(r) } else { report(r) };
    };
    if as_json {
        return json(&serde_json::json!({
            "events": c.events.events,
            "hashes": c.events.hashes,
            "head": c.events.head,
            "sealed_head": c.capsule.events.head,
            "sealed_count": c.capsule.events.count,
            "chain": "ok",
        }));
    }
    let mut s = String::new();
    let t0 = c.events.events.first().map(|e| e.ts_ms).unwrap_or(0);
    for (e, h) in c.events.events.iter().zip(&c.events.hashes) {
        let _ = writeln!(
            s,
            "#{:<4} +{:>7}ms  {:21} {}  {}",
            e.seq,
            e.ts_ms.saturating_sub(t0),
            e.kind,
            &h.to_hex()[..12],
            event_summary(&e.kind, &e.data)
        );
    }
    let _ = writeln!(
        s,
        "\nchain ok: {} events, head {} (sealed in capsule {})",
        c.events.events.len(),
        c.events.head,
        r.capsule_hash.map(|h| h.to_string()).unwrap_or_default()
    );
    let _ = writeln!(s, "events after sealing (capsule_sealed, pack_ready) live on the stream only, never in the pack");
    out(&s)
}

/// Where `--events` goes: the hash-chained events as JSON lines, byte for
/// byte the lines a pack's `events.jsonl` holds (plus the post-seal ones).
#[derive(Clone)]
pub(crate) struct EventSink(std::sync::Arc<std::sync::Mutex<Box<dyn Write + Send>>>);

impl EventSink {
    pub(crate) fn stdout() -> Self {
        EventSink(std::sync::Arc::new(std::sync::Mutex::new(Box::new(std::io::stdout()))))
    }

    pub(crate) fn file(path: &std::path::Path) -> std::io::Result<Self> {
        let f = std::fs::File::create(path)?;
        Ok(EventSink(std::sync::Arc::new(std::sync::Mutex::new(Box::new(std::io::LineWriter::new(f))))))
    }

    pub(crate) fn emit(&self, e: &capsule::objects::EventV1, _hash: capsule::Digest) {
        if let (Ok(mut line), Ok(mut w)) = (capsule::canonical::to_vec(e), self.0.lock()) {
            line.push(b'\n');
            let _ = w.write_all(&line).and_then(|_| w.flush());
        }
    }

    pub(crate) fn observer(&self) -> capsule::builder::EventObserver {
        let me = self.clone();
        Box::new(move |e, h| me.emit(e, h))
    }
}

/// Progress of `bench` on stderr: a bar on a terminal, plain lines
/// otherwise, nothing with `--quiet`.
pub(crate) struct BenchProgress {
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
    terminal: bool,
}

impl BenchProgress {
    pub(crate) fn new(quiet: bool, _events_on_stdout: bool) -> Self {
        use std::io::IsTerminal;
        BenchProgress { quiet, bar: None, terminal: std::io::stderr().is_terminal() }
    }

    fn note(&self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None => {
                #[expect(clippy::print_stderr, reason = "this is the output module")]
                {
                    eprintln!("{s}");
                }
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// A duration for people, in the unit that suits it.
fn ms(ns: u64) -> String {
    let x = ns as f64;
    if x >= 1e9 {
        format!("{:.3} s", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.3} ms", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.3} µs", x / 1e3)
    } else {
        format!("{ns} ns")
    }
}

impl capsule_runner::Observer for BenchProgress {
    fn progress(&mut self, p: capsule_runner::Progress<'_>) {
        use capsule_runner::Progress as P;
        match p {
            P::Plan { workload, embedded_default, track, policy, warmups, repetitions, harness } => {
                if embedded_default {
                    self.note(&format!(
                        "no [workspace.metadata.capsule] workloads: running the embedded default `{workload}`"
                    ));
                }
                match harness {
                    Some("criterion") => self.note(&format!(
                        "bench `{workload}` on track `{track}` under policy `{policy}`: criterion warms up and samples each benchmark itself (at least {repetitions} samples each)"
                    )),
                    Some(h) => self.note(&format!(
                        "bench `{workload}` on track `{track}` under policy `{policy}`: {h} runs {warmups} warmups + {repetitions} runs"
                    )),
                    None => self.note(&format!(
                        "bench `{workload}` on track `{track}` under policy `{policy}`: {warmups} warmups + {repetitions} repetitions"
                    )),
                }
                if harness.is_some() {
                    return;
                }
                if self.terminal && !self.quiet {
                    let bar = indicatif::ProgressBar::new(u64::from(warmups + repetitions));
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {pos}/{len} {elapsed}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    self.bar = Some(bar);
                }
            }
            P::Harness { benchmark, samples, iterations, begun } => {
                self.note(&format!("  criterion: benchmark {begun} `{benchmark}`: {samples} samples ({iterations})"));
            }
            P::Phase(phase) => match &self.bar {
                Some(b) => b.set_message(phase.to_owned()),
                None => self.note(&format!("{phase}...")),
            },
            P::Repetition { index, total, warmup, wall_ns } => match &self.bar {
                Some(b) => b.set_position(u64::from(index) + 1),
                None => self.note(&format!(
                    "  {} {}/{total}: {}",
                    if warmup { "warmup    " } else { "repetition" },
                    index + 1,
                    ms(wall_ns)
                )),
            },
        }
    }
}

/// The `bench` summary as JSON.
pub(crate) fn bench_json(o: &capsule_runner::BenchOutcome) -> Value {
    serde_json::json!({
        "schema": "capsulebench/bench-summary/v1",
        "pack": o.pack.display().to_string(),
        "capsule_hash": o.capsule_hash,
        "workload": o.workload,
        "track": o.track,
        "result_digest": o.result_digest,
        "aggregates": o.aggregates.iter().map(|(m, a)| serde_json::json!({"metric": m, "aggregates": a})).collect::<Vec<_>>(),
        "verify": {"verdict": o.report.verdict, "passed": o.report.passed, "findings": o.report.findings},
    })
}

/// The measured source tree for people: the commit, and whether the tree
/// had uncommitted changes (measured too, but in no commit).
pub(crate) fn git_line(g: &capsule::objects::GitManifestV1) -> String {
    match &g.commit {
        Some(c) if g.dirty => format!("commit {c}, DIRTY tree (uncommitted changes were measured)"),
        Some(c) => format!("commit {c}, clean tree"),
        None => g.note.clone().unwrap_or_else(|| "no git commit".to_owned()),
    }
}

/// The run summary after several workloads: one line per workload (its
/// pack, whether it verified, its median wall time), then where the packs
/// are.
pub(crate) fn bench_run_summary(
    runs: &[(Option<&capsule_runner::BenchOutcome>, &capsule_runner::BenchOutcome)],
) -> Result<(), CliError> {
    let mut s = String::new();
    let _ = writeln!(s, "\n{} workloads:", runs.len());
    let _ = writeln!(s, "  {:28} {:10} {:>14}  pack", "workload", "verify", "wall (median)");
    for (base, head) in runs {
        for o in base.iter().copied().chain(std::iter::once(*head)) {
            let verdict = if o.report.accepted() { "verified" } else { "REJECTED" };
            let wall =
                o.aggregates.iter().find(|(m, _)| m == "wall_ns").map_or_else(|| "-".to_owned(), |(_, a)| ms(a.median));
            let label = if base.is_some_and(|b| std::ptr::eq(b, o)) {
                format!("{} (base)", o.workload)
            } else {
                o.workload.clone()
            };
            let _ = writeln!(s, "  {label:28} {verdict:10} {wall:>14}  {}", o.pack.display());
        }
    }
    out(&s)
}

/// A pack's worst series and its worst-case statistics (head's values):
/// `block_19 (wall_ns): p95 1.203 ms, max 1.250 ms`.
fn worst_case_values(w: &capsule::compare::WorstCaseComparison) -> String {
    let values: Vec<String> = w
        .values
        .iter()
        .map(|v| format!("{} {}", v.statistic, capsule::compare::human_value(&w.metric, v.head)))
        .collect();
    format!("{} ({}): {}", w.series, w.metric, values.join(", "))
}

/// The `bench` summary table for people (stderr when stdout carries events).
pub(crate) fn bench_summary(o: &capsule_runner::BenchOutcome, to_stderr: bool) -> Result<(), CliError> {
    let mut s = String::new();
    let get = |m: &str| o.aggregates.iter().find(|(n, _)| n == m).map(|(_, a)| *a);
    let _ = writeln!(s, "\nworkload     {} (track {})", o.workload, o.track);
    if let Some(g) = &o.git {
        let _ = writeln!(s, "source       {}", git_line(g));
    }
    if let Some(m) = &o.container {
        let _ = writeln!(s, "container    {}", m.describe());
    }
    // Harness workloads have one series per benchmark id.
    for (name, a) in &o.aggregates {
        if let Some(series) = name.strip_suffix("/wall_ns") {
            let _ = writeln!(
                s,
                "  {series:24} median {}  spread (MAD) {}  worst {}  n={}",
                ms(a.median),
                ms(a.mad),
                ms(a.max),
                a.count
            );
        }
    }
    if let Some(a) = get("wall_ns") {
        let _ = writeln!(
            s,
            "wall time    median {}  spread (MAD) {}  worst {}  n={} (+{} warmups)",
            ms(a.median),
            ms(a.mad),
            ms(a.max),
            a.count,
            a.warmups
        );
    }
    if let (Some(u), Some(sy)) = (get("user_ns"), get("sys_ns")) {
        let _ = writeln!(s, "cpu time     user {}  sys {} (medians)", ms(u.median), ms(sy.median));
    }
    if let Some(a) = get("peak_rss_bytes") {
        let _ = writeln!(s, "peak RSS     {:.1} MiB (worst)", a.max as f64 / (1u64 << 20) as f64);
    }
    if let Some(w) = &o.worst_case {
        let _ = writeln!(s, "worst case   {}", worst_case_values(w));
    }
    let _ = writeln!(s, "result       {}", o.result_digest);
    let _ = writeln!(s, "pack         {}", o.pack.display());
    let _ = writeln!(s, "capsule      {}", o.capsule_hash);
    let verdict = if o.report.accepted() { "verified" } else { "REJECTED" };
    let passed: Vec<&str> = o.report.passed.iter().map(|p| p.as_str()).collect();
    let _ = writeln!(s, "verify       {verdict} ({})", passed.join(" + "));
    for f in &o.report.findings {
        let _ = writeln!(s, "  error[{}] {}", f.code.as_str(), f.detail);
    }
    if to_stderr {
        #[expect(clippy::print_stderr, reason = "this is the output module")]
        {
            eprint!("{}", sanitize(&s));
        }
        Ok(())
    } else {
        out(&s)
    }
}

/// One line saying how a pack verified (for comparison outputs).
pub(crate) fn verified_line(r: &Report) -> String {
    let passed: Vec<&str> = r.passed.iter().map(|p| p.as_str()).collect();
    let signers: Vec<String> = r
        .signers
        .iter()
        .map(|s| match (&s.key_id, &s.sigstore) {
            (Some(k), _) => format!("key `{}`", &k.to_hex()[..16]),
            (None, Some(b)) => {
                format!("Sigstore `{}`", b.repository_uri.as_deref().or(b.san.as_deref()).unwrap_or("unknown identity"))
            }
            (None, None) => "an unknown signer".to_owned(),
        })
        .collect();
    format!(
        "verified at `{}` (policy pinned by {}); proof {}; {}",
        passed.join(" + "),
        r.policy.as_ref().map_or("nobody", |p| p.pinned_by.as_str()),
        r.proof.as_str(),
        if signers.is_empty() { "unsigned".to_owned() } else { format!("signed by {}", signers.join(", ")) }
    )
}

/// A comparison for people.
pub(crate) fn comparison(c: &capsule::compare::Comparison) -> Result<(), CliError> {
    let mut s = String::new();
    let _ = writeln!(s, "workload     {} (track {})", c.workload_id, c.track);
    let _ = writeln!(s, "base         {}", c.base);
    let _ = writeln!(s, "head         {}", c.head);
    let primary = c.metrics.first().map_or("", |m| m.metric.as_str());
    let _ = writeln!(
        s,
        "verdict      {} (threshold {}, confidence {})",
        c.verdict.word_for(primary),
        c.threshold,
        c.confidence
    );
    let result = match (c.result_digest_equal, c.added.is_empty() && c.removed.is_empty()) {
        (true, _) => "equal",
        (false, true) => "DIFFERS",
        (false, false) => "differs (another set of series)",
    };
    let _ = writeln!(s, "result       {result}");
    if !c.environment_mismatch.is_empty() {
        let _ = writeln!(s, "environment  differs: {}", c.environment_mismatch.join(", "));
    }
    if let Some(w) = &c.worst_case {
        let _ = writeln!(s, "worst case   {}", capsule::compare::worst_case_line(w, false));
    }
    if let Some(d) = capsule::compare::disturbed_line(c) {
        let _ = writeln!(s, "disturbed    {d}");
    }
    if !c.added.is_empty() {
        let _ = writeln!(s, "added        {} (head only, not compared)", c.added.join(", "));
    }
    if !c.removed.is_empty() {
        let _ = writeln!(s, "removed      {} (base only, not compared)", c.removed.join(", "));
    }
    let _ = writeln!(s);
    for m in &c.metrics {
        let _ = writeln!(
            s,
            "  {:20} {:16} base {:>12}  head {:>12}  shift {:>+12} ({})  ci [{}, {}] at {}  {}",
            m.series,
            m.metric,
            m.base_median,
            m.head_median,
            m.shift,
            m.ratio,
            m.ci_ratio[0],
            m.ci_ratio[1],
            m.confidence,
            m.verdict.word_for(&m.metric)
        );
    }
    out(&s)
}

/// Renders an adapter conformance check.
pub(crate) fn conformance(r: &capsule_adapter::conformance::Conformance) -> Result<(), CliError> {
    let mut s = String::new();
    let _ = writeln!(s, "adapter      backend {}, program {}", r.adapter.backend_id, r.adapter.program_id);
    let _ = writeln!(
        s,
        "trace        {} ({} rows of {} bytes)",
        r.adapter.trace_spec.format_id, r.row_count, r.adapter.trace_spec.row_width
    );
    let _ = writeln!(s, "proof        {} bytes", r.proof_bytes);
    for c in &r.cases {
        let _ = writeln!(s, "{}  {}: {}", if c.passed { "ok  " } else { "FAIL" }, c.name, c.detail);
    }
    let failed = r.cases.iter().filter(|c| !c.passed).count();
    if failed == 0 {
        let _ = writeln!(s, "verdict      conformant ({} cases)", r.cases.len());
    } else {
        let _ = writeln!(s, "verdict      NOT conformant: {failed} of {} cases failed", r.cases.len());
    }
    out(&s)
}
