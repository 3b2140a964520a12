package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/internal/testlibvirtd"
	"github.com/setsuden/setsuden/rules/slactl"
)

// qmpStop pauses a qemu guest through its QMP monitor socket, as nothing
// but libvirtd can while libvirtd runs: the test does it while the daemon
// is down, so the pause is a change no lifecycle event reports.
func qmpStop(t *testing.T, sock string) {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatalf("qmp: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	readReply := func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("qmp read: %v", err)
			}
			if strings.Contains(line, `"return"`) || strings.Contains(line, `"QMP"`) {
				return
			}
			if strings.Contains(line, `"error"`) {
				t.Fatalf("qmp: %s", line)
			}
		}
	}
	readReply() // greeting
	for _, cmd := range []string{`{"execute":"qmp_capabilities"}`, `{"execute":"stop"}`} {
		if _, err := fmt.Fprintln(c, cmd); err != nil {
			t.Fatal(err)
		}
		readReply()
	}
}

// monitorSocket finds the guest's QMP socket under the daemon's directory.
func monitorSocket(t *testing.T, d *testlibvirtd.Daemon, guest string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(d.Dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.Name() == "monitor.sock" && strings.Contains(path, "-"+guest+string(filepath.Separator)) {
			found = path
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no monitor.sock for %s under %s", guest, d.Dir)
	}
	return found
}

// TestRunReconcilesAcrossALibvirtdRestart runs `setsuden run` against a
// real session libvirtd with a qemu guest, polled only once a minute. The
// daemon is stopped, the guest paused behind its back (QMP), the daemon
// started again: setsuden reconnects at once and writes the missed
// suspend as a reconciled vm_event within seconds, and SLA accounting
// sees the service DOWN. Then a resume and a destroy through libvirt: the
// destroy is one DOWN state change, logged once.
func TestRunReconcilesAcrossALibvirtdRestart(t *testing.T) {
	db := testinflux.Start(t)
	lvd := testlibvirtd.Start(t, 1)
	bin := buildBinary(t)
	uuid := lvd.DefineAndStartGuest(testlibvirtd.Guest{Name: "g1"})
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := filepath.Join(dir, "setsuden.yaml")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: dc1, timezone: Asia/Tokyo}
influx: {url: %s, bucket: %s, flush_interval: 200ms}
log: {level: info}
server: {listen: %q, users: [{name: vera, role: viewer, password_hash: '`+viewerHash(t)+`'}]}
libvirt:
  hosts:
    - {name: hv1, uri: %q, interval: 60s, reconnect_backoff: 100ms, reconnect_backoff_max: 1s, keepalive_interval: 1s, keepalive_count: 3}
sla:
  state_dir: %s
  slas: [{name: core, objective: 0.999}]
  services: [{name: app, sla: core, runs_on: {vms: [g1]}}]
  placements: [{vm: g1, host: hv1}]
  checks: {interval: 1s}
`, db.URL, db.Bucket(), addr, lvd.URI, filepath.Join(dir, "sla"))), 0o644)
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

	appState := func() (string, string) {
		resp, err := getAs("http://"+addr+"/api/v1/sla", "vera", viewerPassword)
		if err != nil {
			return "", ""
		}
		defer resp.Body.Close()
		var v struct {
			Services []struct{ Service, State, Cause string } `json:"services"`
		}
		if json.NewDecoder(resp.Body).Decode(&v) != nil || len(v.Services) != 1 {
			return "", ""
		}
		return v.Services[0].State, v.Services[0].Cause
	}
	waitApp := func(want string, within time.Duration) string {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			s, cause := appState()
			if s == want {
				return cause
			}
			if time.Now().After(deadline) {
				t.Fatalf("app is %s (%s), want %s; setsuden's log:\n%s", s, cause, want, logText())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitApp("UP", 60*time.Second)

	// The daemon goes away; the guest is paused while it is gone. The
	// 60 s polls fall on the minute: one during the outage leaves app
	// UNKNOWN for a minute (it failed so at 16:26:00 with a 3.5 s restart),
	// so the outage starts with 25 s left in the minute.
	waitBlockRoom(t, time.Minute, 25*time.Second)
	lvd.Stop()
	qmpStop(t, monitorSocket(t, lvd, "g1"))
	time.Sleep(1300 * time.Millisecond)
	lvd.Restart(0)
	back := time.Now()
	// libvirtd answers before it has reconnected to its guests: until
	// then it reports the state it saved (running).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st := lvd.MustVirsh("domstate", "--reason", "g1")
		if strings.HasPrefix(st, "paused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart libvirt says g1 is %q, want paused", st)
		}
	}
	if cause := waitApp("DOWN", 30*time.Second); cause != "vm g1 paused on hv1" {
		t.Errorf("app down because %q", cause)
	}
	r := influx.NewReader(db.URL, "", "", db.Bucket())
	defer r.Close()
	var rec []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs, err := r.PointsSince(context.Background(), "dc1", []string{"vm_event"}, start.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		rec = nil
		for _, e := range evs {
			if e.Fields["cause"] == "reconciled" {
				rec = append(rec, fmt.Sprintf("%s %v %v %v", e.Tags["vm"], e.Fields["event"], e.Fields["state"], e.Tags["uuid"]))
				lag := e.Time.Sub(back)
				t.Logf("reconciled %s %v, %s after the daemon answered again", e.Tags["vm"], e.Fields["event"], lag.Round(time.Millisecond))
				if lag > 6*time.Second {
					t.Errorf("the reconciled suspend is stamped %s after the daemon was back (want a reconnect at once)", lag)
				}
			}
		}
		if len(rec) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if want := "g1 suspended paused " + uuid; len(rec) != 1 || rec[0] != want {
		t.Errorf("reconciled vm_event points %q, want [%q]", rec, want)
	}
	if !strings.Contains(logText(), `msg="libvirt reconnected" host=hv1`) {
		t.Errorf("no reconnect in the log:\n%s", logText())
	}

	// Ordinary events again on the new connection; a destroy is one DOWN.
	lvd.MustVirsh("resume", "g1")
	waitApp("UP", 30*time.Second)
	lvd.MustVirsh("destroy", "g1")
	waitApp("DOWN", 30*time.Second)
	time.Sleep(3 * time.Second) // let a second DOWN show, if there were one
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("setsuden exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("setsuden did not stop within 30 s")
	}

	store, err := influx.NewSLAStore(influx.SLAStoreConfig{URL: db.URL, Bucket: db.Bucket()})
	if err != nil {
		t.Fatal(err)
	}
	changes, err := store.StateChanges(context.Background(), "dc1", []string{"app"}, start.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes["app"] {
		got = append(got, c.State.String())
	}
	want := []string{"UNKNOWN", "UP", "DOWN", "UP", "DOWN", "UNKNOWN"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("app's stored changes %v, want %v:\n%+v", got, want, changes["app"])
	}
	if n := strings.Count(logText(), `msg="service down"`); n != 2 {
		t.Errorf(`%d "service down" lines, want 2 (the pause and the destroy):%s`, n, logText())
	}
	if c := changes["app"]; len(c) == len(want) && (c[0].Cause != slactl.CauseStarted || c[2].Cause != "vm g1 paused on hv1") {
		t.Errorf("causes: %+v", c)
	}
}
