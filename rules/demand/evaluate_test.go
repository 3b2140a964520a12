package demand

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func flat(from time.Time, minutes int, kw float64) []Sample {
	s := make([]Sample, minutes+1)
	for i := range s {
		s[i] = Sample{Time: from.Add(time.Duration(i) * time.Minute), KW: kw}
	}
	return s
}

// Evaluate reads nothing after now: a longer history gives the same
// decision, and the same inputs give the same decision.
func TestEvaluateIsPureAndCausal(t *testing.T) {
	t0 := time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.Limits = []Limit{ContractLimit{KW: 500, Block: 30 * time.Minute}}
	s := flat(t0.Add(-10*time.Minute), 25, 450)
	// The future holds a huge spike.
	future := append(append([]Sample{}, s...), Sample{Time: t0.Add(15*time.Minute + 30*time.Second), KW: 5000}, Sample{Time: t0.Add(16 * time.Minute), KW: 5000})
	now := t0.Add(15 * time.Minute)
	a, sa := Evaluate(cfg, State{}, s, now)
	b, sb := Evaluate(cfg, State{}, future, now)
	c, _ := Evaluate(cfg, State{}, s, now)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(sa, sb) {
		t.Errorf("future samples changed the decision:\n%+v\n%+v", a, b)
	}
	if !reflect.DeepEqual(a, c) {
		t.Error("same inputs, different decisions")
	}
}

// A block already lost escalates to limit at once, even in the no-action
// time; without limits the stage steps down.
func TestStageExceededAndNoLimits(t *testing.T) {
	t0 := time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.NoAction = 5 * time.Minute
	cfg.Limits = []Limit{ContractLimit{KW: 10, Block: 30 * time.Minute}}
	s := flat(t0.Add(-5*time.Minute), 10, 200) // 200 kW against 10 kW
	d, st := Evaluate(cfg, State{}, s, t0.Add(4*time.Minute))
	if d.Stage != StageLimit || d.Held || len(d.Transitions) != 1 || !strings.Contains(d.Transitions[0].Reason, "current demand") {
		t.Fatalf("stage %s held %v transitions %+v", d.Stage, d.Held, d.Transitions)
	}
	// The adjustment power (95 kWh over 26 min = 219 kW) is more than the
	// site draws: the request is capped at the 200 kW load, the decision
	// says the limit is out of reach, and the block is kept as low as it
	// can go (no annual maximum known: 0).
	if d.Request == nil || math.Abs(d.Request.ShedKW-200) > 1e-9 || d.Request.Limit != "contract" || d.Request.Protect != ProtectAnnualMax {
		t.Errorf("request %+v, want 200 kW protecting the annual maximum", d.Request)
	}
	if !d.Unreachable || !strings.Contains(d.UnreachableReason, "cannot be met this block") || math.Abs(d.AchievableKW-(200-200*26.0/60/0.5)) > 1e-9 {
		t.Errorf("unreachable %v (%s), achievable %.2f", d.Unreachable, d.UnreachableReason, d.AchievableKW)
	}
	cfg.Limits = nil
	d, st = Evaluate(cfg, st, s, t0.Add(5*time.Minute))
	if d.Stage != StageLimit || d.Limit != "" || d.Request != nil || d.HeadroomKW != 0 {
		t.Errorf("first tick without limits: %+v", d)
	}
	d, _ = Evaluate(cfg, st, s, t0.Add(6*time.Minute))
	if d.Stage != StageNormal || len(d.Transitions) != 1 || !strings.Contains(d.Transitions[0].Reason, "no limit in force") {
		t.Errorf("second tick without limits: %s %+v", d.Stage, d.Transitions)
	}
}

// Energy counters drive current demand; kW drives the prediction.
func TestEvaluateMetered(t *testing.T) {
	t0 := time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.Limits = []Limit{ContractLimit{KW: 500, Block: 30 * time.Minute}}
	s := flat(t0.Add(-10*time.Minute), 40, 300)
	var c []EnergySample
	for i := 0; i <= 40; i++ {
		c = append(c, EnergySample{Time: t0.Add(time.Duration(i-10) * time.Minute), KWhTotal: 1000 + 6*float64(i)}) // 360 kW
	}
	d, _ := EvaluateMetered(cfg, State{}, s, c, t0.Add(15*time.Minute))
	// E = 15 × 6 = 90 kWh → 180 kW; predicted (90 + 300 × 0.25) / 0.5 = 330.
	if d.CurrentKW != 180 || d.PredictedKW != 330 {
		t.Errorf("current %v predicted %v, want 180, 330", d.CurrentKW, d.PredictedKW)
	}
}

func TestStageString(t *testing.T) {
	for s := StageNormal; s <= StageLimit; s++ {
		p, err := ParseStage(s.String())
		if err != nil || p != s {
			t.Errorf("%v round trip: %v %v", s, p, err)
		}
	}
	if _, err := ParseStage("panic"); err == nil {
		t.Error("unknown stage parsed")
	}
}
