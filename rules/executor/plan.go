// Package executor carries shedding plans out: live migrations, BMC power
// off and on, facility set-points, and their restore. It owns plan state
// and the audit store; the planner (rules/shed) stays pure and hands it
// plans as data. The executor never trusts the plan about the world: before
// each step it asks the live system whether the step still makes sense and
// is still safe (the VM is on its source, the destination has room, a host
// to power off runs no domain at that very moment).
package executor

import (
	"fmt"
	"time"
)

// Mode is what the executor does with a plan.
type Mode string

const (
	// ModeOff records plans as ignored.
	ModeOff Mode = "off"
	// ModeAdvise records and shows plans; nothing runs (the default).
	ModeAdvise Mode = "advise"
	// ModeApprove runs a plan once an operator approves it.
	ModeApprove Mode = "approve"
	// ModeAuto runs plans at once.
	ModeAuto Mode = "auto"
)

// ParseMode accepts the four modes; "" is advise.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "":
		return ModeAdvise, nil
	case ModeOff, ModeAdvise, ModeApprove, ModeAuto:
		return Mode(s), nil
	}
	return "", fmt.Errorf("executor mode %q: want off, advise, approve or auto", s)
}

// StepKind is what a step does (the same names as rules/shed).
type StepKind string

const (
	StepMigrate        StepKind = "migrate"
	StepPowerOff       StepKind = "power_off"
	StepPowerOn        StepKind = "power_on"
	StepSetpoint       StepKind = "setpoint"
	StepSetpointRevert StepKind = "setpoint_revert"
)

// StepState is where a step is.
type StepState string

const (
	StepPending   StepState = "pending"
	StepRunning   StepState = "running"
	StepDone      StepState = "done"
	StepFailed    StepState = "failed"
	StepSkipped   StepState = "skipped"
	StepCancelled StepState = "cancelled"
)

// Final reports whether the state is an end state.
func (s StepState) Final() bool {
	return s == StepDone || s == StepFailed || s == StepSkipped || s == StepCancelled
}

// PlanState is where a plan is.
type PlanState string

const (
	PlanIgnored  PlanState = "ignored"  // submitted in mode off
	PlanAdvised  PlanState = "advised"  // mode advise: shown, never run
	PlanAwaiting PlanState = "awaiting" // mode approve: waits for an operator
	PlanRunning  PlanState = "running"
	// PlanInterrupted: the executor stopped (crash, SIGKILL) while the plan
	// ran; finished steps stay finished, the rest waits for an operator
	// (or, in auto mode, resumes if every precondition still holds).
	PlanInterrupted PlanState = "interrupted"
	PlanDone        PlanState = "done"
	PlanFailed      PlanState = "failed"
	PlanCancelled   PlanState = "cancelled"
)

// Final reports whether the plan is over.
func (s PlanState) Final() bool {
	return s == PlanIgnored || s == PlanDone || s == PlanFailed || s == PlanCancelled
}

// Step is one action of a plan. Fields not used by its kind are empty.
type Step struct {
	ID   string   `json:"id"`
	Kind StepKind `json:"kind"`
	// VM, From, To for migrate.
	VM   string `json:"vm,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Host for power_off and power_on.
	Host string `json:"host,omitempty"`
	// Point (an oBIX href) and Value for setpoint; for setpoint_revert a
	// nil Value means "the value read before the last setpoint on Point".
	Point string   `json:"point,omitempty"`
	Value *float64 `json:"value,omitempty"`
	// DependsOn are steps that must be done (or skipped as moot) first.
	DependsOn        []string `json:"depends_on,omitempty"`
	ExpectedSavingKW float64  `json:"expected_saving_kw,omitempty"`

	// Run state, kept in the audit store.
	State     StepState  `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// Runs counts how often the step was started (an interrupted step may
	// be started again; a done step never is).
	Runs int `json:"runs"`
	// Previous is the set-point's value read before the write.
	Previous *float64 `json:"previous,omitempty"`
}

// Plan is what the executor runs: steps and what they should save.
type Plan struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // shed, consolidate, restore
	Reason string `json:"reason,omitempty"`
	// PredictedKW is the site kW the planner expects the plan to save.
	PredictedKW float64   `json:"predicted_kw"`
	CreatedAt   time.Time `json:"created_at"`
	Steps       []Step    `json:"steps"`

	State       PlanState  `json:"state"`
	StateReason string     `json:"state_reason,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	// BaselineKW is the site's mean power over the window before the plan
	// ran; MeasuredKW the saving measured over the window after it ended
	// (baseline - after), from the meters.
	BaselineKW *float64 `json:"baseline_kw,omitempty"`
	MeasuredKW *float64 `json:"measured_kw,omitempty"`
}

// Validate checks a submitted plan: ids unique, every kind's fields set,
// dependencies known and earlier.
func (p *Plan) Validate() error {
	if p.ID == "" {
		return fmt.Errorf("plan: id is empty")
	}
	if len(p.Steps) == 0 {
		return fmt.Errorf("plan %s: no steps", p.ID)
	}
	seen := map[string]bool{}
	for i, s := range p.Steps {
		where := fmt.Sprintf("plan %s step %d (%s)", p.ID, i+1, s.ID)
		if s.ID == "" {
			return fmt.Errorf("%s: id is empty", where)
		}
		if seen[s.ID] {
			return fmt.Errorf("%s: id used twice", where)
		}
		switch s.Kind {
		case StepMigrate:
			if s.VM == "" || s.From == "" || s.To == "" || s.From == s.To {
				return fmt.Errorf("%s: migrate needs vm, from and to (different hosts)", where)
			}
		case StepPowerOff, StepPowerOn:
			if s.Host == "" {
				return fmt.Errorf("%s: %s needs host", where, s.Kind)
			}
		case StepSetpoint:
			if s.Point == "" || s.Value == nil {
				return fmt.Errorf("%s: setpoint needs point and value", where)
			}
		case StepSetpointRevert:
			if s.Point == "" {
				return fmt.Errorf("%s: setpoint_revert needs point", where)
			}
		default:
			return fmt.Errorf("%s: kind %q: want migrate, power_off, power_on, setpoint or setpoint_revert", where, s.Kind)
		}
		for _, d := range s.DependsOn {
			if !seen[d] {
				return fmt.Errorf("%s: depends on %q, which is not an earlier step", where, d)
			}
		}
		seen[s.ID] = true
	}
	return nil
}
