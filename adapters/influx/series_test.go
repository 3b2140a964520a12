package influx_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// TestSeriesDownsamplesOnInfluxd runs SeriesFlux on the real influxd 1.8
// (Flux v0.65): three days of 1-minute samples of two meters, one with a
// quote in its rack name, and a meter of another site.
func TestSeriesDownsamplesOnInfluxd(t *testing.T) {
	d := testinflux.Start(t)
	t0 := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	var pts []point.Point
	for i := range 3 * 24 * 60 {
		at := t0.Add(time.Duration(i) * time.Minute)
		// pdu-a: i%60 (mean of an hour 29.5, max 59); pdu-b: 10; other site 1000.
		pts = append(pts,
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-a", "rack": `A"01`}, Fields: map[string]any{"kw": float64(i % 60)}, Time: at},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-b", "rack": "A02"}, Fields: map[string]any{"kw": 10.0, "kwh": 1.0}, Time: at},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc2", "meter": "x"}, Fields: map[string]any{"kw": 1000.0}, Time: at},
			point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": "h1"}, Fields: map[string]any{"vms_running": int64(i % 3)}, Time: at})
	}
	testinflux.Write(t, d, pts)
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()
	ctx := context.Background()
	q := influx.SeriesQuery{Measurement: "power", Field: "kw", Site: "dc1", From: t0, To: t0.Add(72 * time.Hour), Every: time.Hour, Fn: "mean"}
	got, err := r.Series(ctx, q)
	if err != nil {
		t.Fatalf("%v\n%s", err, influx.SeriesFlux(d.Bucket(), q))
	}
	if len(got) != 2 || got[0].Tags["meter"] != "pdu-a" || got[1].Tags["meter"] != "pdu-b" || got[0].Tags["rack"] != `A"01` {
		t.Fatalf("series %+v", tagsOf(got))
	}
	for _, s := range got {
		if len(s.Times) != 72 || !s.Times[0].Equal(t0.Add(time.Hour)) {
			t.Errorf("%s: %d windows from %v, want 72 from 01:00 (window ends)", s.Tags["meter"], len(s.Times), s.Times[0])
		}
	}
	if got[0].Values[5] != 29.5 || got[1].Values[5] != 10 {
		t.Errorf("hourly means %v %v, want 29.5 and 10", got[0].Values[5], got[1].Values[5])
	}
	// A tag filter (with the quote), max, and a day window.
	q.Tags, q.Fn, q.Every = map[string]string{"rack": `A"01`}, "max", 24*time.Hour
	got, err = r.Series(ctx, q)
	if err != nil || len(got) != 1 || len(got[0].Values) != 3 || got[0].Values[0] != 59 {
		t.Errorf("rack filter, max per day: %v %+v", err, got)
	}
	// spread: pdu-b's kwh is constant, pdu-a's kw rises 0..59 in each hour.
	got, err = r.Series(ctx, influx.SeriesQuery{Measurement: "power", Field: "kw", Site: "dc1", Tags: map[string]string{"meter": "pdu-a"},
		From: t0, To: t0.Add(2 * time.Hour), Every: time.Hour, Fn: "spread"})
	if err != nil || len(got) != 1 || len(got[0].Values) != 2 || got[0].Values[0] != 59 {
		t.Errorf("spread: %v %+v", err, got)
	}
	// Integers (host counters) come back as numbers.
	got, err = r.Series(ctx, influx.SeriesQuery{Measurement: "host", Field: "vms_running", Site: "dc1", Tags: map[string]string{"host": "h1"},
		From: t0, To: t0.Add(time.Hour), Every: 10 * time.Minute, Fn: "max"})
	if err != nil || len(got) != 1 || len(got[0].Values) != 6 || got[0].Values[0] != 2 {
		t.Errorf("host max: %v %+v", err, got)
	}
	// The hourly rollup of two days, then a 3-day query at 1-day windows
	// from rollup + samples: the same figures as from the samples alone.
	w, err := influx.NewWriter(influx.WriterConfig{URL: d.URL, Bucket: d.Bucket(), BatchSize: 5000, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write := func(ctx context.Context, pts []point.Point) error {
		if err := w.Write(ctx, pts); err != nil {
			return err
		}
		return w.Flush(ctx)
	}
	until, n, err := r.RollupHours(ctx, write, "dc1", "power", "kw", t0, t0.Add(48*time.Hour+30*time.Minute))
	if err != nil || n != 2*48 || !until.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("rollup: %v, %d points until %v (want 96 until +48h)", err, n, until)
	}
	day := influx.SeriesQuery{Measurement: "power", Field: "kw", Site: "dc1", From: t0, To: t0.Add(72 * time.Hour), Every: 24 * time.Hour, Fn: "mean"}
	raw, err := r.Series(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	tiered, err := r.SeriesTiered(ctx, day, until)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 || len(tiered) != 2 {
		t.Fatalf("raw %d series, tiered %d", len(raw), len(tiered))
	}
	for i := range raw {
		if len(raw[i].Values) != 3 || len(tiered[i].Values) != 3 {
			t.Fatalf("%s: raw %v tiered %v", raw[i].Tags["meter"], raw[i].Values, tiered[i].Values)
		}
		for k := range raw[i].Values {
			if math.Abs(raw[i].Values[k]-tiered[i].Values[k]) > 1e-9 || !raw[i].Times[k].Equal(tiered[i].Times[k]) {
				t.Errorf("%s window %d: raw %v at %v, tiered %v at %v", raw[i].Tags["meter"], k, raw[i].Values[k], raw[i].Times[k], tiered[i].Values[k], tiered[i].Times[k])
			}
		}
	}
	// Nothing there: no series, no error.
	got, err = r.Series(ctx, influx.SeriesQuery{Measurement: "power", Field: "kw", Site: "nowhere", From: t0, To: t0.Add(time.Hour), Every: time.Minute})
	if err != nil || len(got) != 0 {
		t.Errorf("empty: %v %+v", err, got)
	}
}

func tagsOf(ss []influx.Series) []map[string]string {
	var out []map[string]string
	for _, s := range ss {
		out = append(out, s.Tags)
	}
	return out
}
