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
