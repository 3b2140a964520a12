package demand

import (
	"math"
	"testing"
	"time"
)

// hourly builds 1-minute samples for the given local days where the power
// of hour h is kw(day, h), held until one second before the next hour (the
// trapezoid rule ramps between samples: a 1-second ramp moves an hourly
// average by under 0.03 kW here).
func hourly(loc *time.Location, from time.Time, days int, kw func(d, h int) float64) []Sample {
	var s []Sample
	for d := 0; d < days; d++ {
		for h := 0; h < 24; h++ {
			for m := 0; m < 60; m++ {
				s = append(s, Sample{Time: time.Date(from.Year(), from.Month(), from.Day()+d, h, m, 0, 0, loc), KW: kw(d, h)})
			}
			s = append(s, Sample{Time: time.Date(from.Year(), from.Month(), from.Day()+d, h, 59, 59, 0, loc), KW: kw(d, h)})
		}
	}
	return append(s, Sample{Time: time.Date(from.Year(), from.Month(), from.Day()+days, 0, 0, 0, 0, loc), KW: kw(days-1, 23)})
}

func TestBaseline(t *testing.T) {
	tokyo := mustLoc(t, "Asia/Tokyo")
	// Last year: 2023-07-01 is a Saturday. Weekday 13:00–14:00 is the
	// peak, 500 kW on Tuesday 07-04; a Saturday 14:00 of 600 kW and a
	// weekday 21:00 of 700 kW lie outside the calendar.
	from := time.Date(2023, 7, 1, 0, 0, 0, 0, tokyo)
	s := hourly(tokyo, from, 7, func(d, h int) float64 {
		switch {
		case d == 3 && h == 13:
			return 500
		case d == 0 && h == 14:
			return 600
		case d == 4 && h == 21:
			return 700
		}
		return 300
	})
	cal := Restriction2011()
	if got := Baseline(s, cal, tokyo); math.Abs(got-500) > 0.05 {
		t.Errorf("baseline = %v, want 500", got)
	}
	// The hour with the peak loses 10 of its 60 samples (a 10-minute gap,
	// beyond the 3-minute bound): 83 % covered, under the 90 % needed, so
	// the next hour (the 300 kW floor) is the peak.
	var cut []Sample
	for _, x := range s {
		l := x.Time.In(tokyo)
		if l.Day() == 4 && l.Hour() == 13 && l.Minute() >= 20 && l.Minute() < 30 {
			continue
		}
		cut = append(cut, x)
	}
	if got := Baseline(cut, cal, tokyo); math.Abs(got-300) > 0.05 {
		t.Errorf("baseline with a gap = %v, want 300", got)
	}
	if Baseline(nil, cal, tokyo) != 0 {
		t.Error("baseline of nothing")
	}
}

func TestRelaxation(t *testing.T) {
	for _, c := range []struct{ v, want float64 }{
		{0, 0}, {0.0999, 0}, {0.10, 0.05}, {0.1499, 0.05}, {0.15, 0.10}, {0.1999, 0.10}, {0.20, 0.15}, {0.5, 0.15},
	} {
		if got := ReductionForVariation(c.v); got != c.want {
			t.Errorf("ReductionForVariation(%v) = %v, want %v", c.v, got, c.want)
		}
	}
	tokyo := mustLoc(t, "Asia/Tokyo")
	// Weekdays (2023-07-03..05, Mon–Wed) vary between 450 and 500 kW
	// (10 % of 500), 430..500 (14 %) and 455..500 (9 %): mean 11 % → 5 %
	// cut. The weekend before varies 50 % and must not count.
	from := time.Date(2023, 7, 1, 0, 0, 0, 0, tokyo) // Saturday
	lows := map[int]float64{2: 450, 3: 430, 4: 455}
	s := hourly(tokyo, from, 5, func(d, h int) float64 {
		if d < 2 { // Sat, Sun
			if h == 12 {
				return 500
			}
			return 250
		}
		if h == 3 {
			return lows[d]
		}
		if h == 14 {
			return 500
		}
		return 480
	})
	r, err := RelaxationOf(s, Restriction2011(), tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if r.Days != 3 || math.Abs(r.Variation-0.11) > 1e-4 || r.Reduction != 0.05 {
		t.Errorf("relaxation = %+v, want 3 days, 0.11, 5 %%", r)
	}
	if _, err := RelaxationOf(s[:100], Restriction2011(), tokyo); err == nil {
		t.Error("no complete day accepted")
	}
}
