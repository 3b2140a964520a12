package sla_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/rules/sla"
)

// A case folder testdata/<case>/ holds:
//
//	config.yaml    periods to evaluate, the SLA configuration (same schema as
//	               sla.ParseConfig) under "sla:", maintenance records
//	events.csv     time,subject,event,response_ms,cause: subject is
//	  or           host:NAME, vm:NAME, probe:NAME or service:NAME; event is a
//	events.yaml    state (UP, DOWN, UNKNOWN, PLANNED) or a check (ok, fail);
//	               events.yaml also takes check series (from, to, every)
//	expected.yaml  figures per period and service; only listed fields are
//	               compared
//
// A new case is a new folder.
type caseConfig struct {
	Periods     []string                `yaml:"periods"`
	TimeZone    string                  `yaml:"timezone"`
	EvalTime    time.Time               `yaml:"eval_time"`
	DataUntil   time.Time               `yaml:"data_until"`
	SLA         yaml.Node               `yaml:"sla"`
	Maintenance []sla.MaintenanceWindow `yaml:"maintenance"`
}

type caseEvents struct {
	Changes []struct {
		At       time.Time `yaml:"at"`
		Subject  string    `yaml:"subject"`
		State    string    `yaml:"state"`
		Cause    string    `yaml:"cause"`
		Severity string    `yaml:"severity"`
	} `yaml:"changes"`
	Checks []struct {
		Subject    string    `yaml:"subject"`
		At         time.Time `yaml:"at"`
		From       time.Time `yaml:"from"`
		To         time.Time `yaml:"to"`
		Every      string    `yaml:"every"`
		Result     string    `yaml:"result"`
		ResponseMs float64   `yaml:"response_ms"`
		Error      string    `yaml:"error"`
	} `yaml:"checks"`
}

type expIncident struct {
	Start     *time.Time `yaml:"start"`
	End       *time.Time `yaml:"end"`
	TTR       *float64   `yaml:"ttr_s"`
	Downtime  *float64   `yaml:"downtime_s"`
	InPeriod  *float64   `yaml:"downtime_in_period_s"`
	Causes    []string   `yaml:"causes"`
	RTOBreach *bool      `yaml:"rto_breach"`
	Failure   *bool      `yaml:"failure"`
	Energy    *bool      `yaml:"energy_action"`
	Stretches *int       `yaml:"stretches"`
	Ongoing   *bool      `yaml:"ongoing"`
}

type expected struct {
	Period          string             `yaml:"period"`
	Service         string             `yaml:"service"`
	ServiceTime     *float64           `yaml:"service_time_s"`
	Up              *float64           `yaml:"up_s"`
	Down            *float64           `yaml:"down_s"`
	Unknown         *float64           `yaml:"unknown_s"`
	Planned         *float64           `yaml:"planned_s"`
	Degraded        *float64           `yaml:"degraded_s"`
	EnergyDown      *float64           `yaml:"energy_action_down_s"`
	ShortNoticeDown *float64           `yaml:"short_notice_down_s"`
	OverrunDown     *float64           `yaml:"overrun_down_s"`
	Availability    *float64           `yaml:"availability"`
	AvailabilityMin *float64           `yaml:"availability_min"`
	Coverage        *float64           `yaml:"coverage"`
	Verdict         *string            `yaml:"verdict"`
	Failures        *int               `yaml:"failures"`
	RTOBreaches     *int               `yaml:"rto_breaches"`
	MTTR            *float64           `yaml:"mttr_s"`
	MTBF            *float64           `yaml:"mtbf_s"`
	BudgetTotal     *float64           `yaml:"budget_total_s"`
	BudgetLeft      *float64           `yaml:"budget_left_s"`
	Partial         *bool              `yaml:"partial"`
	Provisional     *bool              `yaml:"provisional"`
	Breaches        []string           `yaml:"breaches"`
	DailyDown       map[string]float64 `yaml:"daily_down_s"`
	Incidents       *[]expIncident     `yaml:"incidents"`
	CarriedOver     *[]expIncident     `yaml:"carried_over"`
	Maintenance     []struct {
		ID          string   `yaml:"id"`
		Class       string   `yaml:"class"`
		Excluded    *float64 `yaml:"excluded_s"`
		CountedDown *float64 `yaml:"counted_down_s"`
		Overrun     *float64 `yaml:"overrun_s"`
		Backdated   *bool    `yaml:"backdated"`
	} `yaml:"maintenance"`
	Response *struct {
		Valid  *int     `yaml:"valid"`
		Within *int     `yaml:"within"`
		Failed *int     `yaml:"failed"`
		P50    *float64 `yaml:"p50_ms"`
		P95    *float64 `yaml:"p95_ms"`
		P99    *float64 `yaml:"p99_ms"`
	} `yaml:"response"`
}

// observation is one event of a case, in time order.
type observation struct {
	at      time.Time
	subject string // host:..., vm:..., probe:..., service:...
	change  *sla.StateChange
	check   *sla.Check
}

func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/config.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no case folders: %v", err)
	}
	for _, cfgPath := range dirs {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) { runCase(t, dir) })
	}
}

func runCase(t *testing.T, dir string) {
	var cc caseConfig
	readYAML(t, filepath.Join(dir, "config.yaml"), &cc)
	cfg, err := sla.DecodeConfig(filepath.Join(dir, "config.yaml"), &cc.SLA)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	loc, err := time.LoadLocation(cc.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	obs := loadObservations(t, dir)

	var periods []sla.Period
	for _, m := range cc.Periods {
		p, err := sla.Month(m, loc)
		if err != nil {
			t.Fatal(err)
		}
		periods = append(periods, p)
	}
	dataUntil := cc.DataUntil
	if dataUntil.IsZero() {
		dataUntil = periods[len(periods)-1].End
		for _, o := range obs {
			if o.at.After(dataUntil) {
				dataUntil = o.at
			}
		}
	}

	// Batch path: checks -> probe states; components -> service states.
	comp := map[string][]sla.StateChange{}
	checks := map[string][]sla.Check{}
	direct := map[string][]sla.StateChange{}
	for _, o := range obs {
		switch {
		case o.check != nil:
			checks[o.subject] = append(checks[o.subject], *o.check)
		case strings.HasPrefix(o.subject, "service:"):
			name := strings.TrimPrefix(o.subject, "service:")
			direct[name] = append(direct[name], *o.change)
		default:
			comp[o.subject] = append(comp[o.subject], *o.change)
		}
	}
	for id, cs := range checks {
		comp[id] = mergeChanges(comp[id], sla.ChangesFromChecks(cs, cfg.Checks, dataUntil))
	}
	serviceChanges := map[string][]sla.StateChange{}
	for _, svc := range cfg.Catalog.Services {
		if d, ok := direct[svc.Name]; ok {
			serviceChanges[svc.Name] = d
			continue
		}
		serviceChanges[svc.Name] = sla.ServiceChanges(svc, cfg.Catalog.Placements, comp)
	}

	// Live path: the tracker must produce the same service timelines.
	checkTrackerAgrees(t, cfg, obs, direct, serviceChanges, dataUntil)

	var want []expected
	readYAML(t, filepath.Join(dir, "expected.yaml"), &want)
	if len(want) == 0 {
		t.Fatal("expected.yaml lists nothing")
	}
	for _, w := range want {
		svc, ok := cfg.Catalog.Service(w.Service)
		if !ok {
			t.Fatalf("expected.yaml: unknown service %q", w.Service)
		}
		agreement, _ := cfg.Catalog.SLA(svc.SLA)
		var period sla.Period
		for _, p := range periods {
			if p.Label == w.Period {
				period = p
			}
		}
		if period.Label == "" {
			t.Fatalf("expected.yaml: period %q is not in config.yaml periods", w.Period)
		}
		var samples []sla.ProbeSample
		for _, p := range svc.RunsOn.Probes {
			for _, c := range checks[sla.ComponentID(sla.KindProbe, p)] {
				samples = append(samples, sla.ProbeSample{At: c.At, Probe: p, Up: c.OK, ResponseMs: c.ResponseMs})
			}
		}
		f, err := sla.Evaluate(sla.Input{
			Service: svc, SLA: agreement, Policy: cfg.Policy, Period: period,
			EvalTime: cc.EvalTime, DataUntil: dataUntil,
			Changes: serviceChanges[svc.Name], Maintenance: cc.Maintenance, Probes: samples,
		})
		if err != nil {
			t.Fatalf("%s %s: %v", w.Period, w.Service, err)
		}
		t.Run(w.Period+"/"+w.Service, func(t *testing.T) { compare(t, w, f) })
	}
}

func checkTrackerAgrees(t *testing.T, cfg sla.Config, obs []observation, direct map[string][]sla.StateChange, want map[string][]sla.StateChange, until time.Time) {
	t.Helper()
	if len(obs) == 0 {
		return
	}
	start := obs[0].at
	tr, err := sla.NewTracker(cfg.Catalog, cfg.Checks, start)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]sla.StateChange{}
	collect := func(now time.Time) {
		for _, c := range tr.Advance(now) {
			got[c.Service] = append(got[c.Service], c.StateChange)
		}
	}
	next := start
	for _, o := range obs {
		for ; next.Before(o.at); next = next.Add(cfg.Checks.Interval) {
			collect(next)
		}
		switch {
		case o.check != nil:
			tr.ObserveCheck(strings.TrimPrefix(o.subject, "probe:"), *o.check)
		case !strings.HasPrefix(o.subject, "service:"):
			tr.ObserveComponent(o.subject, *o.change)
		}
	}
	for ; !next.After(until); next = next.Add(cfg.Checks.Interval) {
		collect(next)
	}
	collect(until)
	for _, svc := range cfg.Catalog.Services {
		if _, ok := direct[svc.Name]; ok {
			continue
		}
		w := trimBefore(want[svc.Name], tr.Horizon())
		g := trimBefore(got[svc.Name], tr.Horizon())
		if !reflect.DeepEqual(g, w) {
			t.Errorf("tracker for %s:\n got %v\nwant %v", svc.Name, fmtChanges(g), fmtChanges(w))
		}
	}
}

func trimBefore(cs []sla.StateChange, h time.Time) []sla.StateChange {
	var out []sla.StateChange
	for _, c := range cs {
		if c.At.Before(h) {
			c.At = c.At.UTC()
			out = append(out, c)
		}
	}
	return out
}

func fmtChanges(cs []sla.StateChange) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "\n  %s %s %q", c.At.Format(time.RFC3339), c.State, c.Cause)
	}
	return b.String()
}

func mergeChanges(a, b []sla.StateChange) []sla.StateChange {
	out := append(append([]sla.StateChange(nil), a...), b...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func loadObservations(t *testing.T, dir string) []observation {
	var obs []observation
	if f, err := os.Open(filepath.Join(dir, "events.csv")); err == nil {
		defer f.Close()
		obs = append(obs, readEventsCSV(t, f)...)
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "events.yaml")); err == nil {
		var ev caseEvents
		readYAML(t, filepath.Join(dir, "events.yaml"), &ev)
		for _, c := range ev.Changes {
			st, err := sla.ParseState(c.State)
			if err != nil {
				t.Fatal(err)
			}
			sev, err := sla.ParseSeverity(c.Severity)
			if err != nil {
				t.Fatal(err)
			}
			obs = append(obs, observation{at: c.At, subject: c.Subject, change: &sla.StateChange{At: c.At, State: st, Cause: c.Cause, Severity: sev}})
		}
		for _, c := range ev.Checks {
			ok := c.Result == "ok"
			if !ok && c.Result != "fail" {
				t.Fatalf("events.yaml: check result %q (ok or fail)", c.Result)
			}
			add := func(at time.Time) {
				obs = append(obs, observation{at: at, subject: c.Subject, check: &sla.Check{At: at, OK: ok, ResponseMs: c.ResponseMs, Error: c.Error}})
			}
			if !c.At.IsZero() {
				add(c.At)
				continue
			}
			every, err := sla.ParseDuration(c.Every)
			if err != nil || every <= 0 {
				t.Fatalf("events.yaml: check series %s every %q", c.Subject, c.Every)
			}
			for at := c.From; at.Before(c.To); at = at.Add(every) {
				add(at)
			}
		}
	}
	if len(obs) == 0 {
		t.Fatalf("%s: no events.csv or events.yaml", dir)
	}
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].at.Before(obs[j].at) })
	return obs
}

func readEventsCSV(t *testing.T, r io.Reader) []observation {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("events.csv: %v", err)
	}
	var obs []observation
	for i, row := range rows {
		if i == 0 {
			if strings.Join(row, ",") != "time,subject,event,response_ms,cause" {
				t.Fatalf("events.csv header %q, want time,subject,event,response_ms,cause", row)
			}
			continue
		}
		for len(row) < 5 {
			row = append(row, "")
		}
		at, err := time.Parse(time.RFC3339, row[0])
		if err != nil {
			t.Fatalf("events.csv row %d: %v", i+1, err)
		}
		switch ev := row[2]; ev {
		case "ok", "fail":
			ms, _ := strconv.ParseFloat(row[3], 64)
			obs = append(obs, observation{at: at, subject: row[1], check: &sla.Check{At: at, OK: ev == "ok", ResponseMs: ms, Error: row[4]}})
		default:
			st, err := sla.ParseState(ev)
			if err != nil {
				t.Fatalf("events.csv row %d: %v", i+1, err)
			}
			obs = append(obs, observation{at: at, subject: row[1], change: &sla.StateChange{At: at, State: st, Cause: row[4]}})
		}
	}
	return obs
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func secs(d time.Duration) float64 { return d.Seconds() }

func compare(t *testing.T, w expected, f sla.Figures) {
	t.Helper()
	num := func(name string, want *float64, got float64) {
		if want != nil && math.Abs(*want-got) > 1e-9*math.Max(1, math.Abs(*want)) {
			t.Errorf("%s = %v, want %v", name, got, *want)
		}
	}
	integer := func(name string, want *int, got int) {
		if want != nil && *want != got {
			t.Errorf("%s = %d, want %d", name, got, *want)
		}
	}
	boolean := func(name string, want *bool, got bool) {
		if want != nil && *want != got {
			t.Errorf("%s = %v, want %v", name, got, *want)
		}
	}
	num("service_time_s", w.ServiceTime, secs(f.ServiceTime))
	num("up_s", w.Up, secs(f.Up))
	num("down_s", w.Down, secs(f.Down))
	num("unknown_s", w.Unknown, secs(f.Unknown))
	num("planned_s", w.Planned, secs(f.Planned))
	num("degraded_s", w.Degraded, secs(f.Degraded))
	num("energy_action_down_s", w.EnergyDown, secs(f.EnergyActionDown))
	num("short_notice_down_s", w.ShortNoticeDown, secs(f.ShortNoticeDown))
	num("overrun_down_s", w.OverrunDown, secs(f.OverrunDown))
	num("availability", w.Availability, f.Availability.Value())
	num("availability_min", w.AvailabilityMin, f.AvailabilityMin.Value())
	num("coverage", w.Coverage, f.Coverage.Value())
	if w.Verdict != nil && *w.Verdict != string(f.Verdict) {
		t.Errorf("verdict = %s, want %s (A %s, A_min %s, C %s)", f.Verdict, *w.Verdict, f.Availability, f.AvailabilityMin, f.Coverage)
	}
	integer("failures", w.Failures, f.Failures)
	integer("rto_breaches", w.RTOBreaches, f.RTOBreaches)
	num("mttr_s", w.MTTR, secs(f.MTTR))
	num("mtbf_s", w.MTBF, secs(f.MTBF))
	num("budget_total_s", w.BudgetTotal, secs(f.BudgetTotal))
	num("budget_left_s", w.BudgetLeft, secs(f.BudgetLeft))
	boolean("partial", w.Partial, f.Partial)
	boolean("provisional", w.Provisional, f.Provisional)
	if w.Breaches != nil && !reflect.DeepEqual(w.Breaches, f.Breaches) {
		t.Errorf("breaches = %q, want %q", f.Breaches, w.Breaches)
	}
	for day, want := range w.DailyDown {
		found := false
		for _, d := range f.Daily {
			if d.Date == day {
				found = true
				num("daily_down_s["+day+"]", &want, secs(d.Down))
			}
		}
		if !found {
			t.Errorf("no daily figures for %s", day)
		}
	}
	incidents := func(name string, want *[]expIncident, got []sla.Incident) {
		if want == nil {
			return
		}
		if len(*want) != len(got) {
			t.Errorf("%s: %d, want %d:%s", name, len(got), len(*want), fmtIncidents(got))
			return
		}
		for i, wi := range *want {
			gi := got[i]
			p := fmt.Sprintf("%s[%d].", name, i)
			if wi.Start != nil && !wi.Start.Equal(gi.Start) {
				t.Errorf("%sstart = %s, want %s", p, gi.Start, *wi.Start)
			}
			if wi.End != nil && !wi.End.Equal(gi.End) {
				t.Errorf("%send = %s, want %s", p, gi.End, *wi.End)
			}
			num(p+"ttr_s", wi.TTR, secs(gi.TTR))
			num(p+"downtime_s", wi.Downtime, secs(gi.Downtime))
			num(p+"downtime_in_period_s", wi.InPeriod, secs(gi.DowntimeInPeriod))
			if wi.Causes != nil && !reflect.DeepEqual(wi.Causes, gi.Causes) {
				t.Errorf("%scauses = %q, want %q", p, gi.Causes, wi.Causes)
			}
			boolean(p+"rto_breach", wi.RTOBreach, gi.RTOBreach)
			boolean(p+"failure", wi.Failure, gi.Failure)
			boolean(p+"energy_action", wi.Energy, gi.EnergyAction)
			boolean(p+"ongoing", wi.Ongoing, gi.Ongoing)
			integer(p+"stretches", wi.Stretches, gi.Stretches)
		}
	}
	incidents("incidents", w.Incidents, f.Incidents)
	incidents("carried_over", w.CarriedOver, f.CarriedOver)
	if w.Maintenance != nil && len(w.Maintenance) != len(f.Maintenance) {
		t.Errorf("maintenance: %d windows, want %d", len(f.Maintenance), len(w.Maintenance))
	}
	for i, wm := range w.Maintenance {
		if i >= len(f.Maintenance) {
			break
		}
		gm := f.Maintenance[i]
		p := fmt.Sprintf("maintenance[%d].", i)
		if gm.Window.ID != wm.ID || string(gm.Class) != wm.Class {
			t.Errorf("%s = %s %s, want %s %s", p, gm.Window.ID, gm.Class, wm.ID, wm.Class)
		}
		num(p+"excluded_s", wm.Excluded, secs(gm.Excluded))
		num(p+"counted_down_s", wm.CountedDown, secs(gm.CountedDown))
		num(p+"overrun_s", wm.Overrun, secs(gm.Overrun))
		boolean(p+"backdated", wm.Backdated, gm.Backdated)
	}
	if r := w.Response; r != nil {
		integer("response.valid", r.Valid, f.Response.Valid)
		integer("response.within", r.Within, f.Response.Within)
		integer("response.failed", r.Failed, f.Response.Failed)
		num("response.p50_ms", r.P50, f.Response.P50)
		num("response.p95_ms", r.P95, f.Response.P95)
		num("response.p99_ms", r.P99, f.Response.P99)
	}
}

func fmtIncidents(in []sla.Incident) string {
	var b strings.Builder
	for _, i := range in {
		fmt.Fprintf(&b, "\n  %s .. %s ttr %s down %s causes %q stretches %d", i.Start.Format(time.RFC3339), i.End.Format(time.RFC3339), i.TTR, i.Downtime, i.Causes, i.Stretches)
	}
	return b.String()
}
