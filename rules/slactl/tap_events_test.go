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

// changesOf renders a service's written changes as "15:04:05.000 STATE cause".
func changesOf(r *rig, svc string) []string {
	var got []string
	for _, c := range r.sink.changes(svc) {
		got = append(got, fmt.Sprintf("%s %s %q", c.At.In(tokyo).Format("15:04:05.000"), c.State, c.Cause))
	}
	return got
}

// TestTapDestroyIsOneStateChange: destroying a qemu guest makes libvirt
// report "shutdown" (host) and, a millisecond later, "stopped" (destroyed).
// That is one outage: one DOWN change, with the first cause.
func TestTapDestroyIsOneStateChange(t *testing.T) {
	t0 := jst(2025, 4, 10, 10, 0)
	r := newRig(t, t0, nil)
	tap := r.ctl.Tap(&memSink{})
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	script := [][]point.Point{
		{hostPoint("hv1", at(0)), vmPoint("hv1", "web1", "running", at(0)), probePoint(at(0), true)},
		{vmEvent("hv1", "web1", "shutdown", "host", "shutdown", at(10*time.Second))},
		{vmEvent("hv1", "web1", "stopped", "destroyed", "shutoff", at(10*time.Second+time.Millisecond))},
		{hostPoint("hv1", at(20*time.Second)), vmPoint("hv1", "web1", "shutoff", at(20*time.Second))},
	}
	for i, pts := range script {
		if err := tap.Write(ctx, pts); err != nil {
			t.Fatal(err)
		}
		r.clock.Advance(at(time.Duration(i+1) * 10 * time.Second).Sub(r.clock.Now()))
		r.ctl.Tick(ctx)
	}
	r.clock.Advance(time.Minute)
	r.ctl.Tick(ctx)
	want := []string{`10:00:00.000 UP ""`, `10:00:10.000 DOWN "vm web1 shutdown on hv1"`}
	if got := changesOf(r, "web"); !reflect.DeepEqual(got, want) {
		t.Errorf("web changes:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

// TestTapPlacementFollowsDestinationResume: in a live migration of crm1
// from hv2 to hv1 the destination starts it paused, the source pauses it,
// the destination resumes it, and the source reports it stopped 1.8 s
// later. crm's placement moves to hv1 at the resume: hv2 going down in
// between does not take crm down.
func TestTapPlacementFollowsDestinationResume(t *testing.T) {
	t0 := jst(2025, 4, 10, 10, 0)
	r := newRig(t, t0, nil)
	tap := r.ctl.Tap(&memSink{})
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	resume := at(10 * time.Second)
	steps := []struct {
		pts  []point.Point
		down bool // hv2 powered down
	}{
		{pts: []point.Point{hostPoint("hv1", at(0)), vmPoint("hv1", "web1", "running", at(0)), hostPoint("hv2", at(0)),
			vmPoint("hv2", "crm1", "running", at(0)), probePoint(at(0), true)}},
		{pts: []point.Point{vmEvent("hv1", "crm1", "started", "migrated", "paused", resume.Add(-2*time.Second))}},
		{pts: []point.Point{vmEvent("hv2", "crm1", "suspended", "migrated", "paused", resume.Add(-100*time.Millisecond))}},
		{pts: []point.Point{vmEvent("hv1", "crm1", "resumed", "migrated", "running", resume)}},
		{down: true},
		{pts: []point.Point{vmEvent("hv2", "crm1", "stopped", "migrated", "shutoff", resume.Add(1800*time.Millisecond))}},
	}
	for _, s := range steps {
		if err := tap.Write(ctx, s.pts); err != nil {
			t.Fatal(err)
		}
		if s.down {
			r.ctl.ObserveComponent("host:hv2", sla.StateChange{At: resume.Add(time.Second), State: sla.StateDown, Cause: sla.CauseEnergyAction})
		}
	}
	r.clock.Advance(time.Minute)
	r.ctl.Tick(ctx)
	if got, want := changesOf(r, "crm"), []string{`10:00:00.000 UP ""`}; !reflect.DeepEqual(got, want) {
		t.Errorf("crm changes:\n got %s\nwant %s (placed on hv1 from the resume on)", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	if got := changesOf(r, "db"); len(got) != 2 || !strings.Contains(got[1], "DOWN") {
		t.Errorf("db (on hv2) changes: %s, want UP then DOWN", strings.Join(got, ", "))
	}
}
