package sla_test

import (
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

func TestTrackerHorizonAndReassert(t *testing.T) {
	t0 := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	cat := sla.Catalog{
		SLAs:       []sla.SLA{{Name: "core", Objective: 0.999}},
		Services:   []sla.Service{{Name: "web", SLA: "core", RunsOn: sla.RunsOn{VMs: []string{"web1"}, Probes: []string{"web-http"}}}},
		Placements: []sla.Placement{{VM: "web1", Host: "hv1"}},
	}
	tr, err := sla.NewTracker(cat, sla.CheckPolicy{Interval: time.Minute}, t0)
	if err != nil {
		t.Fatal(err)
	}
	tr.ObserveComponent("host:hv1", sla.StateChange{At: t0, State: sla.StateUp})
	tr.ObserveComponent("vm:web1", sla.StateChange{At: t0, State: sla.StateUp})
	var got []sla.ServiceChange
	for i := 0; i <= 6; i++ {
		tr.ObserveCheck("web-http", sla.Check{At: m(i), OK: i < 3})
		got = append(got, tr.Advance(m(i).Add(time.Second))...)
	}
	// Failures at 3, 4, 5 confirm DOWN back-dated to minute 3; the horizon
	// waited at minute 3 while the run was pending.
	if len(got) != 2 || got[0].State != sla.StateUp || got[1].State != sla.StateDown || !got[1].At.Equal(m(3)) {
		t.Fatalf("changes %+v", got)
	}
	if h := tr.Horizon(); !h.Equal(m(6).Add(time.Second)) {
		t.Errorf("horizon %s", h)
	}
	re := tr.Reassert()
	if len(re) != 1 || re[0].State != sla.StateDown || !re[0].At.Equal(tr.Horizon()) {
		t.Errorf("reassert %+v", re)
	}
	// A host event that arrives late is moved to the horizon, not lost.
	tr.ObserveComponent("host:hv1", sla.StateChange{At: m(2), State: sla.StateDown, Cause: sla.CauseEnergyAction})
	tr.ObserveCheck("web-http", sla.Check{At: m(7), OK: true})
	tr.ObserveCheck("web-http", sla.Check{At: m(8), OK: true})
	out := tr.Advance(m(9))
	if len(out) != 1 || out[0].Cause != sla.CauseEnergyAction || !out[0].At.Equal(m(6).Add(time.Second)) {
		t.Errorf("late host event: %+v", out)
	}
	if _, err := sla.NewTracker(sla.Catalog{Services: []sla.Service{{Name: "x", SLA: "none"}}}, sla.CheckPolicy{Interval: time.Minute}, t0); err == nil {
		t.Error("invalid catalog accepted")
	}
}

// TestTrackerPlacementFollowsMigration: once web1 is seen on hv2, an
// outage of hv1 (its configured host) no longer takes web down, and one of
// hv2 does; migrations before the horizon are trimmed, not piled up.
func TestTrackerPlacementFollowsMigration(t *testing.T) {
	t0 := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	cat := sla.Catalog{
		SLAs:       []sla.SLA{{Name: "core", Objective: 0.999}},
		Services:   []sla.Service{{Name: "web", SLA: "core", RunsOn: sla.RunsOn{VMs: []string{"web1"}}}},
		Placements: []sla.Placement{{VM: "web1", Host: "hv1"}},
	}
	tr, err := sla.NewTracker(cat, sla.CheckPolicy{Interval: time.Minute}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"host:hv1", "host:hv2", "vm:web1"} {
		tr.ObserveComponent(id, sla.StateChange{At: t0, State: sla.StateUp})
	}
	if got := tr.Advance(m(1)); len(got) != 1 || got[0].State != sla.StateUp {
		t.Fatalf("start: %+v", got)
	}
	if tr.ObservePlacement("web1", "hv1", m(1)) {
		t.Error("the configured placement was taken for a move")
	}
	if tr.ObservePlacement("other-vm", "hv2", m(1)) {
		t.Error("a VM no service runs on was followed")
	}
	if !tr.ObservePlacement("web1", "hv2", m(2)) || tr.Placement("web1") != "hv2" {
		t.Fatalf("move to hv2 not recorded: placed on %q", tr.Placement("web1"))
	}
	// hv1 goes down after the move: web stays up.
	tr.ObserveComponent("host:hv1", sla.StateChange{At: m(3), State: sla.StateDown, Cause: sla.CauseEnergyAction})
	if got := tr.Advance(m(4)); len(got) != 0 {
		t.Errorf("hv1 down after web1 left it changed web: %+v", got)
	}
	// hv2 goes down: web goes down with it, for the energy action's cause.
	tr.ObserveComponent("host:hv2", sla.StateChange{At: m(5), State: sla.StateDown, Cause: sla.CauseEnergyAction})
	got := tr.Advance(m(6))
	if len(got) != 1 || got[0].State != sla.StateDown || !got[0].At.Equal(m(5)) || got[0].Cause != sla.CauseEnergyAction {
		t.Errorf("hv2 down: %+v", got)
	}
	// A move dated before the horizon takes effect at the horizon: back
	// to hv1, which is down too: web stays down, now for hv1.
	if !tr.ObservePlacement("web1", "hv1", m(4)) {
		t.Fatal("move back not recorded")
	}
	tr.ObserveComponent("host:hv2", sla.StateChange{At: m(7), State: sla.StateUp})
	got = tr.Advance(m(8))
	if len(got) != 0 {
		t.Errorf("web1 back on hv1 (down) while hv2 came up: %+v", got)
	}
	tr.ObserveComponent("host:hv1", sla.StateChange{At: m(9), State: sla.StateUp})
	got = tr.Advance(m(10))
	if len(got) != 1 || got[0].State != sla.StateUp || !got[0].At.Equal(m(9)) {
		t.Errorf("hv1 up: %+v", got)
	}
	// Many moves later, only the placement in force is kept.
	for i := 0; i < 100; i++ {
		tr.ObservePlacement("web1", []string{"hv2", "hv1"}[i%2], m(11+i))
		tr.Advance(m(12 + i))
	}
	if n := tr.Placements(); n > 2 {
		t.Errorf("%d placements kept after 100 moves", n)
	}
}
