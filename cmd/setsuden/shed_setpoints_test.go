package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/obix"
	"github.com/setsuden/setsuden/internal/testobixd"
	"github.com/setsuden/setsuden/rules/executor"
)

const supplySetpoint = "/obix/config/AHU1/SupplyAirSetpoint/"

// appendFile appends text to the file at path.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// obixdSetpoint is obixd's supply-air set-point as the gateway holds it.
func obixdSetpoint(t *testing.T, gw *testobixd.Gateway) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := obix.NewSetPoints(map[string]*obix.Client{"bms": {BaseURL: gw.URL + "/obix/"}}).Read(ctx, supplySetpoint)
	if err != nil {
		t.Fatalf("reading obixd's set-point: %v", err)
	}
	return v
}

// waitPlan waits for a plan of kind that has ended and returns it.
func waitPlan(t *testing.T, bin, conf, kind string, within time.Duration) executor.Plan {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, p := range listPlans(t, bin, conf) {
			if p.Kind == kind && p.State.Final() {
				return p
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no %s plan ended within %s: %+v", kind, within, listPlans(t, bin, conf))
	return executor.Plan{}
}

// TestRunShedWritesAndRevertsAnObixSetPoint: `setsuden run` in auto mode
// with an inventory whose only stage is obixd's supply-air set-point
// (bms:HREF, 20 kW, priority 1: it covers the 32 kW load's request on
// its own, and 1 kW + 20 kW leaves headroom for the restore): the shed
// plan's set-point step writes 21 on obixd (read back by the
// executor and by the test, obixd's log shows the PUT) and moves no VM;
// when the load falls, the restore plan's revert writes the normal value
// (18) back.
func TestRunShedWritesAndRevertsAnObixSetPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, obixd and setsuden run")
	}
	bin := buildBinary(t)
	gw := testobixd.Start(t)
	s := newShedSite(t, 32)
	appendFile(t, s.inv, "stages:\n  - {name: ahu-supply+3, point: \"bms:"+supplySetpoint+"\", value: 21, normal: 18, kw: 20, latency: 1s, priority: 1}\n")
	conf := s.config(t, "  mode: auto\n")
	appendFile(t, conf, fmt.Sprintf(`obix:
  gateways:
    - name: bms
      url: %s/obix
      interval: 5s
      timeout: 4s
      points:
        - {href: config/AHU1/SupplyAirTemp/, measurement: temperature, field: supply_air_c, tags: {meter: ahu-1}}
`, gw.URL))
	if got := obixdSetpoint(t, gw); got != 18 {
		t.Fatalf("obixd's set-point starts at %v, want 18", got)
	}
	d := startDaemon(t, bin, conf)
	shedPlan := waitPlan(t, bin, conf, "shed", 120*time.Second)
	if shedPlan.State != executor.PlanDone {
		t.Fatalf("shed plan %s: %s, want done: %+v", shedPlan.ID, shedPlan.State, shedPlan.Steps)
	}
	var sp *executor.Step
	for i, st := range shedPlan.Steps {
		switch st.Kind {
		case executor.StepSetpoint:
			sp = &shedPlan.Steps[i]
		case executor.StepMigrate, executor.StepPowerOff:
			t.Errorf("shed plan step %s %s: the stage covers the request, no host should be touched", st.ID, st.Kind)
		}
	}
	if sp == nil || sp.State != executor.StepDone || sp.Point != "bms:"+supplySetpoint {
		t.Fatalf("shed plan %s has no done set-point step on bms:%s: %+v", shedPlan.ID, supplySetpoint, shedPlan.Steps)
	}
	if sp.Previous == nil || *sp.Previous != 18 {
		t.Errorf("set-point step kept previous %v, want obixd's 18 read before the write", sp.Previous)
	}
	t.Logf("set-point step: %s", sp.Reason)
	if got := obixdSetpoint(t, gw); got != 21 {
		t.Errorf("obixd's set-point after the shed: %v, want 21", got)
	}
	if n := strings.Count(gw.Ctl(t, "log"), "PUT "+supplySetpoint); n != 1 {
		t.Errorf("obixd saw %d writes of %s after the shed, want 1:\n%s", n, supplySetpoint, gw.Ctl(t, "log"))
	}

	// The load falls: the restore reverts the stage.
	s.kw.Store(1.0)
	restore := waitPlan(t, bin, conf, "restore", 120*time.Second)
	if restore.State != executor.PlanDone {
		t.Fatalf("restore plan %s: %s, want done: %+v", restore.ID, restore.State, restore.Steps)
	}
	reverted := false
	for _, st := range restore.Steps {
		if st.Kind == executor.StepSetpointRevert && st.Point == "bms:"+supplySetpoint && st.State == executor.StepDone {
			reverted = true
		}
	}
	if !reverted {
		t.Errorf("restore plan %s has no done revert of bms:%s: %+v", restore.ID, supplySetpoint, restore.Steps)
	}
	if got := obixdSetpoint(t, gw); got != 18 {
		t.Errorf("obixd's set-point after the restore: %v, want the normal 18", got)
	}
	if n := strings.Count(gw.Ctl(t, "log"), "PUT "+supplySetpoint); n != 2 {
		t.Errorf("obixd saw %d writes of %s, want 2 (the shed, the revert)", n, supplySetpoint)
	}
	if strings.Contains(d.logs(), "facility stages of the inventory are left out") {
		t.Error("the daemon dropped the stage although its gateway is configured")
	}
}

// TestValidateAndRunRefuseAStageOnAnUnknownGateway: a stage whose point
// names a gateway that obix.gateways does not have is reported by
// `setsuden validate` and refused by `setsuden run`, naming the stage's
// field, the gateway and the gateways configured.
func TestValidateAndRunRefuseAStageOnAnUnknownGateway(t *testing.T) {
	bin := buildBinary(t)
	inv := "site: dc1\nhosts:\n  - {name: h1, cpu: 4, memory_gb: 64, idle_w: 100, slope_w: 100}\nvms: []\n" +
		"stages:\n  - {name: cooling+1, point: \"crac:/obix/config/AHU1/SupplyAirSetpoint/\", value: 27, normal: 26, kw: 4}\n"
	_, conf := writeShedValidateConfig(t, inv, `obix:
  gateways:
    - name: bms
      url: http://127.0.0.1:1/obix
      points:
        - {href: config/AHU1/SupplyAirTemp/, measurement: temperature, field: supply_air_c}
`)
	want := []string{"inventory.yaml", "stages[0].point", `gateway "crac" is not in obix.gateways (configured: bms`}
	for _, cmd := range []string{"validate", "run"} {
		out, err := exec.Command(bin, cmd, "--config", conf).CombinedOutput()
		if err == nil {
			t.Errorf("%s passed a stage on an unknown gateway:\n%s", cmd, out)
			continue
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s output:\n%s\nwant %q", cmd, out, w)
			}
		}
	}
}
