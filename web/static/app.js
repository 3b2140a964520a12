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
poll();
connect();
