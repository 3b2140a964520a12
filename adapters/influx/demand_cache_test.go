package influx_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// TestDemandCacheMatchesTheReader ticks a demand read every 20 s over the
// demandPoints fixture (meters at their own offsets, a gap, a register
// reset): the cache returns what the Reader returns at every tick, reads
// the whole range once, and sees a sample that arrives late within its
// re-read span.
func TestDemandCacheMatchesTheReader(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	t0 := time.Date(2024, 7, 1, 1, 0, 0, 0, time.UTC)
	testinflux.Write(t, d, demandPoints(t0))
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()
	c := &influx.DemandCache{R: r}
	every := 20 * time.Second
	from := t0.Add(30 * time.Second)
	check := func(to time.Time) {
		t.Helper()
		want, err := r.SitePower(ctx, "dc1", from, to, every)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.SitePower(ctx, "dc1", from, to, every)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("power to %s:\n got %v\nwant %v", to.Format("15:04:05"), got, want)
		}
		wantE, err := r.SiteEnergy(ctx, "dc1", from, to, every)
		if err != nil {
			t.Fatal(err)
		}
		gotE, err := c.SiteEnergy(ctx, "dc1", from, to, every)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotE, wantE) {
			t.Fatalf("energy to %s:\n got %v\nwant %v", to.Format("15:04:05"), gotE, wantE)
		}
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
