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

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
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
	live.update(context.Background())
	healthy := true
	s := New(Config{Site: "dc1", Version: "t", Live: live, Gatherer: reg,
		Static: fstest.MapFS{"index.html": {Data: []byte("<h1>setsuden</h1>")}},
		Health: func(context.Context) error {
			if healthy {
				return nil
			}
			return errors.New("queue too deep")
		}})
	get := func(path string) (int, string) {
		resp, err := s.App().Test(httptest.NewRequest("GET", path, nil), 5000)
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
	live.update(context.Background())
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

// noteExt registers one read and one change, as the rules engine will.
type noteExt struct{ notes *[]string }

func (n noteExt) Register(r fiber.Router, operator fiber.Handler) {
	r.Get("/notes", func(c *fiber.Ctx) error { return c.JSON(*n.notes) })
	r.Post("/notes", operator, func(c *fiber.Ctx) error {
		*n.notes = append(*n.notes, OperatorOf(c)+": "+string(c.Body()))
		return c.SendStatus(fiber.StatusCreated)
	})
}

func TestMutatingRoutesNeedAnOperatorAndAreAudited(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	auth, err := NewAuthenticator([]Operator{{Name: "alice", PasswordHash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAuthenticator([]Operator{{Name: "bob", PasswordHash: "plaintext"}}); err == nil {
		t.Error("a non-bcrypt password_hash was accepted")
	}
	var notes, audited []string
	live := NewLive("dc1", tableReader{}, nil, time.Hour, nil)
	s := New(Config{Site: "dc1", Live: live, Gatherer: prometheus.NewRegistry(), Auth: auth,
		Extensions: []Extension{noteExt{&notes}},
		Audit: func(_ context.Context, op, action string, d map[string]string) {
			audited = append(audited, op+" "+action+" "+d["status"])
		}})
	do := func(method, user, pass, body string) int {
		req := httptest.NewRequest(method, "/api/v1/notes", strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := s.App().Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if code := do("POST", "", "", "x"); code != 401 {
		t.Errorf("no credentials: %d, want 401", code)
	}
	if code := do("POST", "alice", "wrong password!", "x"); code != 401 {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code := do("POST", "mallory", "correct horse battery", "x"); code != 401 {
		t.Errorf("unknown operator: %d, want 401", code)
	}
	if code := do("POST", "alice", "correct horse battery", "raise set-point"); code != 201 {
		t.Errorf("operator: %d, want 201", code)
	}
	if code := do("GET", "", "", ""); code != 200 {
		t.Errorf("reading needs no operator: %d", code)
	}
	if len(notes) != 1 || notes[0] != "alice: raise set-point" {
		t.Errorf("notes = %v", notes)
	}
	if len(audited) != 1 || audited[0] != "alice POST /api/v1/notes 201" {
		t.Errorf("audit = %v", audited)
	}

	// Without operators nothing can be changed.
	s2 := New(Config{Site: "dc1", Live: live, Gatherer: prometheus.NewRegistry(), Extensions: []Extension{noteExt{&notes}}})
	req := httptest.NewRequest("POST", "/api/v1/notes", strings.NewReader("x"))
	req.SetBasicAuth("alice", "correct horse battery")
	resp, _ := s2.App().Test(req, 5000)
	if resp.StatusCode != 403 {
		t.Errorf("no operators configured: %d, want 403", resp.StatusCode)
	}
}
