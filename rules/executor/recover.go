package executor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// recoverPlan handles a plan the store says was running when this executor
// started: the last one died (SIGKILL, crash, power loss). Each step that
// was running is reconciled with the live system (a migration still in
// flight is aborted; an effect that is observed counts as done); done
// steps are never run again. The plan is then interrupted, for an operator
// to approve; in auto mode it resumes by itself, but only if the
// precondition of every step that could run next holds.
func (e *Executor) recoverPlan(ctx context.Context, p *Plan) {
	e.record(ctx, p.ID, "", e.cfg.Owner, "plan_found_running", "the executor stopped while this plan ran; reconciling with the live system")
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.State != StepRunning {
			continue
		}
		state, why := e.reconcile(ctx, *s)
		now := time.Now()
		e.mu.Lock()
		s.State, s.Reason = state, why
		if state.Final() {
			s.EndedAt = &now
		}
		cs := *s
		e.mu.Unlock()
		_ = e.store.SaveStep(ctx, p.ID, &cs)
		e.record(ctx, p.ID, s.ID, e.cfg.Owner, "step_reconciled", string(state)+": "+why)
	}
	done, left := 0, 0
	for _, s := range p.Steps {
		if s.State.Final() {
			done++
		} else {
			left++
		}
	}
	e.mu.Lock()
	p.State = PlanInterrupted
	p.StateReason = fmt.Sprintf("executor restarted while the plan ran: %d steps finished, %d left for an operator", done, left)
	cp := clonePlan(p)
	e.mu.Unlock()
	_ = e.store.SavePlanState(ctx, cp)
	e.record(ctx, p.ID, "", e.cfg.Owner, "plan_interrupted", cp.StateReason)
	if left == 0 {
		e.finishRecovered(ctx, p)
		return
	}
	e.maybeResume(ctx, p)
}

// maybeResume resumes an interrupted plan by itself in auto mode only, and
// only if the precondition of every step that could run next holds now.
func (e *Executor) maybeResume(ctx context.Context, p *Plan) {
	if e.Mode() != ModeAuto {
		return
	}
	var problems []string
	next := e.ready(p)
	if len(next) == 0 {
		e.record(ctx, p.ID, "", e.cfg.Owner, "resume_refused", "no step can run next")
		return
	}
	for _, i := range next {
		if err := e.Precondition(ctx, p.Steps[i]); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p.Steps[i].ID, err))
		}
	}
	if len(problems) > 0 {
		e.record(ctx, p.ID, "", e.cfg.Owner, "resume_refused", "auto mode, but not every precondition holds: "+strings.Join(problems, "; "))
		return
	}
	if err := e.startRun(ctx, p, e.cfg.Owner+" (auto resume)"); err != nil {
		e.record(ctx, p.ID, "", e.cfg.Owner, "resume_refused", err.Error())
	}
}

// finishRecovered closes a recovered plan whose every step is final.
func (e *Executor) finishRecovered(ctx context.Context, p *Plan) {
	now := time.Now()
	e.mu.Lock()
	state := PlanDone
	for _, s := range p.Steps {
		if s.State == StepFailed {
			state = PlanFailed
		} else if s.State == StepCancelled && state == PlanDone {
			state = PlanCancelled
		}
	}
	p.State, p.StateReason, p.EndedAt = state, "every step had finished when the executor restarted", &now
	cp := clonePlan(p)
	e.mu.Unlock()
	_ = e.store.SavePlanState(ctx, cp)
	e.record(ctx, p.ID, "", e.cfg.Owner, "plan_"+string(state), cp.StateReason)
}

// reconcile finds out what became of a step that was running when the
// executor died. Pending: its effect is not there (it may run again once
// its precondition holds). Done: the effect is observed.
func (e *Executor) reconcile(ctx context.Context, s Step) (StepState, string) {
	hv := e.deps.Hypervisors
	switch s.Kind {
	case StepMigrate:
		aborted, err := hv.AbortJob(ctx, s.From, s.VM)
		note := ""
		if err != nil {
			note = fmt.Sprintf(" (abort check on %s: %v)", s.From, err)
		} else if aborted {
			note = " (its migration was still in flight: aborted)"
		}
		// An aborted incoming domain takes a moment to leave the
		// destination: wait until the VM is in one place.
		deadline := time.Now().Add(30 * time.Second)
		for {
			src, serr := hv.Occupancy(ctx, s.From)
			dst, derr := hv.Occupancy(ctx, s.To)
			_, onSrc := src.Has(s.VM)
			_, onDst := dst.Has(s.VM)
			switch {
			case serr == nil && derr == nil && onDst && !onSrc:
				return StepDone, fmt.Sprintf("%s runs on %s and is gone from %s: the migration completed while the executor was down%s", s.VM, s.To, s.From, note)
			case serr == nil && onSrc && (derr != nil || !onDst):
				return StepPending, fmt.Sprintf("interrupted by a restart; %s still runs on %s%s", s.VM, s.From, note)
			}
			if time.Now().After(deadline) {
				return StepPending, fmt.Sprintf("interrupted by a restart; where %s runs is unclear (source: %v, destination: %v)%s", s.VM, serr, derr, note)
			}
			time.Sleep(e.cfg.PollInterval)
		}
	case StepPowerOff:
		if pw, ok := e.deps.Power[s.Host]; ok {
			if on, err := pw.PowerIsOn(ctx); err == nil && !on {
				return StepDone, s.Host + " is off (BMC)"
			}
		}
		return StepPending, "interrupted by a restart; " + s.Host + " is not off"
	case StepPowerOn:
		if pw, ok := e.deps.Power[s.Host]; ok {
			if on, err := pw.PowerIsOn(ctx); err == nil && on {
				if _, err := hv.Occupancy(ctx, s.Host); err == nil {
					return StepDone, s.Host + " is on and its hypervisor answers"
				}
			}
		}
		return StepPending, "interrupted by a restart; " + s.Host + " is not answering yet"
	case StepSetpoint:
		if e.deps.SetPoints != nil && s.Value != nil {
			if v, err := e.deps.SetPoints.Read(ctx, s.Point); err == nil && math.Abs(v-*s.Value) <= 1e-6*math.Max(1, math.Abs(*s.Value)) {
				if s.Previous == nil {
					return StepDone, fmt.Sprintf("%s reads %g (written before the restart; the value before is unknown)", s.Point, v)
				}
				return StepDone, fmt.Sprintf("%s reads %g (written before the restart)", s.Point, v)
			}
		}
		return StepPending, "interrupted by a restart; " + s.Point + " does not read the target value"
	}
	return StepPending, "interrupted by a restart"
}

// RestorePlan builds the plan that undoes the site's shedding: every host a
// done power_off left off is powered on, every done setpoint is written
// back to the value read before it. Hosts and points already restored by a
// later done step are left out.
func (e *Executor) RestorePlan(id string) (Plan, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	type mark struct {
		at   time.Time
		undo bool // the latest done step on it was a shed
	}
	hosts, points := map[string]mark{}, map[string]mark{}
	for _, p := range e.plans {
		for _, s := range p.Steps {
			if s.State != StepDone || s.EndedAt == nil {
				continue
			}
			set := func(m map[string]mark, k string, undo bool) {
				if cur, ok := m[k]; !ok || s.EndedAt.After(cur.at) {
					m[k] = mark{*s.EndedAt, undo}
				}
			}
			switch s.Kind {
			case StepPowerOff:
				set(hosts, s.Host, true)
			case StepPowerOn:
				set(hosts, s.Host, false)
			case StepSetpoint:
				set(points, s.Point, true)
			case StepSetpointRevert:
				set(points, s.Point, false)
			}
		}
	}
	p := Plan{ID: id, Kind: "restore", Reason: "restore after shedding", CreatedAt: time.Now()}
	n := 0
	for _, h := range sortedKeys(hosts) {
		if hosts[h].undo {
			n++
			p.Steps = append(p.Steps, Step{ID: fmt.Sprintf("r%d", n), Kind: StepPowerOn, Host: h})
		}
	}
	for _, pt := range sortedKeys(points) {
		if points[pt].undo {
			n++
			p.Steps = append(p.Steps, Step{ID: fmt.Sprintf("r%d", n), Kind: StepSetpointRevert, Point: pt})
		}
	}
	if len(p.Steps) == 0 {
		return p, errors.New("nothing to restore: no host left off and no set-point left changed by a plan")
	}
	return p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// scheduleMeasure measures the plan's saving once MeasureWindow has passed
// after it ended: baseline (the window before it started) minus the mean
// over the window after it ended, from the meters.
func (e *Executor) scheduleMeasure(id string) {
	if e.deps.Meters == nil {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		p := e.Get(id)
		if p == nil || p.EndedAt == nil || p.BaselineKW == nil {
			return
		}
		until := p.EndedAt.Add(e.cfg.MeasureWindow)
		select {
		case <-e.bg.Done():
			return
		case <-time.After(time.Until(until)):
		}
		ctx, cancel := context.WithTimeout(e.bg, time.Minute)
		defer cancel()
		after, err := e.deps.Meters.MeanSiteKW(ctx, *p.EndedAt, until)
		if err != nil {
			e.record(ctx, id, "", e.cfg.Owner, "measure_failed", err.Error())
			return
		}
		saved := *p.BaselineKW - after
		e.mu.Lock()
		pp := e.plans[id]
		pp.MeasuredKW = &saved
		cp := clonePlan(pp)
		e.mu.Unlock()
		_ = e.store.SavePlanState(ctx, cp)
		e.record(ctx, id, "", e.cfg.Owner, "plan_measured", fmt.Sprintf("measured %.3f kW saved (baseline %.3f kW, after %.3f kW over %s) vs %.3f kW predicted",
			saved, *p.BaselineKW, after, e.cfg.MeasureWindow, p.PredictedKW))
	}()
}
