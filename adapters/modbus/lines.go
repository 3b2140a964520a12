package modbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Lines shares connections between meters. Many unit ids behind one serial
// gateway, or on one RS-485 line, must be polled in turn over one
// connection, never in parallel: a gateway that gets two requests at once
// answers one or neither (Telegraf users resort to socat and
// close_connection_after_gather for this; research/collection.md §1.8,
// issues #7523, #14528). Meters created with the same Lines and the same
// transport and address get one shared link; a request waits for the line
// (honouring its context) and holds it for one read.
type Lines struct {
	mu    sync.Mutex
	links map[string]*sharedLink
}

// NewLines returns an empty registry.
func NewLines() *Lines { return &Lines{links: map[string]*sharedLink{}} }

// get returns the shared link for key, creating it with open. A nil Lines
// hands out a private link.
func (ls *Lines) get(key string, open func() link) link {
	if ls == nil {
		return open()
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if s, ok := ls.links[key]; ok {
		s.refs++
		return s
	}
	s := &sharedLink{key: key, l: open(), owner: ls, turn: make(chan struct{}, 1), refs: 1}
	ls.links[key] = s
	return s
}

// Shared reports how many meters use the line at key ("tcp://host:port",
// "rtuovertcp://host:port" or "rtu:///dev/ttyUSB0").
func (ls *Lines) Shared(key string) int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if s, ok := ls.links[key]; ok {
		return s.refs
	}
	return 0
}

type sharedLink struct {
	key   string
	l     link
	owner *Lines
	turn  chan struct{} // holds a token while a read is on the line
	refs  int           // guarded by owner.mu
}

func (s *sharedLink) read(ctx context.Context, deadline time.Time, unit byte, r Request) ([]byte, error) {
	if err := acquire(ctx, s.turn, deadline); err != nil {
		return nil, waitError(err, "line "+s.key)
	}
	defer func() { <-s.turn }()
	return s.l.read(ctx, deadline, unit, r)
}

// acquire puts a token into ch: at once when there is room, else waiting
// until ctx ends or deadline (zero: none) passes, which gives
// context.DeadlineExceeded.
func acquire(ctx context.Context, ch chan struct{}, deadline time.Time) error {
	select {
	case ch <- struct{}{}:
		return nil
	default:
	}
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return context.DeadlineExceeded
	}
}

// waitError says what a sample waited for when acquire gave up.
func waitError(err error, what string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timeout: sample deadline passed waiting for %s: %w", what, err)
	}
	return fmt.Errorf("waiting for %s: %w", what, err)
}

func (s *sharedLink) reset() error {
	s.turn <- struct{}{}
	defer func() { <-s.turn }()
	return s.l.reset()
}

// endSample passes the end of a sample on, unless another meter is on the
// line already (it ends its own sample after).
func (s *sharedLink) endSample() {
	select {
	case s.turn <- struct{}{}:
		s.l.endSample()
		<-s.turn
	default:
	}
}

// Close releases one meter's use; the last one closes the connection.
func (s *sharedLink) Close() error {
	s.owner.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(s.owner.links, s.key)
	}
	s.owner.mu.Unlock()
	if last {
		return s.l.Close()
	}
	return nil
}
