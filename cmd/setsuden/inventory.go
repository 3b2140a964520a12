package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/energy"
	"github.com/setsuden/setsuden/rules/shed"
	"github.com/setsuden/setsuden/rules/shed/inventory"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

const inventoryUsage = `Usage: setsuden inventory export --config FILE [--days 7] [--at TIME] [--percentile 0.95]
                                 [--idle-w 150 --max-w 400] [--labels FILE] [--sla] [--out FILE]

Writes an inventory file (docs/inventory.md) from what the collectors stored
in InfluxDB: each libvirt host's CPUs, memory and tags (room, rack), its power
model (fitted from a meter tagged for_host, else the nameplate --idle-w and
--max-w), and each running VM's host, vCPUs, memory and CPU demand as the
--percentile of its cpu_util x vCPUs over the --days before --at. A VM's
service comes from --labels (CSV vm,tenant,service or YAML, as energy-vms) or
from the sla section's runs_on.vms; its SLA class is the service's SLA. With
--sla, each service's remaining error budget is that of the month of --at
(rules/sla, as setsuden report computes it). Review and add affinity and
facility stages by hand.
`

func cmdInventory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "inventory", inventoryUsage, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"export": cmdInventoryExport,
	}, args, stdout, stderr)
}

func cmdInventoryExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inventory export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, inventoryUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML)")
	days := fs.Int("days", 7, "days of history to read")
	at := fs.String("at", "", "end of the history, RFC 3339 (default: now)")
	pct := fs.Float64("percentile", 0.95, "the percentile of a VM's CPU history used as its demand")
	idleW := fs.Float64("idle-w", 150, "nameplate idle power of an unmetered host, W")
	maxW := fs.Float64("max-w", 400, "nameplate full-load power of an unmetered host, W")
	out := fs.String("out", "", "write the inventory here (default: stdout)")
	labelsPath := fs.String("labels", "", "VM labels: CSV vm,tenant,service or YAML vm: {tenant: …, service: …}")
	withSLA := fs.Bool("sla", false, "add each service's remaining error budget this month (needs the sla section)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "setsuden inventory export: "+format+"\n", a...)
		return errUsage
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case *path == "":
		return bad("--config FILE is required")
	case *days < 1:
		return bad("--days %d: want >= 1", *days)
	case *pct <= 0 || *pct > 1:
		return bad("--percentile %g: want 0 < p <= 1", *pct)
	case *idleW < 0 || *maxW < *idleW:
		return bad("--idle-w %g --max-w %g: want 0 <= idle <= max", *idleW, *maxW)
	}
	to := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return bad("--at %q: want an RFC 3339 time", *at)
		}
		to = t
	}
	from := to.AddDate(0, 0, -*days)
	var labels map[string]energy.VMLabels
	if *labelsPath != "" {
		var err error
		if labels, err = readVMLabels(*labelsPath); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(*path, true)
	if err != nil {
		return reportProblems(stderr, *path, err)
	}
	var svc serviceInfo
	if cfg.SLA != nil || *withSLA {
		if svc, err = exportServices(ctx, *path, cfg, to, *withSLA, stderr); err != nil {
			return err
		}
	}
	site := cfg.Site.Name
	reader := influx.NewReader(cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Org, cfg.Influx.Bucket)
	defer reader.Close()
	fmt.Fprintf(stderr, "reading hosts and VMs of %s, %s..%s\n", site, from.Format(time.RFC3339), to.Format(time.RFC3339))
	hosts, vms, err := reader.InventorySeries(ctx, site, from, to)
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return fmt.Errorf("no host points for site %q in %s..%s: is the libvirt collector running?", site, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	fmt.Fprintf(stderr, "reading host power models\n")
	series, err := reader.HostEnergySeries(ctx, site, from, to)
	if err != nil {
		return err
	}
	models := map[string]energy.HostModel{}
	for _, h := range series {
		m, err := energy.SelectHostModel(fitSamples(h, from, to, 5*time.Minute), *idleW, *maxW)
		if err == nil {
			models[h.Host] = m
		}
	}
	inv := shed.Inventory{Site: site}
	known := map[string]bool{}
	var skipped []string
	for _, h := range hosts {
		if h.CPUs <= 0 || h.MemoryKiB <= 0 {
			skipped = append(skipped, fmt.Sprintf("host %s (no cpus or memory_kib)", h.Host))
			continue
		}
		m, ok := models[h.Host]
		if !ok {
			m, _ = energy.NameplateModel(*idleW, *maxW)
		}
		known[h.Host] = true
		inv.Hosts = append(inv.Hosts, shed.Host{Name: h.Host, Site: site, Room: h.Tags["room"], Rack: h.Tags["rack"],
			CPU: float64(h.CPUs), MemoryGB: float64(h.MemoryKiB) / (1 << 20), IdleW: m.IdleW, SlopeW: m.SlopeW, BMC: h.Tags["bmc"]})
	}
	for _, v := range vms {
		if v.State != "running" && v.State != "paused" {
			skipped = append(skipped, fmt.Sprintf("vm %s (%s)", v.VM, orDash(v.State)))
			continue
		}
		if !known[v.Host] {
			skipped = append(skipped, fmt.Sprintf("vm %s (its host %s has no capacity)", v.VM, v.Host))
			continue
		}
		service := svc.vmService[v.VM]
		if l, ok := labels[v.VM]; ok && l.Service != "" {
			service = l.Service
		}
		inv.VMs = append(inv.VMs, shed.VM{Name: v.VM, Host: v.Host, VCPUs: v.VCPUs,
			CPU: shed.Percentile(v.CPUUtil, *pct) * float64(v.VCPUs), MemoryGB: float64(v.MemoryKiB) / (1 << 20),
			Service: service, SLAClass: svc.class[service]})
	}
	inv.Services = svc.services
	var b strings.Builder
	writeInventoryYAML(&b, inv, *pct, from, to, skipped, models)
	// The file must load: check it before anyone plans with it.
	if _, err := inventory.Parse([]byte(b.String()), "exported inventory"); err != nil {
		return fmt.Errorf("exported inventory does not validate: %w", err)
	}
	if *out == "" {
		_, err = io.WriteString(stdout, b.String())
		return err
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("inventory export: %w", err)
	}
	fmt.Fprintf(stderr, "wrote %s: %d hosts, %d VMs\n", *out, len(inv.Hosts), len(inv.VMs))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yq(s string) string { return strconv.Quote(s) }

func writeInventoryYAML(w io.Writer, inv shed.Inventory, pct float64, from, to time.Time, skipped []string, models map[string]energy.HostModel) {
	fmt.Fprintf(w, "# setsuden inventory export: site %s, history %s..%s, VM CPU demand = p%.0f of cpu_util x vcpus\n",
		inv.Site, from.Format(time.RFC3339), to.Format(time.RFC3339), pct*100)
	for _, s := range skipped {
		fmt.Fprintf(w, "# left out: %s\n", s)
	}
	fmt.Fprintf(w, "site: %s\nhosts:\n", yq(inv.Site))
	for _, h := range inv.Hosts {
		src := "nameplate"
		if m, ok := models[h.Name]; ok {
			src = m.Source
		}
		fmt.Fprintf(w, "  - {name: %s, room: %s, rack: %s, cpu: %g, memory_gb: %.3f, idle_w: %.1f, slope_w: %.1f", yq(h.Name), yq(h.Room), yq(h.Rack), h.CPU, h.MemoryGB, h.IdleW, h.SlopeW)
		if h.BMC != "" {
			fmt.Fprintf(w, ", bmc: %s", yq(h.BMC))
		}
		fmt.Fprintf(w, "}  # power model: %s\n", src)
	}
	fmt.Fprintf(w, "vms:\n")
	for _, v := range inv.VMs {
		fmt.Fprintf(w, "  - {name: %s, host: %s, vcpus: %d, cpu: %.3f, memory_gb: %.3f", yq(v.Name), yq(v.Host), v.VCPUs, v.CPU, v.MemoryGB)
		if v.Service != "" {
			fmt.Fprintf(w, ", service: %s", yq(v.Service))
		}
		if v.SLAClass != "" {
			fmt.Fprintf(w, ", sla_class: %s", yq(v.SLAClass))
		}
		fmt.Fprintf(w, "}\n")
	}
	if len(inv.Services) > 0 {
		fmt.Fprintf(w, "services:\n")
		for _, s := range inv.Services {
			fmt.Fprintf(w, "  - {name: %s", yq(s.Name))
			if s.ErrorBudgetRemaining != nil {
				fmt.Fprintf(w, ", error_budget_remaining: %.4f", *s.ErrorBudgetRemaining)
			}
			fmt.Fprintf(w, "}\n")
		}
	}
}

// serviceInfo is what the SLA catalog tells the inventory.
type serviceInfo struct {
	vmService map[string]string // from runs_on.vms
	class     map[string]string // service -> its SLA's name
	services  []shed.Service
}

// exportServices reads the sla section's catalog and, with budgets, the
// month's SLA figures up to at.
func exportServices(ctx context.Context, path string, cfg *config.Config, at time.Time, budgets bool, stderr io.Writer) (serviceInfo, error) {
	info := serviceInfo{vmService: map[string]string{}, class: map[string]string{}}
	_, sc, err := loadSLA(path, true, stderr)
	if err != nil {
		return info, err
	}
	if len(sc.Catalog.Services) == 0 {
		if budgets {
			return info, fmt.Errorf("%s: --sla needs services in the sla section", path)
		}
		return info, nil
	}
	for _, s := range sc.Catalog.Services {
		info.class[s.Name] = s.SLA
		for _, v := range s.RunsOn.VMs {
			if _, ok := info.vmService[v]; !ok {
				info.vmService[v] = s.Name
			}
		}
	}
	left := map[string]float64{}
	if budgets {
		var maint sla.MaintenanceStore
		if sc.Files.MaintenanceLog != "" {
			if maint, err = slactl.ReadMaintenanceLog(sc.Files.MaintenanceLog); err != nil {
				return info, err
			}
		}
		store, err := slaStore(cfg, maint)
		if err != nil {
			return info, err
		}
		loc, err := siteLocation(cfg)
		if err != nil {
			return info, err
		}
		month := at.In(loc).Format("2006-01")
		fmt.Fprintf(stderr, "reading the SLA figures of %s\n", month)
		gen := report.Generator{Site: cfg.Site.Name, Catalog: sc.Catalog, Policy: sc.Policy, AsOf: at}
		m, err := gen.Generate(ctx, store, month, loc, report.Filter{}, nil)
		if err != nil {
			return info, fmt.Errorf("error budgets of %s: %w", month, err)
		}
		for _, s := range m.Services {
			if r := s.Figures.BudgetLeftRatio(); r.Valid() {
				left[s.Service.Name] = math.Max(0, math.Min(1, r.Value()))
			}
		}
	}
	for _, s := range sc.Catalog.Services {
		svc := shed.Service{Name: s.Name}
		if b, ok := left[s.Name]; ok {
			svc.ErrorBudgetRemaining = &b
		}
		info.services = append(info.services, svc)
	}
	return info, nil
}
