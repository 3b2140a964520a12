package shedctl

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/shed"
)

var t0 = time.Date(2026, 7, 15, 13, 10, 0, 0, time.UTC)

func req(kw float64, by time.Time) *demand.Request {
	return &demand.Request{ShedKW: kw, By: by, Limit: "contract", Protect: demand.ProtectLimit}
}

func TestDecideShedOnceThenHoldThenRestoreAfterHeadroom(t *testing.T) {
	cfg := Config{RestoreAfter: 15 * time.Minute}
	by := t0.Add(2 * time.Hour)
	d, st := Decide(cfg, State{}, Input{Now: t0, Stage: demand.StageShed, Request: req(12, by)})
	if d.Action != Shed || d.KW != 12 || !d.By.Equal(by) || st.Shed == nil {
		t.Fatalf("first request: %+v %+v, want a shed of 12 kW by %s", d, st, by)
	}
	st = Planned(st, "p1", 5*time.Minute)
	// The same request again, and a larger one: logged, not stacked.
	d, st = Decide(cfg, st, Input{Now: t0.Add(10 * time.Second), Stage: demand.StageShed, Request: req(12, by)})
	if d.Action != None {
		t.Errorf("same request again: %+v, want none", d)
	}
	d, st = Decide(cfg, st, Input{Now: t0.Add(20 * time.Second), Stage: demand.StageLimit, Request: req(30, by)})
	if d.Action != Hold || !strings.Contains(d.Reason, "p1") {
		t.Errorf("larger request while p1 is in force: %+v, want hold naming p1", d)
	}
	// Headroom for 14 min 59 s: nothing; at 15 min: restore with the headroom.
	h0 := t0.Add(time.Minute)
	d, st = Decide(cfg, st, Input{Now: h0, Stage: demand.StageNormal, HeadroomKW: 20})
	if d.Action != None || !st.HeadroomSince.Equal(h0) {
		t.Fatalf("headroom starts: %+v %+v", d, st)
	}
	d, st = Decide(cfg, st, Input{Now: h0.Add(15*time.Minute - time.Second), Stage: demand.StageCaution, HeadroomKW: 20})
	if d.Action != None {
		t.Errorf("headroom 14m59s: %+v, want none", d)
	}
	d, st = Decide(cfg, st, Input{Now: h0.Add(15 * time.Minute), Stage: demand.StageNormal, HeadroomKW: 20, Busy: true})
	if d.Action != Hold {
		t.Errorf("restore due while a plan runs: %+v, want hold", d)
	}
	d, st = Decide(cfg, st, Input{Now: h0.Add(15 * time.Minute), Stage: demand.StageNormal, HeadroomKW: 20})
	if d.Action != Restore || d.RestoreKW != 20 || st.Shed != nil {
		t.Errorf("headroom 15m: %+v %+v, want a restore within 20 kW and no shed in force", d, st)
	}
}

func TestDecideHeadroomRunIsBrokenByARequest(t *testing.T) {
	cfg := Config{RestoreAfter: 10 * time.Minute}
	by := t0.Add(time.Hour)
	_, st := Decide(cfg, State{}, Input{Now: t0, Stage: demand.StageShed, Request: req(5, by)})
	st = Planned(st, "p1", time.Minute)
	_, st = Decide(cfg, st, Input{Now: t0.Add(time.Minute), Stage: demand.StageNormal, HeadroomKW: 3})
	_, st = Decide(cfg, st, Input{Now: t0.Add(8 * time.Minute), Stage: demand.StageShed, Request: req(2, by)})
	d, st := Decide(cfg, st, Input{Now: t0.Add(12 * time.Minute), Stage: demand.StageNormal, HeadroomKW: 3})
	if d.Action != None || !st.HeadroomSince.Equal(t0.Add(12*time.Minute)) {
		t.Errorf("headroom after a request restarts the run: %+v %+v", d, st)
	}
	// Held (the block's no-action time) is not headroom.
	d, st = Decide(cfg, st, Input{Now: t0.Add(13 * time.Minute), Held: true})
	if d.Action != None || !st.HeadroomSince.IsZero() {
		t.Errorf("held: %+v %+v, want the run broken", d, st)
	}
}

func TestDecideRestoresBeforeTheWindowEndsByThePowerOnLead(t *testing.T) {
	cfg := Config{RestoreAfter: time.Hour}
	by := t0.Add(30 * time.Minute)
	_, st := Decide(cfg, State{}, Input{Now: t0, Stage: demand.StageShed, Request: req(5, by)})
	st = Planned(st, "p1", 8*time.Minute)
	d, st := Decide(cfg, st, Input{Now: by.Add(-8*time.Minute - time.Second), Stage: demand.StageCaution})
	if d.Action != None {
		t.Errorf("before the lead: %+v", d)
	}
	d, st = Decide(cfg, st, Input{Now: by.Add(-8 * time.Minute), Stage: demand.StageCaution})
	if d.Action != Restore || !d.By.Equal(by) || d.RestoreKW != 0 || !strings.Contains(d.Reason, "8m0s") {
		t.Errorf("at By - lead: %+v, want an unbounded restore by %s", d, by)
	}
	if st.Shed != nil {
		t.Errorf("shed still in force after the restore")
	}
}

func TestDecideExtendsIntoTheNextWindowAndHoldsWhenBusy(t *testing.T) {
	cfg := Config{RestoreAfter: time.Minute}
	by := t0.Add(20 * time.Minute)
	d, st := Decide(cfg, State{}, Input{Now: t0, Stage: demand.StageShed, Request: req(5, by), Busy: true})
	if d.Action != Hold || st.Shed != nil {
		t.Errorf("request while a plan runs: %+v %+v, want hold, nothing in force", d, st)
	}
	_, st = Decide(cfg, st, Input{Now: t0, Stage: demand.StageShed, Request: req(5, by)})
	st = Planned(st, "p1", 0)
	d, st = Decide(cfg, st, Input{Now: by.Add(-time.Minute), Stage: demand.StageShed, Request: req(5, by.Add(30*time.Minute))})
	if d.Action != Extend || !st.Shed.By.Equal(by.Add(30*time.Minute)) {
		t.Errorf("next window: %+v %+v, want extend", d, st.Shed)
	}
	// A shed whose planner found nothing has nothing to restore.
	st = State{}
	_, st = Decide(cfg, st, Input{Now: t0, Stage: demand.StageShed, Request: req(5, by)})
	d, st = Decide(cfg, st, Input{Now: by, Stage: demand.StageNormal})
	if d.Action != None || st.Shed != nil {
		t.Errorf("window end of an empty shed: %+v %+v, want none and nothing in force", d, st)
	}
}

func testInventory() shed.Inventory {
	return shed.Inventory{PUE: 1.5,
		Hosts: []shed.Host{
			{Name: "h1", CPU: 32, MemoryGB: 128, IdleW: 200, SlopeW: 200, BMC: "ipmi", PowerOnLatency: shed.Duration(4 * time.Minute)},
			{Name: "h2", CPU: 32, MemoryGB: 128, IdleW: 200, SlopeW: 200, BMC: "ipmi"},
			{Name: "h3", CPU: 32, MemoryGB: 128, IdleW: 200, SlopeW: 200, BMC: "ipmi"},
			{Name: "h4", CPU: 32, MemoryGB: 128, IdleW: 200, SlopeW: 200, BMC: "none"},
		},
		VMs: []shed.VM{
			{Name: "a", Host: "h1", CPU: 2, MemoryGB: 8},
			{Name: "b", Host: "h2", CPU: 2, MemoryGB: 8},
			{Name: "c", Host: "h3", CPU: 2, MemoryGB: 8},
			{Name: "d", Host: "h4", CPU: 2, MemoryGB: 8},
		},
		Stages: []shed.FacilityStage{{Name: "cooling+1", Point: "/obix/sp", Value: 27, Normal: 26, KW: 4, Latency: shed.Duration(3 * time.Minute)},
			{Name: "lights", Point: "/obix/l", KW: 1, Active: true}},
	}
}

func TestOverlayFollowsLibvirt(t *testing.T) {
	inv := testInventory()
	inv.Hosts[2].Off = true
	live := map[string]Live{
		"h1": {Domains: []Domain{{Name: "a", MemMiB: 8192}, {Name: "b", MemMiB: 8192}, {Name: "stray", MemMiB: 2048}}},
		"h2": {Err: errors.New("connection refused")},
		"h3": {},
		"h4": {Domains: nil},
	}
	out, notes := Overlay(inv, live)
	byName := map[string]shed.VM{}
	for _, v := range out.VMs {
		byName[v.Name] = v
	}
	if byName["b"].Host != "h1" {
		t.Errorf("b: on %s, want h1 where libvirt sees it", byName["b"].Host)
	}
	if _, ok := byName["d"]; ok {
		t.Errorf("d runs on no answering host but is kept")
	}
	if _, ok := byName["c"]; ok {
		t.Errorf("c: its host h3 answered without it, but it is kept")
	}
	if s := byName["stray"]; !s.Pinned || s.Host != "h1" || s.MemoryGB != 2 {
		t.Errorf("stray: %+v, want pinned on h1 with 2 GB", s)
	}
	if !out.Hosts[1].Maintenance || out.Hosts[2].Off || inv.Hosts[2].Off != true {
		t.Errorf("hosts %+v: want h2 (no answer) in maintenance, h3 (answers) on, the input untouched", out.Hosts)
	}
	if len(notes) < 4 {
		t.Errorf("notes %q: want each change named", notes)
	}
}

func TestApplyAndSheddableFromThePlanner(t *testing.T) {
	inv := testInventory()
	cons, err := shed.NewPlan(shed.Input{Inventory: inv, Request: shed.Request{Kind: shed.KindConsolidate}, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	caps := Sheddable(inv, cons)
	var itKW float64
	hosts := 0
	for _, c := range caps {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
		if c.Kind == demand.KindIT {
			hosts++
			itKW += c.KW
			if c.Name == "host h4" {
				t.Errorf("h4 has no BMC but is offered")
			}
		}
		if c.Name == "stage lights" {
			t.Errorf("an active stage is offered again")
		}
	}
	// Four hosts, h4 cannot power off, N+1 reserve: at most two released.
	if hosts == 0 || hosts > 2 || itKW <= 0 || itKW != cons.Expected.ITSavingKW && hosts != len(cons.Expected.HostsReleased) {
		t.Errorf("IT capabilities %+v against the plan's %v released (%.3f kW)", caps, cons.Expected.HostsReleased, cons.Expected.ITSavingKW)
	}
	if caps[len(caps)-1].Name != "stage cooling+1" || caps[len(caps)-1].Latency != 3*time.Minute {
		t.Errorf("facility capability %+v, want cooling+1 with its 3m latency", caps[len(caps)-1])
	}
	// The shed plan applied as if done: its released hosts off, VMs moved.
	p, err := shed.NewPlan(shed.Input{Inventory: inv, Request: shed.Request{Kind: shed.KindShed, KW: 4.3, By: t0.Add(time.Hour)}, Now: t0})
	if err != nil || len(p.Expected.HostsReleased) == 0 {
		t.Fatalf("shed plan: %v %+v", err, p.Expected)
	}
	var steps []StepResult
	for _, s := range p.Steps {
		steps = append(steps, StepResult{Step: s, Done: true})
	}
	after := Apply(inv, steps, t0)
	for _, h := range after.Hosts {
		released := false
		for _, r := range p.Expected.HostsReleased {
			released = released || r == h.Name
		}
		if h.Off != released {
			t.Errorf("%s off=%v after the plan, released=%v", h.Name, h.Off, released)
		}
		if released && (!h.LastPowerOff.Equal(t0) || h.PowerCyclesToday != 1) {
			t.Errorf("%s: power-off not recorded: %+v", h.Name, h)
		}
		for _, v := range after.VMs {
			if v.Host == h.Name && h.Off {
				t.Errorf("%s is off with %s on it", h.Name, v.Name)
			}
		}
	}
	if !after.Stages[0].Active || !after.Stages[1].Active {
		t.Errorf("stages after the plan %+v, want cooling+1 applied (lights was already)", after.Stages)
	}
	if lead := PowerOnLead(inv, shed.Policy{}, p); lead < 4*time.Minute {
		t.Errorf("lead %s, want at least h1's 4m or the 5m default", lead)
	}
	// Its restore powers them on again.
	r, err := shed.NewPlan(shed.Input{Inventory: after, Request: shed.Request{Kind: shed.KindRestore, By: t0.Add(2 * time.Hour)}, Now: t0.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Expected.HostsPoweredOn) != len(p.Expected.HostsReleased) {
		t.Errorf("restore powers on %v, the shed released %v", r.Expected.HostsPoweredOn, p.Expected.HostsReleased)
	}
	// Steps not done change nothing.
	for i := range steps {
		steps[i].Done = false
	}
	if same := Apply(inv, steps, t0); same.Hosts[0].Off || same.Hosts[1].Off || same.Hosts[2].Off {
		t.Errorf("undone steps applied: %+v", same.Hosts)
	}
}

// TestDecidePartlyRestoredComesBackAtTheWindowEnd: a restore bounded by the
// headroom that left a stage or host shed keeps the shed in force; more
// headroom does not start another bounded restore, the window's end (less
// the power-on lead) restores the rest without a bound.
func TestDecidePartlyRestoredComesBackAtTheWindowEnd(t *testing.T) {
	cfg := Config{RestoreAfter: time.Minute}
	by := t0.Add(time.Hour)
	_, st := Decide(cfg, State{}, Input{Now: t0, Stage: demand.StageShed, Request: req(30, by)})
	st = Planned(st, "p1", 5*time.Minute)
	d, st := Decide(cfg, st, Input{Now: t0.Add(time.Minute), Stage: demand.StageNormal, HeadroomKW: 8})
	if d.Action != None {
		t.Fatalf("headroom starts: %+v", d)
	}
	d, st = Decide(cfg, st, Input{Now: t0.Add(2 * time.Minute), Stage: demand.StageNormal, HeadroomKW: 8})
	if d.Action != Restore || d.RestoreKW != 8 || st.Shed != nil {
		t.Fatalf("bounded restore: %+v %+v", d, st)
	}
	// The planner could bring back only part of it within 8 kW.
	st = PartlyRestored(st, InForce{PlanID: "p1", KW: 30, By: by, PowerOnLead: 5 * time.Minute, Since: t0})
	if st.Shed == nil || !st.Shed.Partial {
		t.Fatalf("partly restored: %+v", st)
	}
	for _, at := range []time.Duration{3 * time.Minute, 10 * time.Minute, 54*time.Minute + 59*time.Second} {
		if d, st = Decide(cfg, st, Input{Now: t0.Add(at), Stage: demand.StageNormal, HeadroomKW: 50}); d.Action != None || st.Shed == nil {
			t.Fatalf("at +%s with headroom: %+v %+v, want nothing until the window's end", at, d, st)
		}
	}
	d, st = Decide(cfg, st, Input{Now: t0.Add(55 * time.Minute), Stage: demand.StageNormal, HeadroomKW: 50})
	if d.Action != Restore || d.RestoreKW != 0 || st.Shed != nil {
		t.Fatalf("window end: %+v %+v, want an unbounded restore", d, st)
	}
}
