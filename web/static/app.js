// setsuden live page: one EventSource to /api/v1/stream; if the stream
// breaks, the browser reconnects by itself and we poll /api/v1/live meanwhile.
"use strict";
const $ = (id) => document.getElementById(id);
const fmt = (v, d) => (v === undefined || v === null) ? "—" : Number(v).toFixed(d);

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fillTable(id, rows, toCells) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.append(...toCells(r));
    return tr;
  }));
}

function render(s) {
  $("site").textContent = s.site || "";
  $("site-kw").textContent = fmt(s.total_kw, 1);
  $("updated").textContent = s.time ? new Date(s.time).toLocaleTimeString() : "—";
  $("meter-count").textContent = (s.meters || []).length;
  const err = $("error");
  err.hidden = !s.error;
  err.textContent = s.error ? "store: " + s.error : "";
  fillTable("meters", s.meters || [], (m) => [
    cell(m.meter), cell(m.model || ""), cell(fmt(m.fields.kw, 2), "n"), cell(fmt(m.fields.kwh, 1), "n"),
    cell(fmt(m.fields.voltage_v, 1), "n"), cell(fmt(m.fields.current_a, 1), "n"), cell(fmt(m.fields.pf, 2), "n"),
    cell(fmt(m.fields.inlet_c, 1), "n"), cell(m.stale ? "stale" : "live", m.stale ? "stale" : "ok"),
  ]);
  fillTable("hosts", s.hosts || [], (h) => [
    cell(h.host), cell(fmt(h.fields.vms_running, 0), "n"),
    cell(fmt(h.fields.vcpus_used, 0) + " / " + fmt(h.fields.cpus, 0), "n"),
    cell(fmt((h.fields.memory_used_kib || 0) / 1048576, 1) + " / " + fmt((h.fields.memory_kib || 0) / 1048576, 1) + " GiB", "n"),
    cell(fmt((h.fields.cpu_util || 0) * 100, 0) + " %", "n"),
    cell(h.stale ? "stale" : "live", h.stale ? "stale" : "ok"),
  ]);
  fillTable("sources", s.sources || [], (x) => [
    cell(x.name), cell(x.kind), cell(x.interval),
    cell(x.last_ok ? new Date(x.last_ok).toLocaleTimeString() : "never"),
    cell(x.failed ? "failing ×" + x.consecutive_failures + ": " + x.last_error : "ok", x.failed ? "failed" : "ok"),
  ]);
}

let pollTimer = null;
function poll() {
  fetch("/api/v1/live").then((r) => r.json()).then(render).catch(() => {});
}

function connect() {
  const es = new EventSource("/api/v1/stream");
  es.addEventListener("snapshot", (e) => {
    $("conn").textContent = "live"; $("conn").className = "conn live";
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    render(JSON.parse(e.data));
  });
  es.onerror = () => {
    $("conn").textContent = "reconnecting…"; $("conn").className = "conn down";
    if (!pollTimer) pollTimer = setInterval(poll, 5000);
  };
}
// Demand and SLA state live in the rules engine's memory; they change every
// tick (10 s), so a plain poll suffices. A 503 (no tick yet, or the rule is
// not configured) leaves the dashes.
function rules() {
  fetch("/api/v1/demand").then((r) => r.ok ? r.json() : null).then((d) => {
    if (!d) return;
    if (!d.load_kw && !d.coverage) {
      // The first ticks after a start have no samples of this block yet.
      $("demand-stage").textContent = "waiting for data";
      return;
    }
    const st = $("demand-stage");
    st.textContent = d.stage; st.className = "stage-" + d.stage;
    $("demand-pred").textContent = fmt(d.predicted_kw, 1);
    $("demand-limit").textContent = fmt(d.limit_kw, 1);
    $("demand-limit-name").textContent = d.limit || "—";
    $("demand-adjust").textContent = fmt(d.adjustment_kw, 1);
  }).catch(() => {});
  fetch("/api/v1/sla").then((r) => r.ok ? r.json() : null).then((s) => {
    if (!s) return;
    fillTable("services", s.services || [], (x) => [
      cell(x.service), cell(x.customer || ""), cell(x.state, x.state === "UP" ? "ok" : "failed"),
      cell(x.since ? new Date(x.since).toLocaleTimeString() : "—"),
    ]);
  }).catch(() => {});
}

poll();
connect();
rules();
setInterval(rules, 5000);
