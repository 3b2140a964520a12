// Package inventory reads and writes the inventory file: a site's hosts,
// VMs, services, facility stages and planner policy, as YAML or JSON
// (docs/inventory.md). Load validates the whole file before anything runs
// and reports every problem as FILE:LINE: field: what is wrong (what was
// expected), like the configuration.
package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/shed"
)

// File is a loaded inventory.
type File struct {
	Inventory shed.Inventory
	Policy    shed.Policy
}

// Load reads and validates an inventory file.
func Load(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("inventory: %w", err)
	}
	return Parse(b, path)
}

// Parse validates an inventory document; name labels problems.
func Parse(b []byte, name string) (File, error) {
	p := &parser{file: name}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		line := 0
		var te *yaml.TypeError
		msg := err.Error()
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if i := strings.Index(msg, "line "); i >= 0 {
			fmt.Sscanf(msg[i+5:], "%d", &line)
		}
		return File{}, config.Problems{{File: name, Line: line, Msg: "not valid YAML or JSON: " + msg}}
	}
	var f File
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return File{}, config.Problems{{File: name, Line: 1, Msg: "want a mapping with hosts and vms"}}
	}
	p.document(root.Content[0], &f)
	if len(p.probs) > 0 {
		sort.SliceStable(p.probs, func(i, j int) bool { return p.probs[i].Line < p.probs[j].Line })
		return File{}, p.probs
	}
	return f, nil
}

type parser struct {
	file  string
	probs config.Problems
}

func (p *parser) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.probs = append(p.probs, config.Problem{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fields walks a mapping, handing each known key's value to its handler
// and reporting unknown keys.
func (p *parser) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, path string)) map[string]*yaml.Node {
	seen := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping")
		return seen
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		h, ok := handlers[k.Value]
		if !ok {
			known := make([]string, 0, len(handlers))
			for name := range handlers {
				known = append(known, name)
			}
			p.fail(k, fp, "unknown key (want one of %s)", strings.Join(sortStrings(known), ", "))
			continue
		}
		if _, dup := seen[k.Value]; dup {
			p.fail(k, fp, "key given twice")
			continue
		}
		seen[k.Value] = k
		h(v, fp)
	}
	return seen
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}

func (p *parser) scalar(v *yaml.Node, path, want string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.fail(v, path, "want %s", want)
		return "", false
	}
	return v.Value, true
}

func (p *parser) str(dst *string) func(*yaml.Node, string) {
	return func(v *yaml.Node, path string) {
		if s, ok := p.scalar(v, path, "a string"); ok {
			*dst = s
		}
	}
}

func (p *parser) num(dst *float64, lo, hi float64, want string) func(*yaml.Node, string) {
	return func(v *yaml.Node, path string) {
		s, ok := p.scalar(v, path, "a number")
		if !ok {
			return
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			p.fail(v, path, "%q is not a number (want %s)", s, want)
			return
		}
		if x < lo || x > hi {
			p.fail(v, path, "%v out of range (want %s)", x, want)
			return
		}
		*dst = x
	}
}

func (p *parser) integer(dst *int, lo, hi int, want string) func(*yaml.Node, string) {
	return func(v *yaml.Node, path string) {
		s, ok := p.scalar(v, path, "an integer")
		if !ok {
			return
		}
		x, err := strconv.Atoi(s)
		if err != nil {
			p.fail(v, path, "%q is not an integer (want %s)", s, want)
			return
		}
		if x < lo || x > hi {
			p.fail(v, path, "%d out of range (want %s)", x, want)
			return
		}
		*dst = x
	}
}

func (p *parser) boolean(dst *bool) func(*yaml.Node, string) {
	return func(v *yaml.Node, path string) {
		s, ok := p.scalar(v, path, "true or false")
		if !ok {
			return
		}
		switch s {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			p.fail(v, path, "%q (want true or false)", s)
		}
	}
}

func (p *parser) duration(dst *shed.Duration) func(*yaml.Node, string) {
	return func(v *yaml.Node, path string) {
		s, ok := p.scalar(v, path, "a duration")
		if !ok {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			p.fail(v, path, "%q (want a duration such as 90s or 5m)", s)
			return
		}
		*dst = shed.Duration(d)
	}
}

func (p *parser) timestamp(dst *time.Time) func(*yaml.Node, string) {
	return func(v *yaml.Node, path string) {
		s, ok := p.scalar(v, path, "a time")
		if !ok {
			return
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			p.fail(v, path, "%q (want an RFC 3339 time such as 2026-07-15T09:00:00+09:00)", s)
			return
		}
		*dst = t
	}
}

func (p *parser) strings(dst *[]string) func(*yaml.Node, string) {
	return func(v *yaml.Node, path string) {
		if v.Kind != yaml.SequenceNode {
			p.fail(v, path, "want a list of strings")
			return
		}
		out := []string{}
		for i, e := range v.Content {
			if s, ok := p.scalar(e, fmt.Sprintf("%s[%d]", path, i), "a string"); ok {
				out = append(out, s)
			}
		}
		*dst = out
	}
}

func (p *parser) list(v *yaml.Node, path string, each func(e *yaml.Node, path string)) {
	if v.Kind != yaml.SequenceNode {
		p.fail(v, path, "want a list")
		return
	}
	for i, e := range v.Content {
		each(e, fmt.Sprintf("%s[%d]", path, i))
	}
}

func (p *parser) document(n *yaml.Node, f *File) {
	inv := &f.Inventory
	var hostNodes, vmNodes []*yaml.Node
	var policyNode *yaml.Node
	seen := p.fields(n, "", map[string]func(*yaml.Node, string){
		"site": p.str(&inv.Site),
		"pue":  p.num(&inv.PUE, 1, 5, "a PUE of 1 to 5"),
		"policy": func(v *yaml.Node, path string) {
			policyNode = v
			p.policy(v, path, &f.Policy)
		},
		"hosts": func(v *yaml.Node, path string) {
			p.list(v, path, func(e *yaml.Node, path string) {
				inv.Hosts = append(inv.Hosts, p.host(e, path))
				hostNodes = append(hostNodes, e)
			})
		},
		"vms": func(v *yaml.Node, path string) {
			p.list(v, path, func(e *yaml.Node, path string) {
				inv.VMs = append(inv.VMs, p.vm(e, path))
				vmNodes = append(vmNodes, e)
			})
		},
		"services": func(v *yaml.Node, path string) {
			p.list(v, path, func(e *yaml.Node, path string) { inv.Services = append(inv.Services, p.service(e, path)) })
		},
		"stages": func(v *yaml.Node, path string) {
			p.list(v, path, func(e *yaml.Node, path string) { inv.Stages = append(inv.Stages, p.stage(e, path)) })
		},
	})
	if seen["hosts"] == nil {
		p.fail(n, "hosts", "missing (want a list of hosts)")
	}
	// Cross-checks.
	hosts := map[string]bool{}
	for i, h := range inv.Hosts {
		path := fmt.Sprintf("hosts[%d].name", i)
		if hosts[h.Name] {
			p.fail(hostNodes[i], path, "host %q listed twice (want unique names)", h.Name)
		}
		hosts[h.Name] = true
	}
	vms := map[string]bool{}
	for i, v := range inv.VMs {
		if vms[v.Name] {
			p.fail(vmNodes[i], fmt.Sprintf("vms[%d].name", i), "vm %q listed twice (want unique names)", v.Name)
		}
		vms[v.Name] = true
		if v.Host != "" && !hosts[v.Host] {
			p.fail(vmNodes[i], fmt.Sprintf("vms[%d].host", i), "host %q is not in hosts (want one of the hosts above)", v.Host)
		}
	}
	if policyNode != nil {
		if err := f.Policy.WithDefaults().Validate(); err != nil {
			p.fail(policyNode, "policy", "%v", err)
		}
	}
}

func (p *parser) host(n *yaml.Node, path string) shed.Host {
	var h shed.Host
	var maxW float64 = -1
	var slopeSet bool
	seen := p.fields(n, path, map[string]func(*yaml.Node, string){
		"name":      p.str(&h.Name),
		"site":      p.str(&h.Site),
		"room":      p.str(&h.Room),
		"rack":      p.str(&h.Rack),
		"cpu":       p.num(&h.CPU, 1e-9, math.MaxFloat64, "a capacity > 0 in the unit of the VMs' cpu"),
		"memory_gb": p.num(&h.MemoryGB, 1e-9, math.MaxFloat64, "GB > 0"),
		"idle_w":    p.num(&h.IdleW, 0, 1e5, "watts, 0 to 100000"),
		"slope_w": func(v *yaml.Node, path string) {
			slopeSet = true
			p.num(&h.SlopeW, 0, 1e5, "watts, 0 to 100000")(v, path)
		},
		"max_w":              p.num(&maxW, 0, 1e5, "watts, 0 to 100000"),
		"power_on_latency":   p.duration(&h.PowerOnLatency),
		"shutdown_latency":   p.duration(&h.ShutdownLatency),
		"bmc":                p.str(&h.BMC),
		"maintenance":        p.boolean(&h.Maintenance),
		"off":                p.boolean(&h.Off),
		"power_cycles_today": p.integer(&h.PowerCyclesToday, 0, 1000, "a count >= 0"),
		"last_power_off":     p.timestamp(&h.LastPowerOff),
	})
	for _, req := range []string{"name", "cpu", "memory_gb", "idle_w"} {
		if seen[req] == nil && n.Kind == yaml.MappingNode {
			p.fail(n, join(path, req), "missing")
		}
	}
	switch {
	case slopeSet && maxW >= 0:
		p.fail(seen["max_w"], join(path, "max_w"), "give max_w or slope_w, not both")
	case maxW >= 0:
		if maxW < h.IdleW {
			p.fail(seen["max_w"], join(path, "max_w"), "%.1f W below idle_w %.1f W (want max_w >= idle_w)", maxW, h.IdleW)
		}
		h.SlopeW = maxW - h.IdleW
	case !slopeSet && n.Kind == yaml.MappingNode:
		p.fail(n, join(path, "max_w"), "missing (want max_w or slope_w: the power model idle + slope x CPU)")
	}
	switch h.BMC {
	case "", "ipmi", "redfish", "wol", "none":
	default:
		p.fail(seen["bmc"], join(path, "bmc"), "%q (want ipmi, redfish, wol or none)", h.BMC)
	}
	return h
}

func (p *parser) vm(n *yaml.Node, path string) shed.VM {
	var v shed.VM
	seen := p.fields(n, path, map[string]func(*yaml.Node, string){
		"name":                p.str(&v.Name),
		"host":                p.str(&v.Host),
		"vcpus":               p.integer(&v.VCPUs, 0, 100000, "a count >= 0"),
		"cpu":                 p.num(&v.CPU, 0, math.MaxFloat64, "a demand >= 0 (p95, in the hosts' cpu unit)"),
		"memory_gb":           p.num(&v.MemoryGB, 0, math.MaxFloat64, "GB >= 0"),
		"service":             p.str(&v.Service),
		"sla_class":           p.str(&v.SLAClass),
		"affinity":            p.str(&v.Affinity),
		"anti_affinity":       p.str(&v.AntiAffinity),
		"pinned":              p.boolean(&v.Pinned),
		"local_disk":          p.boolean(&v.LocalDisk),
		"not_live_migratable": p.boolean(&v.NotLiveMigratable),
		"last_migrated":       p.timestamp(&v.LastMigrated),
	})
	for _, req := range []string{"name", "host", "cpu", "memory_gb"} {
		if seen[req] == nil && n.Kind == yaml.MappingNode {
			p.fail(n, join(path, req), "missing")
		}
	}
	return v
}

func (p *parser) service(n *yaml.Node, path string) shed.Service {
	var s shed.Service
	var budget float64
	seen := p.fields(n, path, map[string]func(*yaml.Node, string){
		"name":                   p.str(&s.Name),
		"error_budget_remaining": p.num(&budget, 0, 1, "a share 0 to 1"),
	})
	if seen["error_budget_remaining"] != nil {
		s.ErrorBudgetRemaining = &budget
	}
	if seen["name"] == nil && n.Kind == yaml.MappingNode {
		p.fail(n, join(path, "name"), "missing")
	}
	return s
}

func (p *parser) stage(n *yaml.Node, path string) shed.FacilityStage {
	var s shed.FacilityStage
	seen := p.fields(n, path, map[string]func(*yaml.Node, string){
		"name":     p.str(&s.Name),
		"point":    p.str(&s.Point),
		"value":    p.num(&s.Value, -math.MaxFloat64, math.MaxFloat64, "a number"),
		"normal":   p.num(&s.Normal, -math.MaxFloat64, math.MaxFloat64, "a number"),
		"kw":       p.num(&s.KW, 0, 1e6, "kW >= 0"),
		"latency":  p.duration(&s.Latency),
		"priority": p.integer(&s.Priority, 0, 1000, "0 to 1000"),
		"after_it": p.boolean(&s.AfterIT),
		"active":   p.boolean(&s.Active),
	})
	for _, req := range []string{"name", "point", "value", "normal", "kw"} {
		if seen[req] == nil && n.Kind == yaml.MappingNode {
			p.fail(n, join(path, req), "missing")
		}
	}
	return s
}

func (p *parser) policy(n *yaml.Node, path string, pol *shed.Policy) {
	p.fields(n, path, map[string]func(*yaml.Node, string){
		"cpu_ceiling":              p.num(&pol.CPUCeiling, 0.01, 1, "a share 0.01 to 1"),
		"mem_ceiling":              p.num(&pol.MemCeiling, 0.01, 1, "a share 0.01 to 1"),
		"reserve":                  p.integer(&pol.Reserve, -1, 1000, "k of N+k, -1 for none"),
		"w_load":                   p.num(&pol.WLoad, 0, 1000, "a weight >= 0"),
		"w_location":               p.num(&pol.WLocation, 0, 1000, "a weight >= 0"),
		"frozen_classes":           p.strings(&pol.FrozenClasses),
		"min_error_budget":         p.num(&pol.MinErrorBudget, 0, 1, "a share 0 to 1"),
		"migration_gbps":           p.num(&pol.MigrationGbps, 0.001, 10000, "Gbit/s > 0"),
		"migration_overhead":       p.duration(&pol.MigrationOverhead),
		"power_on_latency":         p.duration(&pol.PowerOnLatency),
		"shutdown_latency":         p.duration(&pol.ShutdownLatency),
		"max_power_cycles_per_day": p.integer(&pol.MaxPowerCyclesPerDay, 1, 100, "1 to 100"),
		"power_on_protection":      p.duration(&pol.PowerOnProtection),
		"migration_cooldown":       p.duration(&pol.MigrationCooldown),
		"migrations_per_host":      p.integer(&pol.MigrationsPerHost, 1, 1000, "1 to 1000"),
		"migrations_per_site":      p.integer(&pol.MigrationsPerSite, 1, 100000, "1 to 100000"),
	})
}
