package collector

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/collector/point"
)

// Scheduled is a source with its poll interval.
type Scheduled struct {
	Source   Source
	Interval time.Duration
	// Kind names the source type in errors and metrics: "modbus", "libvirt", ...
	Kind string
}

// Config configures a Collector.
type Config struct {
	Site string // added as tag "site" to every point
	Sink Sink
	// MaxConcurrent bounds polls in flight at once across all sources
	// (default 8192), so tens of thousands of devices cost bounded sockets
	// and memory.
	MaxConcurrent int
	// MaxBackoff caps the wait after repeated failures (default 5 min).
	MaxBackoff time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Counters restores energy-counter state at start; nil starts fresh.
	Counters CounterStore
	// Spread gives each source a fixed phase within its interval instead of
	// polling all at the interval's start.
	Spread bool
}

// Status is what the collector knows about one source now.
type Status struct {
	Name                string    `json:"name"`
	Kind                string    `json:"kind"`
	Interval            string    `json:"interval"`
	LastOK              time.Time `json:"last_ok,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorAt         time.Time `json:"last_error_at,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Failed              bool      `json:"failed"`
	// Up says the source answered within its last StaleIntervals intervals
	// (setsuden_source_up); a source not up is stale in the live view.
	Up bool `json:"up"`
	// StaleAfter is StaleIntervals times the source's interval.
	StaleAfter time.Duration `json:"-"`
}

// Collector polls every source on its own clock-aligned schedule. A source
// that fails (timeout, exception, garbage) is marked, written as a
// collector_errors point, and retried with exponential backoff; it never
// delays any other source, because each source has its own goroutine and
// only the in-flight polls share the concurrency bound.
type Collector struct {
	cfg     Config
	sources []Scheduled
	sem     chan struct{}
	slots   *slots
	log     *slog.Logger

	// status is filled by New and only read after: each entry has its own
	// lock.
	status   map[string]*sourceStatus
	counters *counters

	polls      *prometheus.CounterVec
	errs       *prometheus.CounterVec
	backfilled *prometheus.CounterVec
	skipped    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
}

// New validates the sources and returns a collector.
func New(cfg Config, sources []Scheduled) (*Collector, error) {
	if cfg.Sink == nil {
		return nil, errors.New("collector: no sink")
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 8192
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Collector{
		cfg: cfg, sources: sources,
		sem:      make(chan struct{}, cfg.MaxConcurrent),
		slots:    newSlots(),
		log:      cfg.Logger.With("component", "collector"),
		status:   map[string]*sourceStatus{},
		counters: &counters{store: cfg.Counters, state: map[string]CounterState{}},
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "setsuden_polls_total", Help: "Polls of a source, successful or not."}, []string{"source", "kind"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "setsuden_poll_errors_total", Help: "Failed polls of a source."}, []string{"source", "kind"}),
		backfilled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "setsuden_points_backfilled_total", Help: "Points recovered from a source's own history after a gap."}, []string{"source", "kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "setsuden_polls_skipped_total", Help: "Poll slots skipped because the source fell a whole interval behind."}, []string{"source", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "setsuden_poll_duration_seconds", Help: "Time one poll of a source took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}, []string{"kind"}),
	}
	for _, s := range sources {
		name := s.Source.Name()
		if s.Interval <= 0 {
			return nil, fmt.Errorf("collector: source %q: interval must be > 0", name)
		}
		if _, dup := c.status[name]; dup {
			return nil, fmt.Errorf("collector: source %q is listed twice", name)
		}
		c.status[name] = &sourceStatus{Status: Status{Name: name, Kind: s.Kind, Interval: s.Interval.String()}, interval: s.Interval}
		// Export every source's series from the start, at zero.
		c.polls.WithLabelValues(name, s.Kind)
		c.errs.WithLabelValues(name, s.Kind)
	}
	if cfg.Registerer != nil {
		up := upGauge{c: c, desc: prometheus.NewDesc("setsuden_source_up",
			"1 while the source has answered within its last 3 intervals, else 0 (its readings are then stale).",
			[]string{"source", "kind"}, nil)}
		for _, m := range []prometheus.Collector{c.polls, c.errs, c.backfilled, c.skipped, c.duration, up} {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("collector metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Run polls until ctx is cancelled.
func (c *Collector) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range c.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop(ctx, s)
		}()
	}
	wg.Wait()
	return nil
}

// StaleIntervals is how many of its own intervals a source may go without
// a successful poll before it counts as down (setsuden_source_up 0) and
// its readings as stale.
const StaleIntervals = 3

// Statuses returns every source's status, sorted by name.
func (c *Collector) Statuses() []Status {
	now := time.Now()
	out := make([]Status, 0, len(c.status))
	for _, s := range c.status {
		s.mu.Lock()
		st := s.Status
		s.mu.Unlock()
		st.StaleAfter = StaleIntervals * s.interval
		st.Up = !st.LastOK.IsZero() && now.Sub(st.LastOK) <= st.StaleAfter
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// run is one source's loop state: what pollOnce needs on every poll,
// looked up once (metric children, its status) rather than per poll.
type run struct {
	Scheduled
	name     string
	st       *sourceStatus
	polls    prometheus.Counter
	errs     prometheus.Counter
	duration prometheus.Observer
	// bounded is Source as a DeadlineSource, if it is one.
	bounded DeadlineSource
	// counterSpecs are the source's counters (CounterSource), keys their
	// series keys, warn logs about them.
	counterSpecs []point.Counter
	keys         []keyCache
	warn         func(msg string, args ...any)
}

// sourceStatus guards one source's Status; each source has its own lock
// so that thousands of polls finishing in the same millisecond do not
// queue on one.
type sourceStatus struct {
	mu sync.Mutex
	Status
	interval time.Duration // fixed at New
}

// upGauge exports setsuden_source_up{source,kind}: 1 while a source has
// answered within StaleIntervals of its intervals, else 0, worked out at
// each scrape from the statuses.
type upGauge struct {
	c    *Collector
	desc *prometheus.Desc
}

func (u upGauge) Describe(ch chan<- *prometheus.Desc) { ch <- u.desc }

func (u upGauge) Collect(ch chan<- prometheus.Metric) {
	for _, st := range u.c.Statuses() {
		v := 0.0
		if st.Up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(u.desc, prometheus.GaugeValue, v, st.Name, st.Kind)
	}
}

func (c *Collector) loop(ctx context.Context, s Scheduled) {
	r := &run{Scheduled: s, name: s.Source.Name()}
	r.st = c.status[r.name]
	r.polls = c.polls.WithLabelValues(r.name, s.Kind)
	r.errs = c.errs.WithLabelValues(r.name, s.Kind)
	r.duration = c.duration.WithLabelValues(s.Kind)
	r.bounded, _ = s.Source.(DeadlineSource)
	if cs, ok := s.Source.(CounterSource); ok {
		r.counterSpecs = cs.Counters()
		r.keys = make([]keyCache, len(r.counterSpecs))
		r.warn = func(msg string, args ...any) { c.log.Warn(msg, append(args, "source", r.name)...) }
	}
	// A context of the source's own: every poll's timeout context (and the
	// Modbus transport's cancel hook under it) registers with this one
	// instead of with the one context all sources share, whose lock
	// thousands of polls starting in the same millisecond would queue on.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failures := 0
	// The first poll runs at once; later ones are aligned to the interval
	// so samples of all meters share time buckets (demand blocks are
	// clock-aligned too). Spreading sources over the interval by a hash of
	// their name (as Prometheus does) was measured with bench/collector and
	// cost 4.6x the CPU at 500 meters/s (the runtime wakes for every
	// source instead of once per burst) without sustaining more meters, so
	// the phase is 0 unless Config.Spread is set.
	phase := time.Duration(0)
	if c.cfg.Spread {
		phase = phaseOf(s.Source.Name(), s.Interval)
	}
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.slots.at(next):
		}
		slot := next
		err := c.pollOnce(ctx, r)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			next = nextPoll(time.Now(), s.Interval, phase, failures, c.cfg.MaxBackoff)
			continue
		}
		failures = 0
		// The next slot follows this poll's slot, not its end: a poll that
		// ran late (a busy machine, a slow gateway) is followed at once by
		// the next one instead of skipping a sample. Only a source a whole
		// interval behind skips ahead, so polls never pile up.
		next = nextPoll(slot, s.Interval, phase, 0, c.cfg.MaxBackoff)
		if now := time.Now(); now.Sub(next) > s.Interval {
			c.skipped.WithLabelValues(r.name, s.Kind).Inc()
			next = nextPoll(now, s.Interval, phase, 0, c.cfg.MaxBackoff)
		}
	}
}

// phaseOf spreads sources over the interval by a hash of the name, at
// millisecond resolution.
func phaseOf(name string, interval time.Duration) time.Duration {
	ms := interval.Milliseconds()
	if ms <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return time.Duration(int64(h.Sum32())%ms) * time.Millisecond
}

// nextPoll is the next poll time after now at the source's phase within
// the interval; after n consecutive failures it waits interval×2^(n-1),
// capped at maxBackoff (but never less than one interval).
func nextPoll(now time.Time, interval, phase time.Duration, failures int, maxBackoff time.Duration) time.Time {
	wait := interval
	if failures > 1 {
		wait = interval << min(failures-1, 20)
		if wait > maxBackoff || wait <= 0 {
			wait = max(maxBackoff, interval)
		}
	}
	return now.Add(wait - phase).Truncate(interval).Add(phase)
}

func (c *Collector) pollOnce(ctx context.Context, r *run) error {
	name := r.name
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A sample must finish within its interval.
	start := time.Now()
	var pts []point.Point
	var err error
	if r.bounded != nil {
		pts, err = r.bounded.CollectBy(ctx, start.Add(r.Interval))
	} else {
		pctx, cancel := context.WithTimeout(ctx, r.Interval)
		pts, err = r.Source.Collect(pctx)
		cancel()
	}
	<-c.sem
	r.duration.Observe(time.Since(start).Seconds())
	r.polls.Inc()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		r.errs.Inc()
		c.markFailed(r.st, err)
		// A failed sample is recorded as data, so gaps are explained.
		_ = c.cfg.Sink.Write(ctx, []point.Point{{
			Measurement: "collector_errors",
			Tags:        map[string]string{"site": c.cfg.Site, "source": name, "kind": r.Kind},
			Fields:      map[string]any{"error": err.Error(), "count": int64(1)},
			Time:        time.Now(),
		}})
		return err
	}
	if lastOK, gap := r.st.gapBefore(); gap {
		if b, ok := r.Source.(Backfiller); ok {
			c.backfill(ctx, b, r.Scheduled, lastOK, pts)
		}
	}
	c.tag(pts)
	if len(r.counterSpecs) > 0 {
		c.counters.apply(ctx, r.counterSpecs, r.keys, pts, r.warn)
	}
	if werr := c.cfg.Sink.Write(ctx, pts); werr != nil {
		c.log.Warn("some points rejected", "source", name, "err", werr)
	}
	c.markOK(r.st)
	return nil
}

// Emit writes points that arrive outside the schedule (e.g. libvirt
// lifecycle events) through the same path.
func (c *Collector) Emit(ctx context.Context, pts ...point.Point) {
	c.tag(pts)
	if err := c.cfg.Sink.Write(ctx, pts); err != nil {
		c.log.Warn("event points rejected", "err", err)
	}
}

func (c *Collector) tag(pts []point.Point) {
	for i := range pts {
		if pts[i].Tags == nil {
			pts[i].Tags = map[string]string{}
		}
		// Only when needed: a source may reuse its Tags map for every
		// sample (point.Point), which is then only read.
		if site, ok := pts[i].Tags["site"]; !ok || site != c.cfg.Site {
			pts[i].Tags["site"] = c.cfg.Site
		}
	}
}

// gapBefore reports whether the source is recovering from failed polls
// after an earlier good one, and when that was.
func (st *sourceStatus) gapBefore() (time.Time, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.LastOK, st.ConsecutiveFailures > 0 && !st.LastOK.IsZero()
}

// backfill writes the source's own record of the gap before pts.
func (c *Collector) backfill(ctx context.Context, b Backfiller, s Scheduled, from time.Time, pts []point.Point) {
	to := time.Now()
	for _, p := range pts {
		if p.Time.Before(to) {
			to = p.Time
		}
	}
	old, err := b.Backfill(ctx, from, to)
	if err != nil {
		// Some histories may have failed; what came back is still written.
		c.log.Warn("backfill incomplete; part of the gap stays", "source", s.Source.Name(), "from", from, "to", to, "points", len(old), "err", err)
	}
	if len(old) == 0 {
		return
	}
	c.tag(old)
	if err := c.cfg.Sink.Write(ctx, old); err != nil {
		c.log.Warn("some backfilled points rejected", "source", s.Source.Name(), "err", err)
	}
	c.backfilled.WithLabelValues(s.Source.Name(), s.Kind).Add(float64(len(old)))
	c.log.Info("backfilled gap", "source", s.Source.Name(), "from", from, "to", to, "points", len(old))
}

func (c *Collector) markFailed(st *sourceStatus, err error) {
	st.mu.Lock()
	st.ConsecutiveFailures++
	st.Failed = true
	st.LastError, st.LastErrorAt = err.Error(), time.Now()
	n := st.ConsecutiveFailures
	st.mu.Unlock()
	// Log the first failure and then every tenth, not every tick.
	if n == 1 || n%10 == 0 {
		c.log.Warn("poll failed", "source", st.Name, "consecutive_failures", n, "err", err)
	}
}

func (c *Collector) markOK(st *sourceStatus) {
	st.mu.Lock()
	was := st.ConsecutiveFailures
	st.ConsecutiveFailures, st.Failed, st.LastOK = 0, false, time.Now()
	st.mu.Unlock()
	if was > 0 {
		c.log.Info("source recovered", "source", st.Name, "after_failures", was)
	}
}
