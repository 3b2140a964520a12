package executor_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/adapters/bmc"
	"github.com/setsuden/setsuden/adapters/bmc/bmctest"
	"github.com/setsuden/setsuden/adapters/libvirt"
	"github.com/setsuden/setsuden/adapters/libvirt/fleet"
	"github.com/setsuden/setsuden/internal/testmigrate"
	"github.com/setsuden/setsuden/internal/testproc"
	"github.com/setsuden/setsuden/rules/executor"
)

// site is two real libvirt hosts: "h1", whose power is a real ipmi_sim BMC
// (power on starts h1's libvirtd, power off stops it), and "h2", always on.
type site struct {
	h1, h2 *testmigrate.Host
	bmc1   *bmctest.BMC
	ipmi1  *bmc.IPMI
	fl     *fleet.Fleet
	store  *executor.Store
	dir    string
	kernel string
}

func newSite(t *testing.T) *site {
	t.Helper()
	testmigrate.Require(t)
	bmctest.Require(t)
	dir := testmigrate.NewDir(t)
	s := &site{dir: dir, fl: newFleet()}
	s.h1 = testmigrate.NewHost(t, dir, "h1", 1)
	s.h2 = testmigrate.StartHost(t, dir, "h2", 2)
	s.bmc1 = bmctest.Start(t, dir, "h1", bmctest.HostScript(t, dir, "h1", s.h1.Command()...))
	var err error
	s.ipmi1, err = bmc.NewIPMI(bmc.IPMIConfig{Addr: s.bmc1.Addr(), User: bmctest.User, Password: bmctest.Password})
	if err != nil {
		t.Fatal(err)
	}
	addHost(s.fl, "h1", s.h1.URI)
	addHost(s.fl, "h2", s.h2.URI)
	t.Cleanup(s.fl.Close)
	s.store, err = executor.OpenStore(context.Background(), filepath.Join(dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.Close() })
	s.kernel = testmigrate.FillKernel(t, dir, 64)
	s.powerOnH1(t)
	return s
}

// powerOnH1 powers h1 on through its BMC and waits for its libvirtd.
func (s *site) powerOnH1(t *testing.T) {
	t.Helper()
	if err := s.ipmi1.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.h1.WaitReady(30 * time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := s.fl.Occupancy(context.Background(), "h1"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("h1's libvirtd does not answer after power on")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *site) executor(t *testing.T, mode executor.Mode, power map[string]executor.Power) *executor.Executor {
	t.Helper()
	if power == nil {
		power = map[string]executor.Power{"h1": s.ipmi1}
	}
	e, err := executor.New(executor.Config{Site: "dc1", Owner: "test", Mode: mode, SoftOffWait: 2 * time.Second,
		PowerOffTimeout: 20 * time.Second, PowerOnTimeout: 30 * time.Second, PollInterval: 100 * time.Millisecond},
		s.store, executor.Deps{Hypervisors: s.fl, Power: power, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func (s *site) guest(t *testing.T, host, name string, slow bool) {
	t.Helper()
	h, err := s.fl.Hypervisor(host)
	if err != nil {
		t.Fatal(err)
	}
	kernel := ""
	if slow {
		kernel = s.kernel
	}
	err = h.WithConn(func(c *lv.Connect) error {
		d, err := c.DomainCreateXML(testmigrate.GuestXML(name, 64, kernel), 0)
		if err != nil {
			return err
		}
		return d.Free()
	})
	if err != nil {
		t.Fatalf("create %s on %s: %v", name, host, err)
	}
	if slow {
		for _, th := range []*testmigrate.Host{s.h1, s.h2} {
			if th.Name == host {
				th.WaitFilled(name, 64)
			}
		}
	}
}

// check fills the case's counts from the processes and the audit store:
// every guest runs exactly once, h1 is not off with a guest, no done step
// was started again.
func (s *site) check(t *testing.T, o *testmigrate.Outcome, plan string, guests ...string) {
	t.Helper()
	testmigrate.CountGuests(t, o, []*testmigrate.Host{s.h1, s.h2}, guests...)
	if on, err := s.bmc1.IpmitoolPowerOn(); err == nil && !on {
		if n := len(s.h1.QemuPids()); n > 0 {
			o.HostsOffWithGuests++
			t.Errorf("h1 is powered off with %d guest(s) running", n)
		}
	}
	if plan != "" {
		o.FinishedStepsRepeated += repeatedSteps(t, s.store, plan)
	}
}

// repeatedSteps counts step_started events recorded after that step's
// step_done: a finished step run again.
func repeatedSteps(t *testing.T, st *executor.Store, plan string) int {
	t.Helper()
	evs, err := st.Events(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	n := 0
	for _, e := range evs {
		switch e.Event {
		case "step_done", "step_skipped":
			done[e.Step] = true
		case "step_started":
			if done[e.Step] {
				n++
				t.Errorf("plan %s: step %s started again after it finished (event %d)", plan, e.Step, e.Seq)
			}
		}
	}
	return n
}

func stepState(p *executor.Plan, id string) executor.Step {
	for _, s := range p.Steps {
		if s.ID == id {
			return s
		}
	}
	return executor.Step{}
}

func wait(t *testing.T, e *executor.Executor, id string) *executor.Plan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := e.Wait(ctx, id); err != nil {
		t.Fatalf("plan %s: %v", id, err)
	}
	return e.Get(id)
}

func logPlan(t *testing.T, p *executor.Plan) {
	t.Helper()
	t.Logf("plan %s: %s (%s)", p.ID, p.State, p.StateReason)
	for _, s := range p.Steps {
		t.Logf("  %s %s %s%s%s: %s — %s", s.ID, s.Kind, s.VM, s.Host, s.To, s.State, s.Reason)
	}
}

func drainPlan(id string, vms ...string) executor.Plan {
	p := executor.Plan{ID: id, Kind: "shed", PredictedKW: 0.3}
	var deps []string
	for i, vm := range vms {
		sid := fmt.Sprintf("m%d", i+1)
		p.Steps = append(p.Steps, executor.Step{ID: sid, Kind: executor.StepMigrate, VM: vm, From: "h1", To: "h2"})
		deps = append(deps, sid)
	}
	p.Steps = append(p.Steps, executor.Step{ID: "off", Kind: executor.StepPowerOff, Host: "h1", DependsOn: deps, ExpectedSavingKW: 0.3})
	return p
}

// TestExecutorRealParts runs plans against two real libvirtd with qemu
// guests and a real ipmi_sim BMC, with the faults of shared/deps.md
// sections 7 and 8; after each, every guest runs exactly once and no host
// with a guest is off.
func TestExecutorRealParts(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	e := s.executor(t, executor.ModeAuto, nil)

	t.Run("advise mode runs nothing", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: advise mode shows the plan, runs nothing")
		s.guest(t, "h1", "adv1", false)
		if err := e.SetMode(ctx, executor.ModeAdvise, "alice"); err != nil {
			t.Fatal(err)
		}
		defer e.SetMode(ctx, executor.ModeAuto, "alice")
		p, err := e.Submit(ctx, drainPlan("advise-1", "adv1"), "test")
		if err != nil {
			t.Fatal(err)
		}
		if p.State != executor.PlanAdvised {
			t.Fatalf("state %s, want advised", p.State)
		}
		if err := e.Approve(ctx, p.ID, "alice"); err == nil {
			t.Fatal("approve in advise mode was accepted")
		}
		if s.h1.QemuPid("adv1") == 0 {
			t.Fatal("adv1 left h1 in advise mode")
		}
		s.check(t, o, p.ID, "adv1")
		killGuest(s.h1, "adv1")
	})

	t.Run("power off refused while a guest runs", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: power off refused while libvirt shows a guest")
		s.guest(t, "h1", "busy1", false)
		p, err := e.Submit(ctx, executor.Plan{ID: "off-busy", Kind: "shed", Steps: []executor.Step{{ID: "off", Kind: executor.StepPowerOff, Host: "h1"}}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		p = wait(t, e, p.ID)
		logPlan(t, p)
		if p.State != executor.PlanFailed || !strings.Contains(stepState(p, "off").Reason, "busy1") {
			t.Fatalf("plan %s / %q, want failed naming busy1", p.State, stepState(p, "off").Reason)
		}
		if on, _ := s.bmc1.IpmitoolPowerOn(); !on {
			t.Fatal("h1 was powered off with busy1 on it")
		}
		s.check(t, o, p.ID, "busy1")
		killGuest(s.h1, "busy1")
	})

	t.Run("drain then power off", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: drain h1 (3 guests), BMC power-off only after libvirt shows it empty")
		for _, g := range []string{"d1", "d2", "d3"} {
			s.guest(t, "h1", g, false)
		}
		p, err := e.Submit(ctx, drainPlan("drain-1", "d1", "d2", "d3"), "test")
		if err != nil {
			t.Fatal(err)
		}
		p = wait(t, e, p.ID)
		logPlan(t, p)
		if p.State != executor.PlanDone {
			t.Fatalf("plan %s: %s", p.State, p.StateReason)
		}
		if on, err := s.bmc1.IpmitoolPowerOn(); err != nil || on {
			t.Fatalf("ipmitool: h1 on=%v (%v), want off", on, err)
		}
		// The power-off started only after every migration was done.
		evs, _ := s.store.Events(ctx, p.ID)
		var lastMigDone, offStart int64
		for _, ev := range evs {
			if ev.Event == "step_done" && strings.HasPrefix(ev.Step, "m") {
				lastMigDone = ev.Seq
			}
			if ev.Event == "step_started" && ev.Step == "off" {
				offStart = ev.Seq
			}
		}
		if offStart == 0 || offStart < lastMigDone {
			t.Errorf("power-off started at event %d, last migration done at %d", offStart, lastMigDone)
		}
		s.check(t, o, p.ID, "d1", "d2", "d3")
	})

	t.Run("restore powers h1 on", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: restore plan powers h1 on (ipmi_sim) and waits for its hypervisor")
		rp, err := e.RestorePlan("restore-1")
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.Submit(ctx, rp, "test")
		if err != nil {
			t.Fatal(err)
		}
		p = wait(t, e, p.ID)
		logPlan(t, p)
		if p.State != executor.PlanDone {
			t.Fatalf("restore %s: %s", p.State, p.StateReason)
		}
		if _, err := s.fl.Occupancy(ctx, "h1"); err != nil {
			t.Fatalf("h1 not answering after restore: %v", err)
		}
		s.check(t, o, p.ID, "d1", "d2", "d3")
		for _, g := range []string{"d1", "d2", "d3"} {
			killGuest(s.h2, g)
		}
	})

	// failing runs one migration that fails by fault() and checks that the
	// plan stopped there: the guest on h1 once, h1 still on.
	failing := func(t *testing.T, caseName, id, vm string, slow bool, fault func(), wantStep executor.StepState) {
		o := testmigrate.Case(t, caseName)
		s.guest(t, "h1", vm, slow)
		if slow {
			s.fl.SetBandwidth(1)
			defer s.fl.SetBandwidth(0)
			var once sync.Once
			s.fl.OnProgress(func(v string, p libvirt.MigrateProgress) {
				if v == vm && p.DataDone > 2<<20 && s.h2.QemuPid(vm) != 0 {
					once.Do(func() { go fault() })
				}
			})
			defer s.fl.OnProgress(nil)
		} else {
			fault()
		}
		p, err := e.Submit(ctx, drainPlan(id, vm), "test")
		if err != nil {
			t.Fatal(err)
		}
		p = wait(t, e, p.ID)
		logPlan(t, p)
		if got := stepState(p, "m1").State; got != wantStep {
			t.Errorf("migrate step %s, want %s", got, wantStep)
		}
		if slow && strings.Contains(stepState(p, "m1").Reason, "precondition") {
			t.Errorf("the migration never started: %s", stepState(p, "m1").Reason)
		}
		if got := stepState(p, "off").State; got != executor.StepCancelled {
			t.Errorf("power-off step %s, want cancelled (not run)", got)
		}
		if on, _ := s.bmc1.IpmitoolPowerOn(); !on {
			t.Error("h1 is off")
		}
		deadline := time.Now().Add(30 * time.Second)
		for s.h2.QemuPid(vm) != 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		s.check(t, o, p.ID, vm)
		if s.h1.QemuPid(vm) == 0 {
			t.Errorf("%s is not on its source", vm)
		}
		killGuest(s.h1, vm)
	}

	t.Run("destination stopped", func(t *testing.T) {
		failing(t, "executor: destination daemon stopped before the move", "dst-stopped", "f1", false, s.h2.Stop, executor.StepFailed)
		s.h2.Start()
	})
	t.Run("migration aborted", func(t *testing.T) {
		failing(t, "executor: migration aborted mid-way (AbortJob from outside)", "aborted", "f2", true, func() {
			h, _ := s.fl.Hypervisor("h1")
			if ok, err := h.AbortJob(ctx, "f2"); !ok || err != nil {
				t.Errorf("abort: %v %v", ok, err)
			}
		}, executor.StepFailed)
	})
	t.Run("destination daemon killed", func(t *testing.T) {
		failing(t, "executor: destination daemon killed mid-way", "dst-killed", "f3", true, s.h2.Kill, executor.StepFailed)
		s.h2.Start()
	})
	t.Run("destination qemu killed", func(t *testing.T) {
		failing(t, "executor: destination qemu killed mid-way", "qemu-killed", "f4", true, func() {
			if p := s.h2.QemuPid("f4"); p != 0 {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}, executor.StepFailed)
	})

	t.Run("cancel during a plan", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: cancel during a plan aborts the migrations in flight")
		for _, g := range []string{"c1", "c2", "c3"} {
			s.guest(t, "h1", g, true)
		}
		s.fl.SetBandwidth(1)
		defer s.fl.SetBandwidth(0)
		inflight := make(chan struct{})
		var once sync.Once
		s.fl.OnProgress(func(v string, p libvirt.MigrateProgress) {
			if p.DataDone > 2<<20 {
				once.Do(func() { close(inflight) })
			}
		})
		defer s.fl.OnProgress(nil)
		p, err := e.Submit(ctx, drainPlan("cancel-1", "c1", "c2", "c3"), "test")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-inflight:
		case <-time.After(2 * time.Minute):
			t.Fatal("no migration in flight")
		}
		start := time.Now()
		if err := e.Cancel(ctx, p.ID, "bob"); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		p = e.Get(p.ID)
		logPlan(t, p)
		t.Logf("cancel returned after %s", took.Round(time.Millisecond))
		if p.State != executor.PlanCancelled {
			t.Errorf("plan %s, want cancelled", p.State)
		}
		for _, st := range p.Steps {
			if st.State != executor.StepCancelled {
				t.Errorf("step %s %s, want cancelled", st.ID, st.State)
			}
		}
		if took > 30*time.Second {
			t.Errorf("cancel took %s", took)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(s.h2.QemuPids()) != 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		s.check(t, o, p.ID, "c1", "c2", "c3")
		for _, g := range []string{"c1", "c2", "c3"} {
			killGuest(s.h1, g)
		}
	})

	t.Run("BMC not answering", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: power-off with the BMC not answering (SIGSTOP) fails, host untouched")
		s.bmc1.Freeze()
		p, err := e.Submit(ctx, executor.Plan{ID: "bmc-frozen", Kind: "shed", Steps: []executor.Step{{ID: "off", Kind: executor.StepPowerOff, Host: "h1"}}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		p = wait(t, e, p.ID)
		s.bmc1.Thaw()
		logPlan(t, p)
		if p.State != executor.PlanFailed {
			t.Errorf("plan %s, want failed", p.State)
		}
		// A timed-out command may still run once the BMC thaws: look.
		time.Sleep(500 * time.Millisecond)
		if on, err := s.bmc1.IpmitoolPowerOn(); err != nil || !on {
			t.Logf("h1 on=%v (%v) after the thaw", on, err)
			s.powerOnH1(t)
		}
		s.check(t, o, p.ID)
	})

	t.Run("wrong password", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: power-off with a wrong BMC password fails, host untouched")
		bad, _ := bmc.NewIPMI(bmc.IPMIConfig{Addr: s.bmc1.Addr(), User: bmctest.User, Password: "nope"})
		e.Close()
		e2 := s.executor(t, executor.ModeAuto, map[string]executor.Power{"h1": bad})
		p, err := e2.Submit(ctx, executor.Plan{ID: "bmc-badpw", Kind: "shed", Steps: []executor.Step{{ID: "off", Kind: executor.StepPowerOff, Host: "h1"}}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		p = wait(t, e2, p.ID)
		logPlan(t, p)
		if p.State != executor.PlanFailed || !strings.Contains(stepState(p, "off").Reason, "session") {
			t.Errorf("plan %s / %q, want failed at the session", p.State, stepState(p, "off").Reason)
		}
		if strings.Contains(stepState(p, "off").Reason, "nope") {
			t.Error("the password is in the audit")
		}
		if on, _ := s.bmc1.IpmitoolPowerOn(); !on {
			t.Error("h1 is off")
		}
		s.check(t, o, p.ID)
		e2.Close()
	})

	t.Run("host not back in time", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: power-on of a host whose hypervisor never answers fails in time and keeps it out")
		h3 := testmigrate.NewHost(t, s.dir, "h3", 3) // never started: the "OS" never boots
		sim3 := bmctest.Start(t, s.dir, "h3", bmctest.HostScript(t, s.dir, "h3"))
		ipmi3, _ := bmc.NewIPMI(bmc.IPMIConfig{Addr: sim3.Addr(), User: bmctest.User, Password: bmctest.Password})
		addHost(s.fl, "h3", h3.URI)
		e3, err := executor.New(executor.Config{Site: "dc1", Owner: "test3", Mode: executor.ModeAuto, PowerOnTimeout: 3 * time.Second, PollInterval: 100 * time.Millisecond},
			s.store, executor.Deps{Hypervisors: s.fl, Power: map[string]executor.Power{"h1": s.ipmi1, "h3": ipmi3}, Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e3.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer e3.Close()
		start := time.Now()
		p, err := e3.Submit(ctx, executor.Plan{ID: "h3-on", Kind: "restore", Steps: []executor.Step{{ID: "on", Kind: executor.StepPowerOn, Host: "h3"}}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		p = wait(t, e3, p.ID)
		logPlan(t, p)
		took := time.Since(start)
		if p.State != executor.PlanFailed || !strings.Contains(stepState(p, "on").Reason, "did not come back") {
			t.Fatalf("plan %s / %q, want failed: did not come back", p.State, stepState(p, "on").Reason)
		}
		if took > 20*time.Second {
			t.Errorf("gave up after %s, want about the 3 s power-on timeout", took)
		}
		if on, _ := sim3.IpmitoolPowerOn(); !on {
			t.Error("the BMC does not report h3 on (the power-on itself should have worked)")
		}
		// A later plan that moves a VM to h3 is refused at its precondition.
		s.guest(t, "h1", "x1", false)
		p2, err := e3.Submit(ctx, executor.Plan{ID: "to-h3", Kind: "shed", Steps: []executor.Step{{ID: "m1", Kind: executor.StepMigrate, VM: "x1", From: "h1", To: "h3"}}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		p2 = wait(t, e3, p2.ID)
		if r := stepState(p2, "m1").Reason; !strings.Contains(r, "kept out") {
			t.Errorf("migration to h3: %q, want refused (kept out of plans)", r)
		}
		s.check(t, o, p.ID, "x1")
		killGuest(s.h1, "x1")
	})

	t.Run("wake-on-lan power on", func(t *testing.T) {
		o := testmigrate.Case(t, "executor: power-on by Wake-on-LAN (magic packet on loopback wakes h1) waits for its hypervisor")
		if out, err := s.bmc1.Ipmitool(bmctest.Password, "chassis", "power", "off"); err != nil {
			t.Fatalf("power h1 off: %v %s", err, out)
		}
		deadline := time.Now().Add(20 * time.Second)
		for on, _ := s.bmc1.IpmitoolPowerOn(); on && time.Now().Before(deadline); on, _ = s.bmc1.IpmitoolPowerOn() {
			time.Sleep(100 * time.Millisecond)
		}
		// The "NIC": a UDP listener that powers h1 on when its magic packet arrives.
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		const mac = "52:54:00:00:00:01"
		hw, _ := net.ParseMAC(mac)
		woke := make(chan error, 1)
		go func() {
			buf := make([]byte, 1500)
			n, _, err := l.ReadFrom(buf)
			if err != nil {
				woke <- err
				return
			}
			if !bytes.Equal(buf[:n], bmc.MagicPacket(hw)) {
				woke <- fmt.Errorf("not h1's magic packet: %x", buf[:n])
				return
			}
			_, err = s.bmc1.Ipmitool(bmctest.Password, "chassis", "power", "on")
			woke <- err
		}()
		wol, err := bmc.NewWakeOnLAN(mac, l.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		ew, err := executor.New(executor.Config{Site: "dc1", Owner: "wol", Mode: executor.ModeAuto, PowerOnTimeout: 60 * time.Second, PollInterval: 100 * time.Millisecond},
			s.store, executor.Deps{Hypervisors: s.fl, Power: map[string]executor.Power{"h1": bmc.WakeThenOther{Wake: wol, Other: s.ipmi1}}, Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := ew.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer ew.Close()
		p, err := ew.Submit(ctx, executor.Plan{ID: "wol-on", Kind: "restore", Steps: []executor.Step{{ID: "on", Kind: executor.StepPowerOn, Host: "h1"}}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		p = wait(t, ew, p.ID)
		logPlan(t, p)
		select {
		case err := <-woke:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no magic packet arrived")
		}
		if p.State != executor.PlanDone {
			t.Fatalf("plan %s: %s", p.State, p.StateReason)
		}
		if _, err := s.fl.Occupancy(ctx, "h1"); err != nil {
			t.Fatalf("h1's hypervisor does not answer: %v", err)
		}
		s.check(t, o, p.ID)
	})
}

// killGuest kills a guest's qemu and waits until its libvirtd no longer
// lists it, so that the next case starts from a clean host.
func killGuest(h *testmigrate.Host, name string) {
	if p := h.QemuPid(name); p != 0 {
		syscall.Kill(p, syscall.SIGKILL)
		testproc.WaitDead(p, 10*time.Second)
	}
	lh := libvirt.NewHost(libvirt.HostConfig{Name: h.Name, URI: h.URI})
	defer lh.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		o, err := lh.Occupancy(context.Background())
		if err != nil || !o.Has(name) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
