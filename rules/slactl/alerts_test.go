package slactl_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

// TestBurnRateAlertFiresAndResolves: db's host goes down for ten minutes
// after an hour up; the fast page rule (2% of a 30-day budget in 1 h, a
// 5-minute short window, held 2 minutes) is pending, then firing, then
// resolved once the short window is clean, and each transition is posted.
func TestBurnRateAlertFiresAndResolves(t *testing.T) {
	t0 := jst(2025, 4, 10, 10, 0)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	r := newRig(t, t0, nil)
	ctx := context.Background()
	at := func(n int) {
		r.clock.Advance(m(n).Sub(r.clock.Now()))
		r.ctl.Tick(ctx)
	}
	rule := func(alerts []sla.Alert) sla.Alert {
		for _, a := range alerts {
			if a.Service == "db" && a.Rule == "SLOBurnRatePageFast" {
				return a
			}
		}
		return sla.Alert{}
	}
	r.ctl.ObserveComponent("host:hv2", sla.StateChange{At: m(0), State: sla.StateUp})
	at(60)
	if a := rule(r.ctl.EvaluateAlerts(ctx)); a.State != sla.Inactive {
		t.Fatalf("up for an hour: %+v", a)
	}
	r.ctl.ObserveComponent("host:hv2", sla.StateChange{At: m(60), State: sla.StateDown, Cause: "power supply failure"})
	at(61)
	if a := rule(r.ctl.EvaluateAlerts(ctx)); a.State != sla.Pending || !a.ActiveSince.Equal(m(61)) {
		t.Fatalf("down a minute: %+v", a)
	}
	at(64)
	a := rule(r.ctl.EvaluateAlerts(ctx))
	if a.State != sla.Firing || !a.ActiveSince.Equal(m(61)) || a.ShortBurn < a.Threshold {
		t.Fatalf("down 4 minutes: %+v", a)
	}
	states, _ := r.ctl.States()
	for _, s := range states {
		if s.Service == "db" && (s.State != sla.StateDown || len(s.Alerts) == 0) {
			t.Errorf("db state %+v", s)
		}
	}
	// The same on /metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.ctl.Metrics())
	got := gathered(t, reg)
	for series, want := range map[string]float64{
		`setsuden_sla_service_state{customer="ACME",service="db",sla="core",state="DOWN"}`:                                    1,
		`setsuden_sla_service_state{customer="ACME",service="db",sla="core",state="UP"}`:                                      0,
		`setsuden_sla_service_state_since_timestamp_seconds{service="db"}`:                                                    float64(m(60).Unix()),
		`setsuden_sla_alert_burn_rate{rule="SLOBurnRatePageFast",service="db",severity="page",state="firing",window="short"}`: a.ShortBurn,
		`setsuden_sla_alert_burn_rate{rule="SLOBurnRatePageFast",service="db",severity="page",state="firing",window="long"}`:  a.LongBurn,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	r.ctl.ObserveComponent("host:hv2", sla.StateChange{At: m(70), State: sla.StateUp})
	at(80)
	if a := rule(r.ctl.EvaluateAlerts(ctx)); a.State != sla.Inactive {
		t.Fatalf("up again for 10 minutes: %+v", a)
	}
	var ev []slactl.AlertEvent
	for _, e := range r.notifier.of("SLOBurnRatePageFast") {
		if e.Service == "db" {
			ev = append(ev, e)
		}
	}
	if len(ev) != 2 || ev[0].Status != "firing" || ev[0].Customer != "ACME" || !ev[0].ActiveSince.Equal(m(61)) ||
		ev[1].Status != "resolved" || !ev[1].At.Equal(m(80)) {
		t.Errorf("webhook events of db %+v", ev)
	}
	// web and crm (whose VM no host has reported) have no data: the
	// data-absent rule fires for them; crm's stops while its host's outage
	// makes it known to be down, and fires again after. Never for db.
	var absent []string
	for _, e := range r.notifier.of("SLADataAbsent") {
		absent = append(absent, e.Service+" "+e.Status+" "+e.At.Format("15:04"))
	}
	want := []string{"web firing 11:00", "crm firing 11:00", "crm resolved 11:01", "crm firing 11:20"}
	if strings.Join(absent, ", ") != strings.Join(want, ", ") {
		t.Errorf("absent alerts %v, want %v", absent, want)
	}
}

// gathered returns every sample of reg as name{label="value",...} (labels
// sorted by name) -> value.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestAlertStateSurvivesRestart: the page alert of db fires; a controller
// started afterwards on the same state_dir knows it fired and posts its
// resolution once the condition is gone, instead of forgetting it (a
// controller without a state_dir posts nothing).
func TestAlertStateSurvivesRestart(t *testing.T) {
	t0 := jst(2025, 4, 10, 10, 0)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	stateDir := t.TempDir()
	ctx := context.Background()
	first := newRigWith(t, t0, nil, func(sc *sla.Config) { sc.Files.StateDir = stateDir })
	first.ctl.ObserveComponent("host:hv2", sla.StateChange{At: m(0), State: sla.StateUp})
	first.clock.Advance(m(60).Sub(first.clock.Now()))
	first.ctl.Tick(ctx)
	first.ctl.ObserveComponent("host:hv2", sla.StateChange{At: m(60), State: sla.StateDown, Cause: "power supply failure"})
	for _, n := range []int{61, 64} {
		first.clock.Advance(m(n).Sub(first.clock.Now()))
		first.ctl.Tick(ctx)
		first.ctl.EvaluateAlerts(ctx)
	}
	dbEvents := func(r *rig) []string {
		var out []string
		for _, e := range r.notifier.of("SLOBurnRatePageFast") {
			if e.Service == "db" {
				out = append(out, e.Status)
			}
		}
		return out
	}
	if ev := dbEvents(first); len(ev) != 1 || ev[0] != "firing" {
		t.Fatalf("before the restart: %v", ev)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "alerts.json")); err != nil {
		t.Fatalf("alert state not saved: %v", err)
	}

	// Restarted an hour later; db's host is up again.
	for _, tc := range []struct {
		name     string
		stateDir string
		want     []string
	}{
		{"same state_dir", stateDir, []string{"resolved"}},
		{"no state_dir", "", nil},
		{"garbage alerts.json", garbageStateDir(t), nil},
	} {
		second := newRigWith(t, m(120), nil, func(sc *sla.Config) { sc.Files.StateDir = tc.stateDir })
		second.ctl.ObserveComponent("host:hv2", sla.StateChange{At: m(120), State: sla.StateUp})
		second.clock.Advance(time.Minute)
		second.ctl.Tick(ctx)
		second.ctl.EvaluateAlerts(ctx)
		got := dbEvents(second)
		if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
			t.Errorf("%s: page alerts after the restart %v, want %v", tc.name, got, tc.want)
		}
	}
}

// garbageStateDir is a state_dir whose alerts.json is not JSON: the
// controller must start (alerts afresh), not fail.
func garbageStateDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alerts.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
