//! Deterministic comparison of two verified packs: `cargo capsule compare`.
//!
//! Owns the rules for when two receipts may be compared (same policy hash,
//! workload, parameters, input hash, trace spec and track; the same
//! environment unless the caller allows otherwise) and the statistics: the
//! Hodges–Lehmann shift of head against base over the committed samples, with
//! the distribution-free (Mann–Whitney) confidence interval at the policy's
//! confidence, and a verdict against the policy's threshold. No randomness:
//! anyone with the two packs recomputes the same verdict. Ratios are exact
//! integer parts per million, written as decimal strings.

use serde::Serialize;

use crate::digest::Digest;
use crate::objects::{MeasurementsV1, SeriesV1, median_of_sorted};
use crate::verify::PackContents;

/// Why two packs cannot be compared.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompareError {
    /// The packs claim different things.
    #[error("packs differ in {what}: base has {base}, head has {head}; only like-for-like receipts compare")]
    Mismatch {
        /// What differs.
        what: &'static str,
        /// Base's value.
        base: String,
        /// Head's value.
        head: String,
    },
    /// The packs ran in different environments.
    #[error(
        "packs ran in different environments ({fields}); rerun paired on one machine, or pass --allow-env-mismatch to compare anyway (flagged)"
    )]
    Environment {
        /// The differing fingerprints.
        fields: String,
    },
    /// A policy number that is not a decimal in [0, 1].
    #[error("policy {field} `{value}` is not a decimal between 0 and 1 with at most 6 places")]
    PolicyNumber {
        /// Which field.
        field: &'static str,
        /// The text.
        value: String,
    },
    /// Too many samples for the pairwise differences.
    #[error("series `{series}` has {pairs} sample pairs, over the limit of {limit}")]
    TooManyPairs {
        /// Series id.
        series: String,
        /// m × n.
        pairs: u64,
        /// The limit.
        limit: u64,
    },
}

/// Most pairwise differences computed for one metric.
pub const MAX_PAIRS: u64 = 1 << 22;

/// A verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Head is faster (smaller) beyond the threshold, with confidence.
    Faster,
    /// Head is slower (larger) beyond the threshold, with confidence.
    Slower,
    /// Any change is within the threshold, with confidence.
    NoChange,
    /// Neither shown to change nor shown to stay within the threshold: the
    /// interval straddles the threshold, or the samples are too few.
    Inconclusive,
}

impl Change {
    /// Text for people.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Faster => "faster",
            Change::Slower => "slower",
            Change::NoChange => "no change",
            Change::Inconclusive => "inconclusive",
        }
    }

    /// Text for people about `metric`: a time is faster or slower, a size
    /// (`…_bytes`, peak RSS) smaller or larger, anything else lower or
    /// higher. The serialized verdict stays `faster`/`slower`.
    pub fn word_for(self, metric: &str) -> &'static str {
        let (less, more) = if metric.ends_with("_ns") {
            ("faster", "slower")
        } else if metric.ends_with("_bytes") || metric.contains("rss") {
            ("smaller", "larger")
        } else {
            ("lower", "higher")
        };
        match self {
            Change::Faster => less,
            Change::Slower => more,
            Change::NoChange => "no change",
            Change::Inconclusive => "inconclusive",
        }
    }
}

/// One metric compared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetricComparison {
    /// Series id.
    pub series: String,
    /// Metric name.
    pub metric: String,
    /// Measured samples in base and head.
    pub n_base: u64,
    /// Measured samples in head.
    pub n_head: u64,
    /// Median of base.
    pub base_median: u64,
    /// Median of head.
    pub head_median: u64,
    /// Hodges–Lehmann shift, head − base.
    pub shift: i64,
    /// Confidence interval of the shift.
    pub ci: [i64; 2],
    /// shift / base median, decimal.
    pub ratio: String,
    /// The interval as ratios of the base median.
    pub ci_ratio: [String; 2],
    /// The confidence of the interval, as a decimal: the policy's, or for
    /// a primary metric of several series the Holm level it was judged at.
    pub confidence: String,
    /// The verdict.
    pub verdict: Change,
    /// For `wall_ns` of a series that also records `user_ns` and `sys_ns`:
    /// how many measured samples of base and of head were disturbed
    /// (§4.11: off-CPU time beyond the side's usual by more than the
    /// threshold of its median wall time). Informative; decides nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disturbed: Option<[u64; 2]>,
}

/// How many measured samples of `s` were disturbed (§4.11): with off-CPU
/// time `off = wall − min(wall, user + sys)`, a sample is disturbed when
/// `off·10^6 > median(off)·10^6 + t·median(wall)` (`t` the threshold in
/// ppm). `None` when the series lacks `wall_ns`, `user_ns` or `sys_ns`.
pub fn disturbed_samples(s: &SeriesV1, threshold_ppm: i64) -> Option<u64> {
    let (w, u, y) = (s.metric_index("wall_ns")?, s.metric_index("user_ns")?, s.metric_index("sys_ns")?);
    let mut off = Vec::new();
    let mut wall = Vec::new();
    for x in s.samples.iter().filter(|x| !x.warmup) {
        let (wv, uv, sv) = (*x.values.get(w)?, *x.values.get(u)?, *x.values.get(y)?);
        off.push(wv - wv.min(uv.saturating_add(sv)));
        wall.push(wv);
    }
    if off.is_empty() {
        return Some(0);
    }
    let mut sorted_off = off.clone();
    sorted_off.sort_unstable();
    wall.sort_unstable();
    let limit = u128::from(median_of_sorted(&sorted_off)) * 1_000_000
        + u128::from(threshold_ppm.max(0) as u64) * u128::from(median_of_sorted(&wall));
    Some(off.iter().filter(|o| u128::from(**o) * 1_000_000 > limit).count() as u64)
}

/// The comparison's schema.
pub const COMPARISON_SCHEMA: &str = "capsulebench/comparison/v2";

/// Metrics that describe how a harness sampled, not how fast the code is
/// (criterion's total time of a sample and its iteration count): never
/// compared.
pub const BOOKKEEPING_METRICS: &[&str] = &["sample_total_ns", "sample_iters_count"];

/// The comparison: `capsulebench/comparison/v2`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Always [`COMPARISON_SCHEMA`].
    pub schema: &'static str,
    /// Base capsule hash.
    pub base: Digest,
    /// Head capsule hash.
    pub head: Digest,
    /// Whether both come from one paired run.
    pub same_run: bool,
    /// The workload.
    pub workload_id: String,
    /// The track.
    pub track: String,
    /// The shared policy hash.
    pub policy_hash: Digest,
    /// The policy threshold.
    pub threshold: String,
    /// The policy confidence.
    pub confidence: String,
    /// The looks at the data the packs' runs could take (§4.1): every
    /// interval is at the policy confidence divided among them.
    pub looks: u32,
    /// Environment fingerprints that differ (only with the caller's leave).
    pub environment_mismatch: Vec<String>,
    /// The pinned container images the packs say they ran in (`[base,
    /// head]`), when either names one (absent: neither ran in a container).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<[Option<String>; 2]>,
    /// Whether the result digests are equal.
    pub result_digest_equal: bool,
    /// Series only head has (benchmarks added), in head's order.
    pub added: Vec<String>,
    /// Series only base has (benchmarks removed), in base's order.
    pub removed: Vec<String>,
    /// The primary metric of each shared series, and every other shared
    /// metric but the bookkeeping ones.
    pub metrics: Vec<MetricComparison>,
    /// The verdict of the primary metrics (slower wins over faster, either
    /// over inconclusive).
    pub verdict: Change,
    /// The worst case, when the policy names worst-case statistics (§4.10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_case: Option<WorstCaseComparison>,
}

/// Head's worst series by the policy's first worst-case statistic of the
/// primary metric, with every worst-case statistic on both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorstCaseComparison {
    /// The primary metric.
    pub metric: String,
    /// The statistic that picks the series (the policy's first).
    pub statistic: String,
    /// Head's series with the largest value of it (the first in head's
    /// order on a tie).
    pub series: String,
    /// Every worst-case statistic of the policy on that series.
    pub values: Vec<WorstCaseValue>,
}

/// One worst-case statistic of the worst series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorstCaseValue {
    /// Its name (`max`, `p95`).
    pub statistic: String,
    /// Base's value, when base has the series.
    pub base: Option<u64>,
    /// Head's value.
    pub head: u64,
}

/// The worst case of head against base (§4.10): `None` when the policy
/// names no well-formed worst-case statistic or head has no measured
/// sample of the primary metric.
pub fn worst_case(
    base: &MeasurementsV1,
    head: &MeasurementsV1,
    primary: &str,
    names: &[String],
) -> Option<WorstCaseComparison> {
    use crate::objects::WorstCase;
    let stats: Vec<WorstCase> = names.iter().filter_map(|n| WorstCase::parse(n)).collect();
    let first = *stats.first()?;
    let sorted = |s: &SeriesV1| s.metric_index(primary).and_then(|i| s.measured_sorted(i)).filter(|v| !v.is_empty());
    let mut worst: Option<(&SeriesV1, Vec<u64>)> = None;
    for s in &head.series {
        if let Some(v) = sorted(s)
            && worst.as_ref().is_none_or(|(_, w)| first.of_sorted(&v) > first.of_sorted(w))
        {
            worst = Some((s, v));
        }
    }
    let (s, head_sorted) = worst?;
    let base_sorted = base.series.iter().find(|b| b.id == s.id).and_then(sorted);
    Some(WorstCaseComparison {
        metric: primary.to_owned(),
        statistic: first.name(),
        series: s.id.clone(),
        values: stats
            .iter()
            .map(|w| WorstCaseValue {
                statistic: w.name(),
                base: base_sorted.as_deref().map(|b| w.of_sorted(b)),
                head: w.of_sorted(&head_sorted),
            })
            .collect(),
    })
}

/// The verdict over several (§4.8): slower if any is, else faster, else
/// inconclusive, else no change.
pub fn overall(verdicts: impl IntoIterator<Item = Change>) -> Change {
    let all: Vec<Change> = verdicts.into_iter().collect();
    [Change::Slower, Change::Faster, Change::Inconclusive]
        .into_iter()
        .find(|v| all.contains(v))
        .unwrap_or(Change::NoChange)
}

/// Parses a decimal in [0, 1] with at most 6 places into parts per million.
pub fn parse_ppm(field: &'static str, s: &str) -> Result<i64, CompareError> {
    let err = || CompareError::PolicyNumber { field, value: s.to_owned() };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || frac.len() > 6 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let i: i64 = int.parse().map_err(|_| err())?;
    let f: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().map_err(|_| err())? };
    let v = i.checked_mul(1_000_000).and_then(|v| v.checked_add(f)).ok_or_else(err)?;
    if v > 1_000_000 {
        return Err(err());
    }
    Ok(v)
}

/// `x` parts per million as a signed decimal string with 6 places.
pub fn ppm_text(x: i64) -> String {
    let sign = if x < 0 { "-" } else { "+" };
    let a = x.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

fn ratio_ppm(num: i64, den: u64) -> i64 {
    if den == 0 {
        return 0;
    }
    // Round half away from zero, in integers.
    let n = i128::from(num) * 1_000_000;
    let d = i128::from(den);
    let q = (n.abs() + d / 2) / d;
    (if n < 0 { -q } else { q }) as i64
}

fn median_i128(sorted: &[i128]) -> i128 {
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]).div_euclid(2) }
}

fn measured(s: &SeriesV1, metric: usize) -> Vec<u64> {
    let mut v: Vec<u64> =
        s.samples.iter().filter(|x| !x.warmup).filter_map(|x| x.values.get(metric).copied()).collect();
    v.sort_unstable();
    v
}

/// The index k (1-based) of the lower confidence bound among the m·n
/// sorted differences: one more than the Mann–Whitney critical value, under
/// the normal approximation with continuity correction,
/// `floor(mn/2 − z·sqrt(mn(m+n+1)/12) + 1/2)`; `None` when that is below 1
/// (too few samples for the confidence). It agrees with the exact tables at
/// small sizes (5/5: 3, 10/10: 24, 20/20: 128).
pub fn ci_rank(m: u64, n: u64, confidence_ppm: i64) -> Option<u64> {
    use statrs::distribution::{ContinuousCDF, Normal};
    let mn = (m * n) as f64;
    let alpha = 1.0 - confidence_ppm as f64 / 1e6;
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    let sd = (mn * (m + n + 1) as f64 / 12.0).sqrt();
    let k = (mn / 2.0 - z * sd + 0.5).floor();
    (k.is_finite() && k >= 1.0).then_some(k as u64)
}

/// A distribution-free confidence interval for the median of `sorted`
/// (ascending, at least one value): the order statistics `x(k)` and
/// `x(n+1−k)`, with `k` the largest rank such that `P(B ≤ k−1) ≤ α/2` for
/// `B ~ Binomial(n, 1/2)` (so the interval covers the median with at least
/// the confidence); `None` when no rank does (too few samples: fewer than 6
/// at 95 %).
pub fn median_interval(sorted: &[u64], confidence_ppm: i64) -> Option<[u64; 2]> {
    use statrs::distribution::{Binomial, DiscreteCDF};
    let n = sorted.len() as u64;
    let alpha = 1.0 - confidence_ppm as f64 / 1e6;
    let b = Binomial::new(0.5, n).ok()?;
    let mut k = 0;
    while k < n / 2 && b.cdf(k) <= alpha / 2.0 {
        k += 1;
    }
    // `k` ranks have `P(B ≤ k−1) ≤ α/2`; the largest is `k` itself.
    (k >= 1).then(|| [sorted[(k - 1) as usize], sorted[(n - k) as usize]])
}

/// One metric's samples of both sides, as pairwise differences.
struct Diffs {
    /// `h − b` for every pair, ascending.
    d: Vec<i128>,
    m: u64,
    n: u64,
    base_median: u64,
    head_median: u64,
}

fn diffs(base: &[u64], head: &[u64]) -> Option<Diffs> {
    if base.is_empty() || head.is_empty() {
        return None;
    }
    let mut d: Vec<i128> = Vec::with_capacity(base.len() * head.len());
    for h in head {
        for b in base {
            d.push(i128::from(*h) - i128::from(*b));
        }
    }
    d.sort_unstable();
    let sorted = |v: &[u64]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        crate::objects::median_of_sorted(&v)
    };
    Some(Diffs { d, m: base.len() as u64, n: head.len() as u64, base_median: sorted(base), head_median: sorted(head) })
}

/// The shift, the interval at `confidence_ppm`, and whether there were
/// enough samples for an interval at that confidence.
fn interval(x: &Diffs, confidence_ppm: i64) -> (i64, [i64; 2], bool) {
    let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let rank = ci_rank(x.m, x.n, confidence_ppm);
    let k = rank.unwrap_or(1).min(x.d.len() as u64);
    let (lo, hi) = (x.d[(k - 1) as usize], x.d[x.d.len() - k as usize]);
    (clamp(median_i128(&x.d)), [clamp(lo), clamp(hi)], rank.is_some())
}

/// The verdict of a shift and its interval against threshold `t` (§4.6 of
/// the comparison spec): a change only when the interval is on one side of
/// zero and the shift's ratio reaches the threshold; no change only when
/// the whole interval is within the threshold; otherwise inconclusive.
fn verdict_of(shift: i64, ci: [i64; 2], base_median: u64, t: i64, enough: bool) -> Change {
    if !enough {
        return Change::Inconclusive;
    }
    let r = ratio_ppm(shift, base_median);
    let (r_lo, r_hi) = (ratio_ppm(ci[0], base_median), ratio_ppm(ci[1], base_median));
    if ci[0] > 0 && r >= t {
        Change::Slower
    } else if ci[1] < 0 && r <= -t {
        Change::Faster
    } else if r_lo > -t && r_hi < t {
        Change::NoChange
    } else {
        Change::Inconclusive
    }
}

/// Compares one metric alone: HL shift and interval of head against base
/// at `confidence_ppm`, and its verdict.
pub fn compare_samples(
    base: &[u64],
    head: &[u64],
    threshold_ppm: i64,
    confidence_ppm: i64,
) -> Option<(i64, [i64; 2], Change)> {
    let x = diffs(base, head)?;
    let (shift, ci, enough) = interval(&x, confidence_ppm);
    Some((shift, ci, verdict_of(shift, ci, x.base_median, threshold_ppm, enough)))
}

/// The confidence, in ppm, of one of `r` remaining tests at family
/// confidence `c`: `10^6 − floor((10^6 − c) / r)`.
pub fn holm_level(c: i64, r: usize) -> i64 {
    1_000_000 - (1_000_000 - c) / r.max(1) as i64
}

/// What Holm's procedure needs of one member: its sample counts and how
/// many differences lie on the weaker side of zero. Its interval at rank
/// `k` excludes zero exactly when that count is below `k` (`d[k−1] > 0`
/// when fewer than `k` differences are ≤ 0; `d[mn−k] < 0` when fewer than
/// `k` are ≥ 0), so the differences need not be kept.
#[derive(Clone, Copy, Debug)]
struct Evidence {
    m: u64,
    n: u64,
    against: u64,
}

impl Evidence {
    fn of(x: &Diffs) -> Evidence {
        let non_positive = x.d.partition_point(|v| *v <= 0) as u64;
        let non_negative = (x.d.len() - x.d.partition_point(|v| *v < 0)) as u64;
        Evidence { m: x.m, n: x.n, against: non_positive.min(non_negative) }
    }

    /// Whether [`interval`] at `level` has enough samples and lies on one
    /// side of zero.
    fn significant_at(self, level: i64) -> bool {
        ci_rank(self.m, self.n, level).is_some_and(|k| self.against < k.min(self.m * self.n))
    }
}

/// Holm's step-down over a family of metrics (the primary metric of every
/// shared series): while some remain, every remaining one whose interval
/// at confidence [`holm_level`] (for the number remaining) excludes zero is
/// significant and leaves the family; when none does, the rest are not.
/// Returns each member's confidence level in ppm and whether it was found
/// significant. Deterministic, and with one member it is the plain
/// interval at `c`.
fn holm(family: &[Evidence], c: i64) -> Vec<(i64, bool)> {
    let mut out: Vec<Option<(i64, bool)>> = vec![None; family.len()];
    loop {
        let remaining: Vec<usize> = (0..family.len()).filter(|i| out[*i].is_none()).collect();
        if remaining.is_empty() {
            break;
        }
        let level = holm_level(c, remaining.len());
        let found: Vec<usize> = remaining.iter().copied().filter(|i| family[*i].significant_at(level)).collect();
        if found.is_empty() {
            for i in remaining {
                out[i] = Some((level, false));
            }
            break;
        }
        for i in found {
            out[i] = Some((level, true));
        }
    }
    out.into_iter().map(|o| o.unwrap_or((c, false))).collect()
}

/// `x` ppm in [0, 10^6] as a decimal with six places, no sign.
fn level_text(x: i64) -> String {
    ppm_text(x).trim_start_matches('+').to_owned()
}

/// Options.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompareOptions {
    /// Compare packs from different environments (the result says so).
    pub allow_env_mismatch: bool,
}

fn same<T: PartialEq + std::fmt::Debug>(what: &'static str, a: &T, b: &T) -> Result<(), CompareError> {
    if a == b { Ok(()) } else { Err(CompareError::Mismatch { what, base: format!("{a:?}"), head: format!("{b:?}") }) }
}

/// Compares two packs that have both been verified.
pub fn compare(
    base_hash: Digest,
    base: &PackContents,
    head_hash: Digest,
    head: &PackContents,
    opts: CompareOptions,
) -> Result<Comparison, CompareError> {
    let (bs, hs) = (&base.statement, &head.statement);
    same("policy hash", &bs.policy_hash, &hs.policy_hash)?;
    same("workload", &bs.public_inputs.workload_id, &hs.public_inputs.workload_id)?;
    same("parameters", &bs.public_inputs.parameters, &hs.public_inputs.parameters)?;
    same("input hash", &bs.anchors.workload_input_hash, &hs.anchors.workload_input_hash)?;
    same("trace spec", &bs.trace_spec_hash, &hs.trace_spec_hash)?;
    same("track", &bs.track, &hs.track)?;
    let mut env = Vec::new();
    for (name, a, b) in [
        ("hardware", bs.anchors.hardware_manifest_hash, hs.anchors.hardware_manifest_hash),
        ("os", bs.anchors.os_fingerprint_hash, hs.anchors.os_fingerprint_hash),
        ("toolchain", bs.anchors.toolchain_hash, hs.anchors.toolchain_hash),
        ("container", bs.anchors.container_image_digest, hs.anchors.container_image_digest),
    ] {
        if a != b {
            env.push(name.to_owned());
        }
    }
    // The two sides of one paired run differ in `container` only when the
    // change under test moved the pin: both ran on one machine,
    // interleaved, each in the image its commit names. That is compared,
    // and flagged, like a change of code (§3).
    let one_run_new_image = base.capsule.run_id == head.capsule.run_id && env == ["container"];
    if !env.is_empty() && !opts.allow_env_mismatch && !one_run_new_image {
        return Err(CompareError::Environment { fields: env.join(", ") });
    }
    let policy = &base.policy;
    let threshold = parse_ppm("threshold", &policy.comparison.threshold)?;
    let looks = base.measurements.looks.max(head.measurements.looks).unwrap_or(1);
    let confidence = sequential_level(parse_ppm("confidence", &policy.comparison.confidence)?, looks);
    // A shared series must be measured the same way: a wait4-measured
    // series never compares against a harness's numbers. Series only one
    // side has (a benchmark added or removed) are listed, not compared.
    for bs in &base.measurements.series {
        if let Some(hs) = head.measurements.series.iter().find(|h| h.id == bs.id)
            && hs.class != bs.class
        {
            return Err(CompareError::Mismatch {
                what: "series class",
                base: format!("{} ({})", bs.id, bs.class.as_str()),
                head: format!("{} ({})", hs.id, hs.class.as_str()),
            });
        }
    }
    let has = |m: &MeasurementsV1, id: &str| m.series.iter().any(|s| s.id == id);
    let only = |a: &MeasurementsV1, b: &MeasurementsV1| -> Vec<String> {
        a.series.iter().filter(|s| !has(b, &s.id)).map(|s| s.id.clone()).collect()
    };
    let (added, removed) = (only(&head.measurements, &base.measurements), only(&base.measurements, &head.measurements));
    let primary = &policy.measurement.primary_metric;
    let metrics = compare_tables(&base.measurements, &head.measurements, primary, threshold, confidence)?;
    let primaries: Vec<Change> = metrics.iter().filter(|m| &m.metric == primary).map(|m| m.verdict).collect();
    let verdict = overall(primaries);
    let worst_case = worst_case(&base.measurements, &head.measurements, primary, &policy.measurement.worst_case);
    Ok(Comparison {
        schema: COMPARISON_SCHEMA,
        base: base_hash,
        head: head_hash,
        same_run: base.capsule.run_id == head.capsule.run_id,
        workload_id: bs.public_inputs.workload_id.clone(),
        track: bs.track.clone(),
        policy_hash: bs.policy_hash,
        threshold: policy.comparison.threshold.clone(),
        confidence: policy.comparison.confidence.clone(),
        looks,
        environment_mismatch: env,
        containers: {
            let image = |c: &PackContents| {
                c.manifest::<crate::objects::ContainerManifestV1>(crate::objects::ManifestKind::Container)
                    .map(|m| m.image)
            };
            let pair = [image(base), image(head)];
            pair.iter().any(Option::is_some).then_some(pair)
        },
        result_digest_equal: bs.public_inputs.result_digest == hs.public_inputs.result_digest,
        added,
        removed,
        metrics,
        verdict,
        worst_case,
    })
}

/// The confidence, in ppm, that each of `looks` looks at the data is judged
/// at so that together they keep the error rate of `confidence`: the error
/// rate `10^6 − confidence` divided among the looks, rounded down (§4.1;
/// Bonferroni over looks). One look: `confidence` itself.
pub fn sequential_level(confidence: i64, looks: u32) -> i64 {
    holm_level(confidence, looks as usize)
}

/// The verdict of every shared series' primary metric (Holm-corrected as in
/// [`compare`]) at `confidence` (already [`sequential_level`]), in base's
/// series order: what a paired run judges when it decides whether to take
/// more rounds.
pub fn primary_verdicts(
    base: &MeasurementsV1,
    head: &MeasurementsV1,
    primary: &str,
    threshold: i64,
    confidence: i64,
) -> Result<Vec<Change>, CompareError> {
    Ok(compare_tables(base, head, primary, threshold, confidence)?
        .into_iter()
        .filter(|m| m.metric == primary)
        .map(|m| m.verdict)
        .collect())
}

/// One metric of a shared series, before it is compared: both sides'
/// measured samples, and the disturbed counts of its wall time (§4.11).
struct Entry {
    series: String,
    metric: String,
    base: Vec<u64>,
    head: Vec<u64>,
    disturbed: Option<[u64; 2]>,
}

fn compare_tables(
    base: &MeasurementsV1,
    head: &MeasurementsV1,
    primary: &str,
    threshold: i64,
    confidence: i64,
) -> Result<Vec<MetricComparison>, CompareError> {
    // Every compared metric, in order: per shared series of base, the
    // primary metric first, then the rest in base's order, bookkeeping
    // metrics left out. Only the samples are kept: one metric's m·n
    // differences exist at a time.
    let mut entries: Vec<Entry> = Vec::new();
    for bs in &base.series {
        let Some(hs) = head.series.iter().find(|s| s.id == bs.id) else { continue };
        let mut names: Vec<&String> = bs.metrics.iter().filter(|m| *m == primary).collect();
        names.extend(bs.metrics.iter().filter(|m| *m != primary && !BOOKKEEPING_METRICS.contains(&m.as_str())));
        for name in names {
            let (Some(bi), Some(hi)) = (bs.metric_index(name), hs.metric_index(name)) else { continue };
            let (b, h) = (measured(bs, bi), measured(hs, hi));
            let pairs = b.len() as u64 * h.len() as u64;
            if pairs > MAX_PAIRS {
                return Err(CompareError::TooManyPairs { series: bs.id.clone(), pairs, limit: MAX_PAIRS });
            }
            if !b.is_empty() && !h.is_empty() {
                let disturbed = (name == "wall_ns")
                    .then(|| disturbed_samples(bs, threshold).zip(disturbed_samples(hs, threshold)))
                    .flatten()
                    .map(|(b, h)| [b, h]);
                entries.push(Entry { series: bs.id.clone(), metric: name.clone(), base: b, head: h, disturbed });
            }
        }
    }
    // The primary metrics are one family, corrected for multiplicity
    // (Holm); every other metric is judged alone at the policy's confidence
    // and decides nothing.
    let family: Vec<usize> = (0..entries.len()).filter(|i| entries[*i].metric == primary).collect();
    let members: Vec<Evidence> =
        family.iter().filter_map(|i| diffs(&entries[*i].base, &entries[*i].head)).map(|x| Evidence::of(&x)).collect();
    let levels = holm(&members, confidence);
    let mut out = Vec::with_capacity(entries.len());
    for (i, Entry { series, metric, base: b, head: h, disturbed }) in entries.into_iter().enumerate() {
        let Some(x) = diffs(&b, &h) else { continue };
        // A change is claimed at the Holm level it was found at; a member
        // found unchanged is judged (no change, or inconclusive) at the
        // policy's confidence, so the correction guards claims of change.
        let (level, family_significant) = match family.iter().position(|f| *f == i) {
            Some(p) if levels[p].1 => (levels[p].0, Some(true)),
            Some(_) => (confidence, Some(false)),
            None => (confidence, None),
        };
        let (shift, ci, enough) = interval(&x, level);
        let mut verdict = verdict_of(shift, ci, x.base_median, threshold, enough);
        // Holm stopped before this one: it is not called a change.
        if family_significant == Some(false) && matches!(verdict, Change::Slower | Change::Faster) {
            verdict = Change::Inconclusive;
        }
        out.push(MetricComparison {
            series,
            metric,
            n_base: x.m,
            n_head: x.n,
            base_median: x.base_median,
            head_median: x.head_median,
            shift,
            ci,
            ratio: ppm_text(ratio_ppm(shift, x.base_median)),
            ci_ratio: [ppm_text(ratio_ppm(ci[0], x.base_median)), ppm_text(ratio_ppm(ci[1], x.base_median))],
            confidence: level_text(level),
            verdict,
            disturbed,
        });
    }
    Ok(out)
}

/// Escapes text taken from a pack for Markdown (tables and inline text):
/// Markdown punctuation is backslash-escaped, HTML-significant characters
/// become entities, line breaks become spaces and control characters are
/// dropped, and bidirectional-formatting and invisible characters are
/// shown as escapes (`\u{202e}`), so nothing in a pack can open a link, an
/// image, HTML, a code span, break a table row or disguise what it says.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        escape_markdown_char(&mut out, c);
    }
    out
}

fn escape_markdown_char(out: &mut String, c: char) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        // An `@name` in a pull-request comment would notify someone.
        '@' => out.push_str("&#64;"),
        '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '~' | '{' | '}' | '+' | '-' | '.' => {
            out.push('\\');
            out.push(c);
        }
        '\n' | '\r' | '\t' => out.push(' '),
        c if c.is_control() => {}
        c if crate::text::is_deceptive(c) => c.escape_unicode().for_each(|e| escape_markdown_char(out, e)),
        c => out.push(c),
    }
}

/// A value of `metric` for people, in its unit (`1.203 ms`, `13.9 MiB`).
pub fn human_value(metric: &str, v: u64) -> String {
    human(metric, i128::from(v))
}

fn human(metric: &str, v: i128) -> String {
    let a = v.unsigned_abs() as f64;
    let sign = if v < 0 { "-" } else { "" };
    if metric.ends_with("_ns") {
        let (x, unit) = if a >= 1e9 {
            (a / 1e9, "s")
        } else if a >= 1e6 {
            (a / 1e6, "ms")
        } else if a >= 1e3 {
            (a / 1e3, "µs")
        } else {
            (a, "ns")
        };
        format!("{sign}{x:.3} {unit}")
    } else if metric.ends_with("_bytes") {
        format!("{sign}{:.1} MiB", a / (1u64 << 20) as f64)
    } else {
        format!("{sign}{a}")
    }
}

fn pct(ppm: &str) -> String {
    // "+0.031245" -> "+3.12%"
    let sign = &ppm[..1];
    let v: f64 = ppm[1..].parse().unwrap_or(0.0);
    format!("{sign}{:.2}%", v * 100.0)
}

/// The confidence level for people: `0.95` is `95`.
fn level(confidence: &str) -> String {
    pct(&format!("+{confidence}")).trim_start_matches('+').trim_end_matches('%').trim_end_matches(".00").to_owned()
}

/// A metric's table cells: base and head medians, the shift's ratio and
/// its interval.
/// One line on disturbed samples (§4.11), summed over every series that
/// records CPU times; `None` when none was disturbed.
pub fn disturbed_line(c: &Comparison) -> Option<String> {
    let (mut db, mut dh, mut nb, mut nh) = (0, 0, 0, 0);
    for m in &c.metrics {
        if let Some([b, h]) = m.disturbed {
            (db, dh, nb, nh) = (db + b, dh + h, nb + m.n_base, nh + m.n_head);
        }
    }
    (db + dh > 0).then(|| {
        format!(
            "Disturbed samples (off-CPU time beyond the threshold of the median wall time: the machine was busy): base {db} of {nb}, head {dh} of {nh}."
        )
    })
}

/// One line on the worst case: `Worst case (p95 of wall_ns, base → head):
/// id: p95 1.2 ms → 1.3 ms, max …` (base `—` when base lacks the series);
/// the series id and metric escaped for Markdown when `markdown`.
pub fn worst_case_line(w: &WorstCaseComparison, markdown: bool) -> String {
    let values: Vec<String> = w
        .values
        .iter()
        .map(|v| {
            let base = v.base.map_or_else(|| "—".to_owned(), |b| human(&w.metric, i128::from(b)));
            format!("{} {base} → {}", v.statistic, human(&w.metric, i128::from(v.head)))
        })
        .collect();
    let (series, metric) = if markdown {
        (escape_markdown(&w.series), escape_markdown(&w.metric))
    } else {
        (w.series.clone(), w.metric.clone())
    };
    format!("Worst case ({} of {metric}, base → head): {series}: {}.", w.statistic, values.join(", "))
}

fn measured_cells(m: &MetricComparison) -> String {
    format!(
        "{} | {} | {} | [{}, {}]",
        human(&m.metric, i128::from(m.base_median)),
        human(&m.metric, i128::from(m.head_median)),
        pct(&m.ratio),
        pct(&m.ci_ratio[0]),
        pct(&m.ci_ratio[1]),
    )
}

fn badge(c: Change, metric: &str) -> String {
    let dot = match c {
        Change::Slower => "🔴",
        Change::Faster => "🟢",
        Change::NoChange => "⚪",
        Change::Inconclusive => "🟡",
    };
    format!("{dot} {}", c.word_for(metric))
}

/// The primary metric of a comparison (its first series').
fn primary(c: &Comparison) -> &str {
    c.metrics.first().map_or("", |m| m.metric.as_str())
}

/// The summary a pull-request comment opens with when it compares several
/// workloads: the counts of each verdict, then one row per workload with
/// its primary metric (the first series'), so that every workload's verdict
/// stays visible however long the details below it grow.
pub fn markdown_summary(comparisons: &[Comparison]) -> String {
    let count = |v: Change| comparisons.iter().filter(|c| c.verdict == v).count();
    let mut s = format!(
        "### CapsuleBench: {} workloads: 🔴 {} slower, 🟢 {} faster, 🟡 {} inconclusive, ⚪ {} no change\n\n",
        comparisons.len(),
        count(Change::Slower),
        count(Change::Faster),
        count(Change::Inconclusive),
        count(Change::NoChange),
    );
    s.push_str("| workload | track | metric | base (median) | head (median) | delta (HL) | CI | verdict | result |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for c in comparisons {
        let result = if c.result_digest_equal { "equal" } else { "⚠️ differs" };
        match c.metrics.first() {
            Some(m) => s.push_str(&format!(
                "| {} | {} | {} | {} ({}%) | {} | {result} |\n",
                escape_markdown(&c.workload_id),
                escape_markdown(&c.track),
                escape_markdown(&m.metric),
                measured_cells(m),
                level(&m.confidence),
                badge(c.verdict, &m.metric),
            )),
            None => s.push_str(&format!(
                "| {} | {} | | | | | | {} | {result} |\n",
                escape_markdown(&c.workload_id),
                escape_markdown(&c.track),
                badge(c.verdict, "wall_ns"),
            )),
        }
    }
    s.push_str("\nEach workload's comparison and the verification of its packs follow.\n\n");
    s
}

/// Above this many series, the Markdown shows counts and what changed, and
/// folds the full table.
pub const FOLD_SERIES: usize = 10;

/// The Markdown a pull-request comment shows.
pub fn markdown(c: &Comparison, base_line: &str, head_line: &str) -> String {
    let mut s = String::new();
    let verdict = badge(c.verdict, primary(c));
    s.push_str(&format!(
        "### CapsuleBench: {} on {}: {verdict}\n\n",
        escape_markdown(&c.workload_id),
        escape_markdown(&c.track)
    ));
    // Escaped text, not code spans: a backslash escape inside a code span
    // would show literally.
    let list = |ids: &[String]| ids.iter().map(|i| escape_markdown(i)).collect::<Vec<_>>().join(", ");
    if !c.added.is_empty() {
        s.push_str(&format!("Added in head (not compared): {}.\n\n", list(&c.added)));
    }
    if !c.removed.is_empty() {
        s.push_str(&format!("Removed in head (not compared): {}.\n\n", list(&c.removed)));
    }
    let header = "| series | metric | base (median) | head (median) | delta (HL) | CI (confidence) | verdict |\n|---|---|---|---|---|---|---|\n";
    let row = |m: &MetricComparison| {
        format!(
            "| {} | {} | {} ({}%) | {} |\n",
            escape_markdown(&m.series),
            escape_markdown(&m.metric),
            measured_cells(m),
            level(&m.confidence),
            m.verdict.word_for(&m.metric)
        )
    };
    let primaries: Vec<&MetricComparison> = c.metrics.iter().filter(|m| m.metric == primary(c)).collect();
    if primaries.len() > FOLD_SERIES {
        // Many benchmarks: the counts, then only what is not unchanged,
        // then every row folded.
        let count = |v: Change| primaries.iter().filter(|m| m.verdict == v).count();
        s.push_str(&format!(
            "{} series ({} corrected for {} comparisons, Holm): 🔴 {} {}, 🟢 {} {}, 🟡 {} inconclusive, ⚪ {} no change.\n\n",
            primaries.len(),
            escape_markdown(primary(c)),
            primaries.len(),
            count(Change::Slower),
            Change::Slower.word_for(primary(c)),
            count(Change::Faster),
            Change::Faster.word_for(primary(c)),
            count(Change::Inconclusive),
            count(Change::NoChange),
        ));
        let notable: Vec<&&MetricComparison> = primaries.iter().filter(|m| m.verdict != Change::NoChange).collect();
        if !notable.is_empty() {
            s.push_str(header);
            for m in notable {
                s.push_str(&row(m));
            }
            s.push('\n');
        }
        s.push_str(&format!("<details><summary>All {} compared metrics</summary>\n\n{header}", c.metrics.len()));
        for m in &c.metrics {
            s.push_str(&row(m));
        }
        s.push_str("\n</details>\n\n");
    } else {
        s.push_str(header);
        for m in &c.metrics {
            s.push_str(&row(m));
        }
        s.push('\n');
    }
    s.push_str(if c.result_digest_equal {
        "Result digest: equal.\n"
    } else if c.added.is_empty() && c.removed.is_empty() {
        "⚠️ Result digest differs: head computes a different result.\n"
    } else {
        "Result digest differs: head measures another set of series (above).\n"
    });
    if let Some(w) = &c.worst_case {
        s.push_str(&format!("{}\n", worst_case_line(w, true)));
    }
    if let Some(d) = disturbed_line(c) {
        s.push_str(&format!("{d}\n"));
    }
    match &c.containers {
        Some([Some(b), Some(h)]) if b == h => {
            s.push_str(&format!("Container: {} on both sides.\n", escape_markdown(b)))
        }
        Some([b, h]) => {
            let side = |x: &Option<String>| x.as_deref().map_or_else(|| "no container".to_owned(), escape_markdown);
            s.push_str(&format!("Container: base {}, head {}.\n", side(b), side(h)));
        }
        None => {}
    }
    if c.same_run && c.environment_mismatch == ["container"] {
        s.push_str("⚠️ The change under test moved the pinned image: each side ran in its own image, so the difference includes the image's.\n");
    } else if !c.environment_mismatch.is_empty() {
        s.push_str(&format!(
            "⚠️ Environments differ ({}); compared anyway at the caller's request.\n",
            c.environment_mismatch.join(", ")
        ));
    }
    if !c.same_run {
        s.push_str("Note: base and head come from different runs (not paired).\n");
    }
    let looks = if c.looks > 1 {
        format!(
            "; the paired run could stop at any of {} looks at its rounds, so the policy's error rate is divided among them",
            c.looks
        )
    } else {
        String::new()
    };
    s.push_str(&format!(
        "\nThreshold {} (policy `{}`); Hodges–Lehmann shift with a distribution-free interval over the committed samples; with several series, the primary metric's intervals are corrected for multiplicity (Holm){looks}.\n\n",
        pct(&format!("+{}", c.threshold)),
        c.policy_hash
    ));
    s.push_str(&format!("- base `{}`: {}\n- head `{}`: {}\n", c.base, base_line, c.head, head_line));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Off-CPU time beyond the side's usual by more than the threshold of
    /// the median wall time marks a sample disturbed; a workload that
    /// always waits (sleeps) is not.
    #[test]
    fn disturbed_samples_by_off_cpu_time() {
        use crate::objects::{SampleV1, ValueClass};
        let series = |samples: &[(u64, u64, u64)]| SeriesV1 {
            id: "s".into(),
            class: ValueClass::Measured,
            metrics: ["wall_ns", "user_ns", "sys_ns"].map(str::to_owned).to_vec(),
            samples: samples
                .iter()
                .enumerate()
                .map(|(i, (w, u, y))| SampleV1 {
                    rep: i as u32,
                    warmup: false,
                    values: vec![*w, *u, *y],
                    proof_digest: None,
                })
                .collect(),
        };
        let mut busy = vec![(1000, 990, 5); 9];
        busy.push((1100, 990, 5)); // 105 off-CPU: beyond 5 + 2 % of 1000
        busy.push((1020, 990, 5)); // 25 off-CPU: exactly at the limit, not beyond
        assert_eq!(disturbed_samples(&series(&busy), 20_000), Some(2 - 1));
        let sleeps = vec![(5_000_000, 100_000, 50_000); 10];
        assert_eq!(disturbed_samples(&series(&sleeps), 20_000), Some(0));
        let mut no_cpu = series(&busy);
        no_cpu.metrics[1] = "other".into();
        assert_eq!(disturbed_samples(&no_cpu, 20_000), None);
    }

    /// Whether the interval lies on one side of zero.
    fn significant(ci: [i64; 2]) -> bool {
        ci[0] > 0 || ci[1] < 0
    }

    #[test]
    fn decimal_policy_numbers() {
        for (s, ok) in [
            ("0.02", Some(20_000)),
            ("0.95", Some(950_000)),
            ("1", Some(1_000_000)),
            ("0.0000001", None),
            ("1.5", None),
            ("-0.1", None),
            ("", None),
            ("0.1e2", None),
        ] {
            assert_eq!(parse_ppm("threshold", s).ok(), ok, "{s}");
        }
        assert_eq!(ppm_text(31_245), "+0.031245");
        assert_eq!(ppm_text(-2_000), "-0.002000");
    }

    #[test]
    fn hodges_lehmann_table() {
        // (base, head, expected shift, verdict at 2 % / 95 %)
        let base: Vec<u64> = (0..20).map(|i| 1_000_000 + i * 1_000).collect();
        let same: Vec<u64> = base.clone();
        let slower: Vec<u64> = base.iter().map(|b| b + 50_000).collect();
        let faster: Vec<u64> = base.iter().map(|b| b - 50_000).collect();
        let tiny: Vec<u64> = base.iter().map(|b| b + 5_000).collect();
        for (head, shift, verdict) in [
            (&same, 0, Change::NoChange),
            (&slower, 50_000, Change::Slower),
            (&faster, -50_000, Change::Faster),
            (&tiny, 5_000, Change::NoChange),
        ] {
            let (s, ci, v) = compare_samples(&base, head, 20_000, 950_000).unwrap();
            assert_eq!((s, v), (shift, verdict), "{head:?}");
            assert!(ci[0] <= s && s <= ci[1]);
        }
    }

    #[test]
    fn median_intervals_match_the_binomial_tables() {
        let v: Vec<u64> = (1..=10).collect();
        // n = 10 at 95 %: the 2nd and 9th values (coverage 97.9 %).
        assert_eq!(median_interval(&v, 950_000), Some([2, 9]));
        let v: Vec<u64> = (1..=20).collect();
        // n = 20: the 6th and 15th (coverage 95.9 %).
        assert_eq!(median_interval(&v, 950_000), Some([6, 15]));
        let v: Vec<u64> = (1..=100).collect();
        // n = 100: the 40th and 61st (coverage 96.5 %).
        assert_eq!(median_interval(&v, 950_000), Some([40, 61]));
        // Five samples cannot give 95 % (the extremes give 93.75 %).
        assert_eq!(median_interval(&[1, 2, 3, 4, 5], 950_000), None);
        assert_eq!(median_interval(&[1, 2, 3, 4, 5, 6], 950_000), Some([1, 6]));
    }

    #[test]
    fn rank_matches_tables() {
        // Mann–Whitney two-sided 95 %: tabulated critical values for
        // m = n = 5, 10, 20 are 2, 23 and 127; the bound is the next rank.
        assert_eq!(ci_rank(5, 5, 950_000), Some(3));
        assert_eq!(ci_rank(10, 10, 950_000), Some(24));
        assert_eq!(ci_rank(20, 20, 950_000), Some(128));
        assert_eq!(ci_rank(3, 3, 950_000), None);
        // With too few samples no change is called either way, however
        // large the shift: inconclusive.
        let (_, _, v) = compare_samples(&[100, 101, 102], &[200, 201, 202], 20_000, 950_000).unwrap();
        assert_eq!(v, Change::Inconclusive);
    }

    /// A comparison with no metrics, for the renderings.
    fn bare(id: &str, verdict: Change, containers: Option<[Option<String>; 2]>) -> Comparison {
        Comparison {
            worst_case: None,
            schema: COMPARISON_SCHEMA,
            base: Digest([1; 32]),
            head: Digest([2; 32]),
            same_run: true,
            workload_id: id.to_owned(),
            track: "t".to_owned(),
            policy_hash: Digest([3; 32]),
            threshold: "0.02".to_owned(),
            confidence: "0.95".to_owned(),
            looks: 1,
            environment_mismatch: Vec::new(),
            containers,
            result_digest_equal: verdict != Change::Faster,
            added: Vec::new(),
            removed: Vec::new(),
            metrics: Vec::new(),
            verdict,
        }
    }

    /// The image each side ran in is pack text: escaped, never a code
    /// span, and named per side when they differ.
    #[test]
    fn markdown_names_each_sides_container_escaped() {
        let base = |containers| bare("w", Change::NoChange, containers);
        let hostile = "x](http://evil)<img src=y>`@sha256:00".to_owned();
        let md = markdown(&base(Some([Some(hostile.clone()), Some(hostile.clone())])), "b", "h");
        assert!(
            md.contains("Container: x\\]\\(http://evil\\)&lt;img src=y&gt;\\`&#64;sha256:00 on both sides."),
            "{md}"
        );
        let md = markdown(&base(Some([None, Some("reg/img@sha256:ab".to_owned())])), "b", "h");
        assert!(md.contains("Container: base no container, head reg/img&#64;sha256:ab."), "{md}");
        assert!(!markdown(&base(None), "b", "h").contains("Container"));
    }

    #[test]
    fn the_summary_counts_verdicts_and_keeps_a_row_per_workload() {
        let c = |id: &str, verdict: Change| bare(id, verdict, None);
        let s = markdown_summary(&[
            c("a_1", Change::Slower),
            c("b", Change::NoChange),
            c("c", Change::Faster),
            c("d", Change::Slower),
        ]);
        assert!(
            s.starts_with(
                "### CapsuleBench: 4 workloads: 🔴 2 slower, 🟢 1 faster, 🟡 0 inconclusive, ⚪ 1 no change\n"
            ),
            "{s}"
        );
        let rows: Vec<&str> = s.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| workload")).collect();
        assert_eq!(rows.len(), 4, "{s}");
        assert!(rows[0].starts_with("| a\\_1 | t |") && rows[0].contains("🔴 slower"), "{s}");
        assert!(rows[2].contains("🟢 faster") && rows[2].ends_with("⚠️ differs |"), "{s}");
    }

    /// No change needs the whole interval within the threshold; an interval
    /// that straddles it is inconclusive.
    #[test]
    fn an_interval_across_the_threshold_is_inconclusive() {
        // Wide noise around a +1 % shift: the interval reaches past +2 %.
        let base: Vec<u64> = (0..20).map(|i| 1_000_000 + (i % 5) * 20_000).collect();
        let head: Vec<u64> = base.iter().map(|b| b + 10_000).collect();
        let (_, ci, v) = compare_samples(&base, &head, 20_000, 950_000).unwrap();
        assert_eq!(v, Change::Inconclusive, "{ci:?}");
        // The same shift with tight samples: no change.
        let base: Vec<u64> = (0..20).map(|i| 1_000_000 + i * 100).collect();
        let head: Vec<u64> = base.iter().map(|b| b + 10_000).collect();
        assert_eq!(compare_samples(&base, &head, 20_000, 950_000).map(|x| x.2), Some(Change::NoChange));
    }

    /// Holm over a family: one member at the plain level; with thirty,
    /// a borderline shift that one comparison alone calls slower is not
    /// called among thirty, while a clear one still is, and the levels are
    /// the step-down's.
    #[test]
    fn holm_corrects_for_many_series() {
        assert_eq!(holm_level(950_000, 1), 950_000);
        assert_eq!(holm_level(950_000, 30), 998_334);
        assert_eq!(holm_level(950_000, 3), 983_334);
        let base: Vec<u64> = (0..30).map(|i| 1_000_000 + (i * 7919 % 30) * 1_000).collect();
        let clear: Vec<u64> = base.iter().map(|b| b + 60_000).collect();
        // A shift whose 95 % interval just excludes zero.
        let mut borderline = None;
        for bump in (1_000..30_000).step_by(500) {
            let h: Vec<u64> = base.iter().map(|b| b + bump).collect();
            let x = diffs(&base, &h).unwrap();
            let (_, ci95, _) = interval(&x, 950_000);
            let (_, ci99, _) = interval(&x, holm_level(950_000, 30));
            if significant(ci95) && !significant(ci99) {
                borderline = Some(h);
                break;
            }
        }
        let borderline = borderline.expect("a shift significant at 95 % but not at the Holm level");
        let family: Vec<Evidence> = std::iter::once(diffs(&base, &clear).unwrap())
            .chain(std::iter::once(diffs(&base, &borderline).unwrap()))
            .chain((0..28).map(|_| diffs(&base, &base).unwrap()))
            .map(|x| Evidence::of(&x))
            .collect();
        // The summary agrees with the interval it stands for, at each level.
        for x in [diffs(&base, &clear).unwrap(), diffs(&base, &borderline).unwrap(), diffs(&base, &base).unwrap()] {
            for level in [950_000, holm_level(950_000, 29), holm_level(950_000, 30)] {
                let (_, ci, enough) = interval(&x, level);
                assert_eq!(Evidence::of(&x).significant_at(level), enough && significant(ci), "{level}");
            }
        }
        let levels = holm(&family, 950_000);
        assert_eq!(levels[0], (holm_level(950_000, 30), true), "the clear shift is found at the first step");
        assert_eq!(levels[1], (holm_level(950_000, 29), false), "the step-down stops before the borderline one");
        assert!(levels[2..].iter().all(|l| *l == (holm_level(950_000, 29), false)));
        // Alone, the borderline shift is significant at the plain level.
        assert_eq!(holm(&family[1..2], 950_000), [(950_000, true)]);
    }

    #[test]
    fn verdicts_speak_of_what_the_metric_measures() {
        for (metric, less, more) in [
            ("wall_ns", "faster", "slower"),
            ("user_ns", "faster", "slower"),
            ("peak_rss_bytes", "smaller", "larger"),
            ("proof_bytes", "smaller", "larger"),
            ("instructions", "lower", "higher"),
        ] {
            assert_eq!(Change::Faster.word_for(metric), less, "{metric}");
            assert_eq!(Change::Slower.word_for(metric), more, "{metric}");
            assert_eq!(Change::NoChange.word_for(metric), "no change", "{metric}");
        }
    }

    #[test]
    fn markdown_escapes_pack_strings() {
        let e = escape_markdown("a|b <img src=x> [link](http://x) `code`\nnext");
        assert_eq!(e, "a\\|b &lt;img src=x&gt; \\[link\\]\\(http://x\\) \\`code\\` next");
        assert_eq!(escape_markdown("merkle_build"), "merkle\\_build");
        assert_eq!(escape_markdown("a\u{202e}b\u{200b}"), "a\\\\u\\{202e\\}b\\\\u\\{200b\\}");
    }
}
