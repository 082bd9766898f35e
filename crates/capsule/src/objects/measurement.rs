//! The measurement table and its aggregates.
//!
//! Raw samples are what a pack commits; aggregates are always derived from
//! them by [`SeriesV1::aggregates`], the one definition the runner and the
//! verifier share. Integer arithmetic only, so every implementation gets the
//! same numbers.

use serde::{Deserialize, Serialize};

use super::{ValueClass, schema_marker};
use crate::digest::Digest;

schema_marker!(
    /// `capsulebench/measurements/v1`
    MeasurementsSchema = "capsulebench/measurements/v1"
);

/// The committed measurement table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementsV1 {
    /// Always `capsulebench/measurements/v1`.
    pub schema: MeasurementsSchema,
    /// One series per measured thing (a workload, or a harness benchmark id).
    pub series: Vec<SeriesV1>,
    /// How many looks at the data the run's stopping rule could take (a
    /// paired run's adaptive rounds: objects.md §7); `compare` divides its
    /// error rate among them. Absent: one look. Present, at least 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looks: Option<u32>,
}

/// One series of repetitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesV1 {
    /// Series id, unique in the table.
    pub id: String,
    /// Who produced the numbers: `measured`, `harness-reported` or
    /// `imported`.
    pub class: ValueClass,
    /// Metric names; the unit is the suffix (`_ns`, `_bytes`, `_count`).
    pub metrics: Vec<String>,
    /// The samples, in repetition order.
    pub samples: Vec<SampleV1>,
}

/// One repetition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleV1 {
    /// Repetition index, from 0, warmups included.
    pub rep: u32,
    /// Whether this repetition was a warmup (excluded from aggregates).
    pub warmup: bool,
    /// One value per metric, in the series' metric order.
    pub values: Vec<u64>,
    /// Digest of the proof this repetition produced, when it proved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_digest: Option<Digest>,
}

/// Aggregates of one metric over the measured (non-warmup) samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatesV1 {
    /// Measured samples.
    pub count: u64,
    /// Warmup samples (excluded).
    pub warmups: u64,
    /// Median: the middle value, or the floor of the mean of the two middle
    /// values for an even count.
    pub median: u64,
    /// Smallest value.
    pub min: u64,
    /// Largest value (the worst case).
    pub max: u64,
    /// Spread: the median absolute deviation from the median, same rule.
    pub mad: u64,
}

/// A claimed aggregate, as the capsule states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimV1 {
    /// The series id.
    pub series: String,
    /// The metric name.
    pub metric: String,
    /// The claimed aggregates.
    pub aggregates: AggregatesV1,
}

/// The median rule of the specification, on sorted values.
pub fn median_of_sorted(sorted: &[u64]) -> u64 {
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        let (a, b) = (sorted[n / 2 - 1], sorted[n / 2]);
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    }
}

/// The nearest-rank percentile `p` (1 to 100) of sorted values: the value
/// at rank ⌈p·n/100⌉ (1-based), so always one of the values, computed
/// exactly on integers. 0 for no values.
pub fn percentile_of_sorted(sorted: &[u64], p: u32) -> u64 {
    let n = sorted.len() as u64;
    if n == 0 {
        return 0;
    }
    let rank = (u64::from(p.min(100)) * n).div_ceil(100).max(1);
    sorted[(rank - 1) as usize]
}

/// A worst-case statistic a policy asks for beside the median
/// (`measurement.worst_case`): the largest value, or a nearest-rank
/// percentile from p50 to p99.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorstCase {
    /// `max`: the largest measured value.
    Max,
    /// `pNN`: the nearest-rank percentile NN.
    Percentile(u32),
}

impl WorstCase {
    /// Parses `max` or `p50` to `p99` (two digits).
    pub fn parse(s: &str) -> Option<WorstCase> {
        if s == "max" {
            return Some(WorstCase::Max);
        }
        let digits = s.strip_prefix('p')?;
        if digits.len() != 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let p: u32 = digits.parse().ok()?;
        (50..=99).contains(&p).then_some(WorstCase::Percentile(p))
    }

    /// Its name (`max`, `p95`).
    pub fn name(self) -> String {
        match self {
            WorstCase::Max => "max".to_owned(),
            WorstCase::Percentile(p) => format!("p{p}"),
        }
    }

    /// The least measured samples for which it is more than the largest
    /// value: ⌈100 / (100 − NN)⌉ for `pNN` (20 for p95, 100 for p99), 1
    /// for `max`.
    pub fn min_samples(self) -> u64 {
        match self {
            WorstCase::Max => 1,
            WorstCase::Percentile(p) => 100u64.div_ceil(100 - u64::from(p.min(99))),
        }
    }

    /// Its value over sorted measured values.
    pub fn of_sorted(self, sorted: &[u64]) -> u64 {
        match self {
            WorstCase::Max => sorted.last().copied().unwrap_or(0),
            WorstCase::Percentile(p) => percentile_of_sorted(sorted, p),
        }
    }
}

impl SeriesV1 {
    /// The measured (non-warmup) values of metric `metric`, sorted; `None`
    /// when a sample lacks the value.
    pub fn measured_sorted(&self, metric: usize) -> Option<Vec<u64>> {
        let mut vals = Vec::with_capacity(self.samples.len());
        for s in self.samples.iter().filter(|s| !s.warmup) {
            vals.push(*s.values.get(metric)?);
        }
        vals.sort_unstable();
        Some(vals)
    }

    /// Recomputes the aggregates of metric `metric` (by position). `None`
    /// when the series has no measured sample or a sample lacks the value.
    pub fn aggregates(&self, metric: usize) -> Option<AggregatesV1> {
        let vals = self.measured_sorted(metric)?;
        if vals.is_empty() {
            return None;
        }
        let warmups = self.samples.iter().filter(|s| s.warmup).count() as u64;
        let median = median_of_sorted(&vals);
        let mut dev: Vec<u64> = vals.iter().map(|v| v.abs_diff(median)).collect();
        dev.sort_unstable();
        Some(AggregatesV1 {
            count: vals.len() as u64,
            warmups,
            median,
            min: vals[0],
            max: vals[vals.len() - 1],
            mad: median_of_sorted(&dev),
        })
    }

    /// Position of a metric by name.
    pub fn metric_index(&self, name: &str) -> Option<usize> {
        self.metrics.iter().position(|m| m == name)
    }
}

impl MeasurementsV1 {
    /// The claims a sealer should state: every metric of every series.
    pub fn derive_claims(&self) -> Vec<ClaimV1> {
        let mut out = Vec::new();
        for s in &self.series {
            for (i, m) in s.metrics.iter().enumerate() {
                if let Some(aggregates) = s.aggregates(i) {
                    out.push(ClaimV1 { series: s.id.clone(), metric: m.clone(), aggregates });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest rank: always a sample, never interpolated.
    #[test]
    fn percentiles_are_exact_ranks() {
        let v: Vec<u64> = (1..=20).collect();
        for (p, want) in [(50, 10), (90, 18), (95, 19), (99, 20), (100, 20), (1, 1)] {
            assert_eq!(percentile_of_sorted(&v, p), want, "p{p}");
        }
        assert_eq!(percentile_of_sorted(&[7], 95), 7);
        assert_eq!(percentile_of_sorted(&[], 95), 0);
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile_of_sorted(&hundred, 99), 99);
        for (s, want) in [
            ("max", Some(WorstCase::Max)),
            ("p95", Some(WorstCase::Percentile(95))),
            ("p50", Some(WorstCase::Percentile(50))),
            ("p100", None),
            ("p9", None),
            ("p49", None),
            ("p+9", None),
            ("median", None),
        ] {
            assert_eq!(WorstCase::parse(s), want, "{s}");
        }
        assert_eq!(
            [WorstCase::Max, WorstCase::Percentile(95), WorstCase::Percentile(99), WorstCase::Percentile(50)]
                .map(WorstCase::min_samples),
            [1, 20, 100, 2]
        );
    }

    fn series(vals: &[(bool, u64)]) -> SeriesV1 {
        SeriesV1 {
            id: "s".into(),
            class: ValueClass::Measured,
            metrics: vec!["wall_ns".into()],
            samples: vals
                .iter()
                .enumerate()
                .map(|(i, (w, v))| SampleV1 { rep: i as u32, warmup: *w, values: vec![*v], proof_digest: None })
                .collect(),
        }
    }

    #[test]
    fn aggregates_table() {
        for (input, median, mad, min, max, count, warmups) in [
            (vec![(false, 5)], 5, 0, 5, 5, 1, 0),
            (vec![(true, 100), (false, 3), (false, 1), (false, 2)], 2, 1, 1, 3, 3, 1),
            (vec![(false, 1), (false, 2)], 1, 0, 1, 2, 2, 0),
            (vec![(false, 3), (false, 4), (false, 10), (false, 1)], 3, 1, 1, 10, 4, 0),
            (vec![(false, u64::MAX), (false, u64::MAX - 2)], u64::MAX - 1, 1, u64::MAX - 2, u64::MAX, 2, 0),
        ] {
            let a = series(&input).aggregates(0).unwrap();
            assert_eq!(
                (a.median, a.mad, a.min, a.max, a.count, a.warmups),
                (median, mad, min, max, count, warmups),
                "{input:?}"
            );
        }
        assert!(series(&[(true, 1)]).aggregates(0).is_none());
    }
}
