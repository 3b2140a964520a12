package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/slactl"
)

// TestMaintenanceAddAndList announces two windows through the CLI, one 40
// days ahead (PLANNED under the 30-day notice) and one 5 days ahead (SHORT
// NOTICE), lists them, and checks the mistakes and the daemon's lock.
func TestMaintenanceAddAndList(t *testing.T) {
	state := t.TempDir()
	conf := writeSLAConfig(t, "http://127.0.0.1:1", "setsuden/autogen", slaSection(state))
	day := func(n int) string {
		return time.Now().In(slaTokyo).Truncate(time.Hour).AddDate(0, 0, n).Format(time.RFC3339)
	}
	in := func(days, hours int) string {
		return time.Now().In(slaTokyo).Truncate(time.Hour).AddDate(0, 0, days).Add(time.Duration(hours) * time.Hour).Format(time.RFC3339)
	}
	add := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runSLACommand(cmdMaintenance, append([]string{"add", "--config", conf}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errs := add("--services", "web,db", "--start", day(40), "--end", in(40, 2), "--reason", "storage firmware", "--by", "alice")
	if code != 0 {
		t.Fatalf("add: exit %d\n%s", code, errs)
	}
	if !strings.Contains(out, "appended to "+filepath.Join(state, "maintenance.jsonl")) || !strings.Contains(out, "announced") ||
		strings.Count(out, "PLANNED") != 2 || !strings.Contains(out, "by alice") || !strings.Contains(out, "(2h 00m 00s)  storage firmware") {
		t.Errorf("add output:\n%s", out)
	}
	if code, out, errs = add("--services", "web", "--start", day(5), "--end", in(5, 1), "--reason", "urgent patch", "--by", "bob"); code != 0 {
		t.Fatalf("add: exit %d\n%s", code, errs)
	}
	if !strings.Contains(out, "SHORT NOTICE") || !strings.Contains(out, "counts as downtime") {
		t.Errorf("short notice output:\n%s", out)
	}

	var stdout, stderr bytes.Buffer
	if code := runSLACommand(cmdMaintenance, []string{"list", "--config", conf}, &stdout, &stderr); code != 0 {
		t.Fatalf("list: exit %d\n%s", code, stderr.String())
	}
	list := stdout.String()
	if strings.Count(list, "announced") != 2 || strings.Count(list, "PLANNED") != 2 || strings.Count(list, "SHORT NOTICE") != 1 ||
		strings.Index(list, "urgent patch") > strings.Index(list, "storage firmware") {
		t.Errorf("list (by start):\n%s", list)
	}

	// Mistakes name the flag.
	code, _, errs = add("--services", "web,mail", "--start", "tomorrow", "--end", in(6, 0), "--by", "bob")
	for _, want := range []string{"--reason: missing", `--services: unknown service "mail" (expected some of: db, web)`, `--start: "tomorrow" is not an RFC 3339 time`} {
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("bad add: exit %d, stderr lacks %q:\n%s", code, want, errs)
		}
	}
	// While the daemon holds the log, add points to the API; list still reads.
	held, err := slactl.OpenMaintenanceLog(filepath.Join(state, "maintenance.jsonl"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	code, _, errs = add("--services", "web", "--start", day(50), "--end", in(50, 1), "--reason", "x", "--by", "bob")
	if code != 1 || !strings.Contains(errs, "in use by another setsuden process") || !strings.Contains(errs, "POST /api/v1/maintenance") {
		t.Errorf("add beside the daemon: exit %d\n%s", code, errs)
	}
	stdout.Reset()
	if code := runSLACommand(cmdMaintenance, []string{"list", "--config", conf, "--all"}, &stdout, &stderr); code != 0 || strings.Count(stdout.String(), "announced") != 2 {
		t.Errorf("list beside the daemon: exit %d\n%s", code, stdout.String())
	}
}

func TestMaintenanceCommandLineMistakes(t *testing.T) {
	noState := writeSLAConfig(t, "http://127.0.0.1:1", "setsuden/autogen", `sla:
  slas: [{name: core, objective: 0.999}]
  services: [{name: web, sla: core, runs_on: {hosts: [hv1]}}]
`)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, 2, "Usage:"},
		{[]string{"remove"}, 2, `unknown command "remove"`},
		{[]string{"add"}, 2, "--config FILE is required"},
		{[]string{"list", "--config", noState}, 1, noState + ":8: sla.state_dir: not set, and neither is sla.maintenance_log"},
	} {
		var stdout, stderr bytes.Buffer
		code := runSLACommand(cmdMaintenance, tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}
