package demand

import (
	"math"
	"sort"
	"time"
)

// Formula is the prediction every commercial demand controller shows
// (Osaki 予測電力; sla_peak.md §2.2): the energy so far plus the power now
// times the time left,
//
//	D_pred = (E(τ) + P_now · (r + missing)) / L
//
// with P_now the newest reading. It has no lag (a step shows at once) and
// no smoothing (each sample's noise goes straight into the prediction,
// weighted by r/L).
type Formula struct{}

// Name implements Predictor.
func (Formula) Name() string { return "formula" }

// Predict implements Predictor.
func (Formula) Predict(in PredictionInput) Prediction {
	kw, ok := lastReading(in.Samples, in.Now)
	p := endOfBlock(in, kw, !ok)
	p.Method = "formula"
	return p
}

// Adaptive is the default predictor: it uses the candidate whose recent
// load forecasts were best on this site's own data, the Formula unless
// another was clearly better.
//
// Why this is never worse than the formula (in the long run, on any
// series): the error of an end-of-block prediction is (P̂ − P̄_rest)·r/L,
// where P̄_rest is the mean load over the rest of the block, so the
// predictor to use is the one that forecasts the mean load of the next r
// minutes best. Adaptive measures exactly that, out of sample: at every
// tick (Learn, at most once a Step) it asks each candidate what it would
// have said h ago, for look-aheads h of 2, 5, 10 and 20 minutes, compares it
// with the mean load that followed, and keeps an exponentially weighted
// mean absolute error per candidate and look-ahead (time constant
// Memory, hours: which predictor suits a site is a property of its load,
// its noise against its steps, not of the last quarter hour; a short
// memory follows noise in the comparison and loses to the formula). At a
// prediction it takes the look-ahead nearest the time left and uses a
// candidate only when its error is below (1 − Margin) of the formula's;
// otherwise, and until enough has been learned (MinLearned), the formula
// itself. It is a follow-the-leader rule over a few experts with the
// formula as the incumbent: it can lose to the formula only by the
// margin's worth of luck in the comparison, and it gains wherever the
// site's noise is larger than its steps (sla_peak.md §5b: the best of
// several predictors).
type Adaptive struct {
	// Candidates are tried besides the formula (which is always first);
	// at most MaxCandidates.
	Candidates []Predictor
	// Step is the spacing of the learning updates.
	Step time.Duration
	// Memory is the time constant of the error averages.
	Memory time.Duration
	// MinLearned is how much learning (in time) a look-ahead needs before
	// a candidate may replace the formula there.
	MinLearned time.Duration
	// Margin is the share by which a candidate must beat the formula.
	Margin float64
}

// MaxCandidates bounds Adaptive's candidates besides the formula.
const MaxCandidates = 3

// horizons are the look-aheads Adaptive scores.
var horizons = [...]time.Duration{2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute}

// PredictorState is what a learning predictor carries from tick to tick
// (State.Predictor): per candidate (the formula first) and look-ahead, the
// weighted mean absolute error and its weight.
type PredictorState struct {
	At     time.Time
	Err    [MaxCandidates + 1][len(horizons)]float64
	Weight [MaxCandidates + 1][len(horizons)]float64
}

// Learner is a predictor that learns from the series (Adaptive); Evaluate
// calls Learn at every tick and hands the result to Predict in
// PredictionInput.Learned.
type Learner interface {
	Predictor
	Learn(st PredictorState, samples []Sample, now time.Time, maxGap time.Duration) PredictorState
}

// DefaultAdaptive is the formula, a level follower over 2 minutes, a
// 1-minute two-point mean and least squares over window, learnt every 30 s
// with a 24-hour memory, after 30 minutes of learning, with a 20 % margin
// (the shortest memory and smallest margin with which it was not worse
// than the formula on any family of families_test.go: 6 h and 10 % lost
// 4–12 % on the office and PlanetLab loads 10 minutes into the block).
func DefaultAdaptive(window time.Duration) Adaptive {
	if window <= 0 {
		window = 5 * time.Minute
	}
	return Adaptive{
		Candidates: []Predictor{Level{Window: 2 * time.Minute, K: 4}, TwoPoint{Window: time.Minute}, LeastSquares{Window: window}},
		Step:       30 * time.Second, Memory: 24 * time.Hour, MinLearned: 30 * time.Minute,
		Margin: 0.20,
	}
}

// Name implements Predictor.
func (Adaptive) Name() string { return "adaptive" }

// Predict implements Predictor.
func (a Adaptive) Predict(in PredictionInput) Prediction {
	best := a.Choose(in.Learned, in.Block.End.Sub(in.Now))
	p := best.Predict(in)
	p.Method = best.Name()
	return p
}

// Choose is the candidate Adaptive uses with time left r, given what it
// has learnt.
func (a Adaptive) Choose(st PredictorState, r time.Duration) Predictor {
	h := 0
	for h+1 < len(horizons) && r > (horizons[h]+horizons[h+1])/2 {
		h++
	}
	enough := 1 - math.Exp(-float64(a.MinLearned)/float64(a.Memory))
	if a.Memory <= 0 || st.Weight[0][h] < enough {
		return Formula{}
	}
	ref := st.Err[0][h] / st.Weight[0][h]
	var best Predictor = Formula{}
	bestErr := ref
	for i, c := range a.Candidates {
		if i >= MaxCandidates {
			break
		}
		w := st.Weight[i+1][h]
		if w < enough {
			continue
		}
		if e := st.Err[i+1][h] / w; e < (1-a.Margin)*ref && e < bestErr {
			best, bestErr = c, e
		}
	}
	return best
}

// Errors are the learnt mean absolute load errors (kW) per candidate (the
// formula first) at the look-ahead nearest r, NaN where nothing is learnt.
func (a Adaptive) Errors(st PredictorState, r time.Duration) []float64 {
	h := 0
	for h+1 < len(horizons) && r > (horizons[h]+horizons[h+1])/2 {
		h++
	}
	out := make([]float64, 1+min(len(a.Candidates), MaxCandidates))
	for i := range out {
		out[i] = math.NaN()
		if st.Weight[i][h] > 0 {
			out[i] = st.Err[i][h] / st.Weight[i][h]
		}
	}
	return out
}

// Learn implements Learner: at most once a Step, each candidate's forecast
// made h ago is scored against the mean load since, for every look-ahead
// h. A gap in the data (no mean, or the candidate without its window)
// skips the score; the weights decay with the time passed.
func (a Adaptive) Learn(st PredictorState, samples []Sample, now time.Time, maxGap time.Duration) PredictorState {
	if a.Memory <= 0 || a.Step <= 0 {
		return st
	}
	if !st.At.IsZero() && now.Sub(st.At) < a.Step && !now.Before(st.At) {
		return st
	}
	dt := a.Step
	if !st.At.IsZero() && now.After(st.At) {
		dt = now.Sub(st.At)
	}
	decay := math.Exp(-float64(dt) / float64(a.Memory))
	st.At = now
	// Only the recent samples matter: cut the slice once.
	reach := horizons[len(horizons)-1] + maxLookBack(a.Candidates) + maxGap
	hi := sort.Search(len(samples), func(i int) bool { return samples[i].Time.After(now) })
	lo := sort.Search(hi, func(i int) bool { return !samples[i].Time.Before(now.Add(-reach)) })
	s := samples[lo:hi]
	n := 1 + min(len(a.Candidates), MaxCandidates)
	for h, hz := range horizons {
		for i := 0; i < n; i++ {
			st.Err[i][h] *= decay
			st.Weight[i][h] *= decay
		}
		o := now.Add(-hz)
		actual, ok := meanPower(s, o, now, maxGap)
		if !ok {
			continue
		}
		in := PredictionInput{Block: Block{Start: o, End: now}, Now: o, Samples: s, MaxGap: maxGap}
		for i := 0; i < n; i++ {
			var c Predictor = Formula{}
			if i > 0 {
				c = a.Candidates[i-1]
			}
			p := c.Predict(in)
			if p.Fallback {
				continue
			}
			st.Err[i][h] += (1 - decay) * math.Abs(p.LoadKW-actual)
			st.Weight[i][h] += 1 - decay
		}
	}
	return st
}

// LookBack is how far before now Adaptive reads samples: its longest
// look-ahead and its candidates' windows.
func (a Adaptive) LookBack() time.Duration {
	return horizons[len(horizons)-1] + maxLookBack(a.Candidates)
}

func maxLookBack(ps []Predictor) time.Duration {
	var m time.Duration
	for _, p := range ps {
		var w time.Duration
		switch v := p.(type) {
		case LeastSquares:
			w = v.Window
		case TwoPoint:
			w = v.Window
		case MovingAverage:
			w = 2 * v.Window
		default:
			w = 15 * time.Minute
		}
		if w > m {
			m = w
		}
	}
	return m
}

// Level takes P̂ as the mean of the newest samples back to the last level
// shift, over at most Window: white noise is averaged away as by
// TwoPoint, but a step shortens the window to the samples after it, so it
// does not lag the way a fixed window does. A sample starts a new level
// when it lies more than K noise deviations from the mean of the newer
// ones; the noise is estimated from successive differences over the
// window (their median absolute value / 0.6745 / √2, robust to the shift
// itself). With fewer than 2 samples it is the last reading.
type Level struct {
	Window time.Duration
	K      float64
}

// Name implements Predictor.
func (Level) Name() string { return "level" }

// Predict implements Predictor.
func (p Level) Predict(in PredictionInput) Prediction {
	w := window(in.Samples, in.Now.Add(-p.Window), in.Now, in.MaxGap)
	if len(w) < 2 {
		kw, _ := lastReading(in.Samples, in.Now)
		return endOfBlock(in, kw, true)
	}
	return endOfBlock(in, levelMean(w, p.K), false)
}

func levelMean(w []Sample, k float64) float64 {
	if k <= 0 {
		k = 4
	}
	var buf [64]float64
	d := buf[:0]
	for i := 1; i < len(w); i++ {
		d = append(d, math.Abs(w[i].KW-w[i-1].KW))
	}
	sort.Float64s(d)
	sigma := d[len(d)/2] / 0.6745 / math.Sqrt2
	n := len(w) - 1
	sum := w[n].KW
	cnt := 1.0
	for i := n - 1; i >= 0; i-- {
		mean := sum / cnt
		if math.Abs(w[i].KW-mean) > k*sigma*math.Sqrt(1+1/cnt) && sigma > 0 {
			break
		}
		sum += w[i].KW
		cnt++
	}
	return sum / cnt
}
