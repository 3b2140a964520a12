package libvirt

import (
	"context"
	"errors"
	"sort"

	lv "libvirt.org/go/libvirt"
)

// ActiveDomain is one running (or paused) domain as the executor's
// preconditions see it.
type ActiveDomain struct {
	Name   string
	UUID   string
	MemMiB int64
	// Migrating is set while an outgoing or incoming job runs (an incoming
	// domain shows up paused on its destination).
	Migrating bool
}

// Occupancy is what a host holds right now, asked from libvirt at the call.
type Occupancy struct {
	MemTotalMiB int64
	// Domains are the active domains, sorted by name; an empty list is an
	// empty host.
	Domains []ActiveDomain
}

// MemUsedMiB is the sum of the active domains' maximum memory.
func (o Occupancy) MemUsedMiB() int64 {
	var s int64
	for _, d := range o.Domains {
		s += d.MemMiB
	}
	return s
}

// Has reports whether name is among the active domains.
func (o Occupancy) Has(name string) bool {
	for _, d := range o.Domains {
		if d.Name == name {
			return true
		}
	}
	return false
}

// Occupancy lists the host's active domains and node memory through the
// host's connection (so it reconnects like Collect does).
func (h *Host) Occupancy(ctx context.Context) (Occupancy, error) {
	var out Occupancy
	err := h.withLiveConn(func(c *lv.Connect) error {
		out = Occupancy{}
		if err := ctx.Err(); err != nil {
			return err
		}
		ni, err := c.GetNodeInfo()
		if err != nil {
			return err
		}
		out.MemTotalMiB = int64(ni.Memory / 1024)
		doms, err := c.ListAllDomains(lv.CONNECT_LIST_DOMAINS_ACTIVE)
		if err != nil {
			return err
		}
		for i := range doms {
			d := &doms[i]
			name, err := d.GetName()
			if err == nil {
				ad := ActiveDomain{Name: name}
				ad.UUID, _ = d.GetUUIDString()
				if info, err := d.GetInfo(); err == nil {
					ad.MemMiB = int64(info.MaxMem / 1024)
				}
				if ji, err := d.GetJobInfo(); err == nil && ji.Type != lv.DOMAIN_JOB_NONE {
					ad.Migrating = true
				}
				out.Domains = append(out.Domains, ad)
			}
			d.Free()
		}
		return nil
	})
	if err != nil {
		if _, ok := err.(*HostError); ok {
			return out, err
		}
		return out, h.errorf("occupancy", err)
	}
	sort.Slice(out.Domains, func(i, j int) bool { return out.Domains[i].Name < out.Domains[j].Name })
	return out, nil
}

// AbortJob aborts the job (a migration) of domain name if one runs; it
// reports whether there was one. The executor calls it for a migration it
// finds in flight after a restart.
func (h *Host) AbortJob(ctx context.Context, name string) (bool, error) {
	aborted := false
	err := h.withLiveConn(func(c *lv.Connect) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := c.LookupDomainByName(name)
		if err != nil {
			if isNoDomain(err) {
				return nil
			}
			return err
		}
		defer d.Free()
		ji, err := d.GetJobInfo()
		if err != nil || ji.Type == lv.DOMAIN_JOB_NONE {
			return err
		}
		aborted = true
		return d.AbortJob()
	})
	if err != nil {
		if _, ok := err.(*HostError); ok {
			return aborted, err
		}
		return aborted, h.errorf("abort job of "+name, err)
	}
	return aborted, nil
}

// withLiveConn is WithConn for the executor's queries: a connection-level
// failure (the daemon restarted: libvirt's IsAlive does not notice without
// keepalive) drops the connection and fn runs once more on a new one.
func (h *Host) withLiveConn(fn func(*lv.Connect) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for attempt := 0; ; attempt++ {
		conn, err := h.connLocked()
		if err != nil {
			return err
		}
		err = fn(conn)
		if err == nil || !isConnectionError(err) {
			return err
		}
		h.dropLocked()
		if attempt == 1 {
			return err
		}
	}
}

// isConnectionError reports an error of the connection rather than of the
// call (RPC layer, no connection).
func isConnectionError(err error) bool {
	var le lv.Error
	return errors.As(err, &le) && (le.Domain == lv.FROM_RPC || le.Code == lv.ERR_NO_CONNECT || le.Code == lv.ERR_SYSTEM_ERROR)
}
