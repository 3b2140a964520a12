package modbus

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ConnBudget bounds the TCP connections meters hold open between samples.
// A collector has a fixed number of file descriptors (its open-file limit),
// and with one kept connection a meter it could poll no more meters than
// that. Within the budget a meter keeps its connection; beyond it, a meter
// connects for each sample and closes after it (what Telegraf users set by
// hand with close_connection_after_gather), sharing a reserve of descriptors
// for those short connections. Many devices also accept only a few
// connections, so a site may want a budget well below the limit.
type ConnBudget struct {
	mu      sync.Mutex
	kept    int
	keepMax int
	// short holds a token while a per-sample connection is open.
	short chan struct{}
}

// NewConnBudget allows n connections at once: n minus a reserve kept
// between samples, the reserve (a tenth, 1 to 1,024) for meters that
// connect per sample. n < 2 is raised to 2.
func NewConnBudget(n int) *ConnBudget {
	n = max(n, 2)
	reserve := min(max(n/10, 1), 1024)
	return &ConnBudget{keepMax: n - reserve, short: make(chan struct{}, reserve)}
}

// KeepMax is how many connections may be kept between samples.
func (b *ConnBudget) KeepMax() int { return b.keepMax }

// Kept reports the connections held between samples now.
func (b *ConnBudget) Kept() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kept
}

// connSlot is what a connection holds of the budget.
type connSlot int

const (
	slotNone  connSlot = iota // no budget (nil ConnBudget)
	slotKept                  // kept between samples
	slotShort                 // closed after the sample
)

// take gets a slot for a new connection: a kept one while any is free,
// else a short one, waiting for it until ctx ends or deadline passes.
func (b *ConnBudget) take(ctx context.Context, deadline time.Time) (connSlot, error) {
	if b == nil {
		return slotNone, nil
	}
	b.mu.Lock()
	if b.kept < b.keepMax {
		b.kept++
		b.mu.Unlock()
		return slotKept, nil
	}
	b.mu.Unlock()
	if err := acquire(ctx, b.short, deadline); err != nil {
		return slotNone, waitError(err, fmt.Sprintf("one of %d connection slots", cap(b.short)))
	}
	return slotShort, nil
}

// give returns a slot when its connection closes.
func (b *ConnBudget) give(s connSlot) {
	switch s {
	case slotKept:
		b.mu.Lock()
		b.kept--
		b.mu.Unlock()
	case slotShort:
		<-b.short
	}
}
