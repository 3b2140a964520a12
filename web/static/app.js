// setsuden console. No framework: every untrusted string (meter, VM,
// service and customer names) reaches the page through textContent only.
"use strict";
const $ = (id) => document.getElementById(id);
const S = { user: null, csrf: "", tz: "UTC", site: "", lang: "en", live: null, es: null, timers: [], charts: {} };

// ---- language, numbers, times in the site's zone --------------------------
function t(key, vars) {
  let s = (I18N[S.lang] && I18N[S.lang][key]) || I18N.en[key] || key;
  for (const k in vars || {}) s = s.replace("{" + k + "}", vars[k]);
  return s;
}
function applyLang() {
  document.documentElement.lang = S.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = t("lang.other");
}
const num = (v, d) => (v === undefined || v === null || !isFinite(v)) ? "—" :
  Number(v).toLocaleString(S.lang === "ja" ? "ja-JP" : "en-GB", { minimumFractionDigits: d, maximumFractionDigits: d, useGrouping: false });
function fmtTime(v, withDate) {
  if (!v) return "—";
  const d = new Date(v);
  if (isNaN(d) || d.getUTCFullYear() < 2000) return "—";
  const o = { timeZone: S.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  if (withDate) { o.year = "numeric"; o.month = "2-digit"; o.day = "2-digit"; delete o.second; }
  return new Intl.DateTimeFormat(S.lang === "ja" ? "ja-JP" : "en-GB", o).format(d);
}
function fmtDuration(s) {
  if (!isFinite(s)) return "—";
  const tot = Math.round(s / 60), d = Math.floor(tot / 1440), h = Math.floor((tot % 1440) / 60), m = tot % 60;
  const ja = S.lang === "ja";
  const parts = [];
  if (d) parts.push(d + (ja ? "日" : "d"));
  if (h) parts.push(h + (ja ? "時間" : "h"));
  if (m || !parts.length) parts.push(m + (ja ? "分" : "m"));
  return parts.join(" ");
}
// offset of the site's zone at instant ms, in ms (wall clock - UTC).
function tzOffset(ms) {
  const p = {};
  new Intl.DateTimeFormat("en-US", { timeZone: S.tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(new Date(ms)).forEach((x) => { p[x.type] = x.value; });
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}
// midnight of the site's day containing ms.
function siteDayStart(ms) {
  const off = tzOffset(ms);
  const wall = ms + off;
  const mid = wall - (((wall % 86400000) + 86400000) % 86400000);
  return mid - tzOffset(mid - off);
}
// "2026-07-10T02:00" (a datetime-local in the site's zone) -> RFC 3339.
function localToRFC3339(v) {
  if (!v) return "";
  const [date, time] = v.split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  const off = tzOffset(guess - tzOffset(guess));
  const sign = off < 0 ? "-" : "+", a = Math.abs(off) / 60000;
  return `${v.length === 16 ? v + ":00" : v}${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

// ---- DOM helpers -----------------------------------------------------------
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
const cell = (text, cls) => el("td", text, cls);
function fillTable(id, rows, toCells) {
  $(id).querySelector("tbody").replaceChildren(...rows.map((r) => { const tr = el("tr"); tr.append(...toCells(r)); return tr; }));
}

// ---- API -------------------------------------------------------------------
async function api(method, path, body) {
  const opt = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") opt.headers["X-CSRF-Token"] = S.csrf;
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt);
  let js = null;
  if ((r.headers.get("Content-Type") || "").startsWith("application/json")) js = await r.json();
  if (r.status === 401 && path !== "/api/v1/session") showLogin();
  return { ok: r.ok, status: r.status, body: js };
}

// ---- session ---------------------------------------------------------------
function chooseLang(locale) {
  const q = new URLSearchParams(location.search).get("lang");
  S.lang = (q === "ja" || q === "en") ? q : (localStorage.getItem("setsuden.lang") || locale || "en");
}
function startSession(v) {
  S.user = v.user; S.csrf = v.csrf_token || ""; S.tz = v.timezone || "UTC"; S.site = v.site || "";
  chooseLang(v.locale);
  applyLang();
  $("site").textContent = S.site;
  $("whoami").textContent = S.user.name + " (" + S.user.role + ")";
  $("logout").hidden = false; $("nav").hidden = false;
  document.body.className = "role-" + S.user.role;
  if (!location.hash || location.hash === "#login") location.hash = S.user.role === "customer" ? "#sla" : "#overview";
  route();
}
function showLogin() {
  stopPage();
  if (S.es) { S.es.close(); S.es = null; }
  S.user = null;
  $("nav").hidden = true; $("logout").hidden = true; $("whoami").textContent = "";
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "page-login"; });
  $("login-name").focus();
}
$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("POST", "/api/v1/session", { name: $("login-name").value, password: $("login-password").value });
  $("login-password").value = "";
  if (!r.ok) { $("login-error").hidden = false; $("login-error").textContent = (r.body && r.body.error) || t("login.failed"); return; }
  $("login-error").hidden = true;
  startSession(r.body);
});
$("logout").addEventListener("click", async () => { await api("DELETE", "/api/v1/session"); location.hash = ""; showLogin(); });
$("lang").addEventListener("click", () => {
  S.lang = S.lang === "ja" ? "en" : "ja";
  localStorage.setItem("setsuden.lang", S.lang);
  const u = new URL(location.href); u.searchParams.delete("lang"); history.replaceState(null, "", u);
  applyLang(); route();
});

// ---- pages -----------------------------------------------------------------
function stopPage() { S.timers.forEach(clearInterval); S.timers = []; hideNewToken(); }
function every(ms, f) { f(); S.timers.push(setInterval(f, ms)); }
const pages = { overview: showOverview, floor: showFloor, peak: showPeak, sla: showSLA, reports: showReports };
function route() {
  if (!S.user) return;
  let name = (location.hash || "#overview").slice(1).split("/")[0];
  if (!pages[name]) name = "overview";
  if (S.user.role === "customer" && name !== "sla" && name !== "reports") name = "sla";
  stopPage();
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "page-" + name; });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === "#" + name));
  pages[name]();
}
window.addEventListener("hashchange", route);

// ---- overview --------------------------------------------------------------
function renderLive(s) {
  S.live = s;
  $("site-kw").textContent = num(s.total_kw, 1);
  $("updated").textContent = fmtTime(s.time);
  $("meter-count").textContent = (s.meters || []).length;
  $("error").hidden = !s.error; $("error").textContent = s.error ? "store: " + s.error : "";
  const meters = s.meters || [];
  fillTable("meters", meters, (m) => [
    cell(m.meter), cell(m.model || ""), cell(num(m.fields.kw, 2), "n"), cell(num(m.fields.kwh, 1), "n"),
    cell(num(m.fields.voltage_v, 1), "n"), cell(num(m.fields.current_a, 1), "n"), cell(num(m.fields.pf, 2), "n"),
    cell(num(m.fields.inlet_c, 1), "n"), cell(m.stale ? t("stale") : t("live"), m.stale ? "stale" : "ok"),
  ]);
  fillTable("hosts", s.hosts || [], (h) => [
    cell(h.host), cell(num(h.fields.vms_running, 0), "n"),
    cell(num(h.fields.vcpus_used, 0) + " / " + num(h.fields.cpus, 0), "n"),
    cell(num((h.fields.memory_used_kib || 0) / 1048576, 1) + " / " + num((h.fields.memory_kib || 0) / 1048576, 1) + " GiB", "n"),
    cell(num((h.fields.cpu_util || 0) * 100, 0) + " %", "n"), cell(h.stale ? t("stale") : t("live"), h.stale ? "stale" : "ok"),
  ]);
  fillTable("sources", s.sources || [], (x) => [
    cell(x.name), cell(x.kind), cell(x.interval), cell(x.last_ok ? fmtTime(x.last_ok) : t("never")),
    cell(x.failed ? t("failing") + " ×" + x.consecutive_failures + ": " + x.last_error : t("ok"), x.failed ? "failed" : "ok"),
  ]);
  let it = 0, total = 0;
  for (const m of meters) {
    if (m.stale || m.fields.kw === undefined) continue;
    total += m.fields.kw;
    if ((m.location || {}).category === "it") it += m.fields.kw;
  }
  $("pue-now").textContent = it > 0 ? num(total / it, 2) : "—";
  const hot = meters.filter((m) => m.fields.inlet_c !== undefined).sort((a, b) => b.fields.inlet_c - a.fields.inlet_c).slice(0, 5);
  $("hot-inlets").replaceChildren(...hot.map((m) => el("li", `${m.meter}${(m.location || {}).rack ? " (" + m.location.rack + ")" : ""}: ${num(m.fields.inlet_c, 1)} °C`)));
  renderAlarms();
}
function connectLive() {
  if (S.es) return;
  const poll = () => api("GET", "/api/v1/live").then((r) => { if (r.ok) renderLive(r.body); });
  S.es = new EventSource("/api/v1/stream");
  let pollTimer = null;
  S.es.addEventListener("snapshot", (e) => {
    $("conn").textContent = t("live"); $("conn").className = "conn live";
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    renderLive(JSON.parse(e.data));
  });
  S.es.addEventListener("plans", () => { if (!$("page-peak").hidden) plansPoll(); });
  S.es.addEventListener("alarms", (e) => { S.alarms = JSON.parse(e.data).alarms || []; renderAlarms(); });
  S.es.onerror = () => {
    $("conn").textContent = t("reconnecting"); $("conn").className = "conn down";
    if (!pollTimer) pollTimer = setInterval(poll, 5000);
  };
}
let lastDemand = null, lastSLA = null;
function renderDemand(d) {
  lastDemand = d;
  if (!d.load_kw && !d.coverage) { $("demand-stage").textContent = t("waiting"); return; }
  const st = $("demand-stage");
  st.textContent = t("stage." + d.stage); st.className = "stage-" + d.stage;
  $("demand-pred").textContent = num(d.predicted_kw, 1);
  $("block-sofar").textContent = num(d.demand_kw, 1);
  $("demand-limit").textContent = num(d.limit_kw, 1);
  $("demand-limit-name").textContent = d.limit || "—";
  $("demand-adjust").textContent = num(d.adjustment_kw, 1);
  $("block-left").textContent = fmtDuration(d.remaining_s);
  const scale = Math.max(d.limit_kw || 0, d.predicted_kw || 0, d.demand_kw || 0) * 1.15 || 1;
  $("gauge-sofar").style.width = (100 * (d.demand_kw || 0) / scale) + "%";
  $("gauge-pred").style.width = (100 * (d.predicted_kw || 0) / scale) + "%";
  $("gauge-limit").style.left = (100 * (d.limit_kw || 0) / scale) + "%";
  renderAlarms();
}
// The open alarms are the server's list (GET /api/v1/alarms, and the
// stream's alarms event), worded here in the page's language.
function renderAlarms() {
  const list = S.alarms || [];
  $("alarms").replaceChildren(...(list.length ? list.map(alarmItem) : [el("li", t("noalarms"), "ok")]));
}
function alarmItem(a) {
  const p = Object.assign({}, a.params || {});
  if (p.stage) p.stage = t("stage." + p.stage);
  let key = "alarm." + a.kind;
  if (a.kind === "demand_stage" && p.shed_kw) key = "alarm.demand_shed";
  let text = (I18N.en[key] ? t(key, p) : a.message);
  if (a.since) text += " — " + t("alarm.since", { t: fmtTime(a.since, true) });
  const li = el("li", text, "alarm " + a.severity);
  li.dataset.kind = a.kind; li.dataset.source = a.source;
  return li;
}
function alarmsPoll() {
  api("GET", "/api/v1/alarms").then((r) => { if (r.ok) { S.alarms = r.body.alarms || []; renderAlarms(); } }).catch(() => {});
}
function rulesPoll() {
  alarmsPoll();
  api("GET", "/api/v1/demand").then((r) => { if (r.ok) renderDemand(r.body); }).catch(() => {});
  api("GET", "/api/v1/sla").then((r) => {
    if (!r.ok) return;
    lastSLA = r.body.services || [];
    fillTable("services", lastSLA, (x) => [cell(x.service), cell(x.customer || ""), cell(x.state, x.state === "UP" ? "ok" : "failed"), cell(fmtTime(x.since, true))]);
    renderAlarms();
  }).catch(() => {});
}
async function series(params) {
  const r = await api("GET", "/api/v1/series?" + new URLSearchParams(params));
  return r.ok ? r.body : null;
}
function chart(id, opts, data, from, to) {
  const box = $(id);
  if (S.charts[id]) { S.charts[id].destroy(); delete S.charts[id]; }
  if (typeof uPlot === "undefined") { box.textContent = "chart library not built (run make web)"; return; }
  box.replaceChildren();
  opts.width = Math.max(300, box.clientWidth || 900); opts.height = opts.height || 260;
  opts.scales = Object.assign({ x: { time: true, range: () => [from, to] } }, opts.scales || {});
  opts.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), S.tz);
  // The legend's time column, in the page's language and the site's zone.
  if (opts.series && opts.series[0] && !opts.series[0].label) {
    opts.series[0] = Object.assign({ label: t("legend.time"), value: (u, ts) => ts == null ? "--" : fmtTime(ts * 1000, true) }, opts.series[0]);
  }
  S.charts[id] = new uPlot(opts, data, box);
}
// chartAxes labels a time chart's axes in the page's language: the x axis
// in the site's zone (named in its label), the y axis with its unit.
function chartAxes(yKey, from, to) {
  const long = to - from > 2 * 86400;
  const fmt = new Intl.DateTimeFormat(S.lang === "ja" ? "ja-JP" : "en-GB", long ?
    { timeZone: S.tz, month: "numeric", day: "numeric" } : { timeZone: S.tz, hour: "2-digit", minute: "2-digit", hour12: false });
  return [{ label: t("axis.time", { tz: S.tz }), values: (u, splits) => splits.map((ts) => fmt.format(new Date(ts * 1000))) },
    { label: t(yKey), size: 60 }];
}
async function todayChart() {
  const now = Date.now(), start = siteDayStart(now), day = 86400000;
  const iso = (ms) => new Date(ms).toISOString();
  const [today, yest] = await Promise.all([
    series({ measurement: "power", field: "kw", sum: "true", from: iso(start), to: iso(start + day), points: 288 }),
    series({ measurement: "power", field: "kw", sum: "true", from: iso(start - day), to: iso(start), points: 288 }),
  ]);
  if (!today || !yest) return;
  const every = today.every_s, xs = [], a = [], b = [], tgt = [];
  const idx = (ts, base) => Math.round((ts - base) / every);
  for (let ts = start / 1000 + every; ts <= (start + day) / 1000; ts += every) { xs.push(ts); a.push(null); b.push(null); tgt.push(lastDemand && lastDemand.limit_kw ? lastDemand.limit_kw : null); }
  const put = (ser, arr, base) => { if (ser.series[0]) ser.series[0].t.forEach((ts, i) => { const k = idx(ts, base) - 1; if (k >= 0 && k < arr.length) arr[k] = ser.series[0].v[i]; }); };
  put(today, a, start / 1000); put(yest, b, (start - day) / 1000);
  chart("chart-today", { series: [{}, { label: t("today") + " kW", stroke: "#2a6fdb", width: 2, points: { show: true, size: 3 } }, { label: t("yesterday") + " kW", stroke: "#999", dash: [4, 4] },
    { label: t("target") + " kW", stroke: "#d33", width: 1 }], axes: chartAxes("axis.power", start / 1000, (start + day) / 1000) }, [xs, a, b, tgt], start / 1000, (start + day) / 1000);
}
// PUE from energy: the increase of every meter's kwh_total over the
// range, all meters over the IT ones (category=it).
async function energyPUE(id, fromMs) {
  const r = await series({ measurement: "power", field: "kwh_total", fn: "spread", from: new Date(fromMs).toISOString(), to: new Date().toISOString(), points: 10 });
  if (!r) return;
  let total = 0, it = 0;
  for (const s of r.series) {
    const kwh = s.v.reduce((a, b) => a + b, 0);
    total += kwh;
    if (s.tags.category === "it") it += kwh;
  }
  $(id).textContent = it > 0 ? num(total / it, 2) + " (" + num(total, 1) + " kWh)" : "—";
}
function monthStart(ms) {
  const off = tzOffset(ms), d = new Date(ms + off);
  const first = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return first - tzOffset(first - off);
}
function showOverview() {
  connectLive();
  if (S.live) renderLive(S.live);
  every(5000, rulesPoll);
  every(60000, todayChart);
  every(300000, () => { energyPUE("pue-today", siteDayStart(Date.now())); energyPUE("pue-month", monthStart(Date.now())); });
}

// ---- floor -----------------------------------------------------------------
let floorData = null;
function heat(v, lo, hi) {
  const f = Math.max(0, Math.min(1, (v - lo) / ((hi - lo) || 1)));
  return `hsl(${Math.round(200 - 200 * f)}, 70%, ${Math.round(75 - 25 * f)}%)`;
}
function renderFloor() {
  const v = floorData;
  if (!v) return;
  const metric = $("floor-metric").value;
  const racks = v.rooms.flatMap((r) => r.racks);
  const vals = racks.map((r) => metric === "kw" ? r.kw : (r.inlet_c || 0));
  const lo = Math.min(...vals, 0), hi = Math.max(...vals, 1);
  $("floor-rooms").replaceChildren(...v.rooms.map((room) => {
    const box = el("div", null, "room");
    box.append(el("h3", t("fl.room") + " " + room.name));
    const grid = el("div", null, "racks");
    for (const rk of room.racks) {
      const tile = el("button", null, "rack" + (rk.stale ? " stale" : ""));
      tile.type = "button"; tile.id = "rack-" + room.name + "-" + rk.name; tile.dataset.rack = rk.name;
      const val = metric === "kw" ? rk.kw : rk.inlet_c;
      tile.style.background = heat(val || 0, lo, hi);
      tile.append(el("b", rk.name), el("span", metric === "kw" ? num(rk.kw, 1) + " kW" : (rk.inlet_c === undefined ? "—" : num(rk.inlet_c, 1) + " °C")));
      tile.addEventListener("click", () => openRack(room, rk));
      grid.append(tile);
    }
    box.append(grid);
    if (room.meters.length) box.append(el("div", t("fl.roommeters") + ": " + room.meters.map((m) => `${m.meter} ${num(m.fields.kw, 1)} kW`).join(", "), "sub"));
    return box;
  }));
}
async function openRack(room, rk) {
  $("rack-detail").hidden = false; $("host-detail").hidden = true;
  $("rack-name").textContent = room.name + " / " + rk.name;
  fillTable("rack-meters", rk.meters, (m) => [cell(m.meter), cell(num(m.fields.kw, 2), "n"), cell(num(m.fields.inlet_c, 1), "n"), cell(m.stale ? t("stale") : t("live"), m.stale ? "stale" : "ok")]);
  const hosts = rk.hosts.length ? rk.hosts : floorData.hosts.map((h) => h.host);
  $("rack-hosts").replaceChildren(...hosts.map((h) => { const li = el("li"); const b = el("button", h, "link"); b.type = "button"; b.addEventListener("click", () => openHost(h)); li.append(b); return li; }));
  const now = Date.now();
  const res = await Promise.all(rk.meters.map((m) => series({ measurement: "power", field: "kw", meter: m.meter, from: new Date(now - 86400000).toISOString(), to: new Date(now).toISOString(), points: 288 })));
  const xs = res[0] && res[0].series[0] ? res[0].series[0].t : [];
  const data = [xs, ...res.map((r) => { const m = new Map(); if (r && r.series[0]) r.series[0].t.forEach((ts, i) => m.set(ts, r.series[0].v[i])); return xs.map((ts) => m.has(ts) ? m.get(ts) : null); })];
  chart("chart-rack", { series: [{}, ...rk.meters.map((m, i) => ({ label: m.meter + " kW", stroke: ["#2a6fdb", "#e07b00", "#2c9c4a", "#a33"][i % 4] }))], axes: chartAxes("axis.power", now / 1000 - 86400, now / 1000) }, data, now / 1000 - 86400, now / 1000);
}
async function openHost(h) {
  $("host-detail").hidden = false; $("host-name").textContent = h;
  const now = Date.now(), from = new Date(now - 86400000).toISOString(), to = new Date(now).toISOString();
  const [cpu, vms] = await Promise.all([
    series({ measurement: "host", field: "cpu_util", host: h, from, to, points: 288 }),
    series({ measurement: "vm", field: "cpu_util", host: h, from, to, points: 96, fn: "max" }),
  ]);
  if (cpu && cpu.series[0]) chart("chart-host", { series: [{}, { label: "CPU %", stroke: "#2a6fdb" }], axes: chartAxes("axis.cpu", now / 1000 - 86400, now / 1000) }, [cpu.series[0].t, cpu.series[0].v.map((x) => 100 * x)], now / 1000 - 86400, now / 1000);
  const rows = ((vms && vms.series) || []).map((s) => ({ vm: s.tags.vm, now: s.v[s.v.length - 1], max: Math.max(...s.v) }));
  fillTable("host-vms", rows, (r) => [cell(r.vm), cell(num(100 * r.now, 0), "n"), cell(num(100 * r.max, 0), "n")]);
}
function showFloor() {
  every(10000, async () => { const r = await api("GET", "/api/v1/sites"); if (r.ok) { floorData = r.body; renderFloor(); } });
}
$("floor-metric").addEventListener("change", renderFloor);

// ---- peak shaving ----------------------------------------------------------
async function peakPoll() {
  const r = await api("GET", "/api/v1/demand");
  if (r.ok) {
    const d = r.body;
    fillTable("peak-limits", d.limits || [], (l) => [cell(l.label || l.kind), cell(num(l.limit_kw, 1), "n"), cell(num(l.target_kw, 1), "n"), cell(num(l.adjustment_kw, 1), "n")]);
    fillTable("peak-targets", d.external_targets || [], (x) => [cell(x.source), cell(num(x.kw, 1), "n"), cell(fmtTime(x.from, true)), cell(fmtTime(x.to, true))]);
    $("peak-history").replaceChildren(...(d.transitions || []).map((x) => el("li", `${fmtTime(x.at, true)} ${t("stage." + x.from)} → ${t("stage." + x.to)}: ${x.reason}`)));
  }
  await plansPoll();
}
// The executor's plans: steps and status, expected against measured kW,
// Approve / Cancel for operators. Refreshed by the stream's plans event.
async function plansPoll() {
  const p = await api("GET", "/api/v1/plans?limit=10");
  if (!p.ok) { $("plan-mode").textContent = p.status === 503 ? t("pk.noexec") : (p.body && p.body.error) || ""; $("plans").replaceChildren(); return; }
  renderPlans(p.body);
}
function planAction(pl, path, body) {
  return async () => {
    const res = $("plan-result-" + pl.id);
    const r = await api("POST", `/api/v1/plans/${encodeURIComponent(pl.id)}/${path}`, body);
    res.textContent = r.ok ? t("pk.done." + path, { status: stName(r.body.status) }) : (r.body && r.body.error) || String(r.status);
    res.className = "result " + (r.ok ? "ok" : "failed");
    plansPoll();
  };
}
const stName = (s) => { const k = "pk.st." + s, v = t(k); return v === k ? s : v; };
function renderPlans(body) {
  $("plan-mode").textContent = t("pk.mode") + ": " + t("pk.mode." + body.mode);
  const plans = body.plans || [];
  if (!plans.length) { $("plans").replaceChildren(el("p", t("pk.noplans"))); return; }
  // keep the result line of an action across refreshes
  const results = {};
  document.querySelectorAll("#plans .result").forEach((r) => { results[r.id] = [r.textContent, r.className]; });
  $("plans").replaceChildren(...plans.map((pl) => {
    const box = el("div", null, "plan"); box.id = "plan-" + pl.id; box.dataset.status = pl.status;
    const h = el("h3");
    h.append(el("span", pl.id + " "), el("span", stName(pl.status), "badge st-" + pl.status));
    box.append(h);
    const kv = el("dl", null, "kv");
    const add = (k, v, cls) => { const d = el("dd", v, cls); kv.append(el("dt", t(k)), d); return d; };
    add("pk.created", fmtTime(pl.created_at, true));
    add("pk.reason", pl.reason || "—");
    if (pl.target_kw > 0) add("pk.targetkw", num(pl.target_kw, 1) + " kW");
    add("pk.expectedkw", num(pl.expected_kw, 1) + " kW").id = "plan-expected-" + pl.id;
    const m = add("pk.measuredkw", pl.measured_kw === undefined || pl.measured_kw === null ? "—" : num(pl.measured_kw, 1) + " kW");
    m.id = "plan-measured-" + pl.id;
    if (pl.measured_kw !== undefined && pl.measured_kw !== null && pl.expected_kw > 0) m.className = pl.measured_kw >= 0.8 * pl.expected_kw ? "ok" : "warn";
    if (pl.approved_by) add("pk.approvedby", pl.approved_by);
    box.append(kv);
    const tbl = el("table", null, "steps");
    const hr = el("tr");
    for (const k of ["pk.step", "pk.action", "pk.what", "pk.expectedkw", "pk.status", "pk.started", "pk.ended"]) hr.append(el("th", t(k), k === "pk.expectedkw" ? "n" : ""));
    const thead = el("thead"); thead.append(hr);
    const tb = el("tbody");
    for (const s of pl.steps || []) {
      const tr = el("tr");
      const what = s.vm ? s.vm + (s.from ? " " + s.from + " → " + (s.to || "?") : "") : (s.host || "");
      tr.append(cell(s.n, "n"), cell(s.action), cell(what), cell(num(s.expected_kw, 1), "n"),
        cell(stName(s.status) + (s.error ? ": " + s.error : ""), s.status === "failed" ? "failed" : s.status === "done" ? "ok" : ""),
        cell(fmtTime(s.started_at)), cell(fmtTime(s.ended_at)));
      tb.append(tr);
    }
    tbl.append(thead, tb);
    box.append(tbl);
    if (S.user.role === "operator" || S.user.role === "admin") {
      if (pl.status === "waiting") {
        const ok = el("button", t("pk.approve")); ok.type = "button"; ok.id = "approve-" + pl.id;
        ok.addEventListener("click", planAction(pl, "approve"));
        box.append(ok);
      }
      if (pl.status === "waiting" || pl.status === "running") {
        const no = el("button", t("pk.cancel")); no.type = "button"; no.id = "cancel-" + pl.id;
        no.addEventListener("click", () => { const reason = prompt(t("pk.cancelwhy")); if (reason) planAction(pl, "cancel", { reason })(); });
        box.append(no);
      }
    }
    const res = el("div", null, "result"); res.id = "plan-result-" + pl.id;
    if (results[res.id]) { res.textContent = results[res.id][0]; res.className = results[res.id][1]; }
    box.append(res);
    return box;
  }));
}
$("target-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("POST", "/api/v1/demand/target", { kw: Number($("target-kw").value), from: localToRFC3339($("target-from").value),
    to: localToRFC3339($("target-to").value), source: $("target-source").value });
  $("target-result").textContent = r.ok ? t("saved") : (r.body && r.body.error) || String(r.status);
  $("target-result").className = "result " + (r.ok ? "ok" : "failed");
  peakPoll();
});
function showPeak() { every(10000, peakPoll); }

// ---- SLA -------------------------------------------------------------------
async function slaPoll() {
  const [r, f] = await Promise.all([api("GET", "/api/v1/sla"), api("GET", "/api/v1/sla/figures")]);
  const figs = {};
  if (f.ok) for (const x of f.body.services || []) figs[x.service] = x;
  const pct = (v, d) => (v === undefined || v === null) ? "—" : num(100 * v, d) + " %";
  if (r.ok) fillTable("sla-services", r.body.services || [], (x) => {
    const g = figs[x.service] || {};
    return [cell(x.service), cell(x.customer || ""), cell(x.sla), cell(x.state, x.state === "UP" ? "ok" : "failed"), cell(fmtTime(x.since, true)),
      cell(pct(g.availability, 3), "n"), cell(pct(g.budget_left, 1), "n" + (g.budget_left < 0 ? " failed" : "")),
      cell(g.burn === undefined ? "—" : num(g.burn, 2) + "×", "n" + (g.burn > 1 ? " warn" : "")),
      cell((x.alerts || []).map((a) => `${a.rule || a.name || ""} ${a.state}`).join(", ") || t("none"))];
  });
  incidentsPoll();
  if (S.user.role === "customer") return;
  const m = await api("GET", "/api/v1/maintenance");
  if (m.ok) fillTable("maint-list", m.body.windows || [], (w) => [cell(w.id), cell((w.services || []).join(", ")), cell(fmtTime(w.start, true)), cell(fmtTime(w.end, true)),
    cell((w.classes || []).map((c) => c.service + ": " + c.class).join(", ")), cell(w.reason || "")]);
}
async function incidentsPoll() {
  const month = $("incidents-month").value;
  const r = await api("GET", "/api/v1/incidents" + (month ? "?month=" + encodeURIComponent(month) : ""));
  if (!r.ok) return;
  if (!month && r.body.month) $("incidents-month").value = r.body.month;
  const list = r.body.incidents || [];
  $("incidents-empty").hidden = list.length > 0;
  fillTable("sla-incidents", list, (x) => [cell(x.service), cell(fmtTime(x.start, true)), cell(x.ongoing ? t("sl.inc.ongoing") : fmtTime(x.end, true)),
    cell(fmtDuration(x.duration_s), "n"), cell(x.cause || x.maintenance || "—"),
    cell(!x.counts_against_sla ? t("sl.inc.planned") : t(x.failure ? "sl.inc.failure" : "sl.inc.downtime"), x.failure ? "failed" : (x.counts_against_sla ? "warn" : "ok")),
    cell(x.rto_met === undefined ? "—" : t(x.rto_met ? "yes" : "no"), x.rto_met === false ? "failed" : "")]);
  $("incidents-response").replaceChildren(...(r.body.response || []).map((x) => el("li", t("sl.inc.response", { svc: x.service,
    pct: x.compliance === undefined ? "—" : num(100 * x.compliance, 2), bound: num(x.bound_ms / 1000, 1), obj: x.objective ? num(100 * x.objective, 1) : "—",
    met: x.met === undefined ? "—" : t(x.met ? "yes" : "no") }), x.met === false ? "failed" : "")));
}
$("incidents-month").addEventListener("change", incidentsPoll);
function maintBody() {
  return { services: $("maint-services").value.split(",").map((s) => s.trim()).filter(Boolean), start: localToRFC3339($("maint-start").value),
    end: localToRFC3339($("maint-end").value), reason: $("maint-reason").value };
}
function noticeText(v) {
  return (v.classes || []).map((c) => c.service + ": " + t(c.class === "planned" ? "sl.planned" : "sl.unplanned",
    { notice: fmtDuration(c.notice_s), required: fmtDuration(c.required_s) })).join(" · ");
}
function showProblem(r) { $("maint-notice").textContent = (r.body && r.body.error) || String(r.status); $("maint-notice").className = "result failed"; }
$("maint-check").addEventListener("click", async () => {
  const r = await api("POST", "/api/v1/maintenance/check", maintBody());
  if (!r.ok) { $("maint-save").disabled = true; showProblem(r); return; }
  $("maint-notice").textContent = noticeText(r.body);
  $("maint-notice").className = "result " + ((r.body.classes || []).every((c) => c.class === "planned") ? "ok" : "warn");
  $("maint-save").disabled = false;
});
["maint-services", "maint-start", "maint-end", "maint-reason"].forEach((id) => $(id).addEventListener("input", () => { $("maint-save").disabled = true; }));
$("maint-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("POST", "/api/v1/maintenance", maintBody());
  if (!r.ok) { showProblem(r); return; }
  $("maint-notice").textContent = t("sl.saved", { id: r.body.id }) + " — " + noticeText(r.body);
  $("maint-notice").className = "result ok";
  $("maint-save").disabled = true;
  slaPoll();
});
function showSLA() { every(10000, slaPoll); }

// ---- reports ---------------------------------------------------------------
async function showBill() {
  const b = await api("GET", "/api/v1/cost?shed=1");
  if (!b.ok) { $("bill-total").textContent = (b.body && b.body.error) || String(b.status); return; }
  const v = b.body;
  fillTable("bill-lines", v.lines || [], (l) => [cell(l.item), cell(num(l.quantity, 1) + " " + l.unit, "n"), cell(num(l.unit_price, 2), "n"), cell(num(l.yen, 0), "n")]);
  $("bill-total").textContent = num(v.total_yen, 0) + (S.lang === "ja" ? " 円" : " yen") + " (" + v.month + ")";
  $("bill-max").textContent = num(v.max_demand_kw, 1) + " kW" + (v.max_block ? " @ " + fmtTime(v.max_block, true) : "");
  $("bill-contract").textContent = num(v.contract_kw, 1) + " kW" + (v.contract_set_by && v.contract_set_by.month ? " (" + t("rp.setby", { month: v.contract_set_by.month }) + ")" : "");
  $("bill-coverage").textContent = v.coverage ? num(100 * v.coverage.fraction, 1) + " %" : "—";
  const sm = v.shed && v.shed.month;
  $("bill-shed").textContent = sm ? t("rp.shedval", { n: sm.events, yen: num(sm.total_yen, 0) }) : "—";
  $("bill-co2").textContent = v.co2 ? t("rp.co2val", { loc: num(v.co2.location_kg, 0), adj: num(v.co2.adjusted_kg, 0), src: v.co2_supplier || "" }) : t("rp.noco2");
  $("bill-warnings").replaceChildren(...(v.warnings || []).map((w) => el("li", w)));
}
async function showReports() {
  if (S.user.role === "operator" || S.user.role === "admin") showBill();
  const r = await api("GET", "/api/v1/reports");
  if (!r.ok) return;
  fillTable("report-list", r.body.revisions || [], (x) => {
    const files = el("td");
    for (const f of ["html", "pdf", "csv"]) {
      if (!x.files[f]) continue;
      const a = el("a", f.toUpperCase(), "file"); a.href = x.files[f]; a.dataset.format = f;
      if (f !== "html") a.download = ""; else a.target = "_blank";
      a.rel = "noopener"; files.append(a, " ");
    }
    return [cell(x.month), cell(x.scope), cell(x.number, "n"), cell(fmtTime(x.created_at, true) + " " + (x.created_by || "")), cell(x.reason || ""), files];
  });
}

// ---- start -----------------------------------------------------------------
// ---- users (admin) -----------------------------------------------------------
pages.users = showUsers;
// S.editing is the stored user the edit card shows; S.users the last list.
const userPath = (name) => "/api/v1/users/" + encodeURIComponent(name);
// apiError is the API's answer as the user reads it: every problem with
// its field ("password: too short ..."), else the error (the server names
// the field there too), else the status.
function apiError(r) {
  const b = r.body || {};
  if (Array.isArray(b.problems) && b.problems.length) return b.problems.map((p) => p.field + ": " + p.message).join("; ");
  return b.error || String(r.status);
}
function showResult(id, r, okKey, vars) {
  const out = $(id);
  out.textContent = r.ok ? t(okKey, vars) : t("us.failed", { error: apiError(r) });
  out.className = "result " + (r.ok ? "ok" : "failed");
}
function userResult(r, okKey) { showResult("user-result", r, okKey); }
function passwordRules(p) {
  const txt = t("us.pwrules", { min: p.min_chars, max: p.max_bytes });
  $("user-password-rules").textContent = txt;
  $("edit-password-rules").textContent = txt + " " + t("us.pwreset");
}
async function usersPoll() {
  const r = await api("GET", "/api/v1/users");
  if (!r.ok) { userResult(r); return; }
  S.users = r.body.users;
  if (r.body.password_policy) passwordRules(r.body.password_policy);
  fillTable("user-list", r.body.users, (u) => {
    const acts = el("td");
    if (u.source === "store") {
      const edit = el("button", t("us.editbtn"));
      edit.type = "button"; edit.dataset.user = u.name; edit.className = "user-edit";
      edit.addEventListener("click", () => editUser(u.name, true));
      const toggle = el("button", t(u.disabled ? "us.enable" : "us.disable"));
      toggle.type = "button"; toggle.dataset.user = u.name; toggle.className = u.disabled ? "user-enable" : "user-disable";
      toggle.addEventListener("click", async () => { userResult(await api("PATCH", userPath(u.name), { disabled: !u.disabled }), u.disabled ? "us.enabledmsg" : "us.disabledmsg"); usersPoll(); });
      const del = el("button", t("us.delete"));
      del.type = "button"; del.dataset.user = u.name; del.className = "user-delete";
      del.addEventListener("click", async () => {
        if (!confirm(t("us.confirm", { name: u.name }))) return;
        const d = await api("DELETE", userPath(u.name));
        userResult(d, "us.saved");
        if (d.ok && S.editing === u.name) { S.editing = null; $("user-edit").hidden = true; }
        usersPoll();
      });
      acts.append(edit, " ", toggle, " ", del);
    } else {
      acts.textContent = t("us.readonly");
    }
    return [cell(u.name + (u.kind === "token" ? " (token)" : "")), cell(u.role), cell(u.customer || ""), cell(u.source),
      cell(t(u.disabled ? "us.disabled" : "us.enabled"), u.disabled ? "failed" : ""), cell(u.source === "store" ? String((u.tokens || []).length) : "", "n"), acts];
  });
  if (S.editing) editUser(S.editing, false);
}
// editUser shows the edit card for the stored user name; fresh: a newly
// chosen user (the forms are reset, a shown token is forgotten).
function editUser(name, fresh) {
  const u = (S.users || []).find((x) => x.name === name && x.source === "store");
  if (!u) { S.editing = null; $("user-edit").hidden = true; return; }
  if (fresh || S.editing !== name) {
    $("edit-role").value = u.role; $("edit-customer").value = u.customer || "";
    $("edit-password").value = ""; $("edit-token-name").value = "";
    hideNewToken(); $("edit-result").textContent = ""; $("edit-result").className = "result";
  }
  S.editing = name;
  $("edit-name").textContent = u.name;
  $("user-edit").hidden = false;
  fillTable("edit-token-list", u.tokens || [], (tk) => {
    const rev = el("button", t("us.revoke"));
    rev.type = "button"; rev.className = "token-revoke"; rev.dataset.id = tk.id;
    rev.addEventListener("click", async () => {
      if (!confirm(t("us.confirmrevoke", { name: tk.name || tk.id }))) return;
      showResult("edit-result", await api("DELETE", userPath(name) + "/tokens/" + encodeURIComponent(tk.id)), "us.revoked", { name: tk.name || tk.id });
      usersPoll();
    });
    return [cell(tk.name || "—"), cell(tk.id), cell(fmtTime(tk.created_at, true) + " " + (tk.created_by || "")),
      cell(tk.last_used ? fmtTime(tk.last_used, true) : t("us.never")), cellOf(rev)];
  });
}
function cellOf(node) { const td = el("td"); td.append(node); return td; }
function hideNewToken() {
  $("edit-token-value").value = ""; $("edit-token-new").hidden = true; $("edit-token-copied").textContent = "";
}
// showUsers opens the page: answers of earlier actions (in the language
// then shown) are cleared.
function showUsers() {
  for (const id of ["user-result", "edit-result"]) { $(id).textContent = ""; $(id).className = "result"; }
  usersPoll();
}
$("user-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { name: $("user-name").value.trim(), role: $("user-role").value, password: $("user-password").value };
  if (body.role === "customer") body.customer = $("user-customer").value.trim();
  const r = await api("POST", "/api/v1/users", body);
  userResult(r, "us.created");
  if (r.ok) { $("user-password").value = ""; usersPoll(); }
});
$("edit-role-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { role: $("edit-role").value };
  if (body.role === "customer") body.customer = $("edit-customer").value.trim();
  showResult("edit-result", await api("PATCH", userPath(S.editing), body), "us.rolesaved", { name: S.editing, role: body.role });
  usersPoll();
});
$("edit-password-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await api("PUT", userPath(S.editing) + "/password", { password: $("edit-password").value });
  showResult("edit-result", r, "us.pwdone", { name: S.editing });
  if (r.ok) $("edit-password").value = "";
});
$("edit-token-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  hideNewToken();
  const name = $("edit-token-name").value.trim();
  const r = await api("POST", userPath(S.editing) + "/tokens", name ? { name } : undefined);
  showResult("edit-result", r, "us.tokenmade", { name: name || (r.body && r.body.id) || "" });
  if (!r.ok) return;
  // Shown once: kept only in this field until another user is chosen or
  // the page is left; never listed again.
  $("edit-token-value").value = r.body.token;
  $("edit-token-new").hidden = false;
  $("edit-token-name").value = "";
  $("edit-token-value").select();
  usersPoll();
});
$("edit-token-copy").addEventListener("click", async () => {
  const v = $("edit-token-value");
  v.select();
  let ok = false;
  try { await navigator.clipboard.writeText(v.value); ok = true; } catch (e) { ok = document.execCommand && document.execCommand("copy"); }
  $("edit-token-copied").textContent = t(ok ? "us.copied" : "us.copyhint");
});

(async () => {
  chooseLang(null);
  applyLang();
  const r = await api("GET", "/api/v1/session");
  if (r.ok) startSession(r.body); else showLogin();
})();
