package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// tableReader serves fixed samples: BuildSnapshot's contract is only the
// LatestReader interface (the real influx reader is tested in
// adapters/influx and end to end in cmd/setsuden).
type tableReader map[string][]Sample

func (r tableReader) Latest(_ context.Context, m, site string, _ time.Duration) ([]Sample, error) {
	if m == "fail" {
		return nil, errors.New("boom")
	}
	var out []Sample
	for _, s := range r[m] {
		if s.Tags["site"] == site {
			out = append(out, s)
		}
	}
	return out, nil
}

func TestBuildSnapshotSumsFreshMetersOnly(t *testing.T) {
	now := time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)
	tag := func(meter string) map[string]string {
		return map[string]string{"site": "dc1", "meter": meter, "model": "m"}
	}
	r := tableReader{
		"power": {
			{Field: "kw", Tags: tag("a"), Time: now.Add(-5 * time.Second), Value: 12.5},
			{Field: "kwh", Tags: tag("a"), Time: now.Add(-5 * time.Second), Value: 1000.0},
			{Field: "kw", Tags: tag("b"), Time: now.Add(-3 * time.Second), Value: 7.5},
			{Field: "kw", Tags: tag("dead"), Time: now.Add(-10 * time.Minute), Value: 99.0},
			{Field: "kw", Tags: map[string]string{"site": "other", "meter": "x"}, Time: now, Value: 1000.0},
		},
		"temperature": {{Field: "inlet_c", Tags: tag("a"), Time: now, Value: 24.0}},
		"host":        {{Field: "vms_running", Tags: map[string]string{"site": "dc1", "host": "h1"}, Time: now, Value: int64(3)}},
	}
	s, err := BuildSnapshot(context.Background(), "dc1", r, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.TotalKW != 20 {
		t.Errorf("total = %v, want 20 (stale meter and other site excluded)", s.TotalKW)
	}
	if len(s.Meters) != 3 || s.Meters[0].Meter != "a" || s.Meters[0].Fields["inlet_c"] != 24 || !s.Meters[2].Stale {
		t.Errorf("meters = %+v", s.Meters)
	}
	if len(s.Hosts) != 1 || s.Hosts[0].Fields["vms_running"] != 3 {
		t.Errorf("hosts = %+v", s.Hosts)
	}
}

func TestRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "setsuden_points_written_total", Help: "x"})
	reg.MustRegister(c)
	c.Add(3)
	live := NewLive("dc1", tableReader{}, nil, time.Hour, nil)
	live.update(context.Background(), time.Now())
	healthy := true
	hash, _ := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	auth, err := NewAuthenticator(AuthConfig{Users: []User{{Name: "vera", Role: RoleViewer, PasswordHash: string(hash)}}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Site: "dc1", Version: "t", Live: live, Gatherer: reg, Auth: auth,
		Static: fstest.MapFS{"index.html": {Data: []byte("<h1>setsuden</h1>")}},
		Health: func(context.Context) error {
			if healthy {
				return nil
			}
			return errors.New("queue too deep")
		}})
	get := func(path string) (int, string) {
		req := httptest.NewRequest("GET", path, nil)
		if path != "/healthz" {
			req.SetBasicAuth("vera", testPassword)
		}
		resp, err := s.App().Test(req, 5000)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz = %d %s", code, body)
	}
	healthy = false
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "queue too deep") {
		t.Errorf("unhealthy /healthz = %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "setsuden_points_written_total 3") {
		t.Errorf("/metrics = %d %s", code, body)
	}
	code, body := get("/api/v1/live")
	var snap Snapshot
	if code != 200 || json.Unmarshal([]byte(body), &snap) != nil || snap.Site != "dc1" {
		t.Errorf("/api/v1/live = %d %s", code, body)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "setsuden") {
		t.Errorf("/ = %d %s", code, body)
	}
	if code, _ := get("/nope.js"); code != 404 {
		t.Errorf("missing asset = %d, want 404", code)
	}
}

func TestLiveReportsStoreErrors(t *testing.T) {
	live := NewLive("dc1", failingReader{}, nil, time.Hour, nil)
	live.update(context.Background(), time.Now())
	var snap Snapshot
	_ = json.Unmarshal(live.Current(context.Background()), &snap)
	if !strings.Contains(snap.Error, "influx down") {
		t.Errorf("snapshot error = %q", snap.Error)
	}
}

type failingReader struct{}

func (failingReader) Latest(context.Context, string, string, time.Duration) ([]Sample, error) {
	return nil, errors.New("influx down")
}
