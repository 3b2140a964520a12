package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/executor"
	"github.com/setsuden/setsuden/server"
)

// demoMeters are the simulated meters: two IT PDUs of different size and the
// facility's cooling feed. The curves are the simulator's daily load shape.
var demoMeters = []struct {
	name           string
	baseKW, peakKW float64
	tags           map[string]string
}{
	{"pdu-a1", 18, 26, map[string]string{"room": "A", "rack": "A01", "category": "it"}},
	{"pdu-a2", 11, 17, map[string]string{"room": "A", "rack": "A02", "category": "it"}},
	{"crac-1", 9, 15, map[string]string{"room": "A", "category": "cooling"}},
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the web UI")
	dataDir := fs.String("data", "demo-data", "directory for the demo's InfluxDB data and simulated hosts")
	influxd := fs.String("influxd", "", "influxd binary (default: $SETSUDEN_INFLUXD, .tools/bin/influxd, PATH)")
	shedMode := fs.String("shed-mode", "advise", "the shedding executor's mode in the demo: off, advise or approve (auto runs the simulated plan at once)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if _, err := executor.ParseMode(*shedMode); err != nil || *shedMode == "" {
		fmt.Fprintf(stderr, "setsuden demo: --shed-mode %q: expected off, advise, approve or auto\n", *shedMode)
		return errUsage
	}
	cfg := config.Default()
	cfg.Site.Name, cfg.Site.Timezone = "demo", "Asia/Tokyo"
	cfg.Server.Listen = *listen
	log := newLogger(cfg.Log, stderr)
	tuneRuntime(cfg.Runtime, log)
	tz, err := time.LoadLocation(cfg.Site.Timezone)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}

	db, err := influx.StartInfluxd(ctx, influx.InfluxdConfig{Binary: *influxd, Dir: filepath.Join(dir, "influxdb")})
	if err != nil {
		return fmt.Errorf("local InfluxDB: %w", err)
	}
	defer db.Stop()
	log.Info("influxd started", "url", db.URL, "bucket", db.Bucket(), "pid", db.Pid())
	// Tests and curious operators find the demo's database here.
	if err := os.WriteFile(filepath.Join(dir, "influx.url"), []byte(db.URL+"\n"), 0o644); err != nil {
		return err
	}
	cfg.Influx.URL, cfg.Influx.Bucket = db.URL, db.Bucket()
	cfg.Influx.QueueDir = filepath.Join(dir, "queue")

	for i, m := range demoMeters {
		srv, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1,
			InitialKWh: 120_000 * m.baseKW / 10, // a meter that has run for about a year
			Curve:      sim.LoadCurve{BaseKW: m.baseKW, PeakKW: m.peakKW, Seed: int64(i + 1), Location: tz}})
		if err != nil {
			return fmt.Errorf("simulated meter %s: %w", m.name, err)
		}
		defer srv.Close()
		cfg.Modbus.Devices = append(cfg.Modbus.Devices, config.ModbusDevice{
			Name: m.name, Model: "setsuden-sim-pm", Transport: "tcp", Address: srv.Addr(), UnitID: 1,
			Interval: 2 * time.Second, Timeout: time.Second, Retries: 1, Tags: m.tags,
		})
	}
	hosts, err := sim.WriteInventory(filepath.Join(dir, "hosts"), sim.InventorySpec{Hosts: 4, VMsPerHost: 5, Seed: 1, CPUs: 32, MemoryGiB: 256})
	if err != nil {
		return fmt.Errorf("simulated hosts: %w", err)
	}
	for _, h := range hosts {
		lh := config.DefaultLibvirtHost()
		lh.Name, lh.URI, lh.Interval = h.Name, h.URI, 5*time.Second
		cfg.Libvirt.Hosts = append(cfg.Libvirt.Hosts, lh)
	}
	// Demo mode only: one operator with a random password, kept in a file
	// only root can read (secrets are never logged). Outside the demo there
	// is no default password.
	password := randomPassword()
	hash, err := server.HashPassword(password)
	if err != nil {
		return err
	}
	pwFile := filepath.Join(dir, "operator-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	// And a customer of the demo's web service, to see the console as
	// Demo Corp. does: its own services and reports only.
	customerPassword := randomPassword()
	customerHash, err := server.HashPassword(customerPassword)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "customer-password"), []byte(customerPassword+"\n"), 0o600); err != nil {
		return err
	}
	cfg.Server.Users = []config.User{{Name: "demo", Role: "admin", PasswordHash: hash},
		{Name: "demo-corp", Role: "customer", Customer: "Demo Corp.", PasswordHash: customerHash}}
	cfg.Server.UserStore = filepath.Join(dir, "users.db") // the console's Users page
	log.Info("demo account for the console and the API", "user", "demo", "role", "admin", "password_file", pwFile)
	if probs := cfg.Validate(config.Options{}); len(probs) > 0 {
		return fmt.Errorf("demo configuration: %w", probs)
	}
	// The rules run in the demo too: demand control against a contract just
	// above the simulated site's daytime load, and SLA accounting of a web
	// service on the simulated VMs. They are written as the YAML an
	// operator would write (DATA/rules.yaml) and loaded the same way.
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := writeDemoInventory(dir, hosts); err != nil {
		return err
	}
	if err := os.WriteFile(rulesFile, append(append(demoRules(dir, *listen, hosts), demoShedYAML(dir, *shedMode)...), demoTariffYAML()...), 0o644); err != nil {
		return err
	}
	rules, err := loadConfig(rulesFile, false)
	if err != nil {
		return fmt.Errorf("demo rules: %w", reportProblems(stderr, rulesFile, err))
	}
	cfg.Demand, cfg.SLA = rules.Demand, rules.SLA
	cfg.Shed, cfg.Executor = rules.Shed, rules.Executor
	cfg.Tariff = rules.Tariff

	p, err := buildPipeline(ctx, &cfg, rulesFile, log, collector.Shard{Count: 1})
	if err != nil {
		return err
	}
	if err := p.demoShedding(func(id, approve string) {
		fmt.Fprintf(stdout, "plan %s waits for approval: %s\n", id, strings.Replace(approve, "NAME", "demo", 1))
	}); err != nil {
		return err
	}
	// The influxd supervisor: if the database dies, the demo stops loudly
	// instead of queueing forever.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-db.Done():
			log.Error("influxd exited unexpectedly; stopping the demo", "log", filepath.Join(dir, "influxdb", "influxd.log"))
			cancel()
		case <-runCtx.Done():
		}
	}()
	return p.serve(runCtx, func(addr string) {
		fmt.Fprintf(stdout, "setsuden ready: http://%s\n", addr)
		fmt.Fprintf(stdout, "console login: user demo, password %s (demo only; also in %s)\n", password, pwFile)
		fmt.Fprintf(stdout, "customer login: user demo-corp, password %s (sees Demo Corp. only)\n", customerPassword)
		fmt.Fprintf(stdout, "shedding (mode %s): a demand-response target of 20 kW starts a shed; plans: setsuden execute --config %s --list\n", *shedMode, rulesFile)
	})
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// demoRules is the demo's demand and SLA configuration: a 60 kW contract on
// 30-minute blocks (a no-action time of 1 minute instead of the default 5,
// so a demo started at a block's start shows its shed within a minute or
// two, not after 5), and a "web" service on the fleet's web VMs (2 of them
// must be up) with a probe of setsuden's own /healthz when the UI port is
// known.
func demoRules(dir, listen string, hosts []sim.SimHost) []byte {
	var vms, placements []string
	for _, h := range hosts {
		for _, vm := range h.Hypervisor.VMs {
			if vm.Role == "web" && vm.Active() {
				vms = append(vms, vm.Name)
				placements = append(placements, fmt.Sprintf("    - {vm: %s, host: %s}", vm.Name, h.Name))
			}
		}
	}
	runsOn := fmt.Sprintf("{vms: [%s]", strings.Join(vms, ", "))
	probes := ""
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "0" {
		runsOn += ", probes: [ui-health]"
		probes = fmt.Sprintf(`  probes:
    - {name: ui-health, service: web, kind: http, target: "http://%s/healthz", interval: 30s, timeout: 5s}
`, listen)
	}
	runsOn += "}"
	redundancy := min(2, len(vms))
	return []byte(fmt.Sprintf(`site: {name: demo, timezone: Asia/Tokyo}
demand:
  block: 30m
  tick: 10s
  no_action: 1m
  limits:
    - contract: {name: contract, kw: 60}
sla:
  state_dir: %q
  slas:
    - {name: core, objective: 0.999, service_hours: 24x7, time_zone: Asia/Tokyo, notice_period: 30d, rto: 1h, max_failures: 1, response_bound: 3s}
  services:
    - {name: web, sla: core, customer: Demo Corp., runs_on: %s, redundancy: %d}
  placements:
%s
  checks: {interval: 30s, failures_to_confirm: 3}
%s`, filepath.Join(dir, "sla"), runsOn, redundancy, strings.Join(placements, "\n"), probes))
}
