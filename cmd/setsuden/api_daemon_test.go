package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// apiBase waits until the daemon says it runs and returns the base URL of
// its API (the ui= of that line).
func (d *daemon) apiBase(t *testing.T) string {
	t.Helper()
	line := d.waitLog(t, 60*time.Second, "setsuden running", "ui=")
	return uiRe.FindStringSubmatch(line)[1]
}

// apiGet is GET base+path as user (with viewerPassword; "" sends no
// credentials): the status and the body.
func apiGet(t *testing.T, base, path, user string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if user != "" {
		req.SetBasicAuth(user, viewerPassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// probeTarget is a web server for an SLA probe: "ok" until failing is set,
// then 500. It stops when the test ends.
func probeTarget(t *testing.T) (srv *httptest.Server, failing *atomic.Bool) {
	t.Helper()
	failing = new(atomic.Bool)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, failing
}

// runInProcess runs `setsuden run --config conf` in this process (cmdRun)
// until cancel; done receives what it returned.
func runInProcess(conf string) (done <-chan error, cancel context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- cmdRun(ctx, []string{"--config", conf}, io.Discard, io.Discard) }()
	return ch, cancel
}
