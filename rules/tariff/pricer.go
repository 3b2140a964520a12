package tariff

import "time"

// MaxPricer prices a new 12-month maximum with the contract in force at
// the block (rules/demand MaxPricer): Contract.NewMaximumCost at the
// power factor PFPct, the contract's base (85%, no adjustment) when 0.
// Before the first contract nothing is priced (0).
type MaxPricer struct {
	Schedule Schedule
	PFPct    float64
}

// NewMaximumCost implements rules/demand MaxPricer.
func (p MaxPricer) NewMaximumCost(at time.Time, blockKW, maxKW float64) float64 {
	c, ok := p.Schedule.At(at)
	if !ok {
		return 0
	}
	pf := p.PFPct
	if pf == 0 {
		pf = c.Defaults().PFBasePct
	}
	return c.NewMaximumCost(blockKW, maxKW, pf)
}
