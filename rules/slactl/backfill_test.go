package slactl_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

// memObservations is a slactl.ObservationStore over points in memory.
type memObservations []point.Point

func (m memObservations) Observations(_ context.Context, _ string, from, to time.Time, _ time.Duration,
	fn func([]point.Point) error, progress func(done, total int)) error {
	pts := slices.Clone(m)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Time.Before(pts[j].Time) })
	for i := 0; i < len(pts); {
		j := i + 1
		for j < len(pts) && pts[j].Time.Equal(pts[i].Time) {
			j++
		}
		if !pts[i].Time.Before(from) && pts[i].Time.Before(to) {
			if err := fn(pts[i:j]); err != nil {
				return err
			}
		}
		i = j
	}
	if progress != nil {
		progress(1, 1)
	}
	return nil
}

// history is three hours of the test site: web-http every minute with a
// 20-minute outage and a 10-minute gap; hv1 and hv2 polled every 5
// minutes listing web1 and crm1, web1 shut off for 15 minutes; hv2's polls
// failing for 10 minutes.
func history(start time.Time) []point.Point {
	spec := sla.ProbeSpec{Name: "web-http", Service: "web", Kind: sla.ProbeHTTP}
	var pts []point.Point
	for i := 0; i < 180; i++ {
		at := start.Add(time.Duration(i) * time.Minute)
		if i < 100 || i >= 110 {
			c := sla.Check{At: at, OK: i < 30 || i >= 50, ResponseMs: 80}
			if !c.OK {
				c.Error = "HTTP 503"
			}
			p := sla.ProbePoint(spec, c)
			p.Tags["site"] = "dc1"
			pts = append(pts, p)
		}
		if i%5 != 0 {
			continue
		}
		web1 := "running"
		if i >= 60 && i < 75 {
			web1 = "shutoff"
		}
		pts = append(pts,
			point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": "hv1"}, Fields: map[string]any{"vms_total": int64(1)}, Time: at},
			point.Point{Measurement: "vm", Tags: map[string]string{"site": "dc1", "host": "hv1", "vm": "web1"}, Fields: map[string]any{"state": web1}, Time: at})
		if i >= 120 && i < 130 {
			pts = append(pts, point.Point{Measurement: "collector_errors", Tags: map[string]string{"site": "dc1", "source": "hv2", "kind": "libvirt"},
				Fields: map[string]any{"error": "connection refused"}, Time: at})
			continue
		}
		pts = append(pts,
			point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": "hv2"}, Fields: map[string]any{"vms_total": int64(1)}, Time: at},
			point.Point{Measurement: "vm", Tags: map[string]string{"site": "dc1", "host": "hv2", "vm": "crm1"}, Fields: map[string]any{"state": "running"}, Time: at})
	}
	return pts
}

// Backfill is the daemon's engine: replaying stored points gives exactly
// the service changes a live controller wrote when the same points went
// through its tap as they arrived, for probe, VM and host services alike.
func TestBackfillEqualsLiveController(t *testing.T) {
	start := jst(2025, 4, 3, 9, 0)
	end := start.Add(4 * time.Hour)
	pts := history(start)

	live := newRig(t, start, nil)
	tap := live.ctl.Tap(live.sink)
	ctx := context.Background()
	next := 0
	for at := start; !at.After(end); at = at.Add(5 * time.Second) {
		live.clock.Advance(at.Sub(live.clock.Now()))
		var batch []point.Point
		for next < len(pts) && !pts[next].Time.After(at) {
			batch = append(batch, pts[next])
			next++
		}
		// One poll per write, as the collector writes them.
		for len(batch) > 0 {
			k := 1
			for k < len(batch) && batch[k].Time.Equal(batch[0].Time) && batch[k].Tags["host"] == batch[0].Tags["host"] {
				k++
			}
			_ = tap.Write(ctx, batch[:k])
			batch = batch[k:]
		}
		live.ctl.Tick(ctx)
	}

	replayed := &memSink{}
	res, err := slactl.Backfill(ctx, slactl.Config{Site: "dc1", SLA: testSLA(t), Location: tokyo, Points: replayed,
		Store: &report.MemoryStore{}, Maintenance: sla.NewMemoryMaintenanceStore(nil)}, memObservations(pts), start, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Checks != 170 || res.Changes == 0 {
		t.Errorf("backfill read %d checks (want 170), derived %d changes", res.Checks, res.Changes)
	}
	for _, svc := range []string{"web", "db", "crm"} {
		var got []sla.StateChange
		for _, c := range replayed.changes(svc) {
			if c.Cause != slactl.CauseBackfillStarted && c.Cause != slactl.CauseBackfillEnded {
				got = append(got, c)
			}
		}
		want := live.sink.changes(svc)
		if len(want) == 0 || !slices.EqualFunc(got, want, func(a, b sla.StateChange) bool {
			return a.At.Equal(b.At) && a.State == b.State && a.Cause == b.Cause
		}) {
			t.Errorf("%s: backfill %v\nlive     %v", svc, got, want)
		}
	}
	// web: the probe's outage and web1 shut off are in it (the probe's gap
	// is covered by web1 running).
	var states []string
	for _, c := range replayed.changes("web") {
		states = append(states, c.State.String()+"@"+c.At.In(tokyo).Format("15:04"))
	}
	for _, w := range []string{"DOWN@09:30", "UP@09:50", "DOWN@10:00", "UP@10:15"} {
		if !slices.Contains(states, w) {
			t.Errorf("web changes %v lack %s", states, w)
		}
	}
}
