package demand

import (
	"math"
	"sort"
	"time"
)

// State is what Evaluate carries from one tick to the next.
type State struct {
	Stage StageState
	// Predictor is what a learning predictor (Adaptive) has learnt.
	Predictor PredictorState
	// PeakKW is the highest billing-block demand completed while
	// evaluating (the annual maximum, with Config.AnnualMaxKW as its seed).
	PeakKW float64
	// LastTick is the time of the last evaluation.
	LastTick time.Time
}

// BlockStatus is the demand picture of one block at one tick.
type BlockStatus struct {
	Block Block
	// Elapsed is τ/L, the share of the block gone by.
	Elapsed   float64
	Remaining time.Duration
	// EnergyKWh is E(τ), the block's energy so far.
	EnergyKWh float64
	// CurrentKW is the current demand E(τ)/L: energy so far over the FULL
	// block length (Osaki 現在電力), so it only rises through the block
	// and ends at the block's demand.
	CurrentKW float64
	// Coverage is the share of the elapsed part the data covered (1 at the
	// block's first instant).
	Coverage float64
	// LoadKW is the predictor's P̂, PredictedKW its end-of-block demand.
	LoadKW      float64
	PredictedKW float64
	// Fallback is true when the predictor had too few samples.
	Fallback bool
	// Method is the predictor that made PredictedKW (for adaptive, the
	// candidate it chose this tick).
	Method string
	// FormulaKW is the formula's prediction (energy so far + power now ×
	// time left), always computed, so that every decision shows the
	// configured predictor next to what a commercial controller would say.
	FormulaKW float64
}

// LimitStatus is one active limit at one tick.
type LimitStatus struct {
	Kind, Label string
	LimitKW     float64
	BlockStatus
	// TargetRampKW is the target-so-far D_lim·τ/L (Osaki 目標現在電力),
	// in the units of CurrentKW; AboveRamp is CurrentKW >= TargetRampKW.
	TargetRampKW float64
	AboveRamp    bool
	// AdjustmentKW is the adjustment power ΔP (see Decision).
	AdjustmentKW float64
	// Ratio is PredictedKW / LimitKW.
	Ratio float64
	// Settled is false during the block's no-action time.
	Settled bool
}

// Request asks the shedding engine to take ShedKW off now and keep it off
// until By, the end of the block being protected. An action that takes λ
// to act contributes only ShedKW·(r − λ)/L to the block (sla_peak.md §5b,
// "action effectiveness"), so slow actions must start early.
type Request struct {
	ShedKW float64
	By     time.Time
	// Limit is the label of the limit being protected.
	Limit string
	// Protect says what the request protects: limit (it can be met this
	// block), annual_max (it cannot, and the block would set a new annual
	// maximum) or next_block (By is then the next block's end).
	Protect string
}

// Decision is the outcome of one tick. Its headline figures (Block …
// LimitKW) are those of the strictest active limit, the one with the
// largest adjustment power; with no limit active they are the billing
// block's, and TargetRampKW, AdjustmentKW and LimitKW are 0.
type Decision struct {
	Time      time.Time
	Block     Block
	Elapsed   float64
	Remaining time.Duration
	CurrentKW float64
	Coverage  float64
	// TargetRampKW is the strictest limit's target-so-far.
	TargetRampKW float64
	LoadKW       float64
	PredictedKW  float64
	// AdjustmentKW is the adjustment power (Osaki 調整電力, sla_peak.md
	// §5b): the constant power to take off from now to the block's end so
	// that the block lands exactly on the limit,
	//
	//	ΔP = (E(τ) + P̂·r − D_lim·L) / max(r, r_min) = (D_pred − D_lim)·L / max(r, r_min)
	//
	// positive: kW to shed now; negative: headroom, kW that may come back.
	// Dividing by the time left is what makes the same overshoot cost more
	// kW late in the block; r_min keeps it finite at the very end.
	AdjustmentKW float64
	LimitKW      float64
	// Limit is the strictest limit's label ("" when none is active).
	Limit string
	// Billing is the billing block (Config.BlockLength), whatever the
	// limits; reports and Replay read it.
	Billing BlockStatus
	// Limits are all active limits, in configuration order.
	Limits []LimitStatus
	Stage  Stage
	// Held is true while the no-action time holds the stage; the executor
	// neither sheds more nor restores.
	Held        bool
	Transitions []Transition
	// Request is set in stage Shed or Limit when AdjustmentKW > 0 and the
	// stage is not held; HeadroomKW (> 0) when AdjustmentKW < 0 and not
	// held. At most one of them is set.
	Request    *Request
	HeadroomKW float64
	// Unreachable is true when the strictest limit cannot be met this
	// block by the sheddable loads that can still act before it ends
	// (Config.Sheddable, each with its latency, at most the site's load);
	// UnreachableReason says why and what the request protects instead,
	// and AchievableKW is the lowest demand the block can still reach.
	Unreachable       bool
	UnreachableReason string
	AchievableKW      float64
}

// Evaluate runs one tick of demand control from site power samples: see
// EvaluateMetered.
func Evaluate(cfg Config, state State, samples []Sample, now time.Time) (Decision, State) {
	return EvaluateMetered(cfg, state, samples, nil, now)
}

// EvaluateMetered runs one tick. It is pure: the result depends only on
// its arguments. samples (site power) and counters (the site's summed
// kwh_total, may be nil) must be sorted by time; only those at or before
// now are read, so a replay can pass a longer history. Energy so far comes
// from the counters when there are any (BlockDemand), prediction from
// power. cfg must have passed Validate.
func EvaluateMetered(cfg Config, state State, samples []Sample, counters []EnergySample, now time.Time) (Decision, State) {
	samples = upTo(samples, now)
	counters = upToCounters(counters, now)
	ev := evaluator{cfg: cfg, power: samples, counters: counters, now: now, learned: state.Predictor}
	if l, ok := cfg.Predictor.(Learner); ok {
		ev.learned = l.Learn(state.Predictor, samples, now, cfg.MaxGap)
	}

	d := Decision{Time: now, Billing: ev.status(BlockOf(now, cfg.BlockLength, cfg.Location))}
	strictest := -1
	in := stageInput{settled: true}
	anySettled := false
	for _, l := range cfg.Limits {
		at, ok := cfg.limitAt(l, now)
		if !ok {
			continue
		}
		d.Limits = append(d.Limits, ev.limitStatus(l, at))
		i := len(d.Limits) - 1
		if strictest < 0 || d.Limits[i].AdjustmentKW > d.Limits[strictest].AdjustmentKW {
			strictest = i
		}
	}
	for i := range d.Limits {
		ls := &d.Limits[i]
		if ls.CurrentKW >= ls.LimitKW && !in.exceeded {
			in.exceeded, in.exceededBy = true, ls
		}
		if ls.Settled && (!anySettled || ls.Ratio > in.ratio) {
			anySettled = true
			in.ratio, in.top = ls.Ratio, ls
		}
	}
	if len(d.Limits) > 0 && !anySettled {
		in.settled = false
	}

	if strictest >= 0 {
		s := d.Limits[strictest]
		d.Block, d.Elapsed, d.Remaining = s.Block, s.Elapsed, s.Remaining
		d.CurrentKW, d.Coverage, d.LoadKW, d.PredictedKW = s.CurrentKW, s.Coverage, s.LoadKW, s.PredictedKW
		d.TargetRampKW, d.AdjustmentKW, d.LimitKW, d.Limit = s.TargetRampKW, s.AdjustmentKW, s.LimitKW, s.Label
	} else {
		b := d.Billing
		d.Block, d.Elapsed, d.Remaining = b.Block, b.Elapsed, b.Remaining
		d.CurrentKW, d.Coverage, d.LoadKW, d.PredictedKW = b.CurrentKW, b.Coverage, b.LoadKW, b.PredictedKW
	}

	next := state
	next.Predictor = ev.learned
	next.Stage, d.Transitions = cfg.Stages.step(state.Stage, in, now)
	next.LastTick = now
	d.Stage, d.Held = next.Stage.Stage, next.Stage.Held

	// The highest billing demand so far, with the block just completed.
	if !state.LastTick.IsZero() && state.LastTick.Before(d.Billing.Block.Start) {
		prev := BlockOf(state.LastTick, cfg.BlockLength, cfg.Location)
		if kw := BlockDemand(samples, counters, prev, cfg.MaxGap).KW; kw > next.PeakKW {
			next.PeakKW = kw
		}
	}
	if strictest >= 0 && !d.Held {
		switch {
		case d.AdjustmentKW > 0 && d.Stage >= StageShed:
			cfg.request(&d, math.Max(cfg.AnnualMaxKW, next.PeakKW), d.Limits[strictest].Kind)
		case d.AdjustmentKW < 0:
			d.HeadroomKW = -d.AdjustmentKW
		}
	}
	return d, next
}

// evaluator computes block figures once per block length per tick.
type evaluator struct {
	cfg      Config
	power    []Sample
	counters []EnergySample
	now      time.Time
	learned  PredictorState
	cache    [4]BlockStatus
	cached   int
}

func (ev *evaluator) status(b Block) BlockStatus {
	for i := 0; i < ev.cached; i++ {
		if c := ev.cache[i].Block; c.Start.Equal(b.Start) && c.End.Equal(b.End) {
			return ev.cache[i]
		}
	}
	elapsed := ev.now.Sub(b.Start)
	L := b.Length()
	e := blockEnergy(ev.power, ev.counters, b.Start, ev.now, ev.cfg.MaxGap)
	in := PredictionInput{Block: b, Now: ev.now, EnergyKWh: e.KWh, Covered: e.Covered, Samples: ev.power, MaxGap: ev.cfg.MaxGap,
		Learned: ev.learned}
	p := ev.cfg.Predictor.Predict(in)
	if p.Method == "" {
		p.Method = ev.cfg.Predictor.Name()
	}
	formula := p
	if p.Method != "formula" {
		formula = Formula{}.Predict(in)
	}
	s := BlockStatus{
		Block: b, Elapsed: float64(elapsed) / float64(L), Remaining: b.End.Sub(ev.now),
		EnergyKWh: e.KWh, CurrentKW: e.KWh / L.Hours(), Coverage: 1,
		LoadKW: p.LoadKW, PredictedKW: p.DemandKW, Fallback: p.Fallback,
		Method: p.Method, FormulaKW: formula.DemandKW,
	}
	if elapsed > 0 {
		s.Coverage = e.Coverage()
	}
	if ev.cached < len(ev.cache) {
		ev.cache[ev.cached] = s
		ev.cached++
	}
	return s
}

func (ev *evaluator) limitStatus(l Limit, at LimitAt) LimitStatus {
	s := ev.status(at.Block)
	ls := LimitStatus{Kind: l.Kind(), Label: l.Label(), LimitKW: at.KW, BlockStatus: s}
	ls.TargetRampKW = at.KW * s.Elapsed
	ls.AboveRamp = s.CurrentKW >= ls.TargetRampKW
	r := s.Remaining
	if r < ev.cfg.MinRemaining {
		r = ev.cfg.MinRemaining
	}
	ls.AdjustmentKW = (s.PredictedKW - at.KW) * at.Block.Length().Hours() / r.Hours()
	ls.Ratio = s.PredictedKW / at.KW
	ls.Settled = ev.now.Sub(at.Block.Start) >= ev.cfg.NoAction
	return ls
}

func upTo(s []Sample, now time.Time) []Sample {
	return s[:sort.Search(len(s), func(i int) bool { return s[i].Time.After(now) })]
}

func upToCounters(s []EnergySample, now time.Time) []EnergySample {
	return s[:sort.Search(len(s), func(i int) bool { return s[i].Time.After(now) })]
}
