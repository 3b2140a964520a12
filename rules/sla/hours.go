package sla

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Interval is the half-open stretch [Start, End).
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Duration of the interval (0 if empty or inverted).
func (iv Interval) Duration() time.Duration {
	if !iv.End.After(iv.Start) {
		return 0
	}
	return iv.End.Sub(iv.Start)
}

// Contains says whether t is inside [Start, End).
func (iv Interval) Contains(t time.Time) bool {
	return !t.Before(iv.Start) && t.Before(iv.End)
}

// ServiceHours are the recurring weekly stretches during which the service
// is promised ("scheduled to be in working order", Zabbix's schedule, §1.1;
// Nagios' report timeperiod, §1.2). No windows means 24x7.
type ServiceHours struct {
	Windows []WeeklyWindow `json:"windows,omitempty"`
}

// WeeklyWindow is one recurring stretch, e.g. Mon-Fri 09:00-18:00, in the
// SLA's time zone. End before Start runs over midnight into the next day;
// End 24:00 is the end of the day.
type WeeklyWindow struct {
	Days  [7]bool `json:"days"` // indexed by time.Weekday
	Start int     `json:"start_min"`
	End   int     `json:"end_min"`
}

// Is24x7 says whether every moment is service time.
func (h ServiceHours) Is24x7() bool { return len(h.Windows) == 0 }

var dayNames = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// ParseServiceHours reads "24x7" or windows like "Mon-Fri 09:00-18:00",
// "Sat,Sun 10:00-14:00" or "Mon-Sun 22:00-06:00".
func ParseServiceHours(specs []string) (ServiceHours, error) {
	var h ServiceHours
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if strings.EqualFold(s, "24x7") || strings.EqualFold(s, "24/7") {
			if len(specs) != 1 {
				return ServiceHours{}, fmt.Errorf("service hours %q: 24x7 cannot be combined with other windows", s)
			}
			return ServiceHours{}, nil
		}
		w, err := parseWindow(s)
		if err != nil {
			return ServiceHours{}, err
		}
		h.Windows = append(h.Windows, w)
	}
	return h, nil
}

func parseWindow(s string) (WeeklyWindow, error) {
	var w WeeklyWindow
	f := strings.Fields(s)
	if len(f) != 2 {
		return w, fmt.Errorf("service hours %q: expected DAYS HH:MM-HH:MM, e.g. Mon-Fri 09:00-18:00", s)
	}
	for _, part := range strings.Split(f[0], ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, err := parseDay(a)
		if err != nil {
			return w, fmt.Errorf("service hours %q: %w", s, err)
		}
		to := from
		if isRange {
			if to, err = parseDay(b); err != nil {
				return w, fmt.Errorf("service hours %q: %w", s, err)
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			w.Days[d] = true
			if d == to {
				break
			}
		}
	}
	a, b, ok := strings.Cut(f[1], "-")
	if !ok {
		return w, fmt.Errorf("service hours %q: expected HH:MM-HH:MM", s)
	}
	var err error
	if w.Start, err = parseClock(a); err != nil {
		return w, fmt.Errorf("service hours %q: %w", s, err)
	}
	if w.End, err = parseClock(b); err != nil {
		return w, fmt.Errorf("service hours %q: %w", s, err)
	}
	if w.Start == w.End || w.Start >= 24*60 {
		return w, fmt.Errorf("service hours %q: empty window", s)
	}
	return w, nil
}

func parseDay(s string) (int, error) {
	for i, n := range dayNames {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown day %q (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)", s)
}

func parseClock(s string) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("bad time of day %q (expected HH:MM, 00:00 to 24:00)", s)
	}
	return h*60 + m, nil
}

// String gives the windows back in the form ParseServiceHours reads.
func (h ServiceHours) String() string {
	if h.Is24x7() {
		return "24x7"
	}
	parts := make([]string, len(h.Windows))
	for i, w := range h.Windows {
		var days []string
		for d := 0; d < 7; d++ {
			if w.Days[d] {
				days = append(days, dayNames[d])
			}
		}
		parts[i] = fmt.Sprintf("%s %02d:%02d-%02d:%02d", strings.Join(days, ","), w.Start/60, w.Start%60, w.End/60, w.End%60)
	}
	return strings.Join(parts, "; ")
}

// Intervals returns the service time inside [from, to) as sorted, disjoint
// intervals, with windows read as wall-clock times in loc (so a DST change
// makes that day's window an hour shorter or longer, as the customer sees it).
func (h ServiceHours) Intervals(from, to time.Time, loc *time.Location) []Interval {
	if !to.After(from) {
		return nil
	}
	if h.Is24x7() {
		return []Interval{{from, to}}
	}
	var out []Interval
	// Start a day early for windows that run over midnight.
	y, m, d := from.In(loc).Date()
	for day := time.Date(y, m, d-1, 0, 0, 0, 0, loc); day.Before(to); {
		wd := day.Weekday()
		for _, w := range h.Windows {
			if !w.Days[wd] {
				continue
			}
			y, m, d := day.Date()
			s := time.Date(y, m, d, 0, w.Start, 0, 0, loc)
			e := time.Date(y, m, d, 0, w.End, 0, 0, loc)
			if w.End < w.Start {
				e = time.Date(y, m, d+1, 0, w.End, 0, 0, loc)
			}
			if s.Before(from) {
				s = from
			}
			if e.After(to) {
				e = to
			}
			if e.After(s) {
				out = append(out, Interval{s, e})
			}
		}
		y, m, d = day.Date()
		day = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return unionIntervals(out)
}

// unionIntervals sorts and merges overlapping or touching intervals.
func unionIntervals(ivs []Interval) []Interval {
	if len(ivs) < 2 {
		return ivs
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].Start.Before(ivs[j].Start) })
	out := ivs[:1]
	for _, iv := range ivs[1:] {
		last := &out[len(out)-1]
		if !iv.Start.After(last.End) {
			if iv.End.After(last.End) {
				last.End = iv.End
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}
