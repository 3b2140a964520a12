package sla_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// TestParseConfigSample loads testdata/sla.example.yaml, which documents
// every option.
func TestParseConfigSample(t *testing.T) {
	cfg, err := sla.LoadConfig("testdata/sla.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Catalog.SLAs[0]
	if s.NoticePeriod != 30*24*time.Hour || s.RTO != time.Hour || s.MaxFailures != 1 || s.DownSeverity != sla.SeverityHigh || s.ResponseObjective != 0.99 {
		t.Errorf("sla = %+v", s)
	}
	svc := cfg.Catalog.Services[0]
	if svc.Redundancy != 2 || len(svc.RunsOn.VMs) != 3 || svc.Created.IsZero() {
		t.Errorf("service = %+v", svc)
	}
	if cfg.Checks.StaleAfter != 3*time.Minute || cfg.Policy.MergeGap != 5*time.Minute || len(cfg.Catalog.Placements) != 3 {
		t.Errorf("checks %+v policy %+v", cfg.Checks, cfg.Policy)
	}
	if p := cfg.Probes[0]; p.Kind != sla.ProbeHTTP || p.Timeout != 10*time.Second || p.ExpectBody != "ok" {
		t.Errorf("probe = %+v", p)
	}
	// Relative paths are taken from the file's directory.
	dir := "testdata"
	want := sla.Files{StateDir: filepath.Join(dir, "state"), MaintenanceLog: filepath.Join(dir, "state", "maintenance.jsonl"), ReportsDir: "/srv/setsuden/reports"}
	if cfg.Files != want {
		t.Errorf("files = %+v, want %+v", cfg.Files, want)
	}
	if s := cfg.Schedule; s.Day != 2 || s.At != 7*time.Hour+30*time.Minute || s.Grace != 12*time.Hour {
		t.Errorf("schedule = %+v", s)
	}
	if a := cfg.Alerts; a.Interval != 30*time.Second || len(a.Webhooks) != 1 || a.Webhooks[0].SecretEnv != "SETSUDEN_SLA_WEBHOOK_SECRET" {
		t.Errorf("alerts = %+v", a)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := sla.ParseConfig("/etc/setsuden/setsuden.yaml", []byte("slas:\n  - {name: core, objective: 0.999}\nstate_dir: state\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := sla.Files{StateDir: "/etc/setsuden/state", MaintenanceLog: "/etc/setsuden/state/maintenance.jsonl", ReportsDir: "/etc/setsuden/state/reports"}
	if cfg.Files != want {
		t.Errorf("files = %+v, want %+v", cfg.Files, want)
	}
	if s := cfg.Schedule; s.Day != 1 || s.At != 6*time.Hour || s.Grace != 6*time.Hour {
		t.Errorf("schedule = %+v", s)
	}
	if cfg.Alerts.Interval != time.Minute {
		t.Errorf("alerts = %+v", cfg.Alerts)
	}
	// Every problem is a ConfigProblem with file, line and field.
	_, err = sla.ParseConfig("x.yaml", []byte("slas:\n  - {name: core, objective: 2}\nreport_schedule: {day: 0}\n"))
	var probs sla.ConfigProblems
	if !errors.As(err, &probs) || len(probs) != 2 || probs[0].Line != 2 || probs[0].Field != "slas[0]" || probs[1].Field != "report_schedule.day" {
		t.Errorf("problems = %#v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"slas:\n  - name: core\n    objective: 0.999\n    rto: 1hour\n", `sla.yaml:4: slas[0].rto: bad duration "1hour"`},
		{"slas:\n  - name: core\n    objective: 99.9\n", `sla.yaml:2: slas[0]: sla "core": objective 99.9 must be a fraction`},
		{"slas:\n  - name: core\n    objectiv: 0.999\n", `sla.yaml:3: slas[0].objectiv: unknown field "objectiv"`},
		{"slas:\n  - {name: core, objective: 0.999}\nservices:\n  - {name: web, sla: gold, runs_on: {vms: [a]}}\n", `sla.yaml:4: services[0]: service "web": unknown SLA "gold"`},
		{"slas:\n  - {name: core, objective: 0.999}\nservices:\n  - {name: web, sla: core}\n", `runs_on lists no host, VM or probe`},
		{"slas:\n  - {name: core, objective: 0.999, service_hours: [Mon-Fri 9-18]}\n", `sla.yaml:2: slas[0].service_hours`},
		{"slas:\n  - {name: core, objective: 0.999}\nservices:\n  - {name: web, sla: core, runs_on: {vms: [a]}, redundancy: 2}\n", `redundancy 2 of 1`},
		{"slas:\n  - {name: core, objective: 0.999}\nprobes:\n  - {name: p, service: web, kind: icmp, target: x}\n", `sla.yaml:4: probes[0]: probe "p": kind "icmp"`},
		{"slas:\n  - {name: core, objective: high}\n", "sla.yaml:2: slas[0]: cannot unmarshal !!str `high` into float64"},
		{"slas:\n  - {name: core, objective: 0.999}\nservices:\n  - {name: web, sla: core, runs_on: {probes: [p]}}\nprobes:\n  - {name: p, service: web, kind: tcp, target: \"a:1\", interval: 5s}\n", `sla.yaml:6: probes[0]: probe "p": timeout 10s is not shorter than the interval 5s`},
		{"report_schedule:\n  day: 31\n", `sla.yaml:2: report_schedule.day: 31 is out of range (expected 1..28`},
		{"report_schedule:\n  time: 6am\n", `sla.yaml:2: report_schedule.time: "6am" is not a time of day`},
		{"report_schedule:\n  day: 1\n  time: \"02:00\"\n  grace: 6h\n", `sla.yaml:3: report_schedule: day 1 at 02:00 is 2h0m0s after the month ends, less than the grace of 6h0m0s`},
		{"report_schedule:\n  grace: soon\n", `sla.yaml:2: report_schedule.grace: bad duration "soon"`},
		{"checks: {interval: 1m, stale_after: soon}\n", `sla.yaml:1: checks.stale_after: bad duration "soon"`},
		{"slas:\n  - {name: core, objectiv: 0.9}\n", `sla.yaml:2: slas[0].objectiv: unknown field "objectiv"`},
		{"alerts:\n  webhooks:\n    - url: ftp://x/secret-token\n", `sla.yaml:3: alerts.webhooks[0].url: "ftp://x/..." is not an http or https URL`},
		{"alerts:\n  webhooks:\n    - {url: https://x/, secret_env: 1BAD}\n", `sla.yaml:3: alerts.webhooks[0].secret_env: "1BAD" is not an environment variable name`},
	} {
		_, err := sla.ParseConfig("sla.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 720 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second, "0d": 0} {
		if got, err := sla.ParseDuration(in); err != nil || got != want {
			t.Errorf("%s = %s, %v", in, got, err)
		}
	}
	for _, in := range []string{"d", "-1d", "1dx", "soon"} {
		if _, err := sla.ParseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
