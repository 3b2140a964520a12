package tariff

import (
	"testing"
	"time"
)

func TestNewMaximumCost(t *testing.T) {
	// Measured rule: a block ending at 352.4 kW over a 340 kW maximum raises
	// twelve bills by 12 kW x 1,765.50 yen (PF 90%: x 0.95).
	near(t, "new maximum", kepcoAS.NewMaximumCost(352.4, 340, 90), 12*1765.50*0.95*12, 1e-6)
	near(t, "below the maximum", kepcoAS.NewMaximumCost(339.6, 340, 90), 0, 0)
	agreed := kepcoAS
	agreed.Rule, agreed.AgreedKW = Agreed, 600
	// Agreed rule: 50 kW over the agreed 600 kW costs this month's surcharge at 1.5x.
	near(t, "over contract", agreed.NewMaximumCost(650, 0, 85), 50*1765.50*1.5, 1e-6)
	if agreed.MonthsProtected() != 1 || kepcoAS.MonthsProtected() != 12 {
		t.Errorf("months protected: agreed %d, measured %d", agreed.MonthsProtected(), kepcoAS.MonthsProtected())
	}
}

func TestShedValue(t *testing.T) {
	jst, _ := time.LoadLocation("Asia/Tokyo")
	at := time.Date(2026, 7, 15, 14, 0, 0, 0, jst)
	// Without the cut the block would have reached 380 kW; it ended at 338
	// under a 340 kW maximum: 40 kW kept below the line for 12 months, plus
	// 150 kWh avoided at the summer price.
	v := kepcoAS.Value(ShedEvent{Start: at, BaselineKW: 380, AchievedKW: 338, LineKW: 340, AvoidedKWh: 150}, 85, NoHolidays{})
	near(t, "kW kept", v.KWKept, 40, 0)
	near(t, "basic", v.BasicYen, 40*1765.50*12, 1e-6)
	near(t, "energy", v.EnergyYen, 150*13.94, 1e-6)
	near(t, "total", v.TotalYen, 40*1765.50*12+150*13.94, 1e-6)
	// A cut that did not keep the block under the line keeps nothing of the basic charge.
	v = kepcoAS.Value(ShedEvent{Start: at, BaselineKW: 380, AchievedKW: 360, LineKW: 340, AvoidedKWh: 100}, 85, NoHolidays{})
	if v.KWKept != 20 {
		// 380 -> 360 kept the new maximum 20 kW lower than it would have been.
		t.Errorf("kW kept %v, want 20", v.KWKept)
	}
	if y, ok := PaybackYears(60_000_000, 30_000_000); !ok || y != 2 {
		t.Errorf("payback %v %v, want 2 years", y, ok)
	}
	if _, ok := PaybackYears(1, 0); ok {
		t.Error("payback with no saving")
	}
}

func TestEmissions(t *testing.T) {
	fs := []EmissionFactor{
		{Supplier: "kepco", Year: 2023, LocationKgPerKWh: 0.434, AdjustedKgPerKWh: 0.300},
		{Supplier: "kepco", Year: 2024, LocationKgPerKWh: 0.423, AdjustedKgPerKWh: 0.290},
	}
	f, err := FactorFor(fs, "kepco", 2026)
	if err != nil || f.Year != 2024 {
		t.Fatalf("factor %+v %v, want the 2024 one", f, err)
	}
	c := f.Emissions(1000)
	near(t, "location kg", c.LocationKg, 423, 1e-9)
	near(t, "adjusted kg", c.AdjustedKg, 290, 1e-9)
	if _, err := FactorFor(fs, "tepco", 2026); err == nil {
		t.Error("no error for an unknown supplier")
	}
}

func TestContractValidateNamesTheField(t *testing.T) {
	c := kepcoAS
	c.Bands = []Band{{Name: "x", FromHour: 22, ToHour: 8, YenPerKWh: 1}}
	if err := c.Defaults().Validate(); err == nil {
		t.Error("a band wrapping midnight was accepted")
	}
	c = kepcoAS
	c.Rule = Agreed
	if err := c.Defaults().Validate(); err == nil {
		t.Error("an agreed contract without agreed_kw was accepted")
	}
}

func TestAllocate(t *testing.T) {
	co2 := &CO2{KWh: 100, LocationKg: 35, AdjustedKg: 33}
	got := Allocate(1000, co2, []Share{{"globex", 5.1}, {"acme", 4.2}, {"idle", 0}})
	if len(got) != 2 || got[0].Name != "acme" || got[1].Name != "globex" {
		t.Fatalf("allocations %+v", got)
	}
	near(t, "acme yen", got[0].Yen, 1000*4.2/9.3, 1e-9)
	near(t, "globex CO2", got[1].CO2LocationKg, 35*5.1/9.3, 1e-9)
	near(t, "shares", got[0].SharePct+got[1].SharePct, 100, 1e-9)
	if Allocate(1000, co2, nil) != nil {
		t.Error("allocated with nothing attributed")
	}
}
