package sla_test

import (
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
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"slas:\n  - name: core\n    objective: 0.999\n    rto: 1hour\n", `line 4: bad duration "1hour"`},
		{"slas:\n  - name: core\n    objective: 99.9\n", `sla.yaml:2: slas[0]: sla "core": objective 99.9 must be a fraction`},
		{"slas:\n  - name: core\n    objectiv: 0.999\n", `line 3: unknown field "objectiv"`},
		{"slas:\n  - {name: core, objective: 0.999}\nservices:\n  - {name: web, sla: gold, runs_on: {vms: [a]}}\n", `sla.yaml:4: services[0]: service "web": unknown SLA "gold"`},
		{"slas:\n  - {name: core, objective: 0.999}\nservices:\n  - {name: web, sla: core}\n", `runs_on lists no host, VM or probe`},
		{"slas:\n  - {name: core, objective: 0.999, service_hours: [Mon-Fri 9-18]}\n", `sla.yaml:2: slas[0].service_hours`},
		{"slas:\n  - {name: core, objective: 0.999}\nservices:\n  - {name: web, sla: core, runs_on: {vms: [a]}, redundancy: 2}\n", `redundancy 2 of 1`},
		{"slas:\n  - {name: core, objective: 0.999}\nprobes:\n  - {name: p, service: web, kind: icmp, target: x}\n", `sla.yaml:4: probes[0]: probe "p": kind "icmp"`},
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
