package demand

import (
	"fmt"
	"time"
)

// Stage is the controller's alarm level (sla_peak.md §5b, Osaki's 注意 /
// 遮断 / 限界).
type Stage int

// Stages in increasing severity.
const (
	StageNormal  Stage = iota // nothing to do
	StageCaution              // 注意: predicted demand near the limit; notify
	StageShed                 // 遮断: predicted above the limit; shed Request.ShedKW
	StageLimit                // 限界: far above, or the block is already lost; shed everything sheddable, page humans
)

var stageNames = [...]string{"normal", "caution", "shed", "limit"}

// String is the stage's configuration name.
func (s Stage) String() string {
	if s >= 0 && int(s) < len(stageNames) {
		return stageNames[s]
	}
	return fmt.Sprintf("Stage(%d)", int(s))
}

// ParseStage parses normal, caution, shed or limit.
func ParseStage(s string) (Stage, error) {
	for i, n := range stageNames {
		if n == s {
			return Stage(i), nil
		}
	}
	return 0, fmt.Errorf("stage %q: want normal, caution, shed or limit", s)
}

// StageConfig holds the thresholds. Each stage is entered when the ratio
// predicted demand / limit reaches its threshold, and left only when the
// ratio stays below (threshold − Hysteresis) for ExitTicks consecutive
// ticks, so noise around a threshold cannot make the stage flap.
//
// The entry thresholds are on the prediction rather than on Osaki's
// "current ≥ target ramp" caution: at a steady load equal to the limit the
// ramp test sits exactly on its threshold all block long. The ramp is
// still reported (Decision.TargetRampKW, AboveRamp).
type StageConfig struct {
	CautionAt float64 // default 0.95
	ShedAt    float64 // default 1.00: where the adjustment power turns positive
	LimitAt   float64 // default 1.05; also entered when current demand alone reaches the limit
	// Hysteresis is subtracted from a stage's threshold to leave it
	// (ratio units; default 0.03).
	Hysteresis float64
	// ExitTicks is K, the consecutive ticks below the exit level needed to
	// step down (default 2, as sla_peak.md §5b's caution exit).
	ExitTicks int
}

func (c StageConfig) enter(s Stage) float64 {
	switch s {
	case StageCaution:
		return c.CautionAt
	case StageShed:
		return c.ShedAt
	case StageLimit:
		return c.LimitAt
	}
	return 0
}

// Validate checks that thresholds increase and hysteresis fits.
func (c StageConfig) Validate() error {
	if !(c.CautionAt > 0 && c.CautionAt <= c.ShedAt && c.ShedAt <= c.LimitAt) {
		return fmt.Errorf("thresholds caution %g, shed %g, limit %g: want 0 < caution <= shed <= limit", c.CautionAt, c.ShedAt, c.LimitAt)
	}
	if c.Hysteresis < 0 || c.Hysteresis >= c.CautionAt {
		return fmt.Errorf("hysteresis %g: want 0 <= hysteresis < caution threshold %g", c.Hysteresis, c.CautionAt)
	}
	if c.ExitTicks < 1 {
		return fmt.Errorf("exit_ticks %d: must be at least 1", c.ExitTicks)
	}
	return nil
}

// StageState is the stage machine's memory between ticks: explicit data,
// so a replay or a restarted daemon resumes exactly.
type StageState struct {
	Stage Stage
	// Since is when Stage was entered.
	Since time.Time
	// BelowTicks counts consecutive ticks whose ratio was below the exit
	// level of Stage.
	BelowTicks int
	// Held is true while the no-action time holds the stage (set by the
	// last tick).
	Held bool
}

// Transition is one stage change.
type Transition struct {
	From, To Stage
	At       time.Time
	Reason   string
	// Cause is what moved the stage: CausePrediction (the predicted
	// demand crossed an entry threshold), CauseCurrent (the demand so far
	// reached a limit: the block is lost) or CauseBelow (the prediction
	// stayed below the exit level), or CauseNoLimit.
	Cause string
	// Limit is the label of the limit that drove the change, with its
	// kind and kW, the predicted and current demand and the adjustment
	// power against it at that tick, and Threshold the ratio crossed
	// (predicted / limit; 1 for CauseCurrent).
	Limit, LimitKind                              string
	LimitKW, PredictedKW, CurrentKW, AdjustmentKW float64
	Threshold                                     float64
}

// Transition causes.
const (
	CausePrediction = "prediction"
	CauseCurrent    = "current demand"
	CauseBelow      = "below exit level"
	CauseNoLimit    = "no limit in force"
)

// annotate fills the limit figures of a transition from l.
func (t *Transition) annotate(l *LimitStatus) {
	if l == nil {
		return
	}
	t.Limit, t.LimitKind, t.LimitKW = l.Label, l.Kind, l.LimitKW
	t.PredictedKW, t.CurrentKW, t.AdjustmentKW = l.PredictedKW, l.CurrentKW, l.AdjustmentKW
}

// stageInput is what the stage machine sees at one tick, already reduced
// over the active limits. Reasons are formatted only when a transition
// happens (formatting every tick for every meter costs more than the
// arithmetic).
type stageInput struct {
	// settled is false when every active limit is still in its block's
	// no-action time: predictions are too noisy to act on, hold.
	settled bool
	// ratio is the largest D_pred / limit among settled limits, and top
	// the limit it came from (nil when no limit is in force).
	ratio float64
	top   *LimitStatus
	// exceeded is true when some limit's current demand alone has reached
	// it: the block is lost whatever happens next.
	exceeded   bool
	exceededBy *LimitStatus
}

func (in stageInput) why() string {
	if in.top == nil {
		return "no limit in force"
	}
	l := in.top
	return fmt.Sprintf("predicted %.1f kW is %.1f%% of %s %.1f kW", l.PredictedKW, 100*l.Ratio, l.Label, l.LimitKW)
}

func (in stageInput) exceededWhy() string {
	l := in.exceededBy
	return fmt.Sprintf("current demand %.1f kW has reached %s %.1f kW", l.CurrentKW, l.Label, l.LimitKW)
}

// indicated is the stage the input calls for on entry thresholds.
func (c StageConfig) indicated(in stageInput) Stage {
	switch {
	case in.exceeded || in.ratio >= c.LimitAt:
		return StageLimit
	case in.ratio >= c.ShedAt:
		return StageShed
	case in.ratio >= c.CautionAt:
		return StageCaution
	}
	return StageNormal
}

// sustained is the highest stage whose exit level the input still meets.
func (c StageConfig) sustained(in stageInput) Stage {
	if in.exceeded {
		return StageLimit
	}
	for s := StageLimit; s > StageNormal; s-- {
		if in.ratio >= c.enter(s)-c.Hysteresis {
			return s
		}
	}
	return StageNormal
}

// step advances the stage machine by one tick. Escalation is immediate;
// de-escalation needs ExitTicks consecutive ticks below the exit level and
// goes to the highest stage still sustained. In the no-action time nothing
// moves (Intech's "No Action time" at the start of each demand period,
// sla_peak.md §2.2: loads hold their state), except that a block already
// lost (exceeded) escalates at once, since that is a measurement, not a
// prediction.
func (c StageConfig) step(st StageState, in stageInput, now time.Time) (StageState, []Transition) {
	st.Held = !in.settled && !in.exceeded
	if st.Held {
		return st, nil
	}
	if ind := c.indicated(in); ind > st.Stage {
		var why string
		if in.exceeded {
			why = in.exceededWhy()
		} else {
			why = in.why()
		}
		tr := Transition{From: st.Stage, To: ind, At: now,
			Reason: fmt.Sprintf("%s (enter %s at %s)", why, ind, c.threshold(ind, in.exceeded))}
		if in.exceeded {
			tr.Cause, tr.Threshold = CauseCurrent, 1
			tr.annotate(in.exceededBy)
		} else {
			tr.Cause, tr.Threshold = CausePrediction, c.enter(ind)
			tr.annotate(in.top)
		}
		return StageState{Stage: ind, Since: now}, []Transition{tr}
	}
	keep := c.sustained(in)
	if keep >= st.Stage {
		st.BelowTicks = 0
		return st, nil
	}
	st.BelowTicks++
	if st.BelowTicks < c.ExitTicks {
		return st, nil
	}
	tr := Transition{From: st.Stage, To: keep, At: now,
		Reason: fmt.Sprintf("%s: below %.0f%% for %d ticks", in.why(), 100*(c.enter(st.Stage)-c.Hysteresis), st.BelowTicks),
		Cause:  CauseBelow, Threshold: c.enter(st.Stage) - c.Hysteresis}
	if in.top == nil {
		tr.Cause = CauseNoLimit
	}
	tr.annotate(in.top)
	return StageState{Stage: keep, Since: now}, []Transition{tr}
}

func (c StageConfig) threshold(s Stage, exceeded bool) string {
	if s == StageLimit && exceeded {
		return "current demand >= limit"
	}
	return fmt.Sprintf("%.0f%%", 100*c.enter(s))
}
