// Watches one run (docs/spec/stream.md §6): the server's snapshot, then
// every stored event and each new one, then the verification of its pack.
// Text only (textContent), never markup from a run. The browser's
// EventSource reconnects by itself, resuming after the last event id.
"use strict";
const run = document.body.dataset.run;
const $ = (id) => document.getElementById(id);
const set = (id, text) => { $(id).textContent = text; };
const events = [];
let source = null;

function short(v) {
  if (v === null || v === undefined) return "—";
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 23 ? s.slice(0, 23) + "…" : s;
}

function phase(label, progress) {
  set("phase-label", label || "—");
  const bar = $("phase-bar");
  if (progress && progress.total) {
    bar.style.width = Math.min(100, (100 * progress.done) / progress.total) + "%";
    set("phase-label", `${label} (${progress.done} of ${progress.total} ${progress.unit || ""})`);
  } else {
    bar.style.width = "0";
  }
}

function showSnapshot(s) {
  if (s.phase && s.phase.phase_id) phase(s.phase.phase_label, s.phase.progress);
  if (s.commitment && s.commitment.chunks_committed) {
    set("chunks", `${s.commitment.chunks_committed} chunk events, last chunk ${s.commitment.last_chunk_index} of ${s.commitment.num_chunks}`);
  }
  if (s.locked) {
    set("locked-policy", short(s.locked.policy_hash));
    set("locked-statement", short(s.locked.statement_hash));
    set("locked-capsule", short(s.locked.capsule_hash));
  }
  if (s.proof && s.proof.backend) set("locked-proof", `${s.proof.backend}, ${s.proof.size_bytes} bytes`);
}

// Folds one event into the page, as the server's snapshot does.
const state = { reps: 0, chunks: 0, progress: null, label: "" };
function apply(e) {
  const d = e.data || {};
  switch (e.type) {
    case "phase":
      state.label = d.phase_label; state.progress = d.progress ? Object.assign({}, d.progress) : null;
      phase(state.label, state.progress); break;
    case "repetition":
      state.reps += 1;
      if (state.progress) { state.progress.done = state.reps; phase(state.label, state.progress); }
      break;
    case "chunk_committed":
      state.chunks += 1;
      set("chunks", `${state.chunks} chunk events, last chunk ${d.chunk_index} of ${d.num_chunks}`); break;
    case "row_root_finalized":
      if (state.chunks === 0) set("chunks", "The trace is empty: there was no row to commit.");
      break;
    case "spec_locked": set("locked-policy", short(d.policy_hash)); break;
    case "statement_locked": set("locked-statement", short(d.statement_hash)); break;
    case "proof_artifact": set("locked-proof", `${d.backend}, ${d.size_bytes} bytes`); break;
    case "capsule_sealed": set("locked-capsule", short(d.capsule_hash)); break;
    case "pack_ready": set("status", "Pack written; waiting for the server's verification."); break;
  }
  const li = document.createElement("li");
  li.dataset.seq = e.seq;
  li.textContent = `${e.seq} ${e.type}`;
  $("events").appendChild(li);
}

function mark(id, ok, word) {
  const li = $("trust-" + id);
  li.className = ok === null ? "na" : ok ? "yes" : "no";
  li.querySelector(".mark").textContent = ok === null ? "–" : ok ? "✓" : "✗";
  li.querySelector(".word").textContent = word;
}

function verified(v) {
  const r = v.report || {};
  const passed = r.passed || [];
  const accepted = r.verdict === "accepted";
  set("status", accepted ? "Verified by the server: accepted." : "Verified by the server: REJECTED.");
  $("status").className = "status " + (accepted ? "yes" : "no");
  mark("integrity", passed.includes("integrity"), passed.includes("integrity") ? "every byte bound, every hash recomputed" : "failed");
  mark("policy", passed.includes("policy"), passed.includes("policy") ? "follows the pinned policy" : "not met");
  const proof = r.proof || "unchecked";
  mark("proof", proof === "bound-and-verified" ? true : proof === "failed" ? false : null, proof);
  const signed = r.signed || "unsigned";
  mark("signature", signed === "unsigned" ? null : true, signed);
  mark("acl", signed === "signed-by-allowed" ? true : signed === "signed-not-allowed" ? false : null,
       signed === "signed-by-allowed" ? "allowed" : signed === "signed-not-allowed" ? "not allowed" : "no ACL applies");
  mark("registry", r.registry_included ? true : null, r.registry_included ? "included" : "not checked");
  mark("audit", r.audit ? true : null, r.audit ? "audited" : "not audited");
  const stream = v.stream || "unchecked";
  mark("stream", stream === "matches" ? true : stream === "mismatch" ? false : null, stream);
}

function connect() {
  source = new EventSource(`/v1/runs/${encodeURIComponent(run)}/watch`);
  source.addEventListener("open", () => set("status", "Watching."));
  source.addEventListener("snapshot", (m) => showSnapshot(JSON.parse(m.data)));
  source.addEventListener("event", (m) => { const e = JSON.parse(m.data); events.push(e); apply(e); });
  // The verdict is the last word on a run: nothing follows it.
  source.addEventListener("verified", (m) => { verified(JSON.parse(m.data)); source.close(); });
  source.addEventListener("lagged", () => { source.close(); connect(); });
  source.addEventListener("error", () => set("status", "Disconnected; reconnecting…"));
}

// Replays the events seen, one every 50 ms, from the start.
$("replay").addEventListener("click", () => {
  $("events").textContent = "";
  Object.assign(state, { reps: 0, chunks: 0, progress: null, label: "" });
  events.forEach((e, i) => setTimeout(() => apply(e), 50 * i));
});

connect();
