package shed

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Every plan the planner makes validates; broken ones do not.
func TestPlanValidate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for i := range 300 {
		inv := randomInventory(r)
		kinds := []Request{{Kind: KindConsolidate}, {Kind: KindShed, KW: 2, By: t0.Add(30 * time.Minute)}, {Kind: KindRestore}}
		plan, err := NewPlan(Input{Inventory: inv, Request: kinds[i%3], Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := plan.Validate(); err != nil {
			t.Fatalf("case %d: planner's plan fails validation: %v", i, err)
		}
	}
	v := 27.0
	bad := Plan{Steps: []Step{
		{ID: "s1", Kind: StepMigrate, VM: "a", From: "h1", To: "h2"},
		{ID: "s2", Kind: StepPowerOff, Host: "h1"},
		{ID: "s2", Kind: StepSetpoint, Point: "/p", Value: &v, DependsOn: []string{"s9"}},
		{ID: "s4", Kind: StepMigrate, VM: "b", From: "h3", To: "h4"},
		{ID: "s5", Kind: "reboot"},
	}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("a broken plan validates")
	}
	for _, want := range []string{
		"step s1 (migrate): host h1 is powered off by s2 without waiting for this migration",
		"step s2 (setpoint): id used twice",
		`depends on "s9"`,
		"step s4 (migrate): neither empties",
		"step s5 (reboot): unknown kind",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation lacks %q:\n%v", want, err)
		}
	}
}
