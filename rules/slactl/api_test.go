package slactl_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/server"
)

const operatorPassword = "correct horse battery"

// The users of the API tests: none, a viewer and an operator.
const (
	nobody   = ""
	viewer   = "vera"
	operator = "alice"
)

// marchStore holds March 2025: web down 30 minutes on the 10th, the
// others up throughout.
func marchStore() *report.MemoryStore {
	up := func(at time.Time) sla.StateChange { return sla.StateChange{At: at, State: sla.StateUp} }
	return &report.MemoryStore{Changes: map[string][]sla.StateChange{
		"web": {up(jst(2025, 2, 20, 0, 0)), {At: jst(2025, 3, 10, 14, 0), State: sla.StateDown, Cause: "connection refused"}, up(jst(2025, 3, 10, 14, 30))},
		"db":  {up(jst(2025, 2, 20, 0, 0))},
		"crm": {up(jst(2025, 2, 20, 0, 0))},
	}}
}

type apiClient struct {
	t   *testing.T
	srv *server.Server
}

type apiResponse struct {
	code int
	head map[string]string
	raw  []byte
	json map[string]any
}

func (a apiClient) do(method, path, body, user string) apiResponse {
	a.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, operatorPassword)
	}
	resp, err := a.srv.App().Test(req, 30000)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := apiResponse{code: resp.StatusCode, head: map[string]string{}}
	for k := range resp.Header {
		r.head[k] = resp.Header.Get(k)
	}
	r.raw, _ = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.raw, &r.json); err != nil {
			a.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, r.raw)
		}
	}
	return r
}

// problemFields are the fields a 400 names.
func (r apiResponse) problemFields() []string {
	var out []string
	probs, _ := r.json["problems"].([]any)
	for _, p := range probs {
		out = append(out, p.(map[string]any)["field"].(string))
	}
	return out
}

func TestAPI(t *testing.T) {
	hash, err := server.HashPassword(operatorPassword)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := server.NewAuthenticator(server.AuthConfig{Users: []server.User{
		{Name: "alice", Role: server.RoleOperator, PasswordHash: hash}, {Name: "vera", Role: server.RoleViewer, PasswordHash: hash}}})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, jst(2025, 4, 5, 10, 0), marchStore())
	var audited []string
	srv := server.New(server.Config{Site: "dc1", Gatherer: prometheus.NewRegistry(), Auth: auth,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SLA: r.ctl,
		Audit: func(_ context.Context, e server.AuditEntry) {
			audited = append(audited, e.User+" "+e.Action+" "+strconv.Itoa(e.Status))
		}})
	api := apiClient{t, srv}

	// Current state: nothing observed yet.
	res := api.do("GET", "/api/v1/sla", "", viewer)
	if svcs, _ := res.json["services"].([]any); res.code != 200 || len(svcs) != 3 || res.json["site"] != "dc1" ||
		svcs[0].(map[string]any)["state"] != "UNKNOWN" {
		t.Errorf("GET /sla: %d %s", res.code, res.raw)
	}

	// Maintenance: operator only, announced by the operator, now.
	good := `{"services": ["web"], "start": "2025-05-10T02:00:00+09:00", "end": "2025-05-10T04:00:00+09:00", "reason": "storage firmware"}`
	if res := api.do("POST", "/api/v1/maintenance", good, nobody); res.code != 401 {
		t.Errorf("POST /maintenance without an operator: %d, want 401", res.code)
	}
	res = api.do("POST", "/api/v1/maintenance", good, operator)
	if res.code != 201 || res.json["announced_by"] != "alice" || res.json["announced_at"] != "2025-04-05T10:00:00+09:00" {
		t.Fatalf("POST /maintenance: %d %s", res.code, res.raw)
	}
	if cl := res.json["classes"].([]any)[0].(map[string]any); cl["class"] != "planned" || cl["notice_s"] != float64(35*86400-8*3600) {
		t.Errorf("class %v", cl)
	}
	for body, fields := range map[string]string{
		`{"services": ["web"], "start": "10 May 02:00", "end": "2025-05-10T04:00:00+09:00", "reason": "x"}`: "start",
		`{"services": ["mail"], "start": "2025-05-10T02:00:00+09:00", "end": "2025-05-10T01:00:00+09:00"}`:  "reason,services,end",
		`{"service": ["web"]}`: "service",
		`{"services": "web"}`:  "services",
		``:                     "body",
		`[1]`:                  "body",
	} {
		res := api.do("POST", "/api/v1/maintenance", body, operator)
		if got := strings.Join(res.problemFields(), ","); res.code != 400 || got != fields ||
			!strings.HasPrefix(res.json["error"].(string), strings.Split(fields, ",")[0]+": ") {
			t.Errorf("POST /maintenance %s: %d %s, want 400 naming %s", body, res.code, res.raw, fields)
		}
	}
	res = api.do("GET", "/api/v1/maintenance", "", viewer)
	if ws, _ := res.json["windows"].([]any); res.code != 200 || len(ws) != 1 {
		t.Errorf("GET /maintenance: %d %s", res.code, res.raw)
	}
	if res := api.do("GET", "/api/v1/maintenance?from=yesterday", "", viewer); res.code != 400 || res.problemFields()[0] != "from" {
		t.Errorf("GET /maintenance?from=yesterday: %d %s", res.code, res.raw)
	}

	// Reports: recompute is operator-only, needs a reason and an ended month.
	if res := api.do("POST", "/api/v1/reports/2025-03/recompute", `{"reason": "initial"}`, nobody); res.code != 401 {
		t.Errorf("recompute without an operator: %d, want 401", res.code)
	}
	if res := api.do("POST", "/api/v1/reports/2025-03/recompute", `{}`, operator); res.code != 400 || res.problemFields()[0] != "reason" {
		t.Errorf("recompute without a reason: %d %s", res.code, res.raw)
	}
	if res := api.do("POST", "/api/v1/reports/2025-04/recompute", `{"reason": "x"}`, operator); res.code != 400 || res.problemFields()[0] != "month" {
		t.Errorf("recompute of the current month: %d %s", res.code, res.raw)
	}
	res = api.do("POST", "/api/v1/reports/2025-03/recompute", `{"reason": "first issue by hand"}`, operator)
	if is, _ := res.json["issued"].([]any); res.code != 201 || len(is) != 3 {
		t.Fatalf("recompute: %d %s", res.code, res.raw)
	}
	if res := api.do("POST", "/api/v1/reports/2025-03/recompute", `{"reason": "again"}`, operator); res.code != 200 ||
		!strings.Contains(string(res.raw), `"unchanged":true`) {
		t.Errorf("recompute of unchanged data: %d %s", res.code, res.raw)
	}
	res = api.do("GET", "/api/v1/reports", "", viewer)
	revs, _ := res.json["revisions"].([]any)
	if res.code != 200 || len(revs) != 3 {
		t.Fatalf("GET /reports: %d %s", res.code, res.raw)
	}
	var acmeCSV string
	for _, rv := range revs {
		rv := rv.(map[string]any)
		if rv["scope"] == "ACME" {
			acmeCSV = rv["files"].(map[string]any)["csv"].(string)
		}
		if rv["created_by"] != "alice" || rv["reason"] != "first issue by hand" || rv["number"] != float64(1) {
			t.Errorf("revision %v", rv)
		}
	}

	res = api.do("GET", "/api/v1/reports/2025-03/1/csv", "", viewer)
	if res.code != 200 || res.head["Content-Type"] != "text/csv; charset=utf-8" ||
		res.head["Content-Disposition"] != `attachment; filename="sla-report-2025-03-all-r0001.csv"` ||
		!strings.Contains(string(res.raw), ",web,core,99.9000,") || !strings.Contains(string(res.raw), ",1800,") ||
		!strings.Contains(string(res.raw), "99.9328") {
		t.Errorf("csv: %d %v\n%s", res.code, res.head, res.raw)
	}
	res = api.do("GET", acmeCSV, "", viewer)
	if res.code != 200 || strings.Count(string(res.raw), "\n") != 3 || strings.Contains(string(res.raw), "crm") {
		t.Errorf("ACME csv (%s): %d\n%s", acmeCSV, res.code, res.raw)
	}
	res = api.do("GET", "/api/v1/reports/2025-03/latest/html", "", viewer)
	if res.code != 200 || res.head["Content-Type"] != "text/html; charset=utf-8" || !strings.Contains(string(res.raw), "SLA report March 2025") {
		t.Errorf("html: %d %v", res.code, res.head)
	}
	res = api.do("GET", "/api/v1/reports/2025-03/1/pdf?scope=Globex", "", viewer)
	if res.code != 200 || res.head["Content-Type"] != "application/pdf" || !strings.HasPrefix(string(res.raw), "%PDF-") ||
		res.head["X-Report-Revision"] != "1" {
		t.Errorf("pdf: %d %v", res.code, res.head)
	}
	for path, want := range map[string]int{
		"/api/v1/reports/2025-03/7/csv":               404,
		"/api/v1/reports/2025-03/1/csv?scope=Initech": 404,
		"/api/v1/reports/2025-03/1/docx":              400,
		"/api/v1/reports/2025-13/0/csv":               400,
		"/api/v1/reports?month=March":                 400,
	} {
		if res := api.do("GET", path, "", viewer); res.code != want {
			t.Errorf("GET %s: %d %s, want %d", path, res.code, res.raw, want)
		}
	}
	if res := api.do("GET", "/api/v1/reports/2025-13/0/csv", "", viewer); strings.Join(res.problemFields(), ",") != "month,revision" {
		t.Errorf("bad month and revision: %s", res.raw)
	}

	// The month's figures as of now, from the same store as the report.
	res = api.do("GET", "/api/v1/sla/figures?month=2025-03", "", viewer)
	var webAvail float64
	figs, _ := res.json["services"].([]any)
	for _, f := range figs {
		if f := f.(map[string]any); f["service"] == "web" {
			webAvail, _ = f["availability"].(float64)
		}
	}
	if res.code != 200 || len(figs) != 3 || math.Abs(100*webAvail-99.9328) > 0.0001 {
		t.Errorf("GET /sla/figures: %d %s", res.code, res.raw)
	}
	want := []string{"alice POST /api/v1/maintenance 201"}
	if len(audited) < 1 || audited[0] != want[0] {
		t.Errorf("audit %v", audited)
	}
}
