package shed

import (
	"errors"
	"fmt"
)

// Validate checks that a plan can be run step by step: step IDs unique
// and non-empty, every dependency an earlier step, each kind's fields
// present, and every migration off a host the plan powers off after it
// (a shed or consolidation) or onto a host it powers on before it (a
// restore). An executor should refuse a plan that fails it.
func (p *Plan) Validate() error {
	var errs []error
	bad := func(s Step, format string, a ...any) {
		errs = append(errs, fmt.Errorf("step %s (%s): %s", s.ID, s.Kind, fmt.Sprintf(format, a...)))
	}
	seen := map[string]int{}
	powerOff := map[string]int{}
	powerOn := map[string]int{}
	for i, s := range p.Steps {
		if s.ID == "" {
			errs = append(errs, fmt.Errorf("step %d: no id", i))
			continue
		}
		if _, dup := seen[s.ID]; dup {
			bad(s, "id used twice")
		}
		for _, d := range s.DependsOn {
			if _, ok := seen[d]; !ok {
				bad(s, "depends on %q, which is not an earlier step", d)
			}
		}
		seen[s.ID] = i
		switch s.Kind {
		case StepMigrate:
			if s.VM == "" || s.From == "" || s.To == "" || s.From == s.To {
				bad(s, "want vm, and from and to hosts that differ")
			}
		case StepPowerOff:
			if s.Host == "" {
				bad(s, "no host")
			}
			powerOff[s.Host] = i
		case StepPowerOn:
			if s.Host == "" {
				bad(s, "no host")
			}
			powerOn[s.Host] = i
		case StepSetpoint, StepSetpointRevert:
			if s.Point == "" || s.Value == nil {
				bad(s, "want point and value")
			}
		default:
			bad(s, "unknown kind")
		}
	}
	for i, s := range p.Steps {
		if s.Kind != StepMigrate {
			continue
		}
		if j, ok := powerOff[s.From]; ok {
			off := p.Steps[j]
			if j < i || !contains(off.DependsOn, s.ID) {
				bad(s, "host %s is powered off by %s without waiting for this migration", s.From, off.ID)
			}
			continue
		}
		if j, ok := powerOn[s.To]; ok && j < i && contains(s.DependsOn, p.Steps[j].ID) {
			continue
		}
		bad(s, "neither empties a host the plan powers off nor waits for the power-on of its destination")
	}
	return errors.Join(errs...)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
