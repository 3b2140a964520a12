package demand

import (
	"math"
	"time"
)

// officeLoad is a deterministic office-hours site load for tests and
// benchmarks, independent of adapters/sim: a night floor, a morning ramp
// (07:30–09:30) to a working-day plateau, a lunch dip, an afternoon cooling
// bump, an evening decline (17:30–20:00), weekends near the floor, plus
// noise: per-sample white noise, smooth wander (sums of slow sines with
// seeded phases) and a compressor cycling on a 37-minute period. The same
// (seed, time) always gives the same kW.
type officeLoad struct {
	BaseKW, PeakKW float64
	Seed           uint64
	Loc            *time.Location
	// WhiteNoise and Wander are relative amplitudes (default 0.015, 0.01);
	// Compressor is the cycling load in kW (default 2 % of PeakKW).
	WhiteNoise, Wander, Compressor float64
}

func (o officeLoad) kw(t time.Time) float64 {
	loc := o.Loc
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	h := float64(l.Hour()) + float64(l.Minute())/60 + float64(l.Second())/3600
	shape := 0.0
	switch wd := l.Weekday(); {
	case wd == time.Saturday || wd == time.Sunday:
		shape = 0.1 * bump(h, 10, 17, 1.5)
	default:
		shape = bump(h, 8.5, 18.75, 1.0) // 7:30→9:30 up, 17:75→19:75 down (smoothstep over ±1 h)
		shape -= 0.08 * bump(h, 12.1, 12.9, 0.25)
		shape += 0.06 * bump(h, 13.5, 16, 0.75)
	}
	kw := o.BaseKW + shape*(o.PeakKW-o.BaseKW)
	wn, wa, cp := o.WhiteNoise, o.Wander, o.Compressor
	if wn == 0 {
		wn = 0.015
	}
	if wa == 0 {
		wa = 0.01
	}
	if cp == 0 {
		cp = 0.02 * o.PeakKW
	}
	s := float64(t.Unix())
	wander := 0.0
	for i, period := range []float64{7 * 60, 23 * 60, 71 * 60} {
		phase := 2 * math.Pi * unit(o.Seed, uint64(i))
		wander += math.Sin(2*math.Pi*s/period+phase) / 3
	}
	kw *= 1 + wa*wander + wn*(2*unit(o.Seed+1000, uint64(t.Unix()))-1)
	if math.Mod(s+unit(o.Seed, 99)*2220, 2220) < 1110 { // 37-minute cycle, half on
		kw += cp
	}
	return kw
}

// bump is 0 outside [a−w, b+w], 1 inside [a+w, b−w] … rises by smoothstep
// over [a−w, a+w] and falls over [b−w, b+w].
func bump(h, a, b, w float64) float64 {
	return smooth((h-(a-w))/(2*w)) * (1 - smooth((h-(b-w))/(2*w)))
}

func smooth(x float64) float64 {
	x = math.Max(0, math.Min(1, x))
	return x * x * (3 - 2*x)
}

// unit is a deterministic uniform number in [0, 1) from (seed, n)
// (splitmix64).
func unit(seed, n uint64) float64 {
	z := seed*0x9E3779B97F4A7C15 + n + 0x632BE59BD9B4E5B
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11) / float64(1<<53)
}

// samples returns the curve sampled every step in [from, to].
func (o officeLoad) samples(from, to time.Time, step time.Duration) []Sample {
	out := make([]Sample, 0, int(to.Sub(from)/step)+1)
	for t := from; !t.After(to); t = t.Add(step) {
		out = append(out, Sample{Time: t, KW: o.kw(t)})
	}
	return out
}
