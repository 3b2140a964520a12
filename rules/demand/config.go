package demand

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config is one site's demand control. Build it with DefaultConfig, change
// what the site needs, and call Validate once before the first Evaluate;
// Evaluate trusts a validated Config.
type Config struct {
	// Location is the site's time zone: blocks, days and calendars are
	// local (sla_peak.md §5a: use the tz database).
	Location *time.Location
	// BlockLength is the billing block (30 minutes in Japan).
	BlockLength time.Duration
	// MaxGap is the longest interval between samples that is integrated;
	// longer ones are missing (sla_peak.md §3.2: e.g. 3 × scrape interval).
	MaxGap time.Duration
	// Predictor estimates the end-of-block demand.
	Predictor Predictor
	// MinRemaining is r_min, the floor on the remaining time in the
	// adjustment power, so it does not blow up in the block's last moments
	// (sla_peak.md §5b: 1–2 min).
	MinRemaining time.Duration
	// NoAction is the time at the start of each block during which the
	// stage holds (Intech, sla_peak.md §2.2: about 5 min).
	NoAction time.Duration
	Stages   StageConfig
	// Limits are the limits in force; Evaluate acts on the strictest.
	Limits []Limit
	// Sheddable are the loads that can be shed, each with its latency
	// (from the configuration, or the shedding planner's capabilities);
	// a request never exceeds what they can remove before the block ends.
	// Empty: the whole site load, at once.
	Sheddable []Sheddable
	// AnnualMaxKW is the highest billing demand of the last 12 months
	// before the evaluations start (it sets the contract power); a block
	// that cannot meet its contract limit is kept below it if possible.
	AnnualMaxKW float64
}

// DefaultConfig is 30-minute billing blocks in UTC, adaptive prediction
// (the formula, or least squares or two-point over 5 minutes when their
// recent error is clearly smaller), a 3-minute gap bound, r_min 1 minute, 5
// minutes of no-action, caution/shed/limit at 95/100/105 % with 3 points
// of hysteresis over 2 ticks, and no limits.
func DefaultConfig() Config {
	return Config{
		Location:     time.UTC,
		BlockLength:  30 * time.Minute,
		MaxGap:       3 * time.Minute,
		Predictor:    DefaultAdaptive(5 * time.Minute),
		MinRemaining: time.Minute,
		NoAction:     5 * time.Minute,
		Stages:       StageConfig{CautionAt: 0.95, ShedAt: 1.00, LimitAt: 1.05, Hysteresis: 0.03, ExitTicks: 2},
	}
}

// Validate reports every problem in the configuration, each naming its
// field.
func (c Config) Validate() error {
	var errs []error
	add := func(field string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("demand.%s: %w", field, err))
		}
	}
	if c.Location == nil {
		add("timezone", errors.New("missing"))
	}
	add("block", ValidBlockLength(c.BlockLength))
	if c.MaxGap <= 0 {
		add("max_gap", fmt.Errorf("%s: must be positive", c.MaxGap))
	}
	if c.Predictor == nil {
		add("predictor", errors.New("missing"))
	}
	if c.MinRemaining <= 0 || c.MinRemaining > 10*time.Minute {
		add("min_remaining", fmt.Errorf("%s: must be in (0, 10m]", c.MinRemaining))
	}
	if c.NoAction < 0 || c.NoAction >= c.BlockLength {
		add("no_action", fmt.Errorf("%s: must be at least 0 and shorter than the block (%s)", c.NoAction, c.BlockLength))
	}
	add("stages", c.Stages.Validate())
	for i, s := range c.Sheddable {
		add(fmt.Sprintf("sheddable[%d]", i), s.Validate())
	}
	if c.AnnualMaxKW < 0 || math.IsNaN(c.AnnualMaxKW) {
		add("annual_max_kw", fmt.Errorf("%g: must be 0 or more", c.AnnualMaxKW))
	}
	for i, l := range c.Limits {
		if l == nil {
			add(fmt.Sprintf("limits[%d]", i), errors.New("nil limit"))
			continue
		}
		if err := l.Validate(); err != nil {
			add(fmt.Sprintf("limits[%d] (%s %q)", i, l.Kind(), l.Label()), err)
		}
	}
	return errors.Join(errs...)
}

// limitAt resolves a limit at now with the config's defaults: an
// ExternalTarget without a block length uses the billing block.
func (c Config) limitAt(l Limit, now time.Time) (LimitAt, bool) {
	if e, ok := l.(ExternalTarget); ok && e.Block == 0 {
		e.Block = c.BlockLength
		return e.At(now, c.Location)
	}
	return l.At(now, c.Location)
}
