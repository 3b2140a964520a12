package tariff

import "fmt"

// EmissionFactor is a supplier's CO2 emission factor for a year, both as
// the grid's location-based average and as the supplier's adjusted
// (market-based) factor, in kg-CO2 per kWh.
type EmissionFactor struct {
	Supplier         string  `yaml:"supplier" json:"supplier"`
	Year             int     `yaml:"year" json:"year"`
	LocationKgPerKWh float64 `yaml:"location_kg_per_kwh" json:"location_kg_per_kwh"`
	AdjustedKgPerKWh float64 `yaml:"adjusted_kg_per_kwh" json:"adjusted_kg_per_kwh"`
	Source           string  `yaml:"source" json:"source,omitempty"`
}

// CO2 is the emissions of an amount of energy by both factors.
type CO2 struct {
	KWh        float64 `json:"kwh"`
	LocationKg float64 `json:"location_kg"`
	AdjustedKg float64 `json:"adjusted_kg"`
}

// Add sums two amounts.
func (c CO2) Add(o CO2) CO2 {
	return CO2{KWh: c.KWh + o.KWh, LocationKg: c.LocationKg + o.LocationKg, AdjustedKg: c.AdjustedKg + o.AdjustedKg}
}

// Emissions applies the factor to kWh.
func (f EmissionFactor) Emissions(kwh float64) CO2 {
	return CO2{KWh: kwh, LocationKg: kwh * f.LocationKgPerKWh, AdjustedKg: kwh * f.AdjustedKgPerKWh}
}

// FactorFor picks the factor of a supplier for a year: that year's, else
// the latest earlier year's (suppliers publish a year late).
func FactorFor(factors []EmissionFactor, supplier string, year int) (EmissionFactor, error) {
	best := -1
	for i, f := range factors {
		if f.Supplier != supplier || f.Year > year {
			continue
		}
		if best < 0 || f.Year > factors[best].Year {
			best = i
		}
	}
	if best < 0 {
		return EmissionFactor{}, fmt.Errorf("no emission factor for supplier %q in or before %d", supplier, year)
	}
	return factors[best], nil
}
