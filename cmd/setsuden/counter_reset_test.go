package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// pyMeter is adapters/modbus/testdata/pymodbus_server.py (pymodbus 3.0,
// Debian's python3-pymodbus) serving setsuden-sim-pm's registers: kw at
// input 0 (float32), kwh at input 10 (uint32 of 0.01 kWh).
type pyMeter struct {
	addr string
	cmd  *exec.Cmd
	done chan error
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func needPymodbus(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs pymodbus and influxd (skipped with -short)")
	}
	if out, err := exec.Command("/usr/bin/python3", "-c", "import pymodbus").CombinedOutput(); err != nil {
		t.Skipf("/usr/bin/python3 cannot import pymodbus (apt-get install python3-pymodbus): %v %s", err, out)
	}
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startPyMeter serves kw and a kwh register holding kwh (0.01 kWh steps) on
// addr, waits until it listens, and stops it when the test ends.
func startPyMeter(t *testing.T, addr string, kw, kwh float64) *pyMeter {
	t.Helper()
	spec, _ := json.Marshal(map[string]any{"registers": []map[string]any{
		{"table": "input", "address": 0, "type": "float32", "order": "ABCD", "value": kw},
		{"table": "input", "address": 2, "type": "float32", "order": "ABCD", "value": 205.0},
		{"table": "input", "address": 4, "type": "float32", "order": "ABCD", "value": kw / 0.35},
		{"table": "input", "address": 6, "type": "float32", "order": "ABCD", "value": 0.95},
		{"table": "input", "address": 8, "type": "float32", "order": "ABCD", "value": 24.0},
		{"table": "input", "address": 10, "type": "uint32", "order": "ABCD", "value": int64(kwh*100 + 0.5)},
	}})
	specFile := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	m := &pyMeter{addr: addr, done: make(chan error, 1), out: &syncBuffer{}}
	m.cmd = exec.Command("/usr/bin/python3", "../../adapters/modbus/testdata/pymodbus_server.py", port, specFile)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	t.Cleanup(m.stop)
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case err := <-m.done:
			m.done <- err
			t.Fatalf("pymodbus server exited: %v\n%s", err, m.out)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("pymodbus server not listening on %s after 30 s\n%s", addr, m.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *pyMeter) stop() {
	select {
	case err := <-m.done:
		m.done <- err
		return
	default:
	}
	_ = m.cmd.Process.Kill()
	err := <-m.done
	m.done <- err
}

// startRun starts `setsuden run --config conf` with its log in logPath and
// stops it (SIGTERM) when the test ends.
func startRun(t *testing.T, bin, conf, logPath string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(logPath)
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
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

// waitFor polls cond until it is true or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// influxQL runs an InfluxQL SELECT through InfluxDB's own v1 /query API
// (not setsuden's reader) and returns the rows of the first series, each
// value formatted with %v.
func influxQL(t *testing.T, db *influx.Influxd, q string) [][]string {
	t.Helper()
	resp, err := http.PostForm(db.URL+"/query", url.Values{"db": {db.Database}, "q": {q}, "epoch": {"ns"}})
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
		t.Fatalf("influxql %q: %v", q, err)
	}
	var rows [][]string
	for _, res := range out.Results {
		if res.Error != "" {
			t.Fatalf("influxql %q: %s", q, res.Error)
		}
		for _, s := range res.Series {
			for _, v := range s.Values {
				row := make([]string, len(v))
				for i, x := range v {
					row[i] = fmt.Sprint(x)
				}
				rows = append(rows, row)
			}
		}
	}
	return rows
}

// fieldValues returns the values of power.<field> since start, in time
// order.
func fieldValues(t *testing.T, db *influx.Influxd, field string, start time.Time) []string {
	t.Helper()
	var vals []string
	for _, row := range influxQL(t, db, fmt.Sprintf(`SELECT %q FROM "power" WHERE time >= %d`, field, start.UnixNano())) {
		if len(row) > 1 && row[1] != "<nil>" {
			vals = append(vals, row[1])
		}
	}
	return vals
}

// TestRunFlagsCounterJumpAsReset: the field report. A pymodbus meter
// at 123 kW holding 1,000 kWh is restarted with its register at 100,926 kWh
// (a swapped or re-initialised meter): `setsuden run` must not add 99,926
// kWh to kwh_total but record kwh_reset, and keep counting from the new
// register afterwards (a later restart at +0.5 kWh adds 0.5 kWh).
func TestRunFlagsCounterJumpAsReset(t *testing.T) {
	needPymodbus(t)
	db := testinflux.Start(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeLoopback(t)
	meter := startPyMeter(t, addr, 123, 1000)
	conf := filepath.Join(dir, "setsuden.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: reset}
influx: {url: %s, bucket: %s, flush_interval: 200ms, queue_dir: %s}
server: {listen: "127.0.0.1:0"}
modbus:
  devices:
    - {name: pm-1, model: setsuden-sim-pm, address: %q, interval: 500ms, timeout: 400ms}
`, db.URL, db.Bucket(), filepath.Join(dir, "queue"), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	logPath := filepath.Join(dir, "run.log")
	startRun(t, bin, conf, logPath)
	count := func(field string) int { return len(fieldValues(t, db, field, start)) }
	waitFor(t, 60*time.Second, "3 samples of kwh_total", func() bool { return count("kwh_total") >= 3 })

	meter.stop()
	meter = startPyMeter(t, addr, 123, 100926) // restarted with a higher raw value
	waitFor(t, 60*time.Second, "kwh_reset", func() bool { return count("kwh_reset") >= 1 })
	n := count("kwh_total")
	waitFor(t, 60*time.Second, "3 more samples", func() bool { return count("kwh_total") >= n+3 })
	// A normal rise after the reset: the meter restarted 0.5 kWh further on
	// (the test sets the register; at 123 kW that is 15 s of energy, under
	// the rated 1,000 kW bound for any interval of a second or more).
	time.Sleep(1500 * time.Millisecond)
	meter.stop()
	startPyMeter(t, addr, 123, 100926.5)
	waitFor(t, 60*time.Second, "the total to grow by 0.5 kWh", func() bool {
		v := fieldValues(t, db, "kwh_total", start)
		return len(v) > 0 && v[len(v)-1] == "1000.5"
	})

	totals := fieldValues(t, db, "kwh_total", start)
	for i, v := range totals {
		x, _ := strconv.ParseFloat(v, 64)
		if x != 1000 && x != 1000.5 {
			t.Fatalf("kwh_total[%d] = %s: the restarted meter's jump was added (all totals %v)", i, v, totals)
		}
	}
	if resets := fieldValues(t, db, "kwh_reset", start); len(resets) != 1 || resets[0] != "true" {
		t.Errorf("kwh_reset values %v, want exactly one true (the restart)", resets)
	}
	logData, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logData), "counter reset detected") || !strings.Contains(string(logData), "rated power") {
		t.Errorf("run log does not explain the reset:\n%s", logData)
	}
}
