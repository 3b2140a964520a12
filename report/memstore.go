package report

import (
	"context"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// MemoryStore is a Store over data in memory, for tests, the demo and
// replays. It serves one site; the site argument is ignored.
type MemoryStore struct {
	Changes map[string][]sla.StateChange // by service
	Samples map[string][]sla.ProbeSample // by service
	Windows []sla.MaintenanceWindow      // in force (latest record of each ID)
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
