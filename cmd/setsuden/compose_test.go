package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/internal/testinflux"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

// TestComposeStackIsConsistent checks what Docker would need, since no
// Docker engine runs here: images, mounts that exist, secrets without
// defaults, and the Grafana datasource the dashboards refer to.
func TestComposeStackIsConsistent(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"influxdb", "grafana", "setsuden"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	if img := c.Services["influxdb"].Image; !strings.HasPrefix(img, "influxdb:2.") {
		t.Errorf("influxdb image %q, want InfluxDB 2.x", img)
	}
	if _, err := os.Stat("../../Dockerfile"); err != nil || c.Services["setsuden"].Build == nil {
		t.Error("setsuden service must build from the repository's Dockerfile")
	}
	for svc, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("../..", src)); err != nil {
					t.Errorf("%s mounts %s, which does not exist", svc, src)
				}
			}
		}
		for k, v := range s.Environment {
			if strings.Contains(k, "PASSWORD") && !strings.Contains(v, ":?") {
				t.Errorf("%s: %s = %q must be required from .env (${VAR:?...}), never defaulted", svc, k, v)
			}
		}
	}
	cmd := strings.Join(c.Services["setsuden"].Command, " ")
	if cmd != "run --config /etc/setsuden/setsuden.yaml" {
		t.Errorf("setsuden command = %q", cmd)
	}
	ds, err := os.ReadFile("../../dashboards/provisioning/datasources/influxdb.yaml")
	if err != nil || !strings.Contains(string(ds), "uid: setsuden-influxdb") || !strings.Contains(string(ds), "version: Flux") {
		t.Errorf("Grafana datasource must be Flux with uid setsuden-influxdb: %v", err)
	}
	dashes, _ := filepath.Glob("../../dashboards/*.json")
	for _, f := range dashes {
		b, _ := os.ReadFile(f)
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if !strings.Contains(string(b), `"uid": "setsuden-influxdb"`) {
			t.Errorf("%s does not use the provisioned datasource", f)
		}
	}
}

// TestDeployConfigWritesToRealInflux runs the compose stack's setsuden
// configuration (bucket, queue, schema) against a real influxd, with its
// devices swapped for a simulated meter on loopback.
func TestDeployConfigWritesToRealInflux(t *testing.T) {
	db := testinflux.Start(t)
	t.Setenv("INFLUX_TOKEN", "")
	t.Setenv("INFLUX_ORG", "")
	t.Setenv("SETSUDEN_ADMIN_PASSWORD_HASH", "$2a$12$XsD1XY5PWqF568NKtT/.pOnckxHfFRM2qazt4cDaM9AEuWV952xB2")
	cfg, err := loadConfig("../../deploy/setsuden.yaml", true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1, Curve: sim.LoadCurve{BaseKW: 8, PeakKW: 12, Seed: 3, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg.Influx.URL = db.URL
	cfg.Influx.QueueDir = t.TempDir()
	cfg.Server.Listen = "127.0.0.1:0"
	dev := cfg.Modbus.Devices[0]
	dev.Address, dev.Interval = m.Addr(), 500*time.Millisecond
	cfg.Modbus.Devices = []config.ModbusDevice{dev}
	cfg.Libvirt.Hosts = nil // the deploy file names a real hypervisor; never contact it from a test
	p, err := buildPipeline(ctx, cfg, "", slog.New(slog.NewTextHandler(io.Discard, nil)), collector.Shard{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.serve(ctx, func(string) {}) }()
	time.Sleep(3 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r := influx.NewReader(db.URL, "", "", cfg.Influx.Bucket)
	defer r.Close()
	counts, err := r.CountBy(context.Background(), "power", "kw", "meter", time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatalf("query bucket %q: %v", cfg.Influx.Bucket, err)
	}
	if counts[dev.Name] < 3 {
		t.Errorf("bucket %q holds %v power points, want >= 3 from %s", cfg.Influx.Bucket, counts, dev.Name)
	}
}
