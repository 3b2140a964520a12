package sla

import (
	"fmt"
	"time"
)

// Period is a reporting period [Start, End), e.g. one calendar month in the
// report's time zone (Zabbix' monthly period, research §1.1: the 1st 00:00
// to the end of the last day, in the SLA time zone).
type Period struct {
	Label string    `json:"label"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Month returns the calendar month "2006-01" in loc.
func Month(month string, loc *time.Location) (Period, error) {
	if loc == nil {
		return Period{}, fmt.Errorf("month %q: no time zone", month)
	}
	t, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil {
		return Period{}, fmt.Errorf("month %q: expected YYYY-MM: %w", month, err)
	}
	return Period{Label: month, Start: t, End: t.AddDate(0, 1, 0)}, nil
}

// Duration of the period.
func (p Period) Duration() time.Duration { return p.End.Sub(p.Start) }

// Days returns the calendar days of the period in loc, as intervals.
func (p Period) Days(loc *time.Location) []Interval {
	var out []Interval
	y, m, d := p.Start.In(loc).Date()
	for day := time.Date(y, m, d, 0, 0, 0, 0, loc); day.Before(p.End); {
		next := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc)
		s, e := day, next
		if s.Before(p.Start) {
			s = p.Start
		}
		if e.After(p.End) {
			e = p.End
		}
		out = append(out, Interval{s, e})
		day = next
	}
	return out
}
