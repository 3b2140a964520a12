package sla

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the SLA part of setsuden's configuration: the contracts, the
// services and what they run on, how checks become states, and the probes.
type Config struct {
	Catalog Catalog
	Checks  CheckPolicy
	Policy  Policy
	Probes  []ProbeSpec
}

// LoadConfig reads and validates an SLA configuration file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("sla config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates data; errors name file, line and field.
func ParseConfig(file string, data []byte) (Config, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return Config{}, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return Config{}, fmt.Errorf("%s: empty SLA configuration", file)
	}
	return DecodeConfig(file, doc.Content[0])
}

// DecodeConfig decodes and validates an SLA configuration held in a YAML
// node, e.g. the "sla:" section of setsuden.yaml; line numbers stay those
// of the file.
func DecodeConfig(file string, n *yaml.Node) (Config, error) {
	var y configYAML
	if err := n.Decode(&y); err != nil {
		return Config{}, fmt.Errorf("%s: %w", file, err)
	}
	return y.build(file)
}

// ParseDuration reads Go durations plus whole days: "30d", "1d12h", "90m".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, rest, ok := strings.Cut(s, "d"); ok && !strings.ContainsAny(d, "hmsuµn") {
		days, err := strconv.Atoi(d)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("bad duration %q (expected e.g. 30d, 1h, 90s)", s)
		}
		var extra time.Duration
		if rest != "" {
			if extra, err = time.ParseDuration(rest); err != nil {
				return 0, fmt.Errorf("bad duration %q (expected e.g. 30d, 1h, 90s)", s)
			}
		}
		return time.Duration(days)*24*time.Hour + extra, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (expected e.g. 30d, 1h, 90s)", s)
	}
	return d, nil
}

type yDuration time.Duration

func (d *yDuration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = yDuration(v)
	return nil
}

// stringList accepts a single string or a list of strings.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = []string{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// strict decodes a mapping into v (a pointer to a struct without its own
// UnmarshalYAML), refusing keys the struct does not have.
func strict(n *yaml.Node, v any) error {
	if n.Kind == yaml.MappingNode {
		t := reflect.TypeOf(v).Elem()
		allowed := map[string]bool{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
				allowed[tag] = true
				names = append(names, tag)
			}
		}
		sort.Strings(names)
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i]; !allowed[k.Value] {
				return fmt.Errorf("line %d: unknown field %q (expected one of %s)", k.Line, k.Value, strings.Join(names, ", "))
			}
		}
	}
	return n.Decode(v)
}

type configYAML struct {
	SLAs       []slaYAML       `yaml:"slas"`
	Services   []serviceYAML   `yaml:"services"`
	Placements []placementYAML `yaml:"placements"`
	Checks     checksYAML      `yaml:"checks"`
	Policy     policyYAML      `yaml:"policy"`
	Probes     []probeYAML     `yaml:"probes"`
}

func (c *configYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain configYAML
	return strict(n, (*plain)(c))
}

type slaYAML struct {
	line              int
	Name              string     `yaml:"name"`
	Objective         float64    `yaml:"objective"`
	ServiceHours      stringList `yaml:"service_hours"`
	TimeZone          string     `yaml:"time_zone"`
	NoticePeriod      yDuration  `yaml:"notice_period"`
	RTO               yDuration  `yaml:"rto"`
	MaxFailures       *int       `yaml:"max_failures"`
	ResponseBound     yDuration  `yaml:"response_bound"`
	ResponseObjective float64    `yaml:"response_objective"`
	DownSeverity      string     `yaml:"down_severity"`
}

func (s *slaYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain slaYAML
	s.line = n.Line
	return strict(n, (*plain)(s))
}

type serviceYAML struct {
	line       int
	Name       string    `yaml:"name"`
	SLA        string    `yaml:"sla"`
	Customer   string    `yaml:"customer"`
	RunsOn     runsYAML  `yaml:"runs_on"`
	Redundancy int       `yaml:"redundancy"`
	Created    time.Time `yaml:"created"`
	Deleted    time.Time `yaml:"deleted"`
}

func (s *serviceYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain serviceYAML
	s.line = n.Line
	return strict(n, (*plain)(s))
}

type runsYAML struct {
	Hosts  []string `yaml:"hosts"`
	VMs    []string `yaml:"vms"`
	Probes []string `yaml:"probes"`
}

func (r *runsYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain runsYAML
	return strict(n, (*plain)(r))
}

type placementYAML struct {
	line  int
	VM    string    `yaml:"vm"`
	Host  string    `yaml:"host"`
	Since time.Time `yaml:"since"`
}

func (p *placementYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain placementYAML
	p.line = n.Line
	return strict(n, (*plain)(p))
}

type checksYAML struct {
	line              int
	Interval          yDuration `yaml:"interval"`
	FailuresToConfirm int       `yaml:"failures_to_confirm"`
	OKsToRecover      int       `yaml:"oks_to_recover"`
	StaleAfter        yDuration `yaml:"stale_after"`
}

func (c *checksYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain checksYAML
	c.line = n.Line
	return strict(n, (*plain)(c))
}

type policyYAML struct {
	line              int
	MergeGap          yDuration `yaml:"merge_gap"`
	MinCoverage       float64   `yaml:"min_coverage"`
	BackdateTolerance yDuration `yaml:"backdate_tolerance"`
}

func (p *policyYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain policyYAML
	p.line = n.Line
	return strict(n, (*plain)(p))
}

type probeYAML struct {
	line         int
	Name         string    `yaml:"name"`
	Service      string    `yaml:"service"`
	Kind         string    `yaml:"kind"`
	Target       string    `yaml:"target"`
	Interval     yDuration `yaml:"interval"`
	Timeout      yDuration `yaml:"timeout"`
	ExpectStatus []int     `yaml:"expect_status"`
	ExpectBody   string    `yaml:"expect_body"`
}

func (p *probeYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain probeYAML
	p.line = n.Line
	return strict(n, (*plain)(p))
}

// build converts and validates, reporting every problem with its line.
func (y configYAML) build(file string) (Config, error) {
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	var cfg Config
	slaNames := map[string]bool{}
	for i, s := range y.SLAs {
		hours, err := ParseServiceHours(s.ServiceHours)
		if err != nil {
			bad(s.line, "slas[%d].service_hours: %v", i, err)
		}
		sev, err := ParseSeverity(s.DownSeverity)
		if err != nil {
			bad(s.line, "slas[%d].down_severity: %v", i, err)
		}
		v := SLA{
			Name: s.Name, Objective: s.Objective, ServiceHours: hours, TimeZone: s.TimeZone,
			NoticePeriod: time.Duration(s.NoticePeriod), RTO: time.Duration(s.RTO), MaxFailures: NoLimit,
			ResponseBound: time.Duration(s.ResponseBound), ResponseObjective: s.ResponseObjective, DownSeverity: sev,
		}
		if s.MaxFailures != nil {
			v.MaxFailures = *s.MaxFailures
		}
		v = v.WithDefaults()
		if err := v.Validate(); err != nil {
			bad(s.line, "slas[%d]: %v", i, err)
		}
		if slaNames[v.Name] {
			bad(s.line, "slas[%d]: SLA %q is defined twice", i, v.Name)
		}
		slaNames[v.Name] = true
		cfg.Catalog.SLAs = append(cfg.Catalog.SLAs, v)
	}
	svcNames := map[string]bool{}
	for i, s := range y.Services {
		v := Service{
			Name: s.Name, SLA: s.SLA, Customer: s.Customer, Redundancy: s.Redundancy,
			RunsOn:  RunsOn{Hosts: s.RunsOn.Hosts, VMs: s.RunsOn.VMs, Probes: s.RunsOn.Probes},
			Created: s.Created, Deleted: s.Deleted,
		}
		if err := v.validate(slaNames); err != nil {
			bad(s.line, "services[%d]: %v", i, err)
		}
		if svcNames[v.Name] {
			bad(s.line, "services[%d]: service %q is defined twice", i, v.Name)
		}
		svcNames[v.Name] = true
		cfg.Catalog.Services = append(cfg.Catalog.Services, v)
	}
	for i, p := range y.Placements {
		if p.VM == "" || p.Host == "" {
			bad(p.line, "placements[%d]: vm and host are both required", i)
		}
		cfg.Catalog.Placements = append(cfg.Catalog.Placements, Placement{VM: p.VM, Host: p.Host, Since: p.Since})
	}
	cfg.Checks = CheckPolicy{
		Interval: time.Duration(y.Checks.Interval), FailuresToConfirm: y.Checks.FailuresToConfirm,
		OKsToRecover: y.Checks.OKsToRecover, StaleAfter: time.Duration(y.Checks.StaleAfter),
	}
	if cfg.Checks.Interval == 0 {
		cfg.Checks.Interval = time.Minute
	}
	if err := cfg.Checks.Validate(); err != nil {
		bad(y.Checks.line, "checks: %v", err)
	}
	cfg.Checks = cfg.Checks.WithDefaults()
	cfg.Policy = Policy{
		MergeGap: time.Duration(y.Policy.MergeGap), MinCoverage: y.Policy.MinCoverage,
		BackdateTolerance: time.Duration(y.Policy.BackdateTolerance),
	}.WithDefaults()
	if cfg.Policy.MinCoverage < 0 || cfg.Policy.MinCoverage > 1 {
		bad(y.Policy.line, "policy.min_coverage %v must be a fraction between 0 and 1", cfg.Policy.MinCoverage)
	}
	probeNames := map[string]bool{}
	for i, p := range y.Probes {
		spec := ProbeSpec{
			Name: p.Name, Service: p.Service, Kind: p.Kind, Target: p.Target,
			Interval: time.Duration(p.Interval), Timeout: time.Duration(p.Timeout),
			ExpectStatus: p.ExpectStatus, ExpectBody: p.ExpectBody,
		}
		if spec.Interval == 0 {
			spec.Interval = cfg.Checks.Interval
		}
		if err := spec.Validate(); err != nil {
			bad(p.line, "probes[%d]: %v", i, err)
		} else if !svcNames[spec.Service] {
			bad(p.line, "probes[%d]: probe %q checks unknown service %q", i, spec.Name, spec.Service)
		}
		if probeNames[spec.Name] {
			bad(p.line, "probes[%d]: probe %q is defined twice", i, spec.Name)
		}
		probeNames[spec.Name] = true
		cfg.Probes = append(cfg.Probes, spec)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
