package demand

import (
	"time"

	"github.com/setsuden/setsuden/rules/energy"
)

// Sample is the site's active power at a time: the sum over the site's
// meters, done by the caller (adapters/influx Reader.SitePower). It is the
// energy package's PowerSample, so billing demand and kWh reports share one
// integration.
type Sample = energy.PowerSample

// EnergySample is the site's summed kwh_total at a time, Reset set when a
// meter reset falls in the interval ending here (Reader.SiteEnergy).
type EnergySample = energy.CounterSample

// Demand is the average power of a block with the share of the block the
// data covered. KW is energy / full block length: missing time counts as
// zero and Coverage says how much was missing.
type Demand struct {
	KW       float64
	Coverage float64
}

// BlockDemand is the demand of block b: the block's energy divided by its
// length. Energy comes from the counters when there are any (differences of
// kwh_total, an interval flagged Reset integrated from power), else from
// trapezoid integration of power; gaps longer than maxGap are missing, and
// intervals are split exactly at the block's boundaries
// (energy.FromCounter, energy.Integrate; sla_peak.md §3.2).
func BlockDemand(power []Sample, counters []EnergySample, b Block, maxGap time.Duration) Demand {
	e := blockEnergy(power, counters, b.Start, b.End, maxGap)
	return Demand{KW: e.KWh / b.Length().Hours(), Coverage: e.Coverage()}
}

func blockEnergy(power []Sample, counters []EnergySample, from, to time.Time, maxGap time.Duration) energy.Energy {
	if len(counters) > 0 {
		return energy.FromCounter(counters, power, from, to, maxGap)
	}
	return energy.Integrate(power, from, to, maxGap)
}
