package sla

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the SLA part of setsuden's configuration: the contracts, the
// services and what they run on, how checks become states, and the probes;
// and for the daemon (rules/slactl) where the records live, when the
// monthly report is issued and where alerts go.
type Config struct {
	Catalog  Catalog
	Checks   CheckPolicy
	Policy   Policy
	Probes   []ProbeSpec
	Files    Files
	Schedule ReportSchedule
	Alerts   AlertSettings
}

// Files are where the SLA engine keeps its own records. DecodeConfig takes
// relative paths from the configuration file's directory.
type Files struct {
	// StateDir is the default home of the two below (state_dir).
	StateDir string
	// MaintenanceLog is the append-only maintenance log, JSON lines
	// (maintenance_log; default STATE_DIR/maintenance.jsonl).
	MaintenanceLog string
	// ReportsDir is the archive of issued monthly reports (reports_dir;
	// default STATE_DIR/reports).
	ReportsDir string
}

// ReportSchedule is when the daemon issues the report of the month before:
// on Day at At (time of day, in the site's time zone). That must leave at
// least Grace after the month's end, for data that arrives late (a write
// queue draining after an outage, a DOWN confirmed after the month ended).
type ReportSchedule struct {
	Day   int           // day of the month, 1..28 (default 1)
	At    time.Duration // since midnight (default 06:00)
	Grace time.Duration // default 6h
}

// Default report schedule: the 1st at 06:00, six hours after the month.
const (
	DefaultReportDay   = 1
	DefaultReportAt    = 6 * time.Hour
	DefaultReportGrace = 6 * time.Hour
)

// AlertSettings say how often burn-rate and data-absent alerts are
// evaluated and who hears of them.
type AlertSettings struct {
	Interval time.Duration // default 1m
	Webhooks []WebhookSpec
}

// WebhookSpec is an HTTP endpoint that receives alerts as JSON.
type WebhookSpec struct {
	URL string
	// SecretEnv names the environment variable holding the HMAC-SHA256 key.
	SecretEnv string
}

// ConfigProblem is one thing wrong with an SLA configuration: the file,
// the line, the field inside the SLA section (e.g. "slas[0].rto"; empty
// for the section as a whole) and what is wrong.
type ConfigProblem struct {
	File  string
	Line  int
	Field string
	Msg   string

	column int // where the decoder found it, to name the field
}

// Error renders "FILE:LINE: field: message".
func (p ConfigProblem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ConfigProblems is every problem DecodeConfig found, in the order found.
type ConfigProblems []ConfigProblem

func (ps ConfigProblems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
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
// of the file, and relative paths are taken from the file's directory.
// Its error is ConfigProblems.
func DecodeConfig(file string, n *yaml.Node) (Config, error) {
	if n == nil {
		return Config{}, ConfigProblems{{File: file, Msg: "no SLA configuration"}}
	}
	var y configYAML
	if err := n.Decode(&y); err != nil {
		return Config{}, decodeProblems(file, n, err)
	}
	return y.build(file)
}

var yamlErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeProblems turns a yaml.v3 decoding error into problems that name
// the field at the offending position.
func decodeProblems(file string, n *yaml.Node, err error) ConfigProblems {
	fields := fieldPositions(n)
	var p ConfigProblem
	var te *yaml.TypeError
	switch {
	case errors.As(err, &p):
		p.File = file
		if p.Field == "" {
			p.Field = fields.at(p.Line, p.column)
		}
		return ConfigProblems{p}
	case errors.As(err, &te):
		var out ConfigProblems
		for _, e := range te.Errors {
			if m := yamlErrLine.FindStringSubmatch(e); m != nil {
				line, _ := strconv.Atoi(m[1])
				out = append(out, ConfigProblem{File: file, Line: line, Field: fields.at(line, 0), Msg: m[2]})
			} else {
				out = append(out, ConfigProblem{File: file, Line: n.Line, Msg: e})
			}
		}
		return out
	}
	return ConfigProblems{{File: file, Line: n.Line, Msg: err.Error()}}
}

// positions maps where keys and scalar values sit to their field paths.
type positions struct {
	byLine map[int][]string
	byPos  map[[2]int]string // line, column
}

func fieldPositions(n *yaml.Node) positions {
	out := positions{byLine: map[int][]string{}, byPos: map[[2]int]string{}}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				out.byLine[k.Line] = append(out.byLine[k.Line], p)
				out.byPos[[2]int{k.Line, k.Column}] = p
				if v.Kind == yaml.ScalarNode {
					out.byPos[[2]int{v.Line, v.Column}] = p
					if v.Line != k.Line {
						out.byLine[v.Line] = append(out.byLine[v.Line], p)
					}
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if item.Kind == yaml.ScalarNode {
					out.byLine[item.Line] = append(out.byLine[item.Line], p)
					out.byPos[[2]int{item.Line, item.Column}] = p
				}
				walk(item, p)
			}
		}
	}
	walk(n, "")
	return out
}

// at names the field at line and column (0: unknown): the key or value
// there; else the deepest of the paths on the line if they nest (checks:
// {interval: x}), or what they have in common (a flow mapping such as
// {name: web, sla: gold}).
func (f positions) at(line, column int) string {
	if p, ok := f.byPos[[2]int{line, column}]; ok && column > 0 {
		return p
	}
	paths := f.byLine[line]
	if len(paths) == 0 {
		return ""
	}
	deepest := paths[0]
	for _, p := range paths[1:] {
		if len(p) > len(deepest) {
			deepest = p
		}
	}
	nested := true
	for _, p := range paths {
		if p != deepest && !strings.HasPrefix(deepest, p+".") && !strings.HasPrefix(deepest, p+"[") {
			nested = false
		}
	}
	if nested {
		return deepest
	}
	common := splitPath(paths[0])
	for _, p := range paths[1:] {
		segs := splitPath(p)
		i := 0
		for i < len(common) && i < len(segs) && common[i] == segs[i] {
			i++
		}
		common = common[:i]
	}
	return strings.TrimPrefix(strings.Join(common, ""), ".")
}

// splitPath cuts "a.b[0].c" into "a", ".b", "[0]", ".c".
func splitPath(p string) []string {
	var segs []string
	start := 0
	for i := 1; i < len(p); i++ {
		if p[i] == '.' || p[i] == '[' {
			segs = append(segs, p[start:i])
			start = i
		}
	}
	return append(segs, p[start:])
}

// defaultProbeTimeout is NewProbe's timeout when none is set (probe.go).
const defaultProbeTimeout = 10 * time.Second

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
		return ConfigProblem{Line: n.Line, Msg: err.Error(), column: n.Column}
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
				return ConfigProblem{Line: k.Line, Msg: fmt.Sprintf("unknown field %q (expected one of %s)", k.Value, strings.Join(names, ", ")), column: k.Column}
			}
		}
	}
	return n.Decode(v)
}

type configYAML struct {
	SLAs           []slaYAML          `yaml:"slas"`
	Services       []serviceYAML      `yaml:"services"`
	Placements     []placementYAML    `yaml:"placements"`
	Checks         checksYAML         `yaml:"checks"`
	Policy         policyYAML         `yaml:"policy"`
	Probes         []probeYAML        `yaml:"probes"`
	StateDir       string             `yaml:"state_dir"`
	MaintenanceLog string             `yaml:"maintenance_log"`
	ReportsDir     string             `yaml:"reports_dir"`
	ReportSchedule reportScheduleYAML `yaml:"report_schedule"`
	Alerts         alertsYAML         `yaml:"alerts"`
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

type reportScheduleYAML struct {
	line  int
	Day   int            `yaml:"day"`
	Time  string         `yaml:"time"`
	Grace yDuration      `yaml:"grace"`
	set   map[string]int // key -> line
}

func (r *reportScheduleYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain reportScheduleYAML
	r.line = n.Line
	r.set = keyLines(n)
	return strict(n, (*plain)(r))
}

type alertsYAML struct {
	line     int
	Interval yDuration     `yaml:"interval"`
	Webhooks []webhookYAML `yaml:"webhooks"`
}

func (a *alertsYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain alertsYAML
	a.line = n.Line
	return strict(n, (*plain)(a))
}

type webhookYAML struct {
	line      int
	URL       string `yaml:"url"`
	SecretEnv string `yaml:"secret_env"`
}

func (w *webhookYAML) UnmarshalYAML(n *yaml.Node) error {
	type plain webhookYAML
	w.line = n.Line
	return strict(n, (*plain)(w))
}

// keyLines maps each key of a mapping to its line.
func keyLines(n *yaml.Node) map[string]int {
	out := map[string]int{}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = n.Content[i].Line
		}
	}
	return out
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// build converts and validates, reporting every problem with its line.
func (y configYAML) build(file string) (Config, error) {
	var errs ConfigProblems
	bad := func(line int, field, format string, args ...any) {
		errs = append(errs, ConfigProblem{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	var cfg Config
	slaNames := map[string]bool{}
	for i, s := range y.SLAs {
		hours, err := ParseServiceHours(s.ServiceHours)
		if err != nil {
			bad(s.line, fmt.Sprintf("slas[%d].service_hours", i), "%v", err)
		}
		sev, err := ParseSeverity(s.DownSeverity)
		if err != nil {
			bad(s.line, fmt.Sprintf("slas[%d].down_severity", i), "%v", err)
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
			bad(s.line, fmt.Sprintf("slas[%d]", i), "%v", err)
		}
		if slaNames[v.Name] {
			bad(s.line, fmt.Sprintf("slas[%d]", i), "SLA %q is defined twice", v.Name)
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
			bad(s.line, fmt.Sprintf("services[%d]", i), "%v", err)
		}
		if svcNames[v.Name] {
			bad(s.line, fmt.Sprintf("services[%d]", i), "service %q is defined twice", v.Name)
		}
		svcNames[v.Name] = true
		cfg.Catalog.Services = append(cfg.Catalog.Services, v)
	}
	for i, p := range y.Placements {
		if p.VM == "" || p.Host == "" {
			bad(p.line, fmt.Sprintf("placements[%d]", i), "vm and host are both required")
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
		bad(y.Checks.line, "checks", "%v", err)
	}
	cfg.Checks = cfg.Checks.WithDefaults()
	cfg.Policy = Policy{
		MergeGap: time.Duration(y.Policy.MergeGap), MinCoverage: y.Policy.MinCoverage,
		BackdateTolerance: time.Duration(y.Policy.BackdateTolerance),
	}.WithDefaults()
	if cfg.Policy.MinCoverage < 0 || cfg.Policy.MinCoverage > 1 {
		bad(y.Policy.line, "policy.min_coverage", "%v must be a fraction between 0 and 1", cfg.Policy.MinCoverage)
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
		timeout := spec.Timeout
		if timeout == 0 {
			timeout = defaultProbeTimeout
		}
		if err := spec.Validate(); err != nil {
			bad(p.line, fmt.Sprintf("probes[%d]", i), "%v", err)
		} else if timeout >= spec.Interval {
			bad(p.line, fmt.Sprintf("probes[%d]", i), "probe %q: timeout %s is not shorter than the interval %s (the collector abandons a check at its interval, so a slow answer would read as no data)", spec.Name, timeout, spec.Interval)
		} else if !svcNames[spec.Service] {
			bad(p.line, fmt.Sprintf("probes[%d]", i), "probe %q checks unknown service %q", spec.Name, spec.Service)
		}
		if probeNames[spec.Name] {
			bad(p.line, fmt.Sprintf("probes[%d]", i), "probe %q is defined twice", spec.Name)
		}
		probeNames[spec.Name] = true
		cfg.Probes = append(cfg.Probes, spec)
	}
	cfg.Files = y.files(filepath.Dir(file))
	cfg.Schedule = y.ReportSchedule.build(bad)
	cfg.Alerts = y.Alerts.build(bad)
	if len(errs) > 0 {
		return Config{}, errs
	}
	return cfg, nil
}

// files resolves the record paths against dir.
func (y configYAML) files(dir string) Files {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	f := Files{StateDir: abs(y.StateDir), MaintenanceLog: abs(y.MaintenanceLog), ReportsDir: abs(y.ReportsDir)}
	if f.StateDir != "" {
		if f.MaintenanceLog == "" {
			f.MaintenanceLog = filepath.Join(f.StateDir, "maintenance.jsonl")
		}
		if f.ReportsDir == "" {
			f.ReportsDir = filepath.Join(f.StateDir, "reports")
		}
	}
	return f
}

func (r reportScheduleYAML) build(bad func(line int, field, format string, args ...any)) ReportSchedule {
	s := ReportSchedule{Day: r.Day, At: DefaultReportAt, Grace: time.Duration(r.Grace)}
	line := func(key string) int {
		if l, ok := r.set[key]; ok {
			return l
		}
		return r.line
	}
	if _, ok := r.set["day"]; !ok {
		s.Day = DefaultReportDay
	}
	if _, ok := r.set["grace"]; !ok {
		s.Grace = DefaultReportGrace
	}
	if s.Day < 1 || s.Day > 28 {
		bad(line("day"), "report_schedule.day", "%d is out of range (expected 1..28, a day every month has)", s.Day)
		return s
	}
	if r.Time != "" {
		t, err := time.Parse("15:04", r.Time)
		if err != nil {
			bad(line("time"), "report_schedule.time", "%q is not a time of day (expected HH:MM, e.g. 06:00)", r.Time)
			return s
		}
		s.At = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	if s.Grace < 0 {
		bad(line("grace"), "report_schedule.grace", "%s is negative (expected e.g. 6h)", s.Grace)
		return s
	}
	if after := time.Duration(s.Day-1)*24*time.Hour + s.At; after < s.Grace {
		bad(line("time"), "report_schedule", "day %d at %s is %s after the month ends, less than the grace of %s (expected a later day or time, or a shorter grace)",
			s.Day, clock(s.At), after, s.Grace)
	}
	return s
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func (a alertsYAML) build(bad func(line int, field, format string, args ...any)) AlertSettings {
	s := AlertSettings{Interval: time.Duration(a.Interval)}
	if s.Interval == 0 {
		s.Interval = time.Minute
	}
	if s.Interval < time.Second {
		bad(a.line, "alerts.interval", "%s is too short (expected at least 1s, e.g. 1m)", s.Interval)
	}
	for i, w := range a.Webhooks {
		field := fmt.Sprintf("alerts.webhooks[%d]", i)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(w.line, field+".url", "%q is not an http or https URL (expected e.g. https://hooks.example/setsuden)", redactURL(w.URL))
		}
		if w.SecretEnv != "" && !envName.MatchString(w.SecretEnv) {
			bad(w.line, field+".secret_env", "%q is not an environment variable name (expected e.g. SETSUDEN_WEBHOOK_SECRET)", w.SecretEnv)
		}
		s.Webhooks = append(s.Webhooks, WebhookSpec{URL: w.URL, SecretEnv: w.SecretEnv})
	}
	return s
}

// redactURL keeps a URL's scheme and host: its path or query may hold a token.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		if len(s) > 40 {
			return s[:40] + "..."
		}
		return s
	}
	return u.Scheme + "://" + u.Host + "/..."
}
