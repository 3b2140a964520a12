package report

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// ProbeSummaryStore is a Store that also keeps daily probe summaries
// (Rollup; adapters/influx: measurements probe_daily and probe_rollup).
// With one, a report reads the summaries and only the samples of the
// service-days they cannot stand for (sla.Evaluation.UseSummaries), so its
// cost follows the number of services and days, not of probe samples.
type ProbeSummaryStore interface {
	// RolledUpDays returns the days starting in [from, to) whose summaries
	// were all written, sorted.
	RolledUpDays(ctx context.Context, site string, from, to time.Time) ([]sla.Interval, error)
	// ProbeSummaries streams the summaries of the days starting in
	// [from, to) to fn, any order. services nil means all.
	ProbeSummaries(ctx context.Context, site string, services []string, from, to time.Time, fn func(sla.ProbeSummary) error) error
}

// readWithSummaries is Generate's probe read from summaries plus the
// samples they cannot stand for. It returns false, having read nothing,
// when the store has no rolled-up day in the period.
func (g Generator) readWithSummaries(ctx context.Context, store Store, names []string, period sla.Period, cutoff time.Time,
	evals map[string]*evaluation, progress *stepper) (bool, error) {
	ss, ok := store.(ProbeSummaryStore)
	if !ok || g.RawProbes {
		return false, nil
	}
	days, err := ss.RolledUpDays(ctx, g.Site, period.Start, cutoff)
	if err != nil {
		return false, fmt.Errorf("rolled-up days: %w", err)
	}
	if len(days) == 0 {
		return false, nil
	}
	for _, ev := range evals {
		ev.e.UseSummaries(days)
	}
	progress.add(1)
	err = ss.ProbeSummaries(ctx, g.Site, names, period.Start, cutoff, func(s sla.ProbeSummary) error {
		if ev := evals[s.Service]; ev != nil {
			ev.e.AddSummary(s) // one reader: no lock needed yet
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("summaries: %w", err)
	}
	progress.step()
	// The samples the summaries cannot stand for, then (rarely) those
	// that find a maximum the first read took out.
	for _, reads := range []func(*sla.Evaluation) []sla.Interval{(*sla.Evaluation).RawReads, (*sla.Evaluation).MaxReads} {
		byService := map[string][]sla.Interval{}
		for name, ev := range evals {
			if r := reads(ev.e); len(r) > 0 {
				byService[name] = r
			}
		}
		batches := g.batchReads(period.Start, cutoff, byService)
		progress.add(len(batches))
		if err := g.readBatches(ctx, store, batches, evals, progress.step); err != nil {
			return false, err
		}
	}
	return true, nil
}

// readBatch is one probe read: some services over one stretch.
type readBatch struct {
	services []string
	from, to time.Time
}

// batchReads groups the services' reads by probe chunk (a day by
// default): one read per chunk, of the services that need samples in it,
// over the hull of what they need.
func (g Generator) batchReads(start, end time.Time, reads map[string][]sla.Interval) []readBatch {
	type chunk struct {
		services map[string]bool
		from, to time.Time
	}
	var chunks []*chunk
	for a := start; a.Before(end); a = a.Add(g.ProbeChunk) {
		chunks = append(chunks, &chunk{services: map[string]bool{}})
	}
	for name, ivs := range reads {
		for _, iv := range ivs {
			for k := max(int(iv.Start.Sub(start)/g.ProbeChunk), 0); k < len(chunks); k++ {
				ca := start.Add(time.Duration(k) * g.ProbeChunk)
				cb := minTime(ca.Add(g.ProbeChunk), end)
				if !ca.Before(iv.End) {
					break
				}
				a, b := maxTime(ca, iv.Start), minTime(cb, iv.End)
				if !a.Before(b) {
					continue
				}
				c := chunks[k]
				c.services[name] = true
				if c.from.IsZero() || a.Before(c.from) {
					c.from = a
				}
				if b.After(c.to) {
					c.to = b
				}
			}
		}
	}
	var out []readBatch
	for _, c := range chunks {
		if len(c.services) == 0 {
			continue
		}
		b := readBatch{from: c.from, to: c.to}
		for name := range c.services {
			b.services = append(b.services, name)
		}
		sort.Strings(b.services)
		out = append(out, b)
	}
	return out
}

// readBatches runs the reads, Concurrency at a time, into the evaluations.
func (g Generator) readBatches(ctx context.Context, store Store, batches []readBatch, evals map[string]*evaluation, step func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, g.Concurrency)
	errs := make(chan error, len(batches))
	var wg sync.WaitGroup
	for _, b := range batches {
		wg.Add(1)
		sem <- struct{}{}
		go func(b readBatch) {
			defer wg.Done()
			defer func() { <-sem }()
			err := store.Probes(ctx, g.Site, b.services, b.from, b.to, func(service string, samples []sla.ProbeSample) error {
				if ev := evals[service]; ev != nil {
					ev.mu.Lock()
					ev.e.AddProbes(samples)
					ev.mu.Unlock()
				}
				return nil
			})
			if err != nil {
				errs <- fmt.Errorf("%d services %s to %s: %w", len(b.services), b.from.Format(time.RFC3339), b.to.Format(time.RFC3339), err)
				cancel()
				return
			}
			step()
		}(b)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// stepper reports progress as steps done of a total that may grow, from
// any goroutine.
type stepper struct {
	mu          sync.Mutex
	done, total int
	fn          func(done, total int)
}

func (s *stepper) add(n int) {
	s.mu.Lock()
	s.total += n
	s.mu.Unlock()
}

// step counts one step done and reports it; calls of fn never overlap.
func (s *stepper) step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done++
	if s.fn != nil {
		s.fn(s.done, s.total)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
