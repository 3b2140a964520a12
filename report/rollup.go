package report

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// RollupStore is where a Rollup reads probe samples and writes their
// daily summaries.
type RollupStore interface {
	Store
	ProbeSummaryStore
	// WriteProbeSummaries writes one day's summaries, replacing any of the
	// same service, probe and day, and then marks the day rolled up.
	WriteProbeSummaries(ctx context.Context, site string, day sla.Interval, sums []sla.ProbeSummary) error
}

// Rollup makes the daily probe summaries that reports read instead of the
// samples (ProbeSummaryStore): one per service, probe and day (midnight
// to midnight in Location, the time zone reports are made in), counted
// against the response bound of the service's SLA (the default bound for
// a service not in the catalog). Rolling a day up again rewrites it.
type Rollup struct {
	Site     string
	Catalog  sla.Catalog
	Location *time.Location
}

// Days returns the whole days in Location inside [from, to).
func (r Rollup) Days(from, to time.Time) []sla.Interval {
	var out []sla.Interval
	f := from.In(r.Location)
	for day := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, r.Location); day.Before(to); {
		next := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, r.Location)
		if !day.Before(from) && !next.After(to) {
			out = append(out, sla.Interval{Start: day, End: next})
		}
		day = next
	}
	return out
}

// Missing returns the days of Days(from, to) that are not rolled up.
func (r Rollup) Missing(ctx context.Context, store RollupStore, from, to time.Time) ([]sla.Interval, error) {
	if r.Location == nil {
		return nil, errors.New("probe rollup: no time zone")
	}
	done, err := store.RolledUpDays(ctx, r.Site, from, to)
	if err != nil {
		return nil, fmt.Errorf("probe rollup: days done: %w", err)
	}
	have := map[int64]time.Time{}
	for _, d := range done {
		have[d.Start.UnixNano()] = d.End
	}
	var out []sla.Interval
	for _, d := range r.Days(from, to) {
		if end, ok := have[d.Start.UnixNano()]; !ok || !end.Equal(d.End) {
			out = append(out, d)
		}
	}
	return out, nil
}

// Day summarises the probe samples of day and writes the summaries.
func (r Rollup) Day(ctx context.Context, store RollupStore, day sla.Interval) (sla.RollupStats, error) {
	var st sla.RollupStats
	if !day.End.After(day.Start) {
		return st, fmt.Errorf("probe rollup: empty day %s", day.Start.Format(time.RFC3339))
	}
	bounds := map[string]float64{}
	for _, s := range r.Catalog.Services {
		if agreement, ok := r.Catalog.SLA(s.SLA); ok {
			bounds[s.Name] = sla.BoundMs(agreement)
		}
	}
	defaultBound := sla.BoundMs(sla.SLA{})
	type key struct{ service, probe string }
	sums := map[key]*sla.ProbeSummary{}
	err := store.Probes(ctx, r.Site, nil, day.Start, day.End, func(service string, samples []sla.ProbeSample) error {
		for _, p := range samples {
			if p.At.Before(day.Start) || !p.At.Before(day.End) {
				continue
			}
			k := key{service, p.Probe}
			s := sums[k]
			if s == nil {
				bound, ok := bounds[service]
				if !ok {
					bound = defaultBound
				}
				s = &sla.ProbeSummary{Service: service, Probe: p.Probe, Start: day.Start, End: day.End, BoundMs: bound}
				sums[k] = s
			}
			s.Add(p)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("probe rollup of %s: read samples: %w", day.Start.Format("2006-01-02"), err)
	}
	out := make([]sla.ProbeSummary, 0, len(sums))
	services := map[string]bool{}
	for _, s := range sums {
		out = append(out, *s)
		services[s.Service] = true
		st.Samples += s.Samples
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Probe < out[j].Probe
	})
	st.Services, st.Summaries = len(services), len(out)
	if err := store.WriteProbeSummaries(ctx, r.Site, day, out); err != nil {
		return st, fmt.Errorf("probe rollup of %s: %w", day.Start.Format("2006-01-02"), err)
	}
	return st, nil
}

// Run rolls up days in order, calling progress (if set) after each.
func (r Rollup) Run(ctx context.Context, store RollupStore, days []sla.Interval, progress func(done, total int, day sla.Interval, st sla.RollupStats)) error {
	for i, d := range days {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := r.Day(ctx, store, d)
		if err != nil {
			return err
		}
		if progress != nil {
			progress(i+1, len(days), d, st)
		}
	}
	return nil
}
