package collector

import (
	"sync"
	"time"
)

// slots wakes every source due at the same instant with one timer. Sources
// with the same interval and phase share their poll instants (they are
// clock-aligned), so a site of thousands of meters at 1 s needs one timer a
// second instead of one a meter: each source's own timer (armed, fired, its
// channel sent on and its select woken) cost about 5% of the collector's CPU
// at 2,000 meters (bench/collector profile).
type slots struct {
	mu      sync.Mutex
	pending map[int64]chan struct{} // by instant (Unix ns): closed when it comes
	armed   int                     // timers armed so far (for tests)
	past    chan struct{}           // closed: the answer for an instant gone by
}

func newSlots() *slots {
	s := &slots{pending: map[int64]chan struct{}{}, past: make(chan struct{})}
	close(s.past)
	return s
}

// at returns a channel that is closed at t.
func (s *slots) at(t time.Time) <-chan struct{} {
	d := time.Until(t)
	if d <= 0 {
		return s.past
	}
	key := t.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.pending[key]; ok {
		return ch
	}
	ch := make(chan struct{})
	s.pending[key] = ch
	s.armed++
	time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.pending, key)
		s.mu.Unlock()
		close(ch)
	})
	return ch
}
