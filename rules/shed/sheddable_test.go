package shed

import (
	"math"
	"testing"
	"time"
)

// Sheddables: the stages not in force and each host a consolidation would
// release, fastest first, adding up to the plan's saving.
func TestSheddables(t *testing.T) {
	inv := Inventory{PUE: 1.5, Hosts: []Host{
		{Name: "h1", CPU: 32, MemoryGB: 256, IdleW: 200, SlopeW: 200},
		{Name: "h2", CPU: 32, MemoryGB: 256, IdleW: 200, SlopeW: 200},
		{Name: "h3", CPU: 32, MemoryGB: 256, IdleW: 200, SlopeW: 200},
		{Name: "h4", CPU: 32, MemoryGB: 256, IdleW: 200, SlopeW: 200},
	}, VMs: []VM{
		{Name: "a", Host: "h1", CPU: 4, MemoryGB: 16},
		{Name: "b", Host: "h2", CPU: 4, MemoryGB: 16},
		{Name: "c", Host: "h3", CPU: 4, MemoryGB: 64},
		{Name: "d", Host: "h4", CPU: 4, MemoryGB: 16, SLAClass: "frozen"},
	}, Stages: []FacilityStage{
		{Name: "cooling+1", Point: "/p", Value: 27, Normal: 26, KW: 3, Latency: Duration(3 * time.Minute)},
		{Name: "lights", Point: "/l", Value: 0, Normal: 1, KW: 1, Active: true},
	}}
	in := Input{Inventory: inv, Now: t0}
	got, err := Sheddables(in)
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := NewPlan(Input{Inventory: inv, Now: t0, Request: Request{Kind: KindConsolidate}})
	var it float64
	hosts := 0
	for i, s := range got {
		if i > 0 && s.Latency < got[i-1].Latency {
			t.Errorf("not fastest first: %+v", got)
		}
		switch s.Kind {
		case SheddableIT:
			hosts++
			it += s.KW
		case SheddableFacility:
			if s.Name != "stage cooling+1" || s.KW != 3 || s.Latency != 3*time.Minute {
				t.Errorf("stage %+v", s)
			}
		}
	}
	if hosts != len(plan.Expected.HostsReleased) || hosts == 0 || math.Abs(it-plan.Expected.ITSavingKW) > 1e-6 {
		t.Errorf("%d hosts, %.3f kW; the plan releases %v for %.3f kW", hosts, it, plan.Expected.HostsReleased, plan.Expected.ITSavingKW)
	}
	for _, s := range got {
		if s.Name == "host h4" || s.Name == "stage lights" {
			t.Errorf("%s listed: h4 holds a frozen VM, lights are in force", s.Name)
		}
	}
}
