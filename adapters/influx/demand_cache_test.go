package influx_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/demand"
)

// siteSource is what the demand controller reads a site's windows from:
// the Reader or a DemandCache.
type siteSource interface {
	SitePower(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, error)
	SiteEnergy(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.EnergySample, error)
}

// newCacheRig starts influxd and returns a Reader on it, a DemandCache on
// the Reader and the fixtures' start time.
func newCacheRig(t *testing.T) (*influx.Influxd, *influx.Reader, *influx.DemandCache, time.Time) {
	t.Helper()
	d := testinflux.Start(t)
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	t.Cleanup(r.Close)
	return d, r, &influx.DemandCache{R: r}, time.Date(2024, 7, 1, 1, 0, 0, 0, time.UTC)
}

// readSite is dc1's power and energy windows from src.
func readSite(t *testing.T, src siteSource, from, to time.Time, every time.Duration) ([]demand.Sample, []demand.EnergySample) {
	t.Helper()
	ctx := context.Background()
	p, err := src.SitePower(ctx, "dc1", from, to, every)
	if err != nil {
		t.Fatal(err)
	}
	e, err := src.SiteEnergy(ctx, "dc1", from, to, every)
	if err != nil {
		t.Fatal(err)
	}
	return p, e
}

// matchReader fails the test unless the cache returns what the Reader
// returns for [from, to); it returns the cache's power windows.
func matchReader(t *testing.T, c *influx.DemandCache, r *influx.Reader, from, to time.Time, every time.Duration) []demand.Sample {
	t.Helper()
	want, wantE := readSite(t, r, from, to, every)
	got, gotE := readSite(t, c, from, to, every)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("power to %s:\n got %v\nwant %v", to.Format("15:04:05"), got, want)
	}
	if !reflect.DeepEqual(gotE, wantE) {
		t.Fatalf("energy to %s:\n got %v\nwant %v", to.Format("15:04:05"), gotE, wantE)
	}
	return got
}

// TestDemandCacheMatchesTheReader ticks a demand read every 20 s over the
// demandPoints fixture (meters at their own offsets, a gap, a register
// reset): the cache returns what the Reader returns at every tick, reads
// the whole range once, and sees a sample that arrives late within its
// re-read span.
func TestDemandCacheMatchesTheReader(t *testing.T) {
	d, r, c, t0 := newCacheRig(t)
	testinflux.Write(t, d, demandPoints(t0))
	every := 20 * time.Second
	from := t0.Add(30 * time.Second)
	check := func(to time.Time) {
		t.Helper()
		matchReader(t, c, r, from, to, every)
	}
	for to := t0.Add(time.Minute); to.Before(t0.Add(8 * time.Minute)); to = to.Add(every) {
		check(to)
		if to.Equal(t0.Add(4 * time.Minute)) {
			from = t0.Add(2 * time.Minute) // a new block: the start moves on
		}
	}
	// A late sample of a window already read, within the re-read span.
	late := t0.Add(7*time.Minute + 25*time.Second)
	testinflux.Write(t, d, []point.Point{{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-c", "category": "it"},
		Fields: map[string]any{"kw": 100.0, "kwh_total": 1.0}, Time: late}})
	check(t0.Add(8 * time.Minute))
	if q, full := c.Stats(); full != 1 || q < 40 {
		t.Errorf("%d calls, %d read their whole range (want 1: the first; the energy read of a tick reuses the power read's)", q, full)
	}
	// A start before the cache's: a whole read.
	check(t0.Add(8*time.Minute + every))
	from = t0
	check(t0.Add(8*time.Minute + every))
	if _, full := c.Stats(); full != 2 {
		t.Errorf("%d whole reads, want 2 after a start before the cached one", full)
	}
	// pdu-c's one sample falls out of the re-read span: the cache keeps it.
	check(t0.Add(9 * time.Minute))
	check(t0.Add(9*time.Minute + 40*time.Second))
	if _, full := c.Stats(); full != 2 {
		t.Errorf("%d whole reads, want still 2", full)
	}
}

// TestDemandCacheFollowsALiveSite writes a site tick by tick, as the
// collectors do, and reads it every 10 s through the cache and the Reader:
// the cache's settled window sums must give exactly the Reader's result
// while a meter goes silent for longer than the re-read span and comes back
// (the windows of its gap, complete while it was silent, are then left out),
// a register resets, a facility meter appears (the selection changes: every
// window is added up again, once), a point arrives late within the re-read
// span, and the block's start moves on. A point later than the re-read span
// is the cache's documented rule: it is not read, and the window keeps the
// value the cache had.
func TestDemandCacheFollowsALiveSite(t *testing.T) {
	d, r, c, t0 := newCacheRig(t)
	ctx := context.Background()
	every := 10 * time.Second
	sample := func(meter, category string, step int, off time.Duration, kw float64, reset bool) point.Point {
		f := map[string]any{"kw": kw, "kwh_total": 100*float64(len(meter)) + float64(step)*kw/360}
		if reset {
			f["kwh_total"] = 0.5
			f["kwh_reset"] = true
		}
		return point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": meter, "category": category},
			Fields: f, Time: t0.Add(time.Duration(step)*every + off)}
	}
	from := t0
	var last []demand.Sample
	check := func(to time.Time) {
		t.Helper()
		last = matchReader(t, c, r, from, to, every)
	}
	sawGap, sawReset := false, false
	for step := 0; step < 60; step++ {
		var pts []point.Point
		pts = append(pts, sample("pdu-a", "it", step, 0, 10+float64(step%3), false))
		pts = append(pts, sample("pdu-b", "it", step, 3*time.Second, 20, step == 25))
		if step < 15 || step >= 30 { // silent for 15 windows (the re-read span is 3)
			pts = append(pts, sample("crac-1", "cooling", step, 7*time.Second, 5, false))
		}
		if step >= 40 && step != 42 { // a facility meter appears; step 42 comes late
			pts = append(pts, sample("main", "facility", step, 5*time.Second, 40, false))
		}
		if step == 43 {
			pts = append(pts, sample("main", "facility", 42, 5*time.Second, 41, false)) // late, within the span
		}
		testinflux.Write(t, d, pts)
		if step == 50 {
			from = t0.Add(45 * every) // a new block
		}
		check(t0.Add(time.Duration(step+1) * every))
		if step == 31 {
			// crac-1 is back: the windows of its silence are gaps now,
			// though each was complete when it left the re-read span.
			sawGap = len(last) == 32-15
		}
		if step == 26 {
			e, err := c.SiteEnergy(ctx, "dc1", from, t0.Add(27*every), every)
			if err != nil {
				t.Fatal(err)
			}
			sawReset = len(e) > 0 && e[len(e)-2].Reset
		}
	}
	if !sawGap {
		t.Errorf("after crac-1 came back, want its 15 silent windows left out of 32")
	}
	if !sawReset {
		t.Errorf("want the register reset of step 25 flagged")
	}
	if q, full := c.Stats(); full != 1 || q < 120 {
		t.Errorf("%d calls, %d whole reads, want 1", q, full)
	}
	// The first read and the facility meter's appearance; every other tick
	// added up only its re-read windows.
	if n := c.Resums(); n != 2 {
		t.Errorf("%d reads added up every window, want 2", n)
	}
	// Later than the re-read span: the Reader sees it, the cache keeps its
	// value (the cache's rule, DemandCache's doc).
	before := last
	testinflux.Write(t, d, []point.Point{sample("main", "facility", 50, 6*time.Second, 400, false),
		sample("main", "facility", 60, 5*time.Second, 40, false)})
	to := t0.Add(61 * every) // the next tick
	got, err := c.SitePower(ctx, "dc1", from, to, every)
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.SitePower(ctx, "dc1", from, to, every)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(before)+1 || len(want) != len(got) {
		t.Fatalf("a window more: got %d, the Reader %d, before %d", len(got), len(want), len(before))
	}
	got, want = got[:len(before)], want[:len(before)]
	if !reflect.DeepEqual(got, before) || reflect.DeepEqual(got, want) {
		t.Errorf("a point 9 windows late: got %v, want the cache's %v (the Reader's %v differs)", got, before, want)
	}
}

// TestDemandCacheAgreesWithAFreshRead runs 40 meters tick by tick through
// one cache and compares, at every tick, its site power and energy (the
// window sums the blocks are made of) with a fresh whole read of the same
// range by the Reader and by a new cache: a meter disappears mid-way (its
// settled windows keep counting, the windows after it do not wait for it),
// a meter appears, a point arrives late in a settled window within the
// re-read span (both see it), and one arrives later than the span (the
// running cache keeps its value, a fresh read sees it; after the block's
// start moves past that window the three agree again).
func TestDemandCacheAgreesWithAFreshRead(t *testing.T) {
	d, r, c, t0 := newCacheRig(t)
	every := 10 * time.Second
	sample := func(m, step int, kw float64) point.Point {
		return point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": fmt.Sprintf("pdu-%02d", m), "category": "it"},
			Fields: map[string]any{"kw": kw, "kwh_total": 1000*float64(m) + float64(step)*kw/360},
			Time:   t0.Add(time.Duration(step)*every + time.Duration(m%9)*time.Second)}
	}
	from := t0
	compare := func(to time.Time, wantSame bool) {
		t.Helper()
		got, gotE := readSite(t, c, from, to, every)
		want, wantE := readSite(t, r, from, to, every)
		freshP, freshE := readSite(t, &influx.DemandCache{R: r}, from, to, every)
		if !reflect.DeepEqual(freshP, want) || !reflect.DeepEqual(freshE, wantE) {
			t.Fatalf("to %s: a fresh cache differs from the Reader:\n got %v %v\nwant %v %v", to.Format("15:04:05"), freshP, freshE, want, wantE)
		}
		if same := reflect.DeepEqual(got, want) && reflect.DeepEqual(gotE, wantE); same != wantSame {
			t.Fatalf("to %s: cache equal to a fresh read: %v, want %v\n got %v\n    %v\nwant %v\n    %v", to.Format("15:04:05"), same, wantSame, got, gotE, want, wantE)
		}
		if len(want) == 0 || len(wantE) == 0 {
			t.Fatalf("to %s: no complete window", to.Format("15:04:05"))
		}
	}
	for step := 0; step < 40; step++ {
		var pts []point.Point
		for m := 0; m < 40; m++ {
			if m == 7 && step >= 12 { // disappears
				continue
			}
			if m == 39 && step < 20 { // appears
				continue
			}
			pts = append(pts, sample(m, step, 3+float64((m+step)%5)))
		}
		if step == 30 {
			p := sample(5, 28, 50) // late, in a settled window within the re-read span
			p.Time = p.Time.Add(500 * time.Millisecond)
			pts = append(pts, p)
		}
		testinflux.Write(t, d, pts)
		compare(t0.Add(time.Duration(step+1)*every), true)
	}
	// Later than the re-read span: window 25 of pdu-03.
	p := sample(3, 25, 80)
	p.Time = p.Time.Add(500 * time.Millisecond)
	testinflux.Write(t, d, []point.Point{p})
	compare(t0.Add(41*every), false)
	from = t0.Add(26 * every) // the start moves past it
	compare(t0.Add(42*every), true)
	if _, full := c.Stats(); full != 1 {
		t.Errorf("%d whole reads, want 1", full)
	}
}
