package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPlansAPIOnTheRunningDaemon: `setsuden run` in approve mode proposes a
// shed; the API lists it as waiting to a viewer, refuses its approval to a
// viewer and to nobody, and an operator's approval through the API runs it
// in the daemon (it fails at the first migration: the test driver cannot
// migrate) with the approval in the daemon's audit log; the mode reads as
// approve.
func TestPlansAPIOnTheRunningDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	bin := buildBinary(t)
	s := newShedSite(t, 32)
	conf := s.config(t, "  mode: approve\n")
	hash := viewerHash(t)
	users := `server:
  listen: "127.0.0.1:0"
  users:
    - {name: vera, role: viewer, password_hash: '` + hash + `'}
    - {name: olga, role: operator, password_hash: '` + hash + `'}
`
	replaceInFile(t, conf, "server: {listen: \"127.0.0.1:0\", metrics_public: true}\n", users)
	d := startDaemon(t, bin, conf)
	line := d.waitLog(t, 60*time.Second, "setsuden running", "ui=")
	base := regexp.MustCompile(`ui=(http://[0-9.:]+)`).FindStringSubmatch(line)[1]
	d.waitLog(t, 90*time.Second, "shed plan waits for an operator")

	call := func(method, path, user string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, viewerPassword)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	code, v := call("GET", "/api/v1/plans?status=waiting", "vera")
	plans, _ := v["plans"].([]any)
	if code != 200 || len(plans) == 0 {
		t.Fatalf("GET /api/v1/plans?status=waiting as a viewer: %d %v", code, v)
	}
	id := plans[0].(map[string]any)["id"].(string)
	if code, v := call("GET", "/api/v1/shed/mode", "vera"); code != 200 || v["mode"] != "approve" {
		t.Errorf("mode: %d %v, want approve", code, v)
	}
	if code, _ := call("POST", "/api/v1/plans/"+id+"/approve", ""); code != 401 {
		t.Errorf("approve without a user: %d, want 401", code)
	}
	if code, _ := call("POST", "/api/v1/plans/"+id+"/approve", "vera"); code != 403 {
		t.Errorf("approve as a viewer: %d, want 403", code)
	}
	if code, v := call("POST", "/api/v1/plans/"+id+"/approve", "olga"); code != 200 {
		t.Fatalf("approve as an operator: %d %v", code, v)
	}
	d.waitLog(t, 30*time.Second, "plan_approved", "actor=operator:olga")
	deadline := time.Now().Add(60 * time.Second)
	status := ""
	for time.Now().Before(deadline) {
		_, v := call("GET", "/api/v1/plans/"+id, "vera")
		if status, _ = v["status"].(string); status == "failed" || status == "done" || status == "cancelled" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if status != "failed" {
		t.Errorf("plan %s after its approval: %q, want failed (test:/// cannot migrate)", id, status)
	}
	if code, _ := call("POST", "/api/v1/plans/"+id+"/approve", "olga"); code != 409 {
		t.Errorf("approving an ended plan: %d, want 409", code)
	}
	if code, _ := call("GET", "/api/v1/plans/no-such-plan", "vera"); code != 404 {
		t.Errorf("an unknown plan: %d, want 404", code)
	}
}
