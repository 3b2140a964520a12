package libvirt

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/collector/point"
)

// eventSink collects vm_event points from OnEvent.
type eventSink chan point.Point

func (s eventSink) onEvent(p point.Point) { s <- p }

// next waits up to 2 s for the next event of vm and checks it.
func (s eventSink) next(t *testing.T, vm, event, detail, state string) point.Point {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for {
		select {
		case p := <-s:
			if p.Tags["vm"] != vm {
				continue
			}
			if p.Measurement != MeasurementVMEvent || p.Fields["event"] != event || p.Fields["detail"] != detail || !stateIs(p, state) {
				t.Fatalf("event for %s = %s %v %v, want event=%s detail=%s state=%s", vm, p.Measurement, p.Tags, p.Fields, event, detail, state)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			return p
		case <-timeout:
			t.Fatalf("no %s/%s event for %s within 2 s", event, detail, vm)
			return point.Point{}
		}
	}
}

// stateIs checks the state field; "" means it must be absent.
func stateIs(p point.Point, state string) bool {
	got, ok := p.Fields["state"]
	if state == "" {
		return !ok
	}
	return got == state
}

// none checks that no event arrives within d.
func (s eventSink) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case p := <-s:
		t.Fatalf("unexpected event %v %v", p.Tags, p.Fields)
	case <-time.After(d):
	}
}

func domainOp(t *testing.T, h *Host, name string, op func(*lv.Domain) error) {
	t.Helper()
	err := h.WithConn(func(c *lv.Connect) error {
		d, err := c.LookupDomainByName(name)
		if err != nil {
			return err
		}
		defer d.Free()
		return op(d)
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestLifecycleEventsArrive(t *testing.T) {
	sink := make(eventSink, 64)
	h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml"), Tags: map[string]string{"site": "tokyo-1"}, OnEvent: sink.onEvent})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.WatchEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.WatchEvents(ctx); err == nil || !strings.Contains(err.Error(), "already watching") {
		t.Errorf("second WatchEvents = %v, want already watching", err)
	}

	before := time.Now()
	domainOp(t, h, "batch-01", (*lv.Domain).Create)
	p := sink.next(t, "batch-01", "started", "booted", "running")
	if p.Tags["host"] != "host-01" || p.Tags["site"] != "tokyo-1" || p.Tags["uuid"] != "00000000-0000-4000-8000-000000000003" {
		t.Errorf("event tags = %v", p.Tags)
	}
	if p.Time.Before(before) || time.Since(p.Time) > 2*time.Second {
		t.Errorf("event time %v is not its arrival", p.Time)
	}

	domainOp(t, h, "web-01", (*lv.Domain).Suspend)
	sink.next(t, "web-01", "suspended", "paused", "paused")
	domainOp(t, h, "web-01", (*lv.Domain).Resume)
	sink.next(t, "web-01", "resumed", "unpaused", "running")
	domainOp(t, h, "web-01", (*lv.Domain).Destroy)
	sink.next(t, "web-01", "stopped", "destroyed", "shutoff")
	domainOp(t, h, "batch-01", (*lv.Domain).Shutdown)
	sink.next(t, "batch-01", "stopped", "shutdown", "shutoff")
	domainOp(t, h, "batch-01", (*lv.Domain).Undefine)
	sink.next(t, "batch-01", "undefined", "removed", "") // gone: no state to read

	// Once ctx is done the host stops delivering.
	cancel()
	time.Sleep(100 * time.Millisecond)
	for len(sink) > 0 {
		<-sink
	}
	domainOp(t, h, "web-01", (*lv.Domain).Create)
	sink.none(t, 300*time.Millisecond)
}

func TestEventsSurviveAReconnect(t *testing.T) {
	sink := make(eventSink, 64)
	h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml"), OnEvent: sink.onEvent})
	if err := h.WatchEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	killConn(t, h)
	collect(t, h) // reconnects and registers again
	domainOp(t, h, "web-01", (*lv.Domain).Destroy)
	sink.next(t, "web-01", "stopped", "destroyed", "shutoff")
}

func TestEventsFromTwoHostsStayApart(t *testing.T) {
	sinkA, sinkB := make(eventSink, 16), make(eventSink, 16)
	a := newTestHost(t, HostConfig{Name: "a", URI: testURI(t, "node.xml"), OnEvent: sinkA.onEvent})
	b := newTestHost(t, HostConfig{Name: "b", URI: testURI(t, "node.xml"), OnEvent: sinkB.onEvent})
	for _, h := range []*Host{a, b} {
		if err := h.WatchEvents(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	domainOp(t, a, "idle-01", (*lv.Domain).Resume)
	if p := sinkA.next(t, "idle-01", "resumed", "unpaused", "running"); p.Tags["host"] != "a" {
		t.Errorf("host tag = %q, want a", p.Tags["host"])
	}
	sinkB.none(t, 300*time.Millisecond)
}

func TestWatchEventsRefusals(t *testing.T) {
	h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml")})
	if err := h.WatchEvents(context.Background()); err == nil || !strings.Contains(err.Error(), "OnEvent is nil") {
		t.Errorf("without OnEvent: %v", err)
	}

	h = newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml"), OnEvent: func(point.Point) {}})
	collect(t, h)
	h.mu.Lock()
	h.connEvents = false // as if it had connected before StartEventLoop
	h.mu.Unlock()
	err := h.WatchEvents(context.Background())
	if err == nil || !strings.Contains(err.Error(), "opened before StartEventLoop") {
		t.Errorf("on a connection older than the loop: %v", err)
	}

	h = newTestHost(t, HostConfig{Name: "host-09", URI: "test:///nonexistent.xml", OnEvent: func(point.Point) {}})
	if err := h.WatchEvents(context.Background()); err == nil || !strings.Contains(err.Error(), `libvirt host "host-09" (test:///nonexistent.xml): connect:`) {
		t.Errorf("on a bad URI: %v", err)
	}
}

const eventLoopChildEnv = "SETSUDEN_LIBVIRT_EVENT_LOOP_CHILD"

// The loop is process-wide, so stopping it is tested in a child process.
func TestEventLoopStopsWithItsContext(t *testing.T) {
	if os.Getenv(eventLoopChildEnv) != "" {
		ctx, cancel := context.WithCancel(context.Background())
		if err := StartEventLoop(ctx); err != nil {
			t.Fatal(err)
		}
		h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml"), OnEvent: func(point.Point) {}})
		if err := h.WatchEvents(context.Background()); err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case <-eventLoop.exited:
		case <-time.After(2 * time.Second):
			t.Fatal("the event loop did not stop within 2 s of its context")
		}
		h2 := newTestHost(t, HostConfig{Name: "host-02", URI: testURI(t, "node.xml"), OnEvent: func(point.Point) {}})
		if err := h2.WatchEvents(context.Background()); err == nil || !strings.Contains(err.Error(), "event loop is not running") {
			t.Fatalf("WatchEvents after the loop stopped: %v", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEventLoopStopsWithItsContext$", "-test.v")
	cmd.Env = append(os.Environ(), eventLoopChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEventLoopStopsWithItsContext") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestStartEventLoopIsIdempotent(t *testing.T) {
	for i := 0; i < 3; i++ {
		if err := StartEventLoop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if !eventLoopRunning() {
		t.Fatal("event loop not running")
	}
}

func TestEventNames(t *testing.T) {
	cases := []struct {
		e      lv.DomainEventType
		detail int
		event  string
		name   string
	}{
		{lv.DOMAIN_EVENT_STARTED, int(lv.DOMAIN_EVENT_STARTED_BOOTED), "started", "booted"},
		{lv.DOMAIN_EVENT_STARTED, int(lv.DOMAIN_EVENT_STARTED_MIGRATED), "started", "migrated"},
		{lv.DOMAIN_EVENT_STOPPED, int(lv.DOMAIN_EVENT_STOPPED_DESTROYED), "stopped", "destroyed"},
		{lv.DOMAIN_EVENT_STOPPED, int(lv.DOMAIN_EVENT_STOPPED_MIGRATED), "stopped", "migrated"},
		{lv.DOMAIN_EVENT_STOPPED, int(lv.DOMAIN_EVENT_STOPPED_FAILED), "stopped", "failed"},
		{lv.DOMAIN_EVENT_SUSPENDED, int(lv.DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED), "suspended", "postcopy_failed"},
		{lv.DOMAIN_EVENT_RESUMED, int(lv.DOMAIN_EVENT_RESUMED_POSTCOPY), "resumed", "postcopy"},
		{lv.DOMAIN_EVENT_SHUTDOWN, int(lv.DOMAIN_EVENT_SHUTDOWN_GUEST), "shutdown", "guest"},
		{lv.DOMAIN_EVENT_DEFINED, int(lv.DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT), "defined", "from_snapshot"},
		{lv.DOMAIN_EVENT_UNDEFINED, int(lv.DOMAIN_EVENT_UNDEFINED_RENAMED), "undefined", "renamed"},
		{lv.DOMAIN_EVENT_PMSUSPENDED, int(lv.DOMAIN_EVENT_PMSUSPENDED_DISK), "pmsuspended", "disk"},
		{lv.DOMAIN_EVENT_CRASHED, int(lv.DOMAIN_EVENT_CRASHED_CRASHLOADED), "crashed", "crashloaded"},
		{lv.DOMAIN_EVENT_STOPPED, 99, "stopped", "detail-99"},
		{lv.DomainEventType(42), 0, "event-42", "detail-0"},
	}
	for _, c := range cases {
		if got := EventName(c.e); got != c.event {
			t.Errorf("EventName(%d) = %q, want %q", c.e, got, c.event)
		}
		if got := EventDetailName(c.e, c.detail); got != c.name {
			t.Errorf("EventDetailName(%d, %d) = %q, want %q", c.e, c.detail, got, c.name)
		}
	}
}
