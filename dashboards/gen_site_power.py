#!/usr/bin/python3
"""Writes site-power.json. Kept as a script so panels stay consistent; the
JSON is what Grafana loads and what dashboards_test.go runs against influxd."""
import json

B = 'from(bucket: "${bucket}")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
SITE = '  |> filter(fn: (r) => r.site == "${site}")\n'

def q(body):
    return B + body

panels = [
    ("Site power (kW)", "timeseries", "kW",
     q('  |> filter(fn: (r) => r._measurement == "power" and r._field == "kw")\n' + SITE +
       '  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n'
       '  |> group(columns: ["_time"])\n  |> sum()\n  |> group()\n  |> rename(columns: {_value: "site kW"})')),
    ("Power by meter (kW)", "timeseries", "kW",
     q('  |> filter(fn: (r) => r._measurement == "power" and r._field == "kw")\n' + SITE +
       '  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n'
       '  |> keep(columns: ["_time", "_value", "meter"])')),
    ("Power now by meter", "bargauge", "kW",
     q('  |> filter(fn: (r) => r._measurement == "power" and r._field == "kw")\n' + SITE +
       '  |> last()\n  |> keep(columns: ["_value", "meter"])')),
    ("Energy in range (kWh)", "stat", "kWh",
     q('  |> filter(fn: (r) => r._measurement == "power" and r._field == "kwh")\n' + SITE +
       '  |> spread()\n  |> group()\n  |> sum()')),
    ("Inlet temperature (°C)", "timeseries", "celsius",
     q('  |> filter(fn: (r) => r._measurement == "temperature" and r._field == "inlet_c")\n' + SITE +
       '  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n'
       '  |> keep(columns: ["_time", "_value", "meter"])')),
    ("Voltage (V)", "timeseries", "volt",
     q('  |> filter(fn: (r) => r._measurement == "power" and r._field == "voltage_v")\n' + SITE +
       '  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n'
       '  |> keep(columns: ["_time", "_value", "meter"])')),
    ("Host CPU utilisation", "timeseries", "percentunit",
     q('  |> filter(fn: (r) => r._measurement == "host" and r._field == "cpu_util")\n' + SITE +
       '  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n'
       '  |> keep(columns: ["_time", "_value", "host"])')),
    ("VMs running per host", "timeseries", "short",
     q('  |> filter(fn: (r) => r._measurement == "host" and r._field == "vms_running")\n' + SITE +
       '  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)\n'
       '  |> keep(columns: ["_time", "_value", "host"])')),
    ("Collector errors", "table", "short",
     q('  |> filter(fn: (r) => r._measurement == "collector_errors" and r._field == "error")\n' + SITE +
       '  |> keep(columns: ["_time", "_value", "source", "kind"])\n  |> sort(columns: ["_time"], desc: true)\n  |> limit(n: 50)')),
]

out = []
for i, (title, typ, unit, query) in enumerate(panels):
    out.append({
        "id": i + 1, "title": title, "type": typ,
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "datasource": {"type": "influxdb", "uid": "setsuden-influxdb"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "query": query, "datasource": {"type": "influxdb", "uid": "setsuden-influxdb"}}],
    })

dash = {
    "uid": "setsuden-site-power", "title": "setsuden — site power", "schemaVersion": 39, "version": 1,
    "refresh": "10s", "time": {"from": "now-6h", "to": "now"}, "tags": ["setsuden"],
    "templating": {"list": [
        {"name": "bucket", "type": "constant", "query": "setsuden", "hide": 2},
        {"name": "site", "type": "query", "label": "Site",
         "datasource": {"type": "influxdb", "uid": "setsuden-influxdb"},
         "query": 'import "influxdata/influxdb/v1"\nv1.tagValues(bucket: "${bucket}", tag: "site", predicate: (r) => r._measurement == "power", start: -30d)',
         "refresh": 1, "sort": 1},
    ]},
    "panels": out,
}
with open("site-power.json", "w") as f:
    json.dump(dash, f, indent=2, ensure_ascii=False)
    f.write("\n")
