package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposePublishesNoUnauthenticatedPort: InfluxDB stays on loopback,
// Grafana has no anonymous access, and setsuden's mounted configuration has
// a user, keeps /metrics behind it, and passes `setsuden validate` with the
// variables .env.example lists (every ${VAR:?} the compose file requires).
func TestComposePublishesNoUnauthenticatedPort(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Services["influxdb"].Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("influxdb publishes %q beyond loopback", p)
		}
	}
	if v := c.Services["grafana"].Environment["GF_AUTH_ANONYMOUS_ENABLED"]; v != "false" {
		t.Errorf("grafana GF_AUTH_ANONYMOUS_ENABLED = %q, want false", v)
	}
	// The .env example names every variable the stack requires.
	env, err := os.ReadFile("../../deploy/.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_]+):\?`).FindAllStringSubmatch(string(data), -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).Match(env) {
			t.Errorf("docker-compose.yml requires %s, which deploy/.env.example does not list", m[1])
		}
	}
	// The file mounted where the command reads its config.
	var mounted string
	for _, v := range c.Services["setsuden"].Volumes {
		src, dst, _ := strings.Cut(v, ":")
		if strings.HasPrefix(dst, "/etc/setsuden/setsuden.yaml") {
			mounted = "../../" + strings.TrimPrefix(src, "./")
		}
	}
	if mounted == "" || !strings.Contains(strings.Join(c.Services["setsuden"].Command, " "), "/etc/setsuden/setsuden.yaml") {
		t.Fatalf("no config mounted at the path the command reads: %v", c.Services["setsuden"].Volumes)
	}
	t.Setenv("INFLUX_TOKEN", "t0ken")
	t.Setenv("INFLUX_ORG", "setsuden")
	t.Setenv("SETSUDEN_ADMIN_PASSWORD_HASH", "$2a$12$XsD1XY5PWqF568NKtT/.pOnckxHfFRM2qazt4cDaM9AEuWV952xB2")
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "--config", mounted}, &out, &errb); code != 0 {
		t.Fatalf("setsuden validate %s: exit %d\n%s%s", mounted, code, out.String(), errb.String())
	}
	cfg, err := loadConfig(mounted, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Server.Users)+len(cfg.Server.Operators)+len(cfg.Server.Tokens) == 0 || cfg.Server.MetricsPublic {
		t.Errorf("the compose setsuden config: %d users, metrics_public %v (want users and /metrics behind them)", len(cfg.Server.Users), cfg.Server.MetricsPublic)
	}
	// Without the hash the stack refuses to start rather than run open.
	os.Unsetenv("SETSUDEN_ADMIN_PASSWORD_HASH")
	if _, err := loadConfig(mounted, true); err == nil || !strings.Contains(err.Error(), "SETSUDEN_ADMIN_PASSWORD_HASH") {
		t.Errorf("without SETSUDEN_ADMIN_PASSWORD_HASH: %v", err)
	}
}
