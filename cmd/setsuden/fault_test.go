package main

import (
	"context"
	"fmt"
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

// TestRunSurvivesInfluxOutageAndRestart is the collectors' fault test:
// `setsuden run` polls real simulated meters into a real influxd; influxd is
// killed, setsuden is restarted while it is down, influxd comes back: the
// points in InfluxDB equal the points polled, exactly.
func TestRunSurvivesInfluxOutageAndRestart(t *testing.T) {
	t.Parallel() // waits on its own daemons; see the suite notes in main_test.go
	db := testinflux.Start(t)
	bin := buildBinary(t)
	ctx := context.Background()
	dir := t.TempDir()
	var meters []string
	for i := 0; i < 3; i++ {
		m, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1,
			Curve: sim.LoadCurve{BaseKW: 10, PeakKW: 15, Seed: int64(i), Location: time.UTC}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		meters = append(meters, fmt.Sprintf("    - {name: pdu-%d, model: setsuden-sim-pm, address: %q, interval: 500ms, timeout: 400ms}\n", i, m.Addr()))
	}
	conf := filepath.Join(dir, "setsuden.yaml")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: fault}
influx:
  url: %s
  bucket: %s
  flush_interval: 200ms
  queue_dir: %s
server: {listen: "127.0.0.1:0"}
modbus:
  devices:
%s`, db.URL, db.Bucket(), filepath.Join(dir, "queue"), strings.Join(meters, ""))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	run := func(n int) (*exec.Cmd, string) {
		logPath := filepath.Join(dir, fmt.Sprintf("run-%d.log", n))
		f, _ := os.Create(logPath)
		cmd := exec.Command(bin, "run", "--config", conf)
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, logPath
	}
	stopRun := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("setsuden exit: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("setsuden did not stop within 30 s")
		}
	}

	first, log1 := run(1)
	time.Sleep(4 * time.Second)
	port := strings.TrimPrefix(db.URL, "http://127.0.0.1:")
	db.Kill()
	time.Sleep(3 * time.Second)
	stopRun(first) // restart the collector in the middle of the outage
	second, log2 := run(2)
	time.Sleep(3 * time.Second)
	var p int
	fmt.Sscan(port, &p)
	db2, err := influx.StartInfluxd(ctx, influx.InfluxdConfig{Dir: db.Dir(), Port: p})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Stop()
	time.Sleep(6 * time.Second)
	stopRun(second)

	queued := stoppedStat(t, log1, "points_queued") + stoppedStat(t, log2, "points_queued")
	if left := stoppedStat(t, log2, "points_left_in_queue"); left != 0 {
		t.Errorf("second run stopped with %d points still queued", left)
	}
	if stoppedStat(t, log1, "points_written") == 0 {
		t.Error("first run wrote nothing before the outage")
	}
	r := influx.NewReader(db2.URL, "", "", db2.Bucket())
	defer r.Close()
	var stored int64
	for _, m := range []struct{ meas, field string }{{"power", "kw"}, {"temperature", "inlet_c"}, {"collector_errors", "count"}} {
		n, err := r.CountRange(ctx, m.meas, m.field, start.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		stored += n
	}
	t.Logf("points queued by the two runs: %d, stored in InfluxDB: %d", queued, stored)
	if queued < 60 {
		t.Fatalf("only %d points collected in ~16 s from 3 meters at 500 ms", queued)
	}
	if stored != queued {
		t.Errorf("InfluxDB holds %d points, setsuden collected %d: %d lost", stored, queued, queued-stored)
	}
}

// stoppedStat reads key=N from setsuden's final "stopped" log line.
func stoppedStat(t *testing.T, path, key string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "msg=stopped") {
			continue
		}
		for _, kv := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				var n int64
				fmt.Sscan(v, &n)
				return n
			}
		}
	}
	t.Fatalf("%s: no stopped line with %s:\n%s", path, key, data)
	return 0
}
