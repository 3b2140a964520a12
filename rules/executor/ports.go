package executor

import (
	"context"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// Domain is one active domain on a host.
type Domain struct {
	Name   string
	MemMiB int64
}

// Occupancy is what a host runs right now (asked at the call).
type Occupancy struct {
	MemTotalMiB int64
	Domains     []Domain
}

// Has reports whether vm is active there.
func (o Occupancy) Has(vm string) (Domain, bool) {
	for _, d := range o.Domains {
		if d.Name == vm {
			return d, true
		}
	}
	return Domain{}, false
}

// MemUsedMiB sums the active domains' memory.
func (o Occupancy) MemUsedMiB() int64 {
	var s int64
	for _, d := range o.Domains {
		s += d.MemMiB
	}
	return s
}

// Hypervisors is the executor's view of the libvirt hosts (adapters/libvirt
// behind it, wired in cmd/setsuden).
type Hypervisors interface {
	// Occupancy asks host's hypervisor what it runs now; an error means
	// it does not answer.
	Occupancy(ctx context.Context, host string) (Occupancy, error)
	// Migrate live-migrates vm and verifies it; ctx's end aborts it. A
	// failed migration leaves vm running on from.
	Migrate(ctx context.Context, vm, from, to string) error
	// AbortJob aborts a migration of vm found in flight on host (after a
	// restart); it reports whether there was one.
	AbortJob(ctx context.Context, host, vm string) (bool, error)
}

// Power is one host's BMC (adapters/bmc: IPMI, Redfish, Wake-on-LAN).
type Power interface {
	PowerIsOn(ctx context.Context) (bool, error)
	PowerOn(ctx context.Context) error
	// PowerOff asks the OS to shut down (soft) or cuts power (hard).
	PowerOff(ctx context.Context, hard bool) error
}

// SetPointWriter writes facility set-points (oBIX) and reads them back.
type SetPointWriter interface {
	Write(ctx context.Context, href string, value float64) error
	Read(ctx context.Context, href string) (float64, error)
}

// MeterReader gives the site's mean power over a past window, from the
// meters (InfluxDB).
type MeterReader interface {
	MeanSiteKW(ctx context.Context, from, to time.Time) (float64, error)
}

// Sink receives every audit event as an "audit" point (the write path to
// InfluxDB, the live stream).
type Sink interface {
	Emit(point.Point)
}
