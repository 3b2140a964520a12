package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// countPoints counts power.kw points in database dbName through InfluxDB's
// own v1 API (user/pass may be empty); -1 when the database is missing.
func countPoints(t *testing.T, base, dbName, user, pass string) int {
	t.Helper()
	form := url.Values{"db": {dbName}, "q": {`SELECT count("kw") FROM "power"`}}
	req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Error  string
			Series []struct{ Values [][]any }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Results {
		if strings.Contains(r.Error, "database not found") {
			return -1
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				if n, ok := v[1].(float64); ok {
					return int(n)
				}
			}
		}
	}
	return 0
}

func simMeterConfig(t *testing.T, influxURL, token, bucket, dir string) string {
	t.Helper()
	m, err := sim.StartMeter(context.Background(), sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1,
		Curve: sim.LoadCurve{BaseKW: 10, PeakKW: 15, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	conf := filepath.Join(dir, "setsuden.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: dbtest}
influx: {url: %s, token: %q, bucket: %s, flush_interval: 200ms, queue_dir: %s}
server: {listen: "127.0.0.1:0"}
modbus:
  devices:
    - {name: pm-1, model: setsuden-sim-pm, address: %q, interval: 500ms, timeout: 400ms}
`, influxURL, token, bucket, filepath.Join(dir, "queue"), m.Addr())), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

func logContains(path string, subs ...string) bool {
	b, _ := os.ReadFile(path)
	for _, s := range subs {
		if !strings.Contains(string(b), s) {
			return false
		}
	}
	return true
}

// TestRunCreatesMissingInfluxDatabase: a fresh InfluxDB 1.8 without the
// configured database (no authentication: anyone may create it). `run`
// creates it at start, says so, and the points land (on main they waited
// in the queue with "database not found").
func TestRunCreatesMissingInfluxDatabase(t *testing.T) {
	db := testinflux.Start(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	if n := countPoints(t, db.URL, "fresh", "", ""); n != -1 {
		t.Fatalf("database fresh exists before the test (%d points)", n)
	}
	conf := simMeterConfig(t, db.URL, "", "fresh/autogen", dir)
	logPath := filepath.Join(dir, "run.log")
	startRun(t, bin, conf, logPath)
	waitFor(t, 60*time.Second, "points in the created database", func() bool { return countPoints(t, db.URL, "fresh", "", "") > 0 })
	if !logContains(logPath, "created the InfluxDB database", "database=fresh") {
		b, _ := os.ReadFile(logPath)
		t.Errorf("run did not say it created the database:\n%s", b)
	}
}

// startAuthInfluxd starts influxd 1.8 with authentication on, an admin
// user and a user "collector" without any privilege.
func startAuthInfluxd(t *testing.T) (base string) {
	t.Helper()
	bin, err := influx.FindInfluxd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	httpPort, rpcPort := port(), port()
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  auth-enabled = true
  flux-enabled = true
  log-enabled = false
[monitor]
  store-enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	confPath := filepath.Join(dir, "influxd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(dir, "influxd.log"))
	cmd := exec.Command(bin, "-config", confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	base = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitFor(t, 30*time.Second, "influxd with auth", func() bool {
		resp, err := http.Get(base + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	})
	adminQL(t, base, "", `CREATE USER "admin" WITH PASSWORD 'adminpw' WITH ALL PRIVILEGES`)
	adminQL(t, base, "admin", `CREATE USER "collector" WITH PASSWORD 'pw'`)
	return base
}

func adminQL(t *testing.T, base, user, q string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(url.Values{"q": {q}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, "adminpw")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Results []struct{ Error string } }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK || (len(out.Results) > 0 && out.Results[0].Error != "") {
		t.Fatalf("%s: HTTP %s %+v", q, resp.Status, out)
	}
}

// TestRunSaysHowToCreateInfluxDatabase: the configured user may not create
// the missing database. `run` says which database is missing and the
// statements an admin runs; once the admin has run them the queued points
// land.
func TestRunSaysHowToCreateInfluxDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real influxd; skipped with -short")
	}
	base := startAuthInfluxd(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	conf := simMeterConfig(t, base, "collector:pw", "site/autogen", dir)
	logPath := filepath.Join(dir, "run.log")
	startRun(t, bin, conf, logPath)
	want := []string{"level=ERROR", "InfluxDB database does not exist", "database=site", "user=collector",
		`CREATE DATABASE \"site\"; GRANT ALL ON \"site\" TO \"collector\"`}
	waitFor(t, 60*time.Second, "the log line saying what to run", func() bool { return logContains(logPath, want...) })
	if logContains(logPath, "pw\"") || logContains(logPath, "collector:pw") {
		t.Error("the password is in the log")
	}
	// The admin does what the line says; the queued points are written.
	adminQL(t, base, "admin", `CREATE DATABASE "site"`)
	adminQL(t, base, "admin", `GRANT ALL ON "site" TO "collector"`)
	waitFor(t, 90*time.Second, "the queued points in the database", func() bool {
		return countPoints(t, base, "site", "collector", "pw") > 0
	})
}
