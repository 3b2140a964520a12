package energy

import "time"

// PowerSample is one active-power reading (field kw of measurement power).
type PowerSample struct {
	Time time.Time
	KW   float64
}

// CounterSample is one reading of an energy register as the collector
// stores it: KWhTotal is the monotonic kwh_total (it survives register
// wrap-around), Reset is kwh_reset, set on the first reading after a meter
// reset or replacement. The energy of the interval that ends at a Reset
// sample is unknown from the register; it is integrated from power
// (docs/schema.md, collector.NextCounter).
type CounterSample struct {
	Time     time.Time
	KWhTotal float64
	Reset    bool
}

// Energy is the energy of a time span and how much of the span the data
// covered. Coverage always travels with the kWh: 0.8 means a fifth of the
// span had no usable data and KWh counts nothing for it.
type Energy struct {
	KWh float64
	// Covered is the part of the span that the kWh figure accounts for.
	Covered time.Duration
	// Span is the length of the span asked for.
	Span time.Duration
}

// Coverage is Covered/Span in 0..1 (0 for an empty span).
func (e Energy) Coverage() float64 {
	if e.Span <= 0 {
		return 0
	}
	c := float64(e.Covered) / float64(e.Span)
	if c > 1 {
		return 1
	}
	return c
}

// Add sums two energies of disjoint spans (or of different meters over the
// same span, where Span and Covered are then meter-time).
func (e Energy) Add(o Energy) Energy {
	return Energy{KWh: e.KWh + o.KWh, Covered: e.Covered + o.Covered, Span: e.Span + o.Span}
}

// hours converts a duration to hours.
func hours(d time.Duration) float64 { return d.Hours() }
