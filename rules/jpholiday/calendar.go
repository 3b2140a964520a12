package jpholiday

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Calendar is the national holidays plus a site's overrides: company
// days off, and working days on a national holiday. Safe for concurrent
// use; each year is computed once.
type Calendar struct {
	off, on map[time.Time]string // civil date (midnight UTC) → name / reason

	mu    sync.Mutex
	years map[int]map[time.Time]string
}

// New returns the national calendar with no overrides.
func New() *Calendar { return &Calendar{} }

// DayOff reports whether the civil date y-m-d is a day off, and its name:
// a company day off, or a national holiday not overridden as a working
// day.
func (c *Calendar) DayOff(y int, m time.Month, d int) (string, bool) {
	t := date(y, m, d)
	if name, ok := c.off[t]; ok {
		return name, true
	}
	if _, ok := c.on[t]; ok {
		return "", false
	}
	name, ok := c.year(t.Year())[t]
	return name, ok
}

// IsDayOff is DayOff without the name.
func (c *Calendar) IsDayOff(y int, m time.Month, d int) bool {
	_, ok := c.DayOff(y, m, d)
	return ok
}

func (c *Calendar) year(y int) map[time.Time]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.years == nil {
		c.years = map[int]map[time.Time]string{}
	}
	if m, ok := c.years[y]; ok {
		return m
	}
	m := map[time.Time]string{}
	for _, h := range Year(y) {
		m[h.Date] = h.Name
	}
	c.years[y] = m
	return m
}

// Load reads an override file (ParseOverrides) into a new calendar.
func Load(path string) (*Calendar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("holiday overrides: %w", err)
	}
	defer f.Close()
	c, err := ParseOverrides(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseOverrides reads a site's overrides, one per line; # starts a
// comment:
//
//	2026-08-13 summer break          a company day off
//	2026-12-29..2027-01-03 year end  a range of days off (inclusive)
//	-2026-11-03 stock-taking         a working day despite the holiday
//
// Each error names the line.
func ParseOverrides(r io.Reader) (*Calendar, error) {
	c := &Calendar{off: map[time.Time]string{}, on: map[time.Time]string{}}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.Index(text, "#"); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		spec, name, _ := strings.Cut(text, " ")
		name = strings.TrimSpace(name)
		working := strings.HasPrefix(spec, "-")
		spec = strings.TrimPrefix(spec, "-")
		a, b, isRange := strings.Cut(spec, "..")
		from, err := time.Parse("2006-01-02", a)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a date (expected YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD or -YYYY-MM-DD)", line, a)
		}
		to := from
		if isRange {
			if to, err = time.Parse("2006-01-02", b); err != nil {
				return nil, fmt.Errorf("line %d: %q is not a date (expected YYYY-MM-DD)", line, b)
			}
			if to.Before(from) {
				return nil, fmt.Errorf("line %d: %s..%s ends before it starts", line, a, b)
			}
			if to.Sub(from) > 366*24*time.Hour {
				return nil, fmt.Errorf("line %d: %s..%s is longer than a year", line, a, b)
			}
		}
		if name == "" {
			name = "company day off"
			if working {
				name = "working day"
			}
		}
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			if working {
				c.on[d] = name
			} else {
				c.off[d] = name
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("holiday overrides: %w", err)
	}
	return c, nil
}
