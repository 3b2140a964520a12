package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/adapters/libvirt"
	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/executor"
)

// The demo's shedding cycle: the planner's inventory of the simulated
// hosts, a demand-response target below the site's load for the first
// minutes (the demand controller asks for a shed, the planner plans it,
// the executor records it in the demo's mode), then headroom and the
// restore. Demo only: the simulated test:/// hosts cannot migrate, so
// their domains are moved by redefining them (demoHypervisors), and their
// power is a flag (demoPower). Production runs the real MigrateToURI3 and
// BMC paths.

// demoShedYAML is the shed: and executor: sections of the demo's rules.
func demoShedYAML(dir, mode string) string {
	return fmt.Sprintf(`shed:
  inventory: %q
  restore_after: 2m
executor:
  mode: %s
  store: %q
`, filepath.Join(dir, "inventory.yaml"), mode, filepath.Join(dir, "executor.db"))
}

// writeDemoInventory writes the planner's inventory of the simulated
// hosts: 32 cores and 128 GiB each, 1.5 kW idle, a BMC; each running VM
// with a demand of a quarter of its vCPUs and half its memory.
func writeDemoInventory(dir string, hosts []sim.SimHost) error {
	var b strings.Builder
	b.WriteString("# The demo's simulated hosts, for the shedding planner (docs/inventory.md).\nsite: demo\npue: 1.4\nhosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - {name: %s, rack: r1, cpu: %d, memory_gb: %d, idle_w: 1500, slope_w: 1000, bmc: ipmi, power_on_latency: 1m, shutdown_latency: 30s}\n",
			h.Name, h.Hypervisor.CPUs, h.Hypervisor.MemoryKiB>>20)
	}
	b.WriteString("vms:\n")
	for _, h := range hosts {
		for _, vm := range h.Hypervisor.VMs {
			if vm.Active() {
				fmt.Fprintf(&b, "  - {name: %s, host: %s, vcpus: %d, cpu: %.2f, memory_gb: %.0f, service: %s}\n",
					vm.Name, h.Name, vm.VCPUs, float64(vm.VCPUs)/4, math.Ceil(float64(vm.MemoryKiB)/(2<<20)), vm.Role)
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, "inventory.yaml"), []byte(b.String()), 0o644)
}

// demoShedding switches the shedding controller to the simulated hosts
// and posts the demand-response target that starts the cycle. It runs
// after buildPipeline and before serve.
func (p *pipeline) demoShedding(announce func(planID, approve string)) error {
	w := p.shed
	if w == nil || p.demandCtl == nil {
		return errors.New("demo: no shedding controller")
	}
	d := demoHypervisors{hosts: map[string]*libvirt.Host{}, power: map[string]*demoPower{}}
	for _, h := range p.hosts {
		pw := &demoPower{on: true}
		d.hosts[h.Name()], d.power[h.Name()], w.power[h.Name()] = h, pw, pw
	}
	w.fleet.set(d)
	w.announce = announce
	now := time.Now()
	return p.demandCtl.SetExternalTarget(demand.ExternalTarget{KW: 20, From: now, To: now.Add(10 * time.Minute), Source: "demo-aggregator"})
}

// demoHypervisors are the simulated hosts through the collector's own
// connections (a test:///FILE host's state lives in its connection).
type demoHypervisors struct {
	hosts map[string]*libvirt.Host
	// power: a host powered off does not answer.
	power map[string]*demoPower
}

func (d demoHypervisors) host(name string) (*libvirt.Host, error) {
	h, ok := d.hosts[name]
	if !ok {
		return nil, fmt.Errorf("host %q is not a demo host", name)
	}
	return h, nil
}

func (d demoHypervisors) Occupancy(ctx context.Context, name string) (executor.Occupancy, error) {
	h, err := d.host(name)
	if err != nil {
		return executor.Occupancy{}, err
	}
	if on, _ := d.power[name].PowerIsOn(ctx); !on {
		return executor.Occupancy{}, fmt.Errorf("demo host %s is powered off", name)
	}
	o, err := h.Occupancy(ctx)
	if err != nil {
		return executor.Occupancy{}, err
	}
	out := executor.Occupancy{MemTotalMiB: o.MemTotalMiB}
	for _, dm := range o.Domains {
		out.Domains = append(out.Domains, executor.Domain{Name: dm.Name, MemMiB: dm.MemMiB})
	}
	return out, nil
}

// Migrate moves vm by redefining it: defined on the destination, stopped
// and undefined on the source, started on the destination (started again
// on the source if that fails). Demo only.
func (d demoHypervisors) Migrate(ctx context.Context, vm, from, to string) error {
	src, err := d.host(from)
	if err != nil {
		return err
	}
	dst, err := d.host(to)
	if err != nil {
		return err
	}
	var xml string
	if err := src.WithConn(func(c *lv.Connect) error {
		dom, err := c.LookupDomainByName(vm)
		if err != nil {
			return err
		}
		defer dom.Free()
		xml, err = dom.GetXMLDesc(0)
		return err
	}); err != nil {
		return fmt.Errorf("demo migrate %s: read on %s: %w", vm, from, err)
	}
	if err := dst.WithConn(func(c *lv.Connect) error {
		dom, err := c.DomainDefineXML(xml)
		if err != nil {
			return err
		}
		return dom.Free()
	}); err != nil {
		return fmt.Errorf("demo migrate %s: define on %s: %w", vm, to, err)
	}
	if err := src.WithConn(func(c *lv.Connect) error {
		dom, err := c.LookupDomainByName(vm)
		if err != nil {
			return err
		}
		defer dom.Free()
		if err := dom.Destroy(); err != nil {
			return err
		}
		return dom.Undefine()
	}); err != nil {
		return fmt.Errorf("demo migrate %s: stop on %s: %w", vm, from, err)
	}
	if err := dst.WithConn(func(c *lv.Connect) error {
		dom, err := c.LookupDomainByName(vm)
		if err != nil {
			return err
		}
		defer dom.Free()
		return dom.Create()
	}); err != nil {
		_ = src.WithConn(func(c *lv.Connect) error {
			dom, derr := c.DomainDefineXML(xml)
			if derr != nil {
				return derr
			}
			defer dom.Free()
			return dom.Create()
		})
		return fmt.Errorf("demo migrate %s: start on %s (started again on %s): %w", vm, to, from, err)
	}
	time.Sleep(2 * time.Second) // a migration takes a moment, so the UI shows it
	return nil
}

func (d demoHypervisors) AbortJob(context.Context, string, string) (bool, error) { return false, nil }

// demoPower is a simulated host's power: a flag.
type demoPower struct {
	mu sync.Mutex
	on bool
}

func (p *demoPower) PowerIsOn(context.Context) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.on, nil
}

func (p *demoPower) PowerOn(context.Context) error        { p.set(true); return nil }
func (p *demoPower) PowerOff(context.Context, bool) error { p.set(false); return nil }

func (p *demoPower) set(on bool) {
	p.mu.Lock()
	p.on = on
	p.mu.Unlock()
}
