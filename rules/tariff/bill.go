package tariff

import (
	"fmt"
	"math"
	"time"
)

// Block is one demand block of metered data (30 minutes on a Japanese
// high-voltage contract).
type Block struct {
	Start time.Time `json:"start"`
	// KWh is the active energy drawn in the block.
	KWh float64 `json:"kwh"`
	// KVarh is the lagging reactive energy in the block; HasReactive says
	// whether it was metered.
	KVarh       float64 `json:"kvarh,omitempty"`
	HasReactive bool    `json:"has_reactive,omitempty"`
	// Coverage is the part of the block with data, 0..1; a block with
	// coverage below 1 is extrapolated by nobody: its kWh is what was metered.
	Coverage float64 `json:"coverage"`
}

// MonthMax is a month's highest block demand, for the 12-month maximum.
type MonthMax struct {
	Month    string    `json:"month"` // YYYY-MM
	KW       float64   `json:"kw"`
	Block    time.Time `json:"block"`
	Coverage float64   `json:"coverage"` // of the month
}

// MonthInput is everything one month's bill needs.
type MonthInput struct {
	// Month is any instant of the month, in the site's time zone.
	Month       time.Time
	BlockLength time.Duration // 30 minutes when zero
	Blocks      []Block
	// Prior holds the previous 11 months' maxima (more or fewer are
	// allowed: only those of the 11 months before Month count).
	Prior       []MonthMax
	Schedule    Schedule
	Adjustments []Adjustment
	Calendar    Calendar
}

// Line is one line of a bill as a utility prints it.
type Line struct {
	Item      string  `json:"item"`
	Quantity  float64 `json:"quantity"`
	Unit      string  `json:"unit"`
	UnitPrice float64 `json:"unit_price"`
	Yen       float64 `json:"yen"`
}

// Coverage says how much of the month the meters covered.
type Coverage struct {
	Blocks         int     `json:"blocks"`           // blocks in the month
	BlocksWithData int     `json:"blocks_with_data"` // blocks with any data
	Fraction       float64 `json:"fraction"`         // sum of block coverage / blocks
}

// Bill is a month's bill rebuilt from metered data.
type Bill struct {
	Month     string   `json:"month"`
	Contracts []string `json:"contracts"`
	// MaxDemandKW is the month's highest block demand (whole kW) and
	// MaxBlock the block that set it.
	MaxDemandKW float64   `json:"max_demand_kw"`
	MaxBlock    time.Time `json:"max_block"`
	// ContractKW is the kW the basic charge is computed on; SetBy says
	// which month and block set it (this month's or an earlier one's).
	ContractKW float64  `json:"contract_kw"`
	SetBy      MonthMax `json:"contract_set_by"`
	// PowerFactorPct is the month's daytime power factor (whole %), and
	// PFAdjustPct the basic charge's change: negative is a discount.
	PowerFactorPct float64  `json:"power_factor_pct"`
	PFAdjustPct    float64  `json:"pf_adjust_pct"`
	EnergyKWh      float64  `json:"energy_kwh"`
	BasicYen       float64  `json:"basic_yen"`
	OverContractKW float64  `json:"over_contract_kw,omitempty"`
	SurchargeYen   float64  `json:"over_contract_yen,omitempty"`
	EnergyYen      float64  `json:"energy_yen"`
	FuelYen        float64  `json:"fuel_adjustment_yen"`
	RenewableYen   float64  `json:"renewable_surcharge_yen"`
	TotalYen       float64  `json:"total_yen"`
	Lines          []Line   `json:"lines"`
	Coverage       Coverage `json:"coverage"`
	Warnings       []string `json:"warnings,omitempty"`
}

// MonthBounds is [start, end) of the month of t in t's location.
func MonthBounds(t time.Time) (time.Time, time.Time) {
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, t.Location())
	return start, start.AddDate(0, 1, 0)
}

// Compute rebuilds the month's bill.
func Compute(in MonthInput) (Bill, error) {
	if in.BlockLength <= 0 {
		in.BlockLength = 30 * time.Minute
	}
	if in.Calendar == nil {
		in.Calendar = NoHolidays{}
	}
	loc := in.Month.Location()
	start, end := MonthBounds(in.Month)
	b := Bill{Month: start.Format("2006-01")}
	sched := in.Schedule.Sorted()

	// The contracts in force during the month, with the days each covers.
	type segment struct {
		c        Contract
		from, to time.Time
		days     float64
	}
	var segs []*segment
	for i, p := range sched {
		from, to := p.From.In(loc), end
		if i+1 < len(sched) {
			to = sched[i+1].From.In(loc)
		}
		if !to.After(start) || !from.Before(end) {
			continue
		}
		from, to = maxTime(from, start), minTime(to, end)
		c := p.Contract.Defaults()
		if err := c.Validate(); err != nil {
			return Bill{}, fmt.Errorf("contract %q from %s: %w", c.Name, p.From.Format("2006-01-02"), err)
		}
		segs = append(segs, &segment{c: c, from: from, to: to, days: to.Sub(from).Hours() / 24})
	}
	if len(segs) == 0 {
		return Bill{}, fmt.Errorf("no contract in force in %s", b.Month)
	}
	if segs[0].from.After(start) {
		return Bill{}, fmt.Errorf("no contract in force from %s to %s", start.Format("2006-01-02"), segs[0].from.Format("2006-01-02"))
	}
	monthDays := end.Sub(start).Hours() / 24
	segOf := func(t time.Time) *segment {
		for _, s := range segs {
			if !t.Before(s.from) && t.Before(s.to) {
				return s
			}
		}
		return segs[len(segs)-1]
	}
	for _, s := range segs {
		b.Contracts = append(b.Contracts, s.c.Name)
	}

	// Demand, energy by band, daytime energy for the power factor.
	type bandKey struct {
		contract, band string
		price          float64
	}
	bandKWh := map[bandKey]float64{}
	var bandOrder []bandKey
	var dayKWh, dayKVarh float64
	reactiveSeen := false
	b.Coverage.Blocks = int(math.Round(end.Sub(start).Seconds() / in.BlockLength.Seconds()))
	seen := map[int64]bool{}
	var covSum float64
	hours := in.BlockLength.Hours()
	for _, blk := range in.Blocks {
		t := blk.Start.In(loc)
		if t.Before(start) || !t.Before(end) {
			continue
		}
		if seen[t.UnixNano()] {
			return Bill{}, fmt.Errorf("block %s appears twice", t.Format(time.RFC3339))
		}
		seen[t.UnixNano()] = true
		if blk.KWh < 0 || math.IsNaN(blk.KWh) {
			return Bill{}, fmt.Errorf("block %s: kWh %g is not a metered energy", t.Format(time.RFC3339), blk.KWh)
		}
		if blk.Coverage > 0 {
			b.Coverage.BlocksWithData++
			covSum += math.Min(blk.Coverage, 1)
		}
		s := segOf(t)
		kw := roundHalfUp(blk.KWh / hours)
		if kw > b.MaxDemandKW || b.MaxBlock.IsZero() {
			b.MaxDemandKW, b.MaxBlock = kw, t
		}
		band, ok := s.c.BandFor(t, in.Calendar)
		if !ok {
			return Bill{}, fmt.Errorf("contract %q: no band prices %s (%s)", s.c.Name, t.Format("2006-01-02 15:04"), t.Weekday())
		}
		k := bandKey{s.c.Name, band.Name, band.YenPerKWh}
		if _, ok := bandKWh[k]; !ok {
			bandOrder = append(bandOrder, k)
		}
		bandKWh[k] += blk.KWh
		b.EnergyKWh += blk.KWh
		if h := t.Hour(); h >= s.c.PFFromHour && h < s.c.PFToHour && blk.HasReactive {
			reactiveSeen = true
			dayKWh += blk.KWh
			dayKVarh += math.Abs(blk.KVarh)
		}
	}
	if b.Coverage.Blocks > 0 {
		b.Coverage.Fraction = covSum / float64(b.Coverage.Blocks)
	}
	if b.Coverage.Fraction < 1 {
		b.Warnings = append(b.Warnings, fmt.Sprintf("metered data covers %.1f%% of the month (%d of %d blocks have data): energy is what was metered, the maximum demand may be understated",
			100*b.Coverage.Fraction, b.Coverage.BlocksWithData, b.Coverage.Blocks))
	}

	// Contract kW: the 12-month maximum (measured) or the agreed kW.
	last := segs[len(segs)-1].c
	b.SetBy = MonthMax{Month: b.Month, KW: b.MaxDemandKW, Block: b.MaxBlock, Coverage: b.Coverage.Fraction}
	switch last.Rule {
	case Measured:
		b.ContractKW = b.MaxDemandKW
		earliest := start.AddDate(0, -11, 0).Format("2006-01")
		for _, p := range in.Prior {
			if p.Month < earliest || p.Month >= b.Month {
				continue
			}
			if p.Coverage < 1 {
				b.Warnings = append(b.Warnings, fmt.Sprintf("the maximum of %s comes from %.1f%% of its blocks", p.Month, 100*p.Coverage))
			}
			if kw := roundHalfUp(p.KW); kw > b.ContractKW {
				b.ContractKW, b.SetBy = kw, MonthMax{Month: p.Month, KW: kw, Block: p.Block, Coverage: p.Coverage}
			}
		}
	case Agreed:
		b.ContractKW = last.AgreedKW
		b.SetBy = MonthMax{Month: "agreed", KW: last.AgreedKW}
	}

	// Power factor over the daytime hours.
	b.PowerFactorPct = last.PFBasePct
	if reactiveSeen && dayKWh > 0 {
		pf := 100 * dayKWh / math.Hypot(dayKWh, dayKVarh)
		b.PowerFactorPct = math.Min(roundHalfUp(pf), 100)
	} else {
		b.Warnings = append(b.Warnings, fmt.Sprintf("no reactive energy metered in the daytime hours: power factor taken as %g%% (no adjustment)", last.PFBasePct))
	}
	b.PFAdjustPct = last.PFBasePct - b.PowerFactorPct
	pfFactor := 1 + b.PFAdjustPct/100

	// Basic charge, day-prorated across price changes, half when nothing
	// was used all month.
	for _, s := range segs {
		yen := s.c.BasicYenPerKW * b.ContractKW * pfFactor * s.days / monthDays
		if b.EnergyKWh == 0 && b.Coverage.Fraction >= 1 {
			yen /= 2
		}
		item := "basic charge"
		if len(segs) > 1 {
			item = fmt.Sprintf("basic charge (%s, %s-%s)", s.c.Name, s.from.Format("01-02"), s.to.Add(-time.Nanosecond).Format("01-02"))
		}
		b.Lines = append(b.Lines, Line{Item: item, Quantity: b.ContractKW, Unit: "kW",
			UnitPrice: s.c.BasicYenPerKW * pfFactor * s.days / monthDays, Yen: yen})
		b.BasicYen += yen
	}
	// Over-contract surcharge (agreed contracts).
	if last.Rule == Agreed && b.MaxDemandKW > last.AgreedKW {
		s := segOf(b.MaxBlock)
		b.OverContractKW = b.MaxDemandKW - last.AgreedKW
		price := s.c.BasicYenPerKW * pfFactor * s.c.OverContractRate
		b.SurchargeYen = b.OverContractKW * price
		b.Lines = append(b.Lines, Line{Item: "over-contract surcharge", Quantity: b.OverContractKW, Unit: "kW", UnitPrice: price, Yen: b.SurchargeYen})
	}
	// Energy charge by band, in the order bands first appeared.
	for _, k := range bandOrder {
		kwh := bandKWh[k]
		yen := kwh * k.price
		item := "energy charge (" + k.band + ")"
		if len(segs) > 1 {
			item = fmt.Sprintf("energy charge (%s, %s)", k.contract, k.band)
		}
		b.Lines = append(b.Lines, Line{Item: item, Quantity: kwh, Unit: "kWh", UnitPrice: k.price, Yen: yen})
		b.EnergyYen += yen
	}
	// Monthly per-kWh adjustments.
	var adj *Adjustment
	for i := range in.Adjustments {
		if in.Adjustments[i].Month == b.Month {
			adj = &in.Adjustments[i]
		}
	}
	if adj == nil {
		b.Warnings = append(b.Warnings, fmt.Sprintf("no fuel-cost adjustment or renewable surcharge entered for %s: both taken as 0", b.Month))
	} else {
		b.FuelYen = b.EnergyKWh * adj.FuelYenPerKWh
		b.RenewableYen = b.EnergyKWh * adj.RenewableYenPerKWh
		b.Lines = append(b.Lines,
			Line{Item: "fuel-cost adjustment", Quantity: b.EnergyKWh, Unit: "kWh", UnitPrice: adj.FuelYenPerKWh, Yen: b.FuelYen},
			Line{Item: "renewable-energy surcharge", Quantity: b.EnergyKWh, Unit: "kWh", UnitPrice: adj.RenewableYenPerKWh, Yen: b.RenewableYen})
	}
	b.TotalYen = math.Floor(b.BasicYen + b.SurchargeYen + b.EnergyYen + b.FuelYen + b.RenewableYen + 1e-9)
	return b, nil
}

// MaxOf is the month's maximum for the 12-month history of later bills.
func (b Bill) MaxOf() MonthMax {
	return MonthMax{Month: b.Month, KW: b.MaxDemandKW, Block: b.MaxBlock, Coverage: b.Coverage.Fraction}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
