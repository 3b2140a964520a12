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

// TestSeriesTieredEqualsSamplesWithUnevenHours: the tiered read (hourly
// rollup as sums and counts, then the samples, both by InfluxQL) gives the
// figures the samples give (Series, Flux), on the real influxd, when hours
// hold different numbers of samples: pdu-a has 10 samples of 100 kW in
// one hour of its first day and none in an hour of the second, where a
// mean of hourly means would be far off. A meter without a rack tag, a
// quote in a tag value and another site are in the data too.
func TestSeriesTieredEqualsSamplesWithUnevenHours(t *testing.T) {
	d := testinflux.Start(t)
	t0 := time.Date(2026, 6, 29, 0, 0, 0, 0, time.UTC) // a Monday
	const days = 10
	var pts []point.Point
	var dayA [days]struct{ sum, n float64 } // pdu-a's samples per day, for the expected means
	for i := range days * 24 * 60 {
		at := t0.Add(time.Duration(i) * time.Minute)
		hour := i / 60
		kwA := 5 + float64(i%7)
		switch {
		case hour == 10: // the first day's 10:00-11:00: 10 samples of 100 kW
			if i%60 >= 10 {
				kwA = math.NaN()
			} else {
				kwA = 100
			}
		case hour == 24+3: // the second day's 03:00-04:00: none
			kwA = math.NaN()
		}
		if !math.IsNaN(kwA) {
			pts = append(pts, point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-a", "rack": `A"01`, "room": "A"}, Fields: map[string]any{"kw": kwA}, Time: at})
			dayA[hour/24].sum += kwA
			dayA[hour/24].n++
		}
		pts = append(pts,
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "crac-1", "room": "A"}, Fields: map[string]any{"kw": 9 + 0.001*float64(i%1000)}, Time: at},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc2", "meter": "x"}, Fields: map[string]any{"kw": 1000.0}, Time: at})
	}
	testinflux.Write(t, d, pts)
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()
	ctx := context.Background()
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
	// Roll up 7 days and a half (the split falls inside a day and a week);
	// pdu-a has 24*7-1 hours in them (one empty), crac-1 24*7.
	until, n, err := r.RollupHours(ctx, write, "dc1", "power", "kw", t0, t0.Add(7*24*time.Hour+12*time.Hour+20*time.Minute))
	if err != nil || !until.Equal(t0.Add(7*24*time.Hour+12*time.Hour)) || n != 2*(7*24+12)-1 {
		t.Fatalf("rollup: %v, %d points until %v (want %d until +7d12h)", err, n, until, 2*(7*24+12)-1)
	}

	for _, c := range []struct {
		name     string
		every    time.Duration
		from, to time.Time
		tags     map[string]string
	}{
		{"days", 24 * time.Hour, t0, t0.Add(days * 24 * time.Hour), nil},
		{"days, a rack with a quote", 24 * time.Hour, t0, t0.Add(days * 24 * time.Hour), map[string]string{"rack": `A"01`}},
		{"6 hours", 6 * time.Hour, t0.Add(6 * time.Hour), t0.Add(9 * 24 * time.Hour), nil},
		{"hours", time.Hour, t0.Add(5 * 24 * time.Hour), t0.Add(8 * 24 * time.Hour), nil},
		{"weeks (epoch-aligned, the range's end clipped)", 7 * 24 * time.Hour, t0, t0.Add(days * 24 * time.Hour), nil},
		{"all in the rollup", 24 * time.Hour, t0, t0.Add(5 * 24 * time.Hour), nil},
	} {
		q := influx.SeriesQuery{Measurement: "power", Field: "kw", Site: "dc1", Tags: c.tags, From: c.from, To: c.to, Every: c.every, Fn: "mean"}
		raw, err := r.Series(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		tiered, err := r.SeriesTiered(ctx, q, until)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(raw) == 0 || len(raw) != len(tiered) {
			t.Fatalf("%s: raw %v, tiered %v", c.name, tagsOf(raw), tagsOf(tiered))
		}
		for i := range raw {
			if tagKeyOf(raw[i].Tags) != tagKeyOf(tiered[i].Tags) || len(raw[i].Values) != len(tiered[i].Values) {
				t.Fatalf("%s: raw %v %d windows, tiered %v %d windows", c.name, raw[i].Tags, len(raw[i].Values), tiered[i].Tags, len(tiered[i].Values))
			}
			for k := range raw[i].Values {
				rv, tv := raw[i].Values[k], tiered[i].Values[k]
				if math.Abs(rv-tv) > 1e-12*math.Abs(rv) || !raw[i].Times[k].Equal(tiered[i].Times[k]) {
					t.Errorf("%s, %s window %d: raw %v at %v, tiered %v at %v", c.name, raw[i].Tags["meter"], k, rv, raw[i].Times[k], tv, tiered[i].Times[k])
				}
			}
		}
	}

	// The samples' own means, computed here: the first day of pdu-a is not
	// the mean of its hourly means.
	got, err := r.SeriesTiered(ctx, influx.SeriesQuery{Measurement: "power", Field: "kw", Site: "dc1", Tags: map[string]string{"meter": "pdu-a"},
		From: t0, To: t0.Add(days * 24 * time.Hour), Every: 24 * time.Hour, Fn: "mean"}, until)
	if err != nil || len(got) != 1 || len(got[0].Values) != days {
		t.Fatalf("pdu-a by day: %v %+v", err, got)
	}
	for k := range days {
		want := dayA[k].sum / dayA[k].n
		if math.Abs(got[0].Values[k]-want) > 1e-9 {
			t.Errorf("pdu-a day %d: %v, want %v (the mean of its %v samples)", k, got[0].Values[k], want, dayA[k].n)
		}
	}
	hourly, err := r.Series(ctx, influx.SeriesQuery{Measurement: "power", Field: "kw", Site: "dc1", Tags: map[string]string{"meter": "pdu-a"},
		From: t0, To: t0.Add(24 * time.Hour), Every: time.Hour, Fn: "mean"})
	if err != nil || len(hourly) != 1 {
		t.Fatal(err)
	}
	var mm float64
	for _, v := range hourly[0].Values {
		mm += v
	}
	mm /= float64(len(hourly[0].Values))
	if math.Abs(mm-got[0].Values[0]) < 1 {
		t.Errorf("the first day's mean of hourly means %v is within 1 kW of the mean %v: the uneven hour does not test anything", mm, got[0].Values[0])
	}
}

func tagKeyOf(t map[string]string) string {
	s := ""
	for _, k := range []string{"meter", "rack", "room", "category"} {
		s += k + "=" + t[k] + ","
	}
	return s + string(rune('0'+len(t)))
}
