package report

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// Store is what a report reads. adapters/influx implements it on InfluxDB
// (measurements sla_state_change and probe, docs/schema.md) with the
// maintenance log behind it; MemoryStore implements it in memory.
type Store interface {
	// StateChanges returns each service's changes in [from, to), plus the
	// last change before from (the state in force at from), oldest first.
	// services nil means every service of the site.
	StateChanges(ctx context.Context, site string, services []string, from, to time.Time) (map[string][]sla.StateChange, error)
	// Probes streams the probe samples in [from, to) to fn, in batches of
	// one service each (a service may come in several batches).
	Probes(ctx context.Context, site string, services []string, from, to time.Time, fn func(service string, samples []sla.ProbeSample) error) error
	// MaintenanceWindows returns the maintenance records in force that
	// overlap [from, to).
	MaintenanceWindows(ctx context.Context, from, to time.Time) ([]sla.MaintenanceWindow, error)
}

// Filter selects the services of a report; zero selects all.
type Filter struct {
	Customer string   // only this customer's services
	Services []string // only these services
}

// Generator computes monthly reports for one site from its SLA catalog.
// It holds no clock: AsOf says how far the data reaches.
type Generator struct {
	Site    string
	Catalog sla.Catalog
	Policy  sla.Policy
	// Checks is the check policy the state changes were derived with; it
	// only fills in the definitions (Definitions).
	Checks sla.CheckPolicy
	// AsOf is the time the report is computed for (the caller's now).
	// Before the month's end the report is provisional and cut there;
	// after it, data up to AsOf (at most Lookahead past the end) tells
	// when incidents open at the end were resolved. Zero means the end of
	// the month.
	AsOf time.Time
	// Lookback is read before the month to find incidents carried over and
	// flaps across the boundary (default 7 days).
	Lookback time.Duration
	// Lookahead bounds the data read after the month (default 7 days).
	Lookahead time.Duration
	// ProbeChunk splits the probe read into time slices (default 1 day);
	// Concurrency slices are read at once (default 2).
	ProbeChunk  time.Duration
	Concurrency int
	// RawProbes reads every probe sample even from a ProbeSummaryStore:
	// exact percentiles, at the cost of reading every sample.
	RawProbes bool
}

// Generate computes the report of month ("2006-01" in tz) for the services
// selected by f. progressFn, if set, is called with the steps done and the
// steps in all (one per probe read, one per service) as the work proceeds;
// its calls never overlap.
//
// From a ProbeSummaryStore with rolled-up days in the month, response
// figures come from the daily summaries plus the samples of the
// service-days they cannot stand for (sla.Evaluation.UseSummaries):
// counts and maximum as from the samples, percentiles estimated at most
// 0.96% above the exact ones (ResponseFigures.Estimated).
func (g Generator) Generate(ctx context.Context, store Store, month string, tz *time.Location, f Filter, progressFn func(done, total int)) (Monthly, error) {
	if tz == nil {
		return Monthly{}, errors.New("report: no time zone")
	}
	period, err := sla.Month(month, tz)
	if err != nil {
		return Monthly{}, fmt.Errorf("report: %w", err)
	}
	g = g.withDefaults()
	if err := g.Catalog.Validate(); err != nil {
		return Monthly{}, fmt.Errorf("report: %w", err)
	}
	services, err := g.selectServices(f, period)
	if err != nil {
		return Monthly{}, err
	}
	asOf, cutoff, until := g.AsOf, period.End, period.End
	if asOf.IsZero() {
		asOf = period.End
	}
	if !asOf.After(period.Start) {
		return Monthly{}, fmt.Errorf("report %s: as-of time %s is before the month starts", month, asOf.Format(time.RFC3339))
	}
	if asOf.Before(period.End) {
		cutoff, until = asOf, asOf
	} else if lim := period.End.Add(g.Lookahead); asOf.After(lim) {
		until = lim
	} else {
		until = asOf
	}
	from := period.Start.Add(-g.Lookback)

	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Name
	}
	changes, err := store.StateChanges(ctx, g.Site, names, from, until)
	if err != nil {
		return Monthly{}, fmt.Errorf("report %s: state changes: %w", month, err)
	}
	windows, err := store.MaintenanceWindows(ctx, from, until)
	if err != nil {
		return Monthly{}, fmt.Errorf("report %s: maintenance windows: %w", month, err)
	}
	bySvc := map[string][]sla.MaintenanceWindow{}
	for _, w := range windows {
		for _, s := range w.Services {
			bySvc[s] = append(bySvc[s], w)
		}
	}

	locs := map[string]*time.Location{}
	evals := make(map[string]*evaluation, len(services))
	slas := map[string]sla.SLA{}
	for _, s := range services {
		agreement, _ := g.Catalog.SLA(s.SLA)
		agreement = agreement.WithDefaults()
		slas[s.Name] = agreement
		loc := locs[agreement.TimeZone]
		if loc == nil {
			if loc, err = time.LoadLocation(agreement.TimeZone); err != nil {
				return Monthly{}, fmt.Errorf("report: sla %q: %w", agreement.Name, err)
			}
			locs[agreement.TimeZone] = loc
		}
		e, err := sla.Begin(sla.Input{
			Service: s, SLA: agreement, Location: loc, Policy: g.Policy, Period: period,
			EvalTime: cutoff, DataUntil: until, Changes: changes[s.Name], Maintenance: bySvc[s.Name],
		})
		if err != nil {
			return Monthly{}, fmt.Errorf("report %s: %w", month, err)
		}
		evals[s.Name] = &evaluation{e: e}
	}

	progress := &stepper{total: len(services), fn: progressFn}
	summarised, err := g.readWithSummaries(ctx, store, names, period, cutoff, evals, progress)
	if err != nil {
		return Monthly{}, fmt.Errorf("report %s: probes: %w", month, err)
	}
	if !summarised {
		var chunks [][2]time.Time
		for a := period.Start; a.Before(cutoff); a = a.Add(g.ProbeChunk) {
			chunks = append(chunks, [2]time.Time{a, minTime(a.Add(g.ProbeChunk), cutoff)})
		}
		progress.add(len(chunks))
		if err := g.readProbes(ctx, store, names, chunks, evals, progress.step); err != nil {
			return Monthly{}, fmt.Errorf("report %s: probes: %w", month, err)
		}
	}

	m := Monthly{
		Site: g.Site, Month: month, TimeZone: tz.String(), Period: period, AsOf: asOf,
		Provisional: cutoff.Before(period.End), Customer: f.Customer, Policy: g.Policy, Checks: g.Checks,
	}
	for _, s := range services {
		if err := ctx.Err(); err != nil {
			return Monthly{}, err
		}
		sr := ServiceReport{Service: s, SLA: slas[s.Name], Figures: evals[s.Name].e.Finish()}
		if len(changes[s.Name]) == 0 {
			sr.Notice = NoStateChangesNotice(month, sr.Figures.Response.Valid+sr.Figures.Response.Excluded)
		}
		m.Services = append(m.Services, sr)
		progress.step()
	}
	sortServices(m.Services)
	return m, nil
}

// evaluation guards one service's evaluation against concurrent slices.
type evaluation struct {
	mu sync.Mutex
	e  *sla.Evaluation
}

// readProbes reads every sample of the services in chunks of time,
// through readBatches.
func (g Generator) readProbes(ctx context.Context, store Store, names []string, chunks [][2]time.Time, evals map[string]*evaluation, step func()) error {
	batches := make([]readBatch, len(chunks))
	for i, c := range chunks {
		batches[i] = readBatch{services: names, from: c[0], to: c[1]}
	}
	return g.readBatches(ctx, store, batches, evals, step)
}

func (g Generator) withDefaults() Generator {
	g.Policy = g.Policy.WithDefaults()
	if g.Lookback <= 0 {
		g.Lookback = 7 * 24 * time.Hour
	}
	if g.Lookahead <= 0 {
		g.Lookahead = 7 * 24 * time.Hour
	}
	if g.ProbeChunk <= 0 {
		g.ProbeChunk = 24 * time.Hour
	}
	if g.Concurrency <= 0 {
		g.Concurrency = 2
	}
	return g
}

// selectServices returns the services of the filter that existed during
// the period.
func (g Generator) selectServices(f Filter, p sla.Period) ([]sla.Service, error) {
	want := map[string]bool{}
	for _, n := range f.Services {
		if _, ok := g.Catalog.Service(n); !ok {
			return nil, fmt.Errorf("report: unknown service %q", n)
		}
		want[n] = true
	}
	var out []sla.Service
	for _, s := range g.Catalog.Services {
		if f.Customer != "" && s.Customer != f.Customer {
			continue
		}
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		if !s.Created.Before(p.End) || (!s.Deleted.IsZero() && !s.Deleted.After(p.Start)) {
			continue // did not exist in the period
		}
		if _, ok := g.Catalog.SLA(s.SLA); !ok {
			return nil, fmt.Errorf("report: service %q: unknown SLA %q", s.Name, s.SLA)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("report: no service matches customer %q and services %v", f.Customer, f.Services)
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
