package demand

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/energy"
)

// Predictor estimates the end-of-block demand from the energy so far and
// the recent samples. Implementations differ only in the recent load P̂
// they extrapolate; all use the Tridium/Osaki form (sla_peak.md §2.2, §5b)
//
//	D_pred = (E(τ) + P̂ · (r + missing)) / L
//
// where r is the time left in the block and missing the time already past
// in the block that the data did not cover (a meter gap, or the moments
// since the last sample). The current-demand figure leaves gaps unbridged;
// the prediction forecasts them like the future, because a control
// decision must not assume that a silent meter drew 0 kW.
type Predictor interface {
	// Name is the method, as configured: adaptive, formula,
	// least_squares, two_point, moving_average.
	Name() string
	Predict(in PredictionInput) Prediction
}

// PredictionInput is what a predictor sees at one tick.
type PredictionInput struct {
	Block Block
	Now   time.Time
	// EnergyKWh is E(τ), the block's energy in [Block.Start, Now], and
	// Covered the part of that span it accounts for.
	EnergyKWh float64
	Covered   time.Duration
	// Samples is site power up to Now, sorted; a predictor reads the
	// window it needs from the end.
	Samples []Sample
	// MaxGap is the longest interval between samples that is not a gap.
	MaxGap time.Duration
	// Learned is what a Learner has learnt up to Now (State.Predictor).
	Learned PredictorState
}

// Prediction is a predictor's answer.
type Prediction struct {
	// LoadKW is P̂, the load assumed for the rest of the block.
	LoadKW float64
	// DemandKW is the predicted end-of-block demand, D_pred.
	DemandKW float64
	// Fallback is true when the window held too few samples and P̂ is the
	// last instantaneous reading (or 0 with no reading at all).
	Fallback bool
	// Method is the predictor that made the figure: the predictor's name,
	// or for adaptive the candidate it chose.
	Method string
}

func endOfBlock(in PredictionInput, load float64, fallback bool) Prediction {
	elapsed := in.Now.Sub(in.Block.Start)
	if elapsed < 0 {
		elapsed = 0
	}
	r := in.Block.End.Sub(in.Now)
	if r < 0 {
		r = 0
	}
	missing := elapsed - in.Covered
	if missing < 0 {
		missing = 0
	}
	L := in.Block.Length().Hours()
	return Prediction{
		LoadKW:   load,
		DemandKW: (in.EnergyKWh + load*(r+missing).Hours()) / L,
		Fallback: fallback,
	}
}

// window returns the samples in [from, now], cut after the last gap longer
// than maxGap, so that a fit never spans a gap.
func window(s []Sample, from, now time.Time, maxGap time.Duration) []Sample {
	hi := sort.Search(len(s), func(i int) bool { return s[i].Time.After(now) })
	lo := sort.Search(hi, func(i int) bool { return !s[i].Time.Before(from) })
	w := s[lo:hi]
	for i := len(w) - 1; i > 0; i-- {
		if maxGap > 0 && w[i].Time.Sub(w[i-1].Time) > maxGap {
			return w[i:]
		}
	}
	return w
}

// lastReading is the fallback load: the newest sample at or before now.
func lastReading(s []Sample, now time.Time) (float64, bool) {
	hi := sort.Search(len(s), func(i int) bool { return s[i].Time.After(now) })
	if hi == 0 {
		return 0, false
	}
	return s[hi-1].KW, true
}

// LeastSquares takes P̂ as the least-squares slope of the cumulative energy
// E(t) over the last Window (RoboticsWare LEAST_SQUARES; sla_peak.md §5b,
// whose default is 3 min; the brief's default is 5 min, which halves the
// noise of 10-s samples at the cost of 1 min more lag). The slope is
// clamped at 0. With fewer than 3 samples it falls back to the last
// reading.
type LeastSquares struct {
	Window time.Duration
}

// Name implements Predictor.
func (LeastSquares) Name() string { return "least_squares" }

// Predict implements Predictor.
func (p LeastSquares) Predict(in PredictionInput) Prediction {
	w := window(in.Samples, in.Now.Add(-p.Window), in.Now, in.MaxGap)
	if len(w) < 3 {
		kw, _ := lastReading(in.Samples, in.Now)
		return endOfBlock(in, kw, true)
	}
	// Fit E(x) = a + P̂·x, x in hours since the window's first sample,
	// E the trapezoid integral from there.
	// Unix nanoseconds, not time.Time.Sub: this runs for every meter at
	// every tick.
	t0 := w[0].Time.UnixNano()
	prev := t0
	var sx, se, sxx, sxe, e float64
	for i, s := range w {
		tn := s.Time.UnixNano()
		if i > 0 {
			e += (w[i-1].KW + s.KW) / 2 * float64(tn-prev) / float64(time.Hour)
		}
		prev = tn
		x := float64(tn-t0) / float64(time.Hour)
		sx += x
		se += e
		sxx += x * x
		sxe += x * e
	}
	n := float64(len(w))
	den := n*sxx - sx*sx
	if den <= 0 {
		kw, _ := lastReading(in.Samples, in.Now)
		return endOfBlock(in, kw, true)
	}
	slope := (n*sxe - sx*se) / den
	return endOfBlock(in, math.Max(slope, 0), false)
}

// TwoPoint takes P̂ as the energy between now − Window and now divided by
// the time (RoboticsWare TWOPOINTS): the mean power of the window.
type TwoPoint struct {
	Window time.Duration
}

// Name implements Predictor.
func (TwoPoint) Name() string { return "two_point" }

// Predict implements Predictor.
func (p TwoPoint) Predict(in PredictionInput) Prediction {
	if kw, ok := meanPower(in.Samples, in.Now.Add(-p.Window), in.Now, in.MaxGap); ok {
		return endOfBlock(in, kw, false)
	}
	kw, _ := lastReading(in.Samples, in.Now)
	return endOfBlock(in, kw, true)
}

func meanPower(s []Sample, from, to time.Time, maxGap time.Duration) (float64, bool) {
	e := energy.Integrate(s, from, to, maxGap)
	if e.Covered <= 0 {
		return 0, false
	}
	return e.KWh / e.Covered.Hours(), true
}

// MovingAverage averages Points two-point estimates whose windows (each
// Window long) end at now, now − Window/Points, now − 2·Window/Points, …
// (RoboticsWare MOVING_AVERAGE: "several two-point predictions stepping
// back in time").
type MovingAverage struct {
	Window time.Duration
	Points int
}

// Name implements Predictor.
func (MovingAverage) Name() string { return "moving_average" }

// Predict implements Predictor.
func (p MovingAverage) Predict(in PredictionInput) Prediction {
	n := p.Points
	if n < 1 {
		n = 1
	}
	step := p.Window / time.Duration(n)
	var sum float64
	var k int
	for j := 0; j < n; j++ {
		end := in.Now.Add(-time.Duration(j) * step)
		if kw, ok := meanPower(in.Samples, end.Add(-p.Window), end, in.MaxGap); ok {
			sum += kw
			k++
		}
	}
	if k == 0 {
		kw, _ := lastReading(in.Samples, in.Now)
		return endOfBlock(in, kw, true)
	}
	return endOfBlock(in, sum/float64(k), false)
}

// PredictorNames are the configurable methods, the default first.
var PredictorNames = []string{"adaptive", "formula", "least_squares", "two_point", "moving_average"}

// NewPredictor returns a predictor by configured name ("" is adaptive, the
// default); window 0 means the default of 5 minutes, points 0 means 5.
func NewPredictor(name string, window time.Duration, points int) (Predictor, error) {
	if window == 0 {
		window = 5 * time.Minute
	}
	if window < 0 || window > time.Hour {
		return nil, fmt.Errorf("predictor window %s: must be in (0, 1h]", window)
	}
	if points == 0 {
		points = 5
	}
	switch name {
	case "adaptive", "":
		return DefaultAdaptive(window), nil
	case "formula":
		return Formula{}, nil
	case "least_squares":
		return LeastSquares{Window: window}, nil
	case "two_point":
		return TwoPoint{Window: window}, nil
	case "moving_average":
		if points < 1 {
			return nil, fmt.Errorf("moving_average points %d: must be at least 1", points)
		}
		return MovingAverage{Window: window, Points: points}, nil
	}
	return nil, fmt.Errorf("predictor %q: want adaptive, formula, least_squares, two_point or moving_average", name)
}
