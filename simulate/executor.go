package simulate

import (
	"time"

	"github.com/setsuden/setsuden/rules/shed"
)

// executor carries a plan out in simulated time: each step starts when
// the plan's schedule says (stretched by the latency factor) and its
// dependencies are done, and takes its expected duration (stretched). A
// power_off checks, at the moment it acts, that the host runs no VM; a
// failed step stops the plan: no step that depends on it runs.
type executor struct {
	w      *world
	factor float64
	plan   *shed.Plan
	t0     time.Time
	state  map[string]*stepRun
	byName map[string]int
	vmIdx  map[string]int
}

type stepRun struct {
	started, done, failed bool
	end                   time.Time
}

func newExecutor(w *world, factor float64) *executor {
	e := &executor{w: w, factor: factor, byName: map[string]int{}, vmIdx: map[string]int{}}
	for i, h := range w.hosts {
		e.byName[h.name] = i
	}
	for i, v := range w.vms {
		e.vmIdx[v.name] = i
	}
	return e
}

func (e *executor) busy() bool { return e.plan != nil }

func (e *executor) start(p shed.Plan, t time.Time) {
	e.plan, e.t0, e.state = &p, t, map[string]*stepRun{}
	for _, s := range p.Steps {
		e.state[s.ID] = &stepRun{}
	}
}

func (e *executor) stretch(d shed.Duration) time.Duration {
	return time.Duration(float64(d.D()) * e.factor)
}

// advance runs every step that can start or finish by t.
func (e *executor) advance(t time.Time, res *Result) {
	if e.plan == nil {
		return
	}
	for progress := true; progress; {
		progress = false
		for _, s := range e.plan.Steps {
			st := e.state[s.ID]
			if st.done || st.failed {
				continue
			}
			if !st.started {
				ready, blocked := true, false
				notBefore := e.t0.Add(e.stretch(s.ExpectedStart))
				for _, d := range s.DependsOn {
					ds := e.state[d]
					switch {
					case ds.failed:
						blocked = true
					case !ds.done:
						ready = false
					case ds.end.After(notBefore):
						notBefore = ds.end
					}
				}
				if blocked {
					st.failed = true
					progress = true
					continue
				}
				if !ready || notBefore.After(t) {
					continue
				}
				if !e.begin(s, notBefore, res) {
					st.failed = true
					res.FailedSteps++
					progress = true
					continue
				}
				st.started = true
				st.end = notBefore.Add(e.stretch(s.ExpectedDuration))
				progress = true
			}
			if st.started && !st.end.After(t) {
				e.finish(s, st.end, res)
				st.done = true
				progress = true
			}
		}
	}
	for _, st := range e.state {
		if !st.done && !st.failed {
			return
		}
	}
	e.plan = nil
}

// begin acts at a step's start; false when it cannot (power-off interlock).
func (e *executor) begin(s shed.Step, at time.Time, res *Result) bool {
	switch s.Kind {
	case shed.StepPowerOff:
		hi := e.byName[s.Host]
		for _, v := range e.w.vms {
			if v.host == hi {
				return false // never power off a host with an active domain
			}
		}
		e.w.hosts[hi].on = false // no VM may land on it any more
	case shed.StepPowerOn:
		h := e.w.hosts[e.byName[s.Host]]
		h.powered = true // boots: draws power, not yet usable
	}
	return true
}

func (e *executor) finish(s shed.Step, at time.Time, res *Result) {
	w := e.w
	switch s.Kind {
	case shed.StepMigrate:
		v := w.vms[e.vmIdx[s.VM]]
		v.host = e.byName[s.To]
		v.lastMig = at
		w.hosts[v.host].received = true
		res.Migrations++
	case shed.StepPowerOff:
		w.shedKW += s.ExpectedSavingKW
		h := w.hosts[e.byName[s.Host]]
		h.powered, h.on = false, false
		h.lastOff = at
		h.cyclesDay++
		res.PowerCycles++
	case shed.StepPowerOn:
		w.shedKW += s.ExpectedSavingKW
		h := w.hosts[e.byName[s.Host]]
		h.powered, h.on = true, true
	case shed.StepSetpoint:
		w.shedKW += s.ExpectedSavingKW
		w.stagesOn[s.Stage] = true
	case shed.StepSetpointRevert:
		w.shedKW += s.ExpectedSavingKW
		w.stagesOn[s.Stage] = false
	}
}
