package sim

import (
	"math"
	"time"
)

// LoadCurve is a datacenter-ish daily load: a night floor of BaseKW, a
// morning ramp to an office-hours plateau near PeakKW with a lunch dip, an
// evening decline, weekends mostly flat at the floor, and a little smooth
// noise that differs per Seed. KW is a pure function of time: the same curve
// gives the same answer for the same instant, so a whole summer can be
// replayed and two readers of one meter agree.
type LoadCurve struct {
	// BaseKW is the night-time load: the servers that never sleep.
	BaseKW float64
	// PeakKW is the working-day plateau (noise aside).
	PeakKW float64
	// Seed makes each meter's noise its own.
	Seed int64
	// Location is the site's time zone; office hours are local. nil = UTC.
	Location *time.Location
}

// KW returns the active power at t: BaseKW × (1 + shape(t) × (PeakKW/BaseKW − 1))
// × (1 + noise(t)), where shape is 0 at night and 1 on the working-day
// plateau, and the noise stays within ±2 %.
func (c LoadCurve) KW(t time.Time) float64 {
	if c.BaseKW <= 0 {
		return 0
	}
	kw := c.BaseKW * (1 + c.shape(t)*(c.PeakKW/c.BaseKW-1))
	kw *= 1 + 0.015*c.noise(0, time.Minute, t) + 0.005*c.noise(1, 7*time.Second, t)
	return math.Max(kw, 0)
}

// loadFraction is where the curve stands between floor and peak, 0..1,
// noise included; the simulated meter derives voltage sag, power factor and
// inlet temperature from it.
func (c LoadCurve) loadFraction(t time.Time) float64 {
	if c.PeakKW <= c.BaseKW {
		return 0.5
	}
	return math.Min(1, math.Max(0, (c.KW(t)-c.BaseKW)/(c.PeakKW-c.BaseKW)))
}

// shape is the day profile at t, local time: 0 at night, 1 on the plateau,
// scaled down on Saturdays and Sundays. It is 0 at midnight, so days join
// without a step.
func (c LoadCurve) shape(t time.Time) float64 {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	h := float64(lt.Hour()) + float64(lt.Minute())/60 + float64(lt.Second())/3600 + float64(lt.Nanosecond())/3.6e12
	// Knots of the working day (hour, share of the swing), joined by cosine
	// interpolation: early risers, the morning ramp, lunch, afternoon peak,
	// evening batch jobs tailing off.
	knots := [...][2]float64{
		{0, 0}, {5, 0}, {7, 0.15}, {9, 0.8}, {12, 1}, {13, 0.92},
		{15, 1}, {18, 0.85}, {20, 0.45}, {23, 0.1}, {24, 0},
	}
	s := 0.0
	for i := 1; i < len(knots); i++ {
		if h <= knots[i][0] {
			a, b := knots[i-1], knots[i]
			u := (h - a[0]) / (b[0] - a[0])
			s = a[1] + (b[1]-a[1])*(1-math.Cos(math.Pi*u))/2
			break
		}
	}
	if wd := lt.Weekday(); wd == time.Saturday || wd == time.Sunday {
		s *= 0.35
	}
	return s
}

// noise is smooth value noise in [-1, 1]: pseudo-random values at every
// multiple of period, derived from Seed, channel and the knot's index only,
// joined by cosine interpolation.
func (c LoadCurve) noise(channel uint64, period time.Duration, t time.Time) float64 {
	n := t.UnixNano()
	p := int64(period)
	k := n / p
	if n%p < 0 {
		k-- // floor division before 1970
	}
	u := float64(n-k*p) / float64(p)
	a, b := c.knot(channel, k), c.knot(channel, k+1)
	return a + (b-a)*(1-math.Cos(math.Pi*u))/2
}

// knot hashes (Seed, channel, k) with SplitMix64 to a value in [-1, 1].
func (c LoadCurve) knot(channel uint64, k int64) float64 {
	x := uint64(c.Seed) ^ channel*0x9E3779B97F4A7C15 ^ uint64(k)*0xBF58476D1CE4E5B9
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11)/float64(1<<52) - 1
}
