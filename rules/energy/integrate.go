package energy

import (
	"sort"
	"time"
)

// nsPerHour converts nanoseconds to hours.
const nsPerHour = float64(time.Hour)

// Integrate returns the energy in [from, to) of power samples by the
// trapezoid rule, E = Σ ½(P_i + P_i+1)·Δt_i (sla_peak.md §3.2).
//
//   - samples must be sorted by time; duplicate timestamps are skipped;
//   - an interval between two samples longer than maxGap is missing: it
//     adds neither energy nor coverage (a gap is never bridged);
//     maxGap <= 0 means no bound;
//   - an interval that crosses from or to is split there, with the power
//     at the boundary interpolated linearly, so consecutive blocks add up
//     exactly to the energy of their union.
//
// Times are handled as Unix nanoseconds: this loop runs for every meter at
// every tick, and time.Time.Sub's overflow check costs more than the
// arithmetic (BenchmarkEvaluatePerMeter1000NoIO).
func Integrate(power []PowerSample, from, to time.Time, maxGap time.Duration) Energy {
	e := Energy{Span: to.Sub(from)}
	if !to.After(from) || len(power) < 2 {
		return e
	}
	// The first interval that can overlap [from, to) starts at the last
	// sample at or before from.
	i := sort.Search(len(power), func(i int) bool { return power[i].Time.After(from) })
	if i > 0 {
		i--
	}
	f, t := from.UnixNano(), to.UnixNano()
	gap := int64(maxGap)
	var kwh float64
	var covered int64
	an := power[i].Time.UnixNano()
	for ; i+1 < len(power); i++ {
		a, b := power[i], power[i+1]
		bn := b.Time.UnixNano()
		if an >= t {
			break
		}
		dt := bn - an
		if dt > 0 && (gap <= 0 || dt <= gap) && bn > f {
			s, u := max(an, f), min(bn, t)
			if s == an && u == bn {
				kwh += (a.KW + b.KW) / 2 * float64(dt) / nsPerHour
			} else {
				slope := (b.KW - a.KW) / float64(dt)
				ps, pu := a.KW+slope*float64(s-an), a.KW+slope*float64(u-an)
				kwh += (ps + pu) / 2 * float64(u-s) / nsPerHour
			}
			covered += u - s
		}
		an = bn
	}
	e.KWh, e.Covered = kwh, time.Duration(covered)
	return e
}
