package simulate

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/shed"
)

// Result is what a replay measured.
type Result struct {
	Scenario         string  `json:"scenario"`
	Days             int     `json:"days"`
	BaselinePeakKW   float64 `json:"baseline_peak_kw"`
	AchievedPeakKW   float64 `json:"achieved_peak_kw"`
	PeakCutPct       float64 `json:"peak_cut_pct"`
	EnergySavedKWh   float64 `json:"energy_saved_kwh"`
	BaselineKWh      float64 `json:"baseline_kwh"`
	BlocksInForce    int     `json:"blocks_in_force"`
	BlocksOverTarget int     `json:"blocks_over_target"`
	// BlocksOverReachable counts blocks over target that the lower bound
	// says could have been met; BlocksUnreachable those it says could not.
	BlocksOverReachable int     `json:"blocks_over_target_reachable"`
	BlocksUnreachable   int     `json:"blocks_unreachable"`
	TargetKW            float64 `json:"target_kw"`
	// LBPeakCutPct is the peak cut the lower bound allows: at each block in
	// force, the cut down to the target or, when the target is out of
	// reach, down to what the fewest hosts (LB) and every stage give;
	// the peak of that series against the baseline's peak.
	LBPeakCutPct float64 `json:"lb_peak_cut_pct"`
	CutOfLBPct   float64 `json:"cut_of_lb_pct"`
	Migrations   int     `json:"migrations"`
	PowerCycles  int     `json:"power_cycles"`
	Plans        int     `json:"plans"`
	FailedSteps  int     `json:"failed_steps"`
	// SLAViolationMin counts minutes in which a host that received a VM
	// by migration had more CPU demand than capacity: SLA lost through
	// energy actions. OverloadMin and BaselineSLAMin count minutes with
	// any host over capacity, with and without shedding (the scenario's
	// own placement may overload a host).
	SLAViolationMin float64 `json:"sla_violation_minutes"`
	OverloadMin     float64 `json:"overload_minutes"`
	BaselineSLAMin  float64 `json:"baseline_overload_minutes"`
	MaxPlanningMS   float64 `json:"max_planning_ms"`
	SimulatedSteps  int     `json:"simulated_steps"`
	Series          []Point `json:"-"`
	// Money is the yen and CO2 the run saved (with a money: section).
	Money *Money `json:"money,omitempty"`
}

// Point is one block for the chart.
type Point struct {
	Start                  time.Time
	BaselineKW, AchievedKW float64
	TargetKW               float64
	InForce                bool
}

type host struct {
	name        string
	cpu, mem    float64
	idle, slope float64
	on          bool // powered and usable
	powered     bool // drawing power (booting, running or shutting down)
	lastOff     time.Time
	cyclesDay   int
	day         int
	room, rack  string
	// received is true once a VM migrated onto it (an overload there is
	// the shedding's doing).
	received bool
}

type vm struct {
	name    string
	host    int
	vcpus   int
	mem     float64
	profile int
	scale   float64
	frozen  bool
	lastMig time.Time
	demandP float64 // the percentile the planner is told (cores)
}

// world is one run's state.
type world struct {
	sc       Scenario
	loc      *time.Location
	hosts    []*host
	vms      []*vm
	curves   []sim.LoadCurve
	util     []float64 // per profile at the current step
	stagesOn map[string]bool
	traceTo  io.Writer
	// shedKW is the site kW the actions in force save (as planned); unshed
	// the estimate of what the site would draw without them, per step.
	shedKW float64
	unshed []float64
}

func newWorld(sc Scenario, loc *time.Location) *world {
	w := &world{sc: sc, loc: loc, stagesOn: map[string]bool{}}
	h := sc.Hosts
	for i := range h.Count {
		w.hosts = append(w.hosts, &host{name: fmt.Sprintf("h%03d", i), cpu: h.CPU, mem: h.MemoryGB, idle: h.IdleW, slope: h.MaxW - h.IdleW,
			on: true, powered: true, room: fmt.Sprintf("room%d", i/h.PerRoom), rack: fmt.Sprintf("rack%02d", i/h.PerRack)})
	}
	v := sc.VMs
	for p := range v.Profiles {
		w.curves = append(w.curves, sim.LoadCurve{BaseKW: v.Base, PeakKW: v.Peak, Seed: v.Seed*100 + int64(p), Location: loc})
	}
	w.util = make([]float64, v.Profiles)
	for i := range v.Count {
		vc := v.VCPUs[i%len(v.VCPUs)]
		// A spread of ±Spread, deterministic by index.
		scale := 1 + v.Spread*(2*frac(float64(i)*0.6180339887+float64(v.Seed)*0.1)-1)
		vm := &vm{name: fmt.Sprintf("vm%04d", i), host: i % h.Count, vcpus: vc, mem: float64(vc) * v.MemPerVCPU,
			profile: i % v.Profiles, scale: scale, frozen: v.FrozenEvery > 0 && i%v.FrozenEvery == 0}
		w.vms = append(w.vms, vm)
	}
	return w
}

func frac(x float64) float64 { return x - math.Floor(x) }

// step sets each profile's utilisation at t.
func (w *world) step(t time.Time) {
	for p, c := range w.curves {
		w.util[p] = c.KW(t)
	}
}

func (w *world) vmCPU(v *vm) float64 {
	return math.Min(1, w.util[v.profile]*v.scale) * float64(v.vcpus)
}

// dayShape is 0 at night, 1 in the afternoon heat (cooling and offices).
func dayShape(t time.Time, loc *time.Location) float64 {
	lt := t.In(loc)
	h := float64(lt.Hour()) + float64(lt.Minute())/60
	if h < 6 || h > 22 {
		return 0
	}
	return math.Max(0, math.Sin((h-6)/16*math.Pi))
}

func (w *world) pue(t time.Time) float64 {
	c := w.sc.Cooling
	return c.PUENight + (c.PUEDay-c.PUENight)*dayShape(t, w.loc)
}

// power is the site's kW at t, how many hosts are over capacity, and how
// many of those received a VM by migration (the energy actions' doing).
func (w *world) power(t time.Time) (kw float64, overloaded, byAction int) {
	load := make([]float64, len(w.hosts))
	for _, v := range w.vms {
		load[v.host] += w.vmCPU(v)
	}
	it := 0.0
	for i, h := range w.hosts {
		if !h.powered {
			continue
		}
		u := load[i] / h.cpu
		if u > 1+1e-9 {
			overloaded++
			if h.received {
				byAction++
			}
		}
		it += h.idle + h.slope*math.Min(u, 1)
	}
	f := w.sc.Facility
	fac := f.BaseKW + (f.DayKW-f.BaseKW)*officeShape(t, w.loc)
	for _, s := range f.Stages {
		if w.stagesOn[s.Name] {
			fac -= s.KW
		}
	}
	return it/1000*w.pue(t) + fac, overloaded, byAction
}

// officeShape is 1 on weekdays 8-19 local, 0 otherwise.
func officeShape(t time.Time, loc *time.Location) float64 {
	lt := t.In(loc)
	if lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday {
		return 0
	}
	if lt.Hour() >= 8 && lt.Hour() < 19 {
		return 1
	}
	return 0
}

// refreshDemand sets each VM's planner demand: the percentile of its load
// over the seven days before t, sampled every 10 minutes, 2% above for
// the noise, as the inventory export reads it from a week of history. A
// placement must hold at every hour until the next plan: a host released
// in the evening stays off through the next morning's ramp (with only the
// next hours' history, a packing made at night overloaded hosts by day).
func (w *world) refreshDemand(t time.Time) {
	q := w.sc.VMs.Percentile
	pct := make([]float64, len(w.curves))
	for p, c := range w.curves {
		var xs []float64
		for d := 1; d <= 7; d++ {
			for m := 0; m < 24*60; m += 10 {
				xs = append(xs, c.KW(t.AddDate(0, 0, -d).Add(time.Duration(m)*time.Minute)))
			}
		}
		pct[p] = shed.Percentile(xs, q)
	}
	for _, v := range w.vms {
		v.demandP = math.Min(1, pct[v.profile]*v.scale*1.02) * float64(v.vcpus)
	}
}

// inventory is what the planner is told now.
func (w *world) inventory(t time.Time) shed.Inventory {
	w.refreshDemand(t)
	inv := shed.Inventory{Site: w.sc.Name, PUE: w.pue(t), Stages: nil}
	for _, h := range w.hosts {
		if h.day != dayIndex(t, w.loc) {
			h.day, h.cyclesDay = dayIndex(t, w.loc), 0
		}
		inv.Hosts = append(inv.Hosts, shed.Host{Name: h.name, Site: w.sc.Name, Room: h.room, Rack: h.rack, CPU: h.cpu, MemoryGB: h.mem,
			IdleW: h.idle, SlopeW: h.slope, BMC: "ipmi", Off: !h.powered, PowerCyclesToday: h.cyclesDay, LastPowerOff: h.lastOff,
			PowerOnLatency: shed.Duration(w.sc.Hosts.PowerOnLatency), ShutdownLatency: shed.Duration(w.sc.Hosts.ShutdownLatency)})
	}
	for _, v := range w.vms {
		class := "standard"
		if v.frozen {
			class = "frozen"
		}
		inv.VMs = append(inv.VMs, shed.VM{Name: v.name, Host: w.hosts[v.host].name, VCPUs: v.vcpus, CPU: v.demandP, MemoryGB: v.mem,
			SLAClass: class, LastMigrated: v.lastMig})
	}
	for _, s := range w.sc.Facility.Stages {
		s.Active = w.stagesOn[s.Name]
		inv.Stages = append(inv.Stages, s)
	}
	return inv
}

func dayIndex(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return y*400 + int(m)*32 + d
}

// Options for Run.
type Options struct {
	// Progress receives a line per simulated day (nil: none).
	Progress io.Writer
	// Trace receives a line per plan (nil: none).
	Trace io.Writer
}

// Run replays the scenario: a baseline run with no shedding first (its
// peak sets last year's baseline when the cap needs one), then the run
// through the real demand controller (rules/demandctl on a simulated clock
// and meter, ticking once per step) and the planner.
func Run(sc Scenario, opt Options) (Result, error) {
	loc, _ := time.LoadLocation(sc.Timezone)
	from, err := time.ParseInLocation("2006-01-02", sc.From, loc)
	if err != nil {
		return Result{}, fmt.Errorf("scenario from %q: %w", sc.From, err)
	}
	to, err := time.ParseInLocation("2006-01-02", sc.To, loc)
	if err != nil {
		return Result{}, fmt.Errorf("scenario to %q: %w", sc.To, err)
	}
	end := to.AddDate(0, 0, 1)
	if !end.After(from) {
		return Result{}, fmt.Errorf("scenario: to %s before from %s", sc.To, sc.From)
	}
	res := Result{Scenario: sc.Name, Days: int(end.Sub(from).Hours()/24 + 0.5)}

	// Baseline run: power per step, no action.
	base := newWorld(sc, loc)
	var baseKW []float64
	for t := from; t.Before(end); t = t.Add(sc.Step) {
		base.step(t)
		kw, over, _ := base.power(t)
		baseKW = append(baseKW, kw)
		res.BaselineSLAMin += float64(min(over, 1)) * sc.Step.Minutes()
	}
	cfg, blockLen, err := sc.demandConfig(loc, from, end, baseKW)
	if err != nil {
		return res, err
	}
	cfg.Location = loc
	if err := cfg.Validate(); err != nil {
		return res, fmt.Errorf("demand config: %w", err)
	}

	w := newWorld(sc, loc)
	w.traceTo = opt.Trace
	ex := newExecutor(w, sc.Executor.LatencyFactor)
	pol := sc.policy()
	meter := &meterLog{start: from, step: sc.Step}
	ctl, clock, pending, err := newController(sc, cfg, meter, from)
	if err != nil {
		return res, err
	}
	var achKW []float64
	lastDay := -1
	perDay := int(24 * time.Hour / sc.Step)
	i := 0
	for t := from; t.Before(end); t, i = t.Add(sc.Step), i+1 {
		if d := dayIndex(t, loc); d != lastDay {
			lastDay = d
			if opt.Progress != nil {
				fmt.Fprintf(opt.Progress, "simulate %s: day %s (%d/%d), %d plans, %d migrations\n", sc.Name, t.Format("2006-01-02"),
					int(t.Sub(from).Hours()/24)+1, res.Days, res.Plans, res.Migrations)
			}
		}
		// An aggregator's event is posted a day ahead, as through the
		// operator API (POST /api/v1/demand/target).
		for len(pending) > 0 && !pending[0].From.Add(-24*time.Hour).After(t) {
			if err := ctl.SetExternalTarget(pending[0]); err != nil {
				return res, fmt.Errorf("external target %s: %w", pending[0].Label(), err)
			}
			pending = pending[1:]
		}
		w.step(t)
		ex.advance(t, &res)
		kw, over, byAction := w.power(t)
		achKW = append(achKW, kw)
		if byAction > 0 {
			res.SLAViolationMin += sc.Step.Minutes()
		}
		if over > 0 {
			res.OverloadMin += sc.Step.Minutes()
		}
		meter.kw = append(meter.kw, kw)
		// The controller ticks at the end of the step and reads the
		// windows before its lag (one tick), like the daemon.
		clock.Advance(t.Add(sc.Step).Sub(clock.Now()))
		d, err := ctl.Tick(context.Background())
		if err != nil {
			return res, fmt.Errorf("demand tick at %s: %w", t.Format(time.RFC3339), err)
		}
		w.unshed = append(w.unshed, kw+w.shedKW)
		if ex.busy() {
			continue
		}
		// What to shed: the engine's request for this block, or more when
		// the same hours of yesterday say the next two hours will need it
		// (slow actions must start early).
		extra, known := w.forecastExtra(cfg, t, i, perDay)
		need := 0.0
		if d.Request != nil {
			// A margin of 1% of the limit: the controller reads the meter
			// one tick late and the actions take minutes.
			need = d.Request.ShedKW + 0.01*d.LimitKW
		}
		if known {
			need = math.Max(need, extra)
		}
		switch {
		case need > 0.5:
			by := t.Add(30 * time.Minute)
			reason := "forecast"
			if d.Request != nil {
				by, reason = d.Request.By, d.Request.Limit
			}
			start := time.Now()
			inv := w.inventory(t)
			plan, err := shed.NewPlan(shed.Input{Inventory: inv, Policy: pol, Now: t,
				Request: shed.Request{Kind: shed.KindShed, KW: need, By: by, Reason: reason}})
			res.MaxPlanningMS = math.Max(res.MaxPlanningMS, float64(time.Since(start).Microseconds())/1000)
			if err != nil {
				return res, fmt.Errorf("plan at %s: %w", t.Format(time.RFC3339), err)
			}
			if len(plan.Steps) > 0 {
				res.Plans++
				ex.start(plan, t)
				w.trace(t, "shed", d, plan)
			}
		case w.anyOff() && w.shouldRestore(d, extra, known):
			budget := 0.0 // everything
			if known && -extra < w.offKW(t) && -extra > 0 {
				budget = -extra
			}
			inv := w.inventory(t)
			plan, err := shed.NewPlan(shed.Input{Inventory: inv, Policy: pol, Now: t,
				Request: shed.Request{Kind: shed.KindRestore, KW: budget}})
			if err != nil {
				return res, fmt.Errorf("restore plan at %s: %w", t.Format(time.RFC3339), err)
			}
			if len(plan.Steps) > 0 {
				res.Plans++
				ex.start(plan, t)
				w.trace(t, "restore", d, plan)
			}
		}
	}
	res.SimulatedSteps = i
	summarise(&res, sc, cfg, loc, from, sc.Step, blockLen, baseKW, achKW, w)
	if sc.Money != nil {
		sc.Money.price(&res, loc, from, sc.Step, baseKW, achKW)
	}
	return res, nil
}

func (w *world) trace(t time.Time, what string, d demand.Decision, p shed.Plan) {
	if w.traceTo == nil {
		return
	}
	fmt.Fprintf(w.traceTo, "%s %s: stage %s adj %.1f headroom %.1f pred %.1f limit %.1f -> %d steps, released %d, on %d, stages %v, saving %.1f (max %.1f) by %s\n",
		t.In(w.loc).Format("01-02 15:04"), what, d.Stage, d.AdjustmentKW, d.HeadroomKW, d.PredictedKW, d.LimitKW, len(p.Steps),
		len(p.Expected.HostsReleased), len(p.Expected.HostsPoweredOn), p.Expected.FacilityStages, p.Expected.SavingKW, p.Expected.MaxSavingKW, p.Expected.Duration.D())
}

func (w *world) anyOff() bool {
	for _, h := range w.hosts {
		if !h.powered {
			return true
		}
	}
	return false
}

// shouldRestore: power hosts back when yesterday's same hours say the
// next two hours have room for them (with the engine showing headroom), or
// at once when a host of the shedding run nears its capacity.
func (w *world) shouldRestore(d demand.Decision, extra float64, known bool) bool {
	load := make([]float64, len(w.hosts))
	for _, v := range w.vms {
		load[v.host] += w.vmCPU(v)
	}
	for i, h := range w.hosts {
		if h.on && h.received && load[i] > h.cpu*0.95 {
			if w.traceTo != nil {
				planned := 0.0
				n := 0
				for _, v := range w.vms {
					if v.host == i {
						planned += v.demandP
						n++
					}
				}
				fmt.Fprintf(w.traceTo, "overload: %s at %.2f of %.0f (planned %.2f, %d vms)\n", h.name, load[i], h.cpu, planned, n)
			}
			return true
		}
	}
	if d.Request != nil {
		return false
	}
	if !known {
		return d.HeadroomKW > 0 && len(d.Limits) == 0
	}
	// Hysteresis: come back only with clear room (2 kW or 2% of the
	// site), so a restore is not followed by the next shed.
	return extra < -math.Max(2, 0.02*w.unshed[len(w.unshed)-1])
}

// offKW is what powering every released host back on would cost now.
func (w *world) offKW(t time.Time) float64 {
	kw := 0.0
	for _, h := range w.hosts {
		if !h.powered {
			kw += h.idle / 1000 * w.pue(t)
		}
	}
	return kw
}

// forecastExtra is the kW to shed beyond what is shed now so that the next
// two hours stay 1% under the limits in force, forecast from the same
// hours of the last day of the same kind (the day before; Friday for a
// Monday), from the unshed estimate scaled by today's level against that
// day's at this minute; negative when there is room. known is false until
// there is such a day.
func (w *world) forecastExtra(cfg demand.Config, t time.Time, i, perDay int) (float64, bool) {
	// The last day of the same kind: Friday for a Monday.
	if t.In(w.loc).Weekday() == time.Monday {
		perDay *= 3
	}
	if i < perDay || len(w.unshed) <= i {
		return 0, false
	}
	ratio := w.unshed[i] / math.Max(w.unshed[i-perDay], 1e-9)
	ratio = math.Min(math.Max(ratio, 0.9), 1.1)
	need := math.Inf(-1)
	horizon := int(2 * time.Hour / w.sc.Step)
	for k := 0; k < horizon; k++ {
		j := i - perDay + k
		if j >= len(w.unshed) {
			break
		}
		at := t.Add(time.Duration(k) * w.sc.Step)
		limit, in := 0.0, false
		for _, l := range cfg.Limits {
			if la, ok := l.At(at, w.loc); ok && (!in || la.KW < limit) {
				limit, in = la.KW, true
			}
		}
		if !in {
			continue
		}
		need = math.Max(need, w.unshed[j]*ratio-limit*0.99)
	}
	if math.IsInf(need, -1) {
		// No limit in force in the next two hours: all may come back.
		return -math.MaxFloat64 / 4, true
	}
	return need - w.shedKW, true
}

func (sc Scenario) demandConfig(loc *time.Location, from, end time.Time, baseKW []float64) (demand.Config, time.Duration, error) {
	cfg := demand.DefaultConfig()
	cfg.Location = loc
	blockLen := 30 * time.Minute
	if sc.Demand.ContractKW > 0 {
		cfg.Limits = append(cfg.Limits, demand.ContractLimit{KW: sc.Demand.ContractKW, Block: 30 * time.Minute})
	}
	if c := sc.Demand.Cap; c != nil {
		cal := sc.calendar()
		baseline := c.BaselineKW
		if baseline <= 0 {
			// Last year's peak hourly average in the cap's hours.
			peak := 0.0
			for _, b := range blocks(from, end, c.Block, sc.Step, loc, baseKW) {
				if cal.ContainsBlock(demand.Block{Start: b.start, End: b.start.Add(c.Block)}, loc) {
					peak = math.Max(peak, b.avg)
				}
			}
			baseline = peak * c.LastYearFactor
		}
		if baseline <= 0 {
			return cfg, 0, fmt.Errorf("demand.cap: no baseline (no block of the replayed days is in the cap's calendar)")
		}
		cfg.Limits = append(cfg.Limits, demand.CapLimit{Name: "cap2011", BaselineKW: baseline, Reduction: c.Reduction, Block: c.Block, Calendar: cal})
		blockLen = c.Block
	}
	for _, tg := range sc.Demand.Targets {
		e, err := sc.target(tg, loc)
		if err != nil {
			return cfg, 0, err
		}
		cfg.Limits = append(cfg.Limits, e)
	}
	return cfg, blockLen, nil
}

type blockAvg struct {
	start time.Time
	avg   float64
}

// blocks averages a per-step series over clock-aligned blocks.
func blocks(from, end time.Time, length, step time.Duration, loc *time.Location, kw []float64) []blockAvg {
	var out []blockAvg
	per := int(length / step)
	for i := 0; i+per <= len(kw); i += per {
		s := 0.0
		for _, x := range kw[i : i+per] {
			s += x
		}
		out = append(out, blockAvg{start: from.Add(time.Duration(i) * step), avg: s / float64(per)})
	}
	return out
}

// summarise computes the figures over the blocks in force.
func summarise(res *Result, sc Scenario, cfg demand.Config, loc *time.Location, from time.Time, step, blockLen time.Duration,
	baseKW, achKW []float64, w *world) {
	for i := range baseKW {
		res.EnergySavedKWh += (baseKW[i] - achKW[i]) * step.Hours()
		res.BaselineKWh += baseKW[i] * step.Hours()
	}
	bb := blocks(from, from, blockLen, step, loc, baseKW)
	ab := blocks(from, from, blockLen, step, loc, achKW)
	// The lower bound's reach: the fewest hosts for the VMs' planner
	// demand, N+k included, every other host's idle power x PUE saved, and
	// every stage.
	stagesKW := 0.0
	for _, s := range sc.Facility.Stages {
		stagesKW += s.KW
	}
	lbWorld := newWorld(sc, loc)
	lbPeak := 0.0
	anyInForce := false
	for i := range bb {
		t := bb[i].start
		limitKW, inForce := 0.0, false
		for _, l := range cfg.Limits {
			if at, ok := l.At(t, loc); ok && at.Block.Start.Equal(t) {
				if !inForce || at.KW < limitKW {
					limitKW = at.KW
				}
				inForce = true
			}
		}
		p := Point{Start: t, BaselineKW: bb[i].avg, AchievedKW: ab[i].avg, TargetKW: limitKW, InForce: inForce}
		res.Series = append(res.Series, p)
		if !inForce {
			continue
		}
		anyInForce = true
		res.TargetKW = limitKW
		res.BlocksInForce++
		res.BaselinePeakKW = math.Max(res.BaselinePeakKW, bb[i].avg)
		res.AchievedPeakKW = math.Max(res.AchievedPeakKW, ab[i].avg)
		lbWorld.refreshDemand(t)
		lbWorld.step(t)
		inv := lbWorld.inventory(t)
		lb, err := shed.Bound(inv, sc.policy())
		maxSave := stagesKW
		if err == nil {
			maxSave += float64(len(inv.Hosts)-lb.Hosts) * sc.Hosts.IdleW / 1000 * lbWorld.pue(t.Add(blockLen/2))
		}
		best := math.Max(limitKW, bb[i].avg-maxSave)
		reachable := bb[i].avg-maxSave <= limitKW
		if !reachable {
			res.BlocksUnreachable++
		}
		lbPeak = math.Max(lbPeak, math.Min(bb[i].avg, best))
		if ab[i].avg > limitKW*1.001 {
			res.BlocksOverTarget++
			if reachable {
				res.BlocksOverReachable++
			}
		}
	}
	if !anyInForce {
		for i := range bb {
			res.BaselinePeakKW = math.Max(res.BaselinePeakKW, bb[i].avg)
			res.AchievedPeakKW = math.Max(res.AchievedPeakKW, ab[i].avg)
		}
		lbPeak = res.BaselinePeakKW
	}
	if res.BaselinePeakKW > 0 {
		res.PeakCutPct = (res.BaselinePeakKW - res.AchievedPeakKW) / res.BaselinePeakKW * 100
		res.LBPeakCutPct = (res.BaselinePeakKW - lbPeak) / res.BaselinePeakKW * 100
	}
	if res.LBPeakCutPct > 0 {
		res.CutOfLBPct = res.PeakCutPct / res.LBPeakCutPct * 100
	}
	round := func(x *float64) { *x = math.Round(*x*100) / 100 }
	for _, x := range []*float64{&res.BaselinePeakKW, &res.AchievedPeakKW, &res.PeakCutPct, &res.EnergySavedKWh, &res.BaselineKWh,
		&res.TargetKW, &res.LBPeakCutPct, &res.CutOfLBPct, &res.SLAViolationMin, &res.OverloadMin, &res.BaselineSLAMin, &res.MaxPlanningMS} {
		round(x)
	}
	sort.Slice(res.Series, func(i, j int) bool { return res.Series[i].Start.Before(res.Series[j].Start) })
}
