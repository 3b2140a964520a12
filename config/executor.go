package config

import (
	"fmt"
	"strings"
	"time"
)

// Shed is the shedding controller of the daemon (shed:): the planner's
// inventory and when a shed is undone. With Inventory empty the daemon
// plans nothing; demand control then caps its requests at
// demand.sheddable as before.
type Shed struct {
	// Inventory is the planner's inventory file (docs/inventory.md): hosts,
	// VMs' measured demand, facility stages, policy. The daemon overlays
	// the live placement libvirt reports at each plan.
	Inventory string `yaml:"inventory"`
	// RestoreAfter is how long the demand controller must report headroom
	// (no shed request) before the hosts a shed released come back.
	RestoreAfter time.Duration `yaml:"restore_after"`
}

// Enabled reports whether the daemon runs the shedding controller.
func (s Shed) Enabled() bool { return s.Inventory != "" }

// Executor is the shedding executor (executor:): what it may do with a
// plan, its audit store and the hosts' BMCs. The daemon and
// `setsuden execute --config` read it.
type Executor struct {
	// Mode is off, advise (the default: plans are recorded and shown,
	// nothing runs), approve (an operator approves each plan) or auto.
	Mode string `yaml:"mode"`
	// Store is the SQLite audit store (plans, steps, every event, the
	// site lock). Required with shed.inventory.
	Store string `yaml:"store"`
	// Parallel is how many steps run at once.
	Parallel int `yaml:"parallel"`
	// LockTTL: a site lock without a heartbeat this long may be taken over.
	LockTTL         time.Duration `yaml:"lock_ttl"`
	SoftOffWait     time.Duration `yaml:"soft_off_wait"`
	PowerOffTimeout time.Duration `yaml:"power_off_timeout"`
	PowerOnTimeout  time.Duration `yaml:"power_on_timeout"`
	// ReserveMiB is memory a destination keeps free after a migration.
	ReserveMiB int64 `yaml:"reserve_mib"`
	// MeasureWindow is the window before and after a plan over which the
	// meters' mean power is compared (measured vs predicted).
	MeasureWindow time.Duration     `yaml:"measure_window"`
	Migration     ExecutorMigration `yaml:"migration"`
	// Hosts add power control and a migration address to libvirt.hosts
	// of the same name; a host without one is never powered off or on.
	Hosts []ExecutorHost `yaml:"hosts"`
}

// ExecutorMigration tunes live migrations.
type ExecutorMigration struct {
	Timeout       time.Duration `yaml:"timeout"`
	BandwidthMiBs int64         `yaml:"bandwidth_mib_s"`
}

// ExecutorHost is one host's BMC and migration address.
type ExecutorHost struct {
	// Name is a libvirt.hosts[].name.
	Name string `yaml:"name"`
	// MigrationURI is where qemu sends memory when this host is the
	// destination (tcp://10.0.0.2); empty: libvirt's choice.
	MigrationURI string  `yaml:"migration_uri"`
	BMC          HostBMC `yaml:"bmc"`
}

// HostBMC is how a host is powered off and on.
type HostBMC struct {
	// Type is ipmi, redfish or wol (power-on only); empty: none.
	Type string `yaml:"type"`
	// Addr (ipmi) is host[:port]; URL (redfish) the service root.
	Addr string `yaml:"addr"`
	URL  string `yaml:"url"`
	User string `yaml:"user"`
	// PasswordFile holds the BMC password (never in the configuration).
	PasswordFile string `yaml:"password_file"`
	// System is the Redfish ComputerSystem Id (empty: the only one).
	System   string        `yaml:"system"`
	Insecure bool          `yaml:"insecure"`
	Timeout  time.Duration `yaml:"timeout"`
	// MAC and Broadcast send Wake-on-LAN for power-on (type wol, or beside
	// ipmi and redfish).
	MAC       string `yaml:"mac"`
	Broadcast string `yaml:"broadcast"`
}

// DefaultExecutor is the executor: section's defaults.
func DefaultExecutor() Executor {
	return Executor{Mode: "advise", Parallel: 2, LockTTL: 30 * time.Second, SoftOffWait: 2 * time.Minute,
		PowerOffTimeout: 2 * time.Minute, PowerOnTimeout: 10 * time.Minute, MeasureWindow: time.Hour,
		Migration: ExecutorMigration{Timeout: 15 * time.Minute}}
}

// DefaultShed is the shed: section's defaults.
func DefaultShed() Shed { return Shed{RestoreAfter: 15 * time.Minute} }

func (v *validator) shedExecutor(c *Config) {
	s, e := c.Shed, c.Executor
	if s.RestoreAfter < 0 || s.RestoreAfter > 24*time.Hour {
		v.add("shed.restore_after", "%s is out of range (expected 0 to 24h; default 15m)", s.RestoreAfter)
	}
	if s.Enabled() && !c.Demand.Enabled() {
		v.add("shed.inventory", "is set but there is no demand: section (expected demand limits: the demand controller asks for each shed)")
	}
	if e.Mode != "" {
		v.oneOf("executor.mode", e.Mode, "an executor mode", "off", "advise", "approve", "auto")
	}
	if s.Enabled() && strings.TrimSpace(e.Store) == "" {
		v.add("executor.store", "is empty (expected the path of the SQLite audit store, e.g. /var/lib/setsuden/executor.db)")
	}
	if e.Parallel < 0 || e.Parallel > 64 {
		v.add("executor.parallel", "%d is out of range (expected 1 to 64 steps at once; default 2)", e.Parallel)
	}
	for _, d := range []struct {
		path string
		d    time.Duration
	}{{"executor.lock_ttl", e.LockTTL}, {"executor.soft_off_wait", e.SoftOffWait},
		{"executor.power_off_timeout", e.PowerOffTimeout}, {"executor.power_on_timeout", e.PowerOnTimeout},
		{"executor.measure_window", e.MeasureWindow}, {"executor.migration.timeout", e.Migration.Timeout}} {
		if d.d < 0 {
			v.add(d.path, "%s is negative (expected a duration such as 2m)", d.d)
		}
	}
	if e.LockTTL > 0 && e.LockTTL < time.Second {
		v.add("executor.lock_ttl", "%s is too short (expected at least 1s; default 30s)", e.LockTTL)
	}
	if e.Migration.BandwidthMiBs < 0 {
		v.add("executor.migration.bandwidth_mib_s", "%d is negative (expected MiB/s, or 0 for no cap)", e.Migration.BandwidthMiBs)
	}
	if e.ReserveMiB < 0 {
		v.add("executor.reserve_mib", "%d is negative (expected MiB a destination keeps free)", e.ReserveMiB)
	}
	hosts := map[string]bool{}
	for _, h := range c.Libvirt.Hosts {
		hosts[h.Name] = true
	}
	seen := map[string]bool{}
	for i, h := range e.Hosts {
		p := fmt.Sprintf("executor.hosts[%d]", i)
		if v.required(p+".name", h.Name) {
			if seen[h.Name] {
				v.add(p+".name", "%q is listed twice (expected each host once)", h.Name)
			} else if !hosts[h.Name] {
				v.add(p+".name", "%q is not a libvirt.hosts name (expected one of the hosts the collector polls)", h.Name)
			}
			seen[h.Name] = true
		}
		if h.MigrationURI != "" && !strings.Contains(h.MigrationURI, "://") {
			v.add(p+".migration_uri", "%q is not a URI (expected e.g. tcp://10.0.0.2)", h.MigrationURI)
		}
		v.hostBMC(p+".bmc", h.BMC)
	}
}

func (v *validator) hostBMC(p string, b HostBMC) {
	need := func(field, val, what string) {
		if strings.TrimSpace(val) == "" {
			v.add(p+"."+field, "is empty (expected %s for type %s)", what, b.Type)
		}
	}
	switch b.Type {
	case "":
		return
	case "ipmi":
		need("addr", b.Addr, "the BMC's host[:port]")
		need("user", b.User, "the BMC user")
		need("password_file", b.PasswordFile, "a file holding the BMC password")
	case "redfish":
		need("url", b.URL, "the Redfish service's https:// URL")
		need("user", b.User, "the BMC user")
		need("password_file", b.PasswordFile, "a file holding the BMC password")
	case "wol":
		need("mac", b.MAC, "the host's MAC address")
	default:
		v.add(p+".type", "%q is not a BMC type (expected ipmi, redfish or wol)", b.Type)
		return
	}
	if b.MAC != "" && b.Broadcast == "" {
		v.add(p+".broadcast", "is empty (expected the Wake-on-LAN broadcast host:port, e.g. 192.168.1.255:9)")
	}
	if b.Timeout < 0 {
		v.add(p+".timeout", "%s is negative (expected a duration such as 5s)", b.Timeout)
	}
}
