package shed

import (
	"encoding/json"
	"fmt"
	"time"
)

// PlanKind says what a plan is for.
type PlanKind string

const (
	// KindShed takes a requested number of kW off by a deadline.
	KindShed PlanKind = "shed"
	// KindConsolidate releases as many hosts as the constraints allow
	// (a static consolidation, no kW request).
	KindConsolidate PlanKind = "consolidate"
	// KindRestore powers hosts back on before a block that needs the
	// capacity, reverts facility set-points, then rebalances.
	KindRestore PlanKind = "restore"
)

// StepKind is what one step does.
type StepKind string

const (
	// StepMigrate live-migrates VM from host From to host To.
	StepMigrate StepKind = "migrate"
	// StepPowerOff powers Host off. The executor must check at the moment
	// of the action that Host runs no domain.
	StepPowerOff StepKind = "power_off"
	// StepPowerOn powers Host on (BMC, Wake-on-LAN) and waits until it
	// answers.
	StepPowerOn StepKind = "power_on"
	// StepSetpoint writes Value to the oBIX point Point (a facility stage).
	StepSetpoint StepKind = "setpoint"
	// StepSetpointRevert writes the stage's normal value back to Point.
	StepSetpointRevert StepKind = "setpoint_revert"
)

// Plan is the planner's decision: steps for an executor to run in
// dependency order, and what the planner expects them to achieve. It is
// plain data (JSON tags on every field) so an executor can store it, show
// it for approval and run it step by step.
type Plan struct {
	// ID is derived from the inputs (kind, time, request), so that replaying
	// the same inputs gives the same ID.
	ID   string   `json:"id"`
	Kind PlanKind `json:"kind"`
	// CreatedAt is the planning time handed in (never the wall clock).
	CreatedAt time.Time `json:"created_at"`
	Request   Request   `json:"request"`
	// Steps in a valid execution order: every step comes after the steps
	// it depends on. Steps with no dependency path between them may run
	// at the same time, within the plan's concurrency limits.
	Steps []Step `json:"steps"`
	// Expected is what the plan achieves if every step succeeds.
	Expected Expected `json:"expected"`
	// LeftAlone lists VMs the planner would not move, and why.
	LeftAlone []VMReason `json:"left_alone,omitempty"`
	// HostsKept lists hosts the planner may not drain, and why.
	HostsKept []HostReason `json:"hosts_kept,omitempty"`
	// LowerBound is the fewest hosts that could carry the load.
	LowerBound LowerBound `json:"lower_bound"`
	// Limits are the pace limits the plan was built to respect; an
	// executor applies them when it runs steps in parallel.
	Limits PaceLimits `json:"limits"`
	// Notes explain choices and shortfalls in words, for the operator.
	Notes []string `json:"notes,omitempty"`
}

// Request is what the plan was asked to do.
type Request struct {
	Kind PlanKind `json:"kind"`
	// KW is the saving asked for (site kW, after PUE); 0 for consolidate
	// and restore.
	KW float64 `json:"kw,omitempty"`
	// By is when the saving must be in place (the end of the protected
	// block for a shed; the start of the next block for a restore).
	By time.Time `json:"by,omitempty"`
	// Reason is free text: the limit being protected, "operator", ...
	Reason string `json:"reason,omitempty"`
}

// Step is one action. Fields not used by a kind are empty.
type Step struct {
	// ID is unique in the plan ("s1", "s2", ...).
	ID   string   `json:"id"`
	Kind StepKind `json:"kind"`
	// VM, From and To are set for migrate.
	VM   string `json:"vm,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Host is set for power_off and power_on; for migrate it repeats the
	// host being drained (From) so that an executor can group a drain.
	Host string `json:"host,omitempty"`
	// Stage, Point and Value are set for setpoint and setpoint_revert:
	// the facility stage's name, its oBIX point href and the value to
	// write.
	Stage string   `json:"stage,omitempty"`
	Point string   `json:"point,omitempty"`
	Value *float64 `json:"value,omitempty"`
	// MemoryGB is the memory a migrate copies.
	MemoryGB float64 `json:"memory_gb,omitempty"`
	// DependsOn are the IDs of steps that must have succeeded first.
	DependsOn []string `json:"depends_on,omitempty"`
	// ExpectedStart is when the planner's schedule starts the step,
	// counted from the start of the plan; ExpectedDuration how long it
	// takes (migration: memory over bandwidth; power_off: the host's
	// shutdown latency; power_on: its boot latency).
	ExpectedStart    Duration `json:"expected_start"`
	ExpectedDuration Duration `json:"expected_duration"`
	// ExpectedSavingKW is the site kW (after PUE) this step saves once
	// done: a power_off saves the host's power, a setpoint its stage's
	// kW; a migrate saves nothing by itself (negative for a power_on).
	ExpectedSavingKW float64 `json:"expected_saving_kw"`
}

// Expected is what a plan promises.
type Expected struct {
	// SavingKW is the total site kW saved once every step is done:
	// ITSavingKW (released hosts' power x PUE) plus FacilitySavingKW.
	SavingKW         float64 `json:"saving_kw"`
	ITSavingKW       float64 `json:"it_saving_kw"`
	FacilitySavingKW float64 `json:"facility_saving_kw"`
	// By is CreatedAt + Duration: when the last step should finish.
	By       time.Time `json:"by"`
	Duration Duration  `json:"duration"`
	// CoversRequest says whether SavingKW >= Request.KW, in place by
	// Request.By; ShortfallKW is the part it cannot cover.
	CoversRequest bool    `json:"covers_request"`
	ShortfallKW   float64 `json:"shortfall_kw,omitempty"`
	// MaxSavingKW is what the most aggressive plan the constraints allow
	// would save (every releasable host released, every stage applied).
	MaxSavingKW float64 `json:"max_saving_kw"`
	Migrations  int     `json:"migrations"`
	GBMoved     float64 `json:"gb_moved"`
	HostsBefore int     `json:"hosts_before"`
	HostsAfter  int     `json:"hosts_after"`
	// HostsReleased are powered off by the plan; HostsPoweredOn powered on
	// (restore).
	HostsReleased  []string `json:"hosts_released,omitempty"`
	HostsPoweredOn []string `json:"hosts_powered_on,omitempty"`
	// FacilityStages are the facility stages the plan applies (or, for a
	// restore, reverts).
	FacilityStages []string `json:"facility_stages,omitempty"`
	// MaxCPUUtil and MaxMemUtil are the highest utilisation of any host
	// left on, as a share of its capacity.
	MaxCPUUtil float64 `json:"max_cpu_util"`
	MaxMemUtil float64 `json:"max_mem_util"`
}

// VMReason is a VM the planner left where it is, and why.
type VMReason struct {
	VM      string `json:"vm"`
	Host    string `json:"host"`
	Service string `json:"service,omitempty"`
	// Reason is one of the Reason* constants.
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Reasons a VM is left alone.
const (
	ReasonSLAClass     = "sla_class_forbids_moves"
	ReasonErrorBudget  = "error_budget_nearly_spent"
	ReasonPinned       = "pinned"
	ReasonLocalDisk    = "local_disk"
	ReasonNotLive      = "not_live_migratable"
	ReasonMovedRecent  = "migrated_within_hour"
	ReasonHostKept     = "host_not_drained"
	ReasonHostNoCycle  = "host_power_cycle_limit"
	ReasonHostNoPowerM = "host_no_power_management"
	ReasonMaintenance  = "host_in_maintenance"
)

// LowerBound is the fewest hosts that can carry the load under the
// constraints, and how close the plan comes to it.
type LowerBound struct {
	// Hosts is the bound: the largest of the parts below, plus Reserve.
	Hosts int `json:"hosts"`
	// CPUHosts and MemoryHosts are Martello-Toth L2 per dimension (with
	// heterogeneous hosts: the fewest of the largest hosts whose capacity
	// covers the demand); PinnedHosts counts hosts that must stay on for
	// pinned or unmovable VMs; AntiAffinityHosts is the largest
	// anti-affinity group.
	CPUHosts          int `json:"cpu_hosts"`
	MemoryHosts       int `json:"memory_hosts"`
	PinnedHosts       int `json:"pinned_hosts"`
	AntiAffinityHosts int `json:"anti_affinity_hosts"`
	// Reserve is k of N+k.
	Reserve int `json:"reserve"`
	// Gap is (hosts after − Hosts) / Hosts.
	Gap float64 `json:"gap"`
	// ReleasedEfficiency is released / (hosts before − Hosts), 1 when
	// nothing could be released.
	ReleasedEfficiency float64 `json:"released_efficiency"`
}

// PaceLimits are the anti-flapping and concurrency constraints.
type PaceLimits struct {
	// MaxPowerCyclesPerDay per host (default 1).
	MaxPowerCyclesPerDay int `json:"max_power_cycles_per_day"`
	// PowerOnProtection: no power-on within this long after a power-off
	// (default 40 min, as VMware DPM's power-off window).
	PowerOnProtection Duration `json:"power_on_protection"`
	// MigrationCooldown: no VM migrated twice within it (default 1 h).
	MigrationCooldown Duration `json:"migration_cooldown"`
	// MigrationsPerHost and MigrationsPerSite bound migrations in flight
	// (a host counts those it sends and receives).
	MigrationsPerHost int `json:"migrations_per_host"`
	MigrationsPerSite int `json:"migrations_per_site"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("2m30s"); it also reads a number of seconds.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "2m30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var sec float64
	if err := json.Unmarshal(b, &sec); err != nil {
		return fmt.Errorf("duration: want a string like \"2m30s\" or seconds, got %s", b)
	}
	*d = Duration(sec * float64(time.Second))
	return nil
}

// Step returns the step with the given ID, or nil.
func (p *Plan) Step(id string) *Step {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return &p.Steps[i]
		}
	}
	return nil
}
