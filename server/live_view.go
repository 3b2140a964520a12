package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// liveView is one view of the snapshot (the overview tree), encoded once
// per snapshot like the snapshot's own JSON.
type liveView struct {
	mu     sync.Mutex // one build at a time
	gen    uint64     // the snapshot js was built from
	js     []byte
	builds int64 // guarded by mu
}

// View returns build(snapshot) as JSON, refreshing the snapshot as Current
// does. It is encoded once per snapshot: every request on the same
// snapshot gets the same bytes, and N requests waiting on a new snapshot
// cost one build. build must depend on the snapshot only (never on the
// user asking): the bytes are shared by every caller.
func (l *Live) View(ctx context.Context, name string, build func(Snapshot) any) ([]byte, error) {
	l.Current(ctx)
	l.mu.Lock()
	snap, gen := l.snap, l.gen
	v := l.views[name]
	if v == nil {
		if l.views == nil {
			l.views = map[string]*liveView{}
		}
		v = &liveView{}
		l.views[name] = v
	}
	l.mu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	// A build from a newer snapshot (made while this caller waited) serves
	// it too.
	if v.js != nil && v.gen >= gen {
		return v.js, nil
	}
	v.builds++
	js, err := json.Marshal(build(snap))
	if err != nil {
		return nil, fmt.Errorf("encoding the %s view: %w", name, err)
	}
	v.gen, v.js = gen, js
	return js, nil
}

// ViewBuilds is how many times the named view was encoded.
func (l *Live) ViewBuilds(name string) int64 {
	l.mu.Lock()
	v := l.views[name]
	l.mu.Unlock()
	if v == nil {
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.builds
}
