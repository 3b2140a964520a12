package executor_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/libvirt"
	"github.com/setsuden/setsuden/rules/executor"
)

// fleet is the executor's Hypervisors over real adapters/libvirt hosts (the
// same glue cmd/setsuden wires).
type fleet struct {
	mu        sync.Mutex
	hosts     map[string]*libvirt.Host
	bandwidth atomic.Uint64 // MiB/s for the next migrations; 0: unlimited
	timeout   time.Duration
	// onProgress sees every migration's progress (tests inject faults).
	onProgress func(vm string, p libvirt.MigrateProgress)
}

func newFleet() *fleet { return &fleet{hosts: map[string]*libvirt.Host{}, timeout: 3 * time.Minute} }

func (f *fleet) add(name, uri string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[name] = libvirt.NewHost(libvirt.HostConfig{Name: name, URI: uri})
}

func (f *fleet) host(name string) (*libvirt.Host, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hosts[name]
	if !ok {
		return nil, fmt.Errorf("unknown host %q", name)
	}
	return h, nil
}

func (f *fleet) close() {
	for _, h := range f.hosts {
		h.Close()
	}
}

func (f *fleet) Occupancy(ctx context.Context, name string) (executor.Occupancy, error) {
	h, err := f.host(name)
	if err != nil {
		return executor.Occupancy{}, err
	}
	o, err := h.Occupancy(ctx)
	if err != nil {
		return executor.Occupancy{}, err
	}
	out := executor.Occupancy{MemTotalMiB: o.MemTotalMiB}
	for _, d := range o.Domains {
		out.Domains = append(out.Domains, executor.Domain{Name: d.Name, MemMiB: d.MemMiB})
	}
	return out, nil
}

func (f *fleet) Migrate(ctx context.Context, vm, from, to string) error {
	src, err := f.host(from)
	if err != nil {
		return err
	}
	dst, err := f.host(to)
	if err != nil {
		return err
	}
	opts := libvirt.MigrateOptions{MigrationURI: "tcp://127.0.0.1", BandwidthMiBs: f.bandwidth.Load(), Timeout: f.timeout, PollInterval: 200 * time.Millisecond}
	if f.onProgress != nil {
		opts.Progress = func(p libvirt.MigrateProgress) { f.onProgress(vm, p) }
	}
	return src.Migrate(ctx, vm, dst, opts)
}

func (f *fleet) AbortJob(ctx context.Context, host, vm string) (bool, error) {
	h, err := f.host(host)
	if err != nil {
		return false, err
	}
	return h.AbortJob(ctx, vm)
}

// testLog sends the executor's log to t.Log (shown with -v or on failure).
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
