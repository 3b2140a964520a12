package energy

import (
	"fmt"
	"time"
)

// Categories of docs/schema.md's category tag.
const (
	CategoryIT       = "it"
	CategoryCooling  = "cooling"
	CategoryFacility = "facility"
)

// PUE is power usage effectiveness over a period, computed from energy:
// PUE = E_total / E_IT (BS EN 50600-4-2, ISO/IEC 30134-2; sla_peak.md
// §3.1), never as an average of instantaneous kW ratios, which rewards
// reporting the best moments (§3.1, Stanford CIFE critique).
type PUE struct {
	Start, End time.Time
	TotalKWh   float64
	ITKWh      float64
	CoolingKWh float64
	Value      float64
	// Category is the measurement category of the IT energy (Green Grid /
	// ISO/IEC 30134-2): 1 at the UPS output, 2 at the PDU output, 3 at the
	// IT equipment input. Category 0 (peak kW) is not an energy ratio and
	// is not computed here.
	Category int
	// Interim is true for a period shorter than 12 months (§3.1, §3.2).
	Interim bool
	// TotalFrom says where TotalKWh came from: "facility" (the meters
	// tagged category=facility, the whole-site incomer) or "sum" (all
	// meters added up, when no facility meter exists).
	TotalFrom string
	// Coverage is the lowest coverage among the meters used.
	Coverage float64
}

// Label is how reports name the figure, e.g. "interim PUE (category 2)".
func (p PUE) Label() string {
	if p.Interim {
		return fmt.Sprintf("interim PUE (category %d)", p.Category)
	}
	return fmt.Sprintf("PUE (category %d)", p.Category)
}

// ComputePUE computes PUE from the meters' energies over one common period.
// The total is the sum of meters tagged category=facility when there is
// one (a whole-facility meter already includes IT and cooling); otherwise
// it is the sum of all meters (IT + cooling + anything else metered). IT
// energy is the sum of category=it meters, whose measurement point the
// caller states as category (1, 2 or 3).
func ComputePUE(meters []MeterEnergy, category int) (PUE, error) {
	if category < 1 || category > 3 {
		return PUE{}, fmt.Errorf("pue: measurement category %d: want 1 (UPS output), 2 (PDU output) or 3 (IT input)", category)
	}
	if len(meters) == 0 {
		return PUE{}, fmt.Errorf("pue: no meters")
	}
	p := PUE{Start: meters[0].Start, End: meters[0].End, Category: category, Coverage: 1}
	var facility, all float64
	var haveFacility bool
	for _, m := range meters {
		if !m.Start.Equal(p.Start) || !m.End.Equal(p.End) {
			return PUE{}, fmt.Errorf("pue: meter %s covers %s..%s, not the period %s..%s", m.Meter,
				m.Start.Format(time.RFC3339), m.End.Format(time.RFC3339), p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
		}
		switch m.Tags["category"] {
		case CategoryFacility:
			facility += m.KWh
			haveFacility = true
		case CategoryIT:
			p.ITKWh += m.KWh
		case CategoryCooling:
			p.CoolingKWh += m.KWh
		}
		all += m.KWh
	}
	for _, m := range meters {
		if haveFacility && m.Tags["category"] != CategoryFacility && m.Tags["category"] != CategoryIT {
			continue
		}
		if c := m.Coverage(); c < p.Coverage {
			p.Coverage = c
		}
	}
	if haveFacility {
		p.TotalKWh, p.TotalFrom = facility, "facility"
	} else {
		p.TotalKWh, p.TotalFrom = all, "sum"
	}
	if p.ITKWh <= 0 {
		return p, fmt.Errorf("pue: no IT energy in %s..%s (no meter tagged category=it, or they read 0 kWh)",
			p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
	}
	p.Value = p.TotalKWh / p.ITKWh
	p.Interim = p.End.Before(p.Start.AddDate(1, 0, 0))
	return p, nil
}
