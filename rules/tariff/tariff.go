// Package tariff rebuilds a Japanese high-voltage electricity bill from
// metered 30-minute blocks, and prices what a peak cut saves and what the
// energy emitted. It is pure: contracts, blocks and a calendar in, a bill
// out; no I/O and no clock.
//
// The model follows the business contracts the utilities publish for
// high-voltage customers (高圧業務用電力 and the like):
//
//   - basic charge = unit price (yen/kW/month) x contract kW x power-factor
//     adjustment. Under the measured-demand rule (実量制, 50-500 kW) the
//     contract kW of a month is the highest 30-minute demand of that month
//     and the previous 11 months; above 500 kW the contract kW is agreed
//     (協議制) and demand over it is charged at a surcharge rate
//     (契約超過金, a multiple of the basic unit price).
//   - power factor: from the month's daytime (8-22) active and reactive
//     energy; each 1% above 85% lowers the basic charge 1%, each 1% below
//     raises it 1%.
//   - energy charge: yen/kWh by season (summer July-September vs other) and,
//     for time-of-use contracts, by time band, with holidays from the site
//     calendar.
//   - fuel-cost adjustment and renewable-energy surcharge: yen/kWh per month.
//
// Rounding follows the contracts' "units and fractions" clause (単位および
// 端数処理): demand and contract kW to the whole kW, the power factor to the
// whole percent (both half up), the bill's total to the yen below.
package tariff

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Rule is how the contract kW of a month is set.
type Rule string

const (
	// Measured is 実量制: the highest 30-minute demand of the month and the
	// previous 11 months.
	Measured Rule = "measured"
	// Agreed is 協議制: a contract kW agreed with the utility; demand above it
	// is charged at OverContractRate.
	Agreed Rule = "agreed"
)

// Season selects the months a band applies to.
type Season string

const (
	AnySeason Season = ""
	Summer    Season = "summer"
	Other     Season = "other"
)

// DayKind selects the days a band applies to.
type DayKind string

const (
	AnyDay  DayKind = ""
	Weekday DayKind = "weekday"
	// Holiday is Sundays, national holidays and the site calendar's days
	// off (and Saturdays when the contract says so: Contract.SaturdayIsHoliday).
	Holiday DayKind = "holiday"
)

// Band is one energy price: the first band of a contract whose season, day
// kind and hours match a block prices it.
type Band struct {
	Name      string  `yaml:"name" json:"name"`
	Season    Season  `yaml:"season" json:"season,omitempty"`
	Days      DayKind `yaml:"days" json:"days,omitempty"`
	FromHour  int     `yaml:"from_hour" json:"from_hour"` // inclusive, local time
	ToHour    int     `yaml:"to_hour" json:"to_hour"`     // exclusive; 0 or 24 means midnight
	YenPerKWh float64 `yaml:"yen_per_kwh" json:"yen_per_kwh"`
}

// Contract is one tariff as a utility publishes it.
type Contract struct {
	Name string `yaml:"name" json:"name"`
	// Source cites the price table the figures come from.
	Source           string  `yaml:"source" json:"source,omitempty"`
	Rule             Rule    `yaml:"rule" json:"rule"`
	AgreedKW         float64 `yaml:"agreed_kw" json:"agreed_kw,omitempty"`
	OverContractRate float64 `yaml:"over_contract_rate" json:"over_contract_rate,omitempty"`
	BasicYenPerKW    float64 `yaml:"basic_yen_per_kw" json:"basic_yen_per_kw"`
	// PFBasePct is the power factor without adjustment (85).
	PFBasePct float64 `yaml:"pf_base_pct" json:"pf_base_pct"`
	// PFFromHour, PFToHour bound the daytime hours whose energy sets the
	// power factor (8 and 22).
	PFFromHour int `yaml:"pf_from_hour" json:"pf_from_hour"`
	PFToHour   int `yaml:"pf_to_hour" json:"pf_to_hour"`
	// SummerMonths are the months of the summer season (July-September).
	SummerMonths      []time.Month `yaml:"summer_months" json:"summer_months"`
	SaturdayIsHoliday bool         `yaml:"saturday_is_holiday" json:"saturday_is_holiday,omitempty"`
	Bands             []Band       `yaml:"bands" json:"bands"`
}

// Defaults fills what a contract leaves out with the usual values.
func (c Contract) Defaults() Contract {
	if c.Rule == "" {
		c.Rule = Measured
	}
	if c.PFBasePct == 0 {
		c.PFBasePct = 85
	}
	if c.PFFromHour == 0 && c.PFToHour == 0 {
		c.PFFromHour, c.PFToHour = 8, 22
	}
	if len(c.SummerMonths) == 0 {
		c.SummerMonths = []time.Month{time.July, time.August, time.September}
	}
	if c.Rule == Agreed && c.OverContractRate == 0 {
		c.OverContractRate = 1.5
	}
	return c
}

// Validate names the first field of a contract that is wrong.
func (c Contract) Validate() error {
	switch c.Rule {
	case Measured, Agreed:
	default:
		return fmt.Errorf("rule: %q is not measured or agreed", c.Rule)
	}
	if c.BasicYenPerKW < 0 {
		return fmt.Errorf("basic_yen_per_kw: %g is negative", c.BasicYenPerKW)
	}
	if c.Rule == Agreed && c.AgreedKW <= 0 {
		return fmt.Errorf("agreed_kw: must be > 0 for an agreed contract (got %g)", c.AgreedKW)
	}
	if c.PFFromHour < 0 || c.PFToHour > 24 || c.PFFromHour >= c.PFToHour {
		return fmt.Errorf("pf_from_hour/pf_to_hour: %d-%d is not a range of hours 0-24", c.PFFromHour, c.PFToHour)
	}
	if len(c.Bands) == 0 {
		return fmt.Errorf("bands: at least one energy price is needed")
	}
	for i, b := range c.Bands {
		if b.YenPerKWh < 0 {
			return fmt.Errorf("bands[%d].yen_per_kwh: %g is negative", i, b.YenPerKWh)
		}
		to := b.ToHour
		if to == 0 {
			to = 24
		}
		if b.FromHour < 0 || b.FromHour > 23 || to > 24 || (b.FromHour >= to && !(b.FromHour == 0 && to == 24)) {
			return fmt.Errorf("bands[%d] %q: hours %d-%d are not a range within a day (wrap past midnight with two bands)", i, b.Name, b.FromHour, b.ToHour)
		}
		switch b.Season {
		case AnySeason, Summer, Other:
		default:
			return fmt.Errorf("bands[%d].season: %q is not summer or other", i, b.Season)
		}
		switch b.Days {
		case AnyDay, Weekday, Holiday:
		default:
			return fmt.Errorf("bands[%d].days: %q is not weekday or holiday", i, b.Days)
		}
	}
	return nil
}

// Period is a contract in force from a date on (until the next period's).
type Period struct {
	From     time.Time `yaml:"from" json:"from"`
	Contract Contract  `yaml:"contract" json:"contract"`
}

// Schedule is the contracts of a site (or meter group) over time, sorted by
// From. A price change mid-month splits the month.
type Schedule []Period

// At is the contract in force at t, and false before the first period.
func (s Schedule) At(t time.Time) (Contract, bool) {
	i := sort.Search(len(s), func(i int) bool { return s[i].From.After(t) })
	if i == 0 {
		return Contract{}, false
	}
	return s[i-1].Contract, true
}

// Sorted returns the schedule in order of From.
func (s Schedule) Sorted() Schedule {
	out := append(Schedule(nil), s...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out
}

// Adjustment is one month's per-kWh additions: the fuel-cost adjustment
// (燃料費調整額, may be negative) and the renewable-energy surcharge
// (再生可能エネルギー発電促進賦課金).
type Adjustment struct {
	Month              string  `yaml:"month" json:"month"` // YYYY-MM
	FuelYenPerKWh      float64 `yaml:"fuel_yen_per_kwh" json:"fuel_yen_per_kwh"`
	RenewableYenPerKWh float64 `yaml:"renewable_yen_per_kwh" json:"renewable_yen_per_kwh"`
}

// Calendar says which days are days off besides Sundays (national holidays,
// company days off).
type Calendar interface {
	IsHoliday(day time.Time) bool
}

// NoHolidays is a calendar with no holidays but Sundays.
type NoHolidays struct{}

func (NoHolidays) IsHoliday(time.Time) bool { return false }

// roundHalfUp rounds to the nearest whole number, halves away from zero.
func roundHalfUp(v float64) float64 { return math.Floor(v + 0.5) }

// dayKind is the kind of the day of t in its location.
func (c Contract) dayKind(t time.Time, cal Calendar) DayKind {
	switch {
	case t.Weekday() == time.Sunday,
		t.Weekday() == time.Saturday && c.SaturdayIsHoliday,
		cal != nil && cal.IsHoliday(t):
		return Holiday
	}
	return Weekday
}

func (c Contract) season(t time.Time) Season {
	for _, m := range c.SummerMonths {
		if t.Month() == m {
			return Summer
		}
	}
	return Other
}

// BandFor is the band that prices energy at t (local time), and false when
// no band matches (a contract gap the validator should have caught).
func (c Contract) BandFor(t time.Time, cal Calendar) (Band, bool) {
	season, kind, h := c.season(t), c.dayKind(t, cal), t.Hour()
	for _, b := range c.Bands {
		to := b.ToHour
		if to == 0 {
			to = 24
		}
		if (b.Season == AnySeason || b.Season == season) &&
			(b.Days == AnyDay || b.Days == kind) &&
			h >= b.FromHour && h < to {
			return b, true
		}
	}
	return Band{}, false
}
