package demand

import (
	"math"
	"testing"
	"time"
)

func TestPredictors(t *testing.T) {
	t0 := time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)
	b := BlockOf(t0, 30*time.Minute, nil)
	// 10 kW/min ramp from 300 kW at 10:00, samples every minute.
	var s []Sample
	for m := -10; m <= 30; m++ {
		s = append(s, Sample{Time: t0.Add(time.Duration(m) * time.Minute), KW: 300 + 10*float64(m)})
	}
	now := t0.Add(20 * time.Minute)
	e := BlockDemand(s, nil, Block{b.Start, now}, time.Minute*3)
	in := PredictionInput{Block: b, Now: now, EnergyKWh: e.KW * (20.0 / 60), Covered: 20 * time.Minute, Samples: s, MaxGap: 3 * time.Minute}
	// The window's mean power is the power at its middle (10:17:30): 475.
	// Moving average of five 5-minute windows ending 10:20, 10:19, … 10:16:
	// middles 10:17:30 … 10:13:30, mean 10:15:30 → 455.
	for _, c := range []struct {
		p    Predictor
		load float64
	}{
		{LeastSquares{5 * time.Minute}, 475},
		{TwoPoint{5 * time.Minute}, 475},
		{MovingAverage{5 * time.Minute, 5}, 455},
	} {
		got := c.p.Predict(in)
		if math.Abs(got.LoadKW-c.load) > 1e-9 || got.Fallback {
			t.Errorf("%s: load %.6f (fallback %v), want %v", c.p.Name(), got.LoadKW, got.Fallback, c.load)
		}
		want := (in.EnergyKWh + c.load*10/60) / 0.5
		if math.Abs(got.DemandKW-want) > 1e-9 {
			t.Errorf("%s: demand %.6f, want %.6f", c.p.Name(), got.DemandKW, want)
		}
	}
	// Too few samples in the window: the last reading.
	few := PredictionInput{Block: b, Now: now, Samples: s[:3], MaxGap: 3 * time.Minute}
	if p := (LeastSquares{5 * time.Minute}).Predict(few); !p.Fallback || p.LoadKW != s[2].KW {
		t.Errorf("fallback = %+v", p)
	}
	// A falling load never predicts negative power.
	var down []Sample
	for m := 0; m <= 5; m++ {
		down = append(down, Sample{Time: t0.Add(time.Duration(m) * time.Minute), KW: 0})
	}
	if p := (LeastSquares{5 * time.Minute}).Predict(PredictionInput{Block: b, Now: t0.Add(5 * time.Minute), Samples: down, MaxGap: time.Hour}); p.LoadKW < 0 {
		t.Errorf("negative load %v", p.LoadKW)
	}
	for _, name := range []string{"least_squares", "two_point", "moving_average", ""} {
		if _, err := NewPredictor(name, 0, 0); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	if _, err := NewPredictor("kalman", 0, 0); err == nil {
		t.Error("unknown predictor accepted")
	}
}
