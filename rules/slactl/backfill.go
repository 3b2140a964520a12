package slactl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/sla"
)

// Causes the backfill writes.
const (
	// CauseBackfillStarted: the state before the backfilled period is not
	// known to it.
	CauseBackfillStarted = "sla backfill: no data before"
	// CauseBackfillEnded: the backfilled period ended here.
	CauseBackfillEnded = "sla backfill: period ended"
)

// ObservationStore is what a backfill reads: the points the controller
// observes on the data path (probe, host, vm, vm_event, libvirt
// collector_errors), as stored, to fn in time order, one timestamp per
// call (adapters/influx SLAStore.Observations).
type ObservationStore interface {
	Observations(ctx context.Context, site string, from, to time.Time, chunk time.Duration,
		fn func(pts []point.Point) error, progress func(done, total int)) error
}

// BackfillResult says what a backfill did.
type BackfillResult struct {
	// Observations are the points read, Checks the probe results among
	// them.
	Observations, Checks int
	// Changes are the settled service changes derived (per service in
	// ByService); Points the sla_state_change points written, with the
	// start and end markers and the monthly re-assertions.
	Changes   int
	ByService map[string]int
	Points    int
	// Horizon is how far the timeline is settled (at most to).
	Horizon time.Time
}

// Backfill derives the service state changes of [from, to) from the
// observations already stored, through the controller the daemon runs:
// cfg is the daemon's configuration; its clock is replaced by one that the
// replay moves, tick by tick (cfg.Tick, default 5 s), past the stored
// points, which are observed as the tap would have seen them. The changes
// are written to cfg.Points as the daemon writes them (sla_state_change,
// with the month-start re-assertions), framed by UNKNOWN at from
// (CauseBackfillStarted) and at the settled end (CauseBackfillEnded), as a
// daemon's start and stop are. The replay is deterministic: run twice on
// the same data it writes the same points at the same times, which
// InfluxDB stores once. progress, if set, is called after each day read.
func Backfill(ctx context.Context, cfg Config, obs ObservationStore, from, to time.Time, progress func(done, total int)) (BackfillResult, error) {
	if !to.After(from) {
		return BackfillResult{}, fmt.Errorf("sla backfill: empty period %s..%s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if obs == nil {
		return BackfillResult{}, errors.New("sla backfill: no observation store")
	}
	clock := clockwork.NewFakeClockAt(from)
	cfg.Clock = clock
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	counting := &countingWriter{next: cfg.Points}
	cfg.Points = counting
	c, err := New(cfg)
	if err != nil {
		return BackfillResult{}, fmt.Errorf("sla backfill: %w", err)
	}
	res := BackfillResult{ByService: map[string]int{}}
	c.write(ctx, c.everyService(from, sla.StateUnknown, CauseBackfillStarted))
	next := from.Add(c.cfg.Tick)
	tickTo := func(t time.Time) {
		for !next.After(t) {
			clock.Advance(next.Sub(clock.Now()))
			for _, ch := range c.Tick(ctx) {
				res.Changes++
				res.ByService[ch.Service]++
			}
			next = next.Add(c.cfg.Tick)
		}
	}
	err = obs.Observations(ctx, cfg.Site, from, to, 24*time.Hour, func(pts []point.Point) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Everything before this batch's time is settled as far as the
		// live tracker would have settled it then.
		tickTo(pts[0].Time)
		res.Observations += len(pts)
		for _, p := range pts {
			if p.Measurement == sla.MeasurementProbe {
				res.Checks++
			}
		}
		c.Observe(pts)
		return nil
	}, progress)
	if err != nil {
		return res, fmt.Errorf("sla backfill: %w", err)
	}
	tickTo(to)
	if clock.Now().Before(to) {
		clock.Advance(to.Sub(clock.Now()))
		for _, ch := range c.Tick(ctx) {
			res.Changes++
			res.ByService[ch.Service]++
		}
	}
	c.mu.Lock()
	res.Horizon = c.tracker.Horizon()
	c.mu.Unlock()
	c.write(ctx, c.everyService(res.Horizon, sla.StateUnknown, CauseBackfillEnded))
	res.Points = counting.n
	if counting.err != nil {
		return res, fmt.Errorf("sla backfill: write sla_state_change: %w", counting.err)
	}
	return res, nil
}

// countingWriter counts the points written and keeps the first error
// (Controller.write only logs it).
type countingWriter struct {
	next PointWriter
	n    int
	err  error
}

func (w *countingWriter) Write(ctx context.Context, pts []point.Point) error {
	err := w.next.Write(ctx, pts)
	if err != nil && w.err == nil {
		w.err = err
	}
	if err == nil {
		w.n += len(pts)
	}
	return err
}
