package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

var slaTokyo = func() *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return l
}()

func slaJST(m time.Month, d, h, min int) time.Time {
	return time.Date(2025, m, d, h, min, 0, 0, slaTokyo)
}

// runSLACommand runs one of this file's commands as run does (until
// main.go dispatches them): exit 2 for a usage mistake, 1 for an error.
func runSLACommand(cmd func(context.Context, []string, io.Writer, io.Writer) error, args []string, stdout, stderr io.Writer) int {
	err := cmd(context.Background(), args, stdout, stderr)
	switch {
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "setsuden: %v\n", err)
		return 1
	}
	return 0
}

// slaSection is a site's sla section: web behind a probe, db on a host,
// records under stateDir.
func slaSection(stateDir string) string {
	return `sla:
  state_dir: ` + stateDir + `
  slas:
    - {name: core, objective: 0.999, rto: 1h, max_failures: 1}
  services:
    - {name: web, sla: core, customer: ACME, runs_on: {probes: [web-http]}}
    - {name: db, sla: core, customer: Globex, runs_on: {hosts: [hv2]}}
  probes:
    - {name: web-http, service: web, kind: http, target: "http://127.0.0.1:1/health", interval: 1m}
`
}

func writeSLAConfig(t *testing.T, influxURL, bucket, section string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "setsuden.yaml")
	cfg := "site:\n  name: dc1\n  timezone: Asia/Tokyo\ninflux:\n  url: " + influxURL + "\n  bucket: " + bucket + "\n" + section
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeSLAMonth stores April 2025 as the daemon would have: web's probe
// every 5 minutes and its state changes (down 50 minutes on the 7th, and
// 50 minutes inside a planned window on the 12th), db up throughout, all
// through the production write path; and the planned window, announced 31
// days ahead, in the maintenance log.
func writeSLAMonth(t *testing.T, db *influx.Influxd, stateDir string) {
	t.Helper()
	spec := sla.ProbeSpec{Name: "web-http", Service: "web", Kind: sla.ProbeHTTP}
	up := func(at time.Time) sla.StateChange { return sla.StateChange{At: at, State: sla.StateUp} }
	down := func(at time.Time, cause string) sla.StateChange {
		return sla.StateChange{At: at, State: sla.StateDown, Cause: cause}
	}
	var pts []point.Point
	for _, c := range []sla.StateChange{up(slaJST(3, 28, 0, 0)), down(slaJST(4, 7, 14, 0), "connection refused"), up(slaJST(4, 7, 14, 50)),
		down(slaJST(4, 12, 2, 10), "firmware upgrade"), up(slaJST(4, 12, 3, 0))} {
		pts = append(pts, sla.StateChangePoint("dc1", "web", c))
	}
	pts = append(pts, sla.StateChangePoint("dc1", "db", up(slaJST(3, 25, 0, 0))))
	failing := func(at time.Time) bool {
		return !at.Before(slaJST(4, 7, 14, 0)) && at.Before(slaJST(4, 7, 14, 50)) ||
			!at.Before(slaJST(4, 12, 2, 10)) && at.Before(slaJST(4, 12, 3, 0))
	}
	for at := slaJST(4, 1, 0, 0); at.Before(slaJST(5, 1, 0, 0)); at = at.Add(5 * time.Minute) {
		c := sla.Check{At: at, OK: !failing(at), ResponseMs: 120 + float64(at.Minute()%10)}
		if !c.OK {
			c.ResponseMs, c.Error = 10000, "connection refused"
		}
		p := sla.ProbePoint(spec, c)
		p.Tags["site"] = "dc1"
		pts = append(pts, p)
	}
	ctx := context.Background()
	testinflux.Write(t, db, pts)

	announced := slaJST(3, 12, 2, 0)
	log, err := slactl.OpenMaintenanceLog(filepath.Join(stateDir, "maintenance.jsonl"), func() time.Time { return announced })
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, err := log.Append(ctx, sla.MaintenanceWindow{ID: "m-planned", Services: []string{"web"}, Start: slaJST(4, 12, 2, 0),
		End: slaJST(4, 12, 4, 0), AnnouncedAt: announced, AnnouncedBy: "ops@example.jp", Reason: "storage firmware"}); err != nil {
		t.Fatal(err)
	}
}

// TestReportFromInfluxd runs `setsuden report` in-process on a month in a
// real influxd: the CSV has the figures worked out by hand, the PDF shows
// the availability, progress goes to stderr.
func TestReportFromInfluxd(t *testing.T) {
	db := testinflux.Start(t)
	state := t.TempDir()
	writeSLAMonth(t, db, state)
	conf := writeSLAConfig(t, db.URL, db.Bucket(), slaSection(state))
	out := filepath.Join(t.TempDir(), "april.csv")

	var stdout, stderr bytes.Buffer
	if code := runSLACommand(cmdReport, []string{"--config", conf, "--month", "2025-04", "--format", "csv", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "report 2025-04 100%") ||
		!strings.Contains(stderr.String(), "CSV report for all, 2025-04: 2 services: 1 pass, 1 fail, 0 insufficient data; written to "+out) {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	rows := readCSVFile(t, out)
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	got := map[string][]string{}
	for _, r := range rows[1:] {
		got[r[col["service"]]] = r
	}
	// web: 30 days less the planned 2 h = 2,584,800 s of service time
	// known; 50 minutes down: A = 1 - 3000/2584800. 8,640 probes, 24 in
	// the planned window, 10 failed.
	want := map[string]map[string]string{
		"web": {"service_time_s": "2592000", "down_s": "3000", "planned_s": "7200", "availability_pct": "99.8839",
			"coverage_pct": "100.0000", "verdict": "FAIL", "failures": "1", "planned_windows": "1", "short_notice_windows": "0",
			"response_valid": "8616", "response_p50_ms": "120.0"},
		"db": {"down_s": "0", "availability_pct": "100.0000", "verdict": "PASS", "customer": "Globex"},
	}
	for svc, fields := range want {
		for k, v := range fields {
			if g := got[svc][col[k]]; g != v {
				t.Errorf("%s %s = %q, want %q", svc, k, g, v)
			}
		}
	}

	// One customer's PDF: the availability figure is in its text.
	pdf := filepath.Join(t.TempDir(), "acme.pdf")
	stderr.Reset()
	if code := runSLACommand(cmdReport, []string{"--config", conf, "--month", "2025-04", "--format", "pdf", "--out", pdf,
		"--customer", "ACME", "--service", "web"}, &stdout, &stderr); code != 0 {
		t.Fatalf("pdf: exit %d\n%s", code, stderr.String())
	}
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed (Debian poppler-utils)")
	}
	text, err := exec.Command(pdftotext, "-layout", pdf, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, text)
	}
	for _, w := range []string{"SLA report April 2025", "ACME", "99.884%", "m-planned", "connection refused"} {
		if !strings.Contains(string(text), w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
	if strings.Contains(string(text), "Service db") {
		t.Error("the ACME report shows db (Globex)")
	}
}

// TestReportRollupCommand runs `setsuden report --rollup` on a month in a
// real influxd: it writes the daily probe summaries; the report from them
// equals the one from every sample (--raw-probes) but for the
// percentiles, which are estimates at most 1% high.
func TestReportRollupCommand(t *testing.T) {
	db := testinflux.Start(t)
	state := t.TempDir()
	writeSLAMonth(t, db, state)
	conf := writeSLAConfig(t, db.URL, db.Bucket(), slaSection(state))

	var stdout, stderr bytes.Buffer
	if code := runSLACommand(cmdReport, []string{"--config", conf, "--month", "2025-04", "--rollup"}, &stdout, &stderr); code != 0 {
		t.Fatalf("rollup: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "probe rollup 2025-04: 30 days, 30 summaries of 8640 samples written in") {
		t.Errorf("rollup stderr:\n%s", stderr.String())
	}
	csvOf := func(extra ...string) map[string]map[string]string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "april.csv")
		stderr.Reset()
		args := append([]string{"--config", conf, "--month", "2025-04", "--format", "csv", "--out", out}, extra...)
		if code := runSLACommand(cmdReport, args, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d\n%s", extra, code, stderr.String())
		}
		rows := readCSVFile(t, out)
		got := map[string]map[string]string{}
		for _, r := range rows[1:] {
			m := map[string]string{}
			for i, h := range rows[0] {
				m[h] = r[i]
			}
			got[m["service"]] = m
		}
		return got
	}
	summarised, raw := csvOf(), csvOf("--raw-probes")
	web, rawWeb := summarised["web"], raw["web"]
	if web["response_percentiles"] != "estimated" || rawWeb["response_percentiles"] != "exact" || web["response_valid"] != "8616" {
		t.Errorf("web: percentiles %q from summaries, %q from samples; %s valid", web["response_percentiles"], rawWeb["response_percentiles"], web["response_valid"])
	}
	for _, col := range []string{"response_p50_ms", "response_p95_ms", "response_p99_ms"} {
		var est, exact float64
		fmt.Sscan(web[col], &est)
		fmt.Sscan(rawWeb[col], &exact)
		if exact == 0 || est < exact-0.05 || est > exact*sla.FineGrowth+0.05 {
			t.Errorf("web %s: %s from summaries, %s exact", col, web[col], rawWeb[col])
		}
		web[col], web["response_percentiles"] = rawWeb[col], rawWeb["response_percentiles"]
	}
	for svc := range raw {
		if fmt.Sprint(summarised[svc]) != fmt.Sprint(raw[svc]) {
			t.Errorf("%s differs:\n%v\n%v", svc, summarised[svc], raw[svc])
		}
	}

	// The report may come right after the rollup.
	stderr.Reset()
	if code := runSLACommand(cmdReport, []string{"--config", conf, "--month", "2025-04", "--rollup", "--format", "csv"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "--out is required") {
		t.Errorf("--rollup --format without --out: exit %d\n%s", code, stderr.String())
	}
	stderr.Reset()
	if code := runSLACommand(cmdReport, []string{"--config", conf, "--month", "2025-04", "--rollup", "--format", "csv", "--out", "-"}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "probe rollup 2025-04: 30 days") || !strings.Contains(stderr.String(), "CSV report for all, 2025-04: 2 services") {
		t.Errorf("--rollup with a report: exit %d\n%s", code, stderr.String())
	}
}

// TestReportCommandLineAndConfigMistakes needs no database: every mistake
// is found before one is asked.
func TestReportCommandLineAndConfigMistakes(t *testing.T) {
	state := t.TempDir()
	good := writeSLAConfig(t, "http://127.0.0.1:1", "setsuden/autogen", slaSection(state))
	bad := writeSLAConfig(t, "http://127.0.0.1:1", "setsuden/autogen", `sla:
  slas:
    - name: core
      objective: 0.999
      rto: 1hour
`)
	noSLA := writeSLAConfig(t, "http://127.0.0.1:1", "setsuden/autogen", "")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"report", "--config", good}, 2, "--month, --format, --out are required"},
		{[]string{"report", "--config", good, "--month", "2025-4", "--format", "csv", "--out", "-"}, 2, `--month "2025-4": expected YYYY-MM`},
		{[]string{"report", "--config", good, "--month", "2025-04", "--format", "docx", "--out", "-"}, 2, `--format "docx": expected html, pdf or csv`},
		{[]string{"report", "--config", bad, "--month", "2025-04", "--format", "csv", "--out", "-"}, 1, bad + `:11: sla.slas[0].rto: bad duration "1hour"`},
		{[]string{"report", "--config", noSLA, "--month", "2025-04", "--format", "csv", "--out", "-"}, 1, noSLA + ": sla: missing (expected the SLA section"},
		{[]string{"report", "--config", good, "--month", "2025-04", "--format", "csv", "--out", "-", "--service", "mail"}, 1, `unknown service "mail"`},
	} {
		var stdout, stderr bytes.Buffer
		code := runSLACommand(cmdReport, tc.args[1:], &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
	// Every configuration problem is FILE:LINE: field: message.
	var stdout, stderr bytes.Buffer
	runSLACommand(cmdReport, []string{"--config", bad, "--month", "2025-04", "--format", "csv", "--out", "-"}, &stdout, &stderr)
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(bad) + `:\d+: sla\.[a-z_.\[\]0-9]+: .+$`)
	if line := strings.SplitN(stderr.String(), "\n", 2)[0]; !re.MatchString(line) {
		t.Errorf("problem line %q is not FILE:LINE: field: message", line)
	}
}

// readCSVFile returns the records of a CSV report file.
func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}
