package libvirt

import (
	"context"
	"errors"
	"fmt"
	"time"

	lv "libvirt.org/go/libvirt"
)

// MigrateOptions tune one live migration.
type MigrateOptions struct {
	// DestURI is the destination daemon's URI as the SOURCE daemon reaches it
	// (peer-to-peer: the source libvirtd connects to it). Empty: the
	// destination Host's URI.
	DestURI string
	// MigrationURI is where qemu sends the memory stream, e.g.
	// tcp://10.0.0.2; empty lets libvirt use the destination's hostname.
	MigrationURI string
	// BandwidthMiBs caps the stream in MiB/s; 0: unlimited.
	BandwidthMiBs uint64
	// Timeout aborts the migration (AbortJob) after this long; 0: none
	// (the caller's context still aborts it).
	Timeout time.Duration
	// PollInterval is how often the job info is read for Progress
	// (default 500 ms).
	PollInterval time.Duration
	// Progress, if set, receives the job info while the migration runs.
	Progress func(MigrateProgress)
}

// MigrateProgress is the source's job info during a migration.
type MigrateProgress struct {
	Elapsed   time.Duration
	DataTotal uint64 // bytes
	DataDone  uint64
	DataLeft  uint64
	BPS       uint64 // memory bytes per second
}

// MigrateError is a failed or aborted migration. SourceRunning and
// DestRunning are what libvirt said right after the failure (DestKnown is
// false when the destination could not be asked).
type MigrateError struct {
	Domain, Source, Dest string
	Aborted              bool // by timeout or the caller's context
	SourceRunning        bool
	DestRunning          bool
	DestKnown            bool
	Err                  error
}

func (e *MigrateError) Error() string {
	what := "failed"
	if e.Aborted {
		what = "aborted"
	}
	where := "not running on the source"
	if e.SourceRunning {
		where = "still running on the source"
	}
	return fmt.Sprintf("migrate %q from %s to %s %s: %s (domain %s)", e.Domain, e.Source, e.Dest, what, describe(e.Err), where)
}

func (e *MigrateError) Unwrap() error { return e.Err }

// Migrate live-migrates the running domain name from h to dst, peer to peer
// (MigrateToURI3 with VIR_MIGRATE_LIVE|VIR_MIGRATE_PEER2PEER; persistent
// domains are persisted at the destination and undefined at the source).
// It runs on connections of its own, so Collect on either host is not held
// up; it reports progress from the job info, aborts the job (AbortJob) when
// ctx ends or opts.Timeout passes, and afterwards verifies with both daemons
// that the domain runs at the destination and is gone from the source. Any
// failure is a *MigrateError saying where the domain runs.
func (h *Host) Migrate(ctx context.Context, name string, dst *Host, opts MigrateOptions) error {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	destURI := opts.DestURI
	if destURI == "" {
		destURI = dst.URI()
	}
	merr := &MigrateError{Domain: name, Source: h.Name(), Dest: dst.Name()}
	fail := func(err error) error { merr.Err = err; return merr }

	src, err := lv.NewConnect(h.URI())
	if err != nil {
		merr.SourceRunning = false
		return fail(h.errorf("connect", err))
	}
	defer src.Close()
	dom, err := src.LookupDomainByName(name)
	if err != nil {
		return fail(fmt.Errorf("look up on %s: %w", h.Name(), err))
	}
	defer dom.Free()
	if active, err := dom.IsActive(); err != nil || !active {
		if err == nil {
			err = errors.New("domain is not running")
		}
		return fail(err)
	}
	uuid, err := dom.GetUUIDString()
	if err != nil {
		return fail(err)
	}
	flags := lv.MIGRATE_LIVE | lv.MIGRATE_PEER2PEER
	if persistent, err := dom.IsPersistent(); err == nil && persistent {
		flags |= lv.MIGRATE_PERSIST_DEST | lv.MIGRATE_UNDEFINE_SOURCE
	}
	params := &lv.DomainMigrateParameters{}
	if opts.MigrationURI != "" {
		params.URISet, params.URI = true, opts.MigrationURI
	}
	if opts.BandwidthMiBs > 0 {
		params.BandwidthSet, params.Bandwidth = true, opts.BandwidthMiBs
	}

	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- dom.MigrateToURI3(destURI, params, flags) }()

	tick := time.NewTicker(opts.PollInterval)
	defer tick.Stop()
	var migErr error
	aborting := false
wait:
	for {
		select {
		case migErr = <-done:
			break wait
		case <-ctx.Done():
			if !aborting {
				aborting = true
				merr.Aborted = true
				// The job may not have started yet or be finishing: keep
				// asking until MigrateToURI3 returns.
				_ = dom.AbortJob()
			}
		case <-tick.C:
			if aborting {
				_ = dom.AbortJob()
				continue
			}
			if opts.Progress != nil {
				if ji, err := dom.GetJobStats(0); err == nil && ji.Type != lv.DOMAIN_JOB_NONE {
					opts.Progress(MigrateProgress{
						Elapsed:   time.Duration(ji.TimeElapsed) * time.Millisecond,
						DataTotal: ji.DataTotal, DataDone: ji.DataProcessed,
						DataLeft: ji.DataRemaining, BPS: ji.MemBps,
					})
				}
			}
		}
	}

	srcRunning, srcErr := activeByUUID(src, uuid)
	dstRunning, dstErr := dst.activeByUUID(uuid)
	merr.SourceRunning = srcErr == nil && srcRunning
	merr.DestRunning, merr.DestKnown = dstRunning, dstErr == nil
	if migErr != nil {
		if merr.Aborted && ctx.Err() != nil {
			return fail(fmt.Errorf("%w: %v", ctx.Err(), describe(migErr)))
		}
		return fail(migErr)
	}
	// MigrateToURI3 said yes: believe the daemons, not the call.
	switch {
	case srcErr != nil:
		return fail(fmt.Errorf("verify on source %s: %w", h.Name(), srcErr))
	case dstErr != nil:
		return fail(fmt.Errorf("verify on destination %s: %w", dst.Name(), dstErr))
	case !dstRunning:
		return fail(fmt.Errorf("verify: libvirt reported success but the domain is not running on %s", dst.Name()))
	case srcRunning:
		return fail(fmt.Errorf("verify: libvirt reported success but the domain still runs on %s", h.Name()))
	}
	return nil
}

// activeByUUID asks the host, on a connection of its own, whether the
// domain with uuid is active there. A domain that is not defined there is
// not active (and no error).
func (h *Host) activeByUUID(uuid string) (bool, error) {
	c, err := lv.NewConnect(h.URI())
	if err != nil {
		return false, h.errorf("connect", err)
	}
	defer c.Close()
	return activeByUUID(c, uuid)
}

func activeByUUID(c *lv.Connect, uuid string) (bool, error) {
	d, err := c.LookupDomainByUUIDString(uuid)
	if err != nil {
		if isNoDomain(err) {
			return false, nil
		}
		return false, err
	}
	defer d.Free()
	return d.IsActive()
}
