package demandctl

import (
	"context"
	"fmt"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// PeakStore reads the highest billing-block demand stored for a site in
// [from, to), and the start of the block that set it; kw 0 when no block
// has data (adapters/influx Reader.PeakDemand: per-block aggregates, the
// bill's read path).
type PeakStore interface {
	PeakDemand(ctx context.Context, site string, from, to time.Time, block time.Duration) (kw float64, at time.Time, err error)
}

// AnnualMaxWindow is the span whose highest block sets the contract power
// of the month of at under the measured-demand rule: the month and the 11
// before it, local time, up to at.
func AnnualMaxWindow(at time.Time, loc *time.Location) (from, to time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	l := at.In(loc)
	return time.Date(l.Year(), l.Month()-11, 1, 0, 0, 0, 0, loc), at
}

// ReadAnnualMax is the 12-month maximum at `at` from stored history.
func ReadAnnualMax(ctx context.Context, s PeakStore, site string, at time.Time, block time.Duration, loc *time.Location) (float64, time.Time, error) {
	from, to := AnnualMaxWindow(at, loc)
	kw, when, err := s.PeakDemand(ctx, site, from, to, block)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("12-month maximum of %q %s..%s: %w", site, from.Format("2006-01-02"), to.Format(time.RFC3339), err)
	}
	return kw, when, nil
}

// refreshAnnualMax reads the 12-month maximum from stored history when the
// store can (PeakStore) and it was not read today (local date): at start
// and then once a day, never per tick; the engine raises it at each block
// end in between (demand.State.PeakKW). A failed read keeps the maximum
// the controller had.
func (c *Controller) refreshAnnualMax(ctx context.Context, now time.Time, today string) {
	ps, ok := c.cfg.Store.(PeakStore)
	if !ok {
		return
	}
	c.mu.Lock()
	done := c.maxDay == today
	c.mu.Unlock()
	if done {
		return
	}
	kw, at, err := ReadAnnualMax(ctx, ps, c.cfg.Site, now, c.cfg.Engine.BlockLength, c.cfg.Engine.Location)
	if err != nil {
		c.log.Error("12-month maximum not read from history; keeping the one in force", "err", err)
		return
	}
	c.mu.Lock()
	// The stored history holds every block the engine completed, so it
	// replaces the engine's peak (a maximum older than 12 months drops out).
	c.state.PeakKW = kw
	c.maxDay = today
	inForce := demand.Config{AnnualMaxKW: c.cfg.Engine.AnnualMaxKW}.AnnualMax(kw)
	c.mu.Unlock()
	attrs := []any{"history_kw", round1(kw), "in_force_kw", round1(inForce)}
	if !at.IsZero() {
		attrs = append(attrs, "block", at.Format(time.RFC3339))
	}
	c.log.Info("12-month maximum from history", attrs...)
}
