package influx_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/demand"
)

// demandPoints: three meters of site dc1 sampled every 10 s at their own
// offsets for 10 minutes, plus a meter of another site.
//
//	pdu-a (it)      kW 10, 12, 10, 12, … (mean 11 per 20-s window), kwh_total +0.1 per sample
//	pdu-b (it)      kW 20, +3 s,                                    kwh_total +0.2, reset at sample 30
//	crac-1 (cooling) kW 5, +7 s, no samples in the window 01:01:40,   kwh_total +0.05
//	other (site dc2) kW 1000
func demandPoints(t0 time.Time) []point.Point {
	var pts []point.Point
	add := func(site, meter, category string, off time.Duration, i int, kw, total float64, reset bool) {
		f := map[string]any{"kw": kw, "kwh_total": total}
		if reset {
			f["kwh_reset"] = true
		}
		pts = append(pts, point.Point{Measurement: "power",
			Tags:   map[string]string{"site": site, "meter": meter, "category": category, "room": "A"},
			Fields: f, Time: t0.Add(time.Duration(i)*10*time.Second + off)})
	}
	for i := 0; i < 60; i++ {
		add("dc1", "pdu-a", "it", 0, i, 10+2*float64(i%2), 1000+0.1*float64(i), false)
		tb := 500 + 0.2*float64(i)
		if i >= 30 {
			tb -= 0.2 // the reset interval added nothing
		}
		add("dc1", "pdu-b", "it", 3*time.Second, i, 20, tb, i == 30)
		if w := t0.Add(100 * time.Second); t0.Add(time.Duration(i)*10*time.Second).Before(w) || !t0.Add(time.Duration(i)*10*time.Second).Before(w.Add(20*time.Second)) {
			add("dc1", "crac-1", "cooling", 7*time.Second, i, 5, 200+0.05*float64(i), false)
		}
		add("dc2", "other", "it", 0, i, 1000, 0, false)
	}
	return pts
}

func TestSitePowerAndEnergy(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	t0 := time.Date(2024, 7, 1, 1, 0, 0, 0, time.UTC)
	testinflux.Write(t, d, demandPoints(t0))
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()

	every := 20 * time.Second
	// to is not on a window boundary: the partial last window is dropped.
	ps, err := r.SitePower(ctx, "dc1", t0, t0.Add(10*time.Minute+5*time.Second), every)
	if err != nil {
		t.Fatal(err)
	}
	// 30 windows of 20 s, less the one where crac-1 is missing.
	if len(ps) != 29 {
		t.Fatalf("%d samples, want 29: %v", len(ps), ps)
	}
	for i, s := range ps {
		if math.Abs(s.KW-36) > 1e-9 {
			t.Errorf("sample %d at %s = %v kW, want 11 + 20 + 5 = 36", i, s.Time, s.KW)
		}
		if s.Time.Sub(t0)%every != every/2 {
			t.Errorf("sample %d at %s is not mid-window", i, s.Time)
		}
		if s.Time.Equal(t0.Add(110 * time.Second)) {
			t.Errorf("the window with crac-1 missing is in the sum")
		}
	}
	// The gap shows up as missing in a demand figure: 20 s of 600.
	dm := demand.BlockDemand(ps, nil, demand.Block{Start: t0, End: t0.Add(10 * time.Minute)}, 30*time.Second)
	if math.Abs(dm.Coverage-(570.0-30)/600) > 1e-9 {
		t.Errorf("coverage %v", dm.Coverage)
	}

	es, err := r.SiteEnergy(ctx, "dc1", t0, t0.Add(10*time.Minute), every)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 29 {
		t.Fatalf("%d energy samples, want 29", len(es))
	}
	var resets []time.Time
	for i := 1; i < len(es); i++ {
		d := es[i].KWhTotal - es[i-1].KWhTotal
		want := 0.7 // 2 samples × (0.1 + 0.2 + 0.05)
		switch {
		case es[i].Reset:
			resets = append(resets, es[i].Time)
			want = 0.5 // pdu-b's reset interval adds nothing
		case es[i].Time.Equal(t0.Add(140 * time.Second)):
			want = 1.4 // after the skipped window: two windows' worth, exact from the registers
		}
		if math.Abs(d-want) > 1e-9 {
			t.Errorf("energy at %s: +%.3f kWh, want %.3f", es[i].Time, d, want)
		}
		if es[i].Time.Sub(t0)%every != 0 {
			t.Errorf("energy sample at %s is not at a window end", es[i].Time)
		}
	}
	if len(resets) != 1 || !resets[0].Equal(t0.Add(320*time.Second)) {
		t.Errorf("resets at %v, want one at %s (pdu-b sample 30 at 05:03 lies in the window ending 05:20)", resets, t0.Add(320*time.Second))
	}

	// A whole-facility meter appears: it alone is the site; it has no
	// energy register, so SiteEnergy gives nothing.
	var main []point.Point
	for i := 0; i < 60; i++ {
		main = append(main, point.Point{Measurement: "power",
			Tags:   map[string]string{"site": "dc1", "meter": "main", "category": "facility"},
			Fields: map[string]any{"kw": 50.0}, Time: t0.Add(time.Duration(i)*10*time.Second + time.Second)})
	}
	testinflux.Write(t, d, main)
	ps, err = r.SitePower(ctx, "dc1", t0, t0.Add(10*time.Minute), every)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 30 || ps[0].KW != 50 {
		t.Errorf("with a facility meter: %d samples, first %v, want 30 × 50 kW", len(ps), ps[0])
	}
	es, err = r.SiteEnergy(ctx, "dc1", t0, t0.Add(10*time.Minute), every)
	if err != nil || es != nil {
		t.Errorf("energy with a counter-less facility meter = %v, %v; want nil", es, err)
	}

	for _, c := range []struct {
		site     string
		from, to time.Time
		every    time.Duration
	}{
		{"", t0, t0.Add(time.Hour), every},
		{"dc1", t0, t0.Add(time.Hour), 1500 * time.Millisecond},
		{"dc1", t0, t0.Add(10 * time.Second), every},
	} {
		if _, err := r.SitePower(ctx, c.site, c.from, c.to, c.every); err == nil {
			t.Errorf("SitePower(%q, %s, %s, %s) accepted", c.site, c.from, c.to, c.every)
		}
	}
	// A dead server is an error that names the site.
	d.Stop()
	if _, err := r.SitePower(ctx, "dc1", t0, t0.Add(time.Minute), every); err == nil || !strings.Contains(err.Error(), `site power of "dc1"`) {
		t.Errorf("query on a stopped server: %v", err)
	}
}

// SiteHistory is SitePower and SiteEnergy from one query; a site name
// with a quote is a literal, not InfluxQL.
func TestSiteHistoryIsPowerAndEnergy(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	t0 := time.Date(2024, 7, 1, 1, 0, 0, 0, time.UTC)
	testinflux.Write(t, d, demandPoints(t0))
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()
	every := 20 * time.Second
	to := t0.Add(10 * time.Minute)
	ps, es, err := r.SiteHistory(ctx, "dc1", t0, to, every)
	if err != nil {
		t.Fatal(err)
	}
	wantP, err := r.SitePower(ctx, "dc1", t0, to, every)
	if err != nil {
		t.Fatal(err)
	}
	wantE, err := r.SiteEnergy(ctx, "dc1", t0, to, every)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 || len(es) == 0 || len(ps) != len(wantP) || len(es) != len(wantE) {
		t.Fatalf("history %d power / %d energy, want %d / %d", len(ps), len(es), len(wantP), len(wantE))
	}
	for i := range ps {
		if ps[i] != wantP[i] {
			t.Errorf("power %d: %+v, want %+v", i, ps[i], wantP[i])
		}
	}
	for i := range es {
		if es[i] != wantE[i] {
			t.Errorf("energy %d: %+v, want %+v", i, es[i], wantE[i])
		}
	}
	for _, site := range []string{`dc1' OR "site" = 'dc2`, `dc\`} {
		p, e, err := r.SiteHistory(ctx, site, t0, to, every)
		if err != nil || len(p) != 0 || len(e) != 0 {
			t.Errorf("site %q: %d power, %d energy, %v; want nothing", site, len(p), len(e), err)
		}
	}
}
