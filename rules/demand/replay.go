package demand

import (
	"math"
	"time"
)

// checkpoints are the offsets into a billing block at which Replay records
// the prediction, to show how early it was right (a constant table).
var checkpoints = [...]time.Duration{10 * time.Minute, 20 * time.Minute, 25 * time.Minute}

// BlockPeak is a block and its demand.
type BlockPeak struct {
	Block Block
	Demand
	// EstimatedKW is the block's average over the part the data covered
	// (KW / Coverage; KW when fully covered, 0 without data): what the
	// block drew if the missing part was like the rest. Peaks are ranked
	// by it, so a block that lost half its data does not silently stop
	// being the peak; Estimated says the figure is not fully measured.
	EstimatedKW float64
	Estimated   bool
}

func blockPeak(b Block, dm Demand) BlockPeak {
	p := BlockPeak{Block: b, Demand: dm, EstimatedKW: dm.KW}
	if dm.Coverage < 1-1e-9 {
		p.Estimated = true
		if dm.Coverage > 0 {
			p.EstimatedKW = dm.KW / dm.Coverage
		}
	}
	return p
}

// LimitHours is how long one limit's blocks were over it in a day: the
// blocks (of the limit's own length, where it applied) whose estimated
// demand exceeded its kW.
type LimitHours struct {
	Limit, Kind string
	LimitKW     float64
	Hours       float64
	Blocks      int
	// Applied is how many of the limit's blocks applied that day.
	Applied int
}

// DayCoverage is the data coverage of a day's billing blocks.
type DayCoverage struct {
	Blocks int
	// Min is the lowest block coverage; Low the blocks below full
	// coverage, each with its measured and estimated demand.
	Min float64
	Low []BlockPeak
}

// DayResult is one local day of a replay.
type DayResult struct {
	// Date is the local date, YYYY-MM-DD.
	Date string
	// Peak is the day's billing block with the highest demand, from the
	// whole history (what the utility's meter would bill).
	Peak BlockPeak
	// PredictedAt10, PredictedAt20 and PredictedAt25 are the predictions of
	// the peak block's demand at the first tick at least 10, 20 and 25
	// minutes into it; NaN when no tick fell there (e.g. 15-min blocks).
	PredictedAt10, PredictedAt20, PredictedAt25 float64
	// FormulaAt10, FormulaAt20 and FormulaAt25 are the formula's
	// predictions at the same ticks (energy so far + power now × time
	// left), side by side with the configured predictor's.
	FormulaAt10, FormulaAt20, FormulaAt25 float64
	// MaxStage is the highest stage of the day; StagesEntered the stages
	// escalated into, in order of first entry.
	MaxStage      Stage
	StagesEntered []Stage
	Transitions   []Transition
	// OverLimit are the hours over each configured limit that applied
	// that day, in configuration order.
	OverLimit []LimitHours
	// Coverage is the data coverage of every billing block of the day.
	Coverage DayCoverage
	// DrivenBy are the limits whose stage entries the day saw, in order.
	DrivenBy []string
}

// ReplayResult is the outcome of a replay.
type ReplayResult struct {
	From, To time.Time
	Ticks    int
	Days     []DayResult
	// Peak is the highest billing block of the whole range.
	Peak BlockPeak
	// Transitions are all stage changes, in order.
	Transitions []Transition
	// Final is the state after the last tick.
	Final State
	// Accuracy compares the configured predictor with the formula over
	// every billing block of the range.
	Accuracy Accuracy
}

// Accuracy is the mean absolute error (kW) of the end-of-block
// predictions at 10, 20 and 25 minutes into each billing block, against
// the block's demand, over the Blocks complete blocks with at least
// MinAccuracyCoverage of data: the configured predictor's (Predictor) and
// the formula's.
type Accuracy struct {
	Predictor       string
	Blocks          int
	PredictorMAE    [len(checkpoints)]float64
	FormulaMAE      [len(checkpoints)]float64
	CheckpointsMins [len(checkpoints)]int
}

// MinAccuracyCoverage is the data share a block needs to be scored.
const MinAccuracyCoverage = 0.9

// Replay drives Evaluate over history, a tick at a time from from
// (inclusive) to to (exclusive), each tick seeing only samples at or before
// it. progress, if not nil, is called now and then with ticks done and the
// total, and once at the end.
func Replay(cfg Config, samples []Sample, from, to time.Time, tick time.Duration, progress func(done, total int)) ReplayResult {
	return ReplayMetered(cfg, samples, nil, from, to, tick, progress)
}

// ReplayMetered is Replay with the site's energy counters as well.
func ReplayMetered(cfg Config, samples []Sample, counters []EnergySample, from, to time.Time, tick time.Duration, progress func(done, total int)) ReplayResult {
	res := ReplayResult{From: from, To: to}
	if tick <= 0 || !to.After(from) {
		return res
	}
	total := int((to.Sub(from) + tick - 1) / tick)
	every := total / 100
	if every < 1 {
		every = 1
	}
	loc := cfg.Location
	// Predictions at the checkpoints of every billing block, by block start.
	preds := map[int64]*[2][len(checkpoints)]float64{}
	var st State
	var hi, hc int
	for t := from; t.Before(to); t = t.Add(tick) {
		for hi < len(samples) && !samples[hi].Time.After(t) {
			hi++
		}
		for hc < len(counters) && !counters[hc].Time.After(t) {
			hc++
		}
		var d Decision
		d, st = EvaluateMetered(cfg, st, samples[:hi], counters[:hc], t)
		res.Ticks++
		res.Transitions = append(res.Transitions, d.Transitions...)
		b := d.Billing
		tau := t.Sub(b.Block.Start)
		for k, off := range checkpoints {
			if tau < off || off >= b.Block.Length() {
				continue
			}
			p := preds[b.Block.Start.UnixNano()]
			if p == nil {
				nan := [len(checkpoints)]float64{math.NaN(), math.NaN(), math.NaN()}
				p = &[2][len(checkpoints)]float64{nan, nan}
				preds[b.Block.Start.UnixNano()] = p
			}
			if math.IsNaN(p[0][k]) {
				p[0][k], p[1][k] = b.PredictedKW, b.FormulaKW
			}
		}
		if progress != nil && res.Ticks%every == 0 {
			progress(res.Ticks, total)
		}
	}
	res.Final = st
	if progress != nil {
		progress(res.Ticks, total)
	}

	// Days, their peaks (complete blocks inside [from, to) only) and their
	// transitions.
	f := from.In(loc)
	ti, cur := 0, StageNormal
	res.Accuracy.Predictor = cfg.Predictor.Name()
	for k, off := range checkpoints {
		res.Accuracy.CheckpointsMins[k] = int(off.Minutes())
	}
	for day := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, loc); day.Before(to); day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc) {
		end := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc)
		nan := math.NaN()
		dr := DayResult{Date: day.Format("2006-01-02"), PredictedAt10: nan, PredictedAt20: nan, PredictedAt25: nan,
			FormulaAt10: nan, FormulaAt20: nan, FormulaAt25: nan}
		found := false
		dr.Coverage.Min = 1
		for b := BlockOf(day, cfg.BlockLength, loc); b.Start.Before(end) && !b.End.After(to); b = BlockOf(b.End, cfg.BlockLength, loc) {
			if b.Start.Before(from) {
				continue
			}
			dm := BlockDemand(samples, counters, b, cfg.MaxGap)
			if p := preds[b.Start.UnixNano()]; p != nil && dm.Coverage >= MinAccuracyCoverage && !math.IsNaN(p[0][len(checkpoints)-1]) {
				for k := range checkpoints {
					res.Accuracy.PredictorMAE[k] += math.Abs(p[0][k] - dm.KW)
					res.Accuracy.FormulaMAE[k] += math.Abs(p[1][k] - dm.KW)
				}
				res.Accuracy.Blocks++
			}
			bp := blockPeak(b, dm)
			dr.Coverage.Blocks++
			dr.Coverage.Min = math.Min(dr.Coverage.Min, dm.Coverage)
			if bp.Estimated {
				dr.Coverage.Low = append(dr.Coverage.Low, bp)
			}
			if !found || bp.EstimatedKW > dr.Peak.EstimatedKW {
				dr.Peak, found = bp, true
			}
		}
		if dr.Coverage.Blocks == 0 {
			dr.Coverage.Min = 0
		}
		dr.OverLimit = overLimit(cfg, samples, counters, day, end, from, to)
		if found {
			if p := preds[dr.Peak.Block.Start.UnixNano()]; p != nil {
				dr.PredictedAt10, dr.PredictedAt20, dr.PredictedAt25 = p[0][0], p[0][1], p[0][2]
				dr.FormulaAt10, dr.FormulaAt20, dr.FormulaAt25 = p[1][0], p[1][1], p[1][2]
			}
			if dr.Peak.EstimatedKW > res.Peak.EstimatedKW || res.Peak.Block.Start.IsZero() {
				res.Peak = dr.Peak
			}
		}
		// The stage carried over from the day before counts for the day.
		dr.MaxStage = cur
		for ; ti < len(res.Transitions) && res.Transitions[ti].At.Before(end); ti++ {
			tr := res.Transitions[ti]
			dr.Transitions = append(dr.Transitions, tr)
			if tr.To > tr.From && !containsStage(dr.StagesEntered, tr.To) {
				dr.StagesEntered = append(dr.StagesEntered, tr.To)
			}
			if tr.To > tr.From && tr.Limit != "" && !containsString(dr.DrivenBy, tr.Limit) {
				dr.DrivenBy = append(dr.DrivenBy, tr.Limit)
			}
			if tr.To > dr.MaxStage {
				dr.MaxStage = tr.To
			}
			cur = tr.To
		}
		res.Days = append(res.Days, dr)
	}
	if n := float64(res.Accuracy.Blocks); n > 0 {
		for k := range checkpoints {
			res.Accuracy.PredictorMAE[k] /= n
			res.Accuracy.FormulaMAE[k] /= n
		}
	}
	return res
}

// overLimit is the hours over each configured limit in the local day
// [day, end), counting the limit's complete blocks inside [from, to).
func overLimit(cfg Config, samples []Sample, counters []EnergySample, day, end, from, to time.Time) []LimitHours {
	var out []LimitHours
	for _, l := range cfg.Limits {
		length := cfg.BlockLength
		switch v := l.(type) {
		case ContractLimit:
			length = v.Block
		case CapLimit:
			length = v.Block
		case ExternalTarget:
			if v.Block != 0 {
				length = v.Block
			}
		}
		lh := LimitHours{Limit: l.Label(), Kind: l.Kind()}
		for b := BlockOf(day, length, cfg.Location); b.Start.Before(end) && !b.End.After(to); b = BlockOf(b.End, length, cfg.Location) {
			if b.Start.Before(from) {
				continue
			}
			at, ok := cfg.limitAt(l, b.Start)
			if !ok || !at.Block.Start.Equal(b.Start) {
				continue
			}
			lh.Applied++
			lh.LimitKW = math.Max(lh.LimitKW, at.KW)
			if blockPeak(b, BlockDemand(samples, counters, b, cfg.MaxGap)).EstimatedKW > at.KW {
				lh.Blocks++
				lh.Hours += b.Length().Hours()
			}
		}
		if lh.Applied > 0 {
			out = append(out, lh)
		}
	}
	return out
}

func containsString(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func containsStage(s []Stage, x Stage) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}
