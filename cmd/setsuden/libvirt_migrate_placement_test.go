package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/internal/testlibvirtd"
)

// TestRunPlacementFollowsTheDestinationResume live-migrates a qemu guest
// between two real session libvirtd while `setsuden run` watches both: the
// VM's placement moves to the destination at the destination's
// resumed/migrated event (not at the source's stop, which comes later), and
// the service on it is never DOWN.
func TestRunPlacementFollowsTheDestinationResume(t *testing.T) {
	t.Parallel() // waits on its own daemons; see the suite notes in main_test.go
	db := testinflux.Start(t)
	src, dst := testlibvirtd.Start(t, 11), testlibvirtd.Start(t, 12)
	bin := buildBinary(t)
	src.DefineAndStartGuest(testlibvirtd.Guest{Name: "mig1", Transient: true})
	dir := t.TempDir()
	conf := filepath.Join(dir, "setsuden.yaml")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: dc1, timezone: Asia/Tokyo}
influx: {url: %s, bucket: %s, flush_interval: 200ms}
log: {level: info}
server: {listen: %q}
libvirt:
  hosts:
    - {name: hva, uri: %q, interval: 30s}
    - {name: hvb, uri: %q, interval: 30s}
sla:
  state_dir: %s
  slas: [{name: core, objective: 0.999}]
  services: [{name: app, sla: core, runs_on: {vms: [mig1]}}]
  placements: [{vm: mig1, host: hva}]
  checks: {interval: 1s}
`, db.URL, db.Bucket(), freeAddr(t), src.URI, dst.URI, filepath.Join(dir, "sla"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "run.log")
	logf, err := os.Create(logPath)
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
	logText := func() string { data, _ := os.ReadFile(logPath); return string(data) }
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logText(), `msg="setsuden running"`); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("setsuden did not start:\n%s", logText())
		}
	}
	time.Sleep(2 * time.Second) // the first polls and the event registrations
	src.MustVirsh("migrate", "--live", "--p2p", "mig1", dst.URI, "tcp://127.0.0.1")
	if st := dst.MustVirsh("domstate", "mig1"); st != "running" {
		t.Fatalf("mig1 on the destination: %q", st)
	}
	re := regexp.MustCompile(`msg="vm placement follows libvirt".* vm=mig1 host=hvb at=(\S+)`)
	var placedAt time.Time
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if m := re.FindStringSubmatch(logText()); m != nil {
			if placedAt, err = time.Parse(time.RFC3339Nano, m[1]); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no placement on hvb in the log:\n%s", logText())
		}
	}
	time.Sleep(2 * time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("setsuden exit: %v", err)
	}

	r := influx.NewReader(db.URL, "", "", db.Bucket())
	defer r.Close()
	evs, err := r.PointsSince(context.Background(), "dc1", []string{"vm_event"}, start.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var resumed, stopped time.Time
	var seq []string
	for _, e := range evs {
		seq = append(seq, fmt.Sprintf("%s %s %v/%v %v", e.Time.Format("15:04:05.000"), e.Tags["host"], e.Fields["event"], e.Fields["detail"], e.Fields["state"]))
		if e.Tags["host"] == "hvb" && e.Fields["event"] == "resumed" && e.Fields["detail"] == "migrated" {
			resumed = e.Time
		}
		if e.Tags["host"] == "hva" && e.Fields["event"] == "stopped" && e.Fields["detail"] == "migrated" {
			stopped = e.Time
		}
	}
	t.Logf("events:\n%s\nplaced on hvb at %s", strings.Join(seq, "\n"), placedAt.Format("15:04:05.000"))
	if resumed.IsZero() || stopped.IsZero() {
		t.Fatalf("no resumed/migrated on hvb or stopped/migrated on hva")
	}
	if d := placedAt.Sub(resumed); d < -time.Millisecond || d > time.Millisecond { // the log has milliseconds
		t.Errorf("placed on hvb at %s, want the destination's resume at %s (the source stopped at %s)",
			placedAt.Format("15:04:05.000"), resumed.Format("15:04:05.000"), stopped.Format("15:04:05.000"))
	}
	if n := strings.Count(logText(), `msg="service down"`); n != 0 {
		t.Errorf("the service went down %d times during a live migration:\n%s", n, logText())
	}
}
