package demand

import (
	"math"
	"testing"
	"time"
)

func testLoads() (normal, noisy officeLoad) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	normal = officeLoad{BaseKW: 300, PeakKW: 500, Seed: 7, Loc: tokyo}
	noisy = normal
	noisy.WhiteNoise, noisy.Wander, noisy.Compressor = 0.05, 0.03, 25
	return normal, noisy
}

// accuracy is the mean absolute error of the end-of-block prediction made
// `at` into each 30-minute block, as a percentage of the block's true
// average, over days of officeLoad sampled every step. all covers every
// block; office only weekday blocks between 08:00 and 20:00, where the
// load moves.
func accuracy(p Predictor, load officeLoad, days int, step, at time.Duration) (all, office float64, blocks int) {
	tokyo := load.Loc
	from := time.Date(2024, 7, 1, 0, 0, 0, 0, tokyo)
	to := from.AddDate(0, 0, days)
	s := load.samples(from.Add(-time.Hour), to, step)
	cfg := DefaultConfig()
	cfg.Location, cfg.Predictor, cfg.MaxGap = tokyo, p, 3*step
	var sumAll, sumOffice float64
	var nOffice int
	for b := BlockOf(from, cfg.BlockLength, tokyo); b.End.Before(to) || b.End.Equal(to); b = BlockOf(b.End, cfg.BlockLength, tokyo) {
		truth := BlockDemand(s, nil, b, cfg.MaxGap).KW
		d, _ := Evaluate(cfg, State{}, s, b.Start.Add(at))
		e := math.Abs(d.Billing.PredictedKW-truth) / truth * 100
		sumAll += e
		blocks++
		l := b.Start.In(tokyo)
		if wd := l.Weekday(); wd != time.Saturday && wd != time.Sunday && l.Hour() >= 8 && l.Hour() < 20 {
			sumOffice += e
			nOffice++
		}
	}
	return sumAll / float64(blocks), sumOffice / float64(nOffice), blocks
}

// TestPredictionAccuracy holds the goal: the prediction 20 minutes into a
// block is within 2 % of the block's demand on average, for the default
// predictor on 10-second samples, office hours included.
func TestPredictionAccuracy(t *testing.T) {
	days := 14
	if testing.Short() {
		days = 3
	}
	normal, noisy := testLoads()
	for _, p := range []Predictor{LeastSquares{5 * time.Minute}, TwoPoint{5 * time.Minute}, MovingAverage{5 * time.Minute, 5}} {
		all, office, n := accuracy(p, normal, days, 10*time.Second, 20*time.Minute)
		t.Logf("%-15s MAE at 20 min: %.3f %% of the block (all %d blocks), %.3f %% (weekday 08–20)", p.Name(), all, n, office)
		if p.Name() == "least_squares" && (all > 2 || office > 2) {
			t.Errorf("least_squares MAE %.3f %% / %.3f %%, goal <= 2 %%", all, office)
		}
	}
	// The same with three times the noise, and earlier and later in the
	// block: logged, not held to the goal.
	for _, at := range []time.Duration{10 * time.Minute, 20 * time.Minute, 25 * time.Minute} {
		a, _, _ := accuracy(LeastSquares{5 * time.Minute}, normal, days, 10*time.Second, at)
		n, _, _ := accuracy(LeastSquares{5 * time.Minute}, noisy, days, 10*time.Second, at)
		t.Logf("least_squares MAE at %2.0f min: %.3f %% (noisy load: %.3f %%)", at.Minutes(), a, n)
	}
}

// BenchmarkPredictionAccuracy reports the mean absolute error of the
// default predictor 20 minutes into the block (mae_%), over 14 days of
// 10-second samples, on weekday office hours only (mae_office_%), and on
// a load with three times the noise (mae_noisy_%). Timing is not the point.
func BenchmarkPredictionAccuracy(b *testing.B) {
	normal, noisy := testLoads()
	var all, office, loud float64
	for i := 0; i < b.N; i++ {
		all, office, _ = accuracy(LeastSquares{5 * time.Minute}, normal, 14, 10*time.Second, 20*time.Minute)
		loud, _, _ = accuracy(LeastSquares{5 * time.Minute}, noisy, 14, 10*time.Second, 20*time.Minute)
	}
	b.ReportMetric(all, "mae_%")
	b.ReportMetric(office, "mae_office_%")
	b.ReportMetric(loud, "mae_noisy_%")
}
