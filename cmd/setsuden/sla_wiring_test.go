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
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/internal/testinflux"
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
	one := collector.Shard{Count: 1}
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
	p := &pipeline{log: quiet}
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
	if err := p.addSLA(w); err != nil || len(p.extensions) != 1 || len(p.runners) != 1 {
		t.Errorf("addSLA: %v, %d extensions, %d runners", err, len(p.extensions), len(p.runners))
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

	// A sharded collector sees only some hosts: no SLA engine.
	if w, err := newSLAWiring(cfg, path, sink, quiet, collector.Shard{Index: 1, Count: 2}); w != nil || err != nil {
		t.Errorf("sharded: %v %v", w, err)
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
	db := testinflux.Start(t)
	var failing atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer target.Close()
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmdRun(ctx, []string{"--config", conf}, io.Discard, io.Discard) }()
	base := "http://" + addr

	webState := func() (state, cause string, ok bool) {
		resp, err := http.Get(base + "/api/v1/sla")
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
