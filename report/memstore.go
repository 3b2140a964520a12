package report

import (
	"context"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// MemoryStore is a Store over data in memory, for tests, the demo and
// replays; with Rollup's summaries, a RollupStore. It serves one site; the
// site argument is ignored.
type MemoryStore struct {
	Changes map[string][]sla.StateChange // by service
	Samples map[string][]sla.ProbeSample // by service
	Windows []sla.MaintenanceWindow      // in force (latest record of each ID)
	// Summaries and the days rolled up, as WriteProbeSummaries leaves them.
	Summaries []sla.ProbeSummary
	RolledUp  []sla.Interval
}

// StateChanges implements Store.
func (s *MemoryStore) StateChanges(_ context.Context, _ string, services []string, from, to time.Time) (map[string][]sla.StateChange, error) {
	out := map[string][]sla.StateChange{}
	for svc, cs := range s.Changes {
		if !selected(svc, services) {
			continue
		}
		sorted := append([]sla.StateChange(nil), cs...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
		var before *sla.StateChange
		var in []sla.StateChange
		for i, c := range sorted {
			switch {
			case c.At.Before(from):
				before = &sorted[i]
			case c.At.Before(to):
				in = append(in, c)
			}
		}
		if before != nil {
			in = append([]sla.StateChange{*before}, in...)
		}
		if len(in) > 0 {
			out[svc] = in
		}
	}
	return out, nil
}

// Probes implements Store.
func (s *MemoryStore) Probes(ctx context.Context, _ string, services []string, from, to time.Time, fn func(string, []sla.ProbeSample) error) error {
	for svc, samples := range s.Samples {
		if !selected(svc, services) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []sla.ProbeSample
		for _, p := range samples {
			if !p.At.Before(from) && p.At.Before(to) {
				batch = append(batch, p)
			}
		}
		if len(batch) > 0 {
			if err := fn(svc, batch); err != nil {
				return err
			}
		}
	}
	return nil
}

// MaintenanceWindows implements Store.
func (s *MemoryStore) MaintenanceWindows(_ context.Context, from, to time.Time) ([]sla.MaintenanceWindow, error) {
	var out []sla.MaintenanceWindow
	for _, w := range s.Windows {
		if !w.Cancelled && w.Start.Before(to) && w.End.After(from) {
			out = append(out, w)
		}
	}
	return out, nil
}

func selected(svc string, services []string) bool {
	if services == nil {
		return true
	}
	for _, s := range services {
		if s == svc {
			return true
		}
	}
	return false
}

// RolledUpDays implements ProbeSummaryStore.
func (s *MemoryStore) RolledUpDays(_ context.Context, _ string, from, to time.Time) ([]sla.Interval, error) {
	var out []sla.Interval
	for _, d := range s.RolledUp {
		if !d.Start.Before(from) && d.Start.Before(to) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// ProbeSummaries implements ProbeSummaryStore.
func (s *MemoryStore) ProbeSummaries(ctx context.Context, _ string, services []string, from, to time.Time, fn func(sla.ProbeSummary) error) error {
	for _, sum := range s.Summaries {
		if !selected(sum.Service, services) || sum.Start.Before(from) || !sum.Start.Before(to) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(sum); err != nil {
			return err
		}
	}
	return nil
}

// WriteProbeSummaries implements RollupStore: it replaces the summaries
// of the same service, probe and start, and marks day rolled up.
func (s *MemoryStore) WriteProbeSummaries(_ context.Context, _ string, day sla.Interval, sums []sla.ProbeSummary) error {
	type key struct {
		svc, probe string
		at         int64
	}
	index := map[key]int{}
	for i, sum := range s.Summaries {
		index[key{sum.Service, sum.Probe, sum.Start.UnixNano()}] = i
	}
	for _, sum := range sums {
		if i, ok := index[key{sum.Service, sum.Probe, sum.Start.UnixNano()}]; ok {
			s.Summaries[i] = sum
		} else {
			s.Summaries = append(s.Summaries, sum)
		}
	}
	for i, d := range s.RolledUp {
		if d.Start.Equal(day.Start) {
			s.RolledUp[i] = day
			return nil
		}
	}
	s.RolledUp = append(s.RolledUp, day)
	return nil
}
