package energy

import (
	"fmt"
	"time"
)

// MeterSeries is the history of one meter: its tags (site, room, rack,
// category, as in docs/schema.md) and its power and counter samples, each
// sorted by time. Counter may be empty (a meter without an energy
// register).
type MeterSeries struct {
	Meter   string
	Tags    map[string]string
	Power   []PowerSample
	Counter []CounterSample
}

// MeterEnergy is one meter's energy over one period.
type MeterEnergy struct {
	Meter      string
	Tags       map[string]string
	Start, End time.Time
	Energy
	// FromCounter says whether the figure came from the energy register
	// (true) or from integrated power (false).
	FromCounter bool
}

// MeterKWh returns the energy of one meter in [start, end): from kwh_total
// differences when the meter has counter samples (FromCounter), else by
// integrating its power (Integrate).
func MeterKWh(s MeterSeries, start, end time.Time, maxGap time.Duration) MeterEnergy {
	m := MeterEnergy{Meter: s.Meter, Tags: s.Tags, Start: start, End: end}
	if len(s.Counter) > 0 {
		m.Energy, m.FromCounter = FromCounter(s.Counter, s.Power, start, end, maxGap), true
	} else {
		m.Energy = Integrate(s.Power, start, end, maxGap)
	}
	return m
}

// Period is a span [Start, End).
type Period struct {
	Start, End time.Time
}

// PeriodUnit is the length of a reporting period.
type PeriodUnit int

// Reporting period lengths, in the site's time zone.
const (
	Day PeriodUnit = iota + 1
	Month
	Year
)

// String names the unit.
func (u PeriodUnit) String() string {
	switch u {
	case Day:
		return "day"
	case Month:
		return "month"
	case Year:
		return "year"
	}
	return fmt.Sprintf("PeriodUnit(%d)", int(u))
}

// Periods cuts [from, to) into calendar days, months or years of loc. The
// first and last periods are clipped to from and to. Calendar arithmetic is
// on the local date, so a day with a daylight-saving change is 23 or 25
// hours long, as a meter reader would count it.
func Periods(from, to time.Time, unit PeriodUnit, loc *time.Location) ([]Period, error) {
	if loc == nil {
		loc = time.UTC
	}
	if !to.After(from) {
		return nil, fmt.Errorf("periods: end %s is not after start %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	l := from.In(loc)
	var start time.Time
	var next func(time.Time) time.Time
	switch unit {
	case Day:
		start = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
		next = func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc) }
	case Month:
		start = time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
		next = func(t time.Time) time.Time { return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc) }
	case Year:
		start = time.Date(l.Year(), 1, 1, 0, 0, 0, 0, loc)
		next = func(t time.Time) time.Time { return time.Date(t.Year()+1, 1, 1, 0, 0, 0, 0, loc) }
	default:
		return nil, fmt.Errorf("periods: unknown unit %v (want day, month or year)", unit)
	}
	var out []Period
	for s := start; s.Before(to); {
		e := next(s.In(loc))
		p := Period{Start: s, End: e}
		if p.Start.Before(from) {
			p.Start = from
		}
		if p.End.After(to) {
			p.End = to
		}
		out = append(out, p)
		s = e
	}
	return out, nil
}

// MeterKWhByPeriod returns one MeterEnergy per period, in order.
func MeterKWhByPeriod(s MeterSeries, periods []Period, maxGap time.Duration) []MeterEnergy {
	out := make([]MeterEnergy, len(periods))
	for i, p := range periods {
		out[i] = MeterKWh(s, p.Start, p.End, maxGap)
	}
	return out
}
