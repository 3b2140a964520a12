package sla

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Defaults from the SLA table (shared/mission.md) and research §5a.
const (
	DefaultNoticePeriod  = 30 * 24 * time.Hour // "notice of planned outage: 30 days ahead"
	DefaultResponseBound = 3 * time.Second     // "response time within 3 s"
	DefaultTimeZone      = "Asia/Tokyo"
	DefaultMergeGap      = 5 * time.Minute // research §5a: merge incidents closer than 5 min of UP
	DefaultMinCoverage   = 0.99            // research §5a: C_min
	// NoLimit in SLA.MaxFailures means failures are counted but not limited.
	NoLimit = -1
)

// SLA is one agreement; many services can share it, each measured on its own.
type SLA struct {
	Name string `json:"name"`
	// Objective is the availability promised, as a fraction (0.999).
	Objective    float64      `json:"objective"`
	ServiceHours ServiceHours `json:"service_hours"`
	// TimeZone (IANA name) in which service hours and days are read.
	TimeZone string `json:"time_zone"`
	// NoticePeriod is how far ahead maintenance must be announced to be
	// excluded as PLANNED.
	NoticePeriod time.Duration `json:"notice_period"`
	// RTO bounds each failure's time to recover; 0 means no bound.
	RTO time.Duration `json:"rto"`
	// MaxFailures is the most failures allowed in a month; NoLimit (-1)
	// means none is set. ("Number of failures: at most 1", mission.md.)
	MaxFailures int `json:"max_failures"`
	// ResponseBound is the response time a probe must meet (3 s).
	ResponseBound time.Duration `json:"response_bound"`
	// ResponseObjective is the fraction of valid probes that must meet
	// ResponseBound; 0 reports compliance without a verdict (the SLA table
	// gives a bound but no fraction, so none is invented).
	ResponseObjective float64 `json:"response_objective,omitempty"`
	// DownSeverity is the lowest severity of a DOWN observation that counts
	// as downtime; unset means every DOWN counts.
	DownSeverity Severity `json:"down_severity,omitempty"`
}

// WithDefaults fills unset fields from the SLA table.
func (s SLA) WithDefaults() SLA {
	if s.TimeZone == "" {
		s.TimeZone = DefaultTimeZone
	}
	if s.NoticePeriod == 0 {
		s.NoticePeriod = DefaultNoticePeriod
	}
	if s.ResponseBound == 0 {
		s.ResponseBound = DefaultResponseBound
	}
	return s
}

// Validate reports the first thing wrong with the SLA.
func (s SLA) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("sla: name is empty")
	case !(s.Objective > 0 && s.Objective < 1):
		return fmt.Errorf("sla %q: objective %v must be a fraction between 0 and 1 exclusive (e.g. 0.999)", s.Name, s.Objective)
	case s.NoticePeriod < 0, s.RTO < 0, s.ResponseBound < 0:
		return fmt.Errorf("sla %q: notice period, RTO and response bound must not be negative", s.Name)
	case s.MaxFailures < NoLimit:
		return fmt.Errorf("sla %q: max failures %d (expected 0 or more, or -1 for no limit)", s.Name, s.MaxFailures)
	case s.ResponseObjective < 0 || s.ResponseObjective > 1:
		return fmt.Errorf("sla %q: response objective %v must be a fraction between 0 and 1", s.Name, s.ResponseObjective)
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		return fmt.Errorf("sla %q: time zone %q: %w", s.Name, s.TimeZone, err)
	}
	return nil
}

// Service is one thing a customer is promised, and what it runs on.
type Service struct {
	Name     string `json:"name"`
	SLA      string `json:"sla"`
	Customer string `json:"customer,omitempty"`
	RunsOn   RunsOn `json:"runs_on"`
	// Redundancy is k in "k of n": the service is up while at least k of
	// its hosts and VMs are up. 0 means all of them.
	Redundancy int `json:"redundancy,omitempty"`
	// Created and Deleted bound the service's existence; time outside is
	// not service time (unlike Zabbix, which counts it as good, §1.1).
	Created time.Time `json:"created,omitzero"`
	Deleted time.Time `json:"deleted,omitzero"`
}

// RunsOn lists what a service depends on. Hosts and VMs are the
// infrastructure (k of n by Redundancy); every probe is an end-to-end view
// of the service and all of them must pass.
type RunsOn struct {
	Hosts  []string `json:"hosts,omitempty"`
	VMs    []string `json:"vms,omitempty"`
	Probes []string `json:"probes,omitempty"`
}

// Placement says VM runs on Host from Since on (zero: from the beginning).
// A VM migrated by consolidation gets a new placement.
type Placement struct {
	VM    string    `json:"vm"`
	Host  string    `json:"host"`
	Since time.Time `json:"since,omitzero"`
}

// Catalog is the configured SLAs, services and VM placements.
type Catalog struct {
	SLAs       []SLA       `json:"slas"`
	Services   []Service   `json:"services"`
	Placements []Placement `json:"placements,omitempty"`
}

// SLA returns the SLA called name.
func (c Catalog) SLA(name string) (SLA, bool) {
	for _, s := range c.SLAs {
		if s.Name == name {
			return s, true
		}
	}
	return SLA{}, false
}

// Service returns the service called name.
func (c Catalog) Service(name string) (Service, bool) {
	for _, s := range c.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Validate checks names, references and redundancy; it reports every
// problem, each naming the SLA or service.
func (c Catalog) Validate() error {
	var errs []error
	slas := map[string]bool{}
	for _, s := range c.SLAs {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
		if slas[s.Name] {
			errs = append(errs, fmt.Errorf("sla %q is defined twice", s.Name))
		}
		slas[s.Name] = true
	}
	seen := map[string]bool{}
	for _, s := range c.Services {
		if err := s.validate(slas); err != nil {
			errs = append(errs, err)
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("service %q is defined twice", s.Name))
		}
		seen[s.Name] = true
	}
	for i, p := range c.Placements {
		if p.VM == "" || p.Host == "" {
			errs = append(errs, fmt.Errorf("placement %d: vm and host are both required", i))
		}
	}
	return errors.Join(errs...)
}

func (s Service) validate(slas map[string]bool) error {
	n := len(s.RunsOn.Hosts) + len(s.RunsOn.VMs)
	switch {
	case s.Name == "":
		return errors.New("service: name is empty")
	case !slas[s.SLA]:
		return fmt.Errorf("service %q: unknown SLA %q", s.Name, s.SLA)
	case n+len(s.RunsOn.Probes) == 0:
		return fmt.Errorf("service %q: runs_on lists no host, VM or probe, so its state could never be known", s.Name)
	case s.Redundancy < 0 || s.Redundancy > n:
		return fmt.Errorf("service %q: redundancy %d of %d hosts and VMs", s.Name, s.Redundancy, n)
	case !s.Deleted.IsZero() && !s.Deleted.After(s.Created):
		return fmt.Errorf("service %q: deleted %s is not after created %s", s.Name, s.Deleted, s.Created)
	}
	return nil
}

// placementsByVM returns each VM's placements in time order.
func placementsByVM(ps []Placement) map[string][]Placement {
	out := map[string][]Placement{}
	for _, p := range ps {
		out[p.VM] = append(out[p.VM], p)
	}
	for _, l := range out {
		sort.SliceStable(l, func(i, j int) bool { return l[i].Since.Before(l[j].Since) })
	}
	return out
}

// Policy holds the evaluation settings that are not part of a contract.
type Policy struct {
	// MergeGap: incidents separated by less UP service time than this are
	// one incident (flapping). Default 5 min.
	MergeGap time.Duration `json:"merge_gap"`
	// MinCoverage: below this share of known time a passing A is reported
	// as INSUFFICIENT DATA. Default 0.99.
	MinCoverage float64 `json:"min_coverage"`
	// BackdateTolerance: a maintenance record whose AnnouncedAt is earlier
	// than its RecordedAt by more than this is back-dated; its notice then
	// counts from RecordedAt unless the back-dating was approved. Default 1 h.
	BackdateTolerance time.Duration `json:"backdate_tolerance"`
}

// WithDefaults fills unset fields.
func (p Policy) WithDefaults() Policy {
	if p.MergeGap == 0 {
		p.MergeGap = DefaultMergeGap
	}
	if p.MinCoverage == 0 {
		p.MinCoverage = DefaultMinCoverage
	}
	if p.BackdateTolerance == 0 {
		p.BackdateTolerance = time.Hour
	}
	return p
}
