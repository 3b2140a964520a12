package server

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// allowedSets is who may use each route: "none" (no credentials) and
// "wrong" (a wrong password) first, then the roles. It is written out, not
// derived from the route table, so a route whose role changes fails here.
var allowedSets = map[string]string{
	"GET /healthz":                                 "none wrong viewer operator admin customer",
	"GET /metrics":                                 "viewer operator admin",
	"GET /api/v1/openapi.json":                     "none wrong viewer operator admin customer",
	"GET /api/v1/version":                          "viewer operator admin customer",
	"POST /api/v1/session":                         "none wrong viewer operator admin customer",
	"GET /api/v1/session":                          "viewer operator admin customer",
	"DELETE /api/v1/session":                       "viewer operator admin customer",
	"GET /api/v1/users":                            "admin",
	"GET /api/v1/audit":                            "admin",
	"GET /api/v1/live":                             "viewer operator admin",
	"GET /api/v1/stream":                           "viewer operator admin",
	"GET /api/v1/sites":                            "viewer operator admin",
	"GET /api/v1/series":                           "viewer operator admin",
	"GET /api/v1/demand":                           "viewer operator admin",
	"POST /api/v1/demand/target":                   "operator admin",
	"DELETE /api/v1/demand/target":                 "operator admin",
	"GET /api/v1/sla":                              "viewer operator admin customer",
	"GET /api/v1/sla/figures":                      "viewer operator admin customer",
	"GET /api/v1/reports":                          "viewer operator admin customer",
	"GET /api/v1/reports/:month/:revision/:format": "viewer operator admin customer",
	"POST /api/v1/reports/:month/recompute":        "operator admin",
	"GET /api/v1/maintenance":                      "viewer operator admin",
	"POST /api/v1/maintenance":                     "operator admin",
	"POST /api/v1/maintenance/check":               "operator admin",
	"GET /api/v1/plans":                            "viewer operator admin",
	"GET /api/v1/plans/:id":                        "viewer operator admin",
	"POST /api/v1/plans/:id/approve":               "operator admin",
	"POST /api/v1/plans/:id/cancel":                "operator admin",
	"GET /api/v1/shed/mode":                        "viewer operator admin",
	"PUT /api/v1/shed/mode":                        "admin",
	"GET /api/v1/cost":                             "operator admin",
	"GET /api/v1/incidents":                        "viewer operator admin customer",
	"POST /api/v1/maintenance/import":              "operator admin",
	"GET /api/v1/alarms":                           "viewer operator admin",
	// users.go
	"POST /api/v1/users":                    "admin",
	"PATCH /api/v1/users/:name":             "admin",
	"PUT /api/v1/users/:name/password":      "admin",
	"DELETE /api/v1/users/:name":            "admin",
	"POST /api/v1/users/:name/tokens":       "admin",
	"DELETE /api/v1/users/:name/tokens/:id": "admin",
}

// validBodies make each mutating call well-formed, so only the role decides.
var validBodies = map[string]string{
	"POST /api/v1/session":                  `{"name": "vera", "password": "` + testPassword + `"}`,
	"POST /api/v1/demand/target":            `{"kw": 350, "from": "2026-07-01T13:00:00+09:00", "to": "2026-07-01T16:00:00+09:00", "source": "aggregator-x"}`,
	"POST /api/v1/reports/:month/recompute": `{"reason": "late probe data"}`,
	"POST /api/v1/maintenance":              `{"services": ["web"], "start": "2026-07-10T02:00:00+09:00", "end": "2026-07-10T04:00:00+09:00", "reason": "firmware"}`,
	"POST /api/v1/maintenance/check":        `{"services": ["web"], "start": "2026-07-10T02:00:00+09:00", "end": "2026-07-10T04:00:00+09:00", "reason": "firmware"}`,
	"POST /api/v1/plans/:id/cancel":         `{"reason": "batch job"}`,
	"PUT /api/v1/shed/mode":                 `{"mode": "approve"}`,
	"POST /api/v1/maintenance/import":       `{"file": "cal.csv", "csv": "services,start,end,announced_at,announced_by,reason\nweb,2026-07-10T02:00:00+09:00,2026-07-10T04:00:00+09:00,2026-06-01T10:00:00+09:00,alice,firmware\n"}`,
	// users.go
	"POST /api/v1/users":               `{"name": "nina", "role": "viewer", "password": "` + testPassword + `"}`,
	"PATCH /api/v1/users/:name":        `{"role": "operator"}`,
	"PUT /api/v1/users/:name/password": `{"password": "` + testPassword + `!"}`,
}

var pathValues = strings.NewReplacer(":month", "2026-06", ":revision", "1", ":format", "csv", ":id", "p1", ":name", "nina")

func concretePath(rt route) string {
	p := pathValues.Replace(rt.Path)
	if rt.Method == "DELETE" && rt.Path == "/api/v1/demand/target" {
		p += "?source=aggregator-x"
	}
	return p
}

// TestEveryRouteAllowsExactlyItsRoles walks every registered route with no
// user, a wrong password and each role.
func TestEveryRouteAllowsExactlyItsRoles(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.srv.cfg.Live.Run(ctx) // closes Done, so the stream answers and ends

	var registered []string
	for _, rt := range r.srv.routes {
		registered = append(registered, rt.Method+" "+rt.Path)
	}
	var listed []string
	for k := range allowedSets {
		listed = append(listed, k)
	}
	sort.Strings(registered)
	sort.Strings(listed)
	if strings.Join(registered, "\n") != strings.Join(listed, "\n") {
		t.Fatalf("routes registered:\n%s\n\nlisted in allowedSets:\n%s", strings.Join(registered, "\n"), strings.Join(listed, "\n"))
	}

	identities := []struct {
		name string
		prep func(*http.Request)
	}{
		{"none", func(*http.Request) {}},
		{"wrong", func(req *http.Request) { req.SetBasicAuth("alice", "not the password") }},
		{"viewer", as("vera")}, {"operator", as("alice")}, {"admin", as("ada")}, {"customer", as("cora")},
	}
	for _, id := range identities {
		for _, rt := range r.srv.routes {
			key := rt.Method + " " + rt.Path
			res := r.do(rt.Method, concretePath(rt), validBodies[key], id.prep)
			want := strings.Contains(" "+allowedSets[key]+" ", " "+id.name+" ")
			got := res.code != 401 && res.code != 403 && res.code != 429
			if id.name == "wrong" {
				r.advance(perUser.every) // one failure per period stays under the login rate limit
			}
			if got != want {
				t.Errorf("%s as %s: %d %s (allowed: %s)", key, id.name, res.code, res.body, allowedSets[key])
			}
			if res.code >= 500 {
				t.Errorf("%s as %s: %d %s", key, id.name, res.code, res.body)
			}
			if !want && id.name == "none" && res.code != 401 {
				t.Errorf("%s without credentials: %d, want 401", key, res.code)
			}
			if !want && id.name == "wrong" && res.code != 401 {
				t.Errorf("%s with a wrong password: %d, want 401", key, res.code)
			}
		}
	}
}
