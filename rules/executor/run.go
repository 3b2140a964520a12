package executor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// startRun starts p in a goroutine of its own.
func (e *Executor) startRun(ctx context.Context, p *Plan, actor string) error {
	if err := e.acting(); err != nil {
		return err
	}
	e.mu.Lock()
	if _, running := e.runs[p.ID]; running {
		e.mu.Unlock()
		return fmt.Errorf("plan %s is already running", p.ID)
	}
	rctx, cancel := context.WithCancel(e.bg)
	r := &planRun{cancel: cancel, done: make(chan struct{})}
	e.runs[p.ID] = r
	now := time.Now()
	resumed := p.StartedAt != nil
	if !resumed {
		p.StartedAt = &now
	}
	p.State, p.StateReason = PlanRunning, "started by "+actor
	cp := clonePlan(p)
	e.mu.Unlock()
	if !resumed && e.deps.Meters != nil {
		if kw, err := e.deps.Meters.MeanSiteKW(ctx, now.Add(-e.cfg.MeasureWindow), now); err == nil {
			e.mu.Lock()
			p.BaselineKW = &kw
			cp = clonePlan(p)
			e.mu.Unlock()
		} else {
			e.record(ctx, p.ID, "", e.cfg.Owner, "baseline_unavailable", err.Error())
		}
	}
	if err := e.store.SavePlanState(ctx, cp); err != nil {
		e.mu.Lock()
		delete(e.runs, p.ID)
		e.mu.Unlock()
		cancel()
		return err
	}
	ev := "plan_started"
	if resumed {
		ev = "plan_resumed"
	}
	e.record(ctx, p.ID, "", actor, ev, "")
	e.met.running.Inc()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.met.running.Dec()
		defer close(r.done)
		defer cancel()
		e.runPlan(rctx, p, r)
		e.mu.Lock()
		delete(e.runs, p.ID)
		e.mu.Unlock()
	}()
	return nil
}

type stepResult struct {
	idx   int
	state StepState
}

// runPlan runs the plan's pending steps in dependency order, at most
// Parallel at a time. A failed step stops new steps (those running finish);
// a cancel stops new steps and aborts running ones.
func (e *Executor) runPlan(ctx context.Context, p *Plan, r *planRun) {
	results := make(chan stepResult)
	inflight := 0
	failed := ""
	for {
		if ctx.Err() == nil && failed == "" {
			for _, i := range e.ready(p) {
				if inflight >= e.cfg.Parallel {
					break
				}
				e.mu.Lock()
				p.Steps[i].State = StepRunning // claimed; runStep records it
				e.mu.Unlock()
				inflight++
				go func(i int) { results <- stepResult{i, e.runStep(ctx, p, i)} }(i)
			}
		}
		if inflight == 0 {
			break
		}
		res := <-results
		inflight--
		if res.state == StepFailed && failed == "" {
			e.mu.Lock()
			failed = p.Steps[res.idx].ID
			e.mu.Unlock()
		}
	}

	now := time.Now()
	e.mu.Lock()
	var why string
	var state PlanState
	switch {
	case r.canceled:
		state, why = PlanCancelled, "cancelled by "+r.by
	case ctx.Err() != nil:
		state, why = PlanInterrupted, "stopped: "+r.by+"; finished steps stay finished, the rest waits for an operator"
	case failed != "":
		state, why = PlanFailed, "step "+failed+" failed; the plan stopped there"
	default:
		state, why = PlanDone, "every step done or skipped"
	}
	var changed []Step
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.State.Final() {
			continue
		}
		if state == PlanInterrupted {
			continue // stays pending
		}
		s.State, s.EndedAt = StepCancelled, &now
		switch state {
		case PlanCancelled:
			s.Reason = "not run: " + why
		case PlanFailed:
			s.Reason = "not run: " + why
		default:
			s.Reason = "not run: a step it depends on was not done"
		}
		changed = append(changed, *s)
	}
	p.State, p.StateReason = state, why
	if state != PlanInterrupted {
		p.EndedAt = &now
	}
	cp := clonePlan(p)
	e.mu.Unlock()
	bctx := context.WithoutCancel(ctx)
	for i := range changed {
		_ = e.store.SaveStep(bctx, p.ID, &changed[i])
		e.record(bctx, p.ID, changed[i].ID, e.cfg.Owner, "step_cancelled", changed[i].Reason)
	}
	_ = e.store.SavePlanState(bctx, cp)
	e.record(bctx, p.ID, "", e.cfg.Owner, "plan_"+string(state), why)
	e.met.plans.WithLabelValues(string(state)).Inc()
	for _, c := range changed {
		e.met.steps.WithLabelValues(string(c.Kind), string(c.State)).Inc()
	}
	if state != PlanInterrupted && cp.BaselineKW != nil {
		e.scheduleMeasure(p.ID)
	}
}

// ready lists pending steps whose dependencies are done or skipped.
func (e *Executor) ready(p *Plan) []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	state := map[string]StepState{}
	for _, s := range p.Steps {
		state[s.ID] = s.State
	}
	var out []int
	for i, s := range p.Steps {
		if s.State != StepPending {
			continue
		}
		ok := true
		for _, d := range s.DependsOn {
			if st := state[d]; st != StepDone && st != StepSkipped {
				ok = false
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// runStep checks the step's precondition against the live system, carries
// it out and records every transition.
func (e *Executor) runStep(ctx context.Context, p *Plan, i int) StepState {
	bctx := context.WithoutCancel(ctx)
	now := time.Now()
	e.mu.Lock()
	s := &p.Steps[i]
	s.State, s.Reason, s.StartedAt, s.EndedAt = StepRunning, "", &now, nil
	s.Runs++
	cs := *s
	e.mu.Unlock()
	_ = e.store.SaveStep(bctx, p.ID, &cs)
	e.record(bctx, p.ID, cs.ID, e.cfg.Owner, "step_started", describeStep(cs))

	state, reason := e.execute(ctx, p, &cs)
	if state == StepFailed && ctx.Err() != nil {
		state = StepCancelled
	}
	end := time.Now()
	e.mu.Lock()
	s.State, s.Reason, s.EndedAt, s.Previous = state, reason, &end, cs.Previous
	cs = *s
	e.mu.Unlock()
	_ = e.store.SaveStep(bctx, p.ID, &cs)
	e.record(bctx, p.ID, cs.ID, e.cfg.Owner, "step_"+string(state), reason)
	e.met.steps.WithLabelValues(string(cs.Kind), string(state)).Inc()
	e.met.duration.WithLabelValues(string(cs.Kind)).Observe(end.Sub(now).Seconds())
	return state
}

func describeStep(s Step) string {
	switch s.Kind {
	case StepMigrate:
		return fmt.Sprintf("migrate %s from %s to %s", s.VM, s.From, s.To)
	case StepPowerOff, StepPowerOn:
		return fmt.Sprintf("%s %s", s.Kind, s.Host)
	case StepSetpoint:
		return fmt.Sprintf("set %s to %g", s.Point, *s.Value)
	case StepSetpointRevert:
		return fmt.Sprintf("revert %s", s.Point)
	}
	return string(s.Kind)
}

// errMoot marks a precondition that makes the step pointless (skipped).
type mootError struct{ why string }

func (m mootError) Error() string { return m.why }

func moot(format string, a ...any) error { return mootError{fmt.Sprintf(format, a...)} }

// Precondition checks step s against the live system now. A nil error:
// the step may run. A moot error: the step has nothing to do (skip it). Any
// other error: it must not run (the step fails).
func (e *Executor) Precondition(ctx context.Context, s Step) error {
	excluded, _ := e.store.ExcludedHosts(ctx)
	switch s.Kind {
	case StepMigrate:
		src, err := e.deps.Hypervisors.Occupancy(ctx, s.From)
		if err != nil {
			return fmt.Errorf("source %s does not answer: %w", s.From, err)
		}
		dom, on := src.Has(s.VM)
		if !on {
			if dst, err := e.deps.Hypervisors.Occupancy(ctx, s.To); err == nil {
				if _, there := dst.Has(s.VM); there {
					return moot("%s already runs on %s", s.VM, s.To)
				}
			}
			return moot("%s no longer runs on %s", s.VM, s.From)
		}
		if why, out := excluded[s.To]; out {
			return fmt.Errorf("destination %s is kept out of plans: %s", s.To, why)
		}
		dst, err := e.deps.Hypervisors.Occupancy(ctx, s.To)
		if err != nil {
			return fmt.Errorf("destination %s does not answer: %w", s.To, err)
		}
		e.mu.Lock()
		inflight := e.reserved[s.To]
		e.mu.Unlock()
		free := dst.MemTotalMiB - dst.MemUsedMiB() - inflight - e.cfg.ReserveMiB
		if dom.MemMiB > free {
			return fmt.Errorf("destination %s has no room for %s: %d MiB free (total %d, used %d, in flight %d, reserve %d), needs %d",
				s.To, s.VM, free, dst.MemTotalMiB, dst.MemUsedMiB(), inflight, e.cfg.ReserveMiB, dom.MemMiB)
		}
		return nil
	case StepPowerOff:
		pw, ok := e.deps.Power[s.Host]
		if !ok {
			return fmt.Errorf("host %s has no BMC configured", s.Host)
		}
		if on, err := pw.PowerIsOn(ctx); err == nil && !on {
			return moot("%s is already off (BMC)", s.Host)
		}
		return e.emptyNow(ctx, s.Host)
	case StepPowerOn:
		pw, ok := e.deps.Power[s.Host]
		if !ok {
			return fmt.Errorf("host %s has no BMC configured", s.Host)
		}
		if on, err := pw.PowerIsOn(ctx); err == nil && on {
			if _, err := e.deps.Hypervisors.Occupancy(ctx, s.Host); err == nil {
				return moot("%s is already on and its hypervisor answers", s.Host)
			}
		}
		return nil
	case StepSetpoint, StepSetpointRevert:
		if e.deps.SetPoints == nil {
			return errors.New("no set-point writer configured (obix)")
		}
		if s.Kind == StepSetpointRevert && s.Value == nil {
			if _, err := e.revertValue(s.Point); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown step kind %q", s.Kind)
}

// emptyNow asks the host's hypervisor, right now, whether it runs any
// domain, and counts migrations in flight towards it.
func (e *Executor) emptyNow(ctx context.Context, host string) error {
	occ, err := e.deps.Hypervisors.Occupancy(ctx, host)
	if err != nil {
		return fmt.Errorf("cannot confirm %s is empty (hypervisor does not answer): not powering off: %w", host, err)
	}
	if n := len(occ.Domains); n > 0 {
		names := make([]string, n)
		for i, d := range occ.Domains {
			names[i] = d.Name
		}
		return fmt.Errorf("%s runs %d active domain(s) (%s): not powering off", host, n, strings.Join(names, ", "))
	}
	e.mu.Lock()
	inflight := e.reserved[host]
	e.mu.Unlock()
	if inflight > 0 {
		return fmt.Errorf("a migration to %s is in flight: not powering off", host)
	}
	return nil
}

func (e *Executor) execute(ctx context.Context, p *Plan, s *Step) (StepState, string) {
	if err := e.Precondition(ctx, *s); err != nil {
		var m mootError
		if errors.As(err, &m) {
			return StepSkipped, "moot: " + m.why
		}
		return StepFailed, "precondition: " + err.Error()
	}
	if ctx.Err() != nil {
		return StepCancelled, "cancelled before it started"
	}
	switch s.Kind {
	case StepMigrate:
		return e.migrate(ctx, s)
	case StepPowerOff:
		return e.powerOff(ctx, p, s)
	case StepPowerOn:
		return e.powerOn(ctx, s)
	case StepSetpoint:
		return e.setpoint(ctx, p, s, *s.Value)
	case StepSetpointRevert:
		v := 0.0
		if s.Value != nil {
			v = *s.Value
		} else {
			rv, err := e.revertValue(s.Point)
			if err != nil {
				return StepFailed, err.Error()
			}
			v = rv
		}
		return e.setpoint(ctx, p, s, v)
	}
	return StepFailed, "unknown kind"
}

func (e *Executor) migrate(ctx context.Context, s *Step) (StepState, string) {
	src, err := e.deps.Hypervisors.Occupancy(ctx, s.From)
	if err != nil {
		return StepFailed, fmt.Sprintf("source %s does not answer: %v", s.From, err)
	}
	dom, _ := src.Has(s.VM)
	e.mu.Lock()
	e.reserved[s.To] += dom.MemMiB
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.reserved[s.To] -= dom.MemMiB
		e.mu.Unlock()
	}()
	start := time.Now()
	err = e.deps.Hypervisors.Migrate(ctx, s.VM, s.From, s.To)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		if ctx.Err() != nil {
			return StepCancelled, fmt.Sprintf("aborted after %s: %v", took, err)
		}
		return StepFailed, fmt.Sprintf("after %s: %v", took, err)
	}
	return StepDone, fmt.Sprintf("%s runs on %s and is gone from %s (verified) after %s", s.VM, s.To, s.From, took)
}

// powerOff: soft first; hard only after SoftOffWait and only if the host is
// still empty at that moment.
func (e *Executor) powerOff(ctx context.Context, p *Plan, s *Step) (StepState, string) {
	pw := e.deps.Power[s.Host]
	var notes []string
	if err := pw.PowerOff(ctx, false); err != nil {
		notes = append(notes, "soft off refused: "+err.Error())
		e.record(ctx, p.ID, s.ID, e.cfg.Owner, "step_progress", "soft off refused, checking the host again before a hard off: "+err.Error())
	} else {
		e.record(ctx, p.ID, s.ID, e.cfg.Owner, "step_progress", fmt.Sprintf("soft off sent; waiting up to %s", e.cfg.SoftOffWait))
		if off, _ := e.waitPower(ctx, pw, false, e.cfg.SoftOffWait); off {
			return StepDone, fmt.Sprintf("%s is off (soft)", s.Host)
		}
		if ctx.Err() != nil {
			return StepCancelled, "cancelled while waiting for the soft off; no hard off sent"
		}
		notes = append(notes, fmt.Sprintf("still on %s after the soft off", e.cfg.SoftOffWait))
	}
	if err := e.emptyNow(ctx, s.Host); err != nil {
		return StepFailed, strings.Join(append(notes, "no hard off: "+err.Error()), "; ")
	}
	if err := pw.PowerOff(ctx, true); err != nil {
		// A timed-out command may still run: look again.
		if on, serr := pw.PowerIsOn(ctx); serr == nil && !on {
			return StepDone, fmt.Sprintf("%s is off (hard; the command errored but the BMC reports off: %v)", s.Host, err)
		}
		return StepFailed, strings.Join(append(notes, "hard off: "+err.Error()), "; ")
	}
	off, err := e.waitPower(ctx, pw, false, e.cfg.PowerOffTimeout)
	if !off {
		return StepFailed, fmt.Sprintf("%s still reports on %s after the hard off (%v)", s.Host, e.cfg.PowerOffTimeout, err)
	}
	return StepDone, strings.Join(append(notes, fmt.Sprintf("%s is off (hard, after libvirt showed it empty)", s.Host)), "; ")
}

// powerOn powers the host on and waits until its hypervisor answers.
func (e *Executor) powerOn(ctx context.Context, s *Step) (StepState, string) {
	pw := e.deps.Power[s.Host]
	if err := pw.PowerOn(ctx); err != nil {
		if on, serr := pw.PowerIsOn(ctx); serr != nil || !on {
			return StepFailed, "power on: " + err.Error()
		}
	}
	deadline := time.Now().Add(e.cfg.PowerOnTimeout)
	var last error
	for {
		_, err := e.deps.Hypervisors.Occupancy(ctx, s.Host)
		if err == nil {
			_ = e.store.ReadmitHost(context.WithoutCancel(ctx), s.Host)
			return StepDone, fmt.Sprintf("%s is on and its hypervisor answers", s.Host)
		}
		last = err
		if ctx.Err() != nil {
			return StepCancelled, "cancelled while waiting for the hypervisor"
		}
		if time.Now().After(deadline) {
			why := fmt.Sprintf("did not come back: hypervisor not answering %s after power on (%v)", e.cfg.PowerOnTimeout, last)
			_ = e.store.ExcludeHost(context.WithoutCancel(ctx), s.Host, why, time.Now())
			return StepFailed, why + "; kept out of later plans"
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.cfg.PollInterval):
		}
	}
}

func (e *Executor) waitPower(ctx context.Context, pw Power, want bool, d time.Duration) (bool, error) {
	deadline := time.Now().Add(d)
	var last error
	for {
		on, err := pw.PowerIsOn(ctx)
		if err == nil && on == want {
			return true, nil
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, last
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.cfg.PollInterval):
		}
	}
}

// setpoint reads the value before (kept for the revert), writes, reads back.
func (e *Executor) setpoint(ctx context.Context, p *Plan, s *Step, v float64) (StepState, string) {
	w := e.deps.SetPoints
	prev, err := w.Read(ctx, s.Point)
	if err != nil {
		return StepFailed, fmt.Sprintf("read %s before writing: %v", s.Point, err)
	}
	s.Previous = &prev
	e.mu.Lock()
	for i := range p.Steps {
		if p.Steps[i].ID == s.ID {
			p.Steps[i].Previous = &prev
			cs := p.Steps[i]
			e.mu.Unlock()
			_ = e.store.SaveStep(context.WithoutCancel(ctx), p.ID, &cs)
			e.mu.Lock()
			break
		}
	}
	e.mu.Unlock()
	if err := w.Write(ctx, s.Point, v); err != nil {
		return StepFailed, fmt.Sprintf("write %g to %s: %v", v, s.Point, err)
	}
	got, err := w.Read(ctx, s.Point)
	if err != nil {
		return StepFailed, fmt.Sprintf("read back %s: %v", s.Point, err)
	}
	if math.Abs(got-v) > 1e-6*math.Max(1, math.Abs(v)) {
		return StepFailed, fmt.Sprintf("%s reads back %g after writing %g", s.Point, got, v)
	}
	return StepDone, fmt.Sprintf("%s: %g -> %g (read back)", s.Point, prev, got)
}

// revertValue is the value read before the latest done setpoint on href.
func (e *Executor) revertValue(href string) (float64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var best *Step
	for _, p := range e.plans {
		for i := range p.Steps {
			s := &p.Steps[i]
			if s.Kind == StepSetpoint && s.Point == href && s.State == StepDone && s.Previous != nil && s.EndedAt != nil {
				if best == nil || s.EndedAt.After(*best.EndedAt) {
					best = s
				}
			}
		}
	}
	if best == nil {
		return 0, fmt.Errorf("no done set-point on %s to revert (and no value given)", href)
	}
	return *best.Previous, nil
}
