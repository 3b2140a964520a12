package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/collector/point"
)

// Config tunes the executor. Zero values take the defaults in brackets.
type Config struct {
	// Site is the site this executor acts for; one executor per site holds
	// the lock in the audit store.
	Site string
	// Owner names this instance in the lock and the audit (hostname:pid).
	Owner string
	// Mode at start [advise].
	Mode Mode
	// Parallel is how many steps run at once [2] (Watcher's default for
	// migrations, too).
	Parallel int
	// SoftOffWait is how long a soft power-off may take before the host is
	// checked again and, if still empty, cut hard [2 min].
	SoftOffWait time.Duration
	// PowerOffTimeout is how long the BMC may take to report off after the
	// hard off [2 min].
	PowerOffTimeout time.Duration
	// PowerOnTimeout is how long a host may take from power on until its
	// hypervisor answers [10 min]; a host that misses it is reported and
	// kept out of later plans.
	PowerOnTimeout time.Duration
	// ReserveMiB is memory a destination must keep free after a migration
	// lands [0].
	ReserveMiB int64
	// LockTTL: a lock without a heartbeat for this long may be taken over
	// [30 s]; the heartbeat runs every LockTTL/3.
	LockTTL time.Duration
	// MeasureWindow is the window before and after a plan over which the
	// meters' mean power is compared [1 h].
	MeasureWindow time.Duration
	// PollInterval for power state and hypervisor checks [500 ms].
	PollInterval time.Duration
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = ModeAdvise
	}
	if c.Owner == "" {
		h, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s:%d", h, os.Getpid())
	}
	if c.Parallel <= 0 {
		c.Parallel = 2
	}
	if c.SoftOffWait <= 0 {
		c.SoftOffWait = 2 * time.Minute
	}
	if c.PowerOffTimeout <= 0 {
		c.PowerOffTimeout = 2 * time.Minute
	}
	if c.PowerOnTimeout <= 0 {
		c.PowerOnTimeout = 10 * time.Minute
	}
	if c.LockTTL <= 0 {
		c.LockTTL = 30 * time.Second
	}
	if c.MeasureWindow <= 0 {
		c.MeasureWindow = time.Hour
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
}

// Deps are the live system the executor acts on.
type Deps struct {
	Hypervisors Hypervisors
	// Power maps host name to its BMC.
	Power     map[string]Power
	SetPoints SetPointWriter // nil: set-point steps fail
	Meters    MeterReader    // nil: nothing measured
	Sink      Sink           // nil: audit only in the store
	Log       *slog.Logger
	// Registerer receives the executor's metrics; nil: none.
	Registerer prometheus.Registerer
}

// Executor runs plans. Its methods (Submit, List, Get, Approve, Cancel,
// SetMode, Mode) are what the API calls; every one is audited.
type Executor struct {
	cfg   Config
	deps  Deps
	store *Store
	log   *slog.Logger
	met   *metrics

	mu       sync.Mutex
	mode     Mode
	plans    map[string]*Plan
	runs     map[string]*planRun
	reserved map[string]int64 // destination host -> MiB of migrations in flight
	lost     error            // set when the lock is lost: nothing acts any more
	started  bool

	bg     context.Context
	stopBG context.CancelFunc
	wg     sync.WaitGroup
}

type planRun struct {
	cancel   context.CancelFunc
	by       string // operator who cancelled
	done     chan struct{}
	canceled bool
}

// ErrNotStarted: Start has not run (or failed: the lock is held elsewhere).
var ErrNotStarted = errors.New("executor is not started")

// New makes an executor over an open store; Start takes the site lock.
func New(cfg Config, store *Store, deps Deps) (*Executor, error) {
	if strings.TrimSpace(cfg.Site) == "" {
		return nil, errors.New("executor: site is empty")
	}
	if cfg.Mode != "" {
		if _, err := ParseMode(string(cfg.Mode)); err != nil {
			return nil, err
		}
	}
	cfg.defaults()
	if deps.Hypervisors == nil {
		return nil, errors.New("executor: no hypervisors")
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	met, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	met.setMode(cfg.Mode)
	return &Executor{
		cfg: cfg, deps: deps, store: store, log: log.With("component", "executor", "site", cfg.Site), met: met,
		mode: cfg.Mode, plans: map[string]*Plan{}, runs: map[string]*planRun{}, reserved: map[string]int64{},
	}, nil
}

// Start takes the site's lock (a *LockError if another live executor holds
// it: this one then refuses to act), loads the plans from the audit store,
// reconciles any plan that was running when the executor last stopped, and
// schedules pending measurements.
func (e *Executor) Start(ctx context.Context) error {
	now := time.Now()
	if err := e.store.AcquireLock(ctx, e.cfg.Site, e.cfg.Owner, e.cfg.LockTTL, now); err != nil {
		var le *LockError
		if errors.As(err, &le) {
			e.record(ctx, "", "", e.cfg.Owner, "lock_refused", err.Error())
		}
		return err
	}
	plans, err := e.store.Plans(ctx, e.cfg.Site)
	if err != nil {
		return err
	}
	e.bg, e.stopBG = context.WithCancel(context.Background())
	e.mu.Lock()
	for _, p := range plans {
		e.plans[p.ID] = p
	}
	e.started = true
	e.mu.Unlock()
	e.record(ctx, "", "", e.cfg.Owner, "executor_started", fmt.Sprintf("mode %s, %d plans in the audit store", e.mode, len(plans)))
	e.wg.Add(1)
	go e.heartbeat()

	for _, p := range plans {
		switch p.State {
		case PlanRunning:
			e.recoverPlan(ctx, p)
		case PlanInterrupted:
			e.maybeResume(ctx, p)
		}
		if p.State.Final() && p.BaselineKW != nil && p.MeasuredKW == nil && p.EndedAt != nil {
			e.scheduleMeasure(p.ID)
		}
	}
	return nil
}

// Close stops the executor: running plans are cancelled (migrations in
// flight aborted, so every VM stays where libvirt has it) and left
// interrupted for the next start; the lock is released.
func (e *Executor) Close() error {
	e.mu.Lock()
	if !e.started {
		e.mu.Unlock()
		return nil
	}
	e.started = false
	for _, r := range e.runs {
		r.by = "executor shutdown"
		r.cancel()
	}
	e.mu.Unlock()
	e.stopBG()
	e.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.record(ctx, "", "", e.cfg.Owner, "executor_stopped", "")
	return e.store.ReleaseLock(ctx, e.cfg.Site, e.cfg.Owner)
}

func (e *Executor) heartbeat() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-e.bg.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(e.bg, e.cfg.LockTTL/3)
			err := e.store.Heartbeat(ctx, e.cfg.Site, e.cfg.Owner, time.Now())
			cancel()
			if err != nil && !errors.Is(err, ErrLockLost) {
				// A busy or slow database is not a lost lock: try again
				// (the lock expires only after LockTTL without one).
				e.log.Warn("executor lock heartbeat failed; retrying", "err", err)
				continue
			}
			if err != nil && e.bg.Err() == nil {
				e.mu.Lock()
				e.lost = err
				for _, r := range e.runs {
					r.by = "lock lost"
					r.cancel()
				}
				e.mu.Unlock()
				e.record(context.Background(), "", "", e.cfg.Owner, "lock_lost", err.Error())
				return
			}
		}
	}
}

// Mode is the current mode.
func (e *Executor) Mode() Mode {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mode
}

// SetMode changes the mode (an operator action, audited). Plans already
// running keep running; switching to off or advise does not cancel them.
func (e *Executor) SetMode(ctx context.Context, m Mode, operator string) error {
	if _, err := ParseMode(string(m)); err != nil || m == "" {
		return fmt.Errorf("executor mode %q: want off, advise, approve or auto", m)
	}
	e.mu.Lock()
	old := e.mode
	e.mode = m
	e.mu.Unlock()
	e.met.setMode(m)
	e.record(ctx, "", "", "operator:"+operator, "mode_set", fmt.Sprintf("%s -> %s", old, m))
	return nil
}

// Submit records a plan; what happens next depends on the mode: off
// ignores it, advise shows it, approve waits for Approve, auto runs it.
func (e *Executor) Submit(ctx context.Context, p Plan, actor string) (*Plan, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := e.acting(); err != nil {
		return nil, err
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	p.Steps = append([]Step(nil), p.Steps...)
	for i := range p.Steps {
		s := &p.Steps[i]
		s.State, s.Reason, s.StartedAt, s.EndedAt, s.Runs, s.Previous = StepPending, "", nil, nil, 0, nil
	}
	mode := e.Mode()
	switch mode {
	case ModeOff:
		p.State, p.StateReason = PlanIgnored, "executor mode is off"
	case ModeAdvise:
		p.State, p.StateReason = PlanAdvised, "executor mode is advise: shown, not run"
	case ModeApprove:
		p.State, p.StateReason = PlanAwaiting, "waiting for an operator's approval"
	case ModeAuto:
		p.State, p.StateReason = PlanAwaiting, "auto mode: starting"
	}
	p.StartedAt, p.EndedAt, p.BaselineKW, p.MeasuredKW = nil, nil, nil, nil
	if err := e.store.InsertPlan(ctx, e.cfg.Site, &p); err != nil {
		return nil, err
	}
	e.met.plans.WithLabelValues(string(p.State)).Inc()
	pp := &p
	e.mu.Lock()
	e.plans[p.ID] = pp
	e.mu.Unlock()
	e.record(ctx, p.ID, "", actor, "plan_submitted", fmt.Sprintf("%s plan, %d steps, predicted %.2f kW saved; mode %s: %s", p.Kind, len(p.Steps), p.PredictedKW, mode, p.StateReason))
	if mode == ModeAuto {
		if err := e.startRun(ctx, pp, e.cfg.Owner); err != nil {
			return e.Get(p.ID), err
		}
	}
	return e.Get(p.ID), nil
}

// Approve runs an awaiting plan, or resumes an interrupted one, for an
// operator (approve and auto modes only: advise never runs anything).
func (e *Executor) Approve(ctx context.Context, id, operator string) error {
	if err := e.acting(); err != nil {
		return err
	}
	if m := e.Mode(); m != ModeApprove && m != ModeAuto {
		e.record(ctx, id, "", "operator:"+operator, "approve_refused", "mode "+string(m))
		return fmt.Errorf("executor mode is %s: plans are not run (switch to approve first)", m)
	}
	e.mu.Lock()
	p, ok := e.plans[id]
	var st PlanState
	if ok {
		st = p.State
	}
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("plan %s: not found", id)
	}
	if st != PlanAwaiting && st != PlanInterrupted && st != PlanAdvised {
		return fmt.Errorf("plan %s is %s: only an awaiting, advised or interrupted plan can be approved", id, st)
	}
	e.record(ctx, id, "", "operator:"+operator, "plan_approved", "was "+string(st))
	return e.startRun(ctx, p, "operator:"+operator)
}

// Cancel stops a plan: no new step starts, migrations in flight are
// aborted (the VM stays on its source), pending steps become cancelled.
// It returns once the plan has stopped.
func (e *Executor) Cancel(ctx context.Context, id, operator string) error {
	e.mu.Lock()
	p, ok := e.plans[id]
	if !ok {
		e.mu.Unlock()
		return fmt.Errorf("plan %s: not found", id)
	}
	if r, running := e.runs[id]; running {
		r.by, r.canceled = "operator:"+operator, true
		r.cancel()
		e.mu.Unlock()
		e.record(ctx, id, "", "operator:"+operator, "plan_cancel_requested", "stopping new steps, aborting migrations in flight")
		select {
		case <-r.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if p.State.Final() {
		st := p.State
		e.mu.Unlock()
		return fmt.Errorf("plan %s is already %s", id, st)
	}
	now := time.Now()
	p.State, p.StateReason, p.EndedAt = PlanCancelled, "cancelled by operator "+operator, &now
	var changed []Step
	for i := range p.Steps {
		if !p.Steps[i].State.Final() {
			p.Steps[i].State, p.Steps[i].Reason, p.Steps[i].EndedAt = StepCancelled, "plan cancelled by operator "+operator, &now
			changed = append(changed, p.Steps[i])
		}
	}
	cp := clonePlan(p)
	e.mu.Unlock()
	for i := range changed {
		_ = e.store.SaveStep(ctx, id, &changed[i])
	}
	_ = e.store.SavePlanState(ctx, cp)
	e.record(ctx, id, "", "operator:"+operator, "plan_cancelled", "")
	return nil
}

// List returns copies of the site's plans, newest first.
func (e *Executor) List() []*Plan {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Plan, 0, len(e.plans))
	for _, p := range e.plans {
		out = append(out, clonePlan(p))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns a copy of one plan, nil if unknown.
func (e *Executor) Get(id string) *Plan {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.plans[id]; ok {
		return clonePlan(p)
	}
	return nil
}

// Events is the plan's audit trail from the store.
func (e *Executor) Events(ctx context.Context, id string) ([]Event, error) {
	return e.store.Events(ctx, id)
}

// Wait blocks until the plan is not running.
func (e *Executor) Wait(ctx context.Context, id string) error {
	e.mu.Lock()
	r, ok := e.runs[id]
	e.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Executor) acting() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lost != nil {
		return fmt.Errorf("executor lost its site lock, not acting: %w", e.lost)
	}
	if !e.started {
		return ErrNotStarted
	}
	return nil
}

func clonePlan(p *Plan) *Plan {
	c := *p
	c.Steps = append([]Step(nil), p.Steps...)
	return &c
}

// record appends an audit event to the store (even when ctx is cancelled:
// the story must be complete) and emits it as an audit point.
func (e *Executor) record(ctx context.Context, plan, step, actor, event, detail string) {
	ev := Event{Time: time.Now(), Site: e.cfg.Site, Plan: plan, Step: step, Actor: actor, Event: event, Detail: detail}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ev, err := e.store.AppendEvent(sctx, ev)
	if err != nil {
		e.log.Error("audit store write failed", "event", event, "plan", plan, "step", step, "err", err)
	}
	e.log.Info(event, "plan", plan, "step", step, "actor", actor, "detail", detail)
	if e.deps.Sink != nil {
		tags := map[string]string{"site": e.cfg.Site, "event": event, "actor": actor}
		if plan != "" {
			tags["plan"] = plan
		}
		if step != "" {
			tags["step"] = step
		}
		e.deps.Sink.Emit(point.Point{Measurement: "audit", Tags: tags,
			Fields: map[string]any{"detail": detail, "seq": ev.Seq}, Time: ev.Time})
	}
}
