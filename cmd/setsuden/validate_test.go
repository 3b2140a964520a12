package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestValidateReportsEveryMistakeWithLineAndField(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site.yaml")
	err := os.WriteFile(path, []byte(`site:
  name: dc1
influx:
  url: http://127.0.0.1:8086
  bucket: setsuden/autogen
  flush_interval: soon
modbus:
  devices:
    - name: pdu-a1
      model: no-such-meter
      address: 127.0.0.1:502
    - name: pdu-a2
      model: setsuden-sim-pm
      address: 127.0.0.1:503
      unit_id: 300
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"validate", "--config", path}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), out.String())
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:(\d+): ([a-z_.\[\]0-9]+): .+\(.+\)$`)
	want := []struct{ line, field string }{
		{"6", "influx.flush_interval"}, {"10", "modbus.devices[0].model"}, {"15", "modbus.devices[1].unit_id"},
	}
	for i, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil || m[1] != want[i].line || m[2] != want[i].field {
			t.Errorf("line %d = %q, want %s:%s: %s: ... (expected ...)", i, l, path, want[i].line, want[i].field)
		}
	}
	if !strings.Contains(lines[1], "setsuden-sim-pm") {
		t.Errorf("unknown model line should list the known models: %q", lines[1])
	}
}

func TestValidateAcceptsTheExampleAndDeployConfigs(t *testing.T) {
	t.Setenv("INFLUX_TOKEN", "secret-token-value")
	t.Setenv("INFLUX_ORG", "setsuden")
	t.Setenv("OBIX_PASSWORD", "secret-obix-value")
	t.Setenv("SETSUDEN_ADMIN_PASSWORD_HASH", "$2a$12$XsD1XY5PWqF568NKtT/.pOnckxHfFRM2qazt4cDaM9AEuWV952xB2")
	for _, f := range []string{"../../setsuden.example.yaml", "../../deploy/setsuden.yaml"} {
		var out, errb bytes.Buffer
		if code := run([]string{"validate", "--config", f}, &out, &errb); code != 0 {
			t.Errorf("%s: exit %d:\n%s%s", f, code, out.String(), errb.String())
		}
		if s := out.String() + errb.String(); strings.Contains(s, "secret-token-value") || strings.Contains(s, "secret-obix-value") {
			t.Errorf("%s: token printed", f)
		}
	}
}

func TestCommandLineMistakes(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"validate"}, {"run"}, {"collect", "--config", "x"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("setsuden %v: exit %d, want 2", args, code)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "setsuden ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}
