package slactl_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/sla"
)

func hostPoint(host string, at time.Time) point.Point {
	return point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": host},
		Fields: map[string]any{"vms_running": int64(1)}, Time: at}
}

func vmPoint(host, vm, state string, at time.Time) point.Point {
	return point.Point{Measurement: "vm", Tags: map[string]string{"site": "dc1", "host": host, "vm": vm, "uuid": "u-" + vm},
		Fields: map[string]any{"state": state, "vcpus": int64(2)}, Time: at}
}

func vmEvent(host, vm, event, detail, state string, at time.Time) point.Point {
	f := map[string]any{"event": event, "detail": detail}
	if state != "" {
		f["state"] = state
	}
	return point.Point{Measurement: "vm_event", Tags: map[string]string{"site": "dc1", "host": host, "vm": vm}, Fields: f, Time: at}
}

func pollFailed(host string, at time.Time) point.Point {
	return point.Point{Measurement: "collector_errors", Tags: map[string]string{"site": "dc1", "source": host, "kind": "libvirt"},
		Fields: map[string]any{"error": "libvirt host " + host + ": connection refused", "count": int64(1)}, Time: at}
}

func probePoint(at time.Time, ok bool) point.Point {
	p := sla.ProbePoint(sla.ProbeSpec{Name: "web-http", Service: "web", Kind: sla.ProbeHTTP}, sla.Check{At: at, OK: ok, ResponseMs: 120})
	p.Tags["site"] = "dc1"
	return p
}

// TestTapFollowsHostVMAndService feeds the tap what the collector writes
// (probe checks every minute, libvirt polls, lifecycle events, a failed
// poll) and an executor's power-off, ticking every minute, and checks the
// service changes written: host -> VM -> service, a failed poll is
// UNKNOWN, a live migration is no outage, an energy action stays DOWN
// through failed polls.
func TestTapFollowsHostVMAndService(t *testing.T) {
	t0 := jst(2025, 4, 10, 10, 0)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	r := newRig(t, t0, nil)
	next := &memSink{}
	tap := r.ctl.Tap(next)
	ctx := context.Background()
	script := map[int][]point.Point{
		0: {hostPoint("hv1", m(0)), vmPoint("hv1", "web1", "running", m(0)), vmPoint("hv1", "other", "shutoff", m(0)),
			hostPoint("hv2", m(0)), vmPoint("hv2", "crm1", "running", m(0))},
		5: {pollFailed("hv2", m(5))},
		6: {hostPoint("hv2", m(6)), vmPoint("hv2", "crm1", "running", m(6))},
		// web1 migrates from hv1 to hv3.
		10: {vmEvent("hv3", "web1", "started", "migrated", "running", m(10)), vmEvent("hv1", "web1", "suspended", "migrated", "paused", m(10)),
			vmEvent("hv1", "web1", "stopped", "migrated", "shutoff", m(10))},
		12: {hostPoint("hv1", m(12)), vmPoint("hv1", "other", "shutoff", m(12))},
		15: {vmEvent("hv3", "web1", "stopped", "destroyed", "shutoff", m(15))},
		20: {vmEvent("hv3", "web1", "started", "booted", "running", m(20))},
		26: {pollFailed("hv2", m(26))},
		30: {hostPoint("hv2", m(30)), vmPoint("hv2", "crm1", "running", m(30))},
	}
	written := 0
	for n := 0; n <= 35; n++ {
		pts := append([]point.Point{probePoint(m(n), true)}, script[n]...)
		written += len(pts)
		if err := tap.Write(ctx, pts); err != nil {
			t.Fatal(err)
		}
		if n == 25 {
			r.ctl.ObserveComponent("host:hv2", sla.StateChange{At: m(25), State: sla.StateDown, Cause: sla.CauseEnergyAction})
		}
		r.clock.Advance(m(n).Add(30 * time.Second).Sub(r.clock.Now()))
		r.ctl.Tick(ctx)
	}
	if next.count() != written {
		t.Errorf("the tap passed on %d points of %d", next.count(), written)
	}

	type ch struct {
		min   int
		state sla.State
		cause string
	}
	want := map[string][]ch{
		"web": {{0, sla.StateUp, ""}, {15, sla.StateDown, "vm web1 shutoff on hv3"}, {20, sla.StateUp, ""}},
		"db": {{0, sla.StateUp, ""}, {5, sla.StateUnknown, "libvirt poll of hv2 failed"}, {6, sla.StateUp, ""},
			{25, sla.StateDown, sla.CauseEnergyAction}, {30, sla.StateUp, ""}},
		"crm": {{0, sla.StateUp, ""}, {5, sla.StateUnknown, "libvirt poll of hv2 failed"}, {6, sla.StateUp, ""},
			{25, sla.StateDown, sla.CauseEnergyAction}, {30, sla.StateUp, ""}},
	}
	for svc, w := range want {
		var got, exp []string
		for _, c := range r.sink.changes(svc) {
			got = append(got, fmt.Sprintf("%s %s %q", c.At.In(tokyo).Format("15:04"), c.State, c.Cause))
		}
		for _, c := range w {
			exp = append(exp, fmt.Sprintf("%s %s %q", m(c.min).Format("15:04"), c.state, c.cause))
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s changes:\n got %s\nwant %s", svc, strings.Join(got, ", "), strings.Join(exp, ", "))
		}
	}

	// The API's view: the settled state and since when.
	states, asOf := r.ctl.States()
	if !asOf.Equal(m(35).Add(30 * time.Second)) {
		t.Errorf("as of %s", asOf)
	}
	for _, s := range states {
		if s.State != sla.StateUp {
			t.Errorf("%s is %s, want UP", s.Service, s.State)
		}
		if s.Service == "web" && !s.Since.Equal(m(20)) {
			t.Errorf("web up since %s, want %s", s.Since, m(20))
		}
	}
}

// TestTapVMLeavesHostListing: a VM that a host's poll no longer lists has
// left it; with no host listing it, its state is unknown, not up.
func TestTapVMLeavesHostListing(t *testing.T) {
	t0 := jst(2025, 4, 10, 10, 0)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	r := newRig(t, t0, nil)
	tap := r.ctl.Tap(&memSink{})
	ctx := context.Background()
	_ = tap.Write(ctx, []point.Point{hostPoint("hv2", m(0)), vmPoint("hv2", "crm1", "running", m(0))})
	// An older poll result that arrives late changes nothing.
	_ = tap.Write(ctx, []point.Point{vmPoint("hv2", "crm1", "crashed", m(0).Add(-time.Second))})
	r.clock.Advance(m(1).Sub(r.clock.Now()))
	r.ctl.Tick(ctx)
	_ = tap.Write(ctx, []point.Point{hostPoint("hv2", m(2))}) // crm1 undefined on hv2
	r.clock.Advance(m(3).Sub(r.clock.Now()))
	r.ctl.Tick(ctx)
	got := r.sink.changes("crm")
	if len(got) != 2 || got[0].State != sla.StateUp || got[1].State != sla.StateUnknown ||
		got[1].Cause != "vm crm1 is not listed by any monitored host" || !got[1].At.Equal(m(2)) {
		t.Errorf("crm changes %+v", got)
	}
}

// TestTapPlacementFollowsMigration: crm1 is placed on hv2 in the catalog
// and live-migrated to hv1 (as consolidation does before powering hv2
// down). Powering hv2 down then takes down db (which runs on the host
// itself) but not crm; hv1's failed poll is what crm now depends on.
func TestTapPlacementFollowsMigration(t *testing.T) {
	t0 := jst(2025, 4, 10, 10, 0)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	r := newRig(t, t0, nil)
	tap := r.ctl.Tap(&memSink{})
	ctx := context.Background()
	poll := func(at time.Time, crm1On string) []point.Point {
		pts := []point.Point{hostPoint("hv1", at), vmPoint("hv1", "web1", "running", at), hostPoint("hv2", at)}
		return append(pts, vmPoint(crm1On, "crm1", "running", at))
	}
	for n := 0; n <= 20; n++ {
		var pts []point.Point
		switch {
		case n < 5:
			pts = poll(m(n), "hv2")
		case n == 5:
			pts = append(pts, vmEvent("hv1", "crm1", "started", "migrated", "running", m(5)),
				vmEvent("hv2", "crm1", "suspended", "migrated", "paused", m(5)),
				vmEvent("hv2", "crm1", "stopped", "migrated", "shutoff", m(5)))
		case n < 10:
			pts = poll(m(n), "hv1")
		case n < 15:
			// hv2 is off: only hv1 answers.
			pts = []point.Point{hostPoint("hv1", m(n)), vmPoint("hv1", "web1", "running", m(n)), vmPoint("hv1", "crm1", "running", m(n))}
		default:
			pts = []point.Point{pollFailed("hv1", m(n))}
		}
		pts = append(pts, probePoint(m(n), true))
		if err := tap.Write(ctx, pts); err != nil {
			t.Fatal(err)
		}
		if n == 10 {
			r.ctl.ObserveComponent("host:hv2", sla.StateChange{At: m(10), State: sla.StateDown, Cause: sla.CauseEnergyAction})
		}
		r.clock.Advance(m(n).Add(30 * time.Second).Sub(r.clock.Now()))
		r.ctl.Tick(ctx)
	}
	want := map[string][]string{
		"crm": {"10:00 UP \"\"", "10:15 UNKNOWN \"libvirt poll of hv1 failed\""},
		"db":  {"10:00 UP \"\"", "10:10 DOWN \"" + sla.CauseEnergyAction + "\""},
	}
	for svc, w := range want {
		var got []string
		for _, c := range r.sink.changes(svc) {
			got = append(got, fmt.Sprintf("%s %s %q", c.At.In(tokyo).Format("15:04"), c.State, c.Cause))
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s changes:\n got %s\nwant %s", svc, strings.Join(got, ", "), strings.Join(w, ", "))
		}
	}
}
