package demandctl_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/server"
)

const operatorPassword = "correct horse battery"

// The users of the API tests: none, a viewer and an operator.
const (
	nobody   = ""
	viewer   = "vera"
	operator = "alice"
)

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
	clock := clockwork.NewFakeClockAt(at("13:20:00"))
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: &fakeStore{power: scenarioSamples(at("12:20:00"), at("13:40:00"))}, Points: &memPoints{}, Logger: quietLogger(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var audited []string
	srv := server.New(server.Config{Site: "dc1", Gatherer: prometheus.NewRegistry(), Auth: auth, Logger: quietLogger(),
		Demand: c,
		Audit: func(_ context.Context, e server.AuditEntry) {
			audited = append(audited, e.User+" "+e.Action+" "+strconv.Itoa(e.Status))
		}})
	do := func(method, path, body, user string) (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, operatorPassword)
		}
		resp, err := srv.App().Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, m
	}

	if code, m := do("GET", "/api/v1/demand", "", viewer); code != 503 || !strings.Contains(m["error"].(string), "first tick") {
		t.Errorf("before a tick: %d %v, want 503", code, m)
	}
	if _, err := c.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, m := do("GET", "/api/v1/demand", "", viewer)
	if code != 200 || m["site"] != "dc1" || m["stage"] != "shed" || m["limit"] != "contract" || m["request"] == nil {
		t.Errorf("GET: %d %v", code, m)
	}

	good := `{"kw": 350, "from": "2024-07-03T13:00:00+09:00", "to": "2024-07-03T15:00:00+09:00", "source": "aggregator-x"}`
	if code, _ := do("POST", "/api/v1/demand/target", good, nobody); code != 401 {
		t.Errorf("POST without an operator: %d, want 401", code)
	}
	if code, _ := do("DELETE", "/api/v1/demand/target", "", nobody); code != 401 {
		t.Errorf("DELETE without an operator: %d, want 401", code)
	}

	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"not JSON", `kw=350`, []string{"body"}},
		{"empty", ``, []string{"body"}},
		{"an array", `[1]`, []string{"body"}},
		{"kw as a string", `{"kw": "350"}`, []string{"kw"}},
		{"unknown field", `{"kwh": 350}`, []string{"kwh"}},
		{"everything missing", `{}`, []string{"kw", "from", "to", "source"}},
		{"bad values", `{"kw": -1, "from": "13:00", "to": "2024-07-03T15:00:00+09:00", "source": "agg x", "block": "20m"}`,
			[]string{"kw", "from", "source", "block"}},
		{"to before from", `{"kw": 350, "from": "2024-07-03T15:00:00+09:00", "to": "2024-07-03T14:00:00+09:00", "source": "a"}`, []string{"to"}},
		{"in the past", `{"kw": 350, "from": "2024-07-03T10:00:00+09:00", "to": "2024-07-03T11:00:00+09:00", "source": "a"}`, []string{"to"}},
		{"too long", `{"kw": 350, "from": "2024-07-03T10:00:00+09:00", "to": "2025-07-03T11:00:00+09:00", "source": "a"}`, []string{"to"}},
	} {
		code, m := do("POST", "/api/v1/demand/target", tc.body, operator)
		if code != 400 {
			t.Errorf("%s: %d %v, want 400", tc.name, code, m)
			continue
		}
		probs, _ := m["problems"].([]any)
		var fields []string
		for _, p := range probs {
			fields = append(fields, p.(map[string]any)["field"].(string))
		}
		if strings.Join(fields, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("%s: fields %v, want %v (error %q)", tc.name, fields, tc.fields, m["error"])
		}
		if msg, _ := m["error"].(string); !strings.HasPrefix(msg, tc.fields[0]+": ") {
			t.Errorf("%s: error %q does not start with the field", tc.name, msg)
		}
	}

	code, m = do("POST", "/api/v1/demand/target", good, operator)
	if code != 200 || m["replaced"] != false {
		t.Fatalf("POST: %d %v", code, m)
	}
	clock.Advance(10 * time.Second)
	d, err := c.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Limit != "external:aggregator-x" {
		t.Errorf("after POST the strictest limit is %q, want the target", d.Limit)
	}
	code, m = do("GET", "/api/v1/demand", "", viewer)
	if targets, _ := m["external_targets"].([]any); code != 200 || len(targets) != 1 {
		t.Errorf("GET after POST: %d external_targets %v", code, m["external_targets"])
	}
	if code, m := do("POST", "/api/v1/demand/target", good, operator); code != 200 || m["replaced"] != true {
		t.Errorf("POST again: %d %v, want 200 replaced", code, m)
	}
	if code, _ := do("DELETE", "/api/v1/demand/target?source=nobody", "", operator); code != 404 {
		t.Errorf("DELETE of an unknown source: %d, want 404", code)
	}
	if code, m := do("DELETE", "/api/v1/demand/target?source=aggregator-x", "", operator); code != 200 || m["removed"] != 1.0 {
		t.Errorf("DELETE: %d %v", code, m)
	}
	if n := len(c.ExternalTargets()); n != 0 {
		t.Errorf("%d targets after DELETE", n)
	}
	// Every operator request is audited, the refused ones included.
	if len(audited) != 14 || audited[0] != "alice POST /api/v1/demand/target 400" || audited[13] != "alice DELETE /api/v1/demand/target 200" {
		t.Errorf("audit trail %v", audited)
	}
}
