package libvirt

import (
	"context"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/collector/point"
)

// CauseReconciled is the cause field of a vm_event point that was not a
// libvirt event but a change found after a reconnect: the domain's state
// differs from the last one seen before the connection was lost.
const CauseReconciled = "reconciled"

// domainState is what the Host last saw of a domain.
type domainState struct {
	name, state string
}

// watchConnLocked asks libvirt to notice a dead connection (keepalive) and
// to say when it closes (close callback). h.mu must be held; the event loop
// must run.
func (h *Host) watchConnLocked() {
	// The test driver and other local drivers have no keepalive: an error.
	_ = h.conn.SetKeepAlive(max(int(h.cfg.KeepaliveInterval/time.Second), 1), uint(h.cfg.KeepaliveCount))
	_ = h.conn.RegisterCloseCallback(h.onClose)
}

// onClose runs on the event loop goroutine: it must not take h.mu.
func (h *Host) onClose(_ *lv.Connect, _ lv.ConnectCloseReason) {
	select {
	case h.connClosed <- struct{}{}:
	default:
	}
}

// reconnect runs beside WatchEvents (generation gen) until ctx is done or
// the host is closed: when the connection closes it reconnects at once,
// then after ReconnectBackoff, doubling up to ReconnectBackoffMax.
func (h *Host) reconnect(ctx context.Context, gen uint64) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-h.connClosed:
		}
		wait := h.cfg.ReconnectBackoff
		lostAt := time.Now()
		for attempt := 1; ; attempt++ {
			h.mu.Lock()
			if h.closed || h.watching != gen {
				h.mu.Unlock()
				return
			}
			_, err := h.connLocked()
			h.mu.Unlock()
			if err == nil {
				h.cfg.Logger.Info("libvirt reconnected", "host", h.cfg.Name, "attempts", attempt,
					"after", time.Since(lostAt).Round(time.Millisecond))
				go h.reconcileLater(ctx)
				break
			}
			if attempt == 1 {
				h.cfg.Logger.Warn("libvirt connection lost; reconnecting", "host", h.cfg.Name, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-h.done:
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, h.cfg.ReconnectBackoffMax)
		}
		// A close signalled while reconnecting was about the old connection.
		select {
		case <-h.connClosed:
			h.mu.Lock()
			if h.conn != nil {
				if alive, err := h.conn.IsAlive(); err != nil || !alive {
					h.connClosed <- struct{}{}
				}
			}
			h.mu.Unlock()
		default:
		}
	}
}

// settleReconciles are the times after a reconnect at which the domains
// are compared again: a restarted libvirtd answers before its background
// threads have reconnected to its qemu processes, and until then it
// reports the states it had saved (a guest paused meanwhile still shows
// as running, and no lifecycle event follows the correction).
var settleReconciles = []time.Duration{time.Second, 3 * time.Second}

// reconcileLater reconciles again at settleReconciles after a reconnect.
func (h *Host) reconcileLater(ctx context.Context) {
	start := time.Now()
	for _, at := range settleReconciles {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-time.After(time.Until(start.Add(at))):
		}
		h.mu.Lock()
		if h.conn != nil && !h.closed {
			if alive, err := h.conn.IsAlive(); err == nil && alive {
				h.reconcileLocked()
			}
		}
		h.mu.Unlock()
	}
}

// remember records the states of a complete listing (a poll).
func (h *Host) remember(doms []domainSample) {
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	last := make(map[string]domainState, len(doms))
	for _, d := range doms {
		last[d.UUID] = domainState{name: d.Name, state: StateName(d.State)}
	}
	h.last = last
	h.listed = true
}

// rememberEvent records the state a lifecycle event left a domain in.
func (h *Host) rememberEvent(uuid, name, event, state string) {
	if uuid == "" {
		return
	}
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	switch {
	case event == "undefined":
		delete(h.last, uuid)
	case state != "":
		h.last[uuid] = domainState{name: name, state: state}
	}
}

// reconcileLocked lists the domains on a new connection and writes, for
// each whose state differs from the last one seen before the connection
// was lost, a vm_event point with cause "reconciled": the changes whose
// events were missed. h.mu must be held.
func (h *Host) reconcileLocked() {
	if h.cfg.OnEvent == nil || h.conn == nil {
		return
	}
	doms, _, err := readDomains(context.Background(), h.conn)
	if err != nil {
		return // the next poll shows the states
	}
	now := time.Now()
	h.stateMu.Lock()
	before, listed := h.last, h.listed
	h.stateMu.Unlock()
	if !listed {
		h.remember(doms) // nothing seen before to compare with
		return
	}
	var pts []point.Point
	seen := map[string]bool{}
	for _, d := range doms {
		seen[d.UUID] = true
		state := StateName(d.State)
		old, had := before[d.UUID]
		if had && old.state == state {
			continue
		}
		fields := map[string]any{"event": reconciledEvent(old.state, state, had), "detail": CauseReconciled,
			"state": state, "cause": CauseReconciled}
		pts = append(pts, point.Point{Measurement: MeasurementVMEvent, Tags: h.tags("vm", d.Name, "uuid", d.UUID), Fields: fields})
	}
	for uuid, old := range before {
		if !seen[uuid] {
			pts = append(pts, point.Point{Measurement: MeasurementVMEvent, Tags: h.tags("vm", old.name, "uuid", uuid),
				Fields: map[string]any{"event": "undefined", "detail": CauseReconciled, "cause": CauseReconciled}})
		}
	}
	h.remember(doms)
	for i := range pts {
		pts[i].Time = now.Add(time.Duration(i) * time.Nanosecond) // distinct times, in order
		h.cfg.OnEvent(pts[i])
	}
}

// reconciledEvent names the change from old to state as the lifecycle
// event that would have reported it.
func reconciledEvent(old, state string, had bool) string {
	switch state {
	case "running", "blocked":
		if had && (old == "paused" || old == "pmsuspended") {
			return "resumed"
		}
		return "started"
	case "paused":
		return "suspended"
	case "shutoff":
		if !had {
			return "defined"
		}
		return "stopped"
	case "shutdown":
		return "shutdown"
	case "crashed":
		return "crashed"
	case "pmsuspended":
		return "pmsuspended"
	}
	return "defined"
}
