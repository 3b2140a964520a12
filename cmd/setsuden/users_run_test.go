package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testinflux"
	_ "modernc.org/sqlite"
)

// TestRunUserCreatedThroughAPISurvivesRestart: an admin of the
// configuration creates an operator through `setsuden run`'s API; the
// operator lands in the user store's SQLite file (read here read-only),
// logs in after a restart of the daemon, and once disabled cannot. The
// store is executor.store by default (server.user_store unset), else
// server.user_store, and then executor.store holds no user.
func TestRunUserCreatedThroughAPISurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	db := testinflux.Start(t)
	bin := buildBinary(t)
	for _, c := range []struct {
		name      string
		userStore bool
	}{{"default is executor.store", false}, {"server.user_store", true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			execStore := filepath.Join(dir, "executor.db")
			want, userStore := execStore, ""
			if c.userStore {
				want = filepath.Join(dir, "users.db")
				userStore = fmt.Sprintf("\n  user_store: %q", want)
			}
			conf := filepath.Join(dir, "setsuden.yaml")
			if err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: users}
influx: {url: %s, bucket: %s, flush_interval: 200ms, queue_dir: %s}
executor: {store: %q}
server:
  listen: "127.0.0.1:0"%s
  users: [{name: ada, role: admin, password_hash: %q}]
`, db.URL, db.Bucket(), filepath.Join(dir, "queue"), execStore, userStore, viewerHash(t))), 0o644); err != nil {
				t.Fatal(err)
			}
			runUserRestart(t, bin, dir, conf, func() {
				if got := storedUserNames(t, want); got != "olga" {
					t.Fatalf("users in %s: %q, want olga", want, got)
				}
				if c.userStore {
					if got := storedUserNames(t, execStore); got != "" {
						t.Fatalf("users in executor.store %s with server.user_store set: %q, want none", execStore, got)
					}
				}
			})
		})
	}
}

// storedUserNames are the users of the SQLite file at path, opened
// read-only ("" when it has no users table or no file).
func storedUserNames(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	sdb, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var names sql.NullString
	err = sdb.QueryRow(`SELECT group_concat(name, ',') FROM (SELECT name FROM users ORDER BY name)`).Scan(&names)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return ""
	}
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return names.String
}

// runUserRestart creates olga through the API of `setsuden run --config
// conf` (ada is its admin), stops the daemon, calls stored, starts it again
// and checks olga logs in until disabled.
func runUserRestart(t *testing.T, bin, dir, conf string, stored func()) {
	t.Helper()
	const pw = "operator password 1"
	call := func(ui, method, path, body, user, pass string) int {
		t.Helper()
		req, _ := http.NewRequest(method, ui+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	start := func(log string) (string, func()) {
		f, err := os.Create(filepath.Join(dir, log))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "--config", conf)
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); f.Close(); close(done) }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		t.Cleanup(stop)
		return uiURL(t, filepath.Join(dir, log)), stop
	}
	ui, stop := start("run1.log")
	if code := call(ui, "POST", "/api/v1/users", `{"name": "olga", "role": "operator", "password": "`+pw+`"}`, "ada", viewerPassword); code != 201 {
		t.Fatalf("create olga: %d", code)
	}
	if code := call(ui, "GET", "/api/v1/plans", "", "olga", pw); code == 401 || code == 403 {
		t.Fatalf("olga before restart: %d", code)
	}
	stop()
	stored()
	ui, _ = start("run2.log")
	if code := call(ui, "GET", "/api/v1/plans", "", "olga", pw); code == 401 || code == 403 {
		t.Fatalf("olga after restart: %d", code)
	}
	if code := call(ui, "PATCH", "/api/v1/users/olga", `{"disabled": true}`, "ada", viewerPassword); code != 200 {
		t.Fatalf("disable olga: %d", code)
	}
	if code := call(ui, "GET", "/api/v1/plans", "", "olga", pw); code != 401 {
		t.Fatalf("disabled olga: %d, want 401", code)
	}
}
