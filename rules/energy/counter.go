package energy

import (
	"sort"
	"time"
)

// FromCounter returns the energy in [from, to) from differences of
// kwh_total, the register-based figure that sla_peak.md §3.2 prefers to
// integrated power. Per interval between two consecutive counter samples:
//
//   - the interval ends at a Reset sample, or the total went down (the
//     collector's total never does; a decrease means bad data): the
//     register says nothing, so the interval's energy is integrated from
//     power (Integrate, with its gap rule);
//   - the interval lies inside [from, to): its difference counts in full
//     and covers the whole interval, however long — the register kept
//     counting through a collection gap, so nothing is missing;
//   - the interval crosses from or to: the difference is split. If it is
//     no longer than maxGap, the part inside gets the share of the energy
//     that power integration puts there (the time share when power does
//     not cover the interval); a longer interval cannot be split
//     credibly, so its part inside is missing.
//
// Time in [from, to) before the first or after the last counter sample is
// missing. counter must be sorted by time.
func FromCounter(counter []CounterSample, power []PowerSample, from, to time.Time, maxGap time.Duration) Energy {
	e := Energy{Span: to.Sub(from)}
	if !to.After(from) || len(counter) < 2 {
		return e
	}
	i := sort.Search(len(counter), func(i int) bool { return counter[i].Time.After(from) })
	if i > 0 {
		i--
	}
	for ; i+1 < len(counter); i++ {
		a, b := counter[i], counter[i+1]
		if !a.Time.Before(to) {
			break
		}
		dt := b.Time.Sub(a.Time)
		if dt <= 0 || !b.Time.After(from) {
			continue
		}
		s, t := a.Time, b.Time
		if from.After(s) {
			s = from
		}
		if to.Before(t) {
			t = to
		}
		ov := t.Sub(s)
		d := b.KWhTotal - a.KWhTotal
		switch {
		case b.Reset || d < 0:
			p := Integrate(power, s, t, maxGap)
			e.KWh += p.KWh
			e.Covered += p.Covered
		case ov == dt:
			e.KWh += d
			e.Covered += ov
		case maxGap > 0 && dt > maxGap:
			// Crosses the boundary over a long gap: cannot split.
		default:
			share := float64(ov) / float64(dt)
			whole := Integrate(power, a.Time, b.Time, maxGap)
			if whole.Covered == dt && whole.KWh > 0 {
				part := Integrate(power, s, t, maxGap)
				share = part.KWh / whole.KWh
			}
			e.KWh += d * share
			e.Covered += ov
		}
	}
	return e
}
