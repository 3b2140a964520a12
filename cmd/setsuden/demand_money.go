package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/tariff"
)

// demandPricer prices a new 12-month maximum with the tariff section's
// contract in force at the block, at the contract's base power factor
// (85%: no adjustment; the month's power factor is not known before the
// month ends); nil without a tariff section.
func demandPricer(cfg *config.Config) (demand.MaxPricer, error) {
	if len(cfg.Tariff.Contracts) == 0 {
		return nil, nil
	}
	loc, err := time.LoadLocation(cfg.Site.Timezone)
	if err != nil {
		return nil, fmt.Errorf("site.timezone: %w", err)
	}
	priced, probs := cfg.Tariff.Priced(loc)
	if len(probs) > 0 {
		return nil, probs
	}
	return tariff.MaxPricer{Schedule: priced.Schedule}, nil
}

// seedAnnualMax raises the engine's 12-month maximum to the stored
// history's at `at` (the month and the 11 before it), for the one-shot
// commands (demand now, demand replay); the daemon's controller reads it
// itself at start and once a day. A failed read is a warning: the
// configured demand.annual_max_kw stays.
func (s *demandSetup) seedAnnualMax(ctx context.Context, engine *demand.Config, at time.Time, stderr io.Writer) {
	kw, block, err := demandctl.ReadAnnualMax(ctx, s.reader, s.cfg.Site.Name, at, engine.BlockLength, engine.Location)
	if err != nil {
		fmt.Fprintf(stderr, "warning: %v; using demand.annual_max_kw %.1f kW\n", err, engine.AnnualMaxKW)
		return
	}
	from, _ := demandctl.AnnualMaxWindow(at, engine.Location)
	if kw > 0 {
		fmt.Fprintf(stderr, "12-month maximum from history since %s: %.1f kW (block %s)\n", from.Format("2006-01-02"), kw, block.In(engine.Location).Format("2006-01-02 15:04"))
	}
	engine.AnnualMaxKW = math.Max(engine.AnnualMaxKW, kw)
}

// newMaxText is the decision's 12-month maximum line.
func newMaxText(d demand.Decision) string {
	switch {
	case d.AnnualMaxKW <= 0:
		return "12-month maximum unknown (no history, no demand.annual_max_kw)"
	case !d.Priced:
		return fmt.Sprintf("12-month maximum %.1f kW (no tariff section: a new maximum is not priced)", d.AnnualMaxKW)
	case d.NewMaxYen > 0:
		return fmt.Sprintf("12-month maximum %.1f kW: ending at the predicted %.1f kW, this block sets a new maximum costing %.0f yen a year",
			d.AnnualMaxKW, d.Billing.PredictedKW, d.NewMaxYen)
	}
	return fmt.Sprintf("12-month maximum %.1f kW: predicted %.1f kW stays within it (a new maximum: 0 yen)", d.AnnualMaxKW, d.Billing.PredictedKW)
}

// priceNewMaxima adds to a replay report the 12-month maximum in force at
// each day's start (the seed, raised by each day's peak) and what the
// day's peak block added as a new maximum.
func (r *replayReport) priceNewMaxima(seedKW float64, pricer demand.MaxPricer) {
	r.AnnualMaxKW = round3(seedKW)
	running := seedKW
	for i := range r.Days {
		d := &r.Days[i]
		d.AnnualMaxKW = round3(running)
		p := d.Peak
		if p == nil {
			continue
		}
		if pricer != nil && running > 0 {
			y := math.Round(pricer.NewMaximumCost(p.Start, p.KW, running))
			d.NewMaxYen = &y
			r.NewMaxYen += y
		}
		running = math.Max(running, p.KW)
	}
}
