package libvirt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/collector/point"
)

// eventLoop is libvirt's default event loop. libvirt allows one per
// process, registered before the first connection is opened, so this is
// the package's only mutable global and it is guarded by once.
var eventLoop struct {
	once    sync.Once
	err     error
	running atomic.Bool
	exited  chan struct{} // closed when the loop goroutine returns
}

// StartEventLoop registers libvirt's default event loop and runs it on a
// goroutine until ctx is done. The loop is process-wide: cmd calls this
// once at start, before any Host connects (a connection opened before it
// cannot deliver events, and WatchEvents refuses it). Later calls do
// nothing and return the first call's error; once ctx is done the loop
// stops for good.
func StartEventLoop(ctx context.Context) error {
	eventLoop.once.Do(func() {
		if err := lv.EventRegisterDefaultImpl(); err != nil {
			eventLoop.err = fmt.Errorf("libvirt: register the default event loop: %s", describe(err))
			return
		}
		eventLoop.running.Store(true)
		eventLoop.exited = make(chan struct{})
		go runEventLoop()
		if ctx.Done() != nil {
			go func() {
				<-ctx.Done()
				eventLoop.running.Store(false)
				// Wake the loop out of its poll so it sees running == false.
				_, _ = lv.EventAddTimeout(0, func(timer int) { _ = lv.EventRemoveTimeout(timer) })
			}()
		}
	})
	return eventLoop.err
}

func runEventLoop() {
	defer close(eventLoop.exited)
	for eventLoop.running.Load() {
		if err := lv.EventRunDefaultImpl(); err != nil {
			time.Sleep(100 * time.Millisecond) // do not spin on a broken loop
		}
	}
}

func eventLoopRunning() bool { return eventLoop.running.Load() }

// WatchEvents registers for the lifecycle events of every domain of the
// host and calls the configured OnEvent with a vm_event point for each,
// stamped at arrival, until ctx is done or the host is closed. It returns
// once registered. While it watches, a closed connection (libvirt's close
// callback; keepalive notices a dead peer) is reconnected at once, then
// with backoff (HostConfig.ReconnectBackoff), and the registration renewed;
// after every reconnect, each domain whose state differs from the last one
// seen gets a vm_event point with cause "reconciled" (reconcile.go), so no
// state change is missed. StartEventLoop must have been called before the
// host connected.
func (h *Host) WatchEvents(ctx context.Context) error {
	if h.cfgErr != nil {
		return h.cfgErr
	}
	if h.cfg.OnEvent == nil {
		return h.errorf("watch events", errors.New("HostConfig.OnEvent is nil"))
	}
	if !eventLoopRunning() {
		return h.errorf("watch events", errors.New("the libvirt event loop is not running: call StartEventLoop once at start, before any host connects"))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watching != 0 {
		return h.errorf("watch events", errors.New("already watching"))
	}
	if _, err := h.connLocked(); err != nil {
		return err
	}
	if !h.connEvents {
		return h.errorf("watch events", errors.New("the connection was opened before StartEventLoop and cannot deliver events"))
	}
	if err := h.registerLocked(); err != nil {
		return err
	}
	h.watchGen++
	gen := h.watchGen
	h.watching = gen
	go h.reconnect(ctx, gen)
	go func() {
		select {
		case <-ctx.Done():
		case <-h.done:
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.watching == gen {
			h.watching = 0
			if h.conn != nil && h.callbackID >= 0 {
				_ = h.conn.DomainEventDeregister(h.callbackID)
			}
			h.callbackID = -1
		}
	}()
	return nil
}

// registerLocked registers the lifecycle callback on h.conn. h.mu must be
// held.
func (h *Host) registerLocked() error {
	id, err := h.conn.DomainEventLifecycleRegister(nil, h.onLifecycle)
	if err != nil {
		h.callbackID = -1
		return h.errorf("register lifecycle events", err)
	}
	h.callbackID = id
	return nil
}

// onLifecycle runs on the event loop goroutine. It must not take h.mu: a
// WithConn caller holds it while its calls raise events.
func (h *Host) onLifecycle(_ *lv.Connect, d *lv.Domain, ev *lv.DomainEventLifecycle) {
	now := time.Now()
	name, err := d.GetName()
	if err != nil {
		return
	}
	extra := []string{"vm", name}
	uuid, err := d.GetUUIDString()
	if err == nil {
		extra = append(extra, "uuid", uuid)
	}
	fields := map[string]any{
		"event":  EventName(ev.Event),
		"detail": EventDetailName(ev.Event, ev.Detail),
	}
	if s, ok := stateAfterDetail(ev.Event, ev.Detail); ok {
		fields["state"] = s
	} else if st, _, err := d.GetState(); err == nil {
		fields["state"] = StateName(st)
	}
	state, _ := fields["state"].(string)
	h.rememberEvent(uuid, name, fields["event"].(string), state)
	h.cfg.OnEvent(point.Point{Measurement: MeasurementVMEvent, Tags: h.tags(extra...), Fields: fields, Time: now})
}

// stateAfterDetail is stateAfter, except that an incoming migration's
// domain starts paused: it runs from its "resumed"/"migrated" event on.
func stateAfterDetail(e lv.DomainEventType, detail int) (string, bool) {
	if e == lv.DOMAIN_EVENT_STARTED && detail == int(lv.DOMAIN_EVENT_STARTED_MIGRATED) {
		return "paused", true
	}
	return stateAfter(e)
}

// stateAfter is the state a lifecycle event leaves the domain in; defined
// and undefined do not change the run state, so they have none.
func stateAfter(e lv.DomainEventType) (string, bool) {
	switch e {
	case lv.DOMAIN_EVENT_STARTED, lv.DOMAIN_EVENT_RESUMED:
		return "running", true
	case lv.DOMAIN_EVENT_SUSPENDED:
		return "paused", true
	case lv.DOMAIN_EVENT_STOPPED:
		return "shutoff", true
	case lv.DOMAIN_EVENT_SHUTDOWN:
		return "shutdown", true
	case lv.DOMAIN_EVENT_PMSUSPENDED:
		return "pmsuspended", true
	case lv.DOMAIN_EVENT_CRASHED:
		return "crashed", true
	}
	return "", false
}

// EventName is the event field of a vm_event point, as virsh event names it.
func EventName(e lv.DomainEventType) string {
	switch e {
	case lv.DOMAIN_EVENT_DEFINED:
		return "defined"
	case lv.DOMAIN_EVENT_UNDEFINED:
		return "undefined"
	case lv.DOMAIN_EVENT_STARTED:
		return "started"
	case lv.DOMAIN_EVENT_SUSPENDED:
		return "suspended"
	case lv.DOMAIN_EVENT_RESUMED:
		return "resumed"
	case lv.DOMAIN_EVENT_STOPPED:
		return "stopped"
	case lv.DOMAIN_EVENT_SHUTDOWN:
		return "shutdown"
	case lv.DOMAIN_EVENT_PMSUSPENDED:
		return "pmsuspended"
	case lv.DOMAIN_EVENT_CRASHED:
		return "crashed"
	}
	return fmt.Sprintf("event-%d", int(e))
}

// EventDetailName is the detail field of a vm_event point: the reason
// within the event, as virsh event names it ("booted", "destroyed", ...).
func EventDetailName(e lv.DomainEventType, detail int) string {
	var names []string
	switch e {
	case lv.DOMAIN_EVENT_DEFINED:
		names = []string{"added", "updated", "renamed", "from_snapshot"}
	case lv.DOMAIN_EVENT_UNDEFINED:
		names = []string{"removed", "renamed"}
	case lv.DOMAIN_EVENT_STARTED:
		names = []string{"booted", "migrated", "restored", "from_snapshot", "wakeup", "recreated"}
	case lv.DOMAIN_EVENT_SUSPENDED:
		names = []string{"paused", "migrated", "ioerror", "watchdog", "restored", "from_snapshot", "api_error", "postcopy", "postcopy_failed", "guest_shutdown"}
	case lv.DOMAIN_EVENT_RESUMED:
		names = []string{"unpaused", "migrated", "from_snapshot", "postcopy", "postcopy_failed"}
	case lv.DOMAIN_EVENT_STOPPED:
		names = []string{"shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from_snapshot", "recreated"}
	case lv.DOMAIN_EVENT_SHUTDOWN:
		names = []string{"finished", "guest", "host"}
	case lv.DOMAIN_EVENT_PMSUSPENDED:
		names = []string{"memory", "disk"}
	case lv.DOMAIN_EVENT_CRASHED:
		names = []string{"panicked", "crashloaded"}
	}
	if detail >= 0 && detail < len(names) {
		return names[detail]
	}
	return fmt.Sprintf("detail-%d", detail)
}
