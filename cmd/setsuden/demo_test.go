package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/setsuden/setsuden/adapters/influx"
)

// built is the binary the integration tests run, compiled once.
var built struct {
	once sync.Once
	path string
	err  error
}

// buildBinary compiles setsuden once per test run.
func buildBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "setsuden-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "setsuden")
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// TestDemoEndToEnd is the foundation's acceptance test: `setsuden demo`
// prints its ready line, both simulated meters' power reaches the real
// influxd within 60 s, the web page shows the live value in a real
// Chromium, and SIGTERM leaves no process behind.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, simulators and Chromium")
	}
	if _, err := influx.FindInfluxd(); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	data := t.TempDir()
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--data", data)
	stdout, _ := cmd.StdoutPipe()
	stderr, err := os.Create(filepath.Join(data, "demo.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			log, _ := os.ReadFile(stderr.Name())
			t.Logf("demo log:\n%s", log)
		}
	}()

	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var base string
	select {
	case l := <-lines:
		m := regexp.MustCompile(`^setsuden ready: (http://127\.0\.0\.1:\d+)$`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("first stdout line = %q, want `setsuden ready: http://ADDR`", l)
		}
		base = m[1]
	case err := <-exited:
		t.Fatalf("demo exited before ready: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("no ready line within 90 s")
	}
	readyAt := time.Now()

	// 1. Power points from every simulated meter in the real influxd.
	urlb, err := os.ReadFile(filepath.Join(data, "influx.url"))
	if err != nil {
		t.Fatal(err)
	}
	r := influx.NewReader(strings.TrimSpace(string(urlb)), "", "", "setsuden/autogen")
	defer r.Close()
	var counts map[string]int64
	for time.Since(readyAt) < 60*time.Second {
		counts, err = r.CountBy(context.Background(), "power", "kw", "meter", readyAt.Add(-time.Minute))
		if err == nil && counts["pdu-a1"] > 0 && counts["pdu-a2"] > 0 {
			break
		}
		time.Sleep(time.Second)
	}
	if counts["pdu-a1"] == 0 || counts["pdu-a2"] == 0 {
		t.Fatalf("after 60 s power points per meter = %v (err %v), want both pdu-a1 and pdu-a2", counts, err)
	}
	t.Logf("power points after %.1f s: %v", time.Since(readyAt).Seconds(), counts)

	// 2. /healthz and /metrics.
	if body := get(t, base+"/healthz", ""); !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz = %s", body)
	}
	metrics := get(t, base+"/metrics", demoPassword(t, data))
	for _, want := range []string{"setsuden_points_written_total", "setsuden_write_errors_total", "setsuden_poll_errors_total", "setsuden_polls_total",
		// The demo's SLA service, by name.
		`setsuden_sla_service_state{customer=`, `service="web"`, "setsuden_sla_horizon_timestamp_seconds"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The demo's meters keep their connections (far below the budget).
	if m := regexp.MustCompile(`(?m)^setsuden_modbus_connections_kept (\d+)$`).FindStringSubmatch(metrics); m == nil || m[1] == "0" {
		t.Errorf("/metrics: setsuden_modbus_connections_kept %v, want the meters' kept connections", m)
	}

	// 3. The page shows live site power, equal to the API's, and it changes
	// without a reload.
	var snap struct {
		TotalKW float64 `json:"total_kw"`
		Meters  []struct{ Meter string }
		Hosts   []struct{ Host string }
	}
	for time.Since(readyAt) < 60*time.Second {
		if err := json.Unmarshal([]byte(get(t, base+"/api/v1/live", demoPassword(t, data))), &snap); err != nil {
			t.Fatal(err)
		}
		if len(snap.Hosts) == 4 && len(snap.Meters) >= 2 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if snap.TotalKW <= 0 || len(snap.Meters) < 2 || len(snap.Hosts) != 4 {
		t.Errorf("live snapshot = %+v, want power > 0, >= 2 meters, 4 hosts", snap)
	}
	checkPageLive(t, base, demoPassword(t, data))

	// 4. SIGTERM stops everything, influxd included.
	influxPid := readInfluxPid(t, data)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("demo exit after SIGTERM: %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s of SIGTERM")
	}
	if left := processesMentioning(data); len(left) > 0 {
		t.Errorf("processes left behind: %v", left)
	}
	if influxPid > 0 && syscall.Kill(influxPid, 0) == nil {
		t.Errorf("influxd pid %d still alive", influxPid)
	}
}

func checkPageLive(t *testing.T, base, password string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("login-name")),
		chromedp.SendKeys(chromedp.ID("login-name"), "demo"), chromedp.SendKeys(chromedp.ID("login-password"), password),
		chromedp.Click(chromedp.ID("login-submit")), chromedp.WaitVisible(chromedp.ID("site-kw"))); err != nil {
		t.Fatalf("log in and open the overview: %v", err)
	}
	read := func(id string) string {
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("read #%s: %v", id, err)
		}
		return strings.TrimSpace(v)
	}
	// Wait for the first value, then for the update time to move on: the
	// page must refresh itself (no reload happens in this test).
	var first, updated string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		first, updated = read("site-kw"), read("updated")
		if _, err := strconv.ParseFloat(first, 64); err == nil && updated != "—" {
			break
		}
	}
	kw, err := strconv.ParseFloat(first, 64)
	if err != nil || kw <= 0 {
		t.Fatalf("page #site-kw = %q, want a positive kW value", first)
	}
	changed := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if read("updated") != updated {
			changed = true
			break
		}
	}
	if !changed {
		t.Errorf("page did not update by itself within 20 s (updated stays %q)", updated)
	}
	if conn := read("conn"); conn != "live" {
		t.Errorf("connection indicator = %q, want live (server-sent events)", conn)
	}
	// The rules engine runs in the demo: the demand stage and the web
	// service's SLA state reach the page.
	var stage, services string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		stage, services = read("demand-stage"), read("services")
		if stage != "—" && stage != "waiting for data" && strings.Contains(services, "web") {
			break
		}
	}
	if !regexp.MustCompile(`^(normal|caution|shed|limit)$`).MatchString(stage) {
		t.Errorf("demand stage on the page = %q, want a stage", stage)
	}
	if !strings.Contains(services, "web") || !strings.Contains(services, "Demo Corp.") {
		t.Errorf("services table = %q, want the demo's web service", services)
	}
	meters, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("meters")))
	if err != nil || !strings.Contains(meters, "pdu-a1") || !strings.Contains(meters, "pdu-a2") {
		t.Errorf("meters table = %q (%v)", meters, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		_ = os.WriteFile(filepath.Join(os.TempDir(), "setsuden-demo-page.png"), png, 0o644)
	}
}

// demoPassword is the demo account's password, from its data directory.
func demoPassword(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "operator-password"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// get reads url as the demo user (password "" for none).
func get(t *testing.T, url, password string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if password != "" {
		req.SetBasicAuth("demo", password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

// processesMentioning lists live processes whose command line contains s.
func processesMentioning(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, s) {
			if st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); strings.Contains(string(st), ") Z ") {
				continue // a zombie is already dead
			}
			out = append(out, e.Name()+": "+cmdline)
		}
	}
	return out
}

func readInfluxPid(t *testing.T, data string) int {
	for _, p := range processesMentioning(filepath.Join(data, "influxdb")) {
		if pid, err := strconv.Atoi(strings.SplitN(p, ":", 2)[0]); err == nil {
			return pid
		}
	}
	t.Errorf("no influxd process found for %s", data)
	return 0
}
