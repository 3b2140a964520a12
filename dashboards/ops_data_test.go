package dashboards

import (
	"context"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/setsuden/setsuden/collector/point"
)

// opsPoints are what the demand, VM and SLA dashboards read, at sample i
// (every 30 s) of the test hour, in the shared schema (docs/schema.md).
func opsPoints(ts time.Time, i int) []point.Point {
	site := map[string]string{"site": "t"}
	up := i%10 != 0 // one check in ten fails
	return []point.Point{
		{Measurement: "demand", Tags: site, Time: ts, Fields: map[string]any{
			"demand_kw": 20.0 + float64(i%60)/10, "predicted_kw": 26.0, "load_kw": 25.0, "coverage": 1.0, "stage": "caution",
			"stage_level": int64(1), "held": false, "limit": "contract", "limit_kw": 30.0, "target_kw": 15.0, "adjustment_kw": -4.0}},
		{Measurement: "vm", Tags: map[string]string{"site": "t", "host": "host-01", "vm": "web-01", "uuid": "u1"}, Time: ts,
			Fields: map[string]any{"state": "running", "state_code": int64(1), "vcpus": int64(4), "cpu_util": 0.25}},
		{Measurement: "probe", Tags: map[string]string{"site": "t", "service": "web", "probe": "web-http", "kind": "http"}, Time: ts,
			Fields: map[string]any{"up": up, "response_ms": 120.0}},
	}
}

// opsEvents are the rarer points: a stage transition and SLA state changes.
func opsEvents(now time.Time) []point.Point {
	return []point.Point{
		{Measurement: "demand_stage", Tags: map[string]string{"site": "t"}, Time: now.Add(-30 * time.Minute), Fields: map[string]any{
			"from": "normal", "to": "caution", "level": int64(1), "reason": "predicted 26.0 kW is 86.7% of contract 30.0 kW (enter caution at 85%)",
			"limit": "contract", "limit_kw": 30.0, "predicted_kw": 26.0}},
		{Measurement: "sla_state_change", Tags: map[string]string{"site": "t", "service": "web"}, Time: now.Add(-50 * time.Minute),
			Fields: map[string]any{"state": "DOWN", "cause": "connection refused"}},
		{Measurement: "sla_state_change", Tags: map[string]string{"site": "t", "service": "web"}, Time: now.Add(-40 * time.Minute),
			Fields: map[string]any{"state": "UP", "cause": ""}},
	}
}

// checkOpsFigures asserts figures of the operations dashboards, beyond
// "returns rows": PUE 25 kW / 10 kW IT = 2.5, the peak demand, the failed
// checks.
func checkOpsFigures(t *testing.T, qapi api.QueryAPI, bucket string) {
	t.Helper()
	dashes := loadDashboards(t)
	first := func(file string, panel int, col string) any {
		t.Helper()
		q := grafanaToFlux(dashes[file].Panels[panel].Targets[0].Query, bucket, "t")
		res, err := qapi.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("%s panel %d: %v", file, panel, err)
		}
		defer res.Close()
		if !res.Next() {
			t.Fatalf("%s panel %d: no rows", file, panel)
		}
		return res.Record().ValueByKey(col)
	}
	if v := first("site-energy-pue.json", 1, "PUE"); v != 2.5 {
		t.Errorf("PUE from power = %v, want 2.5", v)
	}
	if v, _ := first("site-energy-pue.json", 2, "PUE").(float64); v < 2.49 || v > 2.51 {
		t.Errorf("PUE from energy = %v, want 2.5", v)
	}
	if v := first("demand-peak.json", 3, "_value"); v != 25.9 {
		t.Errorf("peak demand = %v, want 25.9", v)
	}
	if v := first("sla.json", 3, "_value"); v != int64(12) {
		t.Errorf("failed checks = %v, want 12 (one in ten of 120)", v)
	}
	if v := first("sla.json", 0, "_value"); v != "UP" {
		t.Errorf("web state now = %v, want UP", v)
	}
}
