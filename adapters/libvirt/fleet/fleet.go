// Package fleet is the shedding executor's Hypervisors (rules/executor)
// over adapters/libvirt: one libvirt.Host a host name, live migration
// between them with the migration address, bandwidth cap and timeout the
// executor's configuration gives. cmd/setsuden wires it; the executor's
// real-part tests drive the same code.
package fleet

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/setsuden/setsuden/adapters/libvirt"
	"github.com/setsuden/setsuden/rules/executor"
)

// DefaultTimeout aborts a migration that has not ended (Watcher's 180 x 5 s).
const DefaultTimeout = 15 * time.Minute

// Host is one hypervisor of the fleet.
type Host struct {
	Name string
	URI  string // libvirt URI, e.g. qemu+ssh://root@node/system
	// MigrationURI is where qemu sends memory when this host is the
	// destination (tcp://10.0.0.2); empty: libvirt's choice.
	MigrationURI string
}

// Options are the migrations' settings.
type Options struct {
	// Timeout aborts a migration after this long; 0: DefaultTimeout.
	Timeout time.Duration
	// BandwidthMiBs caps each migration's stream; 0: unlimited.
	BandwidthMiBs uint64
	// PollInterval is how often a migration's progress is read; 0:
	// adapters/libvirt's default.
	PollInterval time.Duration
}

type member struct {
	host   *libvirt.Host
	migURI string
}

// Fleet implements executor.Hypervisors. It is safe for concurrent use.
type Fleet struct {
	mu        sync.Mutex
	hosts     map[string]member
	timeout   time.Duration
	poll      time.Duration
	bandwidth atomic.Uint64
	progress  atomic.Pointer[func(vm string, p libvirt.MigrateProgress)]
}

var _ executor.Hypervisors = (*Fleet)(nil)

// New makes the fleet of hosts; connections open on first use.
func New(o Options, hosts ...Host) *Fleet {
	f := &Fleet{hosts: map[string]member{}, timeout: o.Timeout, poll: o.PollInterval}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	f.bandwidth.Store(o.BandwidthMiBs)
	for _, h := range hosts {
		f.Add(h)
	}
	return f
}

// Add puts a host into the fleet (replacing one of the same name, whose
// connection it closes).
func (f *Fleet) Add(h Host) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.hosts[h.Name]; ok {
		old.host.Close()
	}
	f.hosts[h.Name] = member{host: libvirt.NewHost(libvirt.HostConfig{Name: h.Name, URI: h.URI}), migURI: h.MigrationURI}
}

// SetBandwidth caps the migrations that start from now on (MiB/s; 0:
// unlimited).
func (f *Fleet) SetBandwidth(mibs uint64) { f.bandwidth.Store(mibs) }

// OnProgress makes fn see the progress of every migration that starts from
// now on (nil: none).
func (f *Fleet) OnProgress(fn func(vm string, p libvirt.MigrateProgress)) {
	if fn == nil {
		f.progress.Store(nil)
		return
	}
	f.progress.Store(&fn)
}

// Close closes every host's connection.
func (f *Fleet) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.hosts {
		m.host.Close()
	}
}

func (f *Fleet) member(name string) (member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.hosts[name]
	if !ok {
		return member{}, fmt.Errorf("host %q is not in the executor's hosts", name)
	}
	return m, nil
}

// Hypervisor is the named host's libvirt connection (for callers that need
// more than the executor asks of it).
func (f *Fleet) Hypervisor(name string) (*libvirt.Host, error) {
	m, err := f.member(name)
	if err != nil {
		return nil, err
	}
	return m.host, nil
}

// Occupancy asks host's libvirtd what it runs now.
func (f *Fleet) Occupancy(ctx context.Context, host string) (executor.Occupancy, error) {
	m, err := f.member(host)
	if err != nil {
		return executor.Occupancy{}, err
	}
	o, err := m.host.Occupancy(ctx)
	if err != nil {
		return executor.Occupancy{}, err
	}
	out := executor.Occupancy{MemTotalMiB: o.MemTotalMiB}
	for _, d := range o.Domains {
		out.Domains = append(out.Domains, executor.Domain{Name: d.Name, MemMiB: d.MemMiB})
	}
	return out, nil
}

// Migrate live-migrates vm from one host to another (adapters/libvirt
// verifies it and leaves vm running on from when it fails).
func (f *Fleet) Migrate(ctx context.Context, vm, from, to string) error {
	src, err := f.member(from)
	if err != nil {
		return err
	}
	dst, err := f.member(to)
	if err != nil {
		return err
	}
	opts := libvirt.MigrateOptions{MigrationURI: dst.migURI, BandwidthMiBs: f.bandwidth.Load(), Timeout: f.timeout, PollInterval: f.poll}
	if fn := f.progress.Load(); fn != nil {
		opts.Progress = func(p libvirt.MigrateProgress) { (*fn)(vm, p) }
	}
	return src.host.Migrate(ctx, vm, dst.host, opts)
}

// AbortJob aborts a migration of vm in flight on host.
func (f *Fleet) AbortJob(ctx context.Context, host, vm string) (bool, error) {
	m, err := f.member(host)
	if err != nil {
		return false, err
	}
	return m.host.AbortJob(ctx, vm)
}
