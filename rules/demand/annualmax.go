package demand

import (
	"fmt"
	"math"
	"time"
)

// AnnualMaxLimit is "do not raise the annual peak": the highest billing
// demand of the last 12 months (under the measured-demand rule it sets
// the contract power, so one block above it raises twelve monthly bills).
// Its KW is not configured but known at each evaluation: Evaluate puts in
// the maximum in force, Config.AnnualMaxKW or the highest block completed
// since (State.PeakKW), whichever is higher. With neither known (0) the
// limit is not in force.
type AnnualMaxLimit struct {
	Name string // default "annual_max"
	// KW is the maximum; Evaluate sets it. A caller resolving At directly
	// sets it itself.
	KW float64
	// Block is the billing block length.
	Block time.Duration
}

// Kind implements Limit.
func (AnnualMaxLimit) Kind() string { return "annual_max" }

// Label implements Limit.
func (a AnnualMaxLimit) Label() string { return orDefault(a.Name, "annual_max") }

// At implements Limit: in force whenever the maximum is known.
func (a AnnualMaxLimit) At(t time.Time, loc *time.Location) (LimitAt, bool) {
	if !(a.KW > 0) {
		return LimitAt{}, false
	}
	return LimitAt{KW: a.KW, Block: BlockOf(t, a.Block, loc)}, true
}

// Validate implements Limit.
func (a AnnualMaxLimit) Validate() error {
	if a.KW < 0 || math.IsNaN(a.KW) || math.IsInf(a.KW, 0) {
		return fmt.Errorf("kw %g: must be 0 (unknown) or more", a.KW)
	}
	return ValidBlockLength(a.Block)
}

// MaxPricer prices a new annual maximum: what a block of demand blockKW
// (starting at `at`) would add to the bills over the months it raises
// (yen, a year's under the measured-demand rule) against the maximum
// maxKW; 0 when it stays below. The tariff's contract in force implements
// it (rules/tariff Contract.NewMaximumCost, wired in cmd/setsuden).
type MaxPricer interface {
	NewMaximumCost(at time.Time, blockKW, maxKW float64) float64
}

// AnnualMax is the maximum in force at a tick: the configured seed or the
// highest block completed since (State.PeakKW), whichever is higher.
func (c Config) AnnualMax(peakKW float64) float64 { return math.Max(c.AnnualMaxKW, peakKW) }

// withAnnualMax returns l with the maximum put in when it is an
// AnnualMaxLimit.
func withAnnualMax(l Limit, maxKW float64) Limit {
	if a, ok := l.(AnnualMaxLimit); ok {
		a.KW = maxKW
		return a
	}
	return l
}
