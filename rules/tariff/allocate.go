package tariff

import "sort"

// Share is a group's (tenant's, service's) attributed energy in a month.
type Share struct {
	Name string
	KWh  float64
}

// Allocation is a group's part of the bill and of its CO2.
type Allocation struct {
	Name          string  `json:"name"`
	KWh           float64 `json:"kwh"`
	SharePct      float64 `json:"share_pct"`
	Yen           float64 `json:"yen"`
	CO2LocationKg float64 `json:"co2_location_kg,omitempty"`
	CO2AdjustedKg float64 `json:"co2_adjusted_kg,omitempty"`
}

// Allocate divides the bill's total and its CO2 over the groups in
// proportion to their attributed kWh: the basic charge, the facility's
// overhead (cooling, losses, unattributed hosts) and the adjustments are
// shared at the bill's average cost per attributed kWh. Groups are sorted
// by name; with nothing attributed there is nothing to share.
func Allocate(totalYen float64, co2 *CO2, shares []Share) []Allocation {
	var sum float64
	for _, s := range shares {
		if s.KWh > 0 {
			sum += s.KWh
		}
	}
	if sum == 0 {
		return nil
	}
	out := make([]Allocation, 0, len(shares))
	for _, s := range shares {
		if s.KWh <= 0 {
			continue
		}
		f := s.KWh / sum
		a := Allocation{Name: s.Name, KWh: s.KWh, SharePct: 100 * f, Yen: totalYen * f}
		if co2 != nil {
			a.CO2LocationKg, a.CO2AdjustedKg = co2.LocationKg*f, co2.AdjustedKg*f
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
