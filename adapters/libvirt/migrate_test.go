package libvirt

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/internal/testmigrate"
)

// realPair starts two session libvirtd (shared/deps.md section 7) and
// returns them with their Hosts.
func realPair(t *testing.T) (a, b *testmigrate.Host, ha, hb *Host) {
	t.Helper()
	testmigrate.Require(t)
	dir := testmigrate.NewDir(t)
	a = testmigrate.StartHost(t, dir, "src", 1)
	b = testmigrate.StartHost(t, dir, "dst", 2)
	ha = NewHost(HostConfig{Name: "src", URI: a.URI})
	hb = NewHost(HostConfig{Name: "dst", URI: b.URI})
	t.Cleanup(func() { ha.Close(); hb.Close() })
	return a, b, ha, hb
}

func createGuest(t *testing.T, h *Host, xml string) {
	t.Helper()
	err := h.WithConn(func(c *lv.Connect) error {
		d, err := c.DomainCreateXML(xml, 0)
		if err != nil {
			return err
		}
		return d.Free()
	})
	if err != nil {
		t.Fatalf("create guest on %s: %v", h.Name(), err)
	}
}

func migrateOpts(b *testmigrate.Host) MigrateOptions {
	return MigrateOptions{MigrationURI: "tcp://127.0.0.1", Timeout: 3 * time.Minute, PollInterval: 200 * time.Millisecond}
}

// TestMigrateReal moves real qemu guests between two real libvirtd and
// injects each failure of shared/deps.md section 7; after every case each
// guest's qemu runs on exactly one host.
func TestMigrateReal(t *testing.T) {
	a, b, ha, hb := realPair(t)
	hosts := []*testmigrate.Host{a, b}
	kernel := testmigrate.FillKernel(t, a.Dir, 64)
	ctx := context.Background()

	t.Run("success", func(t *testing.T) {
		o := testmigrate.Case(t, "migrate: success, verified on both daemons")
		createGuest(t, ha, testmigrate.GuestXML("ok1", 64, ""))
		var progress atomic.Int32
		opts := migrateOpts(b)
		opts.Progress = func(MigrateProgress) { progress.Add(1) }
		start := time.Now()
		if err := ha.Migrate(ctx, "ok1", hb, opts); err != nil {
			t.Fatalf("migrate: %v\nsrc log: %s\ndst log: %s", err, a.Log(), b.Log())
		}
		t.Logf("migrated ok1 in %s (%d progress reports)", time.Since(start).Round(time.Millisecond), progress.Load())
		if a.QemuPid("ok1") != 0 || b.QemuPid("ok1") == 0 {
			t.Errorf("after success: qemu on src=%d dst=%d, want only dst", a.QemuPid("ok1"), b.QemuPid("ok1"))
		}
		occ, err := hb.Occupancy(ctx)
		if err != nil || !occ.Has("ok1") {
			t.Errorf("destination occupancy %+v, %v: want ok1", occ, err)
		}
		testmigrate.CountGuests(t, o, hosts, "ok1")
	})

	t.Run("destination stopped before", func(t *testing.T) {
		o := testmigrate.Case(t, "migrate: destination daemon stopped before the move")
		createGuest(t, ha, testmigrate.GuestXML("ds1", 64, ""))
		b.Stop()
		defer b.Start()
		err := ha.Migrate(ctx, "ds1", hb, migrateOpts(b))
		var me *MigrateError
		if !errors.As(err, &me) || !me.SourceRunning {
			t.Fatalf("err = %v, want a MigrateError with the guest running on the source", err)
		}
		t.Logf("error: %v", err)
		testmigrate.CountGuests(t, o, hosts, "ds1")
		if a.QemuPid("ds1") == 0 {
			t.Error("ds1 is not running on its source")
		}
	})

	// The slow cases: a guest whose 64 MiB are non-zero, moved at 1 MiB/s.
	slow := func(t *testing.T, name string, fault func(), wantAborted bool) {
		o := testmigrate.Case(t, "migrate: "+t.Name())
		createGuest(t, ha, testmigrate.GuestXML(name, 64, kernel))
		a.WaitFilled(name, 64)
		opts := migrateOpts(b)
		opts.BandwidthMiBs = 1
		started := make(chan struct{})
		var once atomic.Bool
		opts.Progress = func(p MigrateProgress) {
			if p.DataDone > 2<<20 && b.QemuPid(name) != 0 && once.CompareAndSwap(false, true) {
				close(started)
			}
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-started:
				fault()
				if wantAborted {
					cancel()
				}
			case <-ctx.Done():
			}
		}()
		begin := time.Now()
		err := ha.Migrate(ctx, name, hb, opts)
		var me *MigrateError
		if !errors.As(err, &me) {
			t.Fatalf("err = %v, want a MigrateError", err)
		}
		t.Logf("after %s: %v", time.Since(begin).Round(time.Millisecond), err)
		if !me.SourceRunning {
			t.Errorf("source does not report %s running: %+v", name, me)
		}
		if me.Aborted != wantAborted {
			t.Errorf("Aborted = %v, want %v", me.Aborted, wantAborted)
		}
		// The destination's incoming qemu exits when its stream breaks.
		deadline := time.Now().Add(30 * time.Second)
		for b.QemuPid(name) != 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		testmigrate.CountGuests(t, o, hosts, name)
		if a.QemuPid(name) == 0 {
			t.Errorf("%s is not running on its source", name)
		}
	}

	t.Run("aborted mid-way", func(t *testing.T) {
		slow(t, "ab1", func() {}, true)
	})
	t.Run("destination daemon killed mid-way", func(t *testing.T) {
		slow(t, "dk1", func() { b.Kill() }, false)
		b.Start()
	})
	t.Run("destination qemu killed mid-way", func(t *testing.T) {
		slow(t, "dq1", func() {
			if p := b.QemuPid("dq1"); p != 0 {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}, false)
	})
	t.Run("timeout", func(t *testing.T) {
		createGuest(t, ha, testmigrate.GuestXML("to1", 64, kernel))
		a.WaitFilled("to1", 64)
		opts := migrateOpts(b)
		opts.BandwidthMiBs = 1
		opts.Timeout = 3 * time.Second
		err := ha.Migrate(ctx, "to1", hb, opts)
		var me *MigrateError
		if !errors.As(err, &me) || !me.Aborted || !me.SourceRunning || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want an aborted MigrateError (deadline) with the guest on its source", err)
		}
	})
}
