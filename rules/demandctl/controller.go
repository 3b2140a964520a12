package demandctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/rules/demand"
)

// Config wires a Controller.
type Config struct {
	// Site is the site tag of the points read and written.
	Site string
	// Engine is the demand engine's configuration; its Limits are
	// replaced at every tick by Limits (resolved) and the external targets.
	Engine demand.Config
	Limits []LimitSpec
	// Tick is the time between evaluations, in whole seconds; it is also
	// the window the store sums the site's meters over.
	Tick time.Duration
	// Lag is how far behind the clock the newest window is read, so that
	// every meter's sample of it has arrived (default one Tick). The
	// predictor covers the lag like any missing time.
	Lag time.Duration
	// HistoryRefresh is how often caps from history are checked; they are
	// recomputed when the local date has changed since the last success,
	// or the last attempt failed. Default 1h.
	HistoryRefresh time.Duration

	Store  Store
	Points PointWriter
	// Capabilities, if set, supplies the loads that can be shed at each
	// tick (the shedding planner); otherwise Engine.Sheddable holds.
	Capabilities Capabilities
	Notifier     Notifier // nil: no webhooks
	Logger       *slog.Logger
	// Registerer receives the metrics; nil means none.
	Registerer prometheus.Registerer
	// Clock drives the scheduler and stamps the ticks (default the real
	// clock; tests pass a clockwork fake).
	Clock clockwork.Clock
}

// Controller runs demand control for one site. Build it with New, then
// Run it; Latest, Subscribe, SetExternalTarget and the API are safe from
// any goroutine.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	clock   clockwork.Clock
	metrics *metrics

	// tickMu is held during a tick: a tick that finds it held is skipped
	// and counted (the scheduler's singleton mode should make that never
	// happen).
	tickMu sync.Mutex

	mu       sync.Mutex // guards the fields below
	state    demand.State
	latest   demand.Decision
	ticked   bool
	resolved []demand.Limit // per spec; nil while a cap from history is unresolved
	caps     map[string]CapStatus
	capDay   map[string]string // label → local date of the last success
	external map[string]demand.ExternalTarget
	subs     []chan demand.Decision
}

// New validates cfg and returns a controller; caps from history are not
// in force until Run (or RefreshHistory) has completed them.
func New(cfg Config) (*Controller, error) {
	if cfg.Site == "" {
		return nil, errors.New("demand controller: no site")
	}
	if cfg.Store == nil || cfg.Points == nil {
		return nil, errors.New("demand controller: Store and Points are required")
	}
	if cfg.Tick < time.Second || cfg.Tick%time.Second != 0 {
		return nil, fmt.Errorf("demand controller: tick %s: must be whole seconds, at least 1s", cfg.Tick)
	}
	if cfg.Lag == 0 {
		cfg.Lag = cfg.Tick
	}
	if cfg.Lag < 0 {
		return nil, fmt.Errorf("demand controller: lag %s: must not be negative", cfg.Lag)
	}
	if cfg.HistoryRefresh <= 0 {
		cfg.HistoryRefresh = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	cfg.Engine.Limits = nil
	if err := cfg.Engine.Validate(); err != nil {
		return nil, fmt.Errorf("demand controller: %w", err)
	}
	c := &Controller{cfg: cfg, clock: cfg.Clock, log: cfg.Logger.With("component", "demand", "site", cfg.Site),
		resolved: make([]demand.Limit, len(cfg.Limits)), caps: map[string]CapStatus{}, capDay: map[string]string{},
		external: map[string]demand.ExternalTarget{}}
	for i, s := range cfg.Limits {
		if s.Limit == nil {
			return nil, fmt.Errorf("demand controller: limit %d is nil", i)
		}
		if !s.fromHistory() {
			if err := s.Limit.Validate(); err != nil {
				return nil, fmt.Errorf("demand controller: limit %q: %w", s.Limit.Label(), err)
			}
			c.resolved[i] = s.Limit
		}
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("demand controller: %w", err)
	}
	c.metrics = m
	return c, nil
}

// Run resolves the caps from history, then ticks until ctx ends: a gocron
// duration job at Tick, aligned to multiples of Tick, in singleton mode
// (a tick that is still running when the next is due makes that one be
// skipped, never run beside it), and a job at HistoryRefresh for the caps
// from history.
func (c *Controller) Run(ctx context.Context) error {
	c.RefreshHistory(ctx)
	s, err := gocron.NewScheduler(gocron.WithClock(c.clock), gocron.WithLocation(c.cfg.Engine.Location),
		gocron.WithLogger(schedulerLogger{c.log}))
	if err != nil {
		return fmt.Errorf("demand scheduler: %w", err)
	}
	now := c.clock.Now()
	first := alignDown(now, c.cfg.Tick).Add(c.cfg.Tick)
	if first.Sub(now) < 50*time.Millisecond {
		first = first.Add(c.cfg.Tick)
	}
	_, err = s.NewJob(gocron.DurationJob(c.cfg.Tick),
		gocron.NewTask(func() { _, _ = c.Tick(ctx) }),
		gocron.WithName("demand tick"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithStartAt(gocron.WithStartDateTime(first)))
	if err != nil {
		return fmt.Errorf("demand tick job: %w", err)
	}
	if c.hasHistoryCaps() {
		_, err = s.NewJob(gocron.DurationJob(c.cfg.HistoryRefresh),
			gocron.NewTask(func() { c.RefreshHistory(ctx) }),
			gocron.WithName("demand caps from history"),
			gocron.WithSingletonMode(gocron.LimitModeReschedule))
		if err != nil {
			return fmt.Errorf("demand history job: %w", err)
		}
	}
	s.Start()
	c.log.Info("demand control running", "tick", c.cfg.Tick, "block", c.cfg.Engine.BlockLength,
		"first_tick", first.Format(time.RFC3339), "limits", len(c.cfg.Limits))
	<-ctx.Done()
	if err := s.Shutdown(); err != nil {
		return fmt.Errorf("demand scheduler shutdown: %w", err)
	}
	return nil
}

func (c *Controller) hasHistoryCaps() bool {
	for _, s := range c.cfg.Limits {
		if s.fromHistory() {
			return true
		}
	}
	return false
}

// RefreshHistory completes the caps from history that have not been
// completed today (local date) or whose last attempt failed. Failures are
// logged and kept in the status; a cap computed earlier stays in force.
func (c *Controller) RefreshHistory(ctx context.Context) {
	now := c.clock.Now()
	today := now.In(c.cfg.Engine.Location).Format("2006-01-02")
	for i, spec := range c.cfg.Limits {
		if !spec.fromHistory() {
			continue
		}
		label := spec.Limit.Label()
		c.mu.Lock()
		done := c.capDay[label] == today
		c.mu.Unlock()
		if done {
			continue
		}
		l, st := resolveCap(ctx, c.cfg.Store, c.cfg.Site, spec, c.cfg.Engine.Location, now)
		c.mu.Lock()
		c.caps[label] = st
		if st.Err == nil {
			c.resolved[i] = l
			c.capDay[label] = today
		}
		c.mu.Unlock()
		if st.Err != nil {
			c.log.Error("cap from history not completed; it is not in force until it is", "limit", label, "err", st.Err)
			continue
		}
		c.metrics.baseline.WithLabelValues(label).Set(st.BaselineKW)
		c.metrics.reduction.WithLabelValues(label).Set(st.Reduction)
		c.log.Info("cap from history", "limit", label, "baseline_kw", st.BaselineKW, "reduction", st.Reduction,
			"cap_kw", l.KW(), "variation", st.Variation, "days", st.Days, "history", describeSpans(st.Spans))
	}
}

// CapStatuses are the caps from history as last computed.
func (c *Controller) CapStatuses() []CapStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CapStatus, 0, len(c.caps))
	for _, s := range c.caps {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

// errTickRunning is returned by a tick that found another one running.
var errTickRunning = errors.New("demand tick: the previous tick is still running")

// Tick evaluates once at the clock's time rounded down to the tick grid,
// carries the decision out and returns it. A failed read is returned and
// leaves the state as it was (a store outage must not look like a drop in
// demand).
func (c *Controller) Tick(ctx context.Context) (demand.Decision, error) {
	if !c.tickMu.TryLock() {
		c.metrics.skipped.Inc()
		c.log.Warn("demand tick skipped: the previous one is still running")
		return demand.Decision{}, errTickRunning
	}
	defer c.tickMu.Unlock()
	start := time.Now()
	defer func() { c.metrics.duration.Observe(time.Since(start).Seconds()) }()

	now := alignDown(c.clock.Now(), c.cfg.Tick)
	c.mu.Lock()
	last, ticked := c.state.LastTick, c.ticked
	c.mu.Unlock()
	if ticked && !now.After(last) {
		// The same instant again, or the clock stepped back: the state
		// is already past it.
		c.log.Debug("demand tick: no new instant to evaluate", "at", now.Format(time.RFC3339), "last", last.Format(time.RFC3339))
		return c.Latest(), nil
	}
	cfg := c.engineAt(now)
	from := c.readFrom(cfg, now)
	to := now.Add(-c.cfg.Lag)
	power, energy, err := c.read(ctx, from, to, now)
	if err != nil {
		return demand.Decision{}, err
	}

	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	if c.cfg.Capabilities != nil {
		if list, err := c.cfg.Capabilities.Sheddable(ctx, now); err != nil {
			c.log.Warn("demand tick: sheddable loads unknown; using the configured ones", "err", err)
		} else if len(list) > 0 {
			cfg.Sheddable = list
		}
	}
	d, next := demand.EvaluateMetered(cfg, state, power, energy, now)
	c.mu.Lock()
	prev := c.latest
	c.state, c.latest, c.ticked = next, d, true
	subs := append([]chan demand.Decision(nil), c.subs...)
	c.mu.Unlock()

	if err := c.cfg.Points.Write(ctx, c.points(d)); err != nil {
		c.log.Warn("demand points not queued", "err", err)
	}
	for _, tr := range d.Transitions {
		c.transition(d, tr)
	}
	if d.Unreachable && (!prev.Unreachable || !prev.Block.Start.Equal(d.Block.Start)) {
		attrs := []any{"limit", d.Limit, "limit_kw", round1(d.LimitKW), "predicted_kw", round1(d.PredictedKW),
			"achievable_kw", round1(d.AchievableKW), "reason", d.UnreachableReason}
		if d.Request != nil {
			attrs = append(attrs, "protect", d.Request.Protect, "shed_kw", round1(d.Request.ShedKW), "by", d.Request.By.Format(time.RFC3339))
		}
		c.log.Warn("demand limit out of reach this block", attrs...)
	}
	c.metrics.observe(d)
	for _, ch := range subs {
		offer(ch, d)
	}
	return d, nil
}

// read is one tick's power and energy: one query when the store can
// (HistoryStore), else power then energy. A failed power read fails the
// tick; a failed energy read falls back to integrating power.
func (c *Controller) read(ctx context.Context, from, to, now time.Time) ([]demand.Sample, []demand.EnergySample, error) {
	if hs, ok := c.cfg.Store.(HistoryStore); ok {
		power, energy, err := hs.SiteHistory(ctx, c.cfg.Site, from, to, c.cfg.Tick)
		if err != nil {
			c.metrics.readErrors.Inc()
			c.log.Warn("demand tick: reading site power failed; stage held", "at", now.Format(time.RFC3339), "err", err)
			return nil, nil, fmt.Errorf("demand tick at %s: %w", now.Format(time.RFC3339), err)
		}
		return power, energy, nil
	}
	power, err := c.cfg.Store.SitePower(ctx, c.cfg.Site, from, to, c.cfg.Tick)
	if err != nil {
		c.metrics.readErrors.Inc()
		c.log.Warn("demand tick: reading site power failed; stage held", "at", now.Format(time.RFC3339), "err", err)
		return nil, nil, fmt.Errorf("demand tick at %s: %w", now.Format(time.RFC3339), err)
	}
	energy, err := c.cfg.Store.SiteEnergy(ctx, c.cfg.Site, from, to, c.cfg.Tick)
	if err != nil {
		c.metrics.readErrors.Inc()
		c.log.Warn("demand tick: reading site energy failed; integrating power", "at", now.Format(time.RFC3339), "err", err)
		energy = nil
	}
	return power, energy, nil
}

// engineAt is the engine config with the limits in force at now: the
// configured ones (caps from history once completed) and the external
// targets, by source. Targets over for good are dropped.
func (c *Controller) engineAt(now time.Time) demand.Config {
	cfg := c.cfg.Engine
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg.Limits = make([]demand.Limit, 0, len(c.resolved)+len(c.external))
	for _, l := range c.resolved {
		if l != nil {
			cfg.Limits = append(cfg.Limits, l)
		}
	}
	sources := make([]string, 0, len(c.external))
	for src, e := range c.external {
		// A target applies to every block overlapping its window, so keep
		// it until no block of any length can still overlap.
		if !now.Before(e.To.Add(time.Hour)) {
			delete(c.external, src)
			c.log.Info("external demand target ended", "source", src, "to", e.To.Format(time.RFC3339))
			continue
		}
		sources = append(sources, src)
	}
	sort.Strings(sources)
	for _, src := range sources {
		cfg.Limits = append(cfg.Limits, c.external[src])
	}
	return cfg
}

// readFrom is where a tick's read starts: the earliest block in force at
// now, or the predictor's look-back if that reaches further, less the gap
// bound and a window so that the energy register has a reading at the
// block's start.
func (c *Controller) readFrom(cfg demand.Config, now time.Time) time.Time {
	from := demand.BlockOf(now, cfg.BlockLength, cfg.Location).Start
	for _, l := range cfg.Limits {
		length := cfg.BlockLength
		switch v := l.(type) {
		case demand.ContractLimit:
			length = v.Block
		case demand.CapLimit:
			length = v.Block
		case demand.ExternalTarget:
			if v.Block != 0 {
				length = v.Block
			}
		}
		if s := demand.BlockOf(now, length, cfg.Location).Start; s.Before(from) {
			from = s
		}
	}
	if lb := now.Add(-lookBack(cfg.Predictor)); lb.Before(from) {
		from = lb
	}
	return from.Add(-cfg.MaxGap - c.cfg.Tick)
}

// lookBack is how far before now a predictor reads.
func lookBack(p demand.Predictor) time.Duration {
	switch v := p.(type) {
	case demand.LeastSquares:
		return v.Window
	case demand.TwoPoint:
		return v.Window
	case demand.MovingAverage:
		return 2 * v.Window
	case demand.Formula:
		return 0
	case demand.Adaptive:
		return v.LookBack()
	}
	return 15 * time.Minute
}

// transition logs a stage change and posts it to the webhooks.
func (c *Controller) transition(d demand.Decision, tr demand.Transition) {
	c.metrics.transitions.WithLabelValues(tr.To.String()).Inc()
	attrs := []any{"from", tr.From.String(), "to", tr.To.String(), "at", tr.At.Format(time.RFC3339),
		"reason", tr.Reason, "limit", d.Limit, "predicted_kw", round1(d.PredictedKW), "limit_kw", round1(d.LimitKW)}
	if d.Request != nil {
		attrs = append(attrs, "shed_kw", round1(d.Request.ShedKW), "by", d.Request.By.Format(time.RFC3339))
	}
	if tr.To > tr.From {
		c.log.Warn("demand stage up", attrs...)
	} else {
		c.log.Info("demand stage down", attrs...)
	}
	if c.cfg.Notifier == nil {
		return
	}
	body, err := json.Marshal(NewTransitionEvent(c.cfg.Site, d, tr))
	if err != nil {
		c.log.Error("demand webhook payload", "err", err)
		return
	}
	c.cfg.Notifier.Send(TransitionEventName, body)
}

// Latest is the last tick's decision (the zero Decision before the first).
func (c *Controller) Latest() demand.Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest
}

// latestIfAny is Latest and whether a tick has run.
func (c *Controller) latestIfAny() (demand.Decision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest, c.ticked
}

// Subscribe returns a channel that receives each tick's decision. It holds
// one: a slow reader gets the newest decision, never a backlog, and never
// blocks a tick. The channel lives as long as the controller.
func (c *Controller) Subscribe() <-chan demand.Decision {
	ch := make(chan demand.Decision, 1)
	c.mu.Lock()
	c.subs = append(c.subs, ch)
	c.mu.Unlock()
	return ch
}

// offer puts d in ch, replacing a decision not yet read. Only the tick
// sends, so the second send cannot find the channel full.
func offer(ch chan demand.Decision, d demand.Decision) {
	select {
	case ch <- d:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	select {
	case ch <- d:
	default:
	}
}

// SetExternalTarget puts an external target in force from the next tick,
// replacing any earlier target of the same Source.
func (c *Controller) SetExternalTarget(t demand.ExternalTarget) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("external target: %w", err)
	}
	c.mu.Lock()
	_, replaced := c.external[t.Source]
	c.external[t.Source] = t
	c.mu.Unlock()
	c.log.Info("external demand target set", "source", t.Source, "kw", t.KW, "from", t.From.Format(time.RFC3339),
		"to", t.To.Format(time.RFC3339), "replaced", replaced)
	return nil
}

// ClearExternalTarget removes the target of source, or all targets when
// source is "", and returns how many it removed.
func (c *Controller) ClearExternalTarget(source string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for src := range c.external {
		if source == "" || src == source {
			delete(c.external, src)
			n++
		}
	}
	if n > 0 {
		c.log.Info("external demand target cleared", "source", source, "removed", n)
	}
	return n
}

// ExternalTargets are the targets set, by source.
func (c *Controller) ExternalTargets() []demand.ExternalTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]demand.ExternalTarget, 0, len(c.external))
	for _, t := range c.external {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// schedulerLogger passes gocron's messages to slog at debug level (its
// errors at error level).
type schedulerLogger struct{ l *slog.Logger }

func (s schedulerLogger) Debug(msg string, args ...any) { s.l.Debug("scheduler: "+msg, args...) }
func (s schedulerLogger) Info(msg string, args ...any)  { s.l.Debug("scheduler: "+msg, args...) }
func (s schedulerLogger) Warn(msg string, args ...any)  { s.l.Warn("scheduler: "+msg, args...) }
func (s schedulerLogger) Error(msg string, args ...any) { s.l.Error("scheduler: "+msg, args...) }
