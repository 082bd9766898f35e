//! The report's values and their classes: only what the verifier computed
//! from bytes it read is *recomputed*, only what a verified proof's backend
//! declared established is *proven*; everything else is the runner's (or
//! an imported file's) word.

use serde_json::Value;

use super::report::ReportValue;
use super::{Loaded, PackContents, ProofAxis, Report};
use crate::objects::{ValueClass, paths};

pub(super) fn describe(loaded: &Loaded, c: &PackContents, rep: &mut Report) {
    let imported = c.statement.anchors.imported_source_hash.is_some();
    let proven_note = rep.proven_by.as_ref().map(|b| format!("established by the proof backend `{b}` verified"));
    // A statement field is proven only when the verified proof's backend
    // declared that its proof establishes it; everything else the
    // statement says is the runner's (or the imported file's) word.
    let class_of = |name: &str| -> (ValueClass, Option<&str>) {
        if imported {
            (ValueClass::Imported, None)
        } else if rep.proof == ProofAxis::BoundAndVerified && rep.proven.contains(name) {
            (ValueClass::Proven, proven_note.as_deref())
        } else if rep.proof == ProofAxis::BoundAndVerified {
            (ValueClass::Measured, Some("self-reported; the proof does not establish it"))
        } else {
            (ValueClass::Measured, Some("self-reported"))
        }
    };
    let stmt_value = |name: &str, value: Value| {
        let (class, note) = class_of(name);
        let v = ReportValue::new(name, value, class);
        match note {
            Some(n) => v.note(n),
            None => v,
        }
    };
    let st = &c.statement;
    let mut v = vec![
        ReportValue::new("capsule_hash", loaded.hash.to_string().into(), ValueClass::Recomputed),
        stmt_value("workload_id", st.public_inputs.workload_id.clone().into()),
        stmt_value("track", st.track.clone().into()),
    ];
    for (k, val) in &st.public_inputs.parameters {
        v.push(stmt_value(&format!("parameters.{k}"), val.clone()));
    }
    if let Some(d) = st.public_inputs.result_digest {
        v.push(stmt_value("result_digest", d.to_string().into()));
    }
    let root_note = if rep.proof == ProofAxis::BoundAndVerified && rep.proof_binds_trace_root {
        "recomputed from the committed chunks; bound by the proof"
    } else {
        "recomputed from the committed chunks; committed, not proven"
    };
    v.push(ReportValue::new("trace_root", st.trace_root.to_string().into(), ValueClass::Recomputed).note(root_note));
    // The row count is an input of the root; only rows the verifier
    // recommitted from the pack's own bytes make it a recomputed value.
    let rows_seen = loaded.members.get(paths::ROWS).is_some_and(|g| g.leaves.is_some());
    let rows = ReportValue::new(
        "trace_rows",
        c.capsule.commitment.row_count.into(),
        if rows_seen { ValueClass::Recomputed } else { ValueClass::Measured },
    );
    v.push(if rows_seen {
        rows.note("recomputed from the rows in the pack")
    } else {
        rows.note("bound by the trace root; rows not seen")
    });
    if let Ok(Value::Object(anchors)) = serde_json::to_value(&st.anchors) {
        for (k, val) in anchors {
            let class = if imported { ValueClass::Imported } else { ValueClass::Measured };
            v.push(ReportValue::new(&format!("anchors.{k}"), val, class).note("self-reported"));
        }
    }
    if let Some(m) = c.manifest::<crate::objects::ContainerManifestV1>(crate::objects::ManifestKind::Container) {
        let class = if imported { ValueClass::Imported } else { ValueClass::Measured };
        v.push(ReportValue::new("container.image", m.image.into(), class).note(
            "self-reported that the repetitions ran in it; checked: it names the anchored digest; not checked: the image itself (the verifier pulls nothing)",
        ));
        v.push(
            ReportValue::new("container.engine", format!("{} {}", m.engine.name, m.engine.version).into(), class)
                .note("self-reported"),
        );
    }
    v.push(ReportValue::new("events.count", (c.events.events.len() as u64).into(), ValueClass::Recomputed));
    for s in &c.measurements.series {
        for (i, m) in s.metrics.iter().enumerate() {
            if let Some(a) = s.aggregates(i) {
                let note = format!(
                    "recomputed from {} samples ({} warmups excluded): min {}, max {}, mad {}",
                    a.count, a.warmups, a.min, a.max, a.mad
                );
                v.push(ReportValue::new(&format!("{}.{m}.median", s.id), a.median.into(), s.class).note(&note));
                if *m == c.policy.measurement.primary_metric {
                    worst_case_values(s, i, &c.policy.measurement.worst_case, &mut v);
                }
            }
        }
    }
    v.append(&mut rep.values);
    rep.values = v;
}

/// The policy's worst-case statistics of a series' primary metric
/// (`<series>.<metric>.max`, `.p95`), recomputed from its samples.
fn worst_case_values(s: &crate::objects::SeriesV1, metric: usize, names: &[String], v: &mut Vec<ReportValue>) {
    let Some(sorted) = s.measured_sorted(metric) else { return };
    for w in names.iter().filter_map(|n| crate::objects::WorstCase::parse(n)) {
        let note = match w {
            crate::objects::WorstCase::Max => format!("the largest of {} measured samples", sorted.len()),
            crate::objects::WorstCase::Percentile(p) => format!(
                "nearest-rank percentile {p} of {} measured samples (rank {})",
                sorted.len(),
                (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1)
            ),
        };
        let name = format!("{}.{}.{}", s.id, s.metrics[metric], w.name());
        v.push(ReportValue::new(&name, w.of_sorted(&sorted).into(), s.class).note(&note));
    }
}
