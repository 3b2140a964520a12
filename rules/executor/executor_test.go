package executor_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/executor"
)

// fakeHV is an in-memory hypervisor fleet for the executor's logic tests
// (the real-part tests use two real libvirtd).
type fakeHV struct {
	mu       sync.Mutex
	total    map[string]int64
	doms     map[string]map[string]int64 // host -> vm -> MiB
	down     map[string]bool
	delay    time.Duration
	inflight atomic.Int32
	maxSeen  atomic.Int32
}

func newFakeHV(hosts ...string) *fakeHV {
	f := &fakeHV{total: map[string]int64{}, doms: map[string]map[string]int64{}, down: map[string]bool{}, delay: 50 * time.Millisecond}
	for _, h := range hosts {
		f.total[h] = 4096
		f.doms[h] = map[string]int64{}
	}
	return f
}

func (f *fakeHV) put(host, vm string, mib int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.doms[host][vm] = mib
}

func (f *fakeHV) Occupancy(_ context.Context, host string) (executor.Occupancy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[host] {
		return executor.Occupancy{}, fmt.Errorf("%s: connection refused", host)
	}
	o := executor.Occupancy{MemTotalMiB: f.total[host]}
	for vm, m := range f.doms[host] {
		o.Domains = append(o.Domains, executor.Domain{Name: vm, MemMiB: m})
	}
	return o, nil
}

func (f *fakeHV) Migrate(ctx context.Context, vm, from, to string) error {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(f.delay):
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.doms[from][vm]
	delete(f.doms[from], vm)
	f.doms[to][vm] = m
	return nil
}

func (f *fakeHV) AbortJob(context.Context, string, string) (bool, error) { return false, nil }

type fakePower struct {
	mu sync.Mutex
	on bool
}

func (p *fakePower) PowerIsOn(context.Context) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.on, nil
}
func (p *fakePower) PowerOn(context.Context) error {
	p.mu.Lock()
	p.on = true
	p.mu.Unlock()
	return nil
}
func (p *fakePower) PowerOff(_ context.Context, hard bool) error {
	if !hard {
		return errors.New("no OS agent")
	}
	p.mu.Lock()
	p.on = false
	p.mu.Unlock()
	return nil
}

type fakeSetPoints struct {
	mu     sync.Mutex
	v      map[string]float64
	stuck  bool // writes are accepted but not applied
	writes []string
}

func (s *fakeSetPoints) Write(_ context.Context, href string, v float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, fmt.Sprintf("%s=%g", href, v))
	if !s.stuck {
		s.v[href] = v
	}
	return nil
}

func (s *fakeSetPoints) Read(_ context.Context, href string) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.v[href]
	if !ok {
		return 0, fmt.Errorf("%s: not found", href)
	}
	return v, nil
}

// meter reports a site power that drops by 0.3 kW while h1 is off.
type meter struct{ p *fakePower }

func (m meter) MeanSiteKW(context.Context, time.Time, time.Time) (float64, error) {
	if on, _ := m.p.PowerIsOn(context.Background()); on {
		return 5.3, nil
	}
	return 5.0, nil
}

type sink struct {
	mu  sync.Mutex
	pts []point.Point
}

func (s *sink) Emit(p point.Point) { s.mu.Lock(); s.pts = append(s.pts, p); s.mu.Unlock() }

func openStore(t *testing.T, path string) *executor.Store {
	t.Helper()
	st, err := executor.OpenStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func start(t *testing.T, st *executor.Store, cfg executor.Config, d executor.Deps) *executor.Executor {
	t.Helper()
	if cfg.Site == "" {
		cfg.Site = "dc1"
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if d.Log == nil {
		d.Log = testLog(t)
	}
	e, err := executor.New(cfg, st, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestLockOneExecutorPerSite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	st1, st2 := openStore(t, path), openStore(t, path)
	hv := newFakeHV("h1")
	a := start(t, st1, executor.Config{Owner: "a", LockTTL: time.Hour}, executor.Deps{Hypervisors: hv})
	b, _ := executor.New(executor.Config{Site: "dc1", Owner: "b", LockTTL: time.Hour}, st2, executor.Deps{Hypervisors: hv, Log: testLog(t)})
	err := b.Start(context.Background())
	var le *executor.LockError
	if !errors.As(err, &le) || le.Owner != "a" || !strings.Contains(err.Error(), "will not act") {
		t.Fatalf("second executor: %v, want a LockError naming a", err)
	}
	if _, err := b.Submit(context.Background(), executor.Plan{ID: "x", Steps: []executor.Step{{ID: "s", Kind: executor.StepPowerOn, Host: "h1"}}}, "t"); err == nil {
		t.Fatal("the refused executor accepted a plan")
	}
	// Another site is another lock.
	c := start(t, st2, executor.Config{Site: "dc2", Owner: "c"}, executor.Deps{Hypervisors: hv})
	_ = c
	a.Close()
	if err := b.Start(context.Background()); err != nil {
		t.Fatalf("after a released the lock: %v", err)
	}
	b.Close()
	// A stale lock (no heartbeat for longer than its TTL) is taken over.
	if err := st1.AcquireLock(context.Background(), "dc1", "dead", time.Second, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st2.AcquireLock(context.Background(), "dc1", "d", time.Second, time.Now()); err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
}

func TestDrainWithFakesBoundedAndMeasured(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	hv := newFakeHV("h1", "h2")
	hv.delay = 100 * time.Millisecond
	for i := 0; i < 5; i++ {
		hv.put("h1", fmt.Sprintf("v%d", i), 256)
	}
	pw := &fakePower{on: true}
	sk := &sink{}
	reg := prometheus.NewRegistry()
	e := start(t, st, executor.Config{Mode: executor.ModeAuto, Parallel: 2, SoftOffWait: 50 * time.Millisecond, MeasureWindow: 200 * time.Millisecond},
		executor.Deps{Hypervisors: hv, Power: map[string]executor.Power{"h1": pw}, Meters: meter{pw}, Sink: sk, Registerer: reg})
	p := drainPlan("fake-1", "v0", "v1", "v2", "v3", "v4")
	if _, err := e.Submit(context.Background(), p, "test"); err != nil {
		t.Fatal(err)
	}
	e.Wait(context.Background(), "fake-1")
	got := e.Get("fake-1")
	if got.State != executor.PlanDone {
		t.Fatalf("%s: %s", got.State, got.StateReason)
	}
	if n, err := testutil.GatherAndCount(reg, "setsuden_executor_steps_total"); err != nil || n != 2 {
		t.Errorf("steps_total series %d (%v), want migrate/done and power_off/done", n, err)
	}
	if v := testutil.ToFloat64(executorCounter(t, reg, "setsuden_executor_steps_total", "migrate", "done")); v != 5 {
		t.Errorf("migrate done = %v, want 5", v)
	}
	if m := hv.maxSeen.Load(); m != 2 {
		t.Errorf("at most %d migrations at once, want exactly the bound 2", m)
	}
	deadline := time.Now().Add(10 * time.Second)
	measured := func() bool {
		sk.mu.Lock()
		defer sk.mu.Unlock()
		for _, p := range sk.pts {
			if p.Tags["event"] == "plan_measured" {
				return true
			}
		}
		return false
	}
	// plan_measured is recorded after the value is stored.
	for !measured() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got = e.Get("fake-1")
	if got.MeasuredKW == nil || math.Abs(*got.MeasuredKW-0.3) > 1e-9 || *got.BaselineKW != 5.3 {
		t.Fatalf("measured %v baseline %v, want 0.3 saved from 5.3", got.MeasuredKW, got.BaselineKW)
	}
	sk.mu.Lock()
	n := len(sk.pts)
	var sawMeasured bool
	for _, p := range sk.pts {
		if p.Measurement != "audit" || p.Validate() != nil {
			t.Errorf("bad audit point %+v", p)
		}
		sawMeasured = sawMeasured || p.Tags["event"] == "plan_measured"
	}
	sk.mu.Unlock()
	if n == 0 || !sawMeasured {
		t.Errorf("%d audit points, plan_measured seen %v", n, sawMeasured)
	}
	// The store has it after a reopen.
	st2 := openStore(t, st.Path())
	plans, _ := st2.Plans(context.Background(), "dc1")
	if len(plans) != 1 || plans[0].MeasuredKW == nil || plans[0].State != executor.PlanDone || plans[0].Steps[5].State != executor.StepDone {
		t.Fatalf("reopened store: %+v", plans)
	}
}

func TestPreconditionsAgainstLiveState(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	hv := newFakeHV("h1", "h2")
	hv.put("h1", "big", 4000)
	hv.put("h2", "resident", 1000)
	hv.put("h2", "moved", 100) // already on the destination
	pw := &fakePower{on: true}
	e := start(t, st, executor.Config{Mode: executor.ModeAuto}, executor.Deps{Hypervisors: hv, Power: map[string]executor.Power{"h1": pw}})
	ctx := context.Background()
	run := func(p executor.Plan) *executor.Plan {
		t.Helper()
		if _, err := e.Submit(ctx, p, "t"); err != nil {
			t.Fatal(err)
		}
		e.Wait(ctx, p.ID)
		return e.Get(p.ID)
	}
	p := run(executor.Plan{ID: "moot", Steps: []executor.Step{{ID: "m", Kind: executor.StepMigrate, VM: "moved", From: "h1", To: "h2"}}})
	if s := stepState(p, "m"); s.State != executor.StepSkipped || !strings.Contains(s.Reason, "already runs on h2") {
		t.Errorf("moot migration: %s %q", s.State, s.Reason)
	}
	p = run(executor.Plan{ID: "room", Steps: []executor.Step{{ID: "m", Kind: executor.StepMigrate, VM: "big", From: "h1", To: "h2"},
		{ID: "off", Kind: executor.StepPowerOff, Host: "h1", DependsOn: []string{"m"}}}})
	if s := stepState(p, "m"); s.State != executor.StepFailed || !strings.Contains(s.Reason, "no room") {
		t.Errorf("full destination: %s %q", s.State, s.Reason)
	}
	if p.State != executor.PlanFailed || stepState(p, "off").State != executor.StepCancelled {
		t.Errorf("plan %s, off %s", p.State, stepState(p, "off").State)
	}
	hv.mu.Lock()
	hv.down["h2"] = true
	hv.mu.Unlock()
	hv.put("h1", "small", 10)
	p = run(executor.Plan{ID: "down", Steps: []executor.Step{{ID: "m", Kind: executor.StepMigrate, VM: "small", From: "h1", To: "h2"}}})
	if s := stepState(p, "m"); s.State != executor.StepFailed || !strings.Contains(s.Reason, "does not answer") {
		t.Errorf("destination down: %s %q", s.State, s.Reason)
	}
	if on, _ := pw.PowerIsOn(ctx); !on {
		t.Fatal("h1 powered off with guests")
	}
	// Unknown BMC.
	p = run(executor.Plan{ID: "nobmc", Steps: []executor.Step{{ID: "off", Kind: executor.StepPowerOff, Host: "h2"}}})
	if s := stepState(p, "off"); s.State != executor.StepFailed || !strings.Contains(s.Reason, "no BMC") {
		t.Errorf("no bmc: %s %q", s.State, s.Reason)
	}
}

func TestSetPointsReadBackAndRevert(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	sp := &fakeSetPoints{v: map[string]float64{"/obix/chw/setpoint": 7, "/obix/crah/fan": 80}}
	e := start(t, st, executor.Config{Mode: executor.ModeAuto}, executor.Deps{Hypervisors: newFakeHV(), SetPoints: sp})
	ctx := context.Background()
	v9, v60 := 9.0, 60.0
	if _, err := e.Submit(ctx, executor.Plan{ID: "sp", Steps: []executor.Step{
		{ID: "s1", Kind: executor.StepSetpoint, Point: "/obix/chw/setpoint", Value: &v9},
		{ID: "s2", Kind: executor.StepSetpoint, Point: "/obix/crah/fan", Value: &v60}}}, "t"); err != nil {
		t.Fatal(err)
	}
	e.Wait(ctx, "sp")
	p := e.Get("sp")
	if p.State != executor.PlanDone || *stepState(p, "s1").Previous != 7 {
		t.Fatalf("%s, previous %v", p.State, stepState(p, "s1").Previous)
	}
	rp, err := e.RestorePlan("restore")
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.Steps) != 2 || rp.Steps[0].Kind != executor.StepSetpointRevert {
		t.Fatalf("restore plan %+v", rp.Steps)
	}
	if _, err := e.Submit(ctx, rp, "t"); err != nil {
		t.Fatal(err)
	}
	e.Wait(ctx, "restore")
	if p := e.Get("restore"); p.State != executor.PlanDone {
		t.Fatalf("restore %s: %s", p.State, p.StateReason)
	}
	if sp.v["/obix/chw/setpoint"] != 7 || sp.v["/obix/crah/fan"] != 80 {
		t.Fatalf("after restore %v", sp.v)
	}
	if _, err := e.RestorePlan("again"); err == nil {
		t.Error("a second restore plan has steps although everything is restored")
	}
	// A write the device does not take fails at the read-back.
	sp.stuck = true
	if _, err := e.Submit(ctx, executor.Plan{ID: "stuck", Steps: []executor.Step{{ID: "s1", Kind: executor.StepSetpoint, Point: "/obix/chw/setpoint", Value: &v9}}}, "t"); err != nil {
		t.Fatal(err)
	}
	e.Wait(ctx, "stuck")
	if s := stepState(e.Get("stuck"), "s1"); s.State != executor.StepFailed || !strings.Contains(s.Reason, "reads back 7") {
		t.Errorf("stuck write: %s %q", s.State, s.Reason)
	}
}

func TestPlanValidation(t *testing.T) {
	v := 1.0
	for _, c := range []struct {
		p    executor.Plan
		want string
	}{
		{executor.Plan{}, "id is empty"},
		{executor.Plan{ID: "p"}, "no steps"},
		{executor.Plan{ID: "p", Steps: []executor.Step{{ID: "a", Kind: executor.StepMigrate, VM: "v", From: "h", To: "h"}}}, "different hosts"},
		{executor.Plan{ID: "p", Steps: []executor.Step{{ID: "a", Kind: executor.StepPowerOff}}}, "needs host"},
		{executor.Plan{ID: "p", Steps: []executor.Step{{ID: "a", Kind: "reboot", Host: "h"}}}, `kind "reboot"`},
		{executor.Plan{ID: "p", Steps: []executor.Step{{ID: "a", Kind: executor.StepSetpoint, Point: "/x"}}}, "needs point and value"},
		{executor.Plan{ID: "p", Steps: []executor.Step{{ID: "a", Kind: executor.StepPowerOn, Host: "h", DependsOn: []string{"b"}}, {ID: "b", Kind: executor.StepSetpoint, Point: "/x", Value: &v}}}, "not an earlier step"},
		{executor.Plan{ID: "p", Steps: []executor.Step{{ID: "a", Kind: executor.StepPowerOn, Host: "h"}, {ID: "a", Kind: executor.StepPowerOn, Host: "h"}}}, "used twice"},
	} {
		err := c.p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.p, err, c.want)
		}
	}
	if _, err := executor.ParseMode("sometimes"); err == nil {
		t.Error("mode sometimes accepted")
	}
	if m, _ := executor.ParseMode(""); m != executor.ModeAdvise {
		t.Errorf("default mode %s, want advise", m)
	}
}

// softPower accepts a soft off; the host goes off only if obeys is set.
type softPower struct {
	mu    sync.Mutex
	on    bool
	obeys bool
	hard  int
	soft  int
}

func (p *softPower) PowerIsOn(context.Context) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.on, nil
}
func (p *softPower) PowerOn(context.Context) error {
	p.mu.Lock()
	p.on = true
	p.mu.Unlock()
	return nil
}
func (p *softPower) PowerOff(_ context.Context, hard bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hard {
		p.hard++
		p.on = false
	} else {
		p.soft++
		if p.obeys {
			p.on = false
		}
	}
	return nil
}

// TestSoftThenHardOff: a soft off that works needs no hard off; one that
// is ignored is followed by a hard off after SoftOffWait only if the host
// is still empty; a guest that appears during the wait stops the hard off.
func TestSoftThenHardOff(t *testing.T) {
	ctx := context.Background()
	off := func(e *executor.Executor, id string) *executor.Plan {
		t.Helper()
		if _, err := e.Submit(ctx, executor.Plan{ID: id, Steps: []executor.Step{{ID: "off", Kind: executor.StepPowerOff, Host: "h1"}}}, "t"); err != nil {
			t.Fatal(err)
		}
		e.Wait(ctx, id)
		return e.Get(id)
	}
	hv := newFakeHV("h1")
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	obeys := &softPower{on: true, obeys: true}
	e := start(t, st, executor.Config{Mode: executor.ModeAuto, SoftOffWait: 300 * time.Millisecond}, executor.Deps{Hypervisors: hv, Power: map[string]executor.Power{"h1": obeys}})
	if p := off(e, "soft"); p.State != executor.PlanDone || obeys.hard != 0 || obeys.soft != 1 {
		t.Fatalf("obeying host: %s, soft %d hard %d", p.State, obeys.soft, obeys.hard)
	}
	e.Close()

	ignores := &softPower{on: true}
	e = start(t, st, executor.Config{Mode: executor.ModeAuto, Owner: "2", SoftOffWait: 300 * time.Millisecond}, executor.Deps{Hypervisors: hv, Power: map[string]executor.Power{"h1": ignores}})
	begin := time.Now()
	p := off(e, "hard")
	if p.State != executor.PlanDone || ignores.hard != 1 || time.Since(begin) < 300*time.Millisecond {
		t.Fatalf("ignoring host: %s after %s, hard %d", p.State, time.Since(begin), ignores.hard)
	}
	e.Close()

	// A guest lands during the soft-off wait: no hard off.
	late := &softPower{on: true}
	e = start(t, st, executor.Config{Mode: executor.ModeAuto, Owner: "3", SoftOffWait: 500 * time.Millisecond}, executor.Deps{Hypervisors: hv, Power: map[string]executor.Power{"h1": late}})
	go func() {
		time.Sleep(100 * time.Millisecond)
		hv.put("h1", "intruder", 64)
	}()
	p = off(e, "intruder")
	if p.State != executor.PlanFailed || late.hard != 0 || !strings.Contains(stepState(p, "off").Reason, "intruder") {
		t.Fatalf("guest during the wait: %s hard %d: %s", p.State, late.hard, stepState(p, "off").Reason)
	}
}

// executorCounter finds one counter series in reg by its label values.
func executorCounter(t *testing.T, reg *prometheus.Registry, name string, values ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := len(m.GetLabel()) == len(values)
			for i, l := range m.GetLabel() {
				ok = ok && l.GetValue() == values[i]
			}
			if ok {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no %s%v", name, values)
	return nil
}

// TestLockLostStopsActing: an executor whose lock was taken over (its
// heartbeat looked stale to another instance) stops acting and says why.
func TestLockLostStopsActing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	st := openStore(t, path)
	hv := newFakeHV("h1")
	pw := &fakePower{on: true}
	a := start(t, st, executor.Config{Owner: "a", Mode: executor.ModeAuto, LockTTL: 300 * time.Millisecond}, executor.Deps{Hypervisors: hv, Power: map[string]executor.Power{"h1": pw}})
	other := openStore(t, path)
	if err := other.AcquireLock(context.Background(), "dc1", "b", 300*time.Millisecond, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := a.Submit(context.Background(), executor.Plan{ID: fmt.Sprintf("p%d", time.Now().UnixNano()), Steps: []executor.Step{{ID: "on", Kind: executor.StepPowerOn, Host: "h1"}}}, "t")
		if err != nil && strings.Contains(err.Error(), "lost its site lock") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still acting after losing the lock: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	evs, _ := st.Events(context.Background(), "")
	found := false
	for _, e := range evs {
		found = found || e.Event == "lock_lost"
	}
	if !found {
		t.Error("no lock_lost event in the audit")
	}
}
