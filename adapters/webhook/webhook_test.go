package webhook

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// receiver records requests and answers with the statuses given, then 204.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []received
	block    chan struct{} // when set, requests wait on it
}

type received struct {
	header http.Header
	body   string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.block != nil {
		select {
		case <-r.block:
		case <-req.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, received{req.Header.Clone(), string(body)})
	status := http.StatusNoContent
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSignedDeliveryWithRetries(t *testing.T) {
	rec := &receiver{statuses: []int{500, 503}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	secret := []byte("s3cret")
	s, err := New(Config{Name: "demand", Endpoints: []Endpoint{{URL: srv.URL + "/hook?token=abc", Secret: secret}},
		InitialBackoff: 10 * time.Millisecond, Logger: quiet(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	body := `{"to":"shed"}`
	s.Send("demand.stage", []byte(body))
	waitFor(t, "three attempts", func() bool { return len(rec.requests()) == 3 })
	waitFor(t, "the delivered count", func() bool {
		return testutil.ToFloat64(s.results.WithLabelValues(strings.TrimPrefix(srv.URL, "http://"), "delivered")) == 1
	})
	got := rec.requests()
	for i, r := range got {
		if r.body != body {
			t.Errorf("attempt %d body %q", i, r.body)
		}
		if err := Verify(secret, r.header, []byte(r.body), time.Now(), time.Minute); err != nil {
			t.Errorf("attempt %d: %v", i, err)
		}
		if r.header.Get(HeaderEvent) != "demand.stage" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("attempt %d headers %v", i, r.header)
		}
		if r.header.Get(HeaderDelivery) != got[0].header.Get(HeaderDelivery) {
			t.Errorf("delivery id changed between retries")
		}
	}
	if err := Verify([]byte("wrong"), got[0].header, []byte(body), time.Now(), time.Minute); err == nil {
		t.Error("a wrong secret verified")
	}
	if err := Verify(secret, got[0].header, []byte(body+" "), time.Now(), time.Minute); err == nil {
		t.Error("a changed body verified")
	}
	if err := Verify(secret, got[0].header, []byte(body), time.Now().Add(time.Hour), time.Minute); err == nil {
		t.Error("an hour-old request verified")
	}
}

func TestRefusedIsNotRetriedAndGivingUpIsBounded(t *testing.T) {
	refuse := &receiver{statuses: []int{400}}
	down := &receiver{statuses: []int{500, 500, 500, 500, 500}}
	a, b := httptest.NewServer(refuse), httptest.NewServer(down)
	defer a.Close()
	defer b.Close()
	s, err := New(Config{Name: "t", Endpoints: []Endpoint{{URL: a.URL}, {URL: b.URL}},
		MaxAttempts: 3, InitialBackoff: time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	s.Send("e", []byte(`{}`))
	waitFor(t, "both queues empty", func() bool { return s.Pending() == 0 })
	if n := len(refuse.requests()); n != 1 {
		t.Errorf("a 400 was tried %d times, want 1", n)
	}
	if n := len(down.requests()); n != 3 {
		t.Errorf("a dead endpoint was tried %d times, want MaxAttempts 3", n)
	}
	if h := refuse.requests()[0].header.Get(HeaderSignature); h != "" {
		t.Errorf("unsigned endpoint got a signature %q", h)
	}
}

// A hanging endpoint neither blocks Send nor delays the other endpoint, and
// its bounded queue drops the oldest events.
func TestSendNeverBlocks(t *testing.T) {
	hang := &receiver{block: make(chan struct{})}
	ok := &receiver{}
	a, b := httptest.NewServer(hang), httptest.NewServer(ok)
	defer b.Close()
	defer a.Close()
	defer close(hang.block)
	s, err := New(Config{Name: "t", Endpoints: []Endpoint{{URL: a.URL}, {URL: b.URL}}, QueueSize: 4, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	start := time.Now()
	for i := 0; i < 20; i++ {
		s.Send("e", []byte(`{}`))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("20 sends took %s", d)
	}
	waitFor(t, "the healthy endpoint", func() bool { return len(ok.requests()) >= 4 })
	label := strings.TrimPrefix(a.URL, "http://")
	if n := testutil.ToFloat64(s.results.WithLabelValues(label, "dropped")); n < 15 {
		t.Errorf("hanging endpoint dropped %v events, want at least 15 of 20 with a queue of 4", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	if _, err := New(Config{Name: "t", Endpoints: []Endpoint{{URL: "ftp://x/y?token=zzz"}}}); err == nil || strings.Contains(err.Error(), "zzz") {
		t.Errorf("got %v, want an error that does not quote the URL", err)
	}
}
