// Package simulate replays days of a simulated datacenter through the real
// demand engine (rules/demand) and the real shedding planner (rules/shed):
// hosts with power models, VMs with daily load curves, cooling with a PUE
// that follows the day, facility loads and stages, and a simulated
// executor that applies plans with the scenario's latencies. The same
// days are run without shedding for the baseline. Time is simulated:
// nothing here reads the wall clock.
package simulate

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/shed"
)

// Scenario is a simulated site and the days to replay (docs/shedding.md).
type Scenario struct {
	Name     string `yaml:"name"`
	Timezone string `yaml:"timezone"`
	// From and To are the first and last day replayed (YYYY-MM-DD).
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Step is the simulated clock's tick (default 1m).
	Step     time.Duration `yaml:"step"`
	Hosts    HostSpec      `yaml:"hosts"`
	VMs      VMSpec        `yaml:"vms"`
	Cooling  CoolingSpec   `yaml:"cooling"`
	Facility FacilitySpec  `yaml:"facility"`
	Demand   DemandSpec    `yaml:"demand"`
	Executor ExecutorSpec  `yaml:"executor"`
	// Policy is the planner's policy (shed.Policy fields; defaults apply).
	Policy PolicySpec `yaml:"policy"`
	// Money prices the run: yen and CO2 saved, payback (optional).
	Money *MoneySpec `yaml:"money"`
}

// HostSpec is a fleet of identical hosts.
type HostSpec struct {
	Count           int           `yaml:"count"`
	CPU             float64       `yaml:"cpu"`
	MemoryGB        float64       `yaml:"memory_gb"`
	IdleW           float64       `yaml:"idle_w"`
	MaxW            float64       `yaml:"max_w"`
	PerRack         int           `yaml:"per_rack"`
	PerRoom         int           `yaml:"per_room"`
	PowerOnLatency  time.Duration `yaml:"power_on_latency"`
	ShutdownLatency time.Duration `yaml:"shutdown_latency"`
}

// VMSpec is the VMs: each gets vcpus from the list in turn, memory per
// vCPU, and CPU use (share of its vCPUs) following one of Profiles daily
// load curves from Base at night to Peak on the weekday plateau, scaled
// per VM by ±Spread. Every FrozenEvery-th VM is of SLA class frozen.
type VMSpec struct {
	Count       int     `yaml:"count"`
	VCPUs       []int   `yaml:"vcpus"`
	MemPerVCPU  float64 `yaml:"mem_gb_per_vcpu"`
	Base        float64 `yaml:"base_util"`
	Peak        float64 `yaml:"peak_util"`
	Spread      float64 `yaml:"spread"`
	Profiles    int     `yaml:"profiles"`
	FrozenEvery int     `yaml:"frozen_every"`
	Seed        int64   `yaml:"seed"`
	// Percentile of the previous day's load the planner is told (0.95).
	Percentile float64 `yaml:"percentile"`
}

// CoolingSpec: PUE rises from Night to Day with the daytime heat.
type CoolingSpec struct {
	PUENight float64 `yaml:"pue_night"`
	PUEDay   float64 `yaml:"pue_day"`
}

// FacilitySpec is the non-IT, non-cooling load (lighting, offices) from
// BaseKW at night to DayKW in office hours, and the facility stages.
type FacilitySpec struct {
	BaseKW float64              `yaml:"base_kw"`
	DayKW  float64              `yaml:"day_kw"`
	Stages []shed.FacilityStage `yaml:"-"`
	Raw    []StageSpec          `yaml:"stages"`
}

// StageSpec is a facility stage in the scenario file.
type StageSpec struct {
	Name     string        `yaml:"name"`
	Point    string        `yaml:"point"`
	Value    float64       `yaml:"value"`
	Normal   float64       `yaml:"normal"`
	KW       float64       `yaml:"kw"`
	Latency  time.Duration `yaml:"latency"`
	Priority int           `yaml:"priority"`
	AfterIT  bool          `yaml:"after_it"`
}

// DemandSpec is the limits the demand engine enforces: a contract kW on
// 30-minute blocks, and/or a cap of (1 − reduction) x last year's peak
// hourly average on the 2011 calendar (weekdays 9-20, July to 9 September)
// or the given hours. Last year's peak is the baseline run's peak hourly
// average in the cap's hours times LastYearFactor (default 1), unless
// BaselineKW is given.
type DemandSpec struct {
	ContractKW float64 `yaml:"contract_kw"`
	Cap        *struct {
		Reduction      float64       `yaml:"reduction"`
		BaselineKW     float64       `yaml:"baseline_kw"`
		LastYearFactor float64       `yaml:"last_year_factor"`
		FromHour       int           `yaml:"from_hour"`
		ToHour         int           `yaml:"to_hour"`
		Block          time.Duration `yaml:"block"`
	} `yaml:"cap"`
	// Targets are an aggregator's demand-response events, set on the
	// controller as external targets (SetExternalTarget) on 30-minute
	// blocks.
	Targets []TargetSpec `yaml:"targets"`
}

// TargetSpec is one external target: kW on Date from From to To (local
// HH:MM).
type TargetSpec struct {
	Date   string  `yaml:"date"`
	From   string  `yaml:"from"`
	To     string  `yaml:"to"`
	KW     float64 `yaml:"kw"`
	Source string  `yaml:"source"`
}

// ExecutorSpec: how the simulated executor's actions compare with what the
// planner expects (LatencyFactor 1: exactly as planned).
type ExecutorSpec struct {
	LatencyFactor float64 `yaml:"latency_factor"`
}

// PolicySpec is shed.Policy in the scenario file.
type PolicySpec struct {
	CPUCeiling        float64 `yaml:"cpu_ceiling"`
	MemCeiling        float64 `yaml:"mem_ceiling"`
	Reserve           int     `yaml:"reserve"`
	WLoad             float64 `yaml:"w_load"`
	WLocation         float64 `yaml:"w_location"`
	MigrationGbps     float64 `yaml:"migration_gbps"`
	MigrationsPerSite int     `yaml:"migrations_per_site"`
	MigrationsPerHost int     `yaml:"migrations_per_host"`
}

// LoadScenario reads a scenario file; unknown keys are errors.
func LoadScenario(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := sc.defaults(); err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

func (sc *Scenario) defaults() error {
	if sc.Money != nil {
		if err := sc.Money.validate(); err != nil {
			return err
		}
	}
	if sc.Timezone == "" {
		sc.Timezone = "UTC"
	}
	if sc.Step == 0 {
		sc.Step = time.Minute
	}
	h := &sc.Hosts
	if h.Count <= 0 || h.CPU <= 0 || h.MemoryGB <= 0 || h.MaxW < h.IdleW || h.IdleW < 0 {
		return fmt.Errorf("hosts: want count, cpu, memory_gb > 0 and 0 <= idle_w <= max_w")
	}
	if h.PerRack <= 0 {
		h.PerRack = 20
	}
	if h.PerRoom <= 0 {
		h.PerRoom = 100
	}
	v := &sc.VMs
	if v.Count <= 0 || len(v.VCPUs) == 0 || v.MemPerVCPU <= 0 || v.Base <= 0 || v.Peak < v.Base || v.Peak > 1 {
		return fmt.Errorf("vms: want count > 0, vcpus, mem_gb_per_vcpu > 0, 0 < base_util <= peak_util <= 1")
	}
	if v.Profiles <= 0 {
		v.Profiles = 8
	}
	if v.Percentile == 0 {
		v.Percentile = 0.95
	}
	if sc.Cooling.PUENight == 0 {
		sc.Cooling.PUENight = 1.3
	}
	if sc.Cooling.PUEDay == 0 {
		sc.Cooling.PUEDay = sc.Cooling.PUENight
	}
	if sc.Executor.LatencyFactor == 0 {
		sc.Executor.LatencyFactor = 1
	}
	for _, s := range sc.Facility.Raw {
		sc.Facility.Stages = append(sc.Facility.Stages, shed.FacilityStage{Name: s.Name, Point: s.Point, Value: s.Value, Normal: s.Normal,
			KW: s.KW, Latency: shed.Duration(s.Latency), Priority: s.Priority, AfterIT: s.AfterIT})
	}
	if sc.Demand.ContractKW <= 0 && sc.Demand.Cap == nil && len(sc.Demand.Targets) == 0 {
		return fmt.Errorf("demand: give contract_kw, cap or targets")
	}
	loc, err := time.LoadLocation(sc.Timezone)
	if err != nil {
		return fmt.Errorf("timezone: %w", err)
	}
	for i, tg := range sc.Demand.Targets {
		if _, err := sc.target(tg, loc); err != nil {
			return fmt.Errorf("demand.targets[%d]: %w", i, err)
		}
	}
	if c := sc.Demand.Cap; c != nil {
		if c.Reduction < 0 || c.Reduction >= 1 {
			return fmt.Errorf("demand.cap.reduction %g: want 0 <= r < 1", c.Reduction)
		}
		if c.LastYearFactor == 0 {
			c.LastYearFactor = 1
		}
		if c.Block == 0 {
			c.Block = time.Hour
		}
		if err := demand.ValidBlockLength(c.Block); err != nil {
			return fmt.Errorf("demand.cap.block: %w", err)
		}
	}
	return nil
}

// target is a TargetSpec as the demand engine's ExternalTarget.
func (sc Scenario) target(tg TargetSpec, loc *time.Location) (demand.ExternalTarget, error) {
	from, err := time.ParseInLocation("2006-01-02 15:04", tg.Date+" "+tg.From, loc)
	if err != nil {
		return demand.ExternalTarget{}, fmt.Errorf("date %q from %q: %w", tg.Date, tg.From, err)
	}
	to, err := time.ParseInLocation("2006-01-02 15:04", tg.Date+" "+tg.To, loc)
	if err != nil {
		return demand.ExternalTarget{}, fmt.Errorf("date %q to %q: %w", tg.Date, tg.To, err)
	}
	e := demand.ExternalTarget{KW: tg.KW, From: from, To: to, Source: tg.Source, Block: 30 * time.Minute}
	return e, e.Validate()
}

func (sc Scenario) policy() shed.Policy {
	p := sc.Policy
	return shed.Policy{CPUCeiling: p.CPUCeiling, MemCeiling: p.MemCeiling, Reserve: p.Reserve, WLoad: p.WLoad, WLocation: p.WLocation,
		MigrationGbps: p.MigrationGbps, MigrationsPerSite: p.MigrationsPerSite, MigrationsPerHost: p.MigrationsPerHost,
		PowerOnLatency: shed.Duration(sc.Hosts.PowerOnLatency), ShutdownLatency: shed.Duration(sc.Hosts.ShutdownLatency)}
}

// calendar is the cap's calendar: the 2011 restriction's days and
// weekdays, with the scenario's hours when given.
func (sc Scenario) calendar() demand.Calendar {
	c := demand.Restriction2011()
	if cp := sc.Demand.Cap; cp != nil && cp.ToHour > cp.FromHour {
		c.From, c.To = time.Duration(cp.FromHour)*time.Hour, time.Duration(cp.ToHour)*time.Hour
	}
	return c
}
