package libvirt

import (
	"context"
	"errors"
	"sort"

	lv "libvirt.org/go/libvirt"
)

// nodeSample is what the host point reports about the node itself.
type nodeSample struct {
	CPUs      int64 // logical CPUs online
	MHz       int64
	MemoryKiB int64
}

// domainSample is one domain as read in one Collect.
type domainSample struct {
	Name         string
	UUID         string
	State        lv.DomainState
	VCPUs        int64
	MemoryKiB    int64 // current (balloon) memory
	MaxMemoryKiB int64
	CPUTimeNs    uint64 // cumulative; fake on the test driver
}

func readNode(conn *lv.Connect) (nodeSample, error) {
	info, err := conn.GetNodeInfo()
	if err != nil {
		return nodeSample{}, err
	}
	return nodeSample{CPUs: int64(info.Cpus), MHz: int64(info.MHz), MemoryKiB: int64(info.Memory)}, nil
}

// bulkStats are the stats groups asked of GetAllDomainStats. Drivers that
// fill them (qemu) answer in one call; the test driver fills only state, so
// the rest comes from GetInfo per domain.
const bulkStats = lv.DOMAIN_STATS_STATE | lv.DOMAIN_STATS_CPU_TOTAL | lv.DOMAIN_STATS_BALLOON | lv.DOMAIN_STATS_VCPU

// readDomains returns every domain of the connection sorted by name. On
// error it also names the operation that failed.
func readDomains(ctx context.Context, conn *lv.Connect) ([]domainSample, string, error) {
	stats, err := conn.GetAllDomainStats(nil, bulkStats, 0)
	if err != nil {
		var le lv.Error
		if !errors.As(err, &le) || le.Code != lv.ERR_NO_SUPPORT {
			return nil, "domain stats", err
		}
		return readDomainsOneByOne(ctx, conn)
	}
	defer func() {
		for _, st := range stats {
			_ = st.Domain.Free()
		}
	}()
	out := make([]domainSample, 0, len(stats))
	for i := range stats {
		if err := ctx.Err(); err != nil {
			return nil, "domain stats", err
		}
		s, ok, err := fromBulk(&stats[i])
		if err != nil {
			return nil, "domain stats", err
		}
		if !ok {
			continue // undefined meanwhile
		}
		out = append(out, s)
	}
	sortByName(out)
	return out, "", nil
}

func readDomainsOneByOne(ctx context.Context, conn *lv.Connect) ([]domainSample, string, error) {
	doms, err := conn.ListAllDomains(0)
	if err != nil {
		return nil, "list domains", err
	}
	defer func() {
		for i := range doms {
			_ = doms[i].Free()
		}
	}()
	out := make([]domainSample, 0, len(doms))
	for i := range doms {
		if err := ctx.Err(); err != nil {
			return nil, "domain info", err
		}
		var s domainSample
		ok, err := identify(&doms[i], &s)
		if err == nil && ok {
			ok, err = fromInfo(&doms[i], &s)
		}
		if err != nil {
			return nil, "domain info", err
		}
		if ok {
			out = append(out, s)
		}
	}
	sortByName(out)
	return out, "", nil
}

// identify fills name and UUID; ok is false if the domain is gone.
func identify(d *lv.Domain, s *domainSample) (ok bool, err error) {
	if s.Name, err = d.GetName(); err != nil {
		if isNoDomain(err) {
			return false, nil
		}
		return false, err
	}
	if s.UUID, err = d.GetUUIDString(); err != nil {
		if isNoDomain(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// fromInfo fills state, vCPUs, memory and CPU time from GetInfo.
func fromInfo(d *lv.Domain, s *domainSample) (ok bool, err error) {
	info, err := d.GetInfo()
	if err != nil {
		if isNoDomain(err) {
			return false, nil
		}
		return false, err
	}
	s.State = info.State
	s.VCPUs = int64(info.NrVirtCpu)
	s.MemoryKiB = int64(info.Memory)
	s.MaxMemoryKiB = int64(info.MaxMem)
	s.CPUTimeNs = info.CpuTime
	return true, nil
}

// fromBulk takes what GetAllDomainStats filled and asks GetInfo for the
// rest. Inactive domains always go to GetInfo: their per-vCPU stats are
// absent, which the binding reports as offline vCPUs.
func fromBulk(st *lv.DomainStats) (domainSample, bool, error) {
	var s domainSample
	if ok, err := identify(st.Domain, &s); err != nil || !ok {
		return s, ok, err
	}
	complete := st.State != nil && st.State.StateSet &&
		st.Cpu != nil && st.Cpu.TimeSet &&
		st.Balloon != nil && st.Balloon.CurrentSet && st.Balloon.MaximumSet &&
		active(st.State.State)
	if complete {
		var vcpus int64
		for _, v := range st.Vcpu {
			if v.State != lv.VCPU_OFFLINE {
				vcpus++
			}
		}
		complete = vcpus > 0
		s.State = st.State.State
		s.VCPUs = vcpus
		s.MemoryKiB = int64(st.Balloon.Current)
		s.MaxMemoryKiB = int64(st.Balloon.Maximum)
		s.CPUTimeNs = st.Cpu.Time
	}
	if complete {
		return s, true, nil
	}
	ok, err := fromInfo(st.Domain, &s)
	return s, ok, err
}

func sortByName(ds []domainSample) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
}

// running reports whether the domain's vCPUs can run (running or blocked
// on a resource).
func running(s lv.DomainState) bool {
	return s == lv.DOMAIN_RUNNING || s == lv.DOMAIN_BLOCKED
}

// active reports whether the domain holds host resources: running,
// blocked, paused, shutting down or suspended by the guest.
func active(s lv.DomainState) bool {
	switch s {
	case lv.DOMAIN_RUNNING, lv.DOMAIN_BLOCKED, lv.DOMAIN_PAUSED, lv.DOMAIN_SHUTDOWN, lv.DOMAIN_PMSUSPENDED:
		return true
	}
	return false
}

// StateName is the name of a virDomainState as the state field spells it.
func StateName(s lv.DomainState) string {
	switch s {
	case lv.DOMAIN_NOSTATE:
		return "nostate"
	case lv.DOMAIN_RUNNING:
		return "running"
	case lv.DOMAIN_BLOCKED:
		return "blocked"
	case lv.DOMAIN_PAUSED:
		return "paused"
	case lv.DOMAIN_SHUTDOWN:
		return "shutdown"
	case lv.DOMAIN_SHUTOFF:
		return "shutoff"
	case lv.DOMAIN_CRASHED:
		return "crashed"
	case lv.DOMAIN_PMSUSPENDED:
		return "pmsuspended"
	}
	return "unknown"
}
