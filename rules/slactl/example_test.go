package slactl_test

import (
	"os"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

// TestExampleSection decodes testdata/example-sla-section.yaml, the sla
// section written for setsuden.example.yaml, as the daemon does.
func TestExampleSection(t *testing.T) {
	const path = "testdata/example-sla-section.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SLA yaml.Node `yaml:"sla"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	cfg, err := sla.DecodeConfig(path, &doc.SLA)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Files.MaintenanceLog != "/var/lib/setsuden/sla/maintenance.jsonl" || cfg.Files.ReportsDir != "/var/lib/setsuden/sla/reports" ||
		cfg.Schedule != (sla.ReportSchedule{Day: 1, At: 6 * time.Hour, Grace: 6 * time.Hour}) || len(cfg.Alerts.Webhooks) != 1 {
		t.Errorf("decoded %+v %+v %+v", cfg.Files, cfg.Schedule, cfg.Alerts)
	}
	if src, err := slactl.ProbeSources(cfg.Probes); err != nil || len(src) != 1 {
		t.Errorf("probes: %v %v", src, err)
	}
}
