package energy

import (
	"fmt"
	"math"
	"time"
)

// HostPeriod is what attribution needs to know about one host over one
// period.
type HostPeriod struct {
	// KWh is the host's energy over the period: metered (MeterKWh) or
	// modelled (HostModel.KWh).
	KWh      float64
	Duration time.Duration
	// NodeCPUSeconds is the CPU time used on the node in the period by
	// everything (VMs' QEMU processes and the host's own processes), as in
	// Kepler's "node CPU time Δ". Zero means "the VMs' sum".
	NodeCPUSeconds float64
	Model          HostModel
}

// VMUsage is one VM's use of its host over the period.
type VMUsage struct {
	VM         string
	CPUSeconds float64 // CPU time of its QEMU process in the period
	VCPUs      int     // allocated vCPUs
}

// VMEnergy is one VM's attributed energy.
type VMEnergy struct {
	VM        string
	IdleKWh   float64
	ActiveKWh float64
	KWh       float64
}

// Attribution is the split of one host's energy.
type Attribution struct {
	VMs []VMEnergy
	// IdleKWh and ActiveKWh are the host's split.
	IdleKWh, ActiveKWh float64
	// HostKWh is what stays with the host: the active energy of non-VM CPU
	// time, plus the idle energy when no VM has vCPUs.
	HostKWh float64
}

// AttributeVMs splits a host's energy between its VMs (sla_peak.md §3.3).
//
// Active and idle: idle = min(KWh, IdleW × duration) from the host's power
// model, active = the rest. Kepler splits by the node's CPU usage ratio
// instead (active = ΔE × util); with a fitted model the idle floor is
// measured rather than assumed proportional, so the model is used here.
//
// Active part: Kepler's rule, VM share = VM CPU time Δ / node CPU time Δ.
//
// Idle part: Kepler leaves idle power unattributed; here it is shared by
// allocated vCPUs, because a VM's reservation is what keeps the host
// powered (a host emptied by consolidation saves its idle power). This is
// our choice [I], not Kepler's.
func AttributeVMs(h HostPeriod, vms []VMUsage) (Attribution, error) {
	if h.KWh < 0 || h.Duration <= 0 {
		return Attribution{}, fmt.Errorf("attribution: host energy %.3f kWh over %s: want kWh >= 0 over a positive duration", h.KWh, h.Duration)
	}
	var cpu float64
	var vcpus int
	for _, v := range vms {
		if v.CPUSeconds < 0 || v.VCPUs < 0 {
			return Attribution{}, fmt.Errorf("attribution: VM %s: negative CPU time or vCPUs", v.VM)
		}
		cpu += v.CPUSeconds
		vcpus += v.VCPUs
	}
	node := h.NodeCPUSeconds
	if node == 0 {
		node = cpu
	}
	if node < cpu*(1-1e-9) {
		return Attribution{}, fmt.Errorf("attribution: node CPU time %.1f s is less than its VMs' %.1f s", node, cpu)
	}
	a := Attribution{IdleKWh: math.Min(h.KWh, h.Model.IdleW/1000*h.Duration.Hours())}
	a.ActiveKWh = h.KWh - a.IdleKWh
	var given float64
	for _, v := range vms {
		e := VMEnergy{VM: v.VM}
		if node > 0 {
			e.ActiveKWh = a.ActiveKWh * v.CPUSeconds / node
		}
		if vcpus > 0 {
			e.IdleKWh = a.IdleKWh * float64(v.VCPUs) / float64(vcpus)
		}
		e.KWh = e.IdleKWh + e.ActiveKWh
		given += e.KWh
		a.VMs = append(a.VMs, e)
	}
	a.HostKWh = h.KWh - given
	return a, nil
}
