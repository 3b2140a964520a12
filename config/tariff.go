package config

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/setsuden/setsuden/rules/tariff"
)

// Tariff is the site's electricity contract(s) for `setsuden cost`
// (rules/tariff): what the metered kW and kWh cost, and what they emitted.
// Without a tariff section nothing is priced.
type Tariff struct {
	// Contracts are the contracts in force over time, each from its date
	// until the next one's (a price change mid-year is a second contract).
	Contracts []TariffContract `yaml:"contracts"`
	// Adjustments are the monthly per-kWh additions; AdjustmentsFile is a
	// CSV with the same columns (month,fuel_yen_per_kwh,renewable_yen_per_kwh),
	// read at load; both may be given (the file's rows come after).
	Adjustments     []TariffAdjustment `yaml:"adjustments"`
	AdjustmentsFile string             `yaml:"adjustments_file"`
	// Holidays are YYYY-MM-DD days priced as holidays besides Sundays.
	Holidays []string `yaml:"holidays"`
	// Emission is the supplier and its CO2 factors by year.
	Emission TariffEmission `yaml:"emission"`
	// VMLabels is a file naming each VM's tenant and service (CSV
	// vm,tenant,service or YAML, as setsuden cost --labels), read when the
	// daemon starts: GET /api/v1/cost?by=tenant|service shares the bill by it.
	VMLabels string `yaml:"vm_labels"`
}

// TariffContract is one contract as the utility publishes it.
type TariffContract struct {
	Name string `yaml:"name"`
	// From is the first day it is in force, YYYY-MM-DD in the site's zone.
	From string `yaml:"from"`
	// Source cites the price table.
	Source string `yaml:"source"`
	// Rule is measured (実量制, 50-500 kW: the 12-month maximum; default) or
	// agreed (協議制: AgreedKW, demand over it at OverContractRate x basic).
	Rule             string  `yaml:"rule"`
	AgreedKW         Decimal `yaml:"agreed_kw"`
	OverContractRate Decimal `yaml:"over_contract_rate"`
	BasicYenPerKW    Decimal `yaml:"basic_yen_per_kw"`
	// PFBasePct is the power factor without adjustment; default 85.
	PFBasePct Decimal `yaml:"pf_base_pct"`
	// SummerMonths default to 7, 8, 9.
	SummerMonths      []int        `yaml:"summer_months"`
	SaturdayIsHoliday bool         `yaml:"saturday_is_holiday"`
	Bands             []TariffBand `yaml:"bands"`
}

// TariffBand is one energy price; the first matching band prices a block.
type TariffBand struct {
	Name string `yaml:"name"`
	// Season is summer, other or empty (both).
	Season string `yaml:"season"`
	// Days is weekday, holiday (Sundays and Holidays) or empty (both).
	Days string `yaml:"days"`
	// FromHour..ToHour in local hours, [from, to); default the whole day.
	FromHour  int     `yaml:"from_hour"`
	ToHour    int     `yaml:"to_hour"`
	YenPerKWh Decimal `yaml:"yen_per_kwh"`
}

// TariffAdjustment is one month's fuel-cost adjustment and renewable surcharge.
type TariffAdjustment struct {
	Month              string  `yaml:"month"`
	FuelYenPerKWh      Decimal `yaml:"fuel_yen_per_kwh"`
	RenewableYenPerKWh Decimal `yaml:"renewable_yen_per_kwh"`
}

// TariffEmission names the supplier and its emission factors.
type TariffEmission struct {
	Supplier string                 `yaml:"supplier"`
	Factors  []TariffEmissionFactor `yaml:"factors"`
}

// TariffEmissionFactor is a supplier's factor for a year, kg-CO2/kWh.
type TariffEmissionFactor struct {
	Supplier         string  `yaml:"supplier"`
	Year             int     `yaml:"year"`
	LocationKgPerKWh Decimal `yaml:"location_kg_per_kwh"`
	AdjustedKgPerKWh Decimal `yaml:"adjusted_kg_per_kwh"`
	Source           string  `yaml:"source"`
}

// Priced is the tariff section converted for rules/tariff.
type Priced struct {
	Schedule    tariff.Schedule
	Adjustments []tariff.Adjustment
	Holidays    map[string]bool
	Supplier    string
	Factors     []tariff.EmissionFactor
}

// IsHoliday makes Priced a tariff.Calendar.
func (p Priced) IsHoliday(t time.Time) bool { return p.Holidays[t.Format("2006-01-02")] }

// Priced converts the section; loc is the site's time zone. It returns
// the problems Validate reports, so a caller that validated gets none.
func (t Tariff) Priced(loc *time.Location) (Priced, Problems) {
	var v validator
	out := v.tariff(t, loc)
	return out, v.probs
}

func (v *validator) tariff(t Tariff, loc *time.Location) Priced {
	out := Priced{Holidays: map[string]bool{}, Supplier: t.Emission.Supplier}
	if loc == nil {
		loc = time.UTC
	}
	dec := func(path string, d Decimal, def float64) float64 {
		if d == "" {
			return def
		}
		x, err := d.Value()
		if err != nil {
			v.add(path, "%v (expected a number)", err)
		}
		return x
	}
	for i, c := range t.Contracts {
		p := fmt.Sprintf("tariff.contracts[%d]", i)
		from, err := time.ParseInLocation("2006-01-02", c.From, loc)
		if err != nil {
			v.add(p+".from", "%q is not a date (expected YYYY-MM-DD)", c.From)
		}
		if i > 0 && err == nil && len(out.Schedule) > 0 && !from.After(out.Schedule[len(out.Schedule)-1].From) {
			v.add(p+".from", "%s is not after the previous contract's %s (expected contracts in date order)", c.From, t.Contracts[i-1].From)
		}
		tc := tariff.Contract{Name: c.Name, Source: c.Source, Rule: tariff.Rule(c.Rule),
			AgreedKW:          dec(p+".agreed_kw", c.AgreedKW, 0),
			OverContractRate:  dec(p+".over_contract_rate", c.OverContractRate, 0),
			BasicYenPerKW:     dec(p+".basic_yen_per_kw", c.BasicYenPerKW, 0),
			PFBasePct:         dec(p+".pf_base_pct", c.PFBasePct, 0),
			SaturdayIsHoliday: c.SaturdayIsHoliday}
		if c.Name == "" {
			v.add(p+".name", "missing (expected a name for the contract)")
		}
		if c.BasicYenPerKW == "" {
			v.add(p+".basic_yen_per_kw", "missing (expected the basic charge in yen per kW per month)")
		}
		for j, m := range c.SummerMonths {
			if m < 1 || m > 12 {
				v.add(fmt.Sprintf("%s.summer_months[%d]", p, j), "%d is not a month (expected 1..12)", m)
			}
			tc.SummerMonths = append(tc.SummerMonths, time.Month(m))
		}
		for j, b := range c.Bands {
			bp := fmt.Sprintf("%s.bands[%d]", p, j)
			if b.YenPerKWh == "" {
				v.add(bp+".yen_per_kwh", "missing (expected the energy price in yen per kWh)")
			}
			to := b.ToHour
			if b.FromHour == 0 && to == 0 {
				to = 24
			}
			tc.Bands = append(tc.Bands, tariff.Band{Name: b.Name, Season: tariff.Season(b.Season), Days: tariff.DayKind(b.Days),
				FromHour: b.FromHour, ToHour: to, YenPerKWh: dec(bp+".yen_per_kwh", b.YenPerKWh, 0)})
		}
		tc = tc.Defaults()
		if err := tc.Validate(); err != nil {
			v.add(p, "%v", err)
		}
		out.Schedule = append(out.Schedule, tariff.Period{From: from, Contract: tc})
	}
	adjs := t.Adjustments
	if t.AdjustmentsFile != "" {
		rows, err := readAdjustments(t.AdjustmentsFile)
		if err != nil {
			v.add("tariff.adjustments_file", "%v", err)
		}
		adjs = append(adjs, rows...)
	}
	seen := map[string]bool{}
	for i, a := range adjs {
		p := fmt.Sprintf("tariff.adjustments[%d]", i)
		if i >= len(t.Adjustments) {
			p = fmt.Sprintf("tariff.adjustments_file row %d", i-len(t.Adjustments)+2)
		}
		if _, err := time.Parse("2006-01", a.Month); err != nil {
			v.add(p+".month", "%q is not a month (expected YYYY-MM)", a.Month)
		}
		if seen[a.Month] {
			v.add(p+".month", "%s is given twice", a.Month)
		}
		seen[a.Month] = true
		out.Adjustments = append(out.Adjustments, tariff.Adjustment{Month: a.Month,
			FuelYenPerKWh:      dec(p+".fuel_yen_per_kwh", a.FuelYenPerKWh, 0),
			RenewableYenPerKWh: dec(p+".renewable_yen_per_kwh", a.RenewableYenPerKWh, 0)})
	}
	for i, d := range t.Holidays {
		if _, err := time.Parse("2006-01-02", d); err != nil {
			v.add(fmt.Sprintf("tariff.holidays[%d]", i), "%q is not a date (expected YYYY-MM-DD)", d)
		}
		out.Holidays[d] = true
	}
	for i, f := range t.Emission.Factors {
		p := fmt.Sprintf("tariff.emission.factors[%d]", i)
		if f.Supplier == "" {
			v.add(p+".supplier", "missing (expected the supplier the factor is for)")
		}
		if f.Year < 1990 || f.Year > 2100 {
			v.add(p+".year", "%d is not a year", f.Year)
		}
		ef := tariff.EmissionFactor{Supplier: f.Supplier, Year: f.Year, Source: f.Source,
			LocationKgPerKWh: dec(p+".location_kg_per_kwh", f.LocationKgPerKWh, 0),
			AdjustedKgPerKWh: dec(p+".adjusted_kg_per_kwh", f.AdjustedKgPerKWh, 0)}
		if ef.LocationKgPerKWh < 0 || ef.LocationKgPerKWh > 2 || ef.AdjustedKgPerKWh < 0 || ef.AdjustedKgPerKWh > 2 {
			v.add(p, "factors must be within 0..2 kg-CO2/kWh")
		}
		out.Factors = append(out.Factors, ef)
	}
	if t.Emission.Supplier != "" && len(out.Factors) == 0 {
		v.add("tariff.emission.factors", "missing (expected the factors of supplier %q)", t.Emission.Supplier)
	}
	return out
}

// readAdjustments reads month,fuel_yen_per_kwh,renewable_yen_per_kwh rows
// (a header row first).
func readAdjustments(path string) ([]TariffAdjustment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%v (expected a CSV of month,fuel_yen_per_kwh,renewable_yen_per_kwh)", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %v (expected a header row)", path, err)
	}
	want := []string{"month", "fuel_yen_per_kwh", "renewable_yen_per_kwh"}
	if len(head) != 3 || strings.Join(head, ",") != strings.Join(want, ",") {
		return nil, fmt.Errorf("%s: header %q (expected %s)", path, strings.Join(head, ","), strings.Join(want, ","))
	}
	var out []TariffAdjustment
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		for _, x := range rec[1:] {
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				return nil, fmt.Errorf("%s:%d: %q is not a number", path, line, x)
			}
		}
		out = append(out, TariffAdjustment{Month: rec[0], FuelYenPerKWh: Decimal(rec[1]), RenewableYenPerKWh: Decimal(rec[2])})
	}
}
