package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/executor"
)

// shedSite is a site for the shedding controller through the binary: a
// real influxd with the site's facility meter written every second at a
// load the test sets, four test:/// libvirt hosts and the planner's
// inventory of them.
type shedSite struct {
	dir  string
	db   *influx.Influxd
	kw   atomic.Value // float64
	inv  string
	hyps []sim.SimHost
}

func newShedSite(t *testing.T, kw float64) *shedSite {
	t.Helper()
	// The shed and the restore depend on the time left in the block.
	waitBlockRoom(t, 15*time.Minute, 4*time.Minute)
	s := &shedSite{dir: t.TempDir(), db: testinflux.Start(t)}
	s.kw.Store(kw)
	w, err := influx.NewWriter(influx.WriterConfig{URL: s.db.URL, Bucket: s.db.Bucket(), BatchSize: 5000, FlushInterval: 100 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The block so far at the starting load, then a point a second.
	now := time.Now().Truncate(time.Second)
	start := now.Truncate(15 * time.Minute).Add(-time.Minute)
	total := 1000.0
	mk := func(tt time.Time, k float64) point.Point {
		return point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
			Fields: map[string]any{"kw": k, "kwh_total": total}, Time: tt}
	}
	var pts []point.Point
	for tt := start; tt.Before(now); tt = tt.Add(time.Second) {
		pts = append(pts, mk(tt, kw))
		total += kw / 3600
	}
	testinflux.Write(t, s.db, pts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := now
		for {
			select {
			case <-ctx.Done():
				return
			case tt := <-tick.C:
				k := s.kw.Load().(float64)
				for ts := last.Add(time.Second); !ts.After(tt.Truncate(time.Second)); ts = ts.Add(time.Second) {
					total += k / 3600
					_ = w.Write(ctx, []point.Point{mk(ts, k)})
					last = ts
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); w.Close() })

	s.hyps, err = sim.WriteInventory(filepath.Join(s.dir, "hosts"), sim.InventorySpec{Hosts: 4, VMsPerHost: 3, Seed: 7, CPUs: 32, MemoryGiB: 128})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("site: dc1\npue: 1.5\nhosts:\n")
	for _, h := range s.hyps {
		fmt.Fprintf(&b, "  - {name: %s, cpu: 32, memory_gb: 128, idle_w: 3000, slope_w: 2000, bmc: ipmi, power_on_latency: 30s, shutdown_latency: 20s}\n", h.Name)
	}
	b.WriteString("vms:\n")
	for _, h := range s.hyps {
		for _, vm := range h.Hypervisor.VMs {
			if vm.Active() {
				fmt.Fprintf(&b, "  - {name: %s, host: %s, cpu: 1, memory_gb: %.2f}\n", vm.Name, h.Name, math.Ceil(float64(vm.MemoryKiB)/(1<<20)))
			}
		}
	}
	s.inv = filepath.Join(s.dir, "inventory.yaml")
	if err := os.WriteFile(s.inv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// config writes the main configuration; modeLine is "" (the default) or
// "  mode: X\n".
func (s *shedSite) config(t *testing.T, modeLine string) string {
	t.Helper()
	var hosts strings.Builder
	for _, h := range s.hyps {
		fmt.Fprintf(&hosts, "    - {name: %s, uri: %q, interval: 2s}\n", h.Name, h.URI)
	}
	y := fmt.Sprintf(`site: {name: dc1, timezone: Asia/Tokyo}
influx: {url: %s, bucket: %s, flush_interval: 200ms}
server: {listen: "127.0.0.1:0", metrics_public: true}
log: {level: debug}
libvirt:
  hosts:
%sdemand:
  block: 15m
  tick: 1s
  max_gap: 10s
  no_action: 0s
  limits:
    - contract: {kw: 30}
shed:
  inventory: %s
  restore_after: 3s
executor:
%s  store: %s
  lock_ttl: 3s
`, s.db.URL, s.db.Bucket(), hosts.String(), s.inv, modeLine, filepath.Join(s.dir, "audit.db"))
	path := filepath.Join(s.dir, "setsuden.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeShedValidateConfig writes inv as inventory.yaml and a configuration
// that sheds from it (demand limit, relative shed.inventory, executor
// store; InfluxDB unreachable: for validate and run's refusals), with extra
// appended, into a new directory; it returns the directory and the
// configuration's path.
func writeShedValidateConfig(t *testing.T, inv, extra string) (dir, conf string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inventory.yaml"), []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	conf = filepath.Join(dir, "setsuden.yaml")
	y := `site: {name: dc1}
influx: {url: "http://127.0.0.1:1", bucket: setsuden/autogen}
demand:
  limits:
    - contract: {kw: 30}
shed:
  inventory: inventory.yaml
executor:
  store: audit.db
` + extra
	if err := os.WriteFile(conf, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, conf
}

// replaceInFile replaces the first old in the file at path by new; a file
// without old fails the test (the configuration it edits has changed).
func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q to replace:\n%s", path, old, b)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startShedRun starts `setsuden run` (the built binary) on a shed site of
// 32 kW against a 30 kW limit, with the executor's mode line modeLine ("":
// the default); it skips under -short.
func startShedRun(t *testing.T, modeLine string) (s *shedSite, bin, conf string, d *daemon) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	bin = buildBinary(t)
	s = newShedSite(t, 32)
	conf = s.config(t, modeLine)
	return s, bin, conf, startDaemon(t, bin, conf)
}

// daemon is `setsuden run` with its log in a buffer.
type daemon struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

func (d *daemon) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(b)
}

func (d *daemon) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

func startDaemon(t *testing.T, bin, conf string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(bin, "run", "--config", conf)}
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("setsuden run log:\n%s", d.logs())
		}
	})
	return d
}

// waitLog waits until the daemon's log has a line with every one of subs.
func (d *daemon) waitLog(t *testing.T, within time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(d.logs(), "\n") {
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				return line
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no log line with %q within %s", subs, within)
	return ""
}

func listPlans(t *testing.T, bin, conf string) []executor.Plan {
	t.Helper()
	out, errb, err := runExecute(t, bin, "--config", conf, "--list")
	if err != nil {
		t.Fatalf("execute --list: %v\n%s", err, errb)
	}
	var plans []executor.Plan
	if err := json.Unmarshal([]byte(out), &plans); err != nil {
		t.Fatalf("execute --list: %v\n%s", err, out)
	}
	return plans
}

// TestRunShedsInAdviseModeByDefault: with the demand limit (30 kW) below
// the site's load (32 kW) and no executor mode set, `setsuden run` plans a
// shed from the inventory and libvirt's placement, records it advised
// with every step pending (nothing runs: every domain stays where it is),
// logs it and writes audit points to influxd; when the load falls it
// proposes the restore of the hosts the shed would have released.
func TestRunShedsInAdviseModeByDefault(t *testing.T) {
	s, bin, conf, d := startShedRun(t, "")
	line := d.waitLog(t, 90*time.Second, "shed plan submitted")
	if !strings.Contains(line, "state=advised") {
		t.Errorf("shed plan log %q: want state=advised (the default mode)", line)
	}
	plans := listPlans(t, bin, conf)
	var shedPlan *executor.Plan
	for i := range plans {
		if plans[i].Kind == "shed" {
			shedPlan = &plans[i]
		}
	}
	if shedPlan == nil {
		t.Fatalf("no shed plan in the audit store: %+v", plans)
	}
	if shedPlan.State != executor.PlanAdvised || shedPlan.PredictedKW <= 0 || len(shedPlan.Steps) == 0 {
		t.Errorf("shed plan %s: state %s, predicted %.2f kW, %d steps; want advised, a saving, steps", shedPlan.ID, shedPlan.State, shedPlan.PredictedKW, len(shedPlan.Steps))
	}
	powerOffs := 0
	for _, st := range shedPlan.Steps {
		if st.State != executor.StepPending || st.Runs != 0 {
			t.Errorf("step %s %s: state %s runs %d, want pending and never run", st.ID, st.Kind, st.State, st.Runs)
		}
		if st.Kind == executor.StepPowerOff {
			powerOffs++
		}
	}
	if powerOffs == 0 {
		t.Errorf("shed plan %s powers no host off: %+v", shedPlan.ID, shedPlan.Steps)
	}
	// Only one shed at a time: more requests while it is in force are not
	// stacked.
	time.Sleep(3 * time.Second)
	n := 0
	for _, p := range listPlans(t, bin, conf) {
		if p.Kind == "shed" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d shed plans after 3 s more of requests, want 1", n)
	}
	// The audit points reach influxd.
	r := influx.NewReader(s.db.URL, "", "", s.db.Bucket())
	defer r.Close()
	deadline := time.Now().Add(30 * time.Second)
	var events map[string]bool
	for time.Now().Before(deadline) {
		events = map[string]bool{}
		vals, err := r.Last(context.Background(), "audit", "dc1", time.Hour)
		if err == nil {
			for _, v := range vals {
				if v.Tags["plan"] == shedPlan.ID || v.Tags["plan"] == "" {
					events[v.Tags["event"]] = true
				}
			}
		}
		if events["plan_submitted"] && events["executor_started"] {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !events["plan_submitted"] || !events["executor_started"] {
		t.Errorf("audit events in influxd %v: want executor_started and plan_submitted of %s", events, shedPlan.ID)
	}
	// The load falls: headroom (or the window's end) brings a restore.
	s.kw.Store(1.0)
	t.Logf("shed: %s", line)
	line = d.waitLog(t, 90*time.Second, "restore plan submitted")
	t.Logf("restore: %s", line)
	if !strings.Contains(line, "restores="+shedPlan.ID) || !strings.Contains(line, "state=advised") {
		t.Errorf("restore log %q: want the restore of %s, advised", line, shedPlan.ID)
	}
	var restore *executor.Plan
	for _, p := range listPlans(t, bin, conf) {
		if p.Kind == "restore" {
			restore = &p
		}
	}
	if restore == nil {
		t.Fatal("no restore plan in the audit store")
	}
	ons := 0
	for _, st := range restore.Steps {
		if st.Kind == executor.StepPowerOn {
			ons++
		}
		if st.State != executor.StepPending {
			t.Errorf("restore step %s: %s, want pending", st.ID, st.State)
		}
	}
	if ons != powerOffs {
		t.Errorf("restore powers on %d hosts, the shed powered off %d", ons, powerOffs)
	}
	// The executor's metrics are on the daemon's /metrics.
	ui := regexp.MustCompile(`ui=(http://\S+)`).FindStringSubmatch(d.logs())
	if ui == nil {
		t.Fatal("no ui= in the log")
	}
	resp, err := http.Get(ui[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`setsuden_executor_plans_total{state="advised"} 2`, `setsuden_executor_mode{mode="advise"} 1`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
	if !strings.Contains(d.logs(), "controllers_here=demand,shed") {
		t.Errorf("the site role line does not list the shedding controller")
	}
}

// TestRunShedModeOffPlansNothing: mode off records no plan, says so once.
func TestRunShedModeOffPlansNothing(t *testing.T) {
	_, bin, conf, d := startShedRun(t, "  mode: off\n")
	d.waitLog(t, 90*time.Second, "shed decision", "executor mode is off: no plan")
	time.Sleep(3 * time.Second)
	if plans := listPlans(t, bin, conf); len(plans) != 0 {
		t.Errorf("mode off: %d plans in the audit store, want none: %+v", len(plans), plans)
	}
	if n := strings.Count(d.logs(), `msg="shed decision" component=shed site=dc1 action=shed`); n != 1 {
		t.Errorf("mode off logged %d times, want once", n)
	}
}

// TestRunShedApproveModeThroughExecute: in approve mode the shed plan
// waits; `setsuden execute --approve` while the daemon holds the site lock
// records the request, the daemon approves it and runs the plan. The
// test:/// driver cannot migrate, so the real MigrateToURI3 path fails at
// the first migration: the plan stops there, no host is powered off and
// every domain is still running where it was.
func TestRunShedApproveModeThroughExecute(t *testing.T) {
	s, bin, conf, d := startShedRun(t, "  mode: approve\n")
	d.waitLog(t, 90*time.Second, "shed plan waits for an operator", "--approve shed-")
	var id string
	for _, p := range listPlans(t, bin, conf) {
		if p.Kind == "shed" && p.State == executor.PlanAwaiting {
			id = p.ID
		}
	}
	if id == "" {
		t.Fatalf("no awaiting shed plan: %+v", listPlans(t, bin, conf))
	}
	out, errb, err := runExecute(t, bin, "--config", conf, "--approve", id, "--operator", "alice")
	if err != nil || !strings.Contains(out, `"event":"approve_requested"`) {
		t.Fatalf("execute --approve while the daemon runs: %v\n%s\n%s", err, out, errb)
	}
	var plan *executor.Plan
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range listPlans(t, bin, conf) {
			if p.ID == id && p.State.Final() {
				plan = &p
			}
		}
		if plan != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if plan == nil {
		t.Fatalf("plan %s did not end within 60 s of the approval", id)
	}
	if plan.State != executor.PlanFailed {
		t.Errorf("plan %s: %s, want failed (the test driver cannot migrate)", id, plan.State)
	}
	for _, st := range plan.Steps {
		if st.Kind == executor.StepPowerOff && st.State == executor.StepDone {
			t.Errorf("step %s powered %s off after a failed migration", st.ID, st.Host)
		}
	}
	if !strings.Contains(d.logs(), "actor=operator:alice") || !strings.Contains(d.logs(), "msg=plan_approved") {
		t.Errorf("the approval by alice is not in the daemon's audit log")
	}
	// The VM of the failed migration still runs on its source: the
	// collector's newest vm points (after the failure) say so.
	var failed *executor.Step
	for i, st := range plan.Steps {
		if st.Kind == executor.StepMigrate && st.State == executor.StepFailed {
			failed = &plan.Steps[i]
		}
	}
	if failed == nil {
		t.Fatalf("no failed migration in %+v", plan.Steps)
	}
	r := influx.NewReader(s.db.URL, "", "", s.db.Bucket())
	defer r.Close()
	after := time.Now()
	deadline = after.Add(30 * time.Second)
	var hosts []string
	for time.Now().Before(deadline) {
		hosts = nil
		vals, _ := r.Last(context.Background(), "vm", "dc1", time.Minute)
		for _, v := range vals {
			if v.Tags["vm"] == failed.VM && v.Time.After(after) {
				hosts = append(hosts, v.Tags["host"])
			}
		}
		if len(hosts) > 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(hosts) == 0 {
		t.Fatalf("no vm point of %s after the failure", failed.VM)
	}
	for _, h := range hosts {
		if h != failed.From {
			t.Errorf("%s seen on %s after its failed migration, want only %s", failed.VM, h, failed.From)
		}
	}
}

// TestValidateAndRunReportTheInventorysProblems: a broken inventory file
// is reported by `setsuden validate` and refused by `setsuden run` as
// INVENTORY:LINE: field: problem, before anything starts; a relative
// shed.inventory is read beside the configuration.
func TestValidateAndRunReportTheInventorysProblems(t *testing.T) {
	bin := buildBinary(t)
	dir, conf := writeShedValidateConfig(t, "site: dc1\nhosts:\n  - {name: h1, cpu: -4, memory_gb: 64, idle_w: 100, slope_w: 100}\nvms:\n  - {name: v1, host: nowhere, cpu: 1, memory_gb: 1}\n", "")
	out, err := exec.Command(bin, "validate", "--config", conf).CombinedOutput()
	if err == nil {
		t.Fatalf("validate passed a broken inventory:\n%s", out)
	}
	want := filepath.Join(dir, "inventory.yaml") + ":3: hosts[0].cpu:"
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "nowhere") {
		t.Errorf("validate output:\n%s\nwant a line starting %q and the unknown host named", out, want)
	}
	out, err = exec.Command(bin, "run", "--config", conf).CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("run with a broken inventory: %v\n%s\nwant a refusal naming %q", err, out, want)
	}
}

// TestRunDemandAsksNoMoreThanThePlannerCanShed: with the limit (10 kW)
// far below the load (32 kW), the demand controller's request is capped at
// what the planner can release (the consolidation `setsuden plan` finds on
// the same inventory), and the limit is reported out of reach.
func TestRunDemandAsksNoMoreThanThePlannerCanShed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	bin := buildBinary(t)
	s := newShedSite(t, 32)
	conf := s.config(t, "")
	replaceInFile(t, conf, "contract: {kw: 30}", "contract: {kw: 10}")
	out, err := exec.Command(bin, "plan", "--inventory", s.inv).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var sum struct {
		ExpectedSavingKW float64 `json:"expected_saving_kw"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.ExpectedSavingKW <= 0 {
		t.Fatalf("setsuden plan summary %q: %v", lines[len(lines)-1], err)
	}
	d := startDaemon(t, bin, conf)
	line := d.waitLog(t, 90*time.Second, "shed plan submitted")
	m := regexp.MustCompile(`request_kw=([0-9.]+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no request_kw in %q", line)
	}
	var kw float64
	fmt.Sscanf(m[1], "%g", &kw)
	if kw <= 0 || kw > sum.ExpectedSavingKW+0.01 {
		t.Errorf("request %.2f kW, want at most the %.2f kW the planner can release (load 32 kW, limit 10 kW)", kw, sum.ExpectedSavingKW)
	}
	d.waitLog(t, 30*time.Second, "demand limit out of reach this block")
	t.Logf("request %.2f kW, planner's most %.2f kW", kw, sum.ExpectedSavingKW)
}

// TestRunShedApproveModeWithdrawsAnUnapprovedPlan: a shed plan nobody
// approved is withdrawn (cancelled, audited) once headroom has lasted,
// instead of a restore of what never ran; no plan is stacked meanwhile.
func TestRunShedApproveModeWithdrawsAnUnapprovedPlan(t *testing.T) {
	s, bin, conf, d := startShedRun(t, "  mode: approve\n")
	d.waitLog(t, 90*time.Second, "shed plan waits for an operator")
	s.kw.Store(1.0)
	d.waitLog(t, 90*time.Second, "msg=shed_withdrawn")
	plans := listPlans(t, bin, conf)
	if len(plans) != 1 || plans[0].Kind != "shed" || plans[0].State != executor.PlanCancelled {
		t.Fatalf("plans %+v, want the one shed plan, cancelled", plans)
	}
	for _, st := range plans[0].Steps {
		if st.State != executor.StepCancelled || st.Runs != 0 {
			t.Errorf("step %s: %s after %d runs, want cancelled, never run", st.ID, st.State, st.Runs)
		}
	}
}

// TestRunShedAdoptsAnAwaitingPlanAfterARestart: a shed plan awaiting
// approval when the daemon stops is the shed in force after its restart:
// no second shed plan is stacked while demand still asks, and it is
// withdrawn once headroom has lasted.
func TestRunShedAdoptsAnAwaitingPlanAfterARestart(t *testing.T) {
	s, bin, conf, d := startShedRun(t, "  mode: approve\n")
	d.waitLog(t, 90*time.Second, "shed plan waits for an operator")
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("first daemon: %v", err)
	}
	d2 := startDaemon(t, bin, conf)
	d2.waitLog(t, 60*time.Second, "shed plan from a previous start adopted", "state=awaiting")
	d2.waitLog(t, 30*time.Second, "msg=\"demand stage up\"")
	time.Sleep(3 * time.Second)
	if plans := listPlans(t, bin, conf); len(plans) != 1 {
		t.Fatalf("%d plans after the restart under load, want the one adopted: %+v", len(plans), plans)
	}
	s.kw.Store(1.0)
	d2.waitLog(t, 90*time.Second, "msg=shed_withdrawn")
	plans := listPlans(t, bin, conf)
	if len(plans) != 1 || plans[0].State != executor.PlanCancelled {
		t.Errorf("plans %+v, want the adopted plan withdrawn", plans)
	}
}
