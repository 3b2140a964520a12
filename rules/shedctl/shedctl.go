// Package shedctl decides when the daemon sheds and restores: it turns the
// demand controller's decisions into plan requests for the planner
// (rules/shed), one shed in force at a time, and decides when the hosts a
// shed released come back (headroom that has lasted, or the end of the
// shedding window less the hosts' power-on latency). It is pure: state and
// time in, decision out; cmd/setsuden wires it to the demand controller,
// the planner and the executor.
package shedctl

import (
	"fmt"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// Config tunes the decisions.
type Config struct {
	// RestoreAfter is how long headroom (no shed request, stage below
	// shed) must last before a restore.
	RestoreAfter time.Duration
}

// InForce is the shed in force: planned, and not yet restored.
type InForce struct {
	// PlanID is the executor's plan ("" when the planner found nothing to
	// do: nothing to restore then).
	PlanID string
	// KW is what was asked; By the end of the window it protects.
	KW float64
	By time.Time
	// PowerOnLead is the longest power-on latency of the hosts the plan
	// releases: a restore for the window's end starts this early.
	PowerOnLead time.Duration
	Since       time.Time
	// Partial is set when a restore bounded by the headroom could not
	// bring everything back (a stage or host did not fit): the rest comes
	// back, unbounded, when the shedding window ends (less the power-on
	// lead), not on a later run of headroom.
	Partial bool
}

// State is what the controller remembers between ticks.
type State struct {
	Shed *InForce
	// HeadroomSince is when the current run of headroom began (zero: none).
	HeadroomSince time.Time
}

// Input is one demand decision and what the executor is doing.
type Input struct {
	Now        time.Time
	Stage      demand.Stage
	Held       bool
	Request    *demand.Request
	HeadroomKW float64
	// Busy is set while a plan of the executor runs: nothing new is
	// submitted then (a request is logged, not stacked).
	Busy bool
}

// Action is what to do now.
type Action string

const (
	None    Action = "none"
	Shed    Action = "shed"    // plan and submit a shed of KW by By
	Restore Action = "restore" // plan and submit the restore of the shed in force
	Extend  Action = "extend"  // the shed in force now protects until By
	Hold    Action = "hold"    // a request that is not acted on (Reason says why)
)

// Decision is the outcome of one tick.
type Decision struct {
	Action Action
	KW     float64
	By     time.Time
	// RestoreKW is the headroom a restore may use (0: no bound, the window
	// has ended).
	RestoreKW float64
	Reason    string
}

// Decide is one tick. The returned state assumes the action is carried
// out; the caller records the plan with Planned (or drops the shed with
// Dropped when planning failed).
func Decide(cfg Config, st State, in Input) (Decision, State) {
	req := in.Request
	if req != nil && req.ShedKW > 0 {
		st.HeadroomSince = time.Time{}
		if st.Shed == nil {
			if in.Busy {
				return Decision{Action: Hold, KW: req.ShedKW, By: req.By,
					Reason: "a plan is still running: the request is logged, not stacked"}, st
			}
			st.Shed = &InForce{KW: req.ShedKW, By: req.By, Since: in.Now}
			return Decision{Action: Shed, KW: req.ShedKW, By: req.By,
				Reason: fmt.Sprintf("stage %s: %.1f kW to shed by %s (limit %s, protects %s)", in.Stage, req.ShedKW, req.By.Format(time.RFC3339), req.Limit, req.Protect)}, st
		}
		if req.By.After(st.Shed.By) {
			st.Shed.By = req.By
			return Decision{Action: Extend, KW: req.ShedKW, By: req.By,
				Reason: "the shed in force now protects the next window too"}, st
		}
		if req.ShedKW > st.Shed.KW {
			return Decision{Action: Hold, KW: req.ShedKW, By: req.By,
				Reason: fmt.Sprintf("a shed plan (%s, %.1f kW) is in force: the larger request is logged, not stacked", st.Shed.PlanID, st.Shed.KW)}, st
		}
		return Decision{Action: None}, st
	}
	if st.Shed == nil {
		st.HeadroomSince = time.Time{}
		return Decision{Action: None}, st
	}
	headroom := !in.Held && in.Stage < demand.StageShed
	if !headroom {
		st.HeadroomSince = time.Time{}
	} else if st.HeadroomSince.IsZero() {
		st.HeadroomSince = in.Now
	}
	var d Decision
	switch {
	case !in.Now.Before(st.Shed.By.Add(-st.Shed.PowerOnLead)):
		d = Decision{Action: Restore, By: st.Shed.By,
			Reason: fmt.Sprintf("the shedding window ends at %s; the hosts take up to %s to power on", st.Shed.By.Format(time.RFC3339), st.Shed.PowerOnLead)}
	case headroom && !st.Shed.Partial && in.Now.Sub(st.HeadroomSince) >= cfg.RestoreAfter:
		d = Decision{Action: Restore, By: in.Now, RestoreKW: max(in.HeadroomKW, 0),
			Reason: fmt.Sprintf("headroom has lasted %s (restore_after %s)", in.Now.Sub(st.HeadroomSince).Round(time.Second), cfg.RestoreAfter)}
	default:
		return Decision{Action: None}, st
	}
	if in.Busy {
		return Decision{Action: Hold, Reason: "restore due, but a plan is still running: it waits"}, st
	}
	if st.Shed.PlanID == "" {
		// Nothing was planned: nothing to bring back.
		d.Action = None
	}
	st.Shed, st.HeadroomSince = nil, time.Time{}
	return d, st
}

// Planned records the shed plan submitted for the shed in force.
func Planned(st State, planID string, powerOnLead time.Duration) State {
	if st.Shed != nil {
		c := *st.Shed
		c.PlanID, c.PowerOnLead = planID, powerOnLead
		st.Shed = &c
	}
	return st
}

// PartlyRestored keeps a shed in force after a headroom-bounded restore
// that left some of it applied (nothing at all, or some stages or hosts):
// the rest is restored at the window's end, so no stage or host is left
// shed once the controller has forgotten the shed.
func PartlyRestored(st State, shed InForce) State {
	shed.Partial = true
	st.Shed, st.HeadroomSince = &shed, time.Time{}
	return st
}

// Deferred puts a shed back in force after a restore that found nothing
// to do or failed: the next restore is tried after another RestoreAfter.
func Deferred(st State, shed InForce, now time.Time) State {
	st.Shed, st.HeadroomSince = &shed, now
	return st
}
