package libvirt

import (
	"context"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"
)

// TestReconnectReconcilesMissedChanges: a test-driver connection starts
// from its node file again after a reconnect, so web-01, suspended over
// the old connection, is running on the new one and batch-01, destroyed
// and undefined, is back: the reconnect writes both changes, marked
// reconciled; what did not change gets nothing.
func TestReconnectReconcilesMissedChanges(t *testing.T) {
	sink := make(eventSink, 64)
	h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml"), OnEvent: sink.onEvent})
	if err := h.WatchEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	collect(t, h)
	domainOp(t, h, "web-01", (*lv.Domain).Suspend)
	sink.next(t, "web-01", "suspended", "paused", "paused")
	domainOp(t, h, "batch-01", (*lv.Domain).Undefine)
	sink.next(t, "batch-01", "undefined", "removed", "")
	killConn(t, h)
	collect(t, h)                                                   // reconnects
	sink.next(t, "batch-01", "defined", CauseReconciled, "shutoff") // listed by name
	p := sink.next(t, "web-01", "resumed", CauseReconciled, "running")
	if p.Fields["cause"] != CauseReconciled {
		t.Errorf("cause = %v", p.Fields["cause"])
	}
	sink.none(t, 300*time.Millisecond) // idle-01 was and is paused
}

func TestReconciledEvent(t *testing.T) {
	for _, tc := range []struct {
		old, state string
		had        bool
		want       string
	}{
		{"running", "paused", true, "suspended"}, {"paused", "running", true, "resumed"},
		{"shutoff", "running", true, "started"}, {"", "running", false, "started"},
		{"running", "shutoff", true, "stopped"}, {"", "shutoff", false, "defined"},
		{"running", "crashed", true, "crashed"}, {"running", "shutdown", true, "shutdown"},
	} {
		if got := reconciledEvent(tc.old, tc.state, tc.had); got != tc.want {
			t.Errorf("%s -> %s (had %v): %s, want %s", tc.old, tc.state, tc.had, got, tc.want)
		}
	}
}
