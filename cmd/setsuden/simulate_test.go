package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateBinary runs `setsuden simulate` through the built binary on
// the shipped summer scenario shortened to two days: one JSON line with the
// figures, progress on stderr, and an SVG and a PNG chart.
func TestSimulateBinary(t *testing.T) {
	src, err := os.ReadFile("../../simulate/scenarios/summer-weekday-200.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sc := filepath.Join(dir, "two-days.yaml")
	if err := os.WriteFile(sc, []byte(strings.Replace(string(src), `to: "2026-07-17"`, `to: "2026-07-14"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "chart.svg")
	out, stderr, code := runBin(t, "simulate", "--scenario", sc, "--json", "--chart", svg)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "day 2026-07-14 (2/2)") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one JSON line, got:\n%s", out)
	}
	m := map[string]any{}
	if err := jsonUnmarshal(lines[0], &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"baseline_peak_kw", "achieved_peak_kw", "peak_cut_pct", "energy_saved_kwh", "blocks_over_target", "migrations", "power_cycles", "sla_violation_minutes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %s in %s", k, lines[0])
		}
	}
	if money, ok := m["money"].(map[string]any); !ok || money["yen_saved"].(float64) <= 0 || money["payback_years"].(float64) <= 0 || money["co2_avoided_kg"].(float64) <= 0 {
		t.Errorf("no yen saved, CO2 avoided and payback in %s", lines[0])
	}
	if m["achieved_peak_kw"].(float64) >= m["baseline_peak_kw"].(float64) || m["blocks_over_target"].(float64) != 0 || m["sla_violation_minutes"].(float64) != 0 {
		t.Errorf("summer goals not met: %s", lines[0])
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.HasPrefix(string(b), "<svg") {
		t.Errorf("chart: %v %.40q", err, b)
	}
	png := filepath.Join(dir, "chart.png")
	if _, stderr, code := runBin(t, "simulate", "--scenario", sc, "--chart", png); code != 0 {
		t.Fatalf("png: exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(png); err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Errorf("png chart: %v", err)
	}
	if _, _, code := runBin(t, "simulate", "--scenario", sc, "--chart", "x.gif"); code != 2 {
		t.Errorf("--chart x.gif: exit %d, want 2", code)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestSimulateBadScenario: a scenario with an unknown key or a bad target
// fails with the file, the line or the field, and exit 1.
func TestSimulateBadScenario(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ body, want string }{
		"unknown-key": {"name: x\nhosts: {count: 2, cpu: 8, memory_gb: 32, idle_w: 50, max_w: 100, colour: red}\n", "line 2: field colour not found"},
		"bad-target": {"name: x\nfrom: \"2026-07-13\"\nto: \"2026-07-13\"\nhosts: {count: 2, cpu: 8, memory_gb: 32, idle_w: 50, max_w: 100}\n" +
			"vms: {count: 2, vcpus: [2], mem_gb_per_vcpu: 2, base_util: 0.1, peak_util: 0.3}\n" +
			"demand: {targets: [{date: \"2026-07-13\", from: \"16:00\", to: \"13:00\", kw: 5}]}\n", "demand.targets[0]: window"},
	} {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runBin(t, "simulate", "--scenario", path)
		if code != 1 || !strings.Contains(stderr, path) || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want exit 1 naming %s and %q", name, code, stderr, path, c.want)
		}
	}
}
