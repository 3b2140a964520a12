package demand

import (
	"fmt"
	"strings"
	"time"
)

// MonthDay is a day of the year without a year: 07-01.
type MonthDay struct {
	Month time.Month
	Day   int
}

// String is MM-DD.
func (m MonthDay) String() string { return fmt.Sprintf("%02d-%02d", int(m.Month), m.Day) }

func (m MonthDay) before(o MonthDay) bool {
	return m.Month < o.Month || (m.Month == o.Month && m.Day < o.Day)
}

// ParseMonthDay parses MM-DD.
func ParseMonthDay(s string) (MonthDay, error) {
	var m, d int
	if n, err := fmt.Sscanf(s, "%d-%d", &m, &d); n != 2 || err != nil || len(s) != 5 {
		return MonthDay{}, fmt.Errorf("date %q: want MM-DD, e.g. 07-01", s)
	}
	md := MonthDay{time.Month(m), d}
	return md, md.validate()
}

func (m MonthDay) validate() error {
	if m.Month < 1 || m.Month > 12 || m.Day < 1 || m.Day > daysIn(m.Month) {
		return fmt.Errorf("date %s: no such day", m)
	}
	return nil
}

func daysIn(m time.Month) int {
	// Leap year, so 02-29 is a valid recurring date.
	return time.Date(2024, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// DateRange is an inclusive range of days, recurring every year. From after
// To wraps the year end (12-01..02-28).
type DateRange struct {
	From, To MonthDay
}

func (r DateRange) contains(m MonthDay) bool {
	if r.To.before(r.From) {
		return !m.before(r.From) || !r.To.before(m)
	}
	return !m.before(r.From) && !r.To.before(m)
}

// Date is a civil date (a holiday).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// String is YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// ParseClock parses HH:MM as a time of day; "24:00" is the end of the day.
func ParseClock(s string) (time.Duration, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); n != 2 || err != nil || len(s) != 5 || h < 0 || m < 0 || m > 59 || h*60+m > 24*60 {
		return 0, fmt.Errorf("time of day %q: want HH:MM between 00:00 and 24:00", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// ParseWeekday parses mon, tue, … sun (or full English names).
func ParseWeekday(s string) (time.Weekday, error) {
	l := strings.ToLower(s)
	for d := time.Sunday; d <= time.Saturday; d++ {
		n := strings.ToLower(d.String())
		if l == n || l == n[:3] {
			return d, nil
		}
	}
	return 0, fmt.Errorf("weekday %q: want mon, tue, wed, thu, fri, sat or sun", s)
}

// Calendar says when a limit applies, in the site's local time: days of the
// year, weekdays, a daily time window, and holidays that are off. An empty
// Dates or Weekdays list means every day; From = To = 0 means all day.
type Calendar struct {
	Dates    []DateRange
	Weekdays []time.Weekday
	// From and To are the daily window [From, To) as time of day; To 0
	// means 24:00.
	From, To time.Duration
	// Holidays are excluded days. List the holidays of every year the
	// calendar is used for: last year's for the baseline, this year's for
	// the cap.
	Holidays []Date
	// DaysOff, if set, adds computed days off: a country's national
	// holidays for any year with a site's overrides (rules/jpholiday).
	DaysOff DaysOff
}

// DaysOff says whether a civil date is a day off (rules/jpholiday
// *Calendar implements it).
type DaysOff interface {
	IsDayOff(y int, m time.Month, d int) bool
}

// Restriction2011 is the calendar of the 2011 Electricity Usage
// Restriction (電力使用制限令) as it ran in the TEPCO and Tohoku areas:
// weekdays 9:00–20:00 from 1 July to 9 September (TEPCO was announced to
// 22 September and ended early on 9 September; sla_peak.md §2.3). Set
// DaysOff to jpholiday.New() for the national holidays of every year.
func Restriction2011() Calendar {
	return Calendar{
		Dates:    []DateRange{{From: MonthDay{time.July, 1}, To: MonthDay{time.September, 9}}},
		Weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		From:     9 * time.Hour, To: 20 * time.Hour,
	}
}

// Validate checks the calendar's days and hours.
func (c Calendar) Validate() error {
	for i, r := range c.Dates {
		if err := r.From.validate(); err != nil {
			return fmt.Errorf("dates[%d].from: %w", i, err)
		}
		if err := r.To.validate(); err != nil {
			return fmt.Errorf("dates[%d].to: %w", i, err)
		}
	}
	for i, w := range c.Weekdays {
		if w < time.Sunday || w > time.Saturday {
			return fmt.Errorf("weekdays[%d]: %d is not a weekday", i, w)
		}
	}
	to := c.to()
	if c.From < 0 || to > 24*time.Hour || c.From >= to {
		return fmt.Errorf("hours %s..%s: want 00:00 <= from < to <= 24:00", clock(c.From), clock(to))
	}
	return nil
}

func (c Calendar) to() time.Duration {
	if c.To == 0 {
		return 24 * time.Hour
	}
	return c.To
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// ContainsDay reports whether t's local date is one of the calendar's days
// (dates, weekdays, not a holiday), whatever the time of day.
func (c Calendar) ContainsDay(t time.Time, loc *time.Location) bool {
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	if len(c.Dates) > 0 {
		md, in := MonthDay{l.Month(), l.Day()}, false
		for _, r := range c.Dates {
			if r.contains(md) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	if len(c.Weekdays) > 0 {
		in := false
		for _, w := range c.Weekdays {
			if l.Weekday() == w {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, h := range c.Holidays {
		if h.Year == l.Year() && h.Month == l.Month() && h.Day == l.Day() {
			return false
		}
	}
	if c.DaysOff != nil && c.DaysOff.IsDayOff(l.Year(), l.Month(), l.Day()) {
		return false
	}
	return true
}

// Contains reports whether the calendar is in force at t.
func (c Calendar) Contains(t time.Time, loc *time.Location) bool {
	if loc == nil {
		loc = time.UTC
	}
	if !c.ContainsDay(t, loc) {
		return false
	}
	l := t.In(loc)
	midnight := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	tod := l.Sub(midnight)
	return tod >= c.From && tod < c.to()
}

// ContainsBlock reports whether the whole block lies in the calendar: with
// 9:00–20:00 the hourly blocks 9:00–10:00 … 19:00–20:00 count, 20:00–21:00
// does not.
func (c Calendar) ContainsBlock(b Block, loc *time.Location) bool {
	return c.Contains(b.Start, loc) && c.Contains(b.End.Add(-time.Nanosecond), loc)
}
