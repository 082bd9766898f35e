//! The pages: the list of runs, and one page per run that watches it
//! become a receipt (or replays a finished one) from the watch stream.
//! Rendered with maud (every string from a run is escaped); the script is
//! a file of its own, so the pages' Content-Security-Policy allows no
//! inline script.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::app::{AppState, run_state};

const SCRIPT: &str = include_str!("run.js");
const STYLE: &str = include_str!("style.css");

fn page(title: &str, body: Markup, run: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/ui/style.css";
            }
            body data-run=[run] {
                header { a href="/" { "CapsuleBench live" } }
                main { (body) }
                @if run.is_some() { script src="/ui/run.js" {} }
            }
        }
    }
}

pub(crate) async fn index(State(s): State<Arc<AppState>>) -> Response {
    let runs = match s.store.runs(200) {
        Ok(r) => r,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    page(
        "CapsuleBench live",
        html! {
            h1 { "Runs" }
            @if runs.is_empty() {
                p { "No run has streamed here yet: " code { "cargo capsule bench --stream URL" } "." }
            } @else {
                table id="runs" {
                    thead { tr { th { "Run" } th { "Project" } th { "Events" } th { "Verdict" } th { "Stream" } } }
                    tbody {
                        @for r in &runs {
                            tr {
                                td { a href={ "/runs/" (r.run_id) } { (r.run_id) } }
                                td { (r.project) }
                                td { (r.count) }
                                td { (r.result.as_ref().map_or("not yet submitted", |x| x.verdict.as_str())) }
                                td { (r.result.as_ref().map_or("", |x| x.stream.as_str())) }
                            }
                        }
                    }
                }
            }
        },
        None,
    )
    .into_response()
}

pub(crate) async fn run_page(State(s): State<Arc<AppState>>, Path(run_id): Path<String>) -> Response {
    match run_state(&s, &run_id) {
        Ok(Some(_)) => {}
        Ok(None) => return (StatusCode::NOT_FOUND, "no such run").into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
    page(
        &format!("Run {run_id}"),
        html! {
            h1 { "Run " code { (run_id) } }
            p id="status" class="status" { "Connecting…" }
            section id="phase" {
                h2 { "Phase" }
                p id="phase-label" { "—" }
                div class="bar" { div id="phase-bar" {} }
            }
            section {
                h2 { "Commitment" }
                p id="chunks" { "No chunk committed yet." }
            }
            section {
                h2 { "Locked" }
                dl id="locked" {
                    dt { "Policy" } dd id="locked-policy" { "—" }
                    dt { "Statement" } dd id="locked-statement" { "—" }
                    dt { "Proof" } dd id="locked-proof" { "—" }
                    dt { "Capsule" } dd id="locked-capsule" { "—" }
                }
            }
            section {
                h2 { "Trust" }
                p { "Filled in from the server's verification of the pack; until it arrives, nothing here is more than the runner's word." }
                ul id="trust" {
                    @for (id, label) in [("integrity", "Integrity"), ("policy", "Policy"), ("proof", "Proof"), ("signature", "Signature"), ("acl", "Signer allowed (ACL)"), ("registry", "Policy in registry"), ("audit", "Audit"), ("stream", "Stream matches the pack")] {
                        li id={ "trust-" (id) } class="pending" { span class="mark" { "…" } " " (label) ": " span class="word" { "pending" } }
                    }
                }
            }
            section {
                h2 { "Events " button id="replay" type="button" { "Replay" } }
                ol id="events" {}
            }
        },
        Some(&run_id),
    )
    .into_response()
}

pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

pub(crate) async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}
