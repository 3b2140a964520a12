package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/executor"
	"github.com/setsuden/setsuden/rules/shed"
	"github.com/setsuden/setsuden/rules/shed/inventory"
	"github.com/setsuden/setsuden/rules/shedctl"
)

// shedWiring is the daemon's shedding controller: the demand controller's
// decisions -> shedctl.Decide -> the planner (rules/shed) on the inventory
// file with libvirt's live placement over it -> the executor. It runs in
// the process that runs the site controllers only.
type shedWiring struct {
	site  string
	log   *slog.Logger
	inv   inventory.File
	ctl   shedctl.Config
	exec  *executor.Executor
	store *executor.Store
	fleet *hvSwitch
	power map[string]executor.Power // read by the executor at each power step
	hosts []string                  // the fleet's hosts, asked for the live placement
	close func()
	// cfgFile is the configuration `setsuden execute --approve` takes;
	// announce, if set, is told each plan that waits for an operator.
	cfgFile  string
	announce func(planID, approve string)

	mu     sync.Mutex
	state  shedctl.State
	last   string               // the last decision logged (action + reason)
	plans  map[string]shed.Plan // submitted shed plans by id (their restore needs them)
	caps   []demand.Sheddable   // the last capabilities computed
	capsAt time.Time
}

// hvSwitch is the executor's Hypervisors, replaceable before the
// executor starts (the demo's simulated hosts: demo_shed.go).
type hvSwitch struct {
	mu sync.Mutex
	hv executor.Hypervisors
}

func (s *hvSwitch) get() executor.Hypervisors {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hv
}

func (s *hvSwitch) set(hv executor.Hypervisors) {
	s.mu.Lock()
	s.hv = hv
	s.mu.Unlock()
}

func (s *hvSwitch) Occupancy(ctx context.Context, host string) (executor.Occupancy, error) {
	return s.get().Occupancy(ctx, host)
}

func (s *hvSwitch) Migrate(ctx context.Context, vm, from, to string) error {
	return s.get().Migrate(ctx, vm, from, to)
}

func (s *hvSwitch) AbortJob(ctx context.Context, host, vm string) (bool, error) {
	return s.get().AbortJob(ctx, host, vm)
}

// executorConfigOf is the main configuration's executor: section in the
// shape `setsuden execute` reads, with libvirt.hosts' URIs.
func executorConfigOf(cfg *config.Config) (*executorConfig, error) {
	e := cfg.Executor
	c := &executorConfig{Site: cfg.Site.Name, Mode: e.Mode, Store: e.Store, Parallel: e.Parallel, LockTTL: e.LockTTL,
		SoftOffWait: e.SoftOffWait, PowerOffTimeout: e.PowerOffTimeout, PowerOnTimeout: e.PowerOnTimeout,
		ReserveMiB: e.ReserveMiB, MeasureWindow: e.MeasureWindow}
	c.Migration.Timeout, c.Migration.BandwidthMiBs = e.Migration.Timeout, uint64(e.Migration.BandwidthMiBs)
	extra := map[string]config.ExecutorHost{}
	for _, h := range e.Hosts {
		extra[h.Name] = h
	}
	for _, h := range cfg.Libvirt.Hosts {
		eh := executorHost{Name: h.Name, URI: h.URI, MigrationURI: extra[h.Name].MigrationURI}
		if b := extra[h.Name].BMC; b.Type != "" {
			eh.BMC = &bmcConfig{Type: b.Type, Addr: b.Addr, URL: b.URL, User: b.User, PasswordFile: b.PasswordFile,
				System: b.System, Insecure: b.Insecure, Timeout: b.Timeout, MAC: b.MAC, Broadcast: b.Broadcast}
		}
		c.Hosts = append(c.Hosts, eh)
	}
	if c.Store == "" {
		return nil, errors.New("executor.store: is empty (expected the path of the SQLite audit store)")
	}
	return c, nil
}

// addShed builds the shedding controller when shed.inventory is set and
// this process runs the site controllers. It runs before addDemand, whose
// controller takes its capabilities; startShed then subscribes to the
// demand controller's decisions.
func (p *pipeline) addShed(cfg *config.Config, cfgFile string) error {
	if !p.role.Controllers || !cfg.Shed.Enabled() {
		return nil
	}
	inv, err := inventory.Load(shedInventoryPath(cfg, cfgFile))
	if err != nil {
		return fmt.Errorf("shed.inventory: %w", err)
	}
	setPoints, err := shedSetPoints(cfg, inv.Inventory.Stages, p.log)
	if err != nil {
		return fmt.Errorf("shed.inventory: %w", err)
	}
	if n := len(inv.Inventory.Stages); n > 0 && setPoints == nil {
		// No oBIX gateway to write on: a plan with a stage would fail at
		// its set-point step.
		p.log.Warn("shed: facility stages of the inventory are left out of plans: obix.gateways is empty (no set-point writer)", "stages", n, "inventory", cfg.Shed.Inventory)
		inv.Inventory.Stages = nil
	}
	ec, err := executorConfigOf(cfg)
	if err != nil {
		return err
	}
	store, err := executor.OpenStore(context.Background(), ec.Store)
	if err != nil {
		return fmt.Errorf("executor.store: %w", err)
	}
	fleet := newLibvirtFleet(ec)
	hv := &hvSwitch{hv: fleet}
	power := map[string]executor.Power{}
	for _, h := range ec.Hosts {
		if h.BMC == nil {
			continue
		}
		pw, err := newPower(h.Name, h.BMC)
		if err != nil {
			fleet.Close()
			store.Close()
			return fmt.Errorf("executor.hosts: %w", err)
		}
		power[h.Name] = pw
	}
	mode, _ := executor.ParseMode(ec.Mode)
	e, err := executor.New(executor.Config{
		Site: ec.Site, Mode: mode, Parallel: ec.Parallel, LockTTL: ec.LockTTL,
		SoftOffWait: ec.SoftOffWait, PowerOffTimeout: ec.PowerOffTimeout, PowerOnTimeout: ec.PowerOnTimeout,
		ReserveMiB: ec.ReserveMiB, MeasureWindow: ec.MeasureWindow,
	}, store, executor.Deps{Hypervisors: hv, Power: power, SetPoints: setPoints, Sink: writerSink{p.writer},
		Meters: siteMeters{r: p.reader, site: cfg.Site.Name}, Log: p.log, Registerer: p.reg})
	if err != nil {
		fleet.Close()
		store.Close()
		return err
	}
	w := &shedWiring{site: cfg.Site.Name, log: p.log.With("component", "shed", "site", cfg.Site.Name), inv: inv,
		ctl: shedctl.Config{RestoreAfter: cfg.Shed.RestoreAfter}, exec: e, store: store, fleet: hv,
		power: power, cfgFile: cfgFile, plans: map[string]shed.Plan{}}
	for _, h := range ec.Hosts {
		w.hosts = append(w.hosts, h.Name)
	}
	var once sync.Once
	w.close = func() { once.Do(func() { fleet.Close(); store.Close() }) }
	p.shed, p.executor = w, e
	return nil
}

// shedInventoryPath is shed.inventory, relative to the configuration
// file's directory unless absolute.
func shedInventoryPath(cfg *config.Config, cfgFile string) string {
	p := cfg.Shed.Inventory
	if p == "" || filepath.IsAbs(p) || cfgFile == "" {
		return p
	}
	return filepath.Join(filepath.Dir(cfgFile), p)
}

// shedRunProblems are the inventory file's problems (FILE:LINE: field),
// so that `validate` and `run` report them with the configuration's.
func shedRunProblems(cfgFile string, cfg *config.Config) config.Problems {
	if !cfg.Shed.Enabled() {
		return nil
	}
	inv, err := inventory.Load(shedInventoryPath(cfg, cfgFile))
	var probs config.Problems
	switch {
	case err == nil:
		return shedStageProblems(shedInventoryPath(cfg, cfgFile), cfg, inv.Inventory.Stages)
	case errors.As(err, &probs):
		return probs
	}
	return config.Problems{{File: cfgFile, Path: "shed.inventory", Msg: err.Error()}}
}

// startShed subscribes the shedding controller to the demand controller
// and adds its loop.
func (p *pipeline) startShed() {
	w := p.shed
	if w == nil {
		return
	}
	if p.demandCtl == nil {
		w.log.Warn("shedding controller without demand control: nothing asks it to shed")
		return
	}
	decisions := p.demandCtl.Subscribe()
	p.runners = append(p.runners, func(ctx context.Context) { w.run(ctx, decisions) })
}

// capabilities is the demand controller's Capabilities (nil without a
// shedding controller).
func (p *pipeline) shedCapabilities() demandctl.Capabilities {
	if p.shed == nil {
		return nil
	}
	return p.shed
}

// run starts the executor (taking the site lock, retried while another
// instance holds it) and acts on each decision until ctx ends.
func (w *shedWiring) run(ctx context.Context, decisions <-chan demand.Decision) {
	defer w.close()
	for {
		err := w.exec.Start(ctx)
		if err == nil {
			break
		}
		w.log.Error("shedding executor not started; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
	defer w.exec.Close()
	w.log.Info("shedding controller running", "mode", w.exec.Mode(), "inventory_hosts", len(w.inv.Inventory.Hosts),
		"restore_after", w.ctl.RestoreAfter)
	w.adopt(ctx)
	seq := w.lastSeq(ctx)
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-decisions:
			w.tick(ctx, d)
		case <-poll.C:
			seq = w.serveRequests(ctx, seq)
		}
	}
}

// adopt takes the newest shed plan a previous start left awaiting,
// running or interrupted as the shed in force, so that nothing is stacked
// on it: its window is unknown, so it lasts while demand asks for a shed,
// and its restore (or withdrawal, if never approved) follows as usual.
func (w *shedWiring) adopt(ctx context.Context) {
	for _, p := range w.exec.List() { // newest first
		if p.Kind != string(shed.KindShed) {
			continue
		}
		switch p.State {
		case executor.PlanAwaiting, executor.PlanRunning, executor.PlanInterrupted:
			w.mu.Lock()
			w.state.Shed = &shedctl.InForce{PlanID: p.ID, KW: p.PredictedKW, By: time.Now(), Since: p.CreatedAt}
			w.mu.Unlock()
			w.exec.Note(ctx, p.ID, "shed-controller", "shed_adopted", fmt.Sprintf("%s shed plan from a previous start is the shed in force", p.State))
			w.log.Info("shed plan from a previous start adopted", "plan", p.ID, "state", p.State)
		}
		return
	}
}

// lastSeq is the audit store's newest event: requests recorded before this
// start are not carried out.
func (w *shedWiring) lastSeq(ctx context.Context) int64 {
	evs, err := w.store.Events(ctx, "")
	if err != nil || len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// serveRequests carries out the approvals and cancellations `setsuden
// execute` recorded for this lock holder since seq; it returns the newest
// seq seen.
func (w *shedWiring) serveRequests(ctx context.Context, seq int64) int64 {
	evs, err := w.store.Events(ctx, "")
	if err != nil {
		w.log.Warn("audit store: reading operator requests failed", "err", err)
		return seq
	}
	for _, ev := range evs {
		if ev.Seq <= seq {
			continue
		}
		seq = ev.Seq
		op, ok := strings.CutPrefix(ev.Actor, "operator:")
		if !ok || ev.Site != w.site {
			continue
		}
		switch ev.Event {
		case eventApproveRequested:
			if err := w.exec.Approve(ctx, ev.Plan, op); err != nil {
				w.log.Warn("approval refused", "plan", ev.Plan, "operator", op, "err", err)
				w.exec.Note(ctx, ev.Plan, "operator:"+op, "approve_failed", err.Error())
			}
		case eventCancelRequested:
			go func() {
				if err := w.exec.Cancel(ctx, ev.Plan, op); err != nil {
					w.log.Warn("cancel refused", "plan", ev.Plan, "operator", op, "err", err)
					w.exec.Note(ctx, ev.Plan, "operator:"+op, "cancel_failed", err.Error())
				}
			}()
		}
	}
	return seq
}

// tick decides on one demand decision and carries the decision out.
func (w *shedWiring) tick(ctx context.Context, d demand.Decision) {
	w.mu.Lock()
	inForce := planOf(w.state)
	w.mu.Unlock()
	// Busy: a plan runs, waits for an operator after an interruption, or
	// (other than the shed in force) waits for approval, e.g. one left
	// by a previous start: nothing new is stacked on it.
	busy := false
	for _, pl := range w.exec.List() {
		switch pl.State {
		case executor.PlanRunning, executor.PlanInterrupted:
			busy = true
		case executor.PlanAwaiting:
			busy = busy || pl.ID != inForce
		}
	}
	w.mu.Lock()
	before := w.state
	dec, next := shedctl.Decide(w.ctl, w.state, shedctl.Input{Now: d.Time, Stage: d.Stage, Held: d.Held,
		Request: d.Request, HeadroomKW: d.HeadroomKW, Busy: busy})
	w.state = next
	w.mu.Unlock()
	if dec.Action == shedctl.None {
		return
	}
	mode := w.exec.Mode()
	if mode == executor.ModeOff && (dec.Action == shedctl.Shed || dec.Action == shedctl.Restore) {
		w.logOnce(ctx, "shed_skipped", "", dec, "executor mode is off: no plan")
		w.mu.Lock()
		w.state = before
		w.mu.Unlock()
		return
	}
	switch dec.Action {
	case shedctl.Hold, shedctl.Extend:
		w.logOnce(ctx, "shed_"+string(dec.Action), planOf(before), dec, "")
	case shedctl.Shed:
		w.shed(ctx, dec)
	case shedctl.Restore:
		w.restore(ctx, dec, *before.Shed)
	}
}

func planOf(st shedctl.State) string {
	if st.Shed == nil {
		return ""
	}
	return st.Shed.PlanID
}

// logOnce logs and audits a decision unless it repeats the last one.
func (w *shedWiring) logOnce(ctx context.Context, event, plan string, dec shedctl.Decision, extra string) {
	reason := dec.Reason
	if extra != "" {
		reason = extra + "; " + reason
	}
	key := event + "|" + plan // a request's kW changes every tick: log the decision once
	w.mu.Lock()
	repeat := key == w.last
	w.last = key
	w.mu.Unlock()
	if repeat {
		return
	}
	w.log.Info("shed decision", "action", dec.Action, "kw", round2(dec.KW), "by", dec.By.Format(time.RFC3339), "reason", reason)
	w.exec.Note(ctx, plan, "shed-controller", event, reason)
}

// live asks every host of the fleet what it runs now.
func (w *shedWiring) live(ctx context.Context) map[string]shedctl.Live {
	out := map[string]shedctl.Live{}
	for _, h := range w.hosts {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		o, err := w.fleet.Occupancy(cctx, h)
		cancel()
		l := shedctl.Live{Err: err}
		for _, d := range o.Domains {
			l.Domains = append(l.Domains, shedctl.Domain{Name: d.Name, MemMiB: d.MemMiB})
		}
		out[h] = l
	}
	return out
}

// current is the inventory with the live placement over it and the hosts
// the executor excluded (did not come back) in maintenance.
func (w *shedWiring) current(ctx context.Context) (shed.Inventory, []string) {
	live := w.live(ctx)
	base := w.inv.Inventory
	base.Hosts = append([]shed.Host(nil), base.Hosts...)
	for i, h := range base.Hosts {
		// A host whose hypervisor does not answer and whose BMC says it is
		// off is off (powered off by a shed, or before setsuden started).
		if l, ok := live[h.Name]; ok && l.Err != nil {
			if pw, ok := w.power[h.Name]; ok {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				on, err := pw.PowerIsOn(cctx)
				cancel()
				if err == nil && !on {
					base.Hosts[i].Off = true
				}
			}
		}
	}
	inv, notes := shedctl.Overlay(base, live)
	if ex, err := w.store.ExcludedHosts(ctx); err == nil {
		for i := range inv.Hosts {
			if why, ok := ex[inv.Hosts[i].Name]; ok {
				inv.Hosts[i].Maintenance = true
				notes = append(notes, fmt.Sprintf("%s is excluded by the executor: %s", inv.Hosts[i].Name, why))
			}
		}
	}
	return inv, notes
}

func (w *shedWiring) shed(ctx context.Context, dec shedctl.Decision) {
	inv, notes := w.current(ctx)
	req := shed.Request{Kind: shed.KindShed, KW: dec.KW, By: dec.By, Reason: dec.Reason}
	plan, err := shed.NewPlan(shed.Input{Inventory: inv, Policy: w.inv.Policy, Request: req, Now: time.Now()})
	if err != nil {
		w.dropShed(ctx, dec, "planning failed: "+err.Error())
		return
	}
	if len(plan.Steps) == 0 {
		w.logOnce(ctx, "shed_nothing_to_do", "", dec, fmt.Sprintf("the planner found nothing to shed (%d notes)", len(plan.Notes)))
		return // the shed stays in force with no plan: no new plan this window
	}
	sub, err := w.exec.Submit(ctx, toExecutorPlan(plan), "shed-controller")
	if err != nil {
		w.dropShed(ctx, dec, "submit failed: "+err.Error())
		return
	}
	w.mu.Lock()
	w.plans[plan.ID] = plan
	w.state = shedctl.Planned(w.state, plan.ID, shedctl.PowerOnLead(inv, w.inv.Policy, plan))
	w.last = ""
	w.mu.Unlock()
	w.log.Info("shed plan submitted", "plan", plan.ID, "state", sub.State, "request_kw", round2(dec.KW),
		"expected_kw", round2(plan.Expected.SavingKW), "covers", plan.Expected.CoversRequest, "steps", len(plan.Steps),
		"hosts_released", plan.Expected.HostsReleased, "by", dec.By.Format(time.RFC3339), "live_notes", len(notes))
	for _, n := range notes {
		w.log.Debug("shed inventory", "plan", plan.ID, "note", n)
	}
	w.awaiting(sub)
}

// awaiting says how to approve a plan that waits for an operator.
func (w *shedWiring) awaiting(p *executor.Plan) {
	if p == nil || p.State != executor.PlanAwaiting || w.exec.Mode() != executor.ModeApprove {
		return
	}
	approve := fmt.Sprintf("setsuden execute --config %s --approve %s --operator NAME", w.cfgFile, p.ID)
	w.log.Info(p.Kind+" plan waits for an operator", "plan", p.ID, "approve", approve)
	if w.announce != nil {
		w.announce(p.ID, approve)
	}
}

func (w *shedWiring) dropShed(ctx context.Context, dec shedctl.Decision, why string) {
	w.mu.Lock()
	w.state.Shed = nil
	w.mu.Unlock()
	w.log.Error("shed not planned", "kw", round2(dec.KW), "by", dec.By.Format(time.RFC3339), "err", why)
	w.exec.Note(ctx, "", "shed-controller", "shed_failed", why)
}

// restore plans the restore of the shed in force: on the live inventory
// with the shed plan's done steps over it (all of them when it never ran:
// advise and approve modes show what its restore would be).
func (w *shedWiring) restore(ctx context.Context, dec shedctl.Decision, was shedctl.InForce) {
	if ran := w.exec.Get(was.PlanID); ran != nil && ran.State == executor.PlanAwaiting {
		// Never approved: its window is over, so it is withdrawn rather
		// than restored.
		why := "withdrawn unapproved: " + dec.Reason
		if err := w.exec.Cancel(ctx, was.PlanID, "shed-controller"); err != nil {
			w.log.Warn("withdrawing the unapproved shed plan failed", "plan", was.PlanID, "err", err)
		}
		w.logOnce(ctx, "shed_withdrawn", was.PlanID, dec, why)
		return
	}
	w.mu.Lock()
	sp, ok := w.plans[was.PlanID]
	w.mu.Unlock()
	inv, _ := w.current(ctx)
	if ok {
		ran := w.exec.Get(was.PlanID)
		hypothetical := ran == nil || ran.State == executor.PlanAdvised || ran.State == executor.PlanAwaiting || ran.State == executor.PlanIgnored
		var steps []shedctl.StepResult
		for _, s := range sp.Steps {
			done := hypothetical
			if !hypothetical {
				for _, rs := range ran.Steps {
					if rs.ID == s.ID {
						done = rs.State == executor.StepDone
					}
				}
			}
			steps = append(steps, shedctl.StepResult{Step: s, Done: done})
		}
		// The live placement already shows done migrations and hosts off;
		// Apply adds what libvirt cannot say (stages, hosts never powered off).
		inv = shedctl.Apply(inv, steps, was.Since)
	}
	req := shed.Request{Kind: shed.KindRestore, KW: dec.RestoreKW, By: dec.By, Reason: dec.Reason}
	plan, err := shed.NewPlan(shed.Input{Inventory: inv, Policy: w.inv.Policy, Request: req, Now: time.Now()})
	if err != nil {
		w.exec.Note(ctx, was.PlanID, "shed-controller", "restore_failed", "planning failed: "+err.Error())
		w.log.Error("restore not planned; the shed stays in force", "plan", was.PlanID, "err", err)
		w.mu.Lock()
		w.state = shedctl.Deferred(w.state, was, time.Now())
		w.mu.Unlock()
		return
	}
	// A restore bounded by the headroom may leave stages or hosts shed
	// (they did not fit): the shed stays in force, partly restored, and
	// the rest comes back at the window's end without a bound.
	partial := false
	if req.KW > 0 {
		all := req
		all.KW = 0
		if full, ferr := shed.NewPlan(shed.Input{Inventory: inv, Policy: w.inv.Policy, Request: all, Now: time.Now()}); ferr == nil && restoredCount(plan) < restoredCount(full) {
			partial = true
			w.log.Warn("restore bounded by the headroom leaves part of the shed in force; the rest comes back at the window's end",
				"plan", was.PlanID, "headroom_kw", round2(req.KW), "restored", restoredCount(plan), "of", restoredCount(full), "window_end", was.By.Format(time.RFC3339))
			w.exec.Note(ctx, was.PlanID, "shed-controller", "restore_partial",
				fmt.Sprintf("%.1f kW of headroom restores %d of %d stages and hosts; the rest at the window's end (%s)", req.KW, restoredCount(plan), restoredCount(full), was.By.Format(time.RFC3339)))
			w.mu.Lock()
			w.state = shedctl.PartlyRestored(w.state, was)
			w.mu.Unlock()
		}
	}
	if len(plan.Steps) == 0 {
		if !partial {
			w.logOnce(ctx, "restore_nothing_to_do", was.PlanID, dec, "nothing to bring back")
		}
		return
	}
	ep := toExecutorPlan(plan)
	sub, err := w.exec.Submit(ctx, ep, "shed-controller")
	if err != nil {
		w.exec.Note(ctx, was.PlanID, "shed-controller", "restore_failed", "submit failed: "+err.Error())
		w.log.Error("restore not submitted; the shed stays in force", "plan", was.PlanID, "err", err)
		w.mu.Lock()
		w.state = shedctl.Deferred(w.state, was, time.Now())
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	w.last = ""
	w.mu.Unlock()
	defer w.awaiting(sub)
	w.log.Info("restore plan submitted", "plan", plan.ID, "restores", was.PlanID, "state", sub.State, "reason", dec.Reason,
		"steps", len(plan.Steps), "hosts_powered_on", plan.Expected.HostsPoweredOn, "stages", plan.Expected.FacilityStages)
}

// Sheddable implements demandctl.Capabilities: the hosts the most
// aggressive plan the constraints allow would release on the live
// inventory (each with its drain and shutdown time), and the facility
// stages not applied yet. Computed at most once a minute.
func (w *shedWiring) Sheddable(ctx context.Context, at time.Time) ([]demand.Sheddable, error) {
	w.mu.Lock()
	if w.caps != nil && at.Sub(w.capsAt) < time.Minute && !at.Before(w.capsAt) {
		c := w.caps
		w.mu.Unlock()
		return c, nil
	}
	w.mu.Unlock()
	inv, _ := w.current(ctx)
	plan, err := shed.NewPlan(shed.Input{Inventory: inv, Policy: w.inv.Policy, Request: shed.Request{Kind: shed.KindConsolidate}, Now: at})
	if err != nil {
		return nil, fmt.Errorf("sheddable loads: %w", err)
	}
	caps := shedctl.Sheddable(inv, plan)
	w.mu.Lock()
	w.caps, w.capsAt = caps, at
	w.mu.Unlock()
	return caps, nil
}

// restoredCount is how many facility stages and hosts a restore plan
// brings back.
func restoredCount(p shed.Plan) int {
	n := 0
	for _, s := range p.Steps {
		if s.Kind == shed.StepSetpointRevert || s.Kind == shed.StepPowerOn {
			n++
		}
	}
	return n
}

// toExecutorPlan is the planner's plan as the executor stores and runs it.
func toExecutorPlan(p shed.Plan) executor.Plan {
	out := executor.Plan{ID: p.ID, Kind: string(p.Kind), Reason: p.Request.Reason, PredictedKW: p.Expected.SavingKW, CreatedAt: p.CreatedAt}
	for _, s := range p.Steps {
		out.Steps = append(out.Steps, executor.Step{ID: s.ID, Kind: executor.StepKind(s.Kind), VM: s.VM, From: s.From, To: s.To,
			Host: s.Host, Point: s.Point, Value: s.Value, DependsOn: s.DependsOn, ExpectedSavingKW: s.ExpectedSavingKW})
	}
	return out
}

// writerSink sends the executor's audit points down the write path.
type writerSink struct{ w *influx.Writer }

func (s writerSink) Emit(pt point.Point) { _ = s.w.Write(context.Background(), []point.Point{pt}) }

// siteMeters is the executor's MeterReader: the site's mean power from the
// stored meters.
type siteMeters struct {
	r    *influx.Reader
	site string
}

func (m siteMeters) MeanSiteKW(ctx context.Context, from, to time.Time) (float64, error) {
	every := max(to.Sub(from)/60, time.Second).Truncate(time.Second)
	samples, err := m.r.SitePower(ctx, m.site, from, to, every)
	if err != nil {
		return 0, err
	}
	if len(samples) == 0 {
		return 0, fmt.Errorf("no site power between %s and %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	var sum float64
	for _, s := range samples {
		sum += s.KW
	}
	return sum / float64(len(samples)), nil
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
