package simulate

import (
	"fmt"
	"math"
	"time"

	"github.com/setsuden/setsuden/rules/tariff"
)

// MoneySpec prices a scenario (rules/tariff): the contract, the per-kWh
// adjustments, the supplier's CO2 factors and the investment whose payback
// the run reports. Without it nothing is priced.
type MoneySpec struct {
	Contract           tariff.Contract `yaml:"contract"`
	FuelYenPerKWh      float64         `yaml:"fuel_yen_per_kwh"`
	RenewableYenPerKWh float64         `yaml:"renewable_yen_per_kwh"`
	LocationKgPerKWh   float64         `yaml:"location_kg_per_kwh"`
	AdjustedKgPerKWh   float64         `yaml:"adjusted_kg_per_kwh"`
	// PowerFactorPct is the site's daytime power factor (default the
	// contract's base, 85: no adjustment).
	PowerFactorPct float64 `yaml:"power_factor_pct"`
	InvestmentYen  float64 `yaml:"investment_yen"`
}

// Money is what a run saved in yen and CO2, and the investment's payback.
type Money struct {
	// PeakYenSaved is the basic charge the lower peak keeps off the bills
	// it sets (12 months under the measured-demand rule):
	// Contract.NewMaximumCost of the baseline peak over the achieved one.
	PeakYenSaved float64 `json:"peak_yen_saved"`
	// EnergyYenSaved is the kWh not drawn at each minute's band price plus
	// the per-kWh adjustments.
	EnergyYenSaved float64 `json:"energy_yen_saved"`
	YenSaved       float64 `json:"yen_saved"`
	CO2AvoidedKg   float64 `json:"co2_avoided_kg"`          // location-based
	CO2AdjustedKg  float64 `json:"co2_avoided_adjusted_kg"` // the supplier's adjusted factor
	// PaybackYears is the investment over the yearly saving, taking the
	// scenario's days as the year's shedding season (a season's run gives
	// a yearly figure; the peak part is already a year's); 0 without an
	// investment or a saving.
	PaybackYears float64 `json:"payback_years,omitempty"`
}

func (m MoneySpec) validate() error {
	c := m.Contract.Defaults()
	if err := c.Validate(); err != nil {
		return fmt.Errorf("money.contract: %w", err)
	}
	if m.InvestmentYen < 0 || m.LocationKgPerKWh < 0 || m.AdjustedKgPerKWh < 0 {
		return fmt.Errorf("money: investment_yen and the CO2 factors must not be negative")
	}
	return nil
}

// price fills res.Money from the per-step baseline and achieved site power.
func (m MoneySpec) price(res *Result, loc *time.Location, from time.Time, step time.Duration, baseKW, achKW []float64) {
	c := m.Contract.Defaults()
	pf := m.PowerFactorPct
	if pf == 0 {
		pf = c.PFBasePct
	}
	var out Money
	out.PeakYenSaved = c.NewMaximumCost(res.BaselinePeakKW, res.AchievedPeakKW, pf)
	var saved float64
	for i := range baseKW {
		kwh := (baseKW[i] - achKW[i]) * step.Hours()
		saved += kwh
		if band, ok := c.BandFor(from.Add(time.Duration(i)*step).In(loc), tariff.NoHolidays{}); ok {
			out.EnergyYenSaved += kwh * band.YenPerKWh
		}
	}
	out.EnergyYenSaved += saved * (m.FuelYenPerKWh + m.RenewableYenPerKWh)
	out.YenSaved = out.PeakYenSaved + out.EnergyYenSaved
	out.CO2AvoidedKg = saved * m.LocationKgPerKWh
	out.CO2AdjustedKg = saved * m.AdjustedKgPerKWh
	if y, ok := tariff.PaybackYears(m.InvestmentYen, out.YenSaved); ok && m.InvestmentYen > 0 {
		out.PaybackYears = math.Round(y*100) / 100
	}
	res.Money = &out
}
