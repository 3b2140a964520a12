package influx_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/energy"
)

// energyPoints: an hour of site dc1 sampled every minute, from 5 minutes
// before t0 to 5 minutes after t0+1h:
//
//	pdu-a  (it, room A, rack R1)  12 kW, kwh_total +0.2 per minute, a reset at t0+30m
//	                               (the total is unchanged over that minute, as the collector stores it)
//	crac-1 (cooling, room A)      6 kW, no register
//	other  (site dc2)             1000 kW
func energyPoints(t0 time.Time) []point.Point {
	var pts []point.Point
	for i := -5; i <= 65; i++ {
		tt := t0.Add(time.Duration(i) * time.Minute)
		total := 100 + 0.2*float64(i+5)
		if i >= 30 {
			total -= 0.2
		}
		f := map[string]any{"kw": 12.0, "kwh_total": total}
		if i == 30 {
			f["kwh_reset"] = true
		}
		pts = append(pts,
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-a", "category": "it", "room": "A", "rack": "R1"}, Fields: f, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "crac-1", "category": "cooling", "room": "A"}, Fields: map[string]any{"kw": 6.0}, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc2", "meter": "other", "category": "it"}, Fields: map[string]any{"kw": 1000.0, "kwh_total": 5.0}, Time: tt},
		)
	}
	return pts
}

func TestEnergyMeterSeries(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	t0 := time.Date(2024, 7, 1, 1, 0, 0, 0, time.UTC)
	testinflux.Write(t, d, energyPoints(t0))
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()

	maxGap := 2 * time.Minute
	from, to := t0, t0.Add(time.Hour)
	series, err := r.MeterSeries(ctx, "dc1", from.Add(-maxGap), to.Add(maxGap))
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 2 || series[0].Meter != "crac-1" || series[1].Meter != "pdu-a" {
		t.Fatalf("meters %+v, want crac-1 and pdu-a of dc1", series)
	}
	crac, pdu := series[0], series[1]
	if crac.Tags["category"] != "cooling" || crac.Tags["room"] != "A" || crac.Tags["rack"] != "" || crac.Tags["site"] != "dc1" {
		t.Errorf("crac-1 tags %v", crac.Tags)
	}
	if pdu.Tags["category"] != "it" || pdu.Tags["rack"] != "R1" {
		t.Errorf("pdu-a tags %v", pdu.Tags)
	}
	// [t0-2m, t0+62m]: minutes -2..62. InfluxDB 1.8's Flux range includes its
	// stop (Flux proper excludes it); MeterSeries drops samples at to.
	if len(pdu.Power) != 64 || len(pdu.Counter) != 64 || len(crac.Power) != 64 || len(crac.Counter) != 0 {
		t.Fatalf("samples: pdu-a %d kw %d kwh_total, crac-1 %d kw %d kwh_total; want 64 64 64 0",
			len(pdu.Power), len(pdu.Counter), len(crac.Power), len(crac.Counter))
	}
	if !pdu.Power[0].Time.Equal(t0.Add(-maxGap)) || !pdu.Counter[63].Time.Equal(t0.Add(61*time.Minute)) {
		t.Errorf("pdu-a from %s to %s, want t0-2m to t0+61m", pdu.Power[0].Time, pdu.Counter[63].Time)
	}
	for _, c := range pdu.Counter {
		if want := c.Time.Equal(t0.Add(30 * time.Minute)); c.Reset != want {
			t.Errorf("pdu-a counter at %s: reset %v, want %v", c.Time, c.Reset, want)
		}
	}

	// pdu-a: 59 minutes of register differences (0.2 kWh each) and the reset
	// minute integrated from 12 kW: 60 × 0.2 = 12 kWh (11.8 if the reset
	// were missed). crac-1: 6 kW × 1 h integrated = 6 kWh.
	e := energy.MeterKWh(pdu, from, to, maxGap)
	if !e.FromCounter || math.Abs(e.KWh-12) > 1e-9 || e.Coverage() != 1 {
		t.Errorf("pdu-a: %.6f kWh from counter %v coverage %v, want 12 from the counter, 100%%", e.KWh, e.FromCounter, e.Coverage())
	}
	e = energy.MeterKWh(crac, from, to, maxGap)
	if e.FromCounter || math.Abs(e.KWh-6) > 1e-9 || e.Coverage() != 1 {
		t.Errorf("crac-1: %.6f kWh from counter %v coverage %v, want 6 integrated, 100%%", e.KWh, e.FromCounter, e.Coverage())
	}

	if s, err := r.MeterSeries(ctx, "dc9", from, to); err != nil || len(s) != 0 {
		t.Errorf("unknown site: %v, %v; want none, no error", s, err)
	}
	if _, err := r.MeterSeries(ctx, "", from, to); err == nil {
		t.Error("no site: no error")
	}
}
