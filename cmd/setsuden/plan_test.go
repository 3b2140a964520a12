package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/setsuden/setsuden/rules/shed"
)

// writeInventory writes a 40-host, 200-VM inventory in two rooms, with a
// frozen service and a facility stage, and returns its path.
func writeInventory(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("site: test\npue: 1.5\npolicy: {reserve: 1}\nhosts:\n")
	for i := range 40 {
		fmt.Fprintf(&b, "  - {name: h%02d, room: r%d, rack: k%d, cpu: 32, memory_gb: 256, idle_w: 180, max_w: 350, bmc: ipmi}\n", i, i/20, i/5)
	}
	b.WriteString("vms:\n")
	for i := range 200 {
		class := "standard"
		if i%50 == 0 {
			class = "frozen"
		}
		fmt.Fprintf(&b, "  - {name: v%03d, host: h%02d, vcpus: 2, cpu: %.2f, memory_gb: %d, service: s%d, sla_class: %s}\n",
			i, i%40, 0.5+float64(i%7)*0.3, 4+(i%5)*4, i%4, class)
	}
	b.WriteString("stages:\n  - {name: cooling+1, point: /obix/cooling/sp, value: 27, normal: 26, kw: 3, latency: 3m, priority: 1}\n")
	path := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func lastJSONLine(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	for _, k := range []string{"hosts_before", "hosts_after", "lower_bound_hosts", "migrations", "gb_moved", "expected_saving_kw", "planning_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary line lacks %s: %s", k, lines[len(lines)-1])
		}
	}
	return m
}

// TestPlanBinary runs `setsuden plan` through the built binary: a static
// consolidation (the default), a kW request as JSON, and a bad inventory.
func TestPlanBinary(t *testing.T) {
	inv := writeInventory(t)

	out, stderr, code := runBin(t, "plan", "--inventory", inv, "--at", "2026-07-15T14:00:00+09:00")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sum := lastJSONLine(t, out)
	before, after, lb := sum["hosts_before"].(float64), sum["hosts_after"].(float64), sum["lower_bound_hosts"].(float64)
	if before != 40 || after >= before || after < lb {
		t.Errorf("consolidation: hosts %v -> %v, lower bound %v", before, after, lb)
	}
	if !strings.Contains(out, "left alone (4)") || !strings.Contains(out, "sla_class_forbids_moves") {
		t.Errorf("the frozen VMs are not listed as left alone:\n%s", out)
	}

	out, stderr, code = runBin(t, "plan", "--inventory", inv, "--request-kw", "3.5", "--by", "30m", "--at", "2026-07-15T14:00:00+09:00", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sum = lastJSONLine(t, out)
	doc := out[:strings.LastIndex(strings.TrimSpace(out), "\n")]
	var plan shed.Plan
	if err := json.Unmarshal([]byte(doc), &plan); err != nil {
		t.Fatalf("--json plan: %v\n%s", err, doc)
	}
	if plan.Kind != shed.KindShed || !plan.Expected.CoversRequest || plan.Expected.SavingKW < 3.5 {
		t.Errorf("shed plan: %+v", plan.Expected)
	}
	if len(plan.Expected.FacilityStages) != 1 || len(plan.Expected.HostsReleased) == 0 {
		t.Errorf("want the cooling stage (3 kW) and at least one drain for the rest: %+v", plan.Expected)
	}
	if sum["expected_saving_kw"].(float64) != plan.Expected.SavingKW {
		t.Errorf("summary %v vs plan %v", sum["expected_saving_kw"], plan.Expected.SavingKW)
	}
	// Every migration's host is powered off after it.
	off := map[string]bool{}
	for _, s := range plan.Steps {
		if s.Kind == shed.StepPowerOff {
			off[s.Host] = true
		}
	}
	for _, s := range plan.Steps {
		if s.Kind == shed.StepMigrate && !off[s.From] {
			t.Errorf("migration %s does not empty a released host", s.ID)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("hosts:\n  - {name: h1, cpu: 0, memory_gb: 8, idle_w: 50, max_w: 90}\nvms:\n  - {name: v1, host: nowhere, cpu: 1, memory_gb: 1}\n"), 0o644)
	_, stderr, code = runBin(t, "plan", "--inventory", bad)
	if code != 1 {
		t.Fatalf("bad inventory: exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":2: hosts[0].cpu:", bad + ":4: vms[0].host: host \"nowhere\""} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
