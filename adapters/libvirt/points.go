package libvirt

import (
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// Measurements written by a Host. README.md describes their fields.
const (
	MeasurementHost    = "host"
	MeasurementVM      = "vm"
	MeasurementVMEvent = "vm_event"
)

func (h *Host) tags(extra ...string) map[string]string {
	t := make(map[string]string, len(h.cfg.Tags)+1+len(extra)/2)
	for k, v := range h.cfg.Tags {
		t[k] = v
	}
	t["host"] = h.cfg.Name
	for i := 0; i+1 < len(extra); i += 2 {
		t[extra[i]] = extra[i+1]
	}
	return t
}

// points turns one read into the host point and the vm points, and keeps
// the CPU times for the next delta. h.mu must be held.
func (h *Host) points(node nodeSample, doms []domainSample, now time.Time) []point.Point {
	pts := make([]point.Point, 0, 1+len(doms))
	var vcpusUsed, memUsed, nRunning int64
	var busyVCPUs float64 // Σ util × vCPUs over running VMs
	utilKnown := true
	seen := make(map[string]cpuSample, len(doms))

	for _, d := range doms {
		fields := map[string]any{
			"state":          StateName(d.State),
			"state_code":     int64(d.State),
			"vcpus":          d.VCPUs,
			"memory_kib":     d.MemoryKiB,
			"max_memory_kib": d.MaxMemoryKiB,
		}
		if active(d.State) {
			vcpusUsed += d.VCPUs
			memUsed += d.MemoryKiB
		}
		cur := cpuSample{cpuNs: d.CPUTimeNs, at: now}
		seen[d.UUID] = cur
		switch {
		case !running(d.State):
			fields["cpu_util"] = 0.0
		case h.synthetic:
			u := SyntheticCPUUtil(d.Name, now)
			fields["cpu_util"] = u
			busyVCPUs += u * float64(d.VCPUs)
		default:
			prev, had := h.prevCPU[d.UUID]
			if u, ok := utilFromDelta(prev, cur, d.VCPUs); had && ok {
				fields["cpu_util"] = u
				busyVCPUs += u * float64(d.VCPUs)
			} else {
				utilKnown = false
			}
		}
		if running(d.State) {
			nRunning++
		}
		pts = append(pts, point.Point{
			Measurement: MeasurementVM,
			Tags:        h.tags("vm", d.Name, "uuid", d.UUID),
			Fields:      fields,
			Time:        now,
		})
	}
	h.prevCPU = seen
	h.remember(doms)

	hostFields := map[string]any{
		"cpus":            node.CPUs,
		"cpu_mhz":         node.MHz,
		"memory_kib":      node.MemoryKiB,
		"memory_used_kib": memUsed,
		"vcpus_used":      vcpusUsed,
		"vms_running":     nRunning,
		"vms_total":       int64(len(doms)),
	}
	if utilKnown && node.CPUs > 0 {
		hostFields["cpu_util"] = clamp01(busyVCPUs / float64(node.CPUs))
	}
	host := point.Point{Measurement: MeasurementHost, Tags: h.tags(), Fields: hostFields, Time: now}
	return append([]point.Point{host}, pts...)
}
