package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStreamCarriesPowerDemandPlansAndAlarms: the SSE stream starts with
// a snapshot and the rules' state (demand stage, open plans, alarms).
func TestStreamCarriesPowerDemandPlansAndAlarms(t *testing.T) {
	r := newRig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/api/v1/stream", nil)
	req.SetBasicAuth("vera", testPassword)
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	resp, err := http.DefaultClient.Do(req.WithContext(rctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	seen := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	var event string
	for sc.Scan() && len(seen) < 4 {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			event = name
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			seen[event] = data
		}
	}
	if !strings.Contains(seen["snapshot"], `"site":"dc1"`) || !strings.Contains(seen["demand"], `"stage":"normal"`) ||
		!strings.Contains(seen["plans"], `"open":[{"id":"p1","status":"waiting"}]`) || !strings.Contains(seen["alarms"], `"alarms":[]`) {
		t.Errorf("events %v", seen)
	}
}
