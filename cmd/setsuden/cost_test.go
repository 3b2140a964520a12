package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/tariff"
)

// TestCostThroughTheBinary writes two months of an incomer meter to a real
// influxd and bills June 2026 with the built binary. The meter reads every
// minute on the minute: 100 kW, except 150 kW in the block 10 June
// 14:00-14:30 and 180 kW in 20 May 10:00-10:30, power factor 1.
//
// Worked by hand (Kansai Electric 高圧電力AS, "other" season 12.87 yen/kWh):
//
//	contract kW  = max(June 150, May 180) = 180, set by 20 May 10:00
//	PF 100%      -> basic charge -15%: 1,765.50 x 180 x 0.85 = 270,121.50
//	energy       = 1,439 blocks x 50 kWh + 75 kWh = 72,025 kWh x 12.87 = 926,961.75
//	fuel 0.50    = 36,012.50; renewable 3.98 = 286,659.50
//	total        = 1,519,755.25 -> 1,519,755 yen
func TestCostThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("needs influxd")
	}
	db := testinflux.Start(t)
	peakJune, peakMay := writeIncomerMayJune(t, db, 2026)

	conf := writeDemandConfig(t, db.URL, db.Bucket(), `tariff:
  contracts:
    - name: kepco-as
      from: "2025-04-01"
      basic_yen_per_kw: 1765.50
      bands:
        - {name: summer, season: summer, yen_per_kwh: 13.94}
        - {name: other, season: other, yen_per_kwh: 12.87}
  adjustments:
    - {month: "2026-06", fuel_yen_per_kwh: 0.50, renewable_yen_per_kwh: 3.98}
  emission:
    supplier: kepco
    factors:
      - {supplier: kepco, year: 2018, location_kg_per_kwh: 0.35, adjusted_kg_per_kwh: 0.33}
`)
	bin := buildBinary(t)
	cmd := exec.Command(bin, "cost", "--config", conf, "--month", "2026-06", "--format", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("setsuden cost: %v\n%s", err, stderr.String())
	}
	var rep struct {
		MaxDemandKW float64   `json:"max_demand_kw"`
		MaxBlock    time.Time `json:"max_block"`
		ContractKW  float64   `json:"contract_kw"`
		SetBy       struct {
			Month string    `json:"month"`
			Block time.Time `json:"block"`
		} `json:"contract_set_by"`
		PF        float64 `json:"power_factor_pct"`
		KWh       float64 `json:"energy_kwh"`
		Basic     float64 `json:"basic_yen"`
		Energy    float64 `json:"energy_yen"`
		Fuel      float64 `json:"fuel_adjustment_yen"`
		Renewable float64 `json:"renewable_surcharge_yen"`
		Total     float64 `json:"total_yen"`
		Coverage  struct {
			Fraction float64 `json:"fraction"`
		} `json:"coverage"`
		CO2 struct {
			LocationKg float64 `json:"location_kg"`
		} `json:"co2"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("setsuden cost:\n%s\nstderr:\n%s", out, stderr.String())
	eq := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.4f, want %.4f", what, got, want)
		}
	}
	eq("max demand", rep.MaxDemandKW, 150, 0)
	if !rep.MaxBlock.Equal(peakJune) || !rep.SetBy.Block.Equal(peakMay) || rep.SetBy.Month != "2026-05" {
		t.Errorf("max block %v, contract set by %s %v; want %v and 2026-05 %v", rep.MaxBlock, rep.SetBy.Month, rep.SetBy.Block, peakJune, peakMay)
	}
	eq("contract kW", rep.ContractKW, 180, 0)
	eq("power factor", rep.PF, 100, 0)
	eq("kWh", rep.KWh, 72_025, 1e-6)
	eq("basic", rep.Basic, 270_121.50, 0.005)
	eq("energy", rep.Energy, 926_961.75, 0.005)
	eq("fuel", rep.Fuel, 36_012.50, 0.005)
	eq("renewable", rep.Renewable, 286_659.50, 0.005)
	eq("total", rep.Total, 1_519_755, 0)
	eq("coverage", rep.Coverage.Fraction, 1, 1e-9)
	eq("CO2", rep.CO2.LocationKg, 72_025*0.35, 1e-6)
	if !strings.Contains(stderr.String(), "reading") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}

	// The text bill names the block that set the contract kW.
	text, err := exec.Command(bin, "cost", "--config", conf, "--month", "2026-06").CombinedOutput()
	if err != nil || !strings.Contains(string(text), "set by block 2026-05-20 10:00") || !strings.Contains(string(text), "1519755") {
		t.Errorf("text bill (%v):\n%s", err, text)
	}
	// A month with no data says so and prints no silent zero bill.
	empty, err := exec.Command(bin, "cost", "--config", conf, "--month", "2026-08").CombinedOutput()
	if err != nil {
		t.Fatalf("empty month: %v\n%s", err, empty)
	}
	if !strings.Contains(string(empty), "covers 0.0% of the month") {
		t.Errorf("a month without data gives no coverage warning:\n%s", empty)
	}
	// The daemon's bill_block points (written at each block end with the
	// same figures, demandctl.BillBlockPoint) replace the meters' read for
	// a month they cover, with the same bill.
	reader := influx.NewReader(db.URL, "", "", db.Bucket())
	defer reader.Close()
	juneStart, juneEnd := tariff.MonthBounds(peakJune)
	blocks, err := reader.BillBlocks(context.Background(), "dc1", juneStart, juneEnd, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var bb []point.Point
	for _, b := range blocks {
		bb = append(bb, demandctl.BillBlockPoint("dc1", b))
	}
	testinflux.Write(t, db, bb)
	again := exec.Command(bin, "cost", "--config", conf, "--month", "2026-06", "--format", "json")
	var againErr strings.Builder
	again.Stderr = &againErr
	out2, err := again.Output()
	if err != nil {
		t.Fatalf("setsuden cost from bill_block: %v\n%s", err, againErr.String())
	}
	var rep2 struct {
		Total float64 `json:"total_yen"`
		KWh   float64 `json:"energy_kwh"`
		PF    float64 `json:"power_factor_pct"`
	}
	if err := json.Unmarshal(out2, &rep2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(againErr.String(), "blocks of 1 months from stored bill_block points, 11 from the meters") {
		t.Errorf("the stored blocks were not used:\n%s", againErr.String())
	}
	eq("total from bill_block", rep2.Total, rep.Total, 0)
	eq("kWh from bill_block", rep2.KWh, rep.KWh, 1e-6)
	eq("PF from bill_block", rep2.PF, rep.PF, 0)

	// Without a tariff section the command says what is missing.
	bare := filepath.Join(t.TempDir(), "bare.yaml")
	if err := os.WriteFile(bare, []byte("site: {name: dc1, timezone: Asia/Tokyo}\ninflux: {url: "+db.URL+", bucket: "+db.Bucket()+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(bin, "cost", "--config", bare, "--month", "2026-06").CombinedOutput(); err == nil || !strings.Contains(string(msg), "tariff.contracts") {
		t.Errorf("no tariff: %v\n%s", err, msg)
	}
}

// TestCostSharedByTenant bills July 2024 with the hosts and VMs of
// writeVMDay (24 h 20 min of July: vm-a 2.8, vm-b 1.4, vm-c 5.1 kWh a day
// attributed, so x 73/72 over the month) and shares
// the total by tenant (acme 4.2 : globex 5.1) and service (db 1.4 : web 7.9),
// through the built binary.
func TestCostSharedByTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("needs influxd")
	}
	db := testinflux.Start(t)
	writeVMDay(t, db)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), `tariff:
  contracts:
    - {name: as, from: "2024-01-01", basic_yen_per_kw: 1765.50, bands: [{name: all, yen_per_kwh: 13.94}]}
  emission: {supplier: kepco, factors: [{supplier: kepco, year: 2018, location_kg_per_kwh: 0.35, adjusted_kg_per_kwh: 0.33}]}
`)
	labels := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(labels, []byte("vm,tenant,service\nvm-a,acme,web\nvm-b,acme,db\nvm-c,=globex,web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	out, err := exec.Command(bin, "cost", "--config", conf, "--month", "2024-07", "--format", "json", "--labels", labels).Output()
	if err != nil {
		t.Fatalf("setsuden cost: %v", err)
	}
	var rep struct {
		Total   float64 `json:"total_yen"`
		Tenants []struct {
			Name                    string
			KWh, Yen, CO2LocationKg float64
		} `json:"tenants"`
		Services []struct {
			Name     string
			KWh, Yen float64
		} `json:"services"`
		VMs []struct {
			Name          string  `json:"name"`
			KWh           float64 `json:"kwh"`
			CO2LocationKg float64 `json:"co2_location_kg"`
		} `json:"vms"`
		CO2 struct {
			LocationKg float64 `json:"location_kg"`
		} `json:"co2"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Tenants) != 2 || len(rep.Services) != 2 || rep.Total <= 0 {
		t.Fatalf("tenants %+v services %+v total %v", rep.Tenants, rep.Services, rep.Total)
	}
	want := map[string]float64{"=globex": 5.1 * 73 / 72, "acme": 4.2 * 73 / 72}
	var sum float64
	for _, g := range rep.Tenants {
		if math.Abs(g.KWh-want[g.Name]) > 1e-6 {
			t.Errorf("tenant %s %.4f kWh, want %.4f", g.Name, g.KWh, want[g.Name])
		}
		if math.Abs(g.Yen-rep.Total*want[g.Name]/(9.3*73/72)) > 1e-6 {
			t.Errorf("tenant %s %.2f yen, want %.2f", g.Name, g.Yen, rep.Total*want[g.Name]/(9.3*73/72))
		}
		sum += g.Yen
	}
	if math.Abs(sum-rep.Total) > 1e-6 {
		t.Errorf("tenants share %.2f of %.2f yen", sum, rep.Total)
	}
	// Per VM: vm-a 2.8, vm-b 1.4, vm-c 5.1 kWh a day, the CO2 in proportion.
	wantVM := map[string]float64{"vm-a": 2.8 * 73 / 72, "vm-b": 1.4 * 73 / 72, "vm-c": 5.1 * 73 / 72}
	if len(rep.VMs) != 3 {
		t.Fatalf("vms %+v, want vm-a, vm-b, vm-c", rep.VMs)
	}
	for _, v := range rep.VMs {
		if math.Abs(v.KWh-wantVM[v.Name]) > 1e-6 || math.Abs(v.CO2LocationKg-rep.CO2.LocationKg*wantVM[v.Name]/(9.3*73/72)) > 1e-6 {
			t.Errorf("vm %s: %.4f kWh %.4f kg, want %.4f kWh", v.Name, v.KWh, v.CO2LocationKg, wantVM[v.Name])
		}
	}
	csvOut, err := exec.Command(bin, "cost", "--config", conf, "--month", "2024-07", "--format", "csv", "--labels", labels).Output()
	if err != nil || !strings.Contains(string(csvOut), "tenant '=globex") || strings.Contains(string(csvOut), ",tenant =globex") {
		t.Errorf("CSV does not defuse a formula-like tenant name (%v):\n%s", err, csvOut)
	}
}

// writeIncomerMayJune stores an incomer meter read every minute on the
// minute from 1 May to 1 July of year (Tokyo): 100 kW, except 150 kW in the
// block 10 June 14:00-14:30 and 180 kW in 20 May 10:00-10:30, power factor
// 1, with its energy register. It returns the two peak blocks' starts.
// The bill of June is the same in every year (a flat price by season).
func writeIncomerMayJune(t *testing.T, db *influx.Influxd, year int) (peakJune, peakMay time.Time) {
	t.Helper()
	jst, _ := time.LoadLocation("Asia/Tokyo")
	var pts []point.Point
	reg := 5000.0
	peakJune = time.Date(year, 6, 10, 14, 0, 0, 0, jst)
	peakMay = time.Date(year, 5, 20, 10, 0, 0, 0, jst)
	inBlock := func(t, b time.Time) bool { return !t.Before(b) && t.Before(b.Add(30*time.Minute)) }
	for tt := time.Date(year, 5, 1, 0, 0, 0, 0, jst); !tt.After(time.Date(year, 7, 1, 0, 0, 0, 0, jst)); tt = tt.Add(time.Minute) {
		kw := 100.0
		switch {
		case inBlock(tt, peakJune):
			kw = 150
		case inBlock(tt, peakMay):
			kw = 180
		}
		pts = append(pts, point.Point{Measurement: "power",
			Tags:   map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
			Fields: map[string]any{"kw": kw, "kwh_total": reg, "pf": 1.0}, Time: tt})
		reg += kw / 60 // the energy of the minute that starts now
	}
	testinflux.Write(t, db, pts)
	return peakJune, peakMay
}

// lastEnded is the latest year whose month m has ended by now in Tokyo,
// so that a daemon test's month is in the past and within the API's
// 5-year reach whatever today's date.
func lastEnded(m time.Month) int {
	jst, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Now().In(jst)
	if end := time.Date(now.Year(), m+1, 1, 0, 0, 0, 0, jst); now.Before(end) {
		return now.Year() - 1
	}
	return now.Year()
}
