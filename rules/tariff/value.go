package tariff

import (
	"math"
	"time"
)

// PFFactor is the basic charge's power-factor multiplier for a power factor
// in percent (0.95 at 90% against a base of 85%).
func (c Contract) PFFactor(pfPct float64) float64 {
	c = c.Defaults()
	return 1 + (c.PFBasePct-math.Min(roundHalfUp(pfPct), 100))/100
}

// MonthsProtected is how many monthly bills a new maximum raises: twelve
// under the measured-demand rule (the month and the 11 after it), one under
// an agreed contract (the month's over-contract surcharge).
func (c Contract) MonthsProtected() int {
	if c.Defaults().Rule == Agreed {
		return 1
	}
	return 12
}

// NewMaximumCost is what a block of demand blockKW would add to the bills
// if it ended as it stands, against the 12-month maximum (measured rule) or
// the agreed kW: yen over the months it would raise. Zero when it stays
// below the line.
func (c Contract) NewMaximumCost(blockKW, maxKW, pfPct float64) float64 {
	c = c.Defaults()
	kw := roundHalfUp(blockKW)
	switch c.Rule {
	case Agreed:
		over := kw - math.Max(c.AgreedKW, roundHalfUp(maxKW))
		if over <= 0 {
			return 0
		}
		return over * c.BasicYenPerKW * c.PFFactor(pfPct) * c.OverContractRate
	default:
		over := kw - roundHalfUp(maxKW)
		if over <= 0 {
			return 0
		}
		return over * c.BasicYenPerKW * c.PFFactor(pfPct) * float64(c.MonthsProtected())
	}
}

// ShedEvent is one stretch of shedding: the block demand it kept below the
// line, and the energy it avoided.
type ShedEvent struct {
	Start, End time.Time
	// BaselineKW is what the peak block would have reached without the
	// cut; AchievedKW what it reached; LineKW the maximum it was held under
	// (the 12-month maximum or the contract).
	BaselineKW, AchievedKW, LineKW float64
	// AvoidedKWh is the energy not drawn, priced at its band's rate.
	AvoidedKWh float64
}

// ShedValue is what a shed event is worth.
type ShedValue struct {
	// KWKept is the demand kept below the line: min(baseline, ...) - max(achieved, line).
	KWKept          float64 `json:"kw_kept"`
	MonthsProtected int     `json:"months_protected"`
	BasicYen        float64 `json:"basic_yen"`
	EnergyYen       float64 `json:"energy_yen"`
	TotalYen        float64 `json:"total_yen"`
}

// Value prices a shed event: kW kept below the line x the basic unit price
// (with the power-factor adjustment) x the months it protects, plus the
// avoided kWh at the band of the event's start.
func (c Contract) Value(e ShedEvent, pfPct float64, cal Calendar) ShedValue {
	c = c.Defaults()
	v := ShedValue{MonthsProtected: c.MonthsProtected()}
	kept := roundHalfUp(e.BaselineKW) - math.Max(roundHalfUp(e.AchievedKW), roundHalfUp(e.LineKW))
	if kept > 0 {
		v.KWKept = kept
		rate := float64(v.MonthsProtected)
		if c.Rule == Agreed {
			rate = c.OverContractRate
		}
		v.BasicYen = kept * c.BasicYenPerKW * c.PFFactor(pfPct) * rate
	}
	if band, ok := c.BandFor(e.Start, cal); ok && e.AvoidedKWh > 0 {
		v.EnergyYen = e.AvoidedKWh * band.YenPerKWh
	}
	v.TotalYen = v.BasicYen + v.EnergyYen
	return v
}

// PaybackYears is the investment's payback period at a yearly saving, and
// false when nothing is saved.
func PaybackYears(investmentYen, savingYenPerYear float64) (float64, bool) {
	if savingYenPerYear <= 0 {
		return 0, false
	}
	return investmentYen / savingYenPerYear, true
}
