package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/internal/testobixd"
	"github.com/setsuden/setsuden/rules/executor"
)

// logTime is the time= of a daemon log line.
func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	m := regexp.MustCompile(`time=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("log line without time=: %q", line)
	}
	tt, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatalf("log line %q: time: %v", line, err)
	}
	return tt
}

// plansOfKind are the audit store's plans of kind, newest first.
func plansOfKind(t *testing.T, bin, conf, kind string) []executor.Plan {
	t.Helper()
	var out []executor.Plan
	for _, p := range listPlans(t, bin, conf) {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

func countSteps(p executor.Plan, kind executor.StepKind) int {
	n := 0
	for _, st := range p.Steps {
		if st.Kind == kind {
			n++
		}
	}
	return n
}

// TestRunShedPartlyRestoredComesBackAtTheWindowEnd: `setsuden run` in the
// default (advise) mode with a shed of two parts: a 0.5 kW set-point stage
// (priority 1, applied first) and hosts of 30 kW idle each (the stage
// alone does not cover the request). When the load falls, the headroom
// (at most the 30 kW limit) brings the stage back but no host (45 kW each
// with the PUE): the restore is partial, audited restore_partial, and the
// shed stays in force: no further plan while headroom lasts, although
// restore_after is 3 s. The hosts' power-on latency is set so that the
// window's end less that lead falls about 200 s after the start: then the
// rest comes back by itself, unbounded (every released host powered on),
// and the shed is over.
func TestRunShedPartlyRestoredComesBackAtTheWindowEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, obixd and setsuden run")
	}
	// Mostly waiting (about 200 s) on its own influxd and obixd: alongside
	// the other parallel tests rather than after them.
	t.Parallel()
	// The window-end restore comes the lead before the block ends: the
	// shed and the headroom restore must fit before it.
	waitBlockRoom(t, 15*time.Minute, 5*time.Minute)
	bin := buildBinary(t)
	gw := testobixd.Start(t)
	s := newShedSite(t, 32)
	blockEnd := time.Now().Truncate(15 * time.Minute).Add(15 * time.Minute)
	lead := (time.Until(blockEnd) - 200*time.Second).Truncate(time.Second)
	inv, err := os.ReadFile(s.inv)
	if err != nil {
		t.Fatal(err)
	}
	y := string(inv)
	for old, new := range map[string]string{"idle_w: 3000,": "idle_w: 30000,", "power_on_latency: 30s": fmt.Sprintf("power_on_latency: %ds", int(lead.Seconds()))} {
		if !strings.Contains(y, old) {
			t.Fatalf("the shed site's inventory has no %q:\n%s", old, y)
		}
		y = strings.ReplaceAll(y, old, new)
	}
	y += "stages:\n  - {name: ahu-supply+3, point: \"bms:" + supplySetpoint + "\", value: 21, normal: 18, kw: 0.5, latency: 1s, priority: 1}\n"
	if err := os.WriteFile(s.inv, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := s.config(t, "")
	appendFile(t, conf, fmt.Sprintf(`obix:
  gateways:
    - name: bms
      url: %s/obix
      interval: 5s
      timeout: 4s
      points:
        - {href: config/AHU1/SupplyAirTemp/, measurement: temperature, field: supply_air_c, tags: {meter: ahu-1}}
`, gw.URL))
	d := startDaemon(t, bin, conf)

	shedLine := d.waitLog(t, 120*time.Second, "shed plan submitted")
	t.Logf("shed: %s", shedLine)
	sheds := plansOfKind(t, bin, conf, "shed")
	if len(sheds) != 1 {
		t.Fatalf("%d shed plans, want 1: %+v", len(sheds), sheds)
	}
	shedPlan := sheds[0]
	offs := countSteps(shedPlan, executor.StepPowerOff)
	if countSteps(shedPlan, executor.StepSetpoint) != 1 || offs == 0 {
		t.Fatalf("shed plan %s: want the stage and at least one power-off: %+v", shedPlan.ID, shedPlan.Steps)
	}
	m := regexp.MustCompile(` by=(\S+)`).FindStringSubmatch(shedLine)
	if m == nil {
		t.Fatalf("shed log line without by=: %q", shedLine)
	}
	by, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	windowRestore := by.Add(-lead)

	// The load falls: the headroom brings back the stage, not the hosts.
	s.kw.Store(1.0)
	partialLine := d.waitLog(t, 90*time.Second, "restore bounded by the headroom", "plan="+shedPlan.ID)
	t.Logf("partial: %s", partialLine)
	if !strings.Contains(partialLine, "restored=1 of="+fmt.Sprint(1+offs)) {
		t.Errorf("partial restore %q: want restored=1 of=%d (the stage of it and %d hosts)", partialLine, 1+offs, offs)
	}
	d.waitLog(t, 30*time.Second, "msg=restore_partial", "plan="+shedPlan.ID)
	if at := logTime(t, partialLine); !at.Before(windowRestore) {
		t.Fatalf("the partial restore came at %s, after the window-end restore was due (%s): the shed took too long", at, windowRestore)
	}
	var partial executor.Plan
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if rs := plansOfKind(t, bin, conf, "restore"); len(rs) > 0 {
			partial = rs[0]
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if partial.ID == "" {
		t.Fatal("no partial restore plan in the audit store")
	}
	if partial.State != executor.PlanAdvised || countSteps(partial, executor.StepSetpointRevert) != 1 || countSteps(partial, executor.StepPowerOn) != 0 {
		t.Errorf("partial restore %s: %s %+v; want advised, the stage's revert and no power-on", partial.ID, partial.State, partial.Steps)
	}

	// The shed stays in force: headroom lasts far longer than restore_after
	// (3 s), yet no other plan comes until the window's end less the lead.
	for time.Until(windowRestore) > 2*time.Second {
		if rs, ss := plansOfKind(t, bin, conf, "restore"), plansOfKind(t, bin, conf, "shed"); len(rs) != 1 || len(ss) != 1 {
			t.Fatalf("%s before the window-end restore (%s): %d restore and %d shed plans, want the partial restore and the shed only: the shed was not kept in force",
				time.Until(windowRestore).Round(time.Second), windowRestore.Format(time.RFC3339), len(rs), len(ss))
		}
		time.Sleep(time.Second)
	}

	// The rest comes back by itself at the window's end, without a bound.
	finalLine := d.waitLog(t, time.Until(windowRestore)+90*time.Second, "restore plan submitted", "restores="+shedPlan.ID, "the shedding window ends")
	t.Logf("window-end restore: %s", finalLine)
	if at := logTime(t, finalLine); at.Before(windowRestore.Add(-time.Second)) {
		t.Errorf("the window-end restore came at %s, before the window's end less the lead (%s)", at, windowRestore)
	}
	rs := plansOfKind(t, bin, conf, "restore")
	if len(rs) != 2 {
		t.Fatalf("%d restore plans, want the partial one and the window-end one: %+v", len(rs), rs)
	}
	final := rs[0]
	if final.ID == partial.ID {
		final = rs[1]
	}
	if final.State != executor.PlanAdvised || countSteps(final, executor.StepPowerOn) != offs {
		t.Errorf("window-end restore %s: %s, %d power-ons; want advised, every one of the %d hosts the shed released: %+v",
			final.ID, final.State, countSteps(final, executor.StepPowerOn), offs, final.Steps)
	}
	if n := strings.Count(d.logs(), "restore bounded by the headroom"); n != 1 {
		t.Errorf("%d partial restores logged, want 1 (the window-end restore has no bound)", n)
	}

	// The audit trail in influxd: the partial restore under the shed plan,
	// the window-end restore submitted.
	r := influx.NewReader(s.db.URL, "", "", s.db.Bucket())
	defer r.Close()
	var events map[string]bool
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		events = map[string]bool{}
		vals, _ := r.Last(context.Background(), "audit", "dc1", time.Hour)
		for _, v := range vals {
			events[v.Tags["plan"]+" "+v.Tags["event"]] = true
		}
		if events[shedPlan.ID+" restore_partial"] && events[final.ID+" plan_submitted"] {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !events[shedPlan.ID+" restore_partial"] || !events[final.ID+" plan_submitted"] {
		t.Errorf("audit events in influxd %v: want %s restore_partial and %s plan_submitted", events, shedPlan.ID, final.ID)
	}
}
