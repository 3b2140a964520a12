package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/rules/energy"
	"github.com/setsuden/setsuden/rules/shed"
	"github.com/setsuden/setsuden/rules/shed/inventory"
)

const inventoryUsage = `Usage: setsuden inventory export --config FILE [--days 7] [--at TIME] [--percentile 0.95]
                                 [--idle-w 150 --max-w 400] [--out FILE]

Writes an inventory file (docs/inventory.md) from what the collectors stored
in InfluxDB: each libvirt host's CPUs, memory and tags (room, rack), its power
model (fitted from a meter tagged for_host, else the nameplate --idle-w and
--max-w), and each running VM's host, vCPUs, memory and CPU demand as the
--percentile of its cpu_util x vCPUs over the --days before --at. Review and
add SLA classes, services, affinity and facility stages by hand.
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
	cfg, err := loadConfig(*path, true)
	if err != nil {
		return reportProblems(stderr, *path, err)
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
		inv.VMs = append(inv.VMs, shed.VM{Name: v.VM, Host: v.Host, VCPUs: v.VCPUs,
			CPU: shed.Percentile(v.CPUUtil, *pct) * float64(v.VCPUs), MemoryGB: float64(v.MemoryKiB) / (1 << 20)})
	}
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
		fmt.Fprintf(w, "  - {name: %s, host: %s, vcpus: %d, cpu: %.3f, memory_gb: %.3f}\n", yq(v.Name), yq(v.Host), v.VCPUs, v.CPU, v.MemoryGB)
	}
}
