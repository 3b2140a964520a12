package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/internal/testlibvirtd"
)

// processCPU is a process's user+system CPU time from /proc/PID/stat.
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// TestRunCPUUtilFromARealGuest runs `setsuden run` against a real session
// libvirtd with two qemu (TCG) guests: one busy-looping in its boot sector,
// one halted in SeaBIOS. cpu_util comes from libvirt's CPU-time deltas (not
// the test driver's synthetic figure): the busy guest's matches its qemu
// process's own CPU time over the same span, the idle one's is near 0.
func TestRunCPUUtilFromARealGuest(t *testing.T) {
	db := testinflux.Start(t)
	lvd := testlibvirtd.Start(t, 2)
	bin := buildBinary(t)
	lvd.DefineAndStartGuest(testlibvirtd.Guest{Name: "burn", Busy: true})
	lvd.DefineAndStartGuest(testlibvirtd.Guest{Name: "idle"})
	qemu := lvd.MustQemuPid("burn")
	dir := t.TempDir()
	conf := filepath.Join(dir, "setsuden.yaml")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: dc1, timezone: Asia/Tokyo}
influx: {url: %s, bucket: %s, flush_interval: 200ms}
log: {level: warn}
server: {listen: "127.0.0.1:0"}
libvirt:
  hosts:
    - {name: hv2, uri: %q, interval: 2s}
`, db.URL, db.Bucket(), lvd.URI)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	start := time.Now()
	cmd := exec.Command(bin, "run", "--config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	t0, c0 := time.Now(), processCPU(t, qemu)
	time.Sleep(12 * time.Second)
	t1, c1 := time.Now(), processCPU(t, qemu)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("setsuden exit: %v", err)
	}
	own := float64(c1-c0) / float64(t1.Sub(t0)) // qemu's CPU share, one vCPU

	r := influx.NewReader(db.URL, "", "", db.Bucket())
	defer r.Close()
	pts, err := r.PointsSince(context.Background(), "dc1", []string{"vm"}, start.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	utils := map[string][]float64{}
	for _, p := range pts {
		if u, ok := p.Fields["cpu_util"].(float64); ok && p.Fields["state"] == "running" {
			utils[p.Tags["vm"]] = append(utils[p.Tags["vm"]], u)
		}
	}
	mean := func(xs []float64) float64 {
		var s float64
		for _, x := range xs {
			s += x
		}
		return s / float64(max(len(xs), 1))
	}
	burn, idle := utils["burn"], utils["idle"]
	t.Logf("burn cpu_util %v (mean %.3f), qemu's own CPU share %.3f; idle cpu_util %v", burn, mean(burn), own, idle)
	if len(burn) < 3 || len(idle) < 3 {
		t.Fatalf("cpu_util samples: burn %d, idle %d (want 3 or more each in 12 s at 2 s)", len(burn), len(idle))
	}
	for _, u := range burn {
		if u <= 0 || u > 1 {
			t.Errorf("burn cpu_util %.3f, want in (0, 1]", u)
		}
	}
	if m := mean(burn); m < 0.05 || m < own-0.25 || m > own+0.25 {
		t.Errorf("burn's mean cpu_util %.3f, its qemu process used %.3f of a CPU over the span", m, own)
	}
	// The idle guest is busy in SeaBIOS for its first second or so.
	if m := mean(idle[len(idle)-3:]); m > 0.1 || m >= mean(burn) {
		t.Errorf("idle's cpu_util %.3f over its last 3 samples (burn %.3f), want near 0 once it halted", m, mean(burn))
	}
}
