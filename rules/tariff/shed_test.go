package tariff

import (
	"strings"
	"testing"
	"time"
)

// Worked by hand: Kansai Electric's 1,765.50 yen/kW and 13.94 yen/kWh in
// summer, PF 85% (no adjustment).
//
//	14:00 predicted 540 at the first request of 30 kW, metered 255 kWh = 510 kW,
//	      12-month maximum 510: baseline min(540, 510+30) = 540, kept 540-510 = 30 kW,
//	      basic 30 x 1,765.50 x 12 = 635,580 yen; 15 kWh x 13.94 = 209.10 yen
//	15:00 predicted 530, request 10, metered 500 kW: baseline min(530, 510) = 510,
//	      kept 510 - max(500, 510) = 0; 5 kWh x 13.94 = 69.70 yen
//	16:00 no metered data: left out
//
// The month: 2 events, basic 635,580 (the largest kept, not the sum), energy 278.80.
func TestEstimateShedByHand(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	at := func(h int) time.Time { return time.Date(2026, 7, 15, h, 0, 0, 0, jst) }
	sched := Schedule{{From: time.Date(2026, 4, 1, 0, 0, 0, 0, jst), Contract: kepcoAS}}
	shed := []ShedBlock{
		{Start: at(15), FirstPredictedKW: 530, RequestKW: 10, LimitKW: 520, AnnualMaxKW: 510},
		{Start: at(14), FirstPredictedKW: 540, RequestKW: 30, LimitKW: 520, AnnualMaxKW: 510},
		{Start: at(16), FirstPredictedKW: 600, RequestKW: 50, LimitKW: 520},
	}
	blocks := []Block{{Start: at(14), KWh: 255, Coverage: 1}, {Start: at(15), KWh: 250, Coverage: 1}}
	ev, tot, warn := EstimateShed(sched, 85, NoHolidays{}, shed, blocks, 30*time.Minute)
	if len(ev) != 2 || !ev[0].Start.Equal(at(14)) {
		t.Fatalf("events %+v", ev)
	}
	near(t, "14:00 baseline", ev[0].BaselineKW, 540, 1e-9)
	near(t, "14:00 kept", ev[0].KWKept, 30, 0)
	near(t, "14:00 basic", ev[0].BasicYen, 635580, 1e-6)
	near(t, "14:00 energy", ev[0].EnergyYen, 209.10, 1e-6)
	near(t, "15:00 baseline", ev[1].BaselineKW, 510, 1e-9)
	near(t, "15:00 kept", ev[1].KWKept, 0, 0)
	near(t, "15:00 energy", ev[1].EnergyYen, 69.70, 1e-6)
	if tot.Events != 2 {
		t.Errorf("events %d", tot.Events)
	}
	near(t, "month basic", tot.BasicYen, 635580, 1e-6)
	near(t, "month energy", tot.EnergyYen, 278.80, 1e-6)
	near(t, "month total", tot.TotalYen, 635858.80, 1e-6)
	if len(warn) != 1 || !strings.Contains(warn[0], "no metered data") {
		t.Errorf("warnings %q", warn)
	}
	// A season: the largest basic saving, energy summed.
	s := tot.Merge(ShedTotals{Events: 1, KWKept: 10, BasicYen: 211860, EnergyYen: 100})
	near(t, "season basic", s.BasicYen, 635580, 1e-6)
	near(t, "season energy", s.EnergyYen, 378.80, 1e-6)
}
