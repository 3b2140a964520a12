package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestFoundIssues: each of the attacks tried on the old API, refused.
func TestFoundIssues(t *testing.T) {
	r := newRig(t)
	// A 3 MB reason: refused by the body limit, naming the body, logged never.
	huge := strings.Repeat("A", 3<<20)
	// The server answers 413 and closes the connection without reading the
	// rest; on a loaded machine the client may still be writing and see the
	// reset before it reads the answer: that is the same refusal (the
	// checks below that nothing was recorded or logged still hold).
	code, body, err := r.overHTTPErr(t, "POST", "/api/v1/maintenance", `{"services": ["web"], "start": "2026-07-10T02:00:00+09:00", "end": "2026-07-10T04:00:00+09:00", "reason": "`+huge+`"}`)
	switch {
	case err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)):
		t.Logf("3 MB body: refused by a reset before the 413 was read (%v)", err)
	case err != nil:
		t.Fatal(err)
	case code != 413 || !strings.Contains(body, `"body: larger than 64 KiB`):
		t.Errorf("3 MB body: %d %.200s, want 413 naming the body", code, body)
	}
	// A reason within the body limit but longer than a paragraph: the field.
	long := strings.Repeat("B", 5000)
	res := r.do("POST", "/api/v1/maintenance", `{"services": ["web"], "start": "2026-07-10T02:00:00+09:00", "end": "2026-07-10T04:00:00+09:00", "reason": "`+long+`"}`, as("alice"))
	if res.code != 400 || strings.Join(res.fields(), ",") != "reason" {
		t.Errorf("5000-character reason: %d %.200s", res.code, res.body)
	}
	if strings.Contains(r.logs.String(), "AAAAAAAAAA") || strings.Count(r.logs.String(), "BBBBBBBBBB") != 0 {
		t.Error("a refused reason reached the log")
	}
	if n := len(r.sla.windows); n != 0 {
		t.Errorf("%d windows recorded by refused requests", n)
	}
	// Maintenance in the past.
	res = r.do("POST", "/api/v1/maintenance", `{"services": ["web"], "start": "2026-06-01T02:00:00+09:00", "end": "2026-06-01T04:00:00+09:00", "reason": "x"}`, as("alice"))
	if res.code != 400 || strings.Join(res.fields(), ",") != "start,end" {
		t.Errorf("a window in the past: %d %s", res.code, res.body)
	}
	res = r.do("POST", "/api/v1/maintenance/check", `{"services": ["web"], "start": "2026-07-01T10:00:00+09:00", "end": "2026-07-01T18:00:00+09:00", "reason": "x"}`, as("alice"))
	if res.code != 400 || strings.Join(res.fields(), ",") != "start" {
		t.Errorf("a window that started hours ago: %d %s", res.code, res.body)
	}
	// Recompute of 1900-01.
	res = r.do("POST", "/api/v1/reports/1900-01/recompute", `{"reason": "x"}`, as("alice"))
	if res.code != 400 || strings.Join(res.fields(), ",") != "month" || !strings.Contains(res.json["error"].(string), "years ago") {
		t.Errorf("recompute 1900-01: %d %s", res.code, res.body)
	}
	// DELETE /demand/target without a source removes nothing.
	r.demand.targets = nil
	r.do("POST", "/api/v1/demand/target", `{"kw": 350, "from": "2026-07-01T13:00:00+09:00", "to": "2026-07-01T16:00:00+09:00", "source": "agg"}`, as("alice"))
	res = r.do("DELETE", "/api/v1/demand/target", "", as("alice"))
	if res.code != 400 || strings.Join(res.fields(), ",") != "source" || len(r.demand.ExternalTargets()) != 1 {
		t.Errorf("DELETE without a source: %d %s, %d targets left (want 400 and 1)", res.code, res.body, len(r.demand.ExternalTargets()))
	}
	// Exact scope: Demo_Corp is not "Demo Corp.".
	if res := r.do("GET", "/api/v1/reports/2026-06/1/csv?scope=Demo_Corp", "", as("vera")); res.code != 404 {
		t.Errorf("?scope=Demo_Corp: %d %s, want 404", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/reports/2026-06/1/csv?scope=Demo%20Corp.", "", as("vera")); res.code != 200 || !strings.Contains(string(res.body), "Demo Corp.") {
		t.Errorf("?scope=Demo Corp.: %d %s", res.code, res.body)
	}
}

// TestBadInputIsA4xxNamingTheField: garbage in every parameter and body of
// every route is a 4xx that names a field, never a 500.
func TestBadInputIsA4xxNamingTheField(t *testing.T) {
	r := newRig(t)
	bodies := []string{`x`, `[1]`, `{"kw": "350"}`, `{"unknown": 1}`, `{"reason": 5}`, `null`, `{"services": "web"}`, `{"mode": "full"}`, `{"name": 1}`}
	for _, rt := range r.srv.routes {
		if rt.Method == "GET" || rt.Path == "/api/v1/session" && rt.Method == "DELETE" {
			continue
		}
		for _, b := range bodies {
			res := r.do(rt.Method, concretePath(rt), b, as("ada"))
			if res.code < 400 || res.code >= 500 {
				// null decodes to nothing: fine for bodiless calls.
				if b == "null" || rt.Path == "/api/v1/plans/:id/approve" || rt.Method == "DELETE" {
					continue
				}
				t.Errorf("%s %s body %s: %d %s", rt.Method, rt.Path, b, res.code, res.body)
				continue
			}
			if res.code == 400 && len(res.fields()) == 0 {
				t.Errorf("%s %s body %s: 400 without a field: %s", rt.Method, rt.Path, b, res.body)
			}
		}
	}
	for path, field := range map[string]string{
		"/api/v1/series?from=yesterday":                                    "from",
		"/api/v1/series?points=abc":                                        "points",
		"/api/v1/series?measurement=power%22)":                             "measurement",
		"/api/v1/series?fn=sum":                                            "fn",
		"/api/v1/series?sum=yes":                                           "sum",
		"/api/v1/series?from=2026-07-01T00:00:00Z&to=2026-06-01T00:00:00Z": "to",
		"/api/v1/series?from=1900-01-01T00:00:00Z":                         "from",
		"/api/v1/maintenance?to=soon":                                      "to",
		"/api/v1/reports?month=2026-13":                                    "month",
		"/api/v1/reports/2026-6/x/doc":                                     "month",
		"/api/v1/plans/a%20b":                                              "id",
		"/api/v1/plans?limit=0":                                            "limit",
		"/api/v1/audit?limit=5000":                                         "limit",
	} {
		res := r.do("GET", path, "", as("ada"))
		if res.code != 400 || len(res.fields()) == 0 || res.fields()[0] != field {
			t.Errorf("GET %s: %d %s, want 400 naming %s", path, res.code, res.body, field)
		}
	}
}

func TestCustomerSeesOnlyItsOwn(t *testing.T) {
	r := newRig(t)
	res := r.do("GET", "/api/v1/sla", "", as("cora"))
	svcs, _ := res.json["services"].([]any)
	if res.code != 200 || len(svcs) != 1 || svcs[0].(map[string]any)["customer"] != "Demo Corp." {
		t.Errorf("customer /sla: %d %s", res.code, res.body)
	}
	res = r.do("GET", "/api/v1/reports", "", as("cora"))
	revs, _ := res.json["revisions"].([]any)
	if res.code != 200 || len(revs) != 1 || revs[0].(map[string]any)["scope"] != "Demo Corp." {
		t.Errorf("customer /reports: %d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/reports/2026-06/1/csv", "", as("cora")); res.code != 200 || !strings.Contains(string(res.body), "Demo Corp.") {
		t.Errorf("customer download: %d %s", res.code, res.body)
	}
	for _, scope := range []string{"all", "Globex", "Demo_Corp"} {
		if res := r.do("GET", "/api/v1/reports/2026-06/1/csv?scope="+scope, "", as("cora")); res.code != 403 {
			t.Errorf("customer asking for scope %s: %d %s, want 403", scope, res.code, res.body)
		}
	}
	res = r.do("GET", "/api/v1/sla/figures", "", as("cora"))
	figs, _ := res.json["services"].([]any)
	if res.code != 200 || len(figs) != 1 {
		t.Fatalf("customer /sla/figures: %d %s", res.code, res.body)
	}
	// 25 s of a 100 s budget spent in the first 14 h of July: burn 0.25 / (14 h / 31 d).
	f := figs[0].(map[string]any)
	if f["service"] != "web" || f["availability"] != 0.99 || f["budget_left"] != 0.75 || math.Abs(f["burn"].(float64)-0.25/(14.0/(31*24))) > 1e-9 {
		t.Errorf("figures %v", f)
	}
	if res := r.do("GET", "/api/v1/sla/figures", "", as("vera")); len(res.json["services"].([]any)) != 2 {
		t.Errorf("staff see every service's figures: %s", res.body)
	}
	if res := r.do("GET", "/api/v1/reports", "", as("vera")); len(res.json["revisions"].([]any)) != 3 {
		t.Errorf("staff see every revision: %s", res.body)
	}
}

// slowReader counts the snapshot's queries and takes its time.
type slowReader struct {
	queries atomic.Int64
}

func (s *slowReader) Latest(ctx context.Context, m, site string, _ time.Duration) ([]Sample, error) {
	s.queries.Add(1)
	select {
	case <-time.After(50 * time.Millisecond):
	case <-ctx.Done():
	}
	return []Sample{{Field: "kw", Tags: map[string]string{"site": site, "meter": "a"}, Time: time.Now(), Value: 10.0}}, nil
}

// TestLiveRebuildsOnceUnderLoad: 50 requests on a stale snapshot cost one
// rebuild (3 queries), and every one gets its result.
func TestLiveRebuildsOnceUnderLoad(t *testing.T) {
	reader := &slowReader{}
	live := NewLive("dc1", reader, nil, time.Hour, nil)
	r := newRig(t, func(c *Config) { c.Live = live })
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := r.do("GET", "/api/v1/live", "", as("vera"))
			var snap Snapshot
			if res.code != 200 || json.Unmarshal(res.body, &snap) != nil || snap.TotalKW != 10 {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if live.Builds() != 1 || reader.queries.Load() != 3 || bad.Load() != 0 {
		t.Errorf("50 requests: %d rebuilds, %d queries, %d bad answers (want 1, 3, 0)", live.Builds(), reader.queries.Load(), bad.Load())
	}
}

func TestSeriesDownsamplesInTheStore(t *testing.T) {
	r := newRig(t)
	res := r.do("GET", "/api/v1/series?from=2025-07-01T00:00:00Z&to=2026-07-01T00:00:00Z&sum=true&meter=pdu-a1", "", as("vera"))
	if res.code != 200 {
		t.Fatalf("%d %s", res.code, res.body)
	}
	var v SeriesView
	_ = json.Unmarshal(res.body, &v)
	if r.series.last.Every != 24*time.Hour || r.series.last.Tags["meter"] != "pdu-a1" || r.series.last.Site != "dc1" {
		t.Errorf("a year asked the store for %+v, want 1-day windows", r.series.last)
	}
	if len(v.Series) != 1 || len(v.Series[0].T) > 600 || v.Series[0].V[0] != 30 || v.EveryS != 86400 {
		t.Errorf("summed year: %d series, %d points, first %v", len(v.Series), len(v.Series[0].T), v.Series[0].V[:1])
	}
	// The same query again within seconds is served from the first.
	r.series.mu.Lock()
	calls := r.series.calls
	r.series.mu.Unlock()
	r.do("GET", "/api/v1/series?from=2025-07-01T00:00:00Z&to=2026-07-01T00:00:00Z&sum=true&meter=pdu-a1", "", as("vera"))
	if r.series.calls != calls {
		t.Errorf("the repeated query ran again")
	}
	// Once the answer is old, it is still served at once and refreshed
	// in the background, once.
	r.srv.seriesMemo.mu.Lock()
	for _, e := range r.srv.seriesMemo.m {
		e.at = e.at.Add(-2 * seriesTTL)
	}
	r.srv.seriesMemo.mu.Unlock()
	for range 3 {
		if res := r.do("GET", "/api/v1/series?from=2025-07-01T00:00:00Z&to=2026-07-01T00:00:00Z&sum=true&meter=pdu-a1", "", as("vera")); res.code != 200 {
			t.Fatalf("old answer: %d", res.code)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r.series.mu.Lock()
		n := r.series.calls
		r.series.mu.Unlock()
		if n == calls+1 {
			break
		}
		if n > calls+1 || time.Now().After(deadline) {
			t.Fatalf("%d refreshes of an old answer asked 3 times, want 1", n-calls)
		}
	}
	for span, want := range map[time.Duration]time.Duration{time.Hour: 10 * time.Second, 24 * time.Hour: 5 * time.Minute, 365 * 24 * time.Hour: 24 * time.Hour} {
		if got := SeriesWindow(span, 600); got != want {
			t.Errorf("window of %s: %s, want %s", span, got, want)
		}
	}
}

// overHTTP sends one request through a real listener (the body limit is
// the HTTP server's, which App().Test bypasses).
func (r *rig) overHTTP(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	code, b, err := r.overHTTPErr(t, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, b
}

// overHTTPErr is overHTTP returning the transport's error.
func (r *rig) overHTTPErr(t *testing.T, method, path, body string) (int, string, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	req, _ := http.NewRequest(method, "http://"+ln.Addr().String()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("alice", testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestParallelGuessesAreBounded: 100 guesses at once run at most the
// user's burst of bcrypts; the rest wait for a slot and find the limit spent.
func TestParallelGuessesAreBounded(t *testing.T) {
	r := newRig(t)
	var wg sync.WaitGroup
	var limited, refused atomic.Int64
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch r.do("GET", "/api/v1/live", "", func(req *http.Request) { req.SetBasicAuth("alice", "guess") }).code {
			case 429:
				limited.Add(1)
			case 401:
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := r.srv.cfg.Auth.bcrypts.Load(); n != int64(perUser.burst) || refused.Load() != int64(perUser.burst) || limited.Load() != 100-int64(perUser.burst) {
		t.Errorf("100 parallel guesses: %d bcrypts, %d refused, %d rate-limited (want %v, %v, the rest)", n, refused.Load(), limited.Load(), perUser.burst, perUser.burst)
	}
}

// gateReader blocks every query until released.
type gateReader struct{ gate chan struct{} }

func (g gateReader) Latest(ctx context.Context, m, site string, _ time.Duration) ([]Sample, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
	}
	return []Sample{{Field: "kw", Tags: map[string]string{"site": site, "meter": "a"}, Time: time.Now(), Value: 10.0}}, nil
}

// TestLiveServesThePreviousSnapshotDuringARefresh: while one request
// rebuilds a recently stale snapshot, the others get the previous one at
// once instead of queueing behind the store.
func TestLiveServesThePreviousSnapshotDuringARefresh(t *testing.T) {
	g := gateReader{gate: make(chan struct{})}
	live := NewLive("dc1", g, nil, time.Minute, nil)
	close(g.gate)
	first := live.Current(context.Background())
	g.gate = make(chan struct{})
	live.reader = g
	live.mu.Lock()
	live.at = live.at.Add(-90 * time.Second) // stale, but less than three periods
	live.mu.Unlock()
	go live.Current(context.Background()) // the refresh, held at the gate
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		live.mu.Lock()
		r := live.refreshing
		live.mu.Unlock()
		if r {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not start")
		}
	}
	got := make(chan []byte, 1)
	go func() { got <- live.Current(context.Background()) }()
	select {
	case js := <-got:
		if string(js) != string(first) {
			t.Errorf("served %s, want the previous snapshot", js)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request waited behind the refresh")
	}
	close(g.gate)
	if live.Builds() != 2 {
		t.Errorf("%d builds, want 2", live.Builds())
	}
}
