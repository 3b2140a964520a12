package demand

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Sheddable is one load the site can take off, as the shedding planner
// (rules/shed) or the configuration knows it: its kind (it: VMs, hosts;
// facility: chillers, lighting), how many kW it removes and how long after
// the request it does (migration, a compressor's stop sequence). A load
// with latency λ removes KW·(r − λ) kWh from a block with r left
// (sla_peak.md §5b, "action effectiveness"), nothing once r ≤ λ.
type Sheddable struct {
	Name    string
	Kind    string // it or facility
	KW      float64
	Latency time.Duration
}

// Sheddable kinds.
const (
	KindIT       = "it"
	KindFacility = "facility"
)

// Validate checks one entry.
func (s Sheddable) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("name: missing"))
	}
	if s.Kind != KindIT && s.Kind != KindFacility {
		errs = append(errs, fmt.Errorf("kind %q: want it or facility", s.Kind))
	}
	if !(s.KW > 0) || math.IsInf(s.KW, 0) {
		errs = append(errs, fmt.Errorf("kw %g: must be positive", s.KW))
	}
	if s.Latency < 0 || s.Latency >= time.Hour {
		errs = append(errs, fmt.Errorf("latency %s: must be in [0, 1h)", s.Latency))
	}
	return errors.Join(errs...)
}

// Protection is what a shed request protects.
const (
	// ProtectLimit: the limit can be met this block.
	ProtectLimit = "limit"
	// ProtectAnnualMax: the limit cannot be met this block, but the block
	// would set a new annual maximum (the billed contract power); the
	// request keeps it as low as the sheddable load allows.
	ProtectAnnualMax = "annual_max"
	// ProtectNextBlock: nothing that can still act helps this block; the
	// request brings the load under the limit for the next block.
	ProtectNextBlock = "next_block"
)

// feasibility is what can be shed before a block ends.
type feasibility struct {
	// shedKW is the kW to take off now to remove needKWh, fastest loads
	// first; metKWh how much of needKWh that removes (less than needKWh
	// when the loads cannot).
	shedKW, metKWh float64
	// maxKWh is the most the loads can remove from the block, and
	// activeKW the kW of those that still act in time.
	maxKWh, activeKW float64
}

// sheddable returns the loads to plan with: the configured ones, or with
// none configured the whole site load (P̂) at no latency, so that a request
// never exceeds what the site draws.
func (c Config) sheddable(loadKW float64) []Sheddable {
	if len(c.Sheddable) > 0 {
		return c.Sheddable
	}
	if loadKW <= 0 {
		return nil
	}
	return []Sheddable{{Name: "site load", Kind: KindFacility, KW: loadKW}}
}

// plan fills needKWh from loads, fastest first, each effective for r − λ,
// with the total kW bounded by the site's load.
func plan(loads []Sheddable, needKWh, loadKW float64, r time.Duration) feasibility {
	order := make([]Sheddable, len(loads))
	copy(order, loads)
	sort.SliceStable(order, func(i, j int) bool { return order[i].Latency < order[j].Latency })
	var f feasibility
	budget := math.Max(loadKW, 0)
	left := needKWh
	for _, s := range order {
		eff := (r - s.Latency).Hours()
		if eff <= 0 || budget <= 0 {
			continue
		}
		kw := math.Min(s.KW, budget)
		budget -= kw
		f.activeKW += kw
		f.maxKWh += kw * eff
		if left > 0 {
			take := math.Min(kw, left/eff)
			f.shedKW += take
			f.metKWh += take * eff
			left -= take * eff
		}
	}
	return f
}

// request decides what to ask of the shedding engine at a tick whose
// strictest limit's prediction is above it: the limit if the sheddable
// loads can still meet it this block; else the annual maximum (a contract
// limit whose block would set a new one); else the next block. It never
// asks for more than the loads that can still act, nor more than the
// site's load.
func (c Config) request(d *Decision, annualMaxKW float64, kind string) {
	L := d.Block.Length().Hours()
	r := d.Remaining
	loads := c.sheddable(d.LoadKW)
	need := (d.PredictedKW - d.LimitKW) * L
	f := plan(loads, need, d.LoadKW, r)
	d.AchievableKW = d.PredictedKW - f.maxKWh/L
	const eps = 1e-9
	if f.metKWh >= need-eps {
		d.Request = &Request{ShedKW: f.shedKW, By: d.Block.End, Limit: d.Limit, Protect: ProtectLimit}
		return
	}
	d.Unreachable = true
	d.UnreachableReason = fmt.Sprintf("%s %.1f kW cannot be met this block: predicted %.1f kW needs %.1f kWh off in the %s left, the sheddable loads that act in time (%.1f kW) remove at most %.1f kWh (lowest reachable %.1f kW)",
		d.Limit, d.LimitKW, d.PredictedKW, need, r.Round(time.Second), f.activeKW, f.maxKWh, d.AchievableKW)
	if kind == "contract" && d.PredictedKW > annualMaxKW && f.maxKWh > 0 {
		// The block will exceed the limit; keep the new maximum as low as
		// the loads allow (down to the old maximum, if they can).
		target := math.Max(annualMaxKW, d.LimitKW)
		g := plan(loads, (d.PredictedKW-target)*L, d.LoadKW, r)
		d.Request = &Request{ShedKW: g.shedKW, By: d.Block.End, Limit: d.Limit, Protect: ProtectAnnualMax}
		d.UnreachableReason += fmt.Sprintf("; protecting the annual maximum %.1f kW: shed %.1f kW now", annualMaxKW, g.shedKW)
		return
	}
	// Nothing more to win in this block: start on the next, whose demand
	// at the present load would be P̂.
	next := BlockOf(d.Block.End, d.Block.Length(), c.Location)
	excess := d.LoadKW - d.LimitKW
	if excess <= 0 {
		d.UnreachableReason += "; the present load is under the limit, nothing to shed for the next block"
		return
	}
	g := plan(loads, excess*L, d.LoadKW, next.End.Sub(d.Time))
	kw := math.Min(excess, g.activeKW)
	if kw <= 0 {
		d.UnreachableReason += "; nothing sheddable"
		return
	}
	d.Request = &Request{ShedKW: kw, By: next.End, Limit: d.Limit, Protect: ProtectNextBlock}
	d.UnreachableReason += fmt.Sprintf("; protecting the next block: shed %.1f kW by %s", kw, next.End.In(c.Location).Format("15:04"))
}
