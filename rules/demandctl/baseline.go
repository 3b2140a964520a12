package demandctl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// LimitSpec is one configured limit. A demand.CapLimit may have its
// baseline (BaselineLastYear: last year's peak hourly average in the same
// calendar, demand.Baseline) or its cut (ReductionAuto: the data-centre
// relaxation by last year's load variation, demand.RelaxationOf) taken
// from stored history; ResolveCaps completes it.
type LimitSpec struct {
	Limit                           demand.Limit
	BaselineLastYear, ReductionAuto bool
}

// fromHistory says whether the limit needs history to be complete.
func (s LimitSpec) fromHistory() bool { return s.BaselineLastYear || s.ReductionAuto }

// CapStatus is how a cap from history was completed.
type CapStatus struct {
	Label string
	// At is the time the history was read for; Spans the spans read.
	At    time.Time
	Spans []Span
	// BaselineKW, Reduction and Variation (the load variation rate, with
	// ReductionAuto) as computed; Err when the cap could not be completed
	// (it is then not in force).
	BaselineKW, Reduction, Variation float64
	// BaselineHour is the hour of last year the baseline came from.
	BaselineHour demand.Block
	Days         int
	Err          error
}

// Span is a half-open time range [From, To).
type Span struct{ From, To time.Time }

// HistoryWindow is the window history is read at for baselines: hourly
// averages of one-minute sums are exact to well under 1 %.
const HistoryWindow = time.Minute

// historyChunk bounds one baseline query.
const historyChunk = 7 * 24 * time.Hour

// LastYearSpans are the spans of history a cap's baseline comes from: each
// of the calendar's date ranges, in its occurrence that is in force at
// `at` or comes next, moved one year back; the whole previous calendar
// year when the calendar has no dates. Spans are whole local days, sorted,
// merged, and cut at at.
func LastYearSpans(cal demand.Calendar, at time.Time, loc *time.Location) []Span {
	if loc == nil {
		loc = time.UTC
	}
	l := at.In(loc)
	y := l.Year()
	day := func(year int, md demand.MonthDay) time.Time {
		return time.Date(year, md.Month, md.Day, 0, 0, 0, 0, loc)
	}
	var spans []Span
	if len(cal.Dates) == 0 {
		spans = append(spans, Span{time.Date(y-1, 1, 1, 0, 0, 0, 0, loc), time.Date(y, 1, 1, 0, 0, 0, 0, loc)})
	}
	for _, r := range cal.Dates {
		startYear := y
		wraps := r.To.Month < r.From.Month || (r.To.Month == r.From.Month && r.To.Day < r.From.Day)
		if wraps {
			startYear = y - 1
		}
		end := func(sy int) time.Time {
			ey := sy
			if wraps {
				ey++
			}
			return day(ey, r.To).AddDate(0, 0, 1)
		}
		if !l.Before(end(startYear)) {
			startYear++
		}
		spans = append(spans, Span{day(startYear-1, r.From), end(startYear - 1)})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].From.Before(spans[j].From) })
	var out []Span
	for _, s := range spans {
		if s.To.After(at) {
			s.To = at
		}
		if !s.To.After(s.From) {
			continue
		}
		if n := len(out); n > 0 && !s.From.After(out[n-1].To) {
			if s.To.After(out[n-1].To) {
				out[n-1].To = s.To
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// ResolveCaps returns the limits in force from specs at `at`: fixed limits
// as they are, caps from history completed from the store (one read per
// distinct calendar), and a status for each cap from history. A cap that
// cannot be completed (no history, no qualifying hour) is left out and
// its status says why; the error joins those reasons.
func ResolveCaps(ctx context.Context, s Store, site string, specs []LimitSpec, loc *time.Location, at time.Time) ([]demand.Limit, []CapStatus, error) {
	var limits []demand.Limit
	var statuses []CapStatus
	var errs []error
	for _, spec := range specs {
		if !spec.fromHistory() {
			limits = append(limits, spec.Limit)
			continue
		}
		l, st := resolveCap(ctx, s, site, spec, loc, at)
		statuses = append(statuses, st)
		if st.Err != nil {
			errs = append(errs, st.Err)
			continue
		}
		limits = append(limits, l)
	}
	return limits, statuses, errors.Join(errs...)
}

func resolveCap(ctx context.Context, s Store, site string, spec LimitSpec, loc *time.Location, at time.Time) (demand.CapLimit, CapStatus) {
	c, ok := spec.Limit.(demand.CapLimit)
	st := CapStatus{Label: spec.Limit.Label(), At: at}
	if !ok {
		st.Err = fmt.Errorf("limit %q: only a cap can take its baseline or cut from history", st.Label)
		return c, st
	}
	st.Spans = LastYearSpans(c.Calendar, at, loc)
	var samples []demand.Sample
	for _, sp := range st.Spans {
		h, err := ReadHistory(ctx, s, site, sp.From, sp.To, HistoryWindow, historyChunk, nil)
		if err != nil {
			st.Err = fmt.Errorf("cap %q: last year's history: %w", st.Label, err)
			return c, st
		}
		samples = appendSamples(samples, h.Power)
	}
	if len(samples) == 0 {
		st.Err = fmt.Errorf("cap %q: no stored power for site %q in %s", st.Label, site, describeSpans(st.Spans))
		return c, st
	}
	if spec.BaselineLastYear {
		c.BaselineKW, st.BaselineHour = demand.BaselineHour(samples, c.Calendar, loc)
		if c.BaselineKW <= 0 {
			st.Err = fmt.Errorf("cap %q: no hour of %s lies in the calendar with %.0f%% of it covered by data", st.Label, describeSpans(st.Spans), 100*demand.MinBaselineCoverage)
			return c, st
		}
	}
	if spec.ReductionAuto {
		r, err := demand.RelaxationOf(samples, c.Calendar, loc)
		if err != nil {
			st.Err = fmt.Errorf("cap %q: reduction auto: %w", st.Label, err)
			return c, st
		}
		c.Reduction, st.Variation, st.Days = r.Reduction, r.Variation, r.Days
	}
	st.BaselineKW, st.Reduction = c.BaselineKW, c.Reduction
	if err := c.Validate(); err != nil {
		st.Err = fmt.Errorf("cap %q from history: %w", st.Label, err)
	}
	return c, st
}

func describeSpans(spans []Span) string {
	if len(spans) == 0 {
		return "no span"
	}
	s := ""
	for i, sp := range spans {
		if i > 0 {
			s += ", "
		}
		s += sp.From.Format("2006-01-02") + ".." + sp.To.Add(-time.Nanosecond).Format("2006-01-02")
	}
	return s
}
