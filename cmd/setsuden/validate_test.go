package main

import (
	"bytes"
	"os"
	"os/exec"
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
	t.Setenv("SETSUDEN_WEBHOOK_SECRET", "secret-webhook-key") // `run` needs it too
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

// TestValidateCatchesWhatRunFailsOn runs the built binary: `validate`
// reports, with file, line and field, what `run` would only fail on at
// start (unset webhook secrets, a token or password file that is missing
// or cannot be read, an SLA section without a place for its records),
// and `run` stops on the same problems before it starts anything.
func TestValidateCatchesWhatRunFailsOn(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "site.yaml")
	err := os.WriteFile(path, []byte(`site: {name: dc1, timezone: Asia/Tokyo}
influx:
  url: http://127.0.0.1:8086
  bucket: setsuden/autogen
  token_file: no-such-token
obix:
  gateways:
    - name: bms
      url: http://127.0.0.1:1/obix
      username: u
      password_file: `+dir+`
      points: [{href: /obix/a, measurement: power, field: kw}]
demand:
  limits:
    - contract: {kw: 500}
  webhooks:
    - url: https://hooks.example/demand
      secret_env: SETSUDEN_TEST_UNSET_DEMAND_SECRET
sla:
  slas: [{name: core, objective: 0.999}]
  services: [{name: web, sla: core, runs_on: {hosts: [hv1]}}]
  alerts:
    webhooks:
      - url: https://hooks.example/sla
        secret_env: SETSUDEN_TEST_UNSET_SLA_SECRET
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + `:5: influx.token_file: cannot be read: open ` + filepath.Join(dir, "no-such-token") + `: no such file or directory (expected a readable file holding the token)`,
		path + `:11: obix.gateways[0].password_file: cannot be read: read ` + dir + `: is a directory (expected a readable file holding the password)`,
		path + `:18: demand.webhooks[0].secret_env: SETSUDEN_TEST_UNSET_DEMAND_SECRET is not set in the environment (expected it to hold the webhook's HMAC key)`,
		path + `:20: sla.state_dir: not set, and neither are sla.maintenance_log and sla.reports_dir (expected a directory for the maintenance log and the report archive, e.g. /var/lib/setsuden/sla)`,
		path + `:25: sla.alerts.webhooks[0].secret_env: SETSUDEN_TEST_UNSET_SLA_SECRET is not set in the environment (expected it to hold the webhook's HMAC key)`,
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	cmd := exec.Command(bin, "validate", "--config", path)
	cmd.Env = env
	out, err := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("validate: exit %d (%v), want 1:\n%s", code, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != strings.Join(want, "\n") {
		t.Errorf("validate said:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	cmd = exec.Command(bin, "run", "--config", path)
	cmd.Env = env
	runOut, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(string(runOut), strings.Join(want, "\n")) {
		t.Errorf("run: exit %d:\n%s\nwant the same problems", code, runOut)
	}

	// With the secrets set and the files fixed, the same file passes (the
	// SLA secret only needs to be set, and the demand one not empty).
	fixed := strings.NewReplacer("token_file: no-such-token", "token_file: token", "password_file: "+dir, "password_file: password",
		"sla:\n", "sla:\n  state_dir: state\n").Replace(mustRead(t, path))
	for _, f := range []string{"token", "password"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, "validate", "--config", path)
	cmd.Env = append(env, "SETSUDEN_TEST_UNSET_DEMAND_SECRET=k1", "SETSUDEN_TEST_UNSET_SLA_SECRET=k2")
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != path+": ok" {
		t.Errorf("fixed file: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "validate", "--config", path)
	cmd.Env = append(env, "SETSUDEN_TEST_UNSET_DEMAND_SECRET=", "SETSUDEN_TEST_UNSET_SLA_SECRET=k2")
	if out, _ := cmd.Output(); !strings.Contains(string(out), path+`:18: demand.webhooks[0].secret_env: SETSUDEN_TEST_UNSET_DEMAND_SECRET is not set`) {
		t.Errorf("empty demand secret:\n%s", out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
