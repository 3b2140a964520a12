package server

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func cookieOf(res response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: res.head}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestSessionLoginCSRFAndLogout(t *testing.T) {
	r := newRig(t)
	target := `{"kw": 300, "from": "2026-07-01T13:00:00+09:00", "to": "2026-07-01T16:00:00+09:00", "source": "agg"}`

	res := r.do("POST", "/api/v1/session", `{"name": "alice", "password": "`+testPassword+`"}`)
	ck := cookieOf(res, sessionCookie)
	if res.code != 200 || ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure {
		t.Fatalf("login: %d %s cookie %+v (want HttpOnly, SameSite=Strict, not Secure without TLS)", res.code, res.body, ck)
	}
	csrf, _ := res.json["csrf_token"].(string)
	if len(csrf) < 32 {
		t.Fatalf("csrf token %q", csrf)
	}
	cookie := header("Cookie", sessionCookie+"="+ck.Value)
	if res := r.do("GET", "/api/v1/session", "", cookie); res.code != 200 || res.json["csrf_token"] != csrf ||
		res.json["user"].(map[string]any)["role"] != "operator" {
		t.Errorf("whoami: %d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/demand", "", cookie); res.code != 200 {
		t.Errorf("a read with the session: %d", res.code)
	}
	// Mutating calls from the page need the token and our own Origin.
	if res := r.do("POST", "/api/v1/demand/target", target, cookie); res.code != 403 || !strings.Contains(string(res.body), csrfHeader) {
		t.Errorf("without the CSRF token: %d %s, want 403", res.code, res.body)
	}
	if res := r.do("POST", "/api/v1/demand/target", target, cookie, header(csrfHeader, "x"+csrf)); res.code != 403 {
		t.Errorf("with a wrong CSRF token: %d, want 403", res.code)
	}
	if res := r.do("POST", "/api/v1/demand/target", target, cookie, header(csrfHeader, csrf), header("Origin", "https://evil.example")); res.code != 403 {
		t.Errorf("from a foreign Origin: %d, want 403", res.code)
	}
	if res := r.do("POST", "/api/v1/demand/target", target, cookie, header(csrfHeader, csrf), header("Sec-Fetch-Site", "cross-site")); res.code != 403 {
		t.Errorf("Sec-Fetch-Site cross-site: %d, want 403", res.code)
	}
	if len(r.demand.ExternalTargets()) != 0 {
		t.Fatal("a refused call changed the targets")
	}
	res = r.do("POST", "/api/v1/demand/target", target, cookie, header(csrfHeader, csrf), header("Origin", "http://example.com"))
	if res.code != 200 || len(r.demand.ExternalTargets()) != 1 {
		t.Errorf("with the token from our own origin: %d %s", res.code, res.body)
	}
	// Logout ends the session.
	if res := r.do("DELETE", "/api/v1/session", "", cookie, header(csrfHeader, csrf)); res.code != 200 {
		t.Errorf("logout: %d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/demand", "", cookie); res.code != 401 {
		t.Errorf("after logout: %d, want 401", res.code)
	}
	// Secure over TLS.
	rt := newRig(t, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "cert.pem", "key.pem" })
	res = rt.do("POST", "/api/v1/session", `{"name": "alice", "password": "`+testPassword+`"}`)
	if ck := cookieOf(res, sessionCookie); ck == nil || !ck.Secure || res.head.Get("Strict-Transport-Security") == "" {
		t.Errorf("over TLS: cookie %+v, HSTS %q", ck, res.head.Get("Strict-Transport-Security"))
	}
}

// TestCrossSiteTextPlainIsRefused: a form or text/plain post (what
// another site's page can send without a preflight) never changes anything,
// basic credentials or not.
func TestCrossSiteTextPlainIsRefused(t *testing.T) {
	r := newRig(t)
	body := `{"kw": 300, "from": "2026-07-01T13:00:00+09:00", "to": "2026-07-01T16:00:00+09:00", "source": "agg"}`
	for _, tc := range []struct {
		name string
		prep []func(*http.Request)
		want int
	}{
		{"text/plain from a foreign origin", []func(*http.Request){as("alice"), header("Content-Type", "text/plain"), header("Origin", "https://evil.example")}, 403},
		{"text/plain, same origin", []func(*http.Request){as("alice"), header("Content-Type", "text/plain")}, 415},
		{"a form", []func(*http.Request){as("alice"), header("Content-Type", "application/x-www-form-urlencoded")}, 415},
		{"JSON from a foreign origin", []func(*http.Request){as("alice"), header("Origin", "null")}, 403},
	} {
		if res := r.do("POST", "/api/v1/demand/target", body, tc.prep...); res.code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, res.code, res.body, tc.want)
		}
	}
	if n := len(r.demand.ExternalTargets()); n != 0 {
		t.Errorf("%d targets set by refused calls", n)
	}
}

func TestTokens(t *testing.T) {
	tok, sum := NewToken()
	auth, err := NewAuthenticator(AuthConfig{Tokens: []Token{{Name: "grafana", Role: RoleViewer, SHA256: sum}}})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(c *Config) { c.Auth = auth })
	if res := r.do("GET", "/api/v1/live", "", header("Authorization", "Bearer "+tok)); res.code != 200 {
		t.Errorf("viewer token: %d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/live", "", header("Authorization", "Bearer "+tok+"x")); res.code != 401 {
		t.Errorf("wrong token: %d", res.code)
	}
	if res := r.do("DELETE", "/api/v1/demand/target?source=x", "", header("Authorization", "Bearer "+tok)); res.code != 403 {
		t.Errorf("viewer token changing things: %d, want 403", res.code)
	}
	if strings.Contains(sum, tok) || len(sum) != 64 {
		t.Errorf("the stored form %q is not a SHA-256", sum)
	}
}

func TestLoginRateLimit(t *testing.T) {
	r := newRig(t)
	login := func(name, pass string, prep ...func(*http.Request)) int {
		return r.do("POST", "/api/v1/session", `{"name": "`+name+`", "password": "`+pass+`"}`, prep...).code
	}
	for i := range int(perUser.burst) {
		if code := login("alice", "guess"); code != 401 {
			t.Fatalf("guess %v: %d, want 401", i+1, code)
		}
	}
	res := r.do("POST", "/api/v1/session", `{"name": "alice", "password": "guess"}`)
	if res.code != 429 || res.head.Get("Retry-After") == "" {
		t.Errorf("guess 6: %d (Retry-After %q), want 429", res.code, res.head.Get("Retry-After"))
	}
	if code := login("alice", testPassword); code != 429 {
		t.Errorf("the right password while locked: %d, want 429 (no oracle)", code)
	}
	// Basic auth counts against the same limit.
	if res := r.do("GET", "/api/v1/live", "", func(req *http.Request) { req.SetBasicAuth("alice", "guess") }); res.code != 429 {
		t.Errorf("basic auth while locked: %d, want 429", res.code)
	}
	// Another user from the same address is not locked out by alice's.
	if code := login("vera", testPassword); code != 200 {
		t.Errorf("another user: %d, want 200", code)
	}
	r.advance(perUser.every)
	if code := login("alice", testPassword); code != 200 {
		t.Errorf("after %s: %d, want 200", perUser.every, code)
	}
	// Per address: guesses at many names from one address.
	r2 := newRig(t)
	limited := 0
	for i := range 30 {
		code := r2.do("POST", "/api/v1/session", `{"name": "user`+string(rune('a'+i))+`", "password": "x"}`).code
		if code == 429 {
			limited++
		}
	}
	if limited != 30-int(perAddress.burst) {
		t.Errorf("%d of 30 guesses at different names limited, want %d", limited, 30-int(perAddress.burst))
	}
}

// TestUnknownNamesCostTheSame: the dummy hash has the cost of the real ones.
func TestUnknownNamesCostTheSame(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, 6} {
		h, _ := bcrypt.GenerateFromPassword([]byte(testPassword), cost)
		a, err := NewAuthenticator(AuthConfig{Users: []User{{Name: "alice", Role: RoleOperator, PasswordHash: string(h)}}})
		if err != nil {
			t.Fatal(err)
		}
		if a.DummyCost() != cost {
			t.Errorf("users of cost %d: dummy cost %d", cost, a.DummyCost())
		}
		if _, ok := a.Verify("mallory", testPassword); ok {
			t.Error("an unknown name was accepted")
		}
	}
	a, _ := NewAuthenticator(AuthConfig{})
	if a.DummyCost() != defaultCost {
		t.Errorf("without users: dummy cost %d, want %d", a.DummyCost(), defaultCost)
	}
	if _, err := NewAuthenticator(AuthConfig{Users: []User{{Name: "bob", Role: RoleOperator, PasswordHash: "plaintext"}}}); err == nil {
		t.Error("a non-bcrypt password_hash was accepted")
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
}

func TestNoUsersNobodyLogsIn(t *testing.T) {
	auth, _ := NewAuthenticator(AuthConfig{})
	r := newRig(t, func(c *Config) { c.Auth = auth })
	if res := r.do("GET", "/api/v1/live", "", as("alice")); res.code != 401 || !strings.Contains(string(res.body), "no users are configured") {
		t.Errorf("no users: %d %s", res.code, res.body)
	}
	r2 := newRig(t, func(c *Config) { c.Auth = nil })
	if res := r2.do("GET", "/api/v1/live", ""); res.code != 401 {
		t.Errorf("nil Auth: %d", res.code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	r := newRig(t)
	for _, path := range []string{"/healthz", "/api/v1/live", "/nope"} {
		res := r.do("GET", path, "", as("vera"))
		csp := res.head.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			res.head.Get("X-Content-Type-Options") != "nosniff" || res.head.Get("Referrer-Policy") != "no-referrer" || res.head.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, res.head)
		}
	}
	if res := r.do("GET", "/api/v1/live", "", as("vera")); res.head.Get("Cache-Control") != "no-store" {
		t.Errorf("API responses cacheable: %q", res.head.Get("Cache-Control"))
	}
}

// TestOpenAPIMatchesRoutes: every route Fiber serves is documented and
// every documented route is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	r := newRig(t)
	res := r.do("GET", "/api/v1/openapi.json", "")
	paths, _ := res.json["paths"].(map[string]any)
	if res.code != 200 || res.json["openapi"] != "3.0.3" || len(paths) == 0 {
		t.Fatalf("openapi: %d %.300s", res.code, res.body)
	}
	documented := map[string]bool{}
	for p, item := range paths {
		for m := range item.(map[string]any) {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range r.srv.App().GetRoutes(true) {
		if rt.Method == "HEAD" || rt.Method == "USE" || rt.Path == "/" || strings.HasSuffix(rt.Path, "*") {
			continue
		}
		served[rt.Method+" "+openAPIPath(rt.Path)] = true
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("%s is served but not documented", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("%s is documented but not served", k)
		}
	}
	if len(served) < 25 {
		t.Errorf("only %d routes served", len(served))
	}
}

func TestAuditRecordsWhatChanged(t *testing.T) {
	r := newRig(t)
	reason := "storage firmware on array 7 (unique-reason-marker)"
	r.do("POST", "/api/v1/demand/target", `{"kw": 350, "from": "2026-07-01T13:00:00+09:00", "to": "2026-07-01T16:00:00+09:00", "source": "agg"}`, as("alice"))
	r.do("POST", "/api/v1/maintenance", `{"services": ["web"], "start": "2026-07-10T02:00:00+09:00", "end": "2026-07-10T04:00:00+09:00", "reason": "`+reason+`"}`, as("alice"))
	r.do("DELETE", "/api/v1/demand/target", "", as("alice"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.audited) != 3 {
		t.Fatalf("%d audit entries, want 3: %+v", len(r.audited), r.audited)
	}
	a := r.audited[0]
	if a.User != "alice" || a.Action != "POST /api/v1/demand/target" || a.Status != 200 || a.Changes["kw"] != 350.0 ||
		a.Changes["from"] != "2026-07-01T13:00:00+09:00" || a.Changes["to"] != "2026-07-01T16:00:00+09:00" || a.Changes["source"] != "agg" {
		t.Errorf("target audit %+v", a)
	}
	m := r.audited[1]
	if m.Status != 201 || m.Changes["reason"] != reason || m.Changes["start"] != "2026-07-10T02:00:00+09:00" || m.Changes["services"] != "web" {
		t.Errorf("maintenance audit %+v", m)
	}
	if d := r.audited[2]; d.Status != 400 {
		t.Errorf("refused DELETE audit %+v", d)
	}
	if n := strings.Count(r.logs.String(), "unique-reason-marker"); n != 1 {
		t.Errorf("the reason is logged %d times, want once:\n%s", n, r.logs.String())
	}
	// Admin reads the trail.
	r.mu.Unlock()
	res := r.do("GET", "/api/v1/audit?limit=2", "", as("ada"))
	r.mu.Lock()
	if es, _ := res.json["entries"].([]any); res.code != 200 || len(es) != 2 || es[0].(map[string]any)["action"] != "DELETE /api/v1/demand/target" {
		t.Errorf("GET /audit: %d %s", res.code, res.body)
	}

}
