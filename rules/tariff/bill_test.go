package tariff

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var kepcoAS = Contract{Name: "kepco-as", Rule: Measured, BasicYenPerKW: 1765.50, Bands: []Band{
	{Name: "summer", Season: Summer, FromHour: 0, ToHour: 24, YenPerKWh: 13.94},
	{Name: "other", Season: Other, FromHour: 0, ToHour: 24, YenPerKWh: 12.87},
}}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %.4f", what, got, want)
	}
}

// TestHandComputedBill checks one bill line by line against arithmetic done
// by hand: June 2026 (30 days, "other" season), 100 kW in every block but
// one at 150 kW, no reactive power (PF 100%).
func TestHandComputedBill(t *testing.T) {
	jst, _ := time.LoadLocation("Asia/Tokyo")
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, jst)
	var blocks []Block
	peak := time.Date(2026, 6, 10, 14, 0, 0, 0, jst)
	for b := start; b.Before(start.AddDate(0, 1, 0)); b = b.Add(30 * time.Minute) {
		kwh := 50.0
		if b.Equal(peak) {
			kwh = 75
		}
		blocks = append(blocks, Block{Start: b, KWh: kwh, HasReactive: true, Coverage: 1})
	}
	bill, err := Compute(MonthInput{Month: start, Blocks: blocks,
		Schedule:    Schedule{{From: start.AddDate(-1, 0, 0), Contract: kepcoAS}},
		Adjustments: []Adjustment{{Month: "2026-06", FuelYenPerKWh: 0.5, RenewableYenPerKWh: 3.98}}})
	if err != nil {
		t.Fatal(err)
	}
	// 1,440 blocks; the 150 kW block sets the maximum and, with no earlier
	// month, the contract kW.
	near(t, "max demand kW", bill.MaxDemandKW, 150, 0)
	if !bill.MaxBlock.Equal(peak) || bill.SetBy.Month != "2026-06" {
		t.Errorf("max block %v set by %q, want %v by 2026-06", bill.MaxBlock, bill.SetBy.Month, peak)
	}
	near(t, "contract kW", bill.ContractKW, 150, 0)
	// PF 100%: 15% off the basic charge. 1,765.50 x 150 x 0.85 = 225,101.25.
	near(t, "power factor", bill.PowerFactorPct, 100, 0)
	near(t, "pf adjustment", bill.PFAdjustPct, -15, 0)
	near(t, "basic", bill.BasicYen, 225_101.25, 0.005)
	// 1,439 x 50 + 75 = 72,025 kWh at 12.87 = 926,961.75.
	near(t, "kWh", bill.EnergyKWh, 72_025, 1e-6)
	near(t, "energy", bill.EnergyYen, 926_961.75, 0.005)
	// 72,025 x 0.5 = 36,012.50; 72,025 x 3.98 = 286,659.50.
	near(t, "fuel", bill.FuelYen, 36_012.50, 0.005)
	near(t, "renewable", bill.RenewableYen, 286_659.50, 0.005)
	// 225,101.25 + 926,961.75 + 36,012.50 + 286,659.50 = 1,474,735.00.
	near(t, "total", bill.TotalYen, 1_474_735, 0)
	want := []string{"basic charge", "energy charge (other)", "fuel-cost adjustment", "renewable-energy surcharge"}
	if len(bill.Lines) != len(want) {
		t.Fatalf("lines %+v, want %v", bill.Lines, want)
	}
	for i, l := range bill.Lines {
		if l.Item != want[i] {
			t.Errorf("line %d %q, want %q", i, l.Item, want[i])
		}
	}
	if len(bill.Warnings) != 0 {
		t.Errorf("warnings %q on a complete month", bill.Warnings)
	}
}

type caseInput struct {
	Month       string       `yaml:"month"`
	TimeZone    string       `yaml:"time_zone"`
	Schedule    []Period     `yaml:"schedule"`
	Holidays    []string     `yaml:"holidays"`
	Prior       []MonthMax   `yaml:"prior"`
	Adjustments []Adjustment `yaml:"adjustments"`
}

type expected struct {
	Month           string             `json:"month"`
	MaxDemandKW     float64            `json:"max_demand_kw"`
	MaxBlock        time.Time          `json:"max_block"`
	ContractKW      float64            `json:"contract_kw"`
	SetBy           string             `json:"contract_set_by"`
	PowerFactorPct  float64            `json:"power_factor_pct"`
	EnergyKWh       float64            `json:"energy_kwh"`
	BasicYen        float64            `json:"basic_yen"`
	SurchargeYen    float64            `json:"over_contract_yen"`
	EnergyYen       float64            `json:"energy_yen"`
	EnergyByPrice   map[string]float64 `json:"energy_kwh_by_price"`
	FuelYen         float64            `json:"fuel_adjustment_yen"`
	RenewableYen    float64            `json:"renewable_surcharge_yen"`
	TotalYen        float64            `json:"total_yen"`
	CoverageFracton float64            `json:"coverage_fraction"`
}

type dates map[string]bool

func (d dates) IsHoliday(t time.Time) bool { return d[t.Format("2006-01-02")] }

// TestCases runs every folder of testdata: case.yaml (contracts, calendar,
// earlier maxima, adjustments) + series.csv (metered blocks) -> the bill in
// expected.json, which testdata/gen.py computes independently in Python.
func TestCases(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*/case.yaml")
	if len(dirs) < 8 {
		t.Fatalf("found %d cases, want at least 8", len(dirs))
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var in caseInput
			readYAML(t, p, &in)
			loc, err := time.LoadLocation(in.TimeZone)
			if err != nil {
				t.Fatal(err)
			}
			month, err := time.ParseInLocation("2006-01", in.Month, loc)
			if err != nil {
				t.Fatal(err)
			}
			cal := dates{}
			for _, d := range in.Holidays {
				cal[d] = true
			}
			bill, err := Compute(MonthInput{Month: month, Blocks: readSeries(t, filepath.Join(dir, "series.csv")),
				Prior: in.Prior, Schedule: in.Schedule, Adjustments: in.Adjustments, Calendar: cal})
			if err != nil {
				t.Fatal(err)
			}
			var want expected
			raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			near(t, "max demand kW", bill.MaxDemandKW, want.MaxDemandKW, 0)
			if !bill.MaxBlock.Equal(want.MaxBlock) {
				t.Errorf("max block %v, want %v", bill.MaxBlock, want.MaxBlock)
			}
			near(t, "contract kW", bill.ContractKW, want.ContractKW, 0)
			if bill.SetBy.Month != want.SetBy {
				t.Errorf("contract kW set by %q, want %q", bill.SetBy.Month, want.SetBy)
			}
			near(t, "power factor", bill.PowerFactorPct, want.PowerFactorPct, 0)
			near(t, "kWh", bill.EnergyKWh, want.EnergyKWh, 1e-3)
			near(t, "basic", bill.BasicYen, want.BasicYen, 0.01)
			near(t, "surcharge", bill.SurchargeYen, want.SurchargeYen, 0.01)
			near(t, "energy", bill.EnergyYen, want.EnergyYen, 0.01)
			near(t, "fuel", bill.FuelYen, want.FuelYen, 0.01)
			near(t, "renewable", bill.RenewableYen, want.RenewableYen, 0.01)
			near(t, "total", bill.TotalYen, want.TotalYen, 0)
			near(t, "coverage", bill.Coverage.Fraction, want.CoverageFracton, 1e-6)
			got := map[string]float64{}
			for _, l := range bill.Lines {
				if strings.HasPrefix(l.Item, "energy charge (") {
					got[strconv.FormatFloat(l.UnitPrice, 'f', 2, 64)] += l.Quantity
				}
			}
			if len(got) != len(want.EnergyByPrice) {
				t.Errorf("energy lines by price %v, want %v", got, want.EnergyByPrice)
			}
			for price, kwh := range want.EnergyByPrice {
				near(t, "kWh at "+price+" yen", got[price], kwh, 1e-3)
			}
			if want.CoverageFracton < 1 && len(bill.Warnings) == 0 {
				t.Errorf("coverage %.3f but no warning", bill.Coverage.Fraction)
			}
		})
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readSeries(t *testing.T, path string) []Block {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []Block
	for _, r := range rows[1:] {
		ts, err := time.Parse(time.RFC3339, r[0])
		if err != nil {
			t.Fatal(err)
		}
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		out = append(out, Block{Start: ts, KWh: num(r[1]), KVarh: num(r[2]), HasReactive: true, Coverage: num(r[3])})
	}
	return out
}
