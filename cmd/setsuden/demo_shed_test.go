package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/rules/executor"
)

// TestDemoShedCycleInApproveMode: `setsuden demo --shed-mode approve`
// posts a demand-response target below the simulated site's load, prints
// the shed plan that waits and the command that approves it; that command
// (run while the demo holds the site lock) gets it approved, and the plan
// drains a simulated host (its domains redefined on the others: the demo's
// migrator) and powers it off (the demo's simulated power).
func TestDemoShedCycleInApproveMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and the demo")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--data", data, "--shed-mode", "approve")
	stdout, _ := cmd.StdoutPipe()
	logf, err := os.Create(filepath.Join(data, "demo.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("demo log:\n%s", b)
		}
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var approve []string
	timeout := time.After(120 * time.Second)
	for approve == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("demo stdout closed before a plan waited for approval")
			}
			t.Logf("demo: %s", l)
			if _, after, ok := strings.Cut(l, "waits for approval: "); ok {
				approve = strings.Fields(after)
			}
		case <-timeout:
			t.Fatal("no plan waiting for approval within 120 s")
		}
	}
	if len(approve) < 7 || approve[0] != "setsuden" || approve[1] != "execute" || approve[4] != "--approve" {
		t.Fatalf("approval command %q", approve)
	}
	conf, id := approve[3], approve[5]
	out, errb, err := runExecute(t, bin, approve[2:]...)
	if err != nil || !strings.Contains(out, "approve_requested") {
		t.Fatalf("%q: %v\n%s\n%s", approve, err, out, errb)
	}
	var plan *executor.Plan
	deadline := time.Now().Add(90 * time.Second)
	for plan == nil && time.Now().Before(deadline) {
		for _, p := range listPlans(t, bin, conf) {
			if p.ID == id && p.State.Final() {
				plan = &p
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if plan == nil {
		t.Fatalf("plan %s not finished within 90 s of its approval", id)
	}
	if plan.State != executor.PlanDone {
		t.Fatalf("plan %s: %s (%s), want done: %+v", id, plan.State, plan.StateReason, plan.Steps)
	}
	var off string
	moved := map[string]string{}
	for _, st := range plan.Steps {
		if st.State != executor.StepDone || st.Runs != 1 {
			t.Errorf("step %s %s: %s after %d runs, want done once", st.ID, st.Kind, st.State, st.Runs)
		}
		switch st.Kind {
		case executor.StepPowerOff:
			off = st.Host
		case executor.StepMigrate:
			moved[st.VM] = st.To
		}
	}
	if off == "" || len(moved) == 0 {
		t.Fatalf("plan %s powers nothing off or moves nothing: %+v", id, plan.Steps)
	}
	// The collector sees each moved VM on its destination, none on the host
	// powered off.
	urlb, err := os.ReadFile(filepath.Join(data, "influx.url"))
	if err != nil {
		t.Fatal(err)
	}
	r := influx.NewReader(strings.TrimSpace(string(urlb)), "", "", "setsuden/autogen")
	defer r.Close()
	since := time.Now()
	seen := map[string]string{}
	for time.Since(since) < 60*time.Second && len(seen) < len(moved) {
		vals, _ := r.Last(context.Background(), "vm", "demo", time.Minute)
		for _, v := range vals {
			if _, ok := moved[v.Tags["vm"]]; ok && v.Time.After(since) {
				seen[v.Tags["vm"]] = v.Tags["host"]
			}
		}
		time.Sleep(time.Second)
	}
	for vm, to := range moved {
		if seen[vm] != to {
			t.Errorf("%s: collector sees it on %q, want %s", vm, seen[vm], to)
		}
	}
}

// TestDemoShedsInAdviseModeByDefault: the default demo records its shed
// plan advised, every step pending, and no domain moves.
func TestDemoShedsInAdviseModeByDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and the demo")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--data", data)
	d := &daemon{cmd: cmd}
	cmd.Stdout, cmd.Stderr = d, d
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", d.logs())
		}
	}()
	line := d.waitLog(t, 120*time.Second, "shed plan submitted")
	if !strings.Contains(line, "state=advised") || !strings.Contains(d.logs(), "shedding (mode advise)") {
		t.Errorf("shed plan %q: want advised, the demo's default", line)
	}
	plans := listPlans(t, bin, filepath.Join(data, "rules.yaml"))
	if len(plans) != 1 || plans[0].State != executor.PlanAdvised || len(plans[0].Steps) == 0 {
		t.Fatalf("plans %+v, want one advised plan with steps", plans)
	}
	for _, st := range plans[0].Steps {
		if st.State != executor.StepPending || st.Runs != 0 {
			t.Errorf("step %s %s: %s, %d runs; want pending, never run", st.ID, st.Kind, st.State, st.Runs)
		}
	}
	if strings.Contains(d.logs(), "msg=step_started") {
		t.Errorf("a step started in advise mode")
	}
}
