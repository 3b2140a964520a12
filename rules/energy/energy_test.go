package energy

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g", name, got, want)
	}
}

func TestIntegrateTrapezoidAndGap(t *testing.T) {
	p := []PowerSample{{at(0), 10}, {at(60), 20}, {at(120), 20}, {at(600), 30}, {at(660), 30}}
	e := Integrate(p, at(0), at(660), 3*time.Minute)
	// (10+20)/2 kW × 1 min + 20 kW × 1 min + [8-min gap: missing] + 30 kW × 1 min
	// = 0.25 + 0.333… + 0.5 kWh, over 3 of 11 minutes.
	near(t, "kWh", e.KWh, 0.25+20.0/60+0.5)
	if e.Covered != 3*time.Minute || e.Span != 11*time.Minute {
		t.Errorf("covered %v of %v, want 3m0s of 11m0s", e.Covered, e.Span)
	}
	near(t, "coverage", e.Coverage(), 3.0/11)
	// Without a bound the gap is bridged: + (20+30)/2 kW × 8 min.
	near(t, "kWh no bound", Integrate(p, at(0), at(660), 0).KWh, 0.25+20.0/60+0.5+25*8.0/60)
}

func TestIntegrateSplitsAtBoundary(t *testing.T) {
	// 100 kW at 10:29:30, 200 kW at 10:30:30: 150 kW at 10:30 by interpolation.
	p := []PowerSample{{at(29*60 + 30), 100}, {at(30*60 + 30), 200}}
	before := Integrate(p, at(0), at(30*60), time.Minute)
	after := Integrate(p, at(30*60), at(60*60), time.Minute)
	near(t, "before", before.KWh, (100+150)/2.0*30/3600) // 1.041666…
	near(t, "after", after.KWh, (150+200)/2.0*30/3600)   // 1.458333…
	near(t, "sum", before.KWh+after.KWh, 150.0/60)
	if before.Covered != 30*time.Second || after.Covered != 30*time.Second {
		t.Errorf("covered %v + %v, want 30s + 30s", before.Covered, after.Covered)
	}
}

func TestFromCounter(t *testing.T) {
	flat := func(n int) []PowerSample {
		p := make([]PowerSample, n)
		for i := range p {
			p[i] = PowerSample{at(60 * i), 30}
		}
		return p
	}
	power := flat(14) // 30 kW every minute, 0..13 min
	c := []CounterSample{
		{Time: at(0), KWhTotal: 100},
		{Time: at(60), KWhTotal: 100.5},
		{Time: at(120), KWhTotal: 100.5, Reset: true}, // reset: 1 min of 30 kW = 0.5 kWh by power
		{Time: at(180), KWhTotal: 101},
		{Time: at(780), KWhTotal: 106}, // 10-min collection gap: the register still counted 5 kWh
	}
	e := FromCounter(c, power, at(0), at(780), 2*time.Minute)
	near(t, "kWh", e.KWh, 0.5+0.5+0.5+5)
	if e.Coverage() != 1 {
		t.Errorf("coverage %v, want 1 (a register covers its gaps)", e.Coverage())
	}

	// A boundary at 0:30 inside the first interval: power is flat, so half
	// of its 0.5 kWh falls on each side.
	near(t, "split", FromCounter(c, power, at(30), at(60), 2*time.Minute).KWh, 0.25)
	// The same boundary inside the 10-minute gap cannot be split: missing.
	g := FromCounter(c, power, at(180), at(480), 2*time.Minute)
	if g.KWh != 0 || g.Covered != 0 {
		t.Errorf("split of a long interval = %v kWh over %v, want nothing", g.KWh, g.Covered)
	}

	// Power shares the split when power is not flat: 0 kW then 60 kW.
	ramp := []PowerSample{{at(0), 0}, {at(60), 60}}
	cc := []CounterSample{{Time: at(0), KWhTotal: 0}, {Time: at(60), KWhTotal: 0.5}}
	// Power puts ¼ of the minute's energy in its first half (triangle).
	near(t, "power-shared split", FromCounter(cc, ramp, at(0), at(30), time.Minute).KWh, 0.125)

	// A decrease without a reset flag is bad data: fall back to power.
	bad := []CounterSample{{Time: at(0), KWhTotal: 50}, {Time: at(60), KWhTotal: 10}}
	near(t, "decrease", FromCounter(bad, power, at(0), at(60), 2*time.Minute).KWh, 0.5)
}

func TestMeterKWhPrefersCounter(t *testing.T) {
	s := MeterSeries{Meter: "m", Power: []PowerSample{{at(0), 10}, {at(3600), 10}},
		Counter: []CounterSample{{Time: at(0), KWhTotal: 0}, {Time: at(3600), KWhTotal: 12}}}
	m := MeterKWh(s, at(0), at(3600), 2*time.Hour)
	if !m.FromCounter || m.KWh != 12 {
		t.Errorf("got %v kWh (counter %v), want 12 from the counter", m.KWh, m.FromCounter)
	}
	s.Counter = nil
	if m := MeterKWh(s, at(0), at(3600), 2*time.Hour); m.FromCounter || m.KWh != 10 {
		t.Errorf("got %v kWh (counter %v), want 10 from power", m.KWh, m.FromCounter)
	}
}

func TestPeriods(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	ps, err := Periods(time.Date(2024, 6, 15, 0, 0, 0, 0, tokyo), time.Date(2024, 8, 10, 0, 0, 0, 0, tokyo), Month, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2024-06-15/2024-07-01", "2024-07-01/2024-08-01", "2024-08-01/2024-08-10"}
	if len(ps) != len(want) {
		t.Fatalf("%d periods, want %d", len(ps), len(want))
	}
	for i, p := range ps {
		if got := p.Start.In(tokyo).Format("2006-01-02") + "/" + p.End.In(tokyo).Format("2006-01-02"); got != want[i] {
			t.Errorf("period %d = %s, want %s", i, got, want[i])
		}
	}
	ny, _ := time.LoadLocation("America/New_York")
	ds, _ := Periods(time.Date(2024, 3, 10, 0, 0, 0, 0, ny), time.Date(2024, 3, 11, 0, 0, 0, 0, ny), Day, ny)
	if len(ds) != 1 || ds[0].End.Sub(ds[0].Start) != 23*time.Hour {
		t.Errorf("DST day = %v, want one 23-hour day", ds)
	}
	if _, err := Periods(at(10), at(0), Day, nil); err == nil {
		t.Error("reversed span accepted")
	}
}

func me(meter string, kwh, coverage float64, tags map[string]string) MeterEnergy {
	return MeterEnergy{Meter: meter, Tags: tags, Start: t0, End: t0.AddDate(0, 1, 0),
		Energy: Energy{KWh: kwh, Covered: time.Duration(coverage * float64(time.Hour)), Span: time.Hour}}
}

func TestRollup(t *testing.T) {
	ms := []MeterEnergy{
		me("pdu-a1", 10, 1, map[string]string{"site": "dc1", "room": "A", "rack": "A01", "category": "it"}),
		me("pdu-a2", 5, 1, map[string]string{"site": "dc1", "room": "A", "rack": "A02", "category": "it"}),
		me("crac-1", 7, 1, map[string]string{"site": "dc1", "room": "A", "category": "cooling"}),
		me("pdu-b1", 3, 0.5, map[string]string{"site": "dc1", "room": "B", "rack": "B01", "category": "it"}),
	}
	root := Rollup(ms)
	if root.Level != "site" || root.Name != "dc1" || root.KWh != 25 || root.Meters != 4 || root.Coverage != 0.5 {
		t.Fatalf("root = %+v", *root)
	}
	a := root.Children[0]
	if a.Name != "A" || a.KWh != 22 || a.Coverage != 1 || len(a.Children) != 3 {
		t.Fatalf("room A = %+v", *a)
	}
	got := []string{}
	for _, c := range a.Children {
		got = append(got, c.Level+":"+c.Name)
	}
	if want := "rack:A01 rack:A02 meter:crac-1"; join(got) != want {
		t.Errorf("room A children = %s, want %s", join(got), want)
	}
	if b := root.Children[1]; b.KWh != 3 || b.Children[0].Children[0].Name != "pdu-b1" {
		t.Errorf("room B = %+v", *b)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestPUE(t *testing.T) {
	ms := []MeterEnergy{
		me("incomer", 150, 1, map[string]string{"category": "facility"}),
		me("pdu", 100, 1, map[string]string{"category": "it"}),
		me("crac", 40, 0.9, map[string]string{"category": "cooling"}),
	}
	p, err := ComputePUE(ms, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Value != 1.5 || p.TotalFrom != "facility" || !p.Interim || p.Label() != "interim PUE (category 1)" || p.Coverage != 1 {
		t.Errorf("with facility meter: %+v %s", p, p.Label())
	}
	// No facility meter: total = it + cooling + other = 100 + 40 + 10.
	ms = append(ms[1:], me("lights", 10, 1, map[string]string{"category": "other"}))
	p, _ = ComputePUE(ms, 2)
	if p.Value != 1.5 || p.TotalFrom != "sum" || p.Coverage != 0.9 {
		t.Errorf("summed: %+v", p)
	}
	if _, err := ComputePUE(ms, 0); err == nil {
		t.Error("category 0 accepted")
	}
	if _, err := ComputePUE(ms[1:], 1); err == nil {
		t.Error("PUE without IT energy accepted")
	}
}

// PUE over two hours with different IT load is the energy ratio (1.4), not
// the mean of the hourly ratios (2.0 and 1.2 → 1.6).
func TestPUEIsEnergyRatio(t *testing.T) {
	step := func(a, b float64) []PowerSample {
		return []PowerSample{{at(0), a}, {at(3600), a}, {at(3601), b}, {at(7201), b}}
	}
	it := MeterSeries{Meter: "it", Tags: map[string]string{"category": "it"}, Power: step(50, 150)}
	tot := MeterSeries{Meter: "main", Tags: map[string]string{"category": "facility"}, Power: step(100, 180)}
	var ms []MeterEnergy
	for _, s := range []MeterSeries{it, tot} {
		ms = append(ms, MeterKWh(s, at(0), at(7201), 2*time.Second))
	}
	p, err := ComputePUE(ms, 1)
	if err != nil {
		t.Fatal(err)
	}
	// (100 + 140 + 180) / (50 + 100 + 150) with the 1-s ramp in between.
	near(t, "PUE", p.Value, (100+(100+180)/2.0/3600+180)/(50+(50+150)/2.0/3600+150))
	if math.Abs(p.Value-1.4) > 1e-3 {
		t.Errorf("PUE = %v, want ≈1.4", p.Value)
	}
}

func TestHostModel(t *testing.T) {
	var h []HostSample
	for i := 0; i < 10; i++ {
		u := float64(i) / 10
		h = append(h, HostSample{CPUUtil: u, PowerW: 100 + 200*u})
	}
	m, err := FitHostModel(h)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "idle", m.IdleW, 100)
	near(t, "slope", m.SlopeW, 200)
	near(t, "R2", m.R2, 1)
	if m.Source != "fitted" || m.PowerW(0.5) != 200 || m.PowerW(2) != 300 {
		t.Errorf("model %+v", m)
	}
	if _, err := FitHostModel(h[:5]); err == nil {
		t.Error("5 samples fitted")
	}
	flat := make([]HostSample, 20)
	for i := range flat {
		flat[i] = HostSample{CPUUtil: 0.3 + float64(i%2)*0.01, PowerW: 150}
	}
	m, err = SelectHostModel(flat, 120, 300)
	if err != nil || m.Source != "nameplate" || m.IdleW != 120 || m.SlopeW != 180 {
		t.Errorf("fallback = %+v, %v", m, err)
	}
	if _, err := NameplateModel(300, 120); err == nil {
		t.Error("max < idle accepted")
	}
	// An unmetered host at 50 % for an hour: 200 W → 0.2 kWh.
	e := HostModel{IdleW: 100, SlopeW: 200}.KWh([]UtilSample{{at(0), 0.5}, {at(3600), 0.5}}, at(0), at(3600), time.Hour)
	near(t, "modelled kWh", e.KWh, 0.2)
}

func TestAttributeVMs(t *testing.T) {
	// 10 kWh in 10 h with a 500 W idle floor: 5 kWh idle, 5 kWh active.
	// Node CPU 1000 s: vm1 400 s (2 vCPU), vm2 100 s (2 vCPU), host 500 s.
	h := HostPeriod{KWh: 10, Duration: 10 * time.Hour, NodeCPUSeconds: 1000, Model: HostModel{IdleW: 500, SlopeW: 300}}
	a, err := AttributeVMs(h, []VMUsage{{"vm1", 400, 2}, {"vm2", 100, 2}})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "idle", a.IdleKWh, 5)
	near(t, "vm1 active", a.VMs[0].ActiveKWh, 2)  // 400/1000 × 5
	near(t, "vm1 idle", a.VMs[0].IdleKWh, 2.5)    // 2/4 × 5
	near(t, "vm2 active", a.VMs[1].ActiveKWh, .5) // 100/1000 × 5
	near(t, "vm2", a.VMs[1].KWh, 3)
	near(t, "host", a.HostKWh, 2.5) // 500/1000 × 5
	// Less energy than the idle floor: all idle.
	h.KWh = 4
	a, _ = AttributeVMs(h, []VMUsage{{"vm1", 400, 2}})
	near(t, "floor idle", a.IdleKWh, 4)
	near(t, "floor vm1", a.VMs[0].KWh, 4)
	h.NodeCPUSeconds = 100
	if _, err := AttributeVMs(h, []VMUsage{{"vm1", 400, 2}}); err == nil {
		t.Error("node CPU below VM CPU accepted")
	}
}
