//! The site's pages, rendered with maud (every string from a pack is
//! escaped; the charts are inline SVG whose only text is ours): the index,
//! a page per workload (leaderboards in two tracks, history charts), a page
//! per entry (its trust in words and its verification report), and a page
//! per entry's sealed event timeline.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use capsule::compare::human_value;
use capsule::objects::EventV1;

use crate::model::{BoardV1, EntryV1, RejectedV1, SeriesFiguresV1, WorkloadV1};

/// The stylesheet, `style.css`.
pub(crate) const STYLE: &str = include_str!("style.css");
/// The script, `board.js`: the track filter of a workload page.
pub(crate) const SCRIPT: &str = include_str!("board.js");

fn page(title: &str, root: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href={ (root) "style.css" };
            }
            body {
                header { a.home href={ (root) "index.html" } { "CapsuleBench board" } }
                main { (body) }
                footer {
                    "Every result here comes from a capsulepack that verified; follow a row to its pack and report, and check it yourself with "
                    code { "cargo capsule verify" } "."
                }
                script src={ (root) "board.js" } {}
            }
        }
    }
}

fn short(hash: &str) -> &str {
    let h = hash.strip_prefix("sha256:").unwrap_or(hash);
    &h[..h.len().min(12)]
}

/// A commit as a chart label or a cell: its first 8 hex digits (a pack's
/// commit is self-reported text; only hex digits are shown).
pub(crate) fn commit_label(commit: Option<&str>) -> String {
    match commit {
        Some(c) => c.chars().filter(char::is_ascii_hexdigit).take(8).collect(),
        None => "no commit".to_owned(),
    }
}

/// The trust indicator's parts: a key, whether it holds, and the words.
pub(crate) fn trust_parts(e: &EntryV1) -> Vec<(&'static str, bool, String)> {
    let t = &e.trust;
    let proof = match t.proof.as_str() {
        "bound-and-verified" => (true, "proven: a proof bound to the statement verified".to_owned()),
        "committed-not-proven" => (false, "not proven: the trace is committed, nothing proves it".to_owned()),
        _ => (false, "no proof".to_owned()),
    };
    let measured = match t.measured_by.as_str() {
        "runner" => "measured by the runner (self-reported)",
        "harness" => "reported by the benchmark harness (self-reported)",
        "import" => "imported from another tool's output (self-reported)",
        _ => "self-reported",
    };
    let signed = if t.signers.is_empty() {
        (false, "unsigned".to_owned())
    } else {
        let who: Vec<String> = t
            .signers
            .iter()
            .map(|s| format!("{}{}", s.who, if s.allowed { " (allowed by the ACL)" } else { "" }))
            .collect();
        (true, format!("signed by {}", who.join("; ")))
    };
    vec![
        ("proven", proof.0, proof.1),
        ("recomputed", t.recomputed, "recomputed: every hash, chain and aggregate".to_owned()),
        ("measured", true, measured.to_owned()),
        ("signed", signed.0, signed.1),
        (
            "certified",
            e.track == "certified",
            if e.track == "certified" {
                "certified: an allowed signer, the policy in the pinned registry".to_owned()
            } else {
                "community: verifies under a pinned policy".to_owned()
            },
        ),
        ("audited", t.audited, if t.audited { "audited" } else { "not audited" }.to_owned()),
    ]
}

fn badge(e: &EntryV1) -> Markup {
    html! {
        span.badge aria-label="trust" {
            @for (key, on, words) in trust_parts(e) {
                span class={ "chip " (key) @if on { " on" } @else { " off" } } title=(words) {
                    (key.chars().next().map(|c| c.to_ascii_uppercase()).unwrap_or('?'))
                }
            }
        }
    }
}

fn figure(metric: &str, s: &SeriesFiguresV1) -> Markup {
    html! {
        span.median { (human_value(metric, s.median)) }
        @if let Some([lo, hi]) = s.interval {
            " " span.interval { "[" (human_value(metric, lo)) ", " (human_value(metric, hi)) "]" }
        }
    }
}

fn who(e: &EntryV1) -> Markup {
    html! {
        span.origin { (e.origin) }
        " " code.commit { (commit_label(e.commit.as_deref())) }
        @if let Some(r) = &e.git_ref { " " span.ref { (r) } }
    }
}

fn links(e: &EntryV1, root: &str) -> Markup {
    let h = e.capsule_hash.to_hex();
    html! {
        a href={ (root) "r/" (h) ".html" } { "receipt" } " · "
        a href={ (root) "packs/" (h) ".tgz" } { "pack" } " · "
        a href={ (root) "r/" (h) ".json" } { "report JSON" } " · "
        a href={ (root) "t/" (h) ".html" } { "timeline" }
    }
}

/// How many entries the board shows, and how many of them are certified.
fn counts(b: &BoardV1) -> (usize, usize) {
    let entries = b.workloads.iter().flat_map(|w| &w.entries);
    (entries.clone().count(), entries.filter(|e| e.track == "certified").count())
}

/// The README badge (`badge.svg`): how many receipts verified, and how
/// many of them are certified. Flat, in a monospace font, so its width
/// follows from the text without measuring glyphs; only digits and fixed
/// words are drawn.
pub(crate) fn readme_badge(b: &BoardV1) -> String {
    let (entries, certified) = counts(b);
    let (label, value) = ("receipts", format!("{entries} verified, {certified} certified"));
    // 7 px a character at 11 px, 6 px of padding each side.
    let width = |t: &str| t.len() * 7 + 12;
    let (lw, vw) = (width(label), width(&value));
    let color = if certified > 0 {
        "#1a7f37"
    } else if entries > 0 {
        "#0969da"
    } else {
        "#6e7781"
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" aria-label=\"{label}: {value}\">\
         <title>{label}: {value}</title>\
         <rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{vw}\" height=\"20\" fill=\"{color}\"/>\
         <g fill=\"#fff\" font-family=\"DejaVu Sans Mono,Menlo,Consolas,monospace\" font-size=\"11\" text-anchor=\"middle\">\
         <text x=\"{lx}\" y=\"14\">{label}</text><text x=\"{vx}\" y=\"14\">{value}</text></g></svg>\n",
        w = lw + vw,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}

/// The index page.
pub(crate) fn index(b: &BoardV1) -> Markup {
    let (entries, certified) = counts(b);
    page(
        "CapsuleBench board",
        "",
        html! {
            h1 { "Benchmark board" }
            p.summary {
                (entries) " verified receipts (" (certified) " certified, " (entries - certified) " community), "
                (b.rejected.len()) " rejected packs. Verified by " (b.verifier.tool) " at profile "
                strong { (b.verifier.profile) } ", options " code { (short(&b.verifier.options_hash.to_string())) } "."
            }
            h2 { "Workloads" }
            div.scroll {
                table id="workloads" {
                    thead { tr { th { "Workload" } th { "Policy" } th { "Metric" } th { "Best certified" } th { "Best community" } th { "Receipts" } } }
                    tbody {
                        @for w in &b.workloads {
                            tr {
                                td { a href={ "w/" (w.slug) ".html" } { (w.workload_id) } }
                                td { (w.policy.id) " " (w.policy.version) }
                                td { (w.primary_metric) }
                                td { (best(w, "certified")) }
                                td { (best(w, "community")) }
                                td { (w.entries.len()) }
                            }
                        }
                    }
                }
            }
            h2 id="rejected" { "Rejected" }
            @if b.rejected.is_empty() {
                p { "No pack was rejected." }
            } @else {
                p { "These packs did not verify; nothing of them is shown as a result." }
                (rejected_table(&b.rejected))
            }
        },
    )
}

fn best(w: &WorkloadV1, track: &str) -> Markup {
    match w.entries.iter().find(|e| e.track == track) {
        Some(e) => match e.series.first() {
            Some(s) => html! { (figure(&w.primary_metric, s)) " " (badge(e)) },
            None => html! { "—" },
        },
        None => html! { "—" },
    }
}

fn rejected_table(r: &[RejectedV1]) -> Markup {
    html! {
        div.scroll {
            table id="rejected-packs" {
                thead { tr { th { "Pack" } th { "Capsule" } th { "Findings" } th { "Why" } th { "Report" } } }
                tbody {
                    @for x in r {
                        tr.rejected {
                            td { (x.file) }
                            td { code { (x.capsule_hash.map(|h| short(&h.to_string()).to_owned()).unwrap_or_else(|| "unread".to_owned())) } }
                            td { @for c in &x.codes { code.finding { (c) } " " } }
                            td { (x.detail) }
                            td { a href={ "x/" (x.pack_digest.to_hex()) ".json" } { "JSON" } }
                        }
                    }
                }
            }
        }
    }
}

/// A workload's page: per series, its history chart and its two
/// leaderboards. `charts` holds each series' chart SVG, when it has a
/// history.
pub(crate) fn workload(w: &WorkloadV1, charts: &[(String, Option<String>)]) -> Markup {
    page(
        &format!("{} — CapsuleBench board", w.workload_id),
        "../",
        html! {
            h1 { (w.workload_id) }
            p.summary {
                "Policy " strong { (w.policy.id) " " (w.policy.version) } " (" code { (short(&w.policy.hash.to_string())) } "), primary metric "
                code { (w.primary_metric) } ", lower is better; intervals are the median's at " (w.confidence) " confidence."
            }
            div.filter role="group" aria-label="tracks" {
                button data-show="all" aria-pressed="true" { "Both tracks" }
                button data-show="certified" aria-pressed="false" { "Certified" }
                button data-show="community" aria-pressed="false" { "Community" }
            }
            @for (series, chart) in charts {
                section.series data-series=(series) {
                    h2 { (series) }
                    @if let Some(svg) = chart {
                        figure.chart {
                            (PreEscaped(svg))
                            figcaption { "History: pushes to the board's branch and tags, in the order they were sealed; filled points are certified." }
                        }
                    }
                    @for track in ["certified", "community"] {
                        (leaderboard(w, series, track))
                    }
                }
            }
        },
    )
}

fn leaderboard(w: &WorkloadV1, series: &str, track: &str) -> Markup {
    let rows: Vec<(&EntryV1, &SeriesFiguresV1)> = {
        let mut rows: Vec<_> = w
            .entries
            .iter()
            .filter(|e| e.track == track)
            .filter_map(|e| e.series.iter().find(|s| s.id == series).map(|s| (e, s)))
            .collect();
        rows.sort_by(|a, b| a.1.median.cmp(&b.1.median).then(a.0.capsule_hash.0.cmp(&b.0.capsule_hash.0)));
        rows
    };
    let title = if track == "certified" { "Certified" } else { "Community" };
    // A column only when some row of the table has it.
    let worst = rows.iter().any(|(_, s)| !s.worst_case.is_empty());
    let rss = rows.iter().any(|(_, s)| s.peak_rss_bytes.is_some());
    let proof = rows.iter().any(|(_, s)| s.proof_bytes.is_some());
    let verify = rows.iter().any(|(_, s)| s.verify_ns.is_some());
    html! {
        div class={ "track " (track) } data-track=(track) {
            h3 { (title) }
            @if rows.is_empty() {
                p.empty { "No " (track) " receipt." }
            } @else {
                div.scroll {
                    table.leaderboard {
                        thead { tr {
                            th { "#" } th { "Who / commit" } th { (w.primary_metric) " median [interval]" }
                            @if worst { th { "Worst case" } } @if rss { th { "Peak RSS" } }
                            @if proof { th { "Proof size" } } @if verify { th { "Verify time" } }
                            th { "Trust" } th { "Receipt" }
                        } }
                        tbody {
                            @for (i, (e, s)) in rows.iter().enumerate() {
                                tr data-track=(e.track) data-capsule=(e.capsule_hash.to_hex()) {
                                    td { (i + 1) }
                                    td { (who(e)) }
                                    td { (figure(&w.primary_metric, s)) }
                                    @if worst { td { @for (k, v) in &s.worst_case { (k) " " (human_value(&w.primary_metric, *v)) " " } } }
                                    @if rss { td { @if let Some(v) = s.peak_rss_bytes { (human_value("peak_rss_bytes", v)) } } }
                                    @if proof { td { @if let Some(v) = s.proof_bytes { (v) " B" } } }
                                    @if verify { td { @if let Some(v) = s.verify_ns { (human_value("verify_ns", v)) } } }
                                    td { (badge(e)) }
                                    td { (links(e, "../")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An entry's page: the trust in words, the figures, and the report.
pub(crate) fn entry(w: &WorkloadV1, e: &EntryV1, report: &Value) -> Markup {
    page(
        &format!("Receipt {} — CapsuleBench board", short(&e.capsule_hash.to_string())),
        "../",
        html! {
            h1 { "Receipt " code { (short(&e.capsule_hash.to_string())) } }
            p { "Workload " a href={ "../w/" (w.slug) ".html" } { (w.workload_id) } ", " (e.track) " track. " (who(e)) }
            p.links { (links(e, "../")) }
            h2 { "What is proven, signed and self-reported" }
            ul.trust {
                @for (key, on, words) in trust_parts(e) {
                    li class={ (key) @if on { " on" } @else { " off" } } { (words) }
                }
            }
            h2 { "Figures" }
            div.scroll {
                table {
                    thead { tr { th { "Series" } th { "Class" } th { "Samples" } th { (w.primary_metric) " median [interval]" } th { "Worst case" } } }
                    tbody {
                        @for s in &e.series {
                            tr { td { (s.id) } td { (s.class) } td { (s.count) } td { (figure(&w.primary_metric, s)) }
                                 td { @for (k, v) in &s.worst_case { (k) " " (human_value(&w.primary_metric, *v)) " " } } }
                        }
                    }
                }
            }
            h2 { "Verification report" }
            (report_view(report))
        },
    )
}

/// The human form of a verification report (its JSON, `capsulebench/verify-report/v1`).
pub(crate) fn report_view(r: &Value) -> Markup {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let passed: Vec<String> = r["passed"].as_array().map(|a| a.iter().map(s).collect()).unwrap_or_default();
    html! {
        p.verdict { "Verdict: " strong { (s(&r["verdict"])) } " at profile " (s(&r["requested_profile"]))
            " (passed: " (passed.join(", ")) "); proof: " (s(&r["proof"])) "; signed: " (s(&r["signed"])) "." }
        @if let Some(p) = r["policy"].as_object() {
            p { "Policy " (p.get("id").map(s).unwrap_or_default()) " " (p.get("version").map(s).unwrap_or_default())
                ", pinned by " (p.get("pinned_by").map(s).unwrap_or_default()) "." }
        }
        div.scroll {
            table.values {
                thead { tr { th { "Value" } th { "" } th { "Class" } th { "How" } } }
                tbody {
                    @for v in r["values"].as_array().into_iter().flatten() {
                        tr { td { code { (s(&v["name"])) } } td { (display(&v["value"])) } td { (s(&v["class"])) } td { (s(&v["note"])) } }
                    }
                }
            }
        }
        @let findings = r["findings"].as_array().cloned().unwrap_or_default();
        @if !findings.is_empty() {
            h3 { "Findings" }
            ul { @for f in &findings { li { code { (s(&f["code"])) } " (" (s(&f["severity"])) "): " (s(&f["detail"])) } } }
        }
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The sealed event timeline of an entry, replayable: each event with its
/// time from the first.
pub(crate) fn timeline(e: &EntryV1, events: &[EventV1]) -> Markup {
    let t0 = events.first().map_or(0, |x| x.ts_ms);
    page(
        &format!("Timeline {} — CapsuleBench board", short(&e.capsule_hash.to_string())),
        "../",
        html! {
            h1 { "Run timeline " code { (short(&e.capsule_hash.to_string())) } }
            p { "The pack's sealed, hash-chained events (" (events.len()) "), as the run emitted them; "
                code { "cargo capsule replay" } " on the pack checks the chain and replays them. "
                a href={ "../r/" (e.capsule_hash.to_hex()) ".html" } { "Back to the receipt" } "." }
            div.scroll {
                table.timeline {
                    thead { tr { th { "#" } th { "+ms" } th { "Event" } th { "Data" } } }
                    tbody {
                        @for x in events {
                            tr data-type=(x.kind) { td { (x.seq) } td { (x.ts_ms.saturating_sub(t0)) } td { (x.kind) }
                                td { code { (x.data.to_string()) } } }
                        }
                    }
                }
            }
        },
    )
}
