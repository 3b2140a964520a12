// Package dashboards holds the Grafana dashboards and provisioning that
// docker-compose.yml mounts. The test runs every query of every dashboard
// against a real influxd holding data in the shared schema.
package dashboards

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

type dashboard struct {
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Query string `json:"query"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, _ := filepath.Glob("*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards")
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = d
	}
	return out
}

// grafanaToFlux replaces what Grafana injects into a Flux query.
func grafanaToFlux(q, bucket, site string) string {
	return strings.NewReplacer(
		"${bucket}", bucket, "${site}", site,
		"v.timeRangeStart", "-2h", "v.timeRangeStop", "now()", "v.windowPeriod", "1m",
	).Replace(q)
}

func TestDashboardQueriesRunOnInfluxDB(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	// An hour of two meters and a host, every 30 s, plus one collector error.
	now := time.Now().Truncate(time.Second)
	var pts []point.Point
	for i := 0; i < 120; i++ {
		ts := now.Add(-time.Duration(i) * 30 * time.Second)
		for j, m := range []string{"pdu-a1", "pdu-a2"} {
			tags := map[string]string{"site": "t", "meter": m, "model": "setsuden-sim-pm",
				"rack": []string{"A01", "A02"}[j], "category": []string{"it", "cooling"}[j]}
			kw := 10 + float64(j)*5
			pts = append(pts,
				point.Point{Measurement: "power", Tags: tags, Time: ts, Fields: map[string]any{
					"kw": kw, "kwh": 1000 - float64(i)*kw/120, "kwh_total": 1000 - float64(i)*kw/120, "voltage_v": 202.0, "current_a": 30.0, "pf": 0.95}},
				point.Point{Measurement: "temperature", Tags: tags, Time: ts, Fields: map[string]any{"inlet_c": 24.5}})
		}
		pts = append(pts, point.Point{Measurement: "host", Tags: map[string]string{"site": "t", "host": "host-01"}, Time: ts,
			Fields: map[string]any{"cpu_util": 0.4, "vms_running": int64(4), "vcpus_used": int64(12)}})
		pts = append(pts, opsPoints(ts, i)...)
	}
	pts = append(pts, opsEvents(now)...)
	pts = append(pts, point.Point{Measurement: "collector_errors", Tags: map[string]string{"site": "t", "source": "pdu-a3", "kind": "modbus"},
		Time: now, Fields: map[string]any{"error": "timeout", "count": int64(1)}})
	testinflux.Write(t, d, pts)

	client := influxdb2.NewClient(d.URL, "")
	defer client.Close()
	qapi := client.QueryAPI("")
	run := func(name, q string) int {
		res, err := qapi.Query(ctx, q)
		if err != nil {
			t.Errorf("%s: query failed on InfluxDB 1.8 Flux: %v\n%s", name, err, q)
			return 0
		}
		defer res.Close()
		n := 0
		for res.Next() {
			n++
		}
		if res.Err() != nil {
			t.Errorf("%s: %v", name, res.Err())
		}
		return n
	}
	for file, dash := range loadDashboards(t) {
		for _, v := range dash.Templating.List {
			if q, ok := v.Query.(string); ok && v.Type == "query" {
				if n := run(file+" variable "+v.Name, grafanaToFlux(q, d.Bucket(), "t")); n == 0 {
					t.Errorf("%s: variable %s returns no values", file, v.Name)
				}
			}
		}
		for _, p := range dash.Panels {
			for _, target := range p.Targets {
				if n := run(file+" panel "+p.Title, grafanaToFlux(target.Query, d.Bucket(), "t")); n == 0 {
					t.Errorf("%s: panel %q returns no rows", file, p.Title)
				}
			}
		}
	}
	// The site panel really sums the meters: 10 + 15 kW.
	q := grafanaToFlux(loadDashboards(t)["site-power.json"].Panels[0].Targets[0].Query, d.Bucket(), "t")
	res, err := qapi.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for res.Next() {
		rows++
		if v, _ := res.Record().ValueByKey("site kW").(float64); v != 25 {
			t.Errorf("site kW = %v at %v, want 25", res.Record().ValueByKey("site kW"), res.Record().Time())
			break
		}
	}
	res.Close()
	if rows < 55 {
		t.Errorf("site power panel gave %d rows for an hour of 30 s data at 1m windows, want ~60 (one per minute)", rows)
	}
	checkOpsFigures(t, qapi, d.Bucket())
}
