package demandctl_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

func TestReadHistoryInChunks(t *testing.T) {
	from, to := at("00:00:00"), at("00:00:00").Add(25*time.Hour)
	var power []demand.Sample
	var energy []demand.EnergySample
	for tt := from; tt.Before(to); tt = tt.Add(time.Minute) {
		power = append(power, demand.Sample{Time: tt.Add(30 * time.Second), KW: 100})
		energy = append(energy, demand.EnergySample{Time: tt.Add(time.Minute), KWhTotal: float64(len(energy))})
	}
	store := &fakeStore{power: power, energy: energy}
	var progress []time.Duration
	h, err := demandctl.ReadHistory(context.Background(), store, "dc1", from, to, time.Minute, 6*time.Hour,
		func(done, total time.Duration) {
			progress = append(progress, done)
			if total != 25*time.Hour {
				t.Errorf("total %s", total)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(store.calls) != 5 {
		t.Errorf("%d queries, want 5 chunks of 6 h for 25 h", len(store.calls))
	}
	for i, c := range store.calls[1:] {
		if !c.from.Equal(store.calls[i].to.Add(-time.Minute)) {
			t.Errorf("chunk %d starts at %s, want one window before the previous end %s", i+1, c.from, store.calls[i].to)
		}
	}
	if len(h.Power) != len(power) || len(h.Energy) != len(energy) {
		t.Errorf("%d power and %d energy samples, want %d and %d (no duplicates at chunk joins)", len(h.Power), len(h.Energy), len(power), len(energy))
	}
	if len(progress) != 5 || progress[4] != 25*time.Hour {
		t.Errorf("progress %v", progress)
	}
	// A chunk without energy registers makes the whole history power-only.
	store.energy = nil
	h, err = demandctl.ReadHistory(context.Background(), store, "dc1", from, to, time.Minute, 6*time.Hour, nil)
	if err != nil || h.Energy != nil || len(h.Power) != len(power) {
		t.Errorf("without energy: %d power, energy %v, err %v", len(h.Power), h.Energy != nil, err)
	}
}

func date(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02", s, tokyo)
	if err != nil {
		panic(err)
	}
	return t
}

func TestLastYearSpans(t *testing.T) {
	summer := demand.Restriction2011()
	winter := demand.Calendar{Dates: []demand.DateRange{{From: demand.MonthDay{Month: time.December, Day: 1}, To: demand.MonthDay{Month: time.February, Day: 28}}}}
	for _, tc := range []struct {
		name string
		cal  demand.Calendar
		now  string
		want string
	}{
		{"in the season", summer, "2026-07-15", "2025-07-01..2025-09-09"},
		{"before the season", summer, "2026-03-01", "2025-07-01..2025-09-09"},
		{"after the season: next year's baseline", summer, "2026-10-01", "2026-07-01..2026-09-09"},
		{"winter, in January", winter, "2026-01-10", "2024-12-01..2025-02-28"},
		{"winter, in December", winter, "2026-12-10", "2025-12-01..2026-02-28"},
		{"no dates: last calendar year", demand.Calendar{}, "2026-07-15", "2025-01-01..2025-12-31"},
	} {
		spans := demandctl.LastYearSpans(tc.cal, date(tc.now).Add(12*time.Hour), tokyo)
		var got []string
		for _, s := range spans {
			got = append(got, s.From.Format("2006-01-02")+".."+s.To.Add(-time.Second).Format("2006-01-02"))
			if s.From.Hour() != 0 || s.To.Hour() != 0 {
				t.Errorf("%s: span %v is not whole local days", tc.name, s)
			}
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
}

// Last summer's history, a sample a minute: weekdays 09:00–20:00 500 kW
// (510 kW from 14:00 to 15:00 on 2025-07-09), 440 kW at night, 600 kW on
// Sundays (outside the calendar's weekdays). The baseline is about 510 (the
// hour's edges interpolate towards 500); a weekday varies by
// (500 − 440)/500 = 12 %, so the data-centre relaxation cuts 5 %.
func TestResolveCapsFromHistory(t *testing.T) {
	var power []demand.Sample
	for tt := date("2025-07-01"); tt.Before(date("2025-09-10")); tt = tt.Add(time.Minute) {
		l := tt.In(tokyo)
		kw := 440.0
		switch {
		case l.Weekday() == time.Sunday:
			kw = 600
		case l.Hour() >= 9 && l.Hour() < 20:
			kw = 500
			if l.Hour() == 14 && l.Day() == 9 && l.Month() == time.July {
				kw = 510
			}
		}
		power = append(power, demand.Sample{Time: tt.Add(30 * time.Second), KW: kw})
	}
	store := &fakeStore{power: power}
	cal := demand.Restriction2011()
	cal.Weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	specs := []demandctl.LimitSpec{
		{Limit: demand.ContractLimit{KW: 600, Block: 30 * time.Minute}},
		{Limit: demand.CapLimit{Name: "auto", Block: time.Hour, Calendar: cal}, BaselineLastYear: true, ReductionAuto: true},
		{Limit: demand.CapLimit{Name: "fixed-cut", Reduction: 0.15, Block: time.Hour, Calendar: cal}, BaselineLastYear: true},
	}
	limits, statuses, err := demandctl.ResolveCaps(context.Background(), store, "dc1", specs, tokyo, date("2026-07-15"))
	if err != nil {
		t.Fatal(err)
	}
	if len(limits) != 3 || limits[0].Label() != "contract" {
		t.Fatalf("limits %v", limits)
	}
	auto := limits[1].(demand.CapLimit)
	if math.Abs(auto.BaselineKW-510) > 0.2 || auto.Reduction != 0.05 {
		t.Errorf("auto: baseline %.2f reduction %.2f, want 510 and 5 %%", auto.BaselineKW, auto.Reduction)
	}
	if fixed := limits[2].(demand.CapLimit); math.Abs(fixed.KW()-0.85*510) > 0.2 {
		t.Errorf("fixed cut: cap %.2f, want 85 %% of 510", fixed.KW())
	}
	if len(statuses) != 2 || math.Abs(statuses[0].Variation-0.12) > 0.002 || statuses[0].Days != 51 { // weekdays 2025-07-01..09-09: 23 + 21 + 7
		t.Errorf("statuses %+v", statuses)
	}
	// No history: the cap is left out and says why.
	limits, statuses, err = demandctl.ResolveCaps(context.Background(), &fakeStore{}, "dc1", specs, tokyo, date("2026-07-15"))
	if err == nil || len(limits) != 1 || statuses[0].Err == nil || !strings.Contains(err.Error(), "2025-07-01..2025-09-09") {
		t.Errorf("without history: limits %v, err %v", limits, err)
	}
}
