package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/rules/energy"
)

// Conventions of `setsuden energy-vms` (the configuration has no host ↔
// meter mapping or VM labels yet):
//
//   - A meter that measures one host (PDU outlet, BMC reading) carries the
//     tag for_host=<host name> (influx.ForHostTag; in the configuration,
//     a device's `tags: {for_host: hv-01}`; `host` is reserved). Such a
//     host's energy is its meters' integrated kw, and its power model is
//     fitted from its cpu_util against that power (same-time samples,
//     power interpolated to the utilisation sample within --max-gap).
//     When the fit fails (too few samples, too little spread) the model
//     falls back to the nameplate, but the energy stays metered.
//   - A host without a meter: energy from the nameplate model,
//     P = idle + (max − idle)·cpu_util, with --idle-w and --max-w.
//   - VM labels: --labels FILE, CSV (vm,tenant,service; a first row
//     "vm,tenant,service" is a header) or YAML (a map vm → {tenant,
//     service}), chosen by the .csv extension.
//   - Attribution is per --slot (an hour by default): a VM's CPU time in a
//     slot is ∫ cpu_util × vcpus; it gets an idle share by its vCPUs if it
//     was running or paused at any sample in the slot. Node CPU time is
//     the VMs' sum (host cpu_util is computed from domains' CPU time), so
//     the host keeps only idle energy of slots with no VM.
const energyVMsUsage = `Usage:
  setsuden energy-vms --config FILE --from YYYY-MM-DD --to YYYY-MM-DD [--labels FILE]
                      [--idle-w 150 --max-w 400] [--slot 1h] [--max-gap 5m]
      per-host power model (fitted from a meter tagged for_host=<host>, else nameplate),
      per-VM energy (idle share by vCPUs + CPU-time share of the active part), and
      per-tenant and per-service totals from VM labels
`

// cmdEnergyVMs is `setsuden energy-vms`.
func cmdEnergyVMs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("energy-vms", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, energyVMsUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML)")
	fromFlag := fs.String("from", "", "first day, YYYY-MM-DD in site.timezone")
	toFlag := fs.String("to", "", "last day (included), YYYY-MM-DD")
	labelsPath := fs.String("labels", "", "VM labels: CSV vm,tenant,service or YAML vm: {tenant: …, service: …}")
	idleW := fs.Float64("idle-w", 150, "nameplate idle power of an unmetered host, W")
	maxW := fs.Float64("max-w", 400, "nameplate full-load power of an unmetered host, W")
	slot := fs.Duration("slot", time.Hour, "attribution slot")
	maxGap := fs.Duration("max-gap", 5*time.Minute, "longest interval between samples that is integrated; longer gaps are missing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "setsuden energy-vms: "+format+"\n", a...)
		return errUsage
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if *path == "" {
		return bad("--config FILE is required")
	}
	if *idleW < 0 || *maxW < *idleW {
		return bad("--idle-w %g --max-w %g: want 0 <= idle <= max", *idleW, *maxW)
	}
	if *slot <= 0 || *maxGap <= 0 {
		return bad("--slot and --max-gap must be positive durations")
	}
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
	loc, err := time.LoadLocation(cfg.Site.Timezone)
	if err != nil {
		return fmt.Errorf("%s: site.timezone: %w", *path, err)
	}
	from, to, err := dayRange(*fromFlag, *toFlag, loc)
	last := to.AddDate(0, 0, -1) // the last day, for messages
	if err != nil {
		return bad("%v", err)
	}
	site := cfg.Site.Name
	reader := influx.NewReader(cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Org, cfg.Influx.Bucket)
	defer reader.Close()

	hosts, err := reader.HostEnergySeries(ctx, site, from.Add(-*maxGap), to.Add(*maxGap))
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return fmt.Errorf("no hosts of site %q in %s..%s", site, from.Format("2006-01-02"), last.Format("2006-01-02"))
	}
	res, err := attributeHosts(hosts, from, to, *slot, *maxGap, *idleW, *maxW)
	if err != nil {
		return err
	}
	printEnergyVMs(stdout, res, labels, site, loc, from, last, *slot, *idleW, *maxW)
	return nil
}

// readVMLabels reads a labels file: CSV (by extension .csv) or YAML.
func readVMLabels(path string) (map[string]energy.VMLabels, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	out := map[string]energy.VMLabels{}
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		r := csv.NewReader(strings.NewReader(string(b)))
		r.FieldsPerRecord = -1
		r.Comment = '#'
		r.TrimLeadingSpace = true
		rows, err := r.ReadAll()
		if err != nil {
			return nil, fmt.Errorf("labels %s: %w", path, err)
		}
		for i, row := range rows {
			if i == 0 && len(row) > 0 && strings.EqualFold(strings.TrimSpace(row[0]), "vm") {
				continue
			}
			if len(row) < 2 || len(row) > 3 || strings.TrimSpace(row[0]) == "" {
				return nil, fmt.Errorf("labels %s: row %d: want vm,tenant,service", path, i+1)
			}
			l := energy.VMLabels{Tenant: strings.TrimSpace(row[1])}
			if len(row) == 3 {
				l.Service = strings.TrimSpace(row[2])
			}
			out[strings.TrimSpace(row[0])] = l
		}
		return out, nil
	}
	var y map[string]struct {
		Tenant  string `yaml:"tenant"`
		Service string `yaml:"service"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&y); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("labels %s: want a map vm: {tenant: …, service: …}: %w", path, err)
	}
	for vm, l := range y {
		out[vm] = energy.VMLabels{Tenant: l.Tenant, Service: l.Service}
	}
	return out, nil
}

// hostResult is one host's model, energy and attribution over the range.
type hostResult struct {
	host     string
	meters   []string // meters tagged for it; empty: modelled energy
	model    energy.HostModel
	fitError error // why a metered host fell back to the nameplate
	energy   energy.Energy
	idleKWh  float64
	active   float64
	kept     float64 // energy left with the host (no VM)
}

// vmsResult is the attribution of all hosts.
type vmsResult struct {
	hosts []hostResult
	vms   []energy.VMEnergy // one entry per VM, summed over slots and hosts
	where map[string][]string
}

// attributeHosts fits or picks each host's model and attributes its energy
// in [from, to) slot by slot.
func attributeHosts(hosts []influx.HostEnergySeries, from, to time.Time, slot, maxGap time.Duration, idleW, maxW float64) (vmsResult, error) {
	res := vmsResult{where: map[string][]string{}}
	byVM := map[string]*energy.VMEnergy{}
	for _, h := range hosts {
		hr := hostResult{host: h.Host}
		for _, m := range h.Meters {
			hr.meters = append(hr.meters, m.Meter)
		}
		var err error
		if len(h.Meters) > 0 {
			hr.model, hr.fitError = energy.FitHostModel(fitSamples(h, from, to, maxGap))
			if hr.fitError != nil {
				hr.model, err = energy.NameplateModel(idleW, maxW)
			}
		} else {
			hr.model, err = energy.NameplateModel(idleW, maxW)
		}
		if err != nil {
			return res, err
		}
		for s := from; s.Before(to); s = s.Add(slot) {
			e := s.Add(slot)
			if e.After(to) {
				e = to
			}
			var he energy.Energy
			if len(h.Meters) > 0 {
				for i, m := range h.Meters {
					me := energy.Integrate(m.Power, s, e, maxGap)
					if i == 0 || me.Covered < he.Covered {
						he.Covered = me.Covered // a host is covered where all its meters are
					}
					he.KWh += me.KWh
				}
				he.Span = e.Sub(s)
			} else {
				he = hr.model.KWh(h.Util, s, e, maxGap)
			}
			hr.energy = hr.energy.Add(he)
			if he.KWh == 0 && he.Covered == 0 {
				continue
			}
			var usage []energy.VMUsage
			for _, v := range h.VMs {
				if u, ok := vmUsage(v, s, e, maxGap); ok {
					usage = append(usage, u)
				}
			}
			a, err := energy.AttributeVMs(energy.HostPeriod{KWh: he.KWh, Duration: e.Sub(s), Model: hr.model}, usage)
			if err != nil {
				return res, fmt.Errorf("host %s %s: %w", h.Host, slotTime(s), err)
			}
			hr.idleKWh += a.IdleKWh
			hr.active += a.ActiveKWh
			hr.kept += a.HostKWh
			for _, ve := range a.VMs {
				t := byVM[ve.VM]
				if t == nil {
					t = &energy.VMEnergy{VM: ve.VM}
					byVM[ve.VM] = t
				}
				t.IdleKWh += ve.IdleKWh
				t.ActiveKWh += ve.ActiveKWh
				t.KWh += ve.KWh
				if w := res.where[ve.VM]; len(w) == 0 || w[len(w)-1] != h.Host {
					res.where[ve.VM] = append(w, h.Host)
				}
			}
		}
		res.hosts = append(res.hosts, hr)
	}
	for _, v := range byVM {
		res.vms = append(res.vms, *v)
	}
	sort.Slice(res.vms, func(i, j int) bool { return res.vms[i].VM < res.vms[j].VM })
	return res, nil
}

func slotTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// fitSamples pairs each cpu_util sample of h in [from, to) with the power
// of its meters at that moment (W, summed; each meter's kw interpolated
// between its neighbouring samples no more than maxGap apart). A moment
// where any meter has no value is left out.
func fitSamples(h influx.HostEnergySeries, from, to time.Time, maxGap time.Duration) []energy.HostSample {
	var out []energy.HostSample
	for _, u := range h.Util {
		if u.Time.Before(from) || !u.Time.Before(to) {
			continue
		}
		var w float64
		ok := true
		for _, m := range h.Meters {
			kw, found := powerAt(m.Power, u.Time, maxGap)
			if !found {
				ok = false
				break
			}
			w += kw * 1000
		}
		if ok {
			out = append(out, energy.HostSample{CPUUtil: u.Util, PowerW: w})
		}
	}
	return out
}

// powerAt is p (sorted) at t: a sample at t, else linear interpolation
// between the samples either side when they are at most maxGap apart.
func powerAt(p []energy.PowerSample, t time.Time, maxGap time.Duration) (float64, bool) {
	i := sort.Search(len(p), func(i int) bool { return !p[i].Time.Before(t) })
	if i < len(p) && p[i].Time.Equal(t) {
		return p[i].KW, true
	}
	if i == 0 || i == len(p) {
		return 0, false
	}
	a, b := p[i-1], p[i]
	dt := b.Time.Sub(a.Time)
	if dt > maxGap {
		return 0, false
	}
	f := float64(t.Sub(a.Time)) / float64(dt)
	return a.KW + f*(b.KW-a.KW), true
}

// vmUsage is v's use of its host in [s, e): CPU seconds integrated from
// cpu_util × vcpus (trapezoid, gaps over maxGap missing), and its vCPUs if
// it was running or paused at a sample in the slot. ok is false when the
// VM neither ran nor used CPU in the slot.
func vmUsage(v influx.VMEnergySeries, s, e time.Time, maxGap time.Duration) (energy.VMUsage, bool) {
	u := energy.VMUsage{VM: v.VM}
	var cpu []energy.PowerSample
	vcpus := 0
	for _, x := range v.Samples {
		if x.HasVCPUs {
			vcpus = x.VCPUs
		}
		if x.HasUtil {
			cpu = append(cpu, energy.PowerSample{Time: x.Time, KW: x.CPUUtil * float64(vcpus)})
		}
		if !x.Time.Before(s) && x.Time.Before(e) && (x.State == "running" || x.State == "paused") && vcpus > u.VCPUs {
			u.VCPUs = vcpus
		}
	}
	// Integrate works in kW × h; here "kW" is busy vCPUs, so the result
	// is CPU-hours.
	u.CPUSeconds = energy.Integrate(cpu, s, e, maxGap).KWh * 3600
	return u, u.VCPUs > 0 || u.CPUSeconds > 0
}

func printEnergyVMs(w io.Writer, res vmsResult, labels map[string]energy.VMLabels, site string, loc *time.Location, from, last time.Time, slot time.Duration, idleW, maxW float64) {
	fmt.Fprintf(w, "site %s (%s), %s..%s, attributed per %s: idle share by vCPUs, active share by CPU time\n",
		site, loc, from.Format("2006-01-02"), last.Format("2006-01-02"), slot)
	fmt.Fprintf(w, "hosts with a meter tagged %s=<host>: metered energy and a fitted model; others: nameplate %.0f W idle, %.0f W max\n\n", influx.ForHostTag, idleW, maxW)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tMODEL\tIDLE_W\tSLOPE_W\tR2\tSAMPLES\tENERGY\tKWH\tCOVERAGE\tIDLE_KWH\tACTIVE_KWH\tHOST_KWH")
	for _, h := range res.hosts {
		r2, n := "-", "-"
		if h.model.Source == "fitted" {
			r2, n = fmt.Sprintf("%.3f", h.model.R2), fmt.Sprint(h.model.Samples)
		}
		src := "model"
		if len(h.meters) > 0 {
			src = "meter " + strings.Join(h.meters, "+")
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t%.3f\t%.0f%%\t%.3f\t%.3f\t%.3f\n", h.host, h.model.Source, h.model.IdleW, h.model.SlopeW,
			r2, n, src, h.energy.KWh, 100*h.energy.Coverage(), h.idleKWh, h.active, h.kept)
	}
	_ = tw.Flush()
	for _, h := range res.hosts {
		if h.fitError != nil {
			fmt.Fprintf(w, "host %s: metered, but no fit (%v): nameplate model for the idle split\n", h.host, h.fitError)
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tHOST\tTENANT\tSERVICE\tIDLE_KWH\tACTIVE_KWH\tKWH")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, v := range res.vms {
		l := labels[v.VM]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%.3f\t%.3f\n", v.VM, strings.Join(res.where[v.VM], ","), dash(l.Tenant), dash(l.Service), v.IdleKWh, v.ActiveKWh, v.KWh)
	}
	_ = tw.Flush()
	t := energy.TotalsByLabel(res.vms, labels)
	for _, g := range []struct {
		name   string
		groups []energy.GroupKWh
	}{{"TENANT", t.Tenants}, {"SERVICE", t.Services}} {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tVMS\tIDLE_KWH\tACTIVE_KWH\tKWH\n", g.name)
		for _, x := range g.groups {
			fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\n", x.Name, x.VMs, x.IdleKWh, x.ActiveKWh, x.KWh)
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "\nVMs total %.3f kWh\n", t.KWh)
}
