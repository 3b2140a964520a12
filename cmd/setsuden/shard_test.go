package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/slactl"
)

func TestParseSiteRole(t *testing.T) {
	for _, tc := range []struct {
		shard, ctl string
		want       siteRole
		err        string
	}{
		{"", "", siteRole{collector.Shard{Count: 1}, true}, ""},
		{"1/2", "", siteRole{collector.Shard{Index: 0, Count: 2}, true}, ""},
		{"2/2", "", siteRole{collector.Shard{Index: 1, Count: 2}, false}, ""},
		{"2/2", "true", siteRole{collector.Shard{Index: 1, Count: 2}, true}, ""},
		{"1/2", "false", siteRole{collector.Shard{Index: 0, Count: 2}, false}, ""},
		{"1/2", "maybe", siteRole{}, `site-controllers "maybe": expected true or false`},
		{"3/2", "", siteRole{}, `shard "3/2"`},
	} {
		got, err := parseSiteRole(tc.shard, tc.ctl)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %q: %v, want an error with %q", tc.shard, tc.ctl, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q %q: %+v %v, want %+v", tc.shard, tc.ctl, got, err, tc.want)
		}
	}
}

// ownedName is the first of prefix1, prefix2, ... that shard i of n owns.
func ownedName(t *testing.T, prefix string, i, n int) string {
	t.Helper()
	s := collector.Shard{Index: i, Count: n}
	for k := 1; k < 100; k++ {
		if name := fmt.Sprintf("%s%d", prefix, k); s.Owns(name) {
			return name
		}
	}
	t.Fatalf("no %sN in shard %d/%d", prefix, i+1, n)
	return ""
}

// testNode writes a libvirt test-driver node with one running VM.
func testNode(t *testing.T, dir, vm, uuid string) string {
	t.Helper()
	path := filepath.Join(dir, vm+".xml")
	xml := fmt.Sprintf(`<?xml version="1.0"?>
<node>
  <cpu><mhz>2600</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads></cpu>
  <memory>16777216</memory>
  <domain type="test"><name>%s</name><uuid>%s</uuid><memory unit="MiB">1024</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os></domain>
</node>
`, vm, uuid)
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunTwoShards splits one site across two `setsuden run` processes
// (--shard 1/2 and 2/2) writing to one real influxd: every source is polled
// by exactly one of them, as each says at start; demand control and SLA
// accounting run once, in shard 1, and SLA follows a VM on shard 2's
// libvirt host through what shard 2 wrote to InfluxDB.
func TestRunTwoShards(t *testing.T) {
	db := testinflux.Start(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()

	var meters []string
	meterShard := map[string]int{}
	for i := 1; i <= 6; i++ {
		m, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1,
			Curve: sim.LoadCurve{BaseKW: 10, PeakKW: 10, Seed: int64(i), Location: time.UTC}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		name := fmt.Sprintf("pdu-%d", i)
		meters = append(meters, fmt.Sprintf("    - {name: %s, model: setsuden-sim-pm, address: %q, interval: 1s, timeout: 500ms}\n", name, m.Addr()))
		for s := 0; s < 2; s++ {
			if (collector.Shard{Index: s, Count: 2}).Owns(name) {
				meterShard[name] = s
			}
		}
	}
	hostA, hostB := ownedName(t, "hv", 0, 2), ownedName(t, "hv", 1, 2)
	nodeA := testNode(t, dir, "web-01", "00000000-0000-4000-8000-0000000000a1")
	nodeB := testNode(t, dir, "app-01", "00000000-0000-4000-8000-0000000000b1")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer target.Close()
	addrs := []string{freeAddr(t), freeAddr(t)}
	writeConf := func(listen string) string {
		path := filepath.Join(dir, "setsuden-"+strings.ReplaceAll(listen, ":", "_")+".yaml")
		err := os.WriteFile(path, []byte(fmt.Sprintf(`site: {name: dc1, timezone: Asia/Tokyo}
influx: {url: %s, bucket: %s, flush_interval: 200ms}
log: {level: info}
server: {listen: %q, users: [{name: vera, role: viewer, password_hash: '`+viewerHash(t)+`'}]}
modbus:
  devices:
%slibvirt:
  hosts:
    - {name: %s, uri: "test://%s", interval: 1s}
    - {name: %s, uri: "test://%s", interval: 1s}
demand:
  tick: 1s
  max_gap: 10s
  limits:
    - contract: {kw: 500}
sla:
  state_dir: %s
  slas: [{name: core, objective: 0.999}]
  services:
    - {name: web, sla: core, runs_on: {probes: [web-http]}}
    - {name: app, sla: core, runs_on: {vms: [app-01]}}
  placements: [{vm: app-01, host: %s}]
  checks: {interval: 1s}
  probes:
    - {name: web-http, service: web, kind: http, target: %q, interval: 1s, timeout: 500ms}
`, db.URL, db.Bucket(), listen, strings.Join(meters, ""), hostA, nodeA, hostB, nodeB, filepath.Join(dir, "sla"), hostB, target.URL)), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	start := time.Now()
	type proc struct {
		cmd *exec.Cmd
		log string
	}
	var procs []proc
	for i := 0; i < 2; i++ {
		logPath := filepath.Join(dir, fmt.Sprintf("shard-%d.log", i+1))
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command(bin, "run", "--config", writeConf(addrs[i]), "--shard", fmt.Sprintf("%d/2", i+1))
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, proc{cmd, logPath})
		defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	}

	// Shard 1 serves the SLA state; app goes UP from shard 2's points.
	states := func() map[string]string {
		resp, err := getAs("http://"+addrs[0]+"/api/v1/sla", "vera", viewerPassword)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var v struct {
			Services []struct{ Service, State string } `json:"services"`
		}
		if json.NewDecoder(resp.Body).Decode(&v) != nil {
			return nil
		}
		out := map[string]string{}
		for _, s := range v.Services {
			out[s.Service] = s.State
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for s := states(); s["web"] != "UP" || s["app"] != "UP"; s = states() {
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(procs[1].log)
			t.Fatalf("SLA states in shard 1: %v, want web and app UP; shard 2's log:\n%s", s, data)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if resp, err := getAs("http://"+addrs[1]+"/api/v1/sla", "vera", viewerPassword); err != nil {
		t.Fatal(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "does not run in this process") {
			t.Errorf("shard 2 serves /api/v1/sla: %d %s, want 503: no SLA engine there", resp.StatusCode, body)
		}
	}
	time.Sleep(3 * time.Second) // a few demand ticks more
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, p := range procs {
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("shard %d exit: %v", i+1, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("shard %d did not stop within 30 s", i+1)
		}
	}
	elapsed := time.Since(start)

	// The start-up log of each says what it polls and runs.
	roleRe := regexp.MustCompile(`msg="site role" shard=(\d)/2 sources_owned=(\d+) sources_total=(\d+) site_controllers=(true|false) controllers_here=("[^"]*"|\S+)`)
	wantOwned := [2]int{}
	for _, s := range meterShard {
		wantOwned[s]++
	}
	wantOwned[0]++ // hostA
	wantOwned[1]++ // hostB
	for i, p := range procs {
		data, _ := os.ReadFile(p.log)
		m := roleRe.FindStringSubmatch(string(data))
		if m == nil {
			t.Errorf("shard %d: no site role line in its log:\n%s", i+1, data)
			continue
		}
		owned, _ := strconv.Atoi(m[2])
		if m[1] != strconv.Itoa(i+1) || owned != wantOwned[i] || m[3] != "8" {
			t.Errorf("shard %d says %q, want %d of 8 sources", i+1, m[0], wantOwned[i])
		}
		wantCtl, wantHere := map[int]string{0: "true", 1: "false"}[i], map[int]string{0: "demand,sla", 1: `"none (another process runs them)"`}[i]
		if m[4] != wantCtl || m[5] != wantHere {
			t.Errorf("shard %d: site_controllers=%s controllers_here=%s, want %s %s", i+1, m[4], m[5], wantCtl, wantHere)
		}
	}

	r := influx.NewReader(db.URL, "", "", db.Bucket())
	defer r.Close()
	// Every meter polled by one shard: about one sample a second, not two.
	perMeter, err := r.CountBy(context.Background(), "power", "kw", "meter", start.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	maxN := int64(elapsed/time.Second) + 2
	for name := range meterShard {
		if n := perMeter[name]; n < 3 || n > maxN {
			t.Errorf("meter %s: %d samples in %s at 1 s (want 3..%d: polled once, by shard %d)", name, n, elapsed.Round(time.Second), maxN, meterShard[name]+1)
		}
	}
	perHost, err := r.CountBy(context.Background(), "host", "vms_total", "host", start.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{hostA, hostB} {
		if n := perHost[h]; n < 3 || n > maxN {
			t.Errorf("host %s: %d polls in %s at 1 s (want 3..%d)", h, n, elapsed.Round(time.Second), maxN)
		}
	}
	// One demand controller: one decision a tick.
	dem, err := r.PointsSince(context.Background(), "dc1", []string{"demand"}, start.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(dem) < 3 {
		t.Errorf("%d demand points", len(dem))
	}
	for i := 1; i < len(dem); i++ {
		if gap := dem[i].Time.Sub(dem[i-1].Time); gap < 500*time.Millisecond {
			t.Errorf("demand points %s apart at %s: two controllers", gap, dem[i].Time)
		}
	}
	// One SLA engine: each service's timeline once, from started to stopped.
	store, err := influx.NewSLAStore(influx.SLAStoreConfig{URL: db.URL, Bucket: db.Bucket()})
	if err != nil {
		t.Fatal(err)
	}
	changes, err := store.StateChanges(context.Background(), "dc1", []string{"web", "app"}, start.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"web", "app"} {
		var got []string
		for _, c := range changes[svc] {
			got = append(got, c.State.String()+" "+c.Cause)
		}
		want := []string{"UNKNOWN " + slactl.CauseStarted, "UP ", "UNKNOWN " + slactl.CauseStopped}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("%s's stored changes:\n got %q\nwant %q", svc, got, want)
		}
	}
}
