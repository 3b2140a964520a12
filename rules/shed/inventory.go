package shed

import "time"

// Inventory is what the planner knows about a site: its hosts and VMs
// with their measured demand, its services' SLA state, its facility
// stages and the pace history that anti-flapping needs. The planner only
// reads it.
type Inventory struct {
	Site string `json:"site,omitempty"`
	// PUE multiplies IT power into site power (1 when unknown).
	PUE      float64         `json:"pue,omitempty"`
	Hosts    []Host          `json:"hosts"`
	VMs      []VM            `json:"vms"`
	Services []Service       `json:"services,omitempty"`
	Stages   []FacilityStage `json:"stages,omitempty"`
}

// Host is one physical machine.
type Host struct {
	Name string `json:"name"`
	Site string `json:"site,omitempty"`
	Room string `json:"room,omitempty"`
	Rack string `json:"rack,omitempty"`
	// CPU is the capacity in the unit VM CPU demand is given in (cores,
	// or MHz/MIPS); MemoryGB the memory VMs may use.
	CPU      float64 `json:"cpu"`
	MemoryGB float64 `json:"memory_gb"`
	// IdleW and SlopeW are the power model P(u) = IdleW + SlopeW·u
	// (rules/energy.HostModel).
	IdleW  float64 `json:"idle_w"`
	SlopeW float64 `json:"slope_w"`
	// PowerOnLatency is boot until the hypervisor answers; ShutdownLatency
	// power_off until the power is gone. 0: the policy's defaults.
	PowerOnLatency  Duration `json:"power_on_latency,omitempty"`
	ShutdownLatency Duration `json:"shutdown_latency,omitempty"`
	// BMC is how the host is powered on again: "ipmi", "redfish", "wol",
	// or "none" (then it is never powered off).
	BMC string `json:"bmc,omitempty"`
	// Maintenance hosts are neither drained nor used as destinations.
	Maintenance bool `json:"maintenance,omitempty"`
	// Off is true for a host that is powered off now.
	Off bool `json:"off,omitempty"`
	// PowerCyclesToday counts power-offs since the site's midnight;
	// LastPowerOff is the last one (zero: never).
	PowerCyclesToday int       `json:"power_cycles_today,omitempty"`
	LastPowerOff     time.Time `json:"last_power_off,omitempty"`
}

// VM is one virtual machine and its measured demand.
type VM struct {
	Name string `json:"name"`
	// Host is where it runs now.
	Host  string `json:"host"`
	VCPUs int    `json:"vcpus,omitempty"`
	// CPU and MemoryGB are demand as a high percentile of the VM's history
	// (p95 by default), not the mean: what a destination must hold at the
	// VM's busy times. CPU is in the hosts' CPU unit.
	CPU      float64 `json:"cpu"`
	MemoryGB float64 `json:"memory_gb"`
	Service  string  `json:"service,omitempty"`
	SLAClass string  `json:"sla_class,omitempty"`
	// Affinity: VMs of one group stay on one host. AntiAffinity: VMs of
	// one group are never on one host.
	Affinity     string `json:"affinity,omitempty"`
	AntiAffinity string `json:"anti_affinity,omitempty"`
	// Pinned, LocalDisk and NotLiveMigratable VMs never move; their host
	// stays on.
	Pinned            bool `json:"pinned,omitempty"`
	LocalDisk         bool `json:"local_disk,omitempty"`
	NotLiveMigratable bool `json:"not_live_migratable,omitempty"`
	// LastMigrated is the VM's last migration (zero: none known).
	LastMigrated time.Time `json:"last_migrated,omitempty"`
}

// Service is one service's SLA state.
type Service struct {
	Name string `json:"name"`
	// ErrorBudgetRemaining is the share (0..1) of the period's error
	// budget left (rules/sla computes it); nil when unknown, which counts
	// as a full budget.
	ErrorBudgetRemaining *float64 `json:"error_budget_remaining,omitempty"`
}

// FacilityStage is a configured facility action: an oBIX set-point
// change (cooling +1 degC, a lighting group off) with the kW it is
// expected to save.
type FacilityStage struct {
	Name string `json:"name"`
	// Point is the oBIX point href; Value the value to write; Normal the
	// value a revert writes back.
	Point  string  `json:"point"`
	Value  float64 `json:"value"`
	Normal float64 `json:"normal"`
	// KW is the site kW it saves; Latency how long until the saving is
	// there (a chiller takes minutes).
	KW      float64  `json:"kw"`
	Latency Duration `json:"latency,omitempty"`
	// Priority orders stages (1 first). Stages have no SLA risk, so the
	// planner uses them before draining hosts unless Priority says
	// otherwise (AfterIT).
	Priority int `json:"priority,omitempty"`
	// AfterIT stages are used only when IT drains cannot cover the request
	// (comfort-affecting stages).
	AfterIT bool `json:"after_it,omitempty"`
	// Active is true when the stage is applied now.
	Active bool `json:"active,omitempty"`
}
