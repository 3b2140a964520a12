// Package shed plans how a site sheds power: which hosts to empty by live
// migration and power off, where their VMs go, which facility set-points to
// change, and how to restore afterwards.
//
// It is pure, like rules/demand: Plan(inventory, policy, request, now) is a
// function of its arguments that returns a Plan; it reads no clock and
// does no I/O, so a whole summer replays in seconds (setsuden simulate) and
// a separate executor carries the plan out step by step.
//
// The plan types (Plan, Step, Expected, LowerBound) are documented in
// docs/shedding.md.
package shed
