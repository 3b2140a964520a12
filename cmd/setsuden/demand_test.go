package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// writeDemandDays stores two days of a Tokyo site's facility meter (kw and
// its kwh_total, every 10 s), as a collector would:
//
//	2024-07-03 12:20–13:40   400 kW, 540 kW from 13:06, 300 kW from 13:30: the block
//	                         13:00–13:30 lands on (40 + 9·24)/0.5 = 512 kW against a
//	                         500 kW contract, lost at 13:29:20 (stage limit)
//	2024-07-04 10:00–11:00   300 kW, then 350 kW from 10:30: peak 10:30–11:00, 350 kW, normal
func writeDemandDays(t *testing.T, db *influx.Influxd) {
	t.Helper()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	var pts []point.Point
	total := 5000.0
	add := func(from, to time.Time, kw func(time.Time) float64) {
		for tt := from; tt.Before(to); tt = tt.Add(10 * time.Second) {
			k := kw(tt)
			pts = append(pts, point.Point{Measurement: "power",
				Tags:   map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
				Fields: map[string]any{"kw": k, "kwh_total": total}, Time: tt})
			total += k * 10 / 3600
		}
	}
	day1 := func(h, m int) time.Time { return time.Date(2024, 7, 3, h, m, 0, 0, tokyo) }
	add(day1(12, 20), day1(13, 40), func(tt time.Time) float64 {
		switch {
		case tt.Before(day1(13, 6)):
			return 400
		case tt.Before(day1(13, 30)):
			return 540
		}
		return 300
	})
	day2 := func(h, m int) time.Time { return time.Date(2024, 7, 4, h, m, 0, 0, tokyo) }
	add(day2(10, 0), day2(11, 0), func(tt time.Time) float64 {
		if tt.Before(day2(10, 30)) {
			return 300
		}
		return 350
	})
	testinflux.Write(t, db, pts)
}

func writeDemandConfig(t testing.TB, influxURL, bucket, demandSection string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "setsuden.yaml")
	cfg := "site:\n  name: dc1\n  timezone: Asia/Tokyo\ninflux:\n  url: " + influxURL + "\n  bucket: " + bucket + "\n" + demandSection
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// contractSection pins least squares: the figures below were worked out
// for it (the default adaptive predictor starts as the formula).
const contractSection = "demand:\n  tick: 10s\n  predictor: {method: least_squares}\n  limits:\n    - contract: {kw: 500}\n"

func TestDemandReplayOnInfluxd(t *testing.T) {
	db := testinflux.Start(t)
	writeDemandDays(t, db)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), contractSection)

	var out, errb bytes.Buffer
	start := time.Now()
	code := run([]string{"demand", "replay", "--config", conf, "--from", "2024-07-03", "--to", "2024-07-04", "--tick", "10s"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	t.Logf("replay of 2 days at 10 s in %s:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if !strings.Contains(errb.String(), "reading history 100%") || !strings.Contains(errb.String(), "replaying 100%") {
		t.Errorf("no progress on stderr:\n%s", errb.String())
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 15 && regexp.MustCompile(`^\d{4}-\d\d-\d\d$`).MatchString(f[0]) {
			rows[f[0]] = f
		}
	}
	// DATE PEAK-BLOCK PEAK-KW COVERAGE PRED@10 PRED@20 PRED@25 FORMULA@10 @20 @25 MAX-STAGE ENTERED
	d1 := rows["2024-07-03"]
	if d1 == nil {
		t.Fatalf("no row for 2024-07-03:\n%s", out.String())
	}
	if d1[1] != "13:00-13:30" || d1[3] != "100%" || d1[10] != "limit" || d1[11] != "caution,shed,limit" {
		t.Errorf("2024-07-03: %v, want peak 13:00-13:30 at 100%% coverage, max stage limit, entered caution,shed,limit", d1)
	}
	num := func(s string) float64 {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q is not a number in %v", s, d1)
		}
		return x
	}
	// Energy registers are stamped a sample late, so the block is ±1 kW.
	if kw := num(d1[2]); kw < 511 || kw > 513 {
		t.Errorf("peak %.1f kW, want 512", kw)
	}
	// At 13:10 the least-squares window (13:05–13:10) holds 1 min at 400 and
	// 4 at 540 kW: its slope is 540 − cov(x, g)/var(x) = 540 − 30.33/2.083 =
	// 525.4 kW (g the energy's bend), so D = (76 + 525.4/3)/0.5 = 502.3 kW.
	if p10, p20, p25 := num(d1[4]), num(d1[5]), num(d1[6]); p10 < 500 || p10 > 504 || p20 < 510 || p20 > 514 || p25 < 510 || p25 > 514 {
		t.Errorf("predictions at 10/20/25 min: %.1f %.1f %.1f; want 502.3, 512, 512 (±2 for the register stamps)", p10, p20, p25)
	}
	// The formula beside it: at 13:10 the load is 540 kW, so D = (76 + 540/3)/0.5 = 512.
	if f10 := num(d1[7]); f10 < 510 || f10 > 514 {
		t.Errorf("formula at 10 min %.1f, want 512", f10)
	}
	if !strings.Contains(out.String(), "prediction error (MAE) over") || !strings.Contains(out.String(), "least_squares") {
		t.Errorf("no accuracy line naming the predictor:\n%s", out.String())
	}
	d2 := rows["2024-07-04"]
	if d2 == nil || d2[1] != "10:30-11:00" || num(d2[2]) < 349 || num(d2[2]) > 351 || d2[10] != "normal" || d2[11] != "-" {
		t.Errorf("2024-07-04: %v, want peak 10:30-11:00 350 kW, normal, nothing entered", d2)
	}
	if !strings.Contains(out.String(), "peak of the range: 2024-07-03 13:00-13:30") {
		t.Errorf("no range peak line:\n%s", out.String())
	}
}

func TestDemandNowOnInfluxd(t *testing.T) {
	db := testinflux.Start(t)
	writeDemandDays(t, db)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), contractSection)

	var out, errb bytes.Buffer
	if code := run([]string{"demand", "now", "--config", conf, "--at", "2024-07-03T13:20:00+09:00"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"block 13:00-13:30", "strictest limit contract 500.0 kW", "stage shed", "request: shed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"demand", "now", "--config", conf, "--at", "2024-07-03T13:33:00+09:00", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var v struct {
		Stage string `json:"stage"`
		Held  bool   `json:"held"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	// The block 13:00 was lost; 13:33 is in the next block's no-action time.
	if v.Stage != "limit" || !v.Held {
		t.Errorf("13:33: %+v, want limit, held", v)
	}
}

func TestDemandCommandLineMistakes(t *testing.T) {
	noDemand := writeDemandConfig(t, "http://127.0.0.1:1", "b/autogen", "")
	withDemand := writeDemandConfig(t, "http://127.0.0.1:1", "b/autogen", contractSection)
	bad := writeDemandConfig(t, "http://127.0.0.1:1", "b/autogen", "demand:\n  block: 20m\n")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"demand"}, 2, "Usage"},
		{[]string{"demand", "forecast"}, 2, `unknown command "forecast"`},
		{[]string{"demand", "replay", "--from", "2024-07-01", "--to", "2024-07-02"}, 2, "--config FILE is required"},
		{[]string{"demand", "replay", "--config", noDemand, "--from", "2024-07-01", "--to", "2024-07-02"}, 1, "has no demand section"},
		{[]string{"demand", "replay", "--config", bad, "--from", "2024-07-01", "--to", "2024-07-02"}, 1, "demand.block: 20m0s is not a block length"},
		{[]string{"demand", "replay", "--config", withDemand, "--from", "2024-07-02", "--to", "2024-07-01"}, 2, "--to not before --from"},
		{[]string{"demand", "replay", "--config", withDemand, "--from", "July", "--to", "2024-07-01"}, 2, "YYYY-MM-DD"},
		{[]string{"demand", "replay", "--config", withDemand, "--from", "2024-07-01", "--to", "2024-07-01", "--tick", "1500ms"}, 2, "whole seconds"},
		{[]string{"demand", "now", "--config", withDemand, "--at", "noon"}, 2, "RFC 3339"},
		{[]string{"demand", "replay", "--config", withDemand, "--from", "2024-07-01", "--to", "2024-07-01", "--format", "xml"}, 2, `--format "xml": want text, json or csv`},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.stderr)
		}
	}
}

// `run` with a demand section: a simulated meter is polled into a real
// influxd, demand control reads it back every second, and the decision is
// served at /api/v1/demand and in /metrics.
func TestRunServesDemandDecisions(t *testing.T) {
	db := testinflux.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1,
		Curve: sim.LoadCurve{BaseKW: 40, PeakKW: 40, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	conf := writeDemandConfig(t, db.URL, db.Bucket(), fmt.Sprintf(`  flush_interval: 200ms
server: {listen: "127.0.0.1:0"}
modbus:
  devices:
    - {name: pdu-1, model: setsuden-sim-pm, address: %q, interval: 1s, timeout: 500ms}
demand:
  tick: 1s
  max_gap: 10s
  limits:
    - contract: {kw: 30}
    - cap: {name: restriction, baseline_kw: 100, calendar: {national_holidays: jp}}
  sheddable:
    - {name: batch-vms, kind: it, kw: 5, latency: 0s}
  webhooks:
    - url: http://127.0.0.1:1/never
`, m.Addr()))
	cfg, err := loadConfig(conf, true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := buildPipeline(ctx, cfg, conf, newLogger(config.Log{Level: "warn"}, io.Discard), collector.Shard{Index: 0, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- p.serve(ctx, func(a string) { addr <- a }) }()
	base := "http://" + <-addr
	var v struct {
		Site        string  `json:"site"`
		DemandKW    float64 `json:"demand_kw"`
		LoadKW      float64 `json:"load_kw"`
		Limit       string  `json:"limit"`
		Stage       string  `json:"stage"`
		Method      string  `json:"method"`
		FormulaKW   float64 `json:"formula_kw"`
		Unreachable bool    `json:"unreachable"`
		Request     *struct {
			ShedKW  float64 `json:"shed_kw"`
			Protect string  `json:"protect"`
		} `json:"request"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for v.LoadKW == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no decision with load from the meter within 30 s: %+v", v)
		}
		time.Sleep(300 * time.Millisecond)
		resp, err := http.Get(base + "/api/v1/demand")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			_ = json.NewDecoder(resp.Body).Decode(&v)
		}
		resp.Body.Close()
	}
	if v.Site != "dc1" || v.Limit != "contract" || v.LoadKW < 30 || v.LoadKW > 50 {
		t.Errorf("decision %+v, want dc1 on contract with about 40 kW of load", v)
	}
	// The default predictor names what it used, beside the formula; 40 kW
	// against 30 needs 5 kWh off a block and 5 sheddable kW cannot do it:
	// any request is at most those 5 kW and says the limit is out of reach.
	if v.Method == "" || v.FormulaKW <= 0 {
		t.Errorf("decision %+v: no method or formula figure", v)
	}
	if v.Request != nil && (v.Request.ShedKW > 5+1e-9 || !v.Unreachable || v.Request.Protect == "") {
		t.Errorf("request %+v (unreachable %v), want at most the 5 sheddable kW, out of reach", *v.Request, v.Unreachable)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"setsuden_demand_kw ", "setsuden_demand_predicted_kw ", "setsuden_demand_stage ", `setsuden_webhook_events_total{endpoint="127.0.0.1:1",result="delivered",sender="demand"}`} {
		if !strings.Contains(string(metrics), name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	// Changing the target needs an operator (none configured: refused).
	resp, err = http.Post(base+"/api/v1/demand/target", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST target without operators: %d, want 403", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDemandWiringNeedsTheWebhookSecret(t *testing.T) {
	t.Setenv("INFLUX_TOKEN", "t")
	t.Setenv("OBIX_PASSWORD", "p")
	cfg, err := loadConfig("../../setsuden.example.yaml", true)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{cfg: cfg, log: newLogger(config.Log{Level: "error"}, io.Discard), reg: prometheus.NewRegistry(),
		reader: influx.NewReader("http://127.0.0.1:1", "", "", "b")}
	defer p.reader.Close()
	t.Setenv("SETSUDEN_WEBHOOK_SECRET", "") // empty counts as not set
	if err := p.addDemand(cfg); err == nil || !strings.Contains(err.Error(), "SETSUDEN_WEBHOOK_SECRET is not set in the environment") {
		t.Errorf("without the secret: %v", err)
	}
	t.Setenv("SETSUDEN_WEBHOOK_SECRET", "s")
	p.reg = prometheus.NewRegistry()
	if err := p.addDemand(cfg); err != nil {
		t.Fatal(err)
	}
	if len(p.extensions) != 1 || len(p.runners) != 2 {
		t.Errorf("%d extensions and %d runners, want the API, the controller and the webhook sender", len(p.extensions), len(p.runners))
	}
}

// The default predictor through the binary: adaptive, reported beside the
// formula; with under 30 minutes of learning before each block it is the
// formula, so the two columns agree.
func TestDemandReplayDefaultPredictorOnInfluxd(t *testing.T) {
	db := testinflux.Start(t)
	writeDemandDays(t, db)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), "demand:\n  tick: 10s\n  limits:\n    - contract: {kw: 500}\n")
	var out, errb bytes.Buffer
	if code := run([]string{"demand", "replay", "--config", conf, "--from", "2024-07-03", "--to", "2024-07-03"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	var row []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 15 && f[0] == "2024-07-03" {
			row = f
		}
	}
	if row == nil {
		t.Fatalf("no row:\n%s", out.String())
	}
	if row[4] != row[7] || row[5] != row[8] || row[6] != row[9] {
		t.Errorf("adaptive %v and formula %v differ before anything is learnt", row[4:7], row[7:10])
	}
	if !regexp.MustCompile(`MAE\) over \d+ blocks at 10/20/25 min: adaptive [\d.]+/[\d.]+/[\d.]+ kW, formula`).MatchString(out.String()) {
		t.Errorf("no accuracy line for adaptive:\n%s", out.String())
	}
}

// writeGappedDay stores a facility meter's kW every 10 s: last year's
// 2023-07-05 (a Wednesday) 13:00–15:00 at 500 then 560 kW (the cap's
// baseline hour is 14:00–15:00), and 2024-07-03 12:00–15:00 at 400 kW but
// 600 kW in 13:00–13:30, whose first 15 minutes were lost.
func writeGappedDay(t testing.TB, db *influx.Influxd) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	var pts []point.Point
	add := func(from, to time.Time, kw func(time.Time) float64) {
		for tt := from; tt.Before(to); tt = tt.Add(10 * time.Second) {
			if k := kw(tt); k > 0 {
				pts = append(pts, point.Point{Measurement: "power",
					Tags:   map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
					Fields: map[string]any{"kw": k}, Time: tt})
			}
		}
	}
	ly := func(h int) time.Time { return time.Date(2023, 7, 5, h, 0, 0, 0, tokyo) }
	add(ly(13), ly(15), func(tt time.Time) float64 {
		if tt.Before(ly(14)) {
			return 500
		}
		return 560
	})
	d := func(h, m int) time.Time { return time.Date(2024, 7, 3, h, m, 0, 0, tokyo) }
	add(d(12, 0), d(15, 0), func(tt time.Time) float64 {
		switch {
		case tt.Before(d(13, 0)) || !tt.Before(d(13, 30)):
			return 400
		case tt.Before(d(13, 15)):
			return 0 // lost
		}
		return 600
	})
	testinflux.Write(t, db, pts)
}

// What replay tells, in text, JSON and CSV through the binary against
// influxd: the half-lost 600 kW block stays the day's peak (estimated),
// half an hour over the contract, the stage changes with the limit that
// drove them and why, the hour last year's baseline came from, and the
// coverage of every block.
func TestDemandReplayReportFormatsOnInfluxd(t *testing.T) {
	db := testinflux.Start(t)
	writeGappedDay(t, db)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), `demand:
  limits:
    - contract: {kw: 500}
    - cap:
        name: restriction
        baseline: last_year
        calendar: {dates: ["07-01..09-09"], weekdays: [mon, tue, wed, thu, fri], hours: "09:00-20:00", national_holidays: jp}
`)
	replay := func(format string) string {
		var out, errb bytes.Buffer
		if code := run([]string{"demand", "replay", "--config", conf, "--from", "2024-07-03", "--to", "2024-07-03", "--format", format}, &out, &errb); code != 0 {
			t.Fatalf("--format %s: exit %d\n%s%s", format, code, out.String(), errb.String())
		}
		return out.String()
	}

	text := replay("text")
	t.Logf("text:\n%s", text)
	var row []string
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 15 && f[0] == "2024-07-03" {
			row = f
		}
	}
	if row == nil {
		t.Fatalf("no 15-column row for 2024-07-03")
	}
	// DATE PEAK KW COV P10 P20 P25 F10 F20 F25 MAX ENTERED DRIVEN OVER LOW
	// 1-minute windows stamped at their middle: the edges of the gap cost a minute (48%).
	if row[1] != "13:00-13:30" || !strings.Contains(row[2], "~") || (row[3] != "48%" && row[3] != "50%") || !strings.Contains(row[13], "contract:0.5h") || row[14] == "-" {
		t.Errorf("row %v: want the half-lost 13:00 block as the peak (measured~estimated, 50%%), contract:0.5h over, low coverage listed", row)
	}
	for _, want := range []string{"cap restriction from history", "the hour 2023-07-05 14:00-15:00",
		"stage changes:", "(prediction, ", "blocks below full coverage", "13:00-13:30 coverage 4"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q", want)
		}
	}

	var rep struct {
		Caps []struct {
			Label      string    `json:"label"`
			BaselineKW float64   `json:"baseline_kw"`
			HourStart  time.Time `json:"baseline_hour_start"`
		} `json:"caps_from_history"`
		Days []struct {
			Date string `json:"date"`
			Peak struct {
				Start       time.Time `json:"start"`
				KW          float64   `json:"kw"`
				EstimatedKW float64   `json:"estimated_kw"`
				Coverage    float64   `json:"coverage"`
				Estimated   bool      `json:"estimated"`
			} `json:"peak"`
			HoursOver []struct {
				Limit string  `json:"limit"`
				Hours float64 `json:"hours"`
			} `json:"hours_over"`
			DrivenBy []string `json:"driven_by"`
			Coverage struct {
				Blocks int `json:"blocks"`
				Low    []struct {
					Start    time.Time `json:"start"`
					Coverage float64   `json:"coverage"`
				} `json:"below_full"`
			} `json:"coverage"`
			Transitions []struct {
				Cause, Limit, To string
				Threshold        float64 `json:"threshold"`
				PredictedKW      float64 `json:"predicted_kw"`
			} `json:"transitions"`
		} `json:"days"`
	}
	js := replay("json")
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if len(rep.Caps) != 1 || math.Abs(rep.Caps[0].BaselineKW-560) > 0.5 || rep.Caps[0].HourStart.Hour() != 14 || rep.Caps[0].HourStart.Year() != 2023 {
		t.Errorf("caps %+v, want the baseline 560 kW from 2023-07-05 14:00", rep.Caps)
	}
	if len(rep.Days) != 1 {
		t.Fatalf("%d days", len(rep.Days))
	}
	d := rep.Days[0]
	if p := d.Peak; p.Start.UTC().Hour() != 4 || !p.Estimated || p.Coverage < 0.45 || p.Coverage > 0.5 || p.EstimatedKW < 590 || p.EstimatedKW > 600 || p.KW > 300 {
		t.Errorf("peak %+v, want 13:00 JST (04:00 UTC), estimated ~595 kW from about 50%% coverage, measured under 300", p)
	}
	over := map[string]float64{}
	for _, o := range d.HoursOver {
		over[o.Limit] = o.Hours
	}
	// The hour 13:00–14:00 averages (150 + 200)/0.75 = 466.7 kW over its covered part: under the
	// 476 kW cap (85% of 560).
	if over["contract"] != 0.5 || over["restriction"] != 0 || len(d.HoursOver) != 2 {
		t.Errorf("hours over %+v, want contract 0.5, restriction 0", d.HoursOver)
	}
	if d.Coverage.Blocks != 48 || len(d.Coverage.Low) < 40 {
		t.Errorf("coverage %+v, want all 48 blocks, most of them without data", d.Coverage)
	}
	if len(d.Transitions) == 0 || len(d.DrivenBy) == 0 {
		t.Fatalf("no stage changes: %+v", d)
	}
	for _, tr := range d.Transitions {
		if tr.Cause == "" || tr.Limit == "" || tr.Threshold <= 0 {
			t.Errorf("transition %+v lacks its cause, limit or threshold", tr)
		}
	}

	rows, err := csv.NewReader(strings.NewReader(replay("csv"))).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv: %v, %d rows", err, len(rows))
	}
	col := map[string]string{}
	for i, h := range rows[0] {
		col[h] = rows[1][i]
	}
	if col["date"] != "2024-07-03" || col["peak_estimated"] != "true" || col["hours_over_contract"] != "0.5" || col["hours_over_restriction"] != "0" ||
		col["peak_estimated_kw"] != strconv.FormatFloat(d.Peak.EstimatedKW, 'f', -1, 64) || col["blocks"] != "48" || col["driven_by"] == "" {
		t.Errorf("csv row %v does not match the json day", col)
	}
}
