package demandctl

import (
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// TransitionEventName is the webhook event of a stage transition.
const TransitionEventName = "demand.stage"

// TransitionEvent is the JSON posted to the webhooks on a stage change.
// Exactly one of Request (stage shed or limit, kW to take off now and keep
// off until By) and HeadroomKW (kW that may come back) is set, or neither.
type TransitionEvent struct {
	Site        string       `json:"site"`
	From        string       `json:"from"`
	To          string       `json:"to"`
	At          time.Time    `json:"at"`
	Reason      string       `json:"reason"`
	Limit       string       `json:"limit,omitempty"`
	LimitKW     float64      `json:"limit_kw,omitempty"`
	PredictedKW float64      `json:"predicted_kw"`
	DemandKW    float64      `json:"demand_kw"`
	BlockStart  time.Time    `json:"block_start"`
	BlockEnd    time.Time    `json:"block_end"`
	Request     *RequestView `json:"request,omitempty"`
	HeadroomKW  float64      `json:"headroom_kw,omitempty"`
	// Cause is prediction, current demand, below exit level or no limit in
	// force; DrivenBy the limit whose figures moved the stage.
	Cause    string `json:"cause,omitempty"`
	DrivenBy string `json:"driven_by,omitempty"`
	// Unreachable: the limit cannot be met this block (see DecisionView).
	Unreachable       bool   `json:"unreachable,omitempty"`
	UnreachableReason string `json:"unreachable_reason,omitempty"`
}

// RequestView is a demand.Request in JSON.
type RequestView struct {
	ShedKW float64   `json:"shed_kw"`
	By     time.Time `json:"by"`
	Limit  string    `json:"limit,omitempty"`
	// Protect is limit, annual_max or next_block.
	Protect string `json:"protect,omitempty"`
}

// NewTransitionEvent builds the webhook payload of one transition.
func NewTransitionEvent(site string, d demand.Decision, tr demand.Transition) TransitionEvent {
	return TransitionEvent{
		Site: site, From: tr.From.String(), To: tr.To.String(), At: tr.At, Reason: tr.Reason,
		Limit: d.Limit, LimitKW: finite(d.LimitKW), PredictedKW: finite(d.PredictedKW), DemandKW: finite(d.CurrentKW),
		BlockStart: d.Block.Start, BlockEnd: d.Block.End,
		Request: requestView(d.Request), HeadroomKW: finite(d.HeadroomKW),
		Cause: tr.Cause, DrivenBy: tr.Limit, Unreachable: d.Unreachable, UnreachableReason: d.UnreachableReason,
	}
}

func requestView(r *demand.Request) *RequestView {
	if r == nil {
		return nil
	}
	return &RequestView{ShedKW: finite(r.ShedKW), By: r.By, Limit: r.Limit, Protect: r.Protect}
}

// DecisionView is a demand.Decision in JSON (GET /api/v1/demand, setsuden
// demand now --json).
type DecisionView struct {
	Site         string           `json:"site"`
	Time         time.Time        `json:"time"`
	BlockStart   time.Time        `json:"block_start"`
	BlockEnd     time.Time        `json:"block_end"`
	Elapsed      float64          `json:"elapsed"`
	RemainingS   float64          `json:"remaining_s"`
	DemandKW     float64          `json:"demand_kw"`
	LoadKW       float64          `json:"load_kw"`
	PredictedKW  float64          `json:"predicted_kw"`
	Coverage     float64          `json:"coverage"`
	Limit        string           `json:"limit,omitempty"`
	LimitKW      float64          `json:"limit_kw,omitempty"`
	TargetKW     float64          `json:"target_kw,omitempty"`
	AdjustmentKW float64          `json:"adjustment_kw,omitempty"`
	Stage        string           `json:"stage"`
	StageLevel   int              `json:"stage_level"`
	Held         bool             `json:"held"`
	Request      *RequestView     `json:"request,omitempty"`
	HeadroomKW   float64          `json:"headroom_kw,omitempty"`
	Billing      BlockView        `json:"billing"`
	Limits       []LimitView      `json:"limits"`
	Transitions  []TransitionView `json:"transitions,omitempty"`
	// Method is the predictor that made PredictedKW; FormulaKW the
	// formula's prediction beside it.
	Method    string  `json:"method,omitempty"`
	FormulaKW float64 `json:"formula_kw"`
	// Unreachable: the strictest limit cannot be met this block by the
	// loads that can still be shed; the reason says what is protected.
	Unreachable       bool    `json:"unreachable,omitempty"`
	UnreachableReason string  `json:"unreachable_reason,omitempty"`
	AchievableKW      float64 `json:"achievable_kw,omitempty"`
	// ExternalTargets and Caps are the controller's, not the decision's.
	ExternalTargets []TargetView    `json:"external_targets,omitempty"`
	Caps            []CapStatusView `json:"caps_from_history,omitempty"`
}

// BlockView is one block's figures.
type BlockView struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	DemandKW    float64   `json:"demand_kw"`
	PredictedKW float64   `json:"predicted_kw"`
	Coverage    float64   `json:"coverage"`
}

// LimitView is one active limit.
type LimitView struct {
	Kind         string    `json:"kind"`
	Label        string    `json:"label"`
	LimitKW      float64   `json:"limit_kw"`
	Block        BlockView `json:"block"`
	TargetKW     float64   `json:"target_kw"`
	AdjustmentKW float64   `json:"adjustment_kw"`
	Ratio        float64   `json:"ratio"`
	Settled      bool      `json:"settled"`
}

// TransitionView is a stage change.
type TransitionView struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// TargetView is an external target in JSON; the API's POST body has the
// same fields.
type TargetView struct {
	KW     float64   `json:"kw"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Source string    `json:"source"`
	Block  string    `json:"block,omitempty"`
}

// CapStatusView is how a cap from history was completed.
type CapStatusView struct {
	Label      string    `json:"label"`
	At         time.Time `json:"at"`
	BaselineKW float64   `json:"baseline_kw,omitempty"`
	// BaselineHour is the start of last year's hour the baseline came from.
	BaselineHour *time.Time `json:"baseline_hour,omitempty"`
	Reduction    float64    `json:"reduction"`
	Variation    float64    `json:"variation,omitempty"`
	Error        string     `json:"error,omitempty"`
}

// NewDecisionView renders a decision.
func NewDecisionView(site string, d demand.Decision) DecisionView {
	v := DecisionView{
		Site: site, Time: d.Time, BlockStart: d.Block.Start, BlockEnd: d.Block.End,
		Elapsed: finite(d.Elapsed), RemainingS: d.Remaining.Seconds(),
		DemandKW: finite(d.CurrentKW), LoadKW: finite(d.LoadKW), PredictedKW: finite(d.PredictedKW), Coverage: finite(d.Coverage),
		Limit: d.Limit, LimitKW: finite(d.LimitKW), TargetKW: finite(d.TargetRampKW), AdjustmentKW: finite(d.AdjustmentKW),
		Stage: d.Stage.String(), StageLevel: int(d.Stage), Held: d.Held,
		Request: requestView(d.Request), HeadroomKW: finite(d.HeadroomKW),
		Billing: blockView(d.Billing), Limits: []LimitView{},
		Method: d.Billing.Method, FormulaKW: finite(d.Billing.FormulaKW),
		Unreachable: d.Unreachable, UnreachableReason: d.UnreachableReason,
	}
	if d.Unreachable {
		v.AchievableKW = finite(d.AchievableKW)
	}
	for _, l := range d.Limits {
		v.Limits = append(v.Limits, LimitView{Kind: l.Kind, Label: l.Label, LimitKW: finite(l.LimitKW), Block: blockView(l.BlockStatus),
			TargetKW: finite(l.TargetRampKW), AdjustmentKW: finite(l.AdjustmentKW), Ratio: finite(l.Ratio), Settled: l.Settled})
	}
	for _, tr := range d.Transitions {
		v.Transitions = append(v.Transitions, TransitionView{From: tr.From.String(), To: tr.To.String(), At: tr.At, Reason: tr.Reason})
	}
	return v
}

func blockView(b demand.BlockStatus) BlockView {
	return BlockView{Start: b.Block.Start, End: b.Block.End, DemandKW: finite(b.CurrentKW), PredictedKW: finite(b.PredictedKW), Coverage: finite(b.Coverage)}
}

func targetView(t demand.ExternalTarget) TargetView {
	v := TargetView{KW: t.KW, From: t.From, To: t.To, Source: t.Source}
	if t.Block != 0 {
		v.Block = t.Block.String()
	}
	return v
}

func capStatusView(s CapStatus) CapStatusView {
	v := CapStatusView{Label: s.Label, At: s.At, BaselineKW: s.BaselineKW, Reduction: s.Reduction, Variation: s.Variation}
	if !s.BaselineHour.Start.IsZero() {
		h := s.BaselineHour.Start
		v.BaselineHour = &h
	}
	if s.Err != nil {
		v.Error = s.Err.Error()
	}
	return v
}
