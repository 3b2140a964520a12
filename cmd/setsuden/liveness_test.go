package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testinflux"
)

var uiRe = regexp.MustCompile(`ui=(http://[0-9.:]+)`)

// uiURL waits for run's "setsuden running" line and returns its ui address.
func uiURL(t *testing.T, logPath string) string {
	t.Helper()
	var ui string
	waitFor(t, 60*time.Second, "setsuden running", func() bool {
		b, _ := os.ReadFile(logPath)
		if m := uiRe.FindSubmatch(b); m != nil {
			ui = string(m[1])
			return true
		}
		return false
	})
	return ui
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	return string(b)
}

// TestRunMarksSilentMeterStaleAfterThreeIntervals: a pymodbus meter polled
// every second stops answering. Within a few of its intervals (not the old
// fixed 2 minutes) /metrics says setsuden_source_up 0 and the live view
// marks it stale; once it answers again both come back.
func TestRunMarksSilentMeterStaleAfterThreeIntervals(t *testing.T) {
	needPymodbus(t)
	db := testinflux.Start(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeLoopback(t)
	meter := startPyMeter(t, addr, 42, 500)
	conf := filepath.Join(dir, "setsuden.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: live}
influx: {url: %s, bucket: %s, flush_interval: 200ms, queue_dir: %s}
server: {listen: "127.0.0.1:0"}
modbus:
  devices:
    - {name: pm-1, model: setsuden-sim-pm, address: %q, interval: 1s, timeout: 500ms, retries: 0}
`, db.URL, db.Bucket(), filepath.Join(dir, "queue"), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "run.log")
	startRun(t, bin, conf, logPath)
	ui := uiURL(t, logPath)
	const upLine = `setsuden_source_up{kind="modbus",source="pm-1"} `
	up := func() string {
		for _, l := range strings.Split(httpGet(t, ui+"/metrics"), "\n") {
			if v, ok := strings.CutPrefix(l, upLine); ok {
				return v
			}
		}
		return "missing"
	}
	stale := func() string {
		var snap struct {
			Meters []struct {
				Meter string
				Stale bool
			}
		}
		if err := json.Unmarshal([]byte(httpGet(t, ui+"/api/v1/live")), &snap); err != nil {
			t.Fatal(err)
		}
		for _, m := range snap.Meters {
			if m.Meter == "pm-1" {
				return fmt.Sprint(m.Stale)
			}
		}
		return "missing"
	}
	waitFor(t, 60*time.Second, "pm-1 up and live", func() bool { return up() == "1" && stale() == "false" })
	if !strings.Contains(httpGet(t, ui+"/metrics"), `setsuden_poll_errors_total{kind="modbus",source="pm-1"}`) {
		t.Error("the error counter is not next to the up gauge")
	}

	meter.stop()
	stopped := time.Now()
	waitFor(t, 30*time.Second, "pm-1 down and stale", func() bool { return up() == "0" && stale() == "true" })
	took := time.Since(stopped)
	t.Logf("stale %s after the meter stopped answering (interval 1s, 3 intervals)", took.Round(100*time.Millisecond))
	if took < 2*time.Second {
		t.Errorf("stale after %s: before 3 intervals of 1 s had passed", took)
	}

	startPyMeter(t, addr, 42, 500)
	waitFor(t, 60*time.Second, "pm-1 up and live again", func() bool { return up() == "1" && stale() == "false" })
}
