package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// fakeCost answers a bill naming its month, and records what it was asked.
type fakeCost struct {
	mu      sync.Mutex
	months  []string
	queries []CostQuery
	err     error
}

func (f *fakeCost) Bill(_ context.Context, q CostQuery) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.months = append(f.months, q.Month)
	f.queries = append(f.queries, q)
	if f.err != nil {
		return nil, f.err
	}
	return map[string]any{"site": "dc1", "month": q.Month, "total_yen": 1519755}, nil
}

func TestCostAPI(t *testing.T) {
	fc := &fakeCost{}
	r := newRig(t, func(c *Config) { c.Cost = fc })
	res := r.do("GET", "/api/v1/cost?month=2026-06", "", as("alice"))
	if res.code != 200 || res.json["month"] != "2026-06" || res.json["total_yen"] != float64(1519755) {
		t.Fatalf("GET /api/v1/cost?month=2026-06: %d %s", res.code, res.body)
	}
	// No month is the current month in the site's zone (testNow: 2026-07).
	if res := r.do("GET", "/api/v1/cost", "", as("ada")); res.code != 200 || res.json["month"] != "2026-07" {
		t.Errorf("GET /api/v1/cost: %d %s, want this month", res.code, res.body)
	}
	for _, bad := range []struct{ month, says string }{
		{"2026-13", "not a month"}, {"June", "not a month"}, {"2026-6", "not a month"}, {"2026-06-01", "not a month"},
		{"2026-08", "in the future"}, {"1900-01", "5 years back"}, {"2021-06", "5 years back"},
	} {
		res := r.do("GET", "/api/v1/cost?month="+bad.month, "", as("alice"))
		if res.code != 400 || strings.Join(res.fields(), ",") != "month" || !strings.Contains(res.json["error"].(string), bad.says) {
			t.Errorf("month=%s: %d %s, want 400 naming month (%s)", bad.month, res.code, res.body, bad.says)
		}
	}
	if got := strings.Join(fc.months, ","); got != "2026-06,2026-07" {
		t.Errorf("the reader was asked for %s; bad months must not reach it", got)
	}
	for _, who := range []string{"vera", "cora"} {
		if res := r.do("GET", "/api/v1/cost?month=2026-06", "", as(who)); res.code != 403 {
			t.Errorf("as %s: %d, want 403", who, res.code)
		}
	}

	// shed and by: checked here, passed on as asked.
	fc.queries = nil
	for _, ok := range []struct {
		query string
		want  CostQuery
	}{
		{"shed=1", CostQuery{Month: "2026-06", Shed: true}}, {"shed=true&by=tenant", CostQuery{Month: "2026-06", Shed: true, By: "tenant"}},
		{"shed=0&by=service", CostQuery{Month: "2026-06", By: "service"}}, {"by=vm", CostQuery{Month: "2026-06", By: "vm"}},
	} {
		if res := r.do("GET", "/api/v1/cost?month=2026-06&"+ok.query, "", as("alice")); res.code != 200 {
			t.Errorf("?%s: %d %s", ok.query, res.code, res.body)
		}
		if n := len(fc.queries); n == 0 || fc.queries[n-1] != ok.want {
			t.Errorf("?%s asked the reader %+v, want %+v", ok.query, fc.queries, ok.want)
		}
	}
	fc.queries = nil
	for _, bad := range []struct{ query, fields, says string }{
		{"by=customer", "by", "expected one of tenant, service, vm"}, {"by=Tenant", "by", "tenant, service, vm"},
		{"shed=yes", "shed", "expected 1, true, 0 or false"}, {"shed=2&by=host", "shed,by", "tenant, service, vm"},
	} {
		res := r.do("GET", "/api/v1/cost?month=2026-06&"+bad.query, "", as("alice"))
		if res.code != 400 || strings.Join(res.fields(), ",") != bad.fields || !strings.Contains(res.json["error"].(string), bad.says) {
			t.Errorf("?%s: %d %s, want 400 naming %s (%s)", bad.query, res.code, res.body, bad.fields, bad.says)
		}
	}
	if len(fc.queries) != 0 {
		t.Errorf("bad shed/by reached the reader: %+v", fc.queries)
	}
	fc.err = NotConfigured{Msg: "tariff.vm_labels: not configured (expected a CSV vm,tenant,service or YAML file)"}
	if res := r.do("GET", "/api/v1/cost?month=2026-06&by=tenant", "", as("alice")); res.code != 503 || !strings.Contains(string(res.body), "tariff.vm_labels") {
		t.Errorf("no labels: %d %s, want 503 naming tariff.vm_labels", res.code, res.body)
	}
	fc.err = errors.New("influxdb: connection refused")
	if res := r.do("GET", "/api/v1/cost?month=2026-06", "", as("alice")); res.code != 500 {
		t.Errorf("a failing reader: %d %s, want 500", res.code, res.body)
	}

	// Without a tariff the route says what is missing.
	r2 := newRig(t, func(c *Config) { c.Cost = nil })
	if res := r2.do("GET", "/api/v1/cost?month=2026-06", "", as("alice")); res.code != 503 || !strings.Contains(string(res.body), "tariff") {
		t.Errorf("no tariff: %d %s, want 503 naming tariff", res.code, res.body)
	}
}
