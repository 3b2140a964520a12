#!/usr/bin/python3
"""Writes the four operations dashboards (site energy & PUE, demand & peak
cut, racks & hosts, SLA). Every query sticks to what InfluxDB 1.8's Flux
v0.65 has; dashboards_test.go runs each one against a real influxd."""
import json

DS = {"type": "influxdb", "uid": "setsuden-influxdb"}
B = 'from(bucket: "${bucket}")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
SITE = '  |> filter(fn: (r) => r.site == "${site}")\n'


def m(measurement, field):
    return B + '  |> filter(fn: (r) => r._measurement == "%s" and r._field == "%s")\n' % (measurement, field) + SITE


def win(fn="mean"):
    return '  |> aggregateWindow(every: v.windowPeriod, fn: %s, createEmpty: false)\n' % fn


# Per-window sum over the meters, one series per tag (category, rack).
def sum_by(tag):
    return '  |> group(columns: ["_time", "%s"])\n  |> sum()\n  |> group(columns: ["%s"])\n' % (tag, tag)


PUE_POWER = (m("power", "kw") + win() + sum_by("category") +
             '  |> pivot(rowKey: ["_time"], columnKey: ["category"], valueColumn: "_value")\n'
             '  |> filter(fn: (r) => r.it > 0.0)\n'
             '  |> map(fn: (r) => ({_time: r._time, _value: (r.it + r.cooling) / r.it}))\n'
             '  |> rename(columns: {_value: "PUE"})')
PUE_ENERGY = (m("power", "kwh_total") + '  |> spread()\n  |> group(columns: ["category"])\n  |> sum()\n  |> group()\n'
              '  |> map(fn: (r) => ({k: "energy", category: r.category, _value: r._value}))\n'
              '  |> pivot(rowKey: ["k"], columnKey: ["category"], valueColumn: "_value")\n'
              '  |> map(fn: (r) => ({_value: (r.it + r.cooling) / r.it}))\n  |> rename(columns: {_value: "PUE"})')

DASHBOARDS = {
    "site-energy-pue.json": ("setsuden-site-energy-pue", "setsuden — site energy & PUE", [
        ("Power by category (kW)", "timeseries", "kW", m("power", "kw") + win() + sum_by("category")),
        ("PUE (total ÷ IT power)", "timeseries", "none", PUE_POWER),
        ("PUE in range (energy)", "stat", "none", PUE_ENERGY),
        ("Energy in range by category (kWh)", "bargauge", "kWh",
         m("power", "kwh_total") + '  |> spread()\n  |> group(columns: ["category"])\n  |> sum()'),
        ("Energy per hour (kWh)", "timeseries", "kWh",
         m("power", "kwh_total") + '  |> aggregateWindow(every: 1h, fn: spread, createEmpty: false)\n' + sum_by("category")),
    ]),
    "demand-peak.json": ("setsuden-demand-peak", "setsuden — demand & peak cut", [
        ("Demand, prediction and target (kW)", "timeseries", "kW",
         B + '  |> filter(fn: (r) => r._measurement == "demand" and (r._field == "demand_kw" or r._field == "predicted_kw" or r._field == "limit_kw" or r._field == "target_kw"))\n'
         + SITE + win("last") + '  |> keep(columns: ["_time", "_value", "_field"])'),
        ("Stage (0 normal … 3 limit)", "state-timeline", "short", m("demand", "stage_level") + win("max") + '  |> keep(columns: ["_time", "_value"])'),
        ("Adjustment: shed (+) / headroom (−) (kW)", "timeseries", "kW", m("demand", "adjustment_kw") + win("last") + '  |> keep(columns: ["_time", "_value"])'),
        ("Peak demand in range (kW)", "stat", "kW", m("demand", "demand_kw") + '  |> max()\n  |> keep(columns: ["_value"])'),
        ("Stage changes", "table", "short",
         m("demand_stage", "reason") + '  |> keep(columns: ["_time", "_value"])\n  |> sort(columns: ["_time"], desc: true)\n  |> limit(n: 50)'),
    ]),
    "racks-hosts.json": ("setsuden-racks-hosts", "setsuden — racks & hosts", [
        ("Power by rack (kW)", "timeseries", "kW", m("power", "kw") + '  |> filter(fn: (r) => r.rack != "")\n' + win() + sum_by("rack")),
        ("Hottest inlet by rack (°C)", "timeseries", "celsius",
         m("temperature", "inlet_c") + win("max") + '  |> group(columns: ["_time", "rack"])\n  |> max()\n  |> group(columns: ["rack"])\n  |> keep(columns: ["_time", "_value", "rack"])'),
        ("Inlet now (°C)", "bargauge", "celsius",
         m("temperature", "inlet_c") + '  |> last()\n  |> group()\n  |> sort(columns: ["_value"], desc: true)\n  |> limit(n: 10)\n  |> keep(columns: ["_value", "meter", "rack"])'),
        ("Host CPU utilisation", "timeseries", "percentunit", m("host", "cpu_util") + win() + '  |> keep(columns: ["_time", "_value", "host"])'),
        ("vCPUs used per host", "timeseries", "short", m("host", "vcpus_used") + win("last") + '  |> keep(columns: ["_time", "_value", "host"])'),
        ("VM CPU utilisation", "timeseries", "percentunit", m("vm", "cpu_util") + win() + '  |> keep(columns: ["_time", "_value", "host", "vm"])'),
    ]),
    "sla.json": ("setsuden-sla", "setsuden — SLA", [
        ("Service state now", "table", "short",
         B.replace("v.timeRangeStart", "-400d") + '  |> filter(fn: (r) => r._measurement == "sla_state_change" and r._field == "state")\n' + SITE
         + '  |> last()\n  |> group()\n  |> keep(columns: ["_time", "_value", "service"])'),
        ("State changes", "table", "short",
         m("sla_state_change", "state") + '  |> group()\n  |> keep(columns: ["_time", "_value", "service"])\n  |> sort(columns: ["_time"], desc: true)\n  |> limit(n: 100)'),
        ("Probe response time (ms)", "timeseries", "ms", m("probe", "response_ms") + win() + '  |> keep(columns: ["_time", "_value", "service", "probe"])'),
        ("Failed checks in range", "bargauge", "short",
         m("probe", "up") + '  |> filter(fn: (r) => r._value == false)\n  |> group(columns: ["service"])\n  |> count()'),
        ("Check success ratio", "stat", "percentunit",
         m("probe", "up") + '  |> map(fn: (r) => ({r with _value: if r._value then 1.0 else 0.0}))\n  |> group(columns: ["service"])\n  |> mean()'),
    ]),
}

TEMPLATING = {"list": [
    {"name": "bucket", "type": "constant", "query": "setsuden", "hide": 2},
    {"name": "site", "type": "query", "label": "Site", "datasource": DS,
     "query": 'import "influxdata/influxdb/v1"\nv1.tagValues(bucket: "${bucket}", tag: "site", predicate: (r) => r._measurement == "power", start: -30d)',
     "refresh": 1, "sort": 1},
]}

for fname, (uid, title, panels) in DASHBOARDS.items():
    out = []
    for i, (ptitle, typ, unit, query) in enumerate(panels):
        out.append({
            "id": i + 1, "title": ptitle, "type": typ,
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "datasource": DS,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "query": query, "datasource": DS}],
        })
    dash = {"uid": uid, "title": title, "schemaVersion": 39, "version": 1, "refresh": "30s",
            "time": {"from": "now-24h", "to": "now"}, "tags": ["setsuden"], "templating": TEMPLATING, "panels": out}
    with open(fname, "w") as f:
        json.dump(dash, f, indent=2, ensure_ascii=False)
        f.write("\n")
