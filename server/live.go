package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
)

// Sample is the newest value of one field of one series, as the store
// returns it.
type Sample struct {
	Measurement string
	Field       string
	Tags        map[string]string
	Time        time.Time
	Value       any
}

// LatestReader returns the newest sample of every series of a measurement
// at a site within lookback. adapters/influx implements it.
type LatestReader interface {
	Latest(ctx context.Context, measurement, site string, lookback time.Duration) ([]Sample, error)
}

// MeterReading is one meter's newest values.
type MeterReading struct {
	Meter    string             `json:"meter"`
	Model    string             `json:"model,omitempty"`
	Time     time.Time          `json:"time"`
	Fields   map[string]float64 `json:"fields"`
	Stale    bool               `json:"stale"`
	Location map[string]string  `json:"location,omitempty"`
}

// HostReading is one hypervisor's newest values.
type HostReading struct {
	Host     string             `json:"host"`
	Time     time.Time          `json:"time"`
	Fields   map[string]float64 `json:"fields"`
	Stale    bool               `json:"stale"`
	Location map[string]string  `json:"location,omitempty"`
}

// Snapshot is what the live page shows.
type Snapshot struct {
	Site    string             `json:"site"`
	Time    time.Time          `json:"time"`
	TotalKW float64            `json:"total_kw"`
	Meters  []MeterReading     `json:"meters"`
	Hosts   []HostReading      `json:"hosts"`
	Sources []collector.Status `json:"sources,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// Live refreshes one snapshot on a period and fans it out: N browsers cost
// one set of queries per period, not N.
type Live struct {
	site     string
	reader   LatestReader
	statuses func() []collector.Status
	period   time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	snap    Snapshot
	js      []byte
	at      time.Time // when js was built
	gen     uint64    // counts the snapshots built (views are per gen)
	views   map[string]*liveView
	wanted  time.Time // when Current was last asked
	subs    map[chan []byte]struct{}
	done    chan struct{}
	refresh sync.Mutex // one refresh at a time
	builds  atomic.Int64
	// refreshing: a rebuild is running (guarded by mu).
	refreshing bool
}

// NewLive returns a hub; statuses may be nil.
func NewLive(site string, reader LatestReader, statuses func() []collector.Status, period time.Duration, log *slog.Logger) *Live {
	if log == nil {
		log = slog.Default()
	}
	return &Live{site: site, reader: reader, statuses: statuses, period: period, log: log,
		subs: map[chan []byte]struct{}{}, done: make(chan struct{}), js: []byte(`{}`)}
}

// Run refreshes until ctx ends, then closes every subscription. It queries
// the store only while someone looks: a browser on the stream, or an API
// client within the last two periods. An unwatched daemon spends nothing
// on the live view.
func (l *Live) Run(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.period)
	defer t.Stop()
	for {
		l.mu.Lock()
		watched := len(l.subs) > 0 || time.Since(l.wanted) < 2*l.period
		l.mu.Unlock()
		if watched {
			l.update(ctx, time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Done is closed when Run has returned.
func (l *Live) Done() <-chan struct{} { return l.done }

// update rebuilds the snapshot. asked is when the caller found it stale:
// if another refresh finished after that, its result is the caller's too,
// so N callers on a stale snapshot cost one set of queries (single flight).
func (l *Live) update(ctx context.Context, asked time.Time) {
	l.refresh.Lock()
	defer l.refresh.Unlock()
	l.mu.Lock()
	fresh := l.at.After(asked)
	l.refreshing = !fresh
	l.mu.Unlock()
	if fresh {
		return
	}
	defer func() { l.mu.Lock(); l.refreshing = false; l.mu.Unlock() }()
	l.builds.Add(1)
	qctx, cancel := context.WithTimeout(ctx, l.period*4)
	defer cancel()
	snap, err := BuildSnapshot(qctx, l.site, l.reader, time.Now())
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("live snapshot failed", "err", err)
		snap.Error = err.Error()
	}
	if l.statuses != nil {
		snap.Sources = l.statuses()
		markStale(&snap, snap.Sources, time.Now())
	}
	js, _ := json.Marshal(snap)
	l.mu.Lock()
	l.snap, l.js, l.at = snap, js, time.Now()
	l.gen++
	for ch := range l.subs {
		select {
		case ch <- js:
		default: // a slow browser misses a frame, never blocks the others
		}
	}
	l.mu.Unlock()
}

// Current returns the newest snapshot as JSON, refreshing it first if it
// is older than the period.
func (l *Live) Current(ctx context.Context) []byte {
	now := time.Now()
	l.mu.Lock()
	l.wanted = now
	stale := now.Sub(l.at) >= l.period
	// While a refresh runs, a snapshot less than three periods old is
	// served at once rather than queueing every request behind it.
	if stale && l.refreshing && now.Sub(l.at) < 3*l.period {
		stale = false
	}
	l.mu.Unlock()
	if stale {
		l.update(ctx, now)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.js
}

// Snapshot is the newest snapshot (refreshed like Current).
func (l *Live) Snapshot(ctx context.Context) Snapshot {
	l.Current(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snap
}

// Builds is how many times the snapshot was rebuilt.
func (l *Live) Builds() int64 { return l.builds.Load() }

// Subscribe returns a channel of snapshot JSON, starting with a fresh one,
// and a cancel function.
func (l *Live) Subscribe(ctx context.Context) (<-chan []byte, func()) {
	ch := make(chan []byte, 1)
	js := l.Current(ctx)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	ch <- js
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// staleAfter: a reading older than this is shown as stale, not as live,
// when no source of this process says more (a meter of another shard).
const staleAfter = 2 * time.Minute

// markStale judges the meters and hosts this process polls by their own
// interval: stale once the source has not answered within
// collector.StaleIntervals of its intervals (Status.Up false), or its
// newest stored reading is older than twice that (the write path lags).
// The total power counts live meters only.
func markStale(snap *Snapshot, sources []collector.Status, now time.Time) {
	byName := make(map[string]collector.Status, len(sources))
	for _, st := range sources {
		byName[st.Name] = st
	}
	stale := func(name string, at time.Time, fallback bool) bool {
		st, ok := byName[name]
		if !ok || st.StaleAfter <= 0 {
			return fallback
		}
		return !st.Up || now.Sub(at) > 2*st.StaleAfter
	}
	snap.TotalKW = 0
	for i := range snap.Meters {
		m := &snap.Meters[i]
		m.Stale = stale(m.Meter, m.Time, m.Stale)
		if kw, ok := m.Fields["kw"]; ok && !m.Stale {
			snap.TotalKW += kw
		}
	}
	for i := range snap.Hosts {
		h := &snap.Hosts[i]
		h.Stale = stale(h.Host, h.Time, h.Stale)
	}
}

// BuildSnapshot assembles the live view from the newest samples.
func BuildSnapshot(ctx context.Context, site string, r LatestReader, now time.Time) (Snapshot, error) {
	snap := Snapshot{Site: site, Time: now, Meters: []MeterReading{}, Hosts: []HostReading{}}
	meters := map[string]*MeterReading{}
	for _, m := range []string{"power", "temperature"} {
		samples, err := r.Latest(ctx, m, site, 15*time.Minute)
		if err != nil {
			return snap, err
		}
		for _, s := range samples {
			name := s.Tags["meter"]
			if name == "" {
				continue
			}
			mr := meters[name]
			if mr == nil {
				mr = &MeterReading{Meter: name, Model: s.Tags["model"], Fields: map[string]float64{}, Location: location(s.Tags, "meter")}
				meters[name] = mr
			}
			if f, ok := toFloat(s.Value); ok {
				mr.Fields[s.Field] = f
			}
			if s.Time.After(mr.Time) {
				mr.Time = s.Time
			}
		}
	}
	for _, mr := range meters {
		mr.Stale = now.Sub(mr.Time) > staleAfter
		if kw, ok := mr.Fields["kw"]; ok && !mr.Stale {
			snap.TotalKW += kw
		}
		snap.Meters = append(snap.Meters, *mr)
	}
	sort.Slice(snap.Meters, func(i, j int) bool { return snap.Meters[i].Meter < snap.Meters[j].Meter })

	samples, err := r.Latest(ctx, "host", site, 15*time.Minute)
	if err != nil {
		return snap, err
	}
	hosts := map[string]*HostReading{}
	for _, s := range samples {
		h := hosts[s.Tags["host"]]
		if h == nil {
			h = &HostReading{Host: s.Tags["host"], Fields: map[string]float64{}, Location: location(s.Tags, "host")}
			hosts[h.Host] = h
		}
		if f, ok := toFloat(s.Value); ok {
			h.Fields[s.Field] = f
		}
		if s.Time.After(h.Time) {
			h.Time = s.Time
		}
	}
	for _, h := range hosts {
		h.Stale = now.Sub(h.Time) > staleAfter
		snap.Hosts = append(snap.Hosts, *h)
	}
	sort.Slice(snap.Hosts, func(i, j int) bool { return snap.Hosts[i].Host < snap.Hosts[j].Host })
	return snap, nil
}

// toFloat reads a number, or a bool as 1 or 0.
func toFloat(v any) (float64, bool) {
	if b, ok := v.(bool); ok {
		if b {
			return 1, true
		}
		return 0, true
	}
	return point.Number(v)
}

// location is a series' tags less the ones every series has (site, the
// name, model): room, rack, category ...
func location(tags map[string]string, name string) map[string]string {
	out := map[string]string{}
	for k, v := range tags {
		if k != "site" && k != name && k != "model" {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
