package shed

import (
	"fmt"
	"sort"
	"time"
)

// Sheddable is one load the site can take off now, as the planner sees it:
// the same fields as rules/demand's Sheddable (the demand controller's
// Capabilities caps its requests with them), so an adapter is a field copy.
type Sheddable struct {
	Name string `json:"name"`
	// Kind is "it" (a host drained and powered off) or "facility" (a
	// set-point stage).
	Kind string `json:"kind"`
	// KW is the site kW it removes; Latency how long after the request
	// it does (the host's migrations and shutdown as scheduled in the
	// consolidation plan; the stage's latency).
	KW      float64       `json:"kw"`
	Latency time.Duration `json:"latency"`
}

// Sheddable kinds.
const (
	SheddableIT       = "it"
	SheddableFacility = "facility"
)

// Sheddables lists what could be shed now: every facility stage not in
// force, and each host the most aggressive plan the constraints allow
// would release (whole drains, N+k by packing, frozen services left
// alone), with its saving and the moment its power-off completes in that
// plan's schedule. Sorted fastest first. It is pure, like NewPlan.
func Sheddables(in Input) ([]Sheddable, error) {
	in.Request = Request{Kind: KindConsolidate}
	plan, err := NewPlan(in)
	if err != nil {
		return nil, err
	}
	var out []Sheddable
	for _, st := range in.Inventory.Stages {
		if !st.Active && st.KW > 0 {
			out = append(out, Sheddable{Name: "stage " + st.Name, Kind: SheddableFacility, KW: st.KW, Latency: st.Latency.D()})
		}
	}
	for _, s := range plan.Steps {
		if s.Kind == StepPowerOff && s.ExpectedSavingKW > 0 {
			out = append(out, Sheddable{Name: "host " + s.Host, Kind: SheddableIT, KW: s.ExpectedSavingKW,
				Latency: s.ExpectedStart.D() + s.ExpectedDuration.D()})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Latency < out[j].Latency })
	for _, s := range out {
		if s.KW <= 0 {
			return nil, fmt.Errorf("sheddable %s: %g kW", s.Name, s.KW)
		}
	}
	return out, nil
}
