package main

import (
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
)

// TestRunUserCreatedThroughAPISurvivesRestart: an admin of the
// configuration creates an operator through `setsuden run`'s API with
// server.user_store set; after a restart of the daemon the operator logs
// in, and once disabled cannot.
func TestRunUserCreatedThroughAPISurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	db := testinflux.Start(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "users.db")
	conf := filepath.Join(dir, "setsuden.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: users}
influx: {url: %s, bucket: %s, flush_interval: 200ms, queue_dir: %s}
server:
  listen: "127.0.0.1:0"
  user_store: %q
  users: [{name: ada, role: admin, password_hash: %q}]
`, db.URL, db.Bucket(), filepath.Join(dir, "queue"), store, viewerHash(t))), 0o644); err != nil {
		t.Fatal(err)
	}
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
