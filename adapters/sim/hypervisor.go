package sim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Simulated hypervisors are libvirt test-driver node files: one XML
// document per host, opened in-process as test:///ABS/PATH.xml with no
// daemon. Every connection to a file gets its own in-memory copy, changes
// are never written back, and the driver fakes CPU time (see
// adapters/libvirt/README.md). PlanInventory decides the fleet from a seed;
// Inventory.Write puts it on disk; WriteInventory does both.

// InventorySpec describes a simulated fleet of libvirt hosts.
type InventorySpec struct {
	// Hosts is the number of hypervisors, named host-01, host-02, ...
	Hosts int
	// VMsPerHost is the number of domains defined on each host.
	VMsPerHost int
	// Seed picks roles, sizes, clock speeds and run states: the same spec
	// writes the same files.
	Seed int64
	// CPUs is the number of logical CPUs per host; 0 means 32.
	CPUs int
	// MemoryGiB is the memory per host; 0 means 128.
	MemoryGiB int
}

// Inventory limits and defaults.
const (
	DefaultHostCPUs      = 32
	DefaultHostMemoryGiB = 128
	MaxInventoryHosts    = 999
	MaxVMsPerHost        = 64
	// vmMemoryShare is the share of host memory the VMs of a host may
	// have as maximum memory in total: the rest is the hypervisor's.
	vmMemoryShare = 0.85
)

// VM run states written to the files (<test:runstate>).
const (
	VMRunning = "running"
	VMPaused  = "paused"
	VMShutoff = "shutoff"
)

// HypervisorSpec is one simulated host and its domains.
type HypervisorSpec struct {
	Name      string
	CPUs      int // logical CPUs
	MHz       int
	MemoryKiB int64
	VMs       []VMSpec
}

// VMSpec is one domain of a simulated host.
type VMSpec struct {
	Name             string // role-prefixed, unique in the inventory: web-01, db-03
	Role             string // web, app, db, cache, batch, ci
	UUID             string
	MAC              string
	VCPUs            int
	MemoryKiB        int64  // maximum memory (<memory>)
	CurrentMemoryKiB int64  // balloon target (<currentMemory>)
	State            string // VMRunning, VMPaused or VMShutoff
}

// Active reports whether the VM holds host memory and vCPUs (running or
// paused).
func (v VMSpec) Active() bool { return v.State == VMRunning || v.State == VMPaused }

// Count is the number of VMs in state.
func (h HypervisorSpec) Count(state string) int {
	n := 0
	for _, v := range h.VMs {
		if v.State == state {
			n++
		}
	}
	return n
}

// ActiveMemoryKiB is the current memory of the running and paused VMs.
func (h HypervisorSpec) ActiveMemoryKiB() int64 {
	var kib int64
	for _, v := range h.VMs {
		if v.Active() {
			kib += v.CurrentMemoryKiB
		}
	}
	return kib
}

// ActiveVCPUs is the vCPU count of the running and paused VMs.
func (h HypervisorSpec) ActiveVCPUs() int {
	n := 0
	for _, v := range h.VMs {
		if v.Active() {
			n += v.VCPUs
		}
	}
	return n
}

// Inventory is a planned fleet of simulated hypervisors.
type Inventory struct {
	Hypervisors []HypervisorSpec
}

// SimHost is one written hypervisor: its name, the libvirt URI to open it
// with, the file behind the URI, and what the file holds.
type SimHost struct {
	Name       string
	URI        string // test:///ABS/PATH.xml
	File       string // absolute
	Hypervisor HypervisorSpec
}

// WriteInventory plans the fleet of spec and writes one test-driver file
// per host into dir (created if missing), named <host>.xml.
func WriteInventory(dir string, spec InventorySpec) ([]SimHost, error) {
	inv, err := PlanInventory(spec)
	if err != nil {
		return nil, err
	}
	return inv.Write(dir)
}

// Write writes one test-driver file per hypervisor into dir (created if
// missing), named <host>.xml, and returns the hosts in inventory order.
func (inv Inventory) Write(dir string) ([]SimHost, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sim inventory: directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("sim inventory: %w", err)
	}
	hosts := make([]SimHost, 0, len(inv.Hypervisors))
	for _, hv := range inv.Hypervisors {
		file := filepath.Join(abs, hv.Name+".xml")
		if err := os.WriteFile(file, hv.XML(), 0o644); err != nil {
			return nil, fmt.Errorf("sim inventory: host %s: %w", hv.Name, err)
		}
		hosts = append(hosts, SimHost{Name: hv.Name, URI: LibvirtTestURI(file), File: file, Hypervisor: hv})
	}
	return hosts, nil
}

// LibvirtTestURI is the libvirt URI of a test-driver node file:
// test:///ABS/PATH.xml, with the path escaped where a URI needs it.
func LibvirtTestURI(absFile string) string {
	return (&url.URL{Scheme: "test", Path: filepath.ToSlash(absFile)}).String()
}

// runstate is the <test:runstate> value (a virDomainState) of a state.
func runstate(state string) int {
	switch state {
	case VMPaused:
		return 3
	case VMShutoff:
		return 5
	}
	return 1
}

// XML is the libvirt test-driver node document of the hypervisor.
func (h HypervisorSpec) XML() []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	nodes, sockets, cores, threads := topology(h.CPUs)
	fmt.Fprintf(&b, "<?xml version=\"1.0\"?>\n")
	fmt.Fprintf(&b, "<!-- Simulated hypervisor %s, written by setsuden's adapters/sim.\n", esc(h.Name))
	fmt.Fprintf(&b, "     Open with libvirt's test driver: test:///ABS/PATH/%s.xml. Memory in KiB;\n", esc(h.Name))
	fmt.Fprintf(&b, "     test:runstate is a virDomainState: 1 running, 3 paused, 5 shutoff. -->\n")
	fmt.Fprintf(&b, "<node>\n")
	fmt.Fprintf(&b, "  <cpu><mhz>%d</mhz><model>x86_64</model><active>%d</active>\n", h.MHz, h.CPUs)
	fmt.Fprintf(&b, "       <nodes>%d</nodes><sockets>%d</sockets><cores>%d</cores><threads>%d</threads></cpu>\n", nodes, sockets, cores, threads)
	fmt.Fprintf(&b, "  <memory>%d</memory>\n", h.MemoryKiB)
	for _, v := range h.VMs {
		fmt.Fprintf(&b, "  <domain type=\"test\" xmlns:test=\"http://libvirt.org/schemas/domain/test/1.0\">\n")
		fmt.Fprintf(&b, "    <name>%s</name><uuid>%s</uuid>\n", esc(v.Name), v.UUID)
		fmt.Fprintf(&b, "    <description>role=%s</description>\n", esc(v.Role))
		fmt.Fprintf(&b, "    <memory unit=\"KiB\">%d</memory><currentMemory unit=\"KiB\">%d</currentMemory>\n", v.MemoryKiB, v.CurrentMemoryKiB)
		fmt.Fprintf(&b, "    <vcpu placement=\"static\">%d</vcpu><os><type arch=\"x86_64\">hvm</type></os>\n", v.VCPUs)
		fmt.Fprintf(&b, "    <devices>\n")
		fmt.Fprintf(&b, "      <disk type=\"file\" device=\"disk\"><source file=\"/var/lib/libvirt/images/%s.qcow2\"/><target dev=\"vda\" bus=\"virtio\"/></disk>\n", esc(v.Name))
		fmt.Fprintf(&b, "      <interface type=\"network\"><mac address=\"%s\"/><source network=\"default\"/><model type=\"virtio\"/></interface>\n", v.MAC)
		fmt.Fprintf(&b, "      <memballoon model=\"virtio\"/>\n")
		fmt.Fprintf(&b, "    </devices>\n")
		if v.State != VMRunning {
			fmt.Fprintf(&b, "    <test:runstate>%d</test:runstate>\n", runstate(v.State))
		}
		fmt.Fprintf(&b, "  </domain>\n")
	}
	fmt.Fprintf(&b, "</node>\n")
	return b.Bytes()
}

// topology splits cpus into NUMA nodes × sockets per node × cores ×
// threads: two nodes of hyper-threaded cores when cpus is a multiple of 4.
func topology(cpus int) (nodes, sockets, cores, threads int) {
	if cpus%4 == 0 {
		return 2, 1, cpus / 4, 2
	}
	return 1, 1, cpus, 1
}
