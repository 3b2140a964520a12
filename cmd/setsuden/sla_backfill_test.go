package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/sla"
)

// span is a half-open interval of the generated history.
type span struct{ from, to time.Time }

func (s span) has(t time.Time) bool { return !t.Before(s.from) && t.Before(s.to) }

// backfillMonth is April 2025 (JST) of probe history with known outages,
// and of host hv2's polls with an hour the libvirt polls failed.
type backfillMonth struct {
	outages []span // web-http fails every check
	blips   []span // fewer failures than confirm DOWN
	gaps    []span // no web-http check at all
	hostBad []span // hv2's libvirt polls fail
}

func (m backfillMonth) points() []point.Point {
	spec := sla.ProbeSpec{Name: "web-http", Service: "web", Kind: sla.ProbeHTTP}
	in := func(ss []span, t time.Time) bool {
		for _, s := range ss {
			if s.has(t) {
				return true
			}
		}
		return false
	}
	var pts []point.Point
	for at := slaJST(4, 1, 0, 0); at.Before(slaJST(5, 1, 0, 0)); at = at.Add(time.Minute) {
		if !in(m.gaps, at) {
			c := sla.Check{At: at, OK: true, ResponseMs: 100 + float64(at.Minute()%7)}
			if in(m.outages, at) || in(m.blips, at) {
				c = sla.Check{At: at, OK: false, ResponseMs: 10000, Error: "connection refused"}
			}
			p := sla.ProbePoint(spec, c)
			p.Tags["site"] = "dc1"
			pts = append(pts, p)
		}
		if at.Minute()%10 == 0 {
			if in(m.hostBad, at) {
				pts = append(pts, point.Point{Measurement: "collector_errors", Tags: map[string]string{"site": "dc1", "source": "hv2", "kind": "libvirt"},
					Fields: map[string]any{"error": "libvirt: connection refused", "count": int64(1)}, Time: at})
			} else {
				pts = append(pts, point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": "hv2"},
					Fields: map[string]any{"vms_total": int64(3), "cpus": int64(16)}, Time: at})
			}
		}
	}
	return pts
}

func total(ss []span) time.Duration {
	var d time.Duration
	for _, s := range ss {
		d += s.to.Sub(s.from)
	}
	return d
}

func runBinary(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func csvByService(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	rows := readCSVFile(t, path)
	out := map[string]map[string]string{}
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out[m["service"]] = m
	}
	return out
}

// TestSLABackfillThenReport: a month of probe results and host polls is
// stored, with no state change, as a site that starts with history has it.
// The report says loudly that it cannot account for the month; `setsuden
// sla backfill` derives the state changes through the daemon's engine
// (twice: the second run stores nothing new); the report's figures then
// equal those computed here straight from the generated outages.
func TestSLABackfillThenReport(t *testing.T) {
	db := testinflux.Start(t)
	bin := buildBinary(t)
	state := t.TempDir()
	m := backfillMonth{
		outages: []span{{slaJST(4, 7, 14, 0), slaJST(4, 7, 14, 50)}, {slaJST(4, 20, 3, 0), slaJST(4, 20, 3, 8)}},
		blips:   []span{{slaJST(4, 15, 9, 0), slaJST(4, 15, 9, 2)}},
		gaps:    []span{{slaJST(4, 25, 10, 0), slaJST(4, 25, 11, 0)}},
		hostBad: []span{{slaJST(4, 10, 8, 0), slaJST(4, 10, 9, 0)}},
	}
	testinflux.Write(t, db, m.points())
	conf := writeSLAConfig(t, db.URL, db.Bucket(), `sla:
  state_dir: `+state+`
  slas:
    - {name: core, objective: 0.999, rto: 1h}
  services:
    - {name: web, sla: core, customer: ACME, runs_on: {probes: [web-http]}}
    - {name: db, sla: core, customer: Globex, runs_on: {hosts: [hv2]}}
  checks: {interval: 1m}
  probes:
    - {name: web-http, service: web, kind: http, target: "http://127.0.0.1:1/health", interval: 1m}
`)
	csvPath := filepath.Join(t.TempDir(), "april.csv")
	report := func() (map[string]map[string]string, string) {
		_, stderr, code := runBinary(t, bin, "report", "--config", conf, "--month", "2025-04", "--format", "csv", "--out", csvPath)
		if code != 0 {
			t.Fatalf("report: exit %d\n%s", code, stderr)
		}
		return csvByService(t, csvPath), stderr
	}

	// Before the backfill: probe data, no state change. Loud, never 0 %.
	before, stderr := report()
	if !strings.Contains(stderr, "WARNING") || !strings.Contains(stderr, "no SLA state changes") || !strings.Contains(stderr, "setsuden sla backfill") {
		t.Errorf("report without state changes did not warn:\n%s", stderr)
	}
	for _, svc := range []string{"web", "db"} {
		if n := before[svc]["notice"]; !strings.Contains(n, "no SLA state changes") {
			t.Errorf("%s: notice %q, want the missing state changes named", svc, n)
		}
		if a := before[svc]["availability_pct"]; a != "" {
			t.Errorf("%s: availability %q printed for a month with no state known", svc, a)
		}
	}

	htmlPath := filepath.Join(t.TempDir(), "april.html")
	if _, stderr, code := runBinary(t, bin, "report", "--config", conf, "--month", "2025-04", "--format", "html", "--out", htmlPath); code != 0 {
		t.Fatalf("html report: exit %d\n%s", code, stderr)
	}
	if page, _ := os.ReadFile(htmlPath); strings.Count(string(page), "no SLA state changes are stored for 2025-04") < 2 {
		t.Errorf("the HTML report does not show the notice on the cover and the service page")
	}

	var points []string
	for run := 1; run <= 2; run++ {
		_, stderr, code := runBinary(t, bin, "sla", "backfill", "--config", conf, "--from", "2025-04-01", "--to", "2025-04-30")
		if code != 0 {
			t.Fatalf("backfill %d: exit %d\n%s", run, code, stderr)
		}
		if !strings.Contains(stderr, "sla backfill 2025-04-01..2025-04-30 100%") || !strings.Contains(stderr, "probe results) read") {
			t.Errorf("backfill %d: no progress or summary on stderr:\n%s", run, stderr)
		}
		if run == 2 && !strings.Contains(stderr, "already stored") {
			t.Errorf("second backfill did not say state changes were already stored:\n%s", stderr)
		}
		rows := influxQL(t, db, `SELECT count("state") FROM "sla_state_change"`)
		if len(rows) != 1 {
			t.Fatalf("no sla_state_change points after backfill %d", run)
		}
		points = append(points, rows[0][1])
		t.Logf("backfill %d: %s sla_state_change points stored\n%s", run, rows[0][1], stderr)
	}
	if points[0] != points[1] {
		t.Errorf("sla_state_change points: %s after the first backfill, %s after the second: not idempotent", points[0], points[1])
	}

	// The independent computation: 30 days of service time; web is down
	// during each outage of at least 3 failed checks (failures_to_confirm)
	// and unknown during the gap; db is unknown while its polls failed.
	const month = 30 * 24 * time.Hour
	webDown, webUnknown := total(m.outages), total(m.gaps)
	dbUnknown := total(m.hostBad)
	pct := func(x float64) string { return strconv.FormatFloat(100*x, 'f', 4, 64) }
	sec := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }
	want := map[string]map[string]string{
		"web": {"down_s": sec(webDown), "unknown_s": sec(webUnknown), "failures": strconv.Itoa(len(m.outages)),
			"availability_pct": pct(float64(month-webUnknown-webDown) / float64(month-webUnknown)),
			"coverage_pct":     pct(1 - float64(webUnknown)/float64(month)), "notice": ""},
		"db": {"down_s": "0", "unknown_s": sec(dbUnknown), "availability_pct": pct(1),
			"coverage_pct": pct(1 - float64(dbUnknown)/float64(month)), "failures": "0", "notice": ""},
	}
	got, stderr := report()
	if strings.Contains(stderr, "WARNING") {
		t.Errorf("report after the backfill still warns:\n%s", stderr)
	}
	for svc, fields := range want {
		for k, v := range fields {
			if g := got[svc][k]; g != v {
				t.Errorf("%s %s = %q, want %q (from the generated outages)", svc, k, g, v)
			}
		}
	}
	if t.Failed() {
		b, _ := os.ReadFile(csvPath)
		fmt.Println(string(b))
	}
}
