package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
	"github.com/setsuden/setsuden/server"
)

type slaMemSink struct{ pts []point.Point }

func (s *slaMemSink) Write(_ context.Context, pts []point.Point) error {
	s.pts = append(s.pts, pts...)
	return nil
}

func TestSLAWiring(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	one := unsharded()
	load := func(section string) (*config.Config, string) {
		t.Helper()
		path := writeSLAConfig(t, "http://127.0.0.1:1", "setsuden/autogen", section)
		cfg, err := config.Load(path, config.Options{RequireInflux: true})
		if err != nil {
			t.Fatal(err)
		}
		return cfg, path
	}

	// No sla section: nothing, and the writer is the sink.
	cfg, path := load("")
	w, err := newSLAWiring(cfg, path, &slaMemSink{}, quiet, one)
	if err != nil || w != nil {
		t.Fatalf("without an sla section: %v %v", w, err)
	}
	sink := &slaMemSink{}
	p := &pipeline{log: quiet, reg: prometheus.NewRegistry()}
	if w.tap(sink) != collector.Sink(sink) || w.probeSources() != nil || p.addSLA(w) != nil || len(p.runners) != 0 {
		t.Error("a nil wiring is not a no-op")
	}
	w.close()

	// Relative paths start from the configuration's directory.
	cfg, path = load(slaSection("state"))
	w, err = newSLAWiring(cfg, path, sink, quiet, one)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "state", "maintenance.jsonl")); err != nil {
		t.Errorf("maintenance log not under the config's directory: %v", err)
	}
	if src := w.probeSources(); len(src) != 1 || src[0].Kind != slactl.ProbeKind || src[0].Interval != time.Minute {
		t.Errorf("probe sources %+v", src)
	}
	pt := sla.ProbePoint(sla.ProbeSpec{Name: "web-http", Service: "web", Kind: "http"}, sla.Check{At: time.Now(), OK: true})
	if err := w.tap(sink).Write(context.Background(), []point.Point{pt}); err != nil || len(sink.pts) != 1 {
		t.Errorf("tap: %v, %d points passed on", err, len(sink.pts))
	}
	if err := p.addSLA(w); err != nil || p.slaAPI == nil || len(p.runners) != 2 || w.rollup == nil {
		t.Errorf("addSLA: %v, API wired %v, %d runners (want the SLA loop and the probe rollup)", err, p.slaAPI != nil, len(p.runners))
	}
	if mfs, err := p.reg.Gather(); err != nil || !slices.ContainsFunc(mfs, func(mf *dto.MetricFamily) bool {
		return mf.GetName() == "setsuden_sla_service_state"
	}) {
		t.Errorf("SLA metrics not registered: %v", err)
	}
	// The running daemon holds the maintenance log.
	if _, err := newSLAWiring(cfg, path, sink, quiet, one); !errors.Is(err, slactl.ErrMaintenanceLogBusy) {
		t.Errorf("second engine on one log: %v", err)
	}
	w.close()
	w.close()
	if w, err = newSLAWiring(cfg, path, sink, quiet, one); err != nil {
		t.Errorf("after close: %v", err)
	}
	w.close()

	// A shard that does not run the site controllers has no SLA engine;
	// the one that does has it, whichever shard it is.
	if w, err := newSLAWiring(cfg, path, sink, quiet, defaultRole(collector.Shard{Index: 1, Count: 2})); w != nil || err != nil {
		t.Errorf("shard 2/2: %v %v", w, err)
	}
	if w, err := newSLAWiring(cfg, path, sink, quiet, siteRole{Shard: collector.Shard{Index: 1, Count: 2}, Controllers: true}); w == nil || err != nil {
		t.Errorf("shard 2/2 with the site controllers: %v %v", w, err)
	} else {
		w.close()
	}

	// Mistakes name file, line and field.
	cfg, path = load(`sla:
  slas: [{name: core, objective: 0.999}]
  services: [{name: web, sla: core, runs_on: {hosts: [hv1]}}]
`)
	if _, err := newSLAWiring(cfg, path, sink, quiet, one); err == nil || err.Error() != path+":8: sla.state_dir: not set, and neither are sla.maintenance_log and sla.reports_dir (expected a directory for the maintenance log and the report archive, e.g. /var/lib/setsuden/sla)" {
		t.Errorf("no state_dir: %v", err)
	}
	cfg, path = load(slaSection(t.TempDir()) + "  alerts:\n    webhooks: [{url: https://hooks.example/x, secret_env: SETSUDEN_TEST_UNSET_SECRET}]\n")
	if _, err := newSLAWiring(cfg, path, sink, quiet, one); err == nil || !strings.Contains(err.Error(), "sla.alerts.webhooks[0].secret_env: SETSUDEN_TEST_UNSET_SECRET is not set") {
		t.Errorf("unset secret: %v", err)
	}
	cfg, path = load("sla:\n  slas: [{name: core, objective: 1.5}]\n  checks: {interval: soon}\n")
	probs := slaProblems(path, cfg)
	if len(probs) != 1 || probs[0].String() != path+`:9: sla.checks.interval: bad duration "soon" (expected e.g. 30d, 1h, 90s)` {
		t.Errorf("problems %q", probs)
	}
}

// freeAddr is a loopback address nothing listens on (for `run`, whose
// listener is not reported back).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunSLAEndToEnd runs the daemon (`setsuden run`) with an sla section
// on a real influxd: its probe checks a web server every second, the
// service goes UP, then DOWN when the server fails, as the API shows; an
// operator announces maintenance; and the state changes are in InfluxDB,
// from UNKNOWN at the start to UNKNOWN at the stop.
func TestRunSLAEndToEnd(t *testing.T) {
	t.Parallel() // waits on its own daemons; see the suite notes in main_test.go
	db := testinflux.Start(t)
	target, failing := probeTarget(t)
	hash, err := server.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	conf := writeSLAConfig(t, db.URL, db.Bucket(), fmt.Sprintf(`  flush_interval: 200ms
log: {level: error}
server:
  listen: %q
  operators:
    - {name: alice, password_hash: %q}
sla:
  state_dir: %s
  slas: [{name: core, objective: 0.999}]
  services: [{name: web, sla: core, runs_on: {probes: [web-http]}}]
  checks: {interval: 1s}
  probes:
    - {name: web-http, service: web, kind: http, target: %q, interval: 1s, timeout: 500ms}
`, addr, hash, t.TempDir(), target.URL+"/health"))
	done, cancel := runInProcess(conf)
	defer cancel()
	base := "http://" + addr

	webState := func() (state, cause string, ok bool) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/sla", nil)
		req.SetBasicAuth("alice", "correct horse battery")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", "", false // not listening yet
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Fatal("GET /api/v1/sla: 404: the SLA engine is not wired into the pipeline (sla_wiring.go: newSLAWiring, addSLA)")
		}
		var v struct {
			Services []struct{ State, Cause string } `json:"services"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Services) != 1 {
			t.Fatalf("GET /api/v1/sla: %d %v %+v", resp.StatusCode, err, v)
		}
		return v.Services[0].State, v.Services[0].Cause, true
	}
	waitState := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			select {
			case err := <-done:
				t.Fatalf("run stopped: %v", err)
			default:
			}
			if s, cause, ok := webState(); ok && s == want {
				return cause
			} else if time.Now().After(deadline) {
				t.Fatalf("web is %q (%s), want %s", s, cause, want)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	waitState("UP")
	failing.Store(true)
	if cause := waitState("DOWN"); cause != "HTTP status 500 Internal Server Error" {
		t.Errorf("down because %q", cause)
	}

	body := `{"services": ["web"], "start": "2030-01-01T02:00:00+09:00", "end": "2030-01-01T03:00:00+09:00", "reason": "storage firmware"}`
	for _, tc := range []struct {
		operator bool
		code     int
	}{{false, http.StatusUnauthorized}, {true, http.StatusCreated}} {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/maintenance", strings.NewReader(body))
		if tc.operator {
			req.SetBasicAuth("alice", "correct horse battery")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("POST /api/v1/maintenance (operator %v): %d, want %d", tc.operator, resp.StatusCode, tc.code)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	store, err := influx.NewSLAStore(influx.SLAStoreConfig{URL: db.URL, Bucket: db.Bucket()})
	if err != nil {
		t.Fatal(err)
	}
	changes, err := store.StateChanges(context.Background(), "dc1", []string{"web"}, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes["web"] {
		got = append(got, c.State.String()+" "+c.Cause)
	}
	want := []string{"UNKNOWN " + slactl.CauseStarted, "UP ", "DOWN HTTP status 500 Internal Server Error", "UNKNOWN " + slactl.CauseStopped}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("stored changes:\n got %q\nwant %q", got, want)
	}
}

// TestProbeRollupJob runs the daemon's probe rollup on a real influxd:
// at start-up it rolls up every finished day of this and the previous
// month, then each day the one that finished, grace after midnight.
func TestProbeRollupJob(t *testing.T) {
	db := testinflux.Start(t)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	jst := func(m time.Month, d, h int) time.Time { return time.Date(2025, m, d, h, 0, 0, 0, tokyo) }
	spec := sla.ProbeSpec{Name: "web-http", Service: "web", Kind: sla.ProbeHTTP}
	var pts []point.Point
	for at := jst(3, 30, 0); at.Before(jst(4, 11, 12)); at = at.Add(time.Hour) {
		pt := sla.ProbePoint(spec, sla.Check{At: at, OK: at.Hour() != 3, ResponseMs: 100 + float64(at.Hour())})
		pt.Tags["site"] = "dc1"
		pts = append(pts, pt)
	}
	ctx := context.Background()
	testinflux.Write(t, db, pts)
	store, err := influx.NewSLAStore(influx.SLAStoreConfig{URL: db.URL, Bucket: db.Bucket()})
	if err != nil {
		t.Fatal(err)
	}
	cat := sla.Catalog{SLAs: []sla.SLA{{Name: "core", Objective: 0.999, ResponseBound: 110 * time.Millisecond}},
		Services: []sla.Service{{Name: "web", SLA: "core", RunsOn: sla.RunsOn{Probes: []string{"web-http"}}}}}
	now := jst(4, 10, 5)
	job := &probeRollupJob{rollup: report.Rollup{Site: "dc1", Catalog: cat, Location: tokyo}, store: store, grace: 6 * time.Hour,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }}
	rolled := func() []sla.Interval {
		t.Helper()
		days, err := store.RolledUpDays(ctx, "dc1", jst(1, 1, 0), jst(6, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		return days
	}

	// 05:00 on the 10th: March and April up to the 8th (the 9th ends
	// within the grace).
	if err := job.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	days := rolled()
	if len(days) != 31+8 || !days[0].Start.Equal(jst(3, 1, 0)) || !days[len(days)-1].End.Equal(jst(4, 9, 0)) {
		t.Fatalf("rolled up %d days, %v .. %v", len(days), days[0], days[len(days)-1])
	}
	// 06:01: the 9th.
	now = jst(4, 10, 6).Add(time.Minute)
	if err := job.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if days = rolled(); len(days) != 40 || !days[39].Start.Equal(jst(4, 9, 0)) {
		t.Fatalf("after the 9th: %d days, last %v", len(days), days[len(days)-1])
	}
	var sum sla.ProbeSummary
	if err := store.ProbeSummaries(ctx, "dc1", nil, jst(4, 9, 0), jst(4, 10, 0), func(s sla.ProbeSummary) error { sum = s; return nil }); err != nil {
		t.Fatal(err)
	}
	// 24 hourly checks, the 03:00 one failed; 100..110 ms within 110 ms.
	if sum.Service != "web" || sum.Samples != 24 || sum.Failed != 1 || sum.Within != 10 || sum.MaxMs != 123 || sum.BoundMs != 110 {
		t.Errorf("summary of the 9th: %+v", sum)
	}

	// Run: the start-up catch-up rolls the 10th up on the 11th.
	now = jst(4, 11, 7)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- job.run(rctx) }()
	for deadline := time.Now().Add(30 * time.Second); len(rolled()) != 41; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the start-up catch-up did not roll up the 10th: %d days", len(rolled()))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
