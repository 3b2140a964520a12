package sla_test

import (
	"math"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

func TestDefaultBurnRateFactors(t *testing.T) {
	// SRE workbook / Sloth google-30d: 14.4, 6, 3, 1.
	want := []struct {
		long, short time.Duration
		factor      float64
	}{{time.Hour, 5 * time.Minute, 14.4}, {6 * time.Hour, 30 * time.Minute, 6}, {24 * time.Hour, 2 * time.Hour, 3}, {72 * time.Hour, 6 * time.Hour, 1}}
	rules := sla.DefaultBurnRateRules(30 * 24 * time.Hour)
	for i, w := range want {
		r := rules[i]
		if r.Long != w.long || r.Short != w.short || math.Abs(r.Factor-w.factor) > 1e-9 {
			t.Errorf("rule %s: %s/%s %.4g, want %s/%s %.4g", r.Name, r.Long, r.Short, r.Factor, w.long, w.short, w.factor)
		}
	}
	if sla.AlertLookback(rules) != 72*time.Hour {
		t.Error("lookback is not the longest window")
	}
}

func alertTimeline(t *testing.T, t0 time.Time, changes []sla.StateChange, to time.Time) sla.Timeline {
	t.Helper()
	tl, err := sla.BuildTimeline(sla.TimelineInput{
		Service: sla.Service{Name: "web"}, SLA: sla.SLA{Name: "core", Objective: 0.999, TimeZone: "UTC"},
		Changes: changes, From: t0.Add(-4 * 24 * time.Hour), To: to,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestBurnRateAlertLifecycle(t *testing.T) {
	t0 := time.Date(2025, 4, 10, 12, 0, 0, 0, time.UTC)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	changes := []sla.StateChange{
		{At: t0.Add(-5 * 24 * time.Hour), State: sla.StateUp},
		{At: t0, State: sla.StateDown, Cause: "refused"},
		{At: m(10), State: sla.StateUp},
	}
	tl := alertTimeline(t, t0, changes, m(30))
	rules := sla.DefaultBurnRateRules(30 * 24 * time.Hour)
	fast := rules[0]

	a := fast.Eval("web", tl, 0.999, m(1), sla.Alert{})
	if a.State != sla.Pending || !a.ActiveSince.Equal(m(1)) {
		t.Fatalf("after 1 min down: %+v, want pending since then", a)
	}
	// 1 min of 60 down = 1.67% error ratio = 16.7x a 0.1% budget.
	if math.Abs(a.LongBurn-1000.0/60) > 1e-6 || math.Abs(a.ShortBurn-200) > 1e-6 {
		t.Errorf("burn rates %.4f / %.4f, want 16.6667 / 200", a.LongBurn, a.ShortBurn)
	}
	a = fast.Eval("web", tl, 0.999, m(2), a)
	if a.State != sla.Pending {
		t.Errorf("at 2 min: %s, want pending (for 2m)", a.State)
	}
	a = fast.Eval("web", tl, 0.999, m(3), a)
	if a.State != sla.Firing || !a.ActiveSince.Equal(m(1)) {
		t.Errorf("at 3 min: %+v, want firing since minute 1", a)
	}
	// Recovered at 10; the 5-minute short window is clean from 15 on.
	a = fast.Eval("web", tl, 0.999, m(14), a)
	if a.State != sla.Firing {
		t.Errorf("at 14 min: %s, want still firing", a.State)
	}
	a = fast.Eval("web", tl, 0.999, m(16), a)
	if a.State != sla.Inactive || !a.ActiveSince.IsZero() {
		t.Errorf("at 16 min: %+v, want inactive", a)
	}

	all := sla.EvalBurnRates(rules, "web", tl, 0.999, m(10), nil)
	states := map[string]sla.AlertState{}
	for _, x := range all {
		states[x.Rule] = x.State
	}
	// 10 min down: fast page pending (new), slow windows all hold too.
	for name, want := range map[string]sla.AlertState{
		"SLOBurnRatePageFast": sla.Pending, "SLOBurnRatePageSlow": sla.Pending,
		"SLOBurnRateTicketFast": sla.Pending, "SLOBurnRateTicketSlow": sla.Pending,
	} {
		if states[name] != want {
			t.Errorf("%s = %s, want %s", name, states[name], want)
		}
	}
}

func TestBurnRateNeedsKnownTime(t *testing.T) {
	t0 := time.Date(2025, 4, 10, 12, 0, 0, 0, time.UTC)
	tl := alertTimeline(t, t0, nil, t0) // nothing known at all
	if _, ok := sla.BurnRate(tl, 0.999, t0.Add(-time.Hour), t0); ok {
		t.Error("burn rate measured without any known time")
	}
	a := sla.DefaultBurnRateRules(30 * 24 * time.Hour)[0].Eval("web", tl, 0.999, t0, sla.Alert{})
	if a.State != sla.Inactive {
		t.Errorf("no data: %s, want inactive (the absent rule speaks instead)", a.State)
	}
}

func TestAbsentAlert(t *testing.T) {
	t0 := time.Date(2025, 4, 10, 12, 0, 0, 0, time.UTC)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	changes := []sla.StateChange{
		{At: t0.Add(-time.Hour), State: sla.StateUp},
		{At: m(30), State: sla.StateUnknown, Cause: sla.CauseNoData},
	}
	r := sla.DefaultAbsentRule()
	if a := r.Eval("web", alertTimeline(t, t0, changes, m(20)), m(20), sla.Alert{}); a.State != sla.Inactive {
		t.Errorf("with data: %s", a.State)
	}
	a := r.Eval("web", alertTimeline(t, t0, changes, m(35)), m(35), sla.Alert{})
	if a.State != sla.Pending || !a.ActiveSince.Equal(m(30)) {
		t.Errorf("5 min without data: %+v, want pending since minute 30", a)
	}
	// A replay without the previous state reaches the same answer.
	a = r.Eval("web", alertTimeline(t, t0, changes, m(41)), m(41), sla.Alert{})
	if a.State != sla.Firing {
		t.Errorf("11 min without data: %s, want firing", a.State)
	}
	changes = append(changes, sla.StateChange{At: m(45), State: sla.StateUp})
	if a := r.Eval("web", alertTimeline(t, t0, changes, m(46)), m(46), a); a.State != sla.Inactive {
		t.Errorf("data back: %s, want inactive", a.State)
	}
}
