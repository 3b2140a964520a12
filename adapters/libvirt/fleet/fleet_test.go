package fleet

import (
	"context"
	"strings"
	"testing"
)

// The fleet maps the executor's host names to libvirt connections: a known
// host answers with what its hypervisor runs (libvirt's built-in test
// driver: one running domain "test"), an unknown one is named in the error.
func TestFleetHosts(t *testing.T) {
	ctx := context.Background()
	f := New(Options{}, Host{Name: "h1", URI: "test:///default"})
	defer f.Close()
	o, err := f.Occupancy(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := o.Has("test"); !ok || o.MemTotalMiB <= 0 {
		t.Errorf("occupancy %+v: want domain test and the node's memory", o)
	}
	for name, call := range map[string]func() error{
		"occupancy":    func() error { _, err := f.Occupancy(ctx, "h9"); return err },
		"migrate from": func() error { return f.Migrate(ctx, "test", "h9", "h1") },
		"migrate to":   func() error { return f.Migrate(ctx, "test", "h1", "h9") },
		"abort":        func() error { _, err := f.AbortJob(ctx, "h9", "test"); return err },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), `host "h9" is not in the executor's hosts`) {
			t.Errorf("%s on an unknown host: %v, want the host named", name, err)
		}
	}
	if f.timeout != DefaultTimeout {
		t.Errorf("timeout %s, want the default %s", f.timeout, DefaultTimeout)
	}
}
