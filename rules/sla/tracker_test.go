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
