package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/server"
)

// TestRunIncidentsAlarmsAndCalendarImport runs the daemon (`setsuden run`)
// on a real influxd holding April 2025 (web down 50 minutes on the 7th,
// and 50 minutes inside an announced window on the 12th): GET
// /api/v1/incidents lists the 7th's outage as a failure within the RTO,
// a customer sees only its own service; GET /api/v1/alarms shows web DOWN
// while its probe fails and not once it recovers; POST
// /api/v1/maintenance/import refuses a calendar with one bad row (naming
// line and field, importing nothing), then imports a good one that GET
// /api/v1/maintenance lists with its original announcement.
func TestRunIncidentsAlarmsAndCalendarImport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and the daemon")
	}
	db := testinflux.Start(t)
	state := t.TempDir()
	writeSLAMonth(t, db, state)
	target, failing := probeTarget(t)
	const pass = "correct horse battery"
	hash, err := server.HashPassword(pass)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	conf := writeSLAConfig(t, db.URL, db.Bucket(), fmt.Sprintf(`  flush_interval: 200ms
log: {level: error}
server:
  listen: %q
  users:
    - {name: alice, role: operator, password_hash: %q}
    - {name: vera, role: viewer, password_hash: %q}
    - {name: acme, role: customer, customer: ACME, password_hash: %q}
    - {name: globex, role: customer, customer: Globex, password_hash: %q}
sla:
  state_dir: %s
  slas:
    - {name: core, objective: 0.999, rto: 1h, max_failures: 1, response_bound: 1s, response_objective: 0.99}
  services:
    - {name: web, sla: core, customer: ACME, runs_on: {probes: [web-http]}}
    - {name: db, sla: core, customer: Globex, runs_on: {hosts: [hv2]}}
  checks: {interval: 1s}
  probes:
    - {name: web-http, service: web, kind: http, target: %q, interval: 1s, timeout: 500ms}
`, addr, hash, hash, hash, hash, state, target.URL+"/health"))
	done, cancel := runInProcess(conf)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + addr

	call := func(method, path, user, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, ok func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			select {
			case err := <-done:
				t.Fatalf("run stopped: %v", err)
			default:
			}
			good, last := ok()
			if good {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last answer %s", what, last)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	alarmsOf := func() (int, []server.Alarm, string) {
		code, body := call("GET", "/api/v1/alarms", "vera", "")
		var v struct{ Alarms []server.Alarm }
		_ = json.Unmarshal([]byte(body), &v)
		return code, v.Alarms, body
	}
	webDown := func(as []server.Alarm) bool {
		for _, a := range as {
			if a.Kind == "service_down" && a.Source == "sla:web" {
				return true
			}
		}
		return false
	}

	// Incidents of April, as the daemon reads them from influxd.
	var inc struct {
		Month     string
		Incidents []server.IncidentView
		Response  []server.ResponseView
	}
	waitFor("GET /api/v1/incidents?month=2025-04", func() (bool, string) {
		code, body := call("GET", "/api/v1/incidents?month=2025-04", "vera", "")
		inc.Incidents = nil
		_ = json.Unmarshal([]byte(body), &inc)
		return code == 200, fmt.Sprint(code, " ", body)
	})
	if len(inc.Incidents) != 1 {
		t.Fatalf("April's incidents: %+v, want the 7th's outage only (the 12th's was inside an announced window)", inc.Incidents)
	}
	in := inc.Incidents[0]
	if in.Service != "web" || in.Customer != "ACME" || !in.Start.Equal(slaJST(4, 7, 14, 0)) || !in.End.Equal(slaJST(4, 7, 14, 50)) ||
		in.DurationS != 3000 || !in.Failure || !in.CountsAgainstSLA || in.RTOS != 3600 || in.RTOMet == nil || !*in.RTOMet || in.Cause != "connection refused" {
		t.Errorf("the 7th's incident: %+v (want web 14:00-14:50 JST, 3000 s, a failure within the 1 h RTO, caused by connection refused)", in)
	}
	// web's probes every 5 minutes: 10 failed on the 7th (the 12th's are
	// in the planned window, not valid), the rest answered in 120-129 ms.
	var webResp *server.ResponseView
	for i := range inc.Response {
		if inc.Response[i].Service == "web" {
			webResp = &inc.Response[i]
		}
	}
	if webResp == nil || webResp.BoundMs != 1000 || webResp.Valid == 0 || webResp.Valid-webResp.Within != 10 || webResp.Met == nil || !*webResp.Met || webResp.P95Ms < 120 || webResp.P95Ms > 130 {
		t.Errorf("web's response-time SLI for April: %+v (want 10 valid probes outside the 1 s bound, the 99%% objective met, p95 120-130 ms)", webResp)
	}
	if code, body := call("GET", "/api/v1/incidents?month=2025-04", "acme", ""); code != 200 || !strings.Contains(body, `"service":"web"`) {
		t.Errorf("ACME's incidents: %d %s", code, body)
	}
	if code, body := call("GET", "/api/v1/incidents?month=2025-04", "globex", ""); code != 200 || strings.Contains(body, `"service":"web"`) {
		t.Errorf("Globex sees ACME's incident: %d %s", code, body)
	}
	if code, body := call("GET", "/api/v1/incidents?month=2025-04&service=web", "globex", ""); code != 403 {
		t.Errorf("Globex asking for web: %d %s, want 403", code, body)
	}
	for q, field := range map[string]string{"month=2025-4": "month", "service=mail": "service"} {
		if code, body := call("GET", "/api/v1/incidents?"+q, "vera", ""); code != 400 || !strings.Contains(body, `"field":"`+field+`"`) {
			t.Errorf("?%s: %d %s, want 400 naming %s", q, code, body, field)
		}
	}
	if code, _ := call("GET", "/api/v1/incidents", "", ""); code != 401 {
		t.Errorf("incidents without a user: %d, want 401", code)
	}

	// Alarms follow the probe.
	waitFor("web UP", func() (bool, string) {
		code, body := call("GET", "/api/v1/sla", "vera", "")
		return code == 200 && strings.Contains(body, `"state":"UP"`), body
	})
	if code, as, body := alarmsOf(); code != 200 || webDown(as) {
		t.Errorf("alarms with web UP: %d %s", code, body)
	}
	failing.Store(true)
	waitFor("web DOWN among the alarms", func() (bool, string) {
		code, as, body := alarmsOf()
		return code == 200 && webDown(as), body
	})
	_, as, _ := alarmsOf()
	for _, a := range as {
		if a.Source == "sla:web" && (a.Severity != "critical" || a.Since.IsZero() || !strings.Contains(a.Message, "HTTP status 500")) {
			t.Errorf("web's alarm: %+v", a)
		}
	}
	if code, _ := call("GET", "/api/v1/alarms", "acme", ""); code != 403 {
		t.Errorf("alarms as a customer: %d, want 403", code)
	}
	failing.Store(false)
	waitFor("web's alarm cleared", func() (bool, string) {
		code, as, body := alarmsOf()
		return code == 200 && !webDown(as), body
	})

	// A calendar import: all or nothing.
	now := time.Now().In(slaTokyo)
	start := now.AddDate(0, 1, 0).Truncate(time.Hour)
	row := func(svc string, s time.Time) string {
		return fmt.Sprintf(",%s,%s,%s,%s,ops@example.jp,core switch\n", svc, s.Format(time.RFC3339), s.Add(2*time.Hour).Format(time.RFC3339),
			now.AddDate(0, -1, 0).Format(time.RFC3339))
	}
	header := "id,services,start,end,announced_at,announced_by,reason\n"
	upload := func(csv string) string {
		js, _ := json.Marshal(map[string]string{"file": "calendar.csv", "csv": csv})
		return string(js)
	}
	windows := func() string {
		_, body := call("GET", "/api/v1/maintenance", "vera", "")
		return body
	}
	before := windows()
	code, body := call("POST", "/api/v1/maintenance/import", "alice", upload(header+row("web", start)+row("mail", start.Add(24*time.Hour))))
	if code != 400 || !strings.Contains(body, `"field":"services"`) || !strings.Contains(body, "line 3 (row 2)") || !strings.Contains(body, `\"mail\"`) {
		t.Errorf("a calendar with an unknown service on row 2: %d %s, want 400 naming line 3 (row 2), services", code, body)
	}
	if after := windows(); after != before {
		t.Errorf("a refused calendar changed the maintenance list:\n%s\n->\n%s", before, after)
	}
	if code, _ := call("POST", "/api/v1/maintenance/import", "vera", upload(header+row("web", start))); code != 403 {
		t.Errorf("import as a viewer: %d, want 403", code)
	}
	code, body = call("POST", "/api/v1/maintenance/import", "alice", upload(header+row("web", start)+row("db", start.Add(24*time.Hour))))
	var res struct {
		Imported []struct {
			ID           string
			ImportedFrom string `json:"imported_from"`
			ImportedBy   string `json:"imported_by"`
			Classes      []struct{ Service, Class string }
		}
	}
	if err := json.Unmarshal([]byte(body), &res); code != 201 || err != nil || len(res.Imported) != 2 {
		t.Fatalf("import of 2 windows: %d %s", code, body)
	}
	for _, w := range res.Imported {
		if w.ImportedBy != "alice" || w.ImportedFrom != "/api/v1/maintenance/import/calendar.csv" || len(w.Classes) != 1 || w.Classes[0].Class != "planned" {
			t.Errorf("imported window %+v: want by alice, from the upload, planned (announced two months ahead, the notice is 30 days)", w)
		}
	}
	list := windows()
	for _, w := range res.Imported {
		if !strings.Contains(list, w.ID) {
			t.Errorf("GET /api/v1/maintenance does not list imported %s:\n%s", w.ID, list)
		}
	}
}
