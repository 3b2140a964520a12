package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/adapters/bmc/bmctest"
	"github.com/setsuden/setsuden/internal/testmigrate"
	"github.com/setsuden/setsuden/rules/executor"
)

type execSite struct {
	dir    string
	h1, h2 *testmigrate.Host
	bmc1   *bmctest.BMC
	pwFile string
	store  string
	kernel string
}

func newExecSite(t *testing.T) *execSite {
	t.Helper()
	testmigrate.Require(t)
	bmctest.Require(t)
	s := &execSite{dir: testmigrate.NewDir(t)}
	s.h1 = testmigrate.NewHost(t, s.dir, "h1", 1)
	s.h2 = testmigrate.StartHost(t, s.dir, "h2", 2)
	s.bmc1 = bmctest.Start(t, s.dir, "h1", bmctest.HostScript(t, s.dir, "h1", s.h1.Command()...))
	out, err := s.bmc1.Ipmitool(bmctest.Password, "chassis", "power", "on")
	if err != nil {
		t.Fatalf("power h1 on: %v %s", err, out)
	}
	s.h1.WaitReady(30 * time.Second)
	s.pwFile = filepath.Join(s.dir, "bmc-h1.pass")
	if err := os.WriteFile(s.pwFile, []byte(bmctest.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.store = filepath.Join(s.dir, "audit.db")
	s.kernel = testmigrate.FillKernel(t, s.dir, 64)
	return s
}

// config writes an executor configuration with mode and migration
// bandwidth and returns its path.
func (s *execSite) config(t *testing.T, name, mode string, bandwidth int) string {
	t.Helper()
	y := fmt.Sprintf(`site: dc1
%sstore: %s
lock_ttl: 3s
soft_off_wait: 2s
power_off_timeout: 20s
power_on_timeout: 30s
migration:
  timeout: 5m
  bandwidth_mib_s: %d
hosts:
  - name: h1
    uri: %s
    migration_uri: tcp://127.0.0.1
    bmc: {type: ipmi, addr: "%s", user: %s, password_file: %s}
  - name: h2
    uri: %s
    migration_uri: tcp://127.0.0.1
`, modeLine(mode), s.store, bandwidth, s.h1.URI, s.bmc1.Addr(), bmctest.User, s.pwFile, s.h2.URI)
	p := filepath.Join(s.dir, name+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func modeLine(m string) string {
	if m == "" {
		return ""
	}
	return "mode: " + m + "\n"
}

func (s *execSite) guest(t *testing.T, name string, slow bool) {
	t.Helper()
	c, err := lv.NewConnect(s.h1.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := ""
	if slow {
		k = s.kernel
	}
	d, err := c.DomainCreateXML(testmigrate.GuestXML(name, 64, k), 0)
	if err != nil {
		t.Fatal(err)
	}
	d.Free()
	if slow {
		s.h1.WaitFilled(name, 64)
	}
}

func writePlan(t *testing.T, dir string, p executor.Plan) string {
	t.Helper()
	b, _ := json.Marshal(p)
	f := filepath.Join(dir, p.ID+".json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func runExecute(t *testing.T, bin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"execute"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func loadPlan(t *testing.T, store, id string) *executor.Plan {
	t.Helper()
	st, err := executor.OpenStore(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	plans, err := st.Plans(context.Background(), "dc1")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("plan %s not in the audit store", id)
	return nil
}

func step(p *executor.Plan, id string) executor.Step {
	for _, s := range p.Steps {
		if s.ID == id {
			return s
		}
	}
	return executor.Step{}
}

// TestExecuteModesThroughBinary: the default mode (advise) and off record
// a plan and move nothing; approve runs it only after --approve.
func TestExecuteModesThroughBinary(t *testing.T) {
	s := newExecSite(t)
	bin := buildBinary(t)
	s.guest(t, "a1", false)
	plan := func(id string) string {
		return writePlan(t, s.dir, executor.Plan{ID: id, Kind: "shed", Steps: []executor.Step{
			{ID: "m1", Kind: executor.StepMigrate, VM: "a1", From: "h1", To: "h2"}}})
	}
	for _, c := range []struct{ mode, want string }{{"", "advised"}, {"off", "ignored"}, {"approve", "awaiting"}} {
		cfg := s.config(t, "m-"+c.mode, c.mode, 0)
		id := "mode-" + c.mode
		if c.mode == "" {
			id = "mode-default"
		}
		out, errs, err := runExecute(t, bin, "--config", cfg, "--submit", plan(id), "--exit-when-idle")
		if err != nil {
			t.Fatalf("mode %q: %v\n%s\n%s", c.mode, err, out, errs)
		}
		if p := loadPlan(t, s.store, id); string(p.State) != c.want {
			t.Errorf("mode %q: plan %s, want %s", c.mode, p.State, c.want)
		}
		if !strings.Contains(out, `"event":"plan_submitted"`) {
			t.Errorf("mode %q: no audit line on stdout: %s", c.mode, out)
		}
		if s.h1.QemuPid("a1") == 0 || s.h2.QemuPid("a1") != 0 {
			t.Fatalf("mode %q moved a1", c.mode)
		}
	}
	cfg := s.config(t, "approve", "approve", 0)
	if _, errs, err := runExecute(t, bin, "--config", cfg, "--approve", "mode-approve", "--exit-when-idle"); err == nil || !strings.Contains(errs, "--operator") {
		t.Errorf("approve without an operator: %v %s", err, errs)
	}
	out, errs, err := runExecute(t, bin, "--config", cfg, "--approve", "mode-approve", "--operator", "alice", "--exit-when-idle")
	if err != nil {
		t.Fatalf("approve: %v\n%s\n%s", err, out, errs)
	}
	if p := loadPlan(t, s.store, "mode-approve"); p.State != executor.PlanDone {
		t.Fatalf("approved plan %s: %s", p.State, p.StateReason)
	}
	if s.h2.QemuPid("a1") == 0 || s.h1.QemuPid("a1") != 0 {
		t.Fatal("a1 did not move after the approval")
	}
	if !strings.Contains(out, `"actor":"operator:alice"`) {
		t.Errorf("the approval is not audited as alice's: %s", out)
	}
	if _, errs, err := runExecute(t, bin, "--config", s.config(t, "bad", "sometimes", 0), "--list"); err == nil || !strings.Contains(errs, "mode:") {
		t.Errorf("bad mode accepted: %v %s", err, errs)
	}
}

// TestExecuteSIGKILLMidPlanAndRestart kills setsuden with SIGKILL while a
// migration runs, restarts it in approve mode (the plan waits, nothing
// finished is repeated, the migration in flight was aborted and the VM is
// on its source), then in auto mode (the plan resumes because every
// precondition holds, drains h1 and powers it off). A second instance
// while the first runs refuses to act.
func TestExecuteSIGKILLMidPlanAndRestart(t *testing.T) {
	s := newExecSite(t)
	o := testmigrate.Case(t, "executor (binary): SIGKILL mid-plan, restart: finished steps not repeated, rest left for an operator, auto resume")
	bin := buildBinary(t)
	s.guest(t, "k1", false)
	s.guest(t, "k2", true)
	planFile := writePlan(t, s.dir, executor.Plan{ID: "kill-1", Kind: "shed", PredictedKW: 0.3, Steps: []executor.Step{
		{ID: "m1", Kind: executor.StepMigrate, VM: "k1", From: "h1", To: "h2"},
		{ID: "m2", Kind: executor.StepMigrate, VM: "k2", From: "h1", To: "h2", DependsOn: []string{"m1"}},
		{ID: "off", Kind: executor.StepPowerOff, Host: "h1", DependsOn: []string{"m1", "m2"}},
	}})

	cmd := exec.Command(bin, "execute", "--config", s.config(t, "auto-slow", "auto", 1), "--submit", planFile)
	var out1, err1 bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out1, &err1
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// Wait until m1 is done and m2's migration is in flight.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if p := tryLoadPlan(s.store, "kill-1"); p != nil && step(p, "m1").State == executor.StepDone && step(p, "m2").State == executor.StepRunning && s.h2.QemuPid("k2") != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("m2 never in flight\nstdout: %s\nstderr: %s", out1.String(), err1.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A second instance for the same site refuses to act.
	_, errs, err := runExecute(t, bin, "--config", s.config(t, "second", "auto", 0), "--exit-when-idle")
	if err == nil || !strings.Contains(errs, "will not act") {
		t.Errorf("second instance: %v, stderr %s; want a refusal naming the holder", err, errs)
	}
	time.Sleep(time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	t.Logf("SIGKILLed setsuden with m2 in flight")

	// Restart in approve mode: reconcile, leave the rest for an operator.
	out, errs, err := runExecute(t, bin, "--config", s.config(t, "approve", "approve", 0), "--exit-when-idle", "--wait-lock", "60s")
	if err != nil {
		t.Fatalf("restart (approve): %v\n%s\n%s", err, out, errs)
	}
	p := loadPlan(t, s.store, "kill-1")
	for _, st := range p.Steps {
		t.Logf("after restart 1: %s %s runs=%d: %s", st.ID, st.State, st.Runs, st.Reason)
	}
	if p.State != executor.PlanInterrupted {
		t.Errorf("plan %s, want interrupted", p.State)
	}
	if m1 := step(p, "m1"); m1.State != executor.StepDone || m1.Runs != 1 {
		t.Errorf("m1 %s runs=%d, want done once", m1.State, m1.Runs)
	}
	if m2 := step(p, "m2"); m2.State != executor.StepPending || !strings.Contains(m2.Reason, "aborted") {
		t.Errorf("m2 %s (%s), want pending after its in-flight migration was aborted", m2.State, m2.Reason)
	}
	if st := step(p, "off").State; st != executor.StepPending {
		t.Errorf("off %s, want pending", st)
	}
	deadline = time.Now().Add(30 * time.Second)
	for s.h2.QemuPid("k2") != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	testmigrate.CountGuests(t, o, []*testmigrate.Host{s.h1, s.h2}, "k1", "k2")
	if s.h1.QemuPid("k2") == 0 {
		t.Error("k2 is not on its source")
	}
	if on, _ := s.bmc1.IpmitoolPowerOn(); !on {
		t.Fatal("h1 is off")
	}

	// Restart in auto mode, no bandwidth cap: it resumes by itself.
	out, errs, err = runExecute(t, bin, "--config", s.config(t, "auto", "auto", 0), "--exit-when-idle", "--wait-lock", "60s")
	if err != nil {
		t.Fatalf("restart (auto): %v\n%s\n%s", err, out, errs)
	}
	p = loadPlan(t, s.store, "kill-1")
	for _, st := range p.Steps {
		t.Logf("after restart 2: %s %s runs=%d: %s", st.ID, st.State, st.Runs, st.Reason)
	}
	if p.State != executor.PlanDone {
		t.Fatalf("plan %s (%s), want done", p.State, p.StateReason)
	}
	if !strings.Contains(out, `"event":"plan_resumed"`) {
		t.Errorf("no plan_resumed event: %s", out)
	}
	if on, _ := s.bmc1.IpmitoolPowerOn(); on {
		t.Error("h1 still on")
	}
	if n := len(s.h1.QemuPids()); n > 0 {
		o.HostsOffWithGuests++
		t.Errorf("h1 off with %d guests", n)
	}
	testmigrate.CountGuests(t, o, []*testmigrate.Host{s.h1, s.h2}, "k1", "k2")

	// The audit store tells the story; no finished step was started again.
	st, err := executor.OpenStore(context.Background(), s.store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.Events(context.Background(), "kill-1")
	if err != nil {
		t.Fatal(err)
	}
	finished := map[string]bool{}
	var story []string
	for _, e := range evs {
		story = append(story, e.Event+" "+e.Step)
		switch e.Event {
		case "step_done", "step_skipped":
			finished[e.Step] = true
		case "step_started":
			if finished[e.Step] {
				o.FinishedStepsRepeated++
				t.Errorf("step %s started again after it finished", e.Step)
			}
		}
	}
	t.Logf("audit: %s", strings.Join(story, " | "))
	for _, want := range []string{"plan_found_running ", "step_reconciled m2", "plan_interrupted ", "plan_resumed ", "step_done off"} {
		if !strings.Contains(strings.Join(story, " | ")+" ", want) {
			t.Errorf("audit lacks %q", want)
		}
	}
}

func tryLoadPlan(store, id string) *executor.Plan {
	st, err := executor.OpenStore(context.Background(), store)
	if err != nil {
		return nil
	}
	defer st.Close()
	plans, err := st.Plans(context.Background(), "dc1")
	if err != nil {
		return nil
	}
	for _, p := range plans {
		if p.ID == id {
			return p
		}
	}
	return nil
}
