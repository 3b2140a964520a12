package simulate

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestSummerScenarioGoals replays the shipped summer scenario's first two
// days (the second has a day of history to forecast from) and checks the
// goals: no block over a target the lower bound says is reachable, no SLA
// minute lost through energy actions, a peak cut of at least 95% of what
// the lower bound allows, and the anti-flapping limits.
func TestSummerScenarioGoals(t *testing.T) {
	sc, err := LoadScenario("scenarios/summer-weekday-200.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.To = "2026-07-14"
	var progress bytes.Buffer
	res, err := Run(sc, Options{Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak %.1f -> %.1f kW (%.2f%%, LB allows %.2f%%), %d blocks over, %d migrations, %d power cycles, %.0f SLA min",
		res.BaselinePeakKW, res.AchievedPeakKW, res.PeakCutPct, res.LBPeakCutPct, res.BlocksOverTarget, res.Migrations, res.PowerCycles, res.SLAViolationMin)
	if res.BlocksOverReachable != 0 {
		t.Errorf("%d blocks over a reachable target", res.BlocksOverReachable)
	}
	if res.SLAViolationMin != 0 {
		t.Errorf("%.0f SLA minutes lost through energy actions", res.SLAViolationMin)
	}
	if res.CutOfLBPct < 95 {
		t.Errorf("peak cut %.2f%% is %.0f%% of the %.2f%% the lower bound allows, want >= 95%%", res.PeakCutPct, res.CutOfLBPct, res.LBPeakCutPct)
	}
	if res.FailedSteps != 0 {
		t.Errorf("%d failed steps (power-off interlock)", res.FailedSteps)
	}
	if res.Migrations == 0 || res.PowerCycles == 0 {
		t.Errorf("no IT action: %d migrations, %d power cycles", res.Migrations, res.PowerCycles)
	}
	// At most one power cycle per host per day: 200 hosts, 2 days.
	if res.PowerCycles > 2*sc.Hosts.Count {
		t.Errorf("%d power cycles for %d hosts in 2 days", res.PowerCycles, sc.Hosts.Count)
	}
	if !strings.Contains(progress.String(), "day 2026-07-14 (2/2)") {
		t.Errorf("progress:\n%s", progress.String())
	}
	var svg bytes.Buffer
	if err := res.SVG(&svg); err != nil || !strings.Contains(svg.String(), "<path") {
		t.Errorf("svg: %v", err)
	}
}

// TestSummerLoadVariants: the same goals with the VMs' afternoon load a
// little lower and higher than the shipped scenario's (a packing that
// only holds for the load it was made at would overload hosts later).
func TestSummerLoadVariants(t *testing.T) {
	for _, peak := range []float64{0.28, 0.32} {
		sc, err := LoadScenario("scenarios/summer-weekday-200.yaml")
		if err != nil {
			t.Fatal(err)
		}
		sc.To = "2026-07-15"
		sc.VMs.Peak = peak
		res, err := Run(sc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("peak_util %.2f: %.1f -> %.1f kW (%.2f%%, LB %.2f%%), %d over, %.0f SLA min", peak, res.BaselinePeakKW, res.AchievedPeakKW,
			res.PeakCutPct, res.LBPeakCutPct, res.BlocksOverTarget, res.SLAViolationMin)
		if res.BlocksOverReachable != 0 || res.SLAViolationMin != 0 || res.CutOfLBPct < 95 {
			t.Errorf("peak_util %.2f: %d blocks over a reachable target, %.0f SLA min, cut %.0f%% of the LB's", peak, res.BlocksOverReachable, res.SLAViolationMin, res.CutOfLBPct)
		}
	}
}

// TestNoShedWithoutLimit: with a contract far above the site, nothing
// moves and both runs draw the same energy.
func TestNoShedWithoutLimit(t *testing.T) {
	sc, err := LoadScenario("scenarios/summer-weekday-200.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.To = sc.From
	sc.Demand.ContractKW = 1000
	res, err := Run(sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plans != 0 || res.Migrations != 0 || res.EnergySavedKWh != 0 || res.PeakCutPct != 0 {
		t.Errorf("no limit reached, yet %+v", res)
	}
}

// TestMoneyFollowsTheResult: the yen, CO2 and payback of a run are the
// contract's arithmetic on the run's own peaks and energy (July: one
// summer price for every minute).
func TestMoneyFollowsTheResult(t *testing.T) {
	sc, err := LoadScenario("scenarios/summer-weekday-200.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.To = "2026-07-14"
	res, err := Run(sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Money
	if m == nil {
		t.Fatal("no money figures for a scenario with a money section")
	}
	peakKW := math.Floor(res.BaselinePeakKW+0.5) - math.Floor(res.AchievedPeakKW+0.5)
	wantPeak := peakKW * 1765.50 * 12
	wantEnergy := res.EnergySavedKWh * (13.94 - 1.20 + 3.98)
	// The result's kWh is rounded to 0.01: allow that much energy.
	const kwh = 0.005
	for _, c := range []struct {
		what           string
		got, want, tol float64
	}{
		{"peak yen", m.PeakYenSaved, wantPeak, 1e-6},
		{"energy yen", m.EnergyYenSaved, wantEnergy, kwh * 16.72},
		{"yen", m.YenSaved, wantPeak + wantEnergy, kwh * 16.72},
		{"CO2", m.CO2AvoidedKg, res.EnergySavedKWh * 0.35, kwh * 0.35},
		{"CO2 adjusted", m.CO2AdjustedKg, res.EnergySavedKWh * 0.33, kwh * 0.33},
		{"payback", m.PaybackYears, math.Round(5_000_000/(wantPeak+wantEnergy)*100) / 100, 0.0051},
	} {
		if math.Abs(c.got-c.want) > c.tol {
			t.Errorf("%s = %.4f, want %.4f", c.what, c.got, c.want)
		}
	}
	if peakKW <= 0 || m.YenSaved <= 0 {
		t.Errorf("the summer week saves nothing: peak %.1f -> %.1f kW, %.0f yen", res.BaselinePeakKW, res.AchievedPeakKW, m.YenSaved)
	}
	t.Logf("peak %.1f -> %.1f kW: %.0f yen a year kept off the maximum, %.0f yen of energy, %.1f kg CO2, payback %.2f years",
		res.BaselinePeakKW, res.AchievedPeakKW, m.PeakYenSaved, m.EnergyYenSaved, m.CO2AvoidedKg, m.PaybackYears)
}
