package shed

import (
	"fmt"
	"time"
)

// Policy holds the planner's knobs. Zero fields take DefaultPolicy's
// values (WithDefaults).
type Policy struct {
	// CPUCeiling and MemCeiling bound every surviving host's utilisation
	// (share of capacity) after the plan; defaults 0.81 (VMware DPM's
	// upper band) and 0.90.
	CPUCeiling float64 `json:"cpu_ceiling"`
	MemCeiling float64 `json:"mem_ceiling"`
	// Reserve is k of N+k: after the plan, the VMs of the k largest
	// surviving hosts must fit, by packing, on the others (default 1; -1
	// for none).
	Reserve int `json:"reserve"`
	// WLoad and WLocation weigh a destination's load term (prefer the
	// fullest host that fits, for packing) against its location term
	// (same rack 1, same room 0.5, elsewhere 0): the WIDE Cloud score.
	WLoad     float64 `json:"w_load"`
	WLocation float64 `json:"w_location"`
	// FrozenClasses are SLA classes whose VMs never move (default
	// "frozen", "no_move").
	FrozenClasses []string `json:"frozen_classes"`
	// MinErrorBudget: services with less than this share of their error
	// budget left are never touched (default 0.2).
	MinErrorBudget float64 `json:"min_error_budget"`
	// MigrationGbps is the bandwidth one live migration gets (default 10):
	// a migration takes memory·8/Gbps plus MigrationOverhead (default 5 s).
	MigrationGbps     float64  `json:"migration_gbps"`
	MigrationOverhead Duration `json:"migration_overhead"`
	// Default host latencies (a host's own value wins): power-on 5 min,
	// shutdown 2 min.
	PowerOnLatency  Duration `json:"power_on_latency"`
	ShutdownLatency Duration `json:"shutdown_latency"`
	// Pace and anti-flapping.
	MaxPowerCyclesPerDay int      `json:"max_power_cycles_per_day"`
	PowerOnProtection    Duration `json:"power_on_protection"`
	MigrationCooldown    Duration `json:"migration_cooldown"`
	MigrationsPerHost    int      `json:"migrations_per_host"`
	MigrationsPerSite    int      `json:"migrations_per_site"`
}

// DefaultPolicy is the policy with every default filled in.
func DefaultPolicy() Policy {
	return Policy{
		CPUCeiling:           0.81,
		MemCeiling:           0.90,
		Reserve:              1,
		WLoad:                0.7,
		WLocation:            0.3,
		FrozenClasses:        []string{"frozen", "no_move"},
		MinErrorBudget:       0.2,
		MigrationGbps:        10,
		MigrationOverhead:    Duration(5 * time.Second),
		PowerOnLatency:       Duration(5 * time.Minute),
		ShutdownLatency:      Duration(2 * time.Minute),
		MaxPowerCyclesPerDay: 1,
		PowerOnProtection:    Duration(40 * time.Minute),
		MigrationCooldown:    Duration(time.Hour),
		MigrationsPerHost:    2,
		MigrationsPerSite:    8,
	}
}

// WithDefaults fills zero fields from DefaultPolicy. Reserve -1 means no
// reserve; 0 takes the default of 1.
func (p Policy) WithDefaults() Policy {
	d := DefaultPolicy()
	if p.CPUCeiling == 0 {
		p.CPUCeiling = d.CPUCeiling
	}
	if p.MemCeiling == 0 {
		p.MemCeiling = d.MemCeiling
	}
	switch {
	case p.Reserve == 0:
		p.Reserve = d.Reserve
	case p.Reserve < 0:
		p.Reserve = 0
	}
	if p.WLoad == 0 && p.WLocation == 0 {
		p.WLoad, p.WLocation = d.WLoad, d.WLocation
	}
	if p.FrozenClasses == nil {
		p.FrozenClasses = d.FrozenClasses
	}
	if p.MinErrorBudget == 0 {
		p.MinErrorBudget = d.MinErrorBudget
	}
	if p.MigrationGbps == 0 {
		p.MigrationGbps = d.MigrationGbps
	}
	if p.MigrationOverhead == 0 {
		p.MigrationOverhead = d.MigrationOverhead
	}
	if p.PowerOnLatency == 0 {
		p.PowerOnLatency = d.PowerOnLatency
	}
	if p.ShutdownLatency == 0 {
		p.ShutdownLatency = d.ShutdownLatency
	}
	if p.MaxPowerCyclesPerDay == 0 {
		p.MaxPowerCyclesPerDay = d.MaxPowerCyclesPerDay
	}
	if p.PowerOnProtection == 0 {
		p.PowerOnProtection = d.PowerOnProtection
	}
	if p.MigrationCooldown == 0 {
		p.MigrationCooldown = d.MigrationCooldown
	}
	if p.MigrationsPerHost == 0 {
		p.MigrationsPerHost = d.MigrationsPerHost
	}
	if p.MigrationsPerSite == 0 {
		p.MigrationsPerSite = d.MigrationsPerSite
	}
	return p
}

// Validate reports the first knob out of range.
func (p Policy) Validate() error {
	switch {
	case p.CPUCeiling <= 0 || p.CPUCeiling > 1:
		return fmt.Errorf("cpu_ceiling %.2f: want 0 < ceiling <= 1", p.CPUCeiling)
	case p.MemCeiling <= 0 || p.MemCeiling > 1:
		return fmt.Errorf("mem_ceiling %.2f: want 0 < ceiling <= 1", p.MemCeiling)
	case p.WLoad < 0 || p.WLocation < 0:
		return fmt.Errorf("w_load %.2f, w_location %.2f: want weights >= 0", p.WLoad, p.WLocation)
	case p.MinErrorBudget < 0 || p.MinErrorBudget > 1:
		return fmt.Errorf("min_error_budget %.2f: want 0..1", p.MinErrorBudget)
	case p.MigrationGbps < 0:
		return fmt.Errorf("migration_gbps %.1f: want > 0", p.MigrationGbps)
	case p.MigrationsPerHost < 0 || p.MigrationsPerSite < 0:
		return fmt.Errorf("migration concurrency per host %d, per site %d: want >= 1", p.MigrationsPerHost, p.MigrationsPerSite)
	}
	return nil
}
