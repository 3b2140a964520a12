package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeUserStore is a UserStore in memory.
type fakeUserStore struct {
	mu    sync.Mutex
	users map[string]StoredUser
}

func newFakeUserStore() *fakeUserStore { return &fakeUserStore{users: map[string]StoredUser{}} }

func (f *fakeUserStore) ListUsers(context.Context) ([]StoredUser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []StoredUser{}
	for _, u := range f.users {
		u.Tokens = append([]StoredToken(nil), u.Tokens...)
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeUserStore) PutUser(_ context.Context, u StoredUser) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u.Tokens = append([]StoredToken(nil), u.Tokens...)
	f.users[u.Name] = u
	return nil
}

func (f *fakeUserStore) DeleteUser(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.users, name)
	return nil
}

const newPassword = "a long enough password"

func basic(user, pass string) func(*http.Request) {
	return func(req *http.Request) { req.SetBasicAuth(user, pass) }
}

// TestAdminManagesStoredUsers creates a user, logs in as them, issues a
// token, disables them (session and token stop at once), and checks the
// audit trail names the changes but never the password or token.
func TestAdminManagesStoredUsers(t *testing.T) {
	r := newRig(t)
	admin := as("ada")

	// Password policy and name validation answer 400 naming the field.
	res := r.do("POST", "/api/v1/users", `{"name": "bob", "role": "operator", "password": "short"}`, admin)
	if res.code != 400 || strings.Join(res.fields(), ",") != "password" {
		t.Fatalf("short password: %d %s", res.code, res.body)
	}
	res = r.do("POST", "/api/v1/users", `{"name": "../bob", "role": "boss", "password": "`+newPassword+`"}`, admin)
	if res.code != 400 || strings.Join(res.fields(), ",") != "name,role" {
		t.Fatalf("bad name and role: %d %s", res.code, res.body)
	}
	res = r.do("POST", "/api/v1/users", `{"name": "cust", "role": "customer", "password": "`+newPassword+`"}`, admin)
	if res.code != 400 || strings.Join(res.fields(), ",") != "customer" {
		t.Fatalf("customer without scope: %d %s", res.code, res.body)
	}
	// A configured name cannot be created in the store.
	if res := r.do("POST", "/api/v1/users", `{"name": "alice", "role": "viewer", "password": "`+newPassword+`"}`, admin); res.code != 409 {
		t.Fatalf("config name: %d %s", res.code, res.body)
	}

	if res := r.do("POST", "/api/v1/users", `{"name": "bob", "role": "operator", "password": "`+newPassword+`"}`, admin); res.code != 201 {
		t.Fatalf("create: %d %s", res.code, res.body)
	}
	if res := r.do("POST", "/api/v1/users", `{"name": "bob", "role": "viewer", "password": "`+newPassword+`"}`, admin); res.code != 409 {
		t.Fatalf("create twice: %d %s", res.code, res.body)
	}
	// bob logs in with a session and changes something.
	res = r.do("POST", "/api/v1/session", `{"name": "bob", "password": "`+newPassword+`"}`)
	ck := cookieOf(res, sessionCookie)
	if res.code != 200 || ck == nil {
		t.Fatalf("bob login: %d %s", res.code, res.body)
	}
	cookie := header("Cookie", sessionCookie+"="+ck.Value)
	if res := r.do("GET", "/api/v1/session", "", cookie); res.code != 200 || res.json["user"].(map[string]any)["role"] != "operator" {
		t.Fatalf("bob session: %d %s", res.code, res.body)
	}
	// bob is an operator: the users are not his to see.
	if res := r.do("GET", "/api/v1/users", "", cookie); res.code != 403 {
		t.Fatalf("bob lists users: %d", res.code)
	}
	// A token for bob, shown once.
	res = r.do("POST", "/api/v1/users/bob/tokens", "", admin)
	token, _ := res.json["token"].(string)
	id, _ := res.json["id"].(string)
	if res.code != 201 || !strings.HasPrefix(token, "sst_") || id == "" {
		t.Fatalf("issue token: %d %s", res.code, res.body)
	}
	bearer := header("Authorization", "Bearer "+token)
	if res := r.do("GET", "/api/v1/live", "", bearer); res.code == 401 || res.code == 403 {
		t.Fatalf("bob's token: %d %s", res.code, res.body)
	}
	// The list marks the sources and never shows a hash or token.
	res = r.do("GET", "/api/v1/users", "", admin)
	if res.code != 200 || strings.Contains(string(res.body), token) || strings.Contains(string(res.body), "$2a$") {
		t.Fatalf("list: %d %s", res.code, res.body)
	}
	sources := map[string]string{}
	for _, u := range res.json["users"].([]any) {
		m := u.(map[string]any)
		sources[m["name"].(string)] = m["source"].(string)
	}
	if sources["bob"] != "store" || sources["alice"] != "config" {
		t.Fatalf("sources: %v", sources)
	}

	// Disabled: the session, the token and basic auth stop at once.
	if res := r.do("PATCH", "/api/v1/users/bob", `{"disabled": true}`, admin); res.code != 200 {
		t.Fatalf("disable: %d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/session", "", cookie); res.code != 401 {
		t.Fatalf("disabled bob's session: %d", res.code)
	}
	if res := r.do("GET", "/api/v1/live", "", bearer); res.code != 401 {
		t.Fatalf("disabled bob's token: %d", res.code)
	}
	if res := r.do("GET", "/api/v1/version", "", basic("bob", newPassword)); res.code != 401 {
		t.Fatalf("disabled bob's password: %d", res.code)
	}
	// Enabled again with a new password: the old one no longer works.
	r.do("PATCH", "/api/v1/users/bob", `{"disabled": false}`, admin)
	if res := r.do("PUT", "/api/v1/users/bob/password", `{"password": "another long password"}`, admin); res.code != 200 {
		t.Fatalf("reset: %d %s", res.code, res.body)
	}
	r.advance(time.Minute)
	if res := r.do("GET", "/api/v1/version", "", basic("bob", newPassword)); res.code != 401 {
		t.Fatalf("old password after reset: %d", res.code)
	}
	if res := r.do("GET", "/api/v1/version", "", basic("bob", "another long password")); res.code != 200 {
		t.Fatalf("new password: %d %s", res.code, res.body)
	}
	// The token still works until revoked.
	if res := r.do("GET", "/api/v1/live", "", bearer); res.code == 401 {
		t.Fatalf("token after re-enable: %d", res.code)
	}
	if res := r.do("DELETE", "/api/v1/users/bob/tokens/"+id, "", admin); res.code != 200 {
		t.Fatalf("revoke: %d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/live", "", bearer); res.code != 401 {
		t.Fatalf("revoked token: %d", res.code)
	}
	// Demoted to viewer: the role changes on the next request.
	r.do("PATCH", "/api/v1/users/bob", `{"role": "viewer"}`, admin)
	if res := r.do("POST", "/api/v1/demand/target", `{"kw": 300, "from": "2026-07-01T13:00:00+09:00", "to": "2026-07-01T16:00:00+09:00", "source": "agg"}`,
		basic("bob", "another long password")); res.code != 403 {
		t.Fatalf("viewer bob changes a target: %d", res.code)
	}
	if res := r.do("DELETE", "/api/v1/users/bob", "", admin); res.code != 200 {
		t.Fatalf("delete: %d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/version", "", basic("bob", "another long password")); res.code != 401 {
		t.Fatalf("deleted bob: %d", res.code)
	}
	// Configured users are read-only.
	if res := r.do("PATCH", "/api/v1/users/alice", `{"disabled": true}`, admin); res.code != 409 {
		t.Fatalf("patch config user: %d %s", res.code, res.body)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	var seen []string
	for _, e := range r.audited {
		if !strings.Contains(e.Action, "/users") {
			continue
		}
		for k, v := range e.Changes {
			s := fmt.Sprint(v)
			if strings.Contains(s, newPassword) || strings.Contains(s, token) || strings.Contains(s, "another long") {
				t.Errorf("audit %s leaks a secret: %s=%s", e.Action, k, s)
			}
		}
		seen = append(seen, fmt.Sprintf("%s %d %v", e.Action, e.Status, e.Changes))
	}
	all := strings.Join(seen, "\n")
	for _, want := range []string{"POST /api/v1/users 201 map[role:operator user:bob]", "PATCH /api/v1/users/:name 200 map[disabled:true user:bob]",
		"PUT /api/v1/users/:name/password 200 map[password:reset user:bob]", "PATCH /api/v1/users/:name 200 map[role:operator -> viewer user:bob]",
		"DELETE /api/v1/users/:name 200 map[deleted:true user:bob]", "token:revoked " + id} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %q:\n%s", want, all)
		}
	}
}

// TestLastEnabledAdminIsKept refuses to delete, demote or disable the last
// admin who can log in.
func TestLastEnabledAdminIsKept(t *testing.T) {
	r := newRig(t)
	if res := r.do("POST", "/api/v1/users", `{"name": "sam", "role": "admin", "password": "`+newPassword+`"}`, as("ada")); res.code != 201 {
		t.Fatalf("create: %d %s", res.code, res.body)
	}
	// A configuration without admins: sam is the only one.
	delete(r.srv.cfg.Auth.users, "ada")
	sam := basic("sam", newPassword)
	for _, c := range []struct{ method, path, body, field string }{
		{"DELETE", "/api/v1/users/sam", "", "user"},
		{"PATCH", "/api/v1/users/sam", `{"role": "operator"}`, "role"},
		{"PATCH", "/api/v1/users/sam", `{"disabled": true}`, "disabled"},
	} {
		if res := r.do(c.method, c.path, c.body, sam); res.code != 409 || !strings.Contains(string(res.body), "last enabled admin") ||
			!strings.HasPrefix(res.json["error"].(string), c.field+`: user "sam" is the last enabled admin`) {
			t.Errorf("%s %s %s: %d %s", c.method, c.path, c.body, res.code, res.body)
		}
	}
	// With a second admin, sam may go.
	r.do("POST", "/api/v1/users", `{"name": "tom", "role": "admin", "password": "`+newPassword+`"}`, sam)
	if res := r.do("PATCH", "/api/v1/users/sam", `{"disabled": true}`, sam); res.code != 200 {
		t.Fatalf("disable with another admin: %d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/users", "", sam); res.code != 401 {
		t.Fatalf("disabled sam: %d", res.code)
	}
}

// TestUserRoutesWithoutStore answer 503 naming the setting.
func TestUserRoutesWithoutStore(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Users = nil })
	res := r.do("POST", "/api/v1/users", `{"name": "bob", "role": "operator", "password": "`+newPassword+`"}`, as("ada"))
	if res.code != 503 || !strings.Contains(string(res.body), "server.user_store") {
		t.Fatalf("%d %s", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/users", "", as("ada")); res.code != 200 || res.json["store"] != false {
		t.Fatalf("list: %d %s", res.code, res.body)
	}
}

// TestDummyHashCostsWhatAStoredUserDoes: with a user store, new users are
// hashed at the authenticator's cost, which may exceed the configured
// users' cost; an unknown name must then cost as much as a stored one, or
// stored names could be told apart by timing.
func TestDummyHashCostsWhatAStoredUserDoes(t *testing.T) {
	r := newRig(t)
	a := r.srv.cfg.Auth
	before := a.DummyCost()
	a.cost = before + 2
	if err := r.srv.LoadUsers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := a.DummyCost(); got != before+2 {
		t.Fatalf("dummy cost %d after loading a store whose hashes cost %d (was %d)", got, before+2, before)
	}
}

// TestTokenNameAndLastUse: a token may carry a name (checked, unique per
// user); the list shows its name and, once it authenticated a request,
// when it was last used; neither the token nor its hash is listed; errors
// name the field.
func TestTokenNameAndLastUse(t *testing.T) {
	r := newRig(t)
	admin := as("ada")
	if res := r.do("POST", "/api/v1/users", `{"name": "bob", "role": "viewer", "password": "`+newPassword+`"}`, admin); res.code != 201 {
		t.Fatalf("create: %d %s", res.code, res.body)
	}
	res := r.do("POST", "/api/v1/users/bob/tokens", `{"name": "grafana"}`, admin)
	token, _ := res.json["token"].(string)
	if res.code != 201 || res.json["name"] != "grafana" || token == "" {
		t.Fatalf("issue named: %d %s", res.code, res.body)
	}
	for _, c := range []struct{ body, field string }{
		{`{"name": "grafana"}`, "name: "},
		{`{"name": "` + strings.Repeat("x", 65) + `"}`, "name: longer than 64"},
		{`{"name": "a\u0007b"}`, "name: contains a control character"},
		{`{"label": "x"}`, "label: unknown field"},
	} {
		if res := r.do("POST", "/api/v1/users/bob/tokens", c.body, admin); res.code < 400 || res.code > 409 || !strings.Contains(string(res.body), c.field) {
			t.Errorf("%s: %d %s", c.body, res.code, res.body)
		}
	}
	listed := func() map[string]any {
		t.Helper()
		res := r.do("GET", "/api/v1/users", "", admin)
		if strings.Contains(string(res.body), token) || strings.Contains(string(res.body), "sha256") {
			t.Fatalf("list shows a secret: %s", res.body)
		}
		for _, u := range res.json["users"].([]any) {
			if m := u.(map[string]any); m["name"] == "bob" {
				return m["tokens"].([]any)[0].(map[string]any)
			}
		}
		t.Fatalf("no bob: %s", res.body)
		return nil
	}
	if tok := listed(); tok["name"] != "grafana" || tok["last_used"] != nil {
		t.Fatalf("unused token: %v", tok)
	}
	if res := r.do("GET", "/api/v1/live", "", header("Authorization", "Bearer "+token)); res.code != 200 {
		t.Fatalf("use: %d %s", res.code, res.body)
	}
	if tok := listed(); tok["last_used"] == nil {
		t.Fatalf("used token without last_used: %v", tok)
	}
	// Kept with the user's next change.
	r.do("PATCH", "/api/v1/users/bob", `{"role": "operator"}`, admin)
	us, _ := r.srv.cfg.Users.ListUsers(context.Background())
	if len(us) != 1 || len(us[0].Tokens) != 1 || us[0].Tokens[0].LastUsed.IsZero() || us[0].Tokens[0].Name != "grafana" {
		t.Fatalf("stored: %+v", us)
	}
	// An unnamed token still needs no body.
	if res := r.do("POST", "/api/v1/users/bob/tokens", "", admin); res.code != 201 {
		t.Fatalf("issue unnamed: %d %s", res.code, res.body)
	}
	if res := r.do("DELETE", "/api/v1/users/bob/tokens/nope", "", admin); res.code != 404 || !strings.Contains(string(res.body), "id: ") {
		t.Fatalf("revoke unknown: %d %s", res.code, res.body)
	}
}
