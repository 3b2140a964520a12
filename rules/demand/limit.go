package demand

import (
	"fmt"
	"time"
)

// Limit is one demand limit. Several are in force at once (the contract
// all the time, an hourly legal cap in its calendar, an aggregator's event
// in its window); Evaluate acts on the strictest of them at each tick
// (sla_peak.md §5b: "act on the strictest of all active predictors").
type Limit interface {
	// Kind is contract, cap or external.
	Kind() string
	// Label names this limit in decisions and messages.
	Label() string
	// At returns the limit in force for the block of the limit's own
	// length that contains t, or false when it does not apply then.
	At(t time.Time, loc *time.Location) (LimitAt, bool)
	// Validate checks the limit's own fields.
	Validate() error
}

// LimitAt is a limit resolved for one block.
type LimitAt struct {
	KW    float64
	Block Block
}

// ContractLimit is the billing limit: the contract power (or the operator's
// target below it) on the tariff's 30-minute blocks (sla_peak.md §2.1).
type ContractLimit struct {
	Name string // default "contract"
	KW   float64
	// Block is the billing block length, 30 minutes in Japan.
	Block time.Duration
}

// Kind implements Limit.
func (ContractLimit) Kind() string { return "contract" }

// Label implements Limit.
func (c ContractLimit) Label() string { return orDefault(c.Name, "contract") }

// At implements Limit: always in force.
func (c ContractLimit) At(t time.Time, loc *time.Location) (LimitAt, bool) {
	return LimitAt{KW: c.KW, Block: BlockOf(t, c.Block, loc)}, true
}

// Validate implements Limit.
func (c ContractLimit) Validate() error {
	if c.KW <= 0 {
		return fmt.Errorf("kw %g: must be positive", c.KW)
	}
	return ValidBlockLength(c.Block)
}

// CapLimit is a percent-of-baseline cap such as the 2011 Electricity Usage
// Restriction: the hourly average must stay at or below
// BaselineKW × (1 − Reduction), where the baseline is last year's peak
// hourly average in the same period and hours (Baseline), in the blocks
// the Calendar covers (sla_peak.md §2.3: the measured quantity was hourly,
// not the 30-minute demand, so Block is 60 minutes for that rule).
type CapLimit struct {
	Name       string
	BaselineKW float64
	// Reduction is the required cut: 0.15 for the general 2011 rule, or
	// 0, 0.05, 0.10 for data centres by their load variation (Relaxation).
	Reduction float64
	Block     time.Duration
	Calendar  Calendar
}

// KW is the cap: BaselineKW × (1 − Reduction).
func (c CapLimit) KW() float64 { return c.BaselineKW * (1 - c.Reduction) }

// Kind implements Limit.
func (CapLimit) Kind() string { return "cap" }

// Label implements Limit.
func (c CapLimit) Label() string { return orDefault(c.Name, "cap") }

// At implements Limit: in force for blocks wholly inside the calendar.
func (c CapLimit) At(t time.Time, loc *time.Location) (LimitAt, bool) {
	b := BlockOf(t, c.Block, loc)
	if !c.Calendar.ContainsBlock(b, loc) {
		return LimitAt{}, false
	}
	return LimitAt{KW: c.KW(), Block: b}, true
}

// Validate implements Limit.
func (c CapLimit) Validate() error {
	if c.BaselineKW <= 0 {
		return fmt.Errorf("baseline_kw %g: must be positive", c.BaselineKW)
	}
	if c.Reduction < 0 || c.Reduction >= 1 {
		return fmt.Errorf("reduction %g: must be in [0, 1)", c.Reduction)
	}
	if err := ValidBlockLength(c.Block); err != nil {
		return err
	}
	if err := c.Calendar.Validate(); err != nil {
		return fmt.Errorf("calendar: %w", err)
	}
	return nil
}

// ExternalTarget is a kW target from outside, e.g. an aggregator's demand
// response event fetched over HTTP (or an OpenADR event; sla_peak.md §2.4),
// valid in [From, To). The fetching is the caller's; this is plain data.
// It applies to every block that overlaps its window, so an event starting
// mid-block already constrains that block.
type ExternalTarget struct {
	KW       float64
	From, To time.Time
	// Source names the sender (the aggregator), for messages and audit.
	Source string
	// Block is the length of the blocks the target is measured on; 0 means
	// the configuration's billing block (Evaluate resolves it; At called
	// directly then uses 30 minutes).
	Block time.Duration
}

// Kind implements Limit.
func (ExternalTarget) Kind() string { return "external" }

// Label implements Limit.
func (e ExternalTarget) Label() string { return "external:" + orDefault(e.Source, "unknown") }

// At implements Limit.
func (e ExternalTarget) At(t time.Time, loc *time.Location) (LimitAt, bool) {
	b := BlockOf(t, e.Block, loc)
	if !b.Start.Before(e.To) || !b.End.After(e.From) {
		return LimitAt{}, false
	}
	return LimitAt{KW: e.KW, Block: b}, true
}

// Validate implements Limit.
func (e ExternalTarget) Validate() error {
	if e.KW <= 0 {
		return fmt.Errorf("kw %g: must be positive", e.KW)
	}
	if !e.To.After(e.From) {
		return fmt.Errorf("window %s..%s: to must be after from", e.From.Format(time.RFC3339), e.To.Format(time.RFC3339))
	}
	if e.Block != 0 {
		return ValidBlockLength(e.Block)
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
