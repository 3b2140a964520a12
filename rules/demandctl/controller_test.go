package demandctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

// recordingNotifier keeps what would go to the webhooks.
type recordingNotifier struct{ events []demandctl.TransitionEvent }

func (r *recordingNotifier) Send(name string, body []byte) {
	var ev demandctl.TransitionEvent
	if name != demandctl.TransitionEventName || json.Unmarshal(body, &ev) != nil {
		panic("bad event " + name + ": " + string(body))
	}
	r.events = append(r.events, ev)
}

func metricValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// The scenario tick by tick on a fake clock: stages, points, webhook
// events, gauges.
func TestTicksThroughABlock(t *testing.T) {
	store := &fakeStore{power: scenarioSamples(at("12:20:00"), at("13:40:00"))}
	pts := &memPoints{}
	notes := &recordingNotifier{}
	reg := prometheus.NewRegistry()
	clock := clockwork.NewFakeClockAt(at("12:59:50"))
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: store, Points: pts, Notifier: notes, Logger: quietLogger(), Registerer: reg, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	decisions := c.Subscribe()
	var all []demand.Transition
	var last demand.Decision
	for want := at("13:00:00"); !want.After(at("13:36:00")); want = want.Add(10 * time.Second) {
		clock.Advance(10 * time.Second)
		d, err := c.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pub := <-decisions; !pub.Time.Equal(d.Time) {
			t.Fatalf("published %s, returned %s", pub.Time, d.Time)
		}
		if !d.Time.Equal(want) {
			t.Fatalf("tick at %s, want %s", d.Time.In(tokyo).Format("15:04:05"), want.Format("15:04:05"))
		}
		all = append(all, d.Transitions...)
		last = d
		if d.Time.Equal(at("13:20:00")) {
			// Mid-block, shedding: 512 kW predicted against 500 kW.
			if d.Stage != demand.StageShed || d.Request == nil || d.Limit != "contract" {
				t.Errorf("13:20: stage %s, request %v, limit %q; want shed with a request on contract", d.Stage, d.Request, d.Limit)
			}
			if d.PredictedKW < 505 || d.PredictedKW > 515 {
				t.Errorf("13:20: predicted %.1f kW, want about 512", d.PredictedKW)
			}
		}
		if d.Time.Equal(at("13:32:00")) && !d.Held {
			t.Errorf("13:32 is in the no-action time, but the decision is not held")
		}
	}
	checkTransitions(t, all)

	if got := c.Latest(); !got.Time.Equal(last.Time) {
		t.Errorf("Latest at %s, want the last tick %s", got.Time, last.Time)
	}
	demandPts := pts.of(demandctl.MeasurementDemand)
	if len(demandPts) != 217 {
		t.Errorf("%d demand points, want one per tick, 217", len(demandPts))
	}
	for _, p := range demandPts {
		if p.Tags["site"] != "dc1" || p.Fields["limit"] != "contract" || p.Fields["block_start"] == "" {
			t.Fatalf("demand point %+v", p)
		}
	}
	stagePts := pts.of(demandctl.MeasurementStage)
	if len(stagePts) != 4 || stagePts[2].Fields["to"] != "limit" || !stagePts[2].Time.Equal(all[2].At) {
		t.Errorf("demand_stage points %+v", stagePts)
	}
	if len(notes.events) != 4 {
		t.Fatalf("%d webhook events, want 4", len(notes.events))
	}
	for i, ev := range notes.events {
		w := wantTransitions[i]
		if ev.Site != "dc1" || ev.From != w.from.String() || ev.To != w.to.String() || ev.Reason == "" {
			t.Errorf("event %d: %+v", i, ev)
		}
		if (ev.Request != nil) != w.request || (ev.HeadroomKW > 0) != w.headroom {
			t.Errorf("event %d (%s→%s): request %v headroom %v; want request %v headroom %v", i, ev.From, ev.To, ev.Request, ev.HeadroomKW, w.request, w.headroom)
		}
		if up := w.to > w.from; ev.Cause == "" || ev.DrivenBy != "contract" || up == (ev.Cause == demand.CauseBelow) {
			t.Errorf("event %d (%s→%s): cause %q, driven by %q", i, ev.From, ev.To, ev.Cause, ev.DrivenBy)
		}
		if ev.Request != nil && (ev.Request.ShedKW <= 0 || !ev.Request.By.Equal(at("13:30:00"))) {
			t.Errorf("event %d: request %+v, want kW to shed by 13:30", i, *ev.Request)
		}
	}
	if v := metricValue(t, reg, "setsuden_demand_stage"); v != 0 {
		t.Errorf("stage gauge %v, want 0 (normal)", v)
	}
	if v := metricValue(t, reg, "setsuden_demand_ticks_total"); v != 217 {
		t.Errorf("ticks_total %v, want 217", v)
	}
	if v := metricValue(t, reg, "setsuden_demand_predicted_kw"); v < 299 || v > 301 {
		t.Errorf("predicted gauge %v, want 300", v)
	}
}

// Run ticks on the grid of multiples of the tick, from the first one after
// it starts, each instant once.
func TestSchedulerTicksOnTheGrid(t *testing.T) {
	store := &fakeStore{power: scenarioSamples(at("12:20:00"), at("13:40:00"))}
	clock := clockwork.NewFakeClockAt(at("12:59:53"))
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: store, Points: &memPoints{}, Logger: quietLogger(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	decisions := c.Subscribe()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var times []time.Time
	for i := 0; i < 20; i++ {
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			clock.Advance(7 * time.Second) // to 13:00:00
		} else {
			clock.Advance(10 * time.Second)
		}
		select {
		case d := <-decisions:
			times = append(times, d.Time)
		case <-time.After(2 * time.Second):
			// The fake clock can move while the scheduler still counts
			// the last run as running; it then skips this one, as it
			// would a real overrun.
		}
		// Let the scheduler finish the run before the clock moves on.
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(times) < 15 || !times[0].Equal(at("13:00:00")) {
		t.Fatalf("ticks at %v, want about 20 from 13:00:00", times)
	}
	for i, tt := range times {
		if tt.Sub(at("13:00:00"))%(10*time.Second) != 0 || (i > 0 && !tt.After(times[i-1])) {
			t.Errorf("tick %d at %s: not on the 10 s grid after the one before", i, tt.In(tokyo).Format("15:04:05.000"))
		}
	}
}

// A tick that overruns the next one's time makes the scheduler skip that
// one (singleton mode); two ticks never read at once.
func TestScheduledTicksNeverOverlap(t *testing.T) {
	hold := make(chan struct{})
	store := &fakeStore{power: scenarioSamples(at("12:20:00"), at("13:40:00")), hold: hold}
	reg := prometheus.NewRegistry()
	clock := clockwork.NewFakeClockAt(at("12:59:50"))
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: store, Points: &memPoints{}, Logger: quietLogger(), Registerer: reg, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	decisions := c.Subscribe()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second) // 13:00:00: this tick hangs in the store
	waitUntil(t, "the first tick to read", func() bool { return store.inFlight.Load() == 1 })
	for i := 0; i < 5; i++ { // 13:00:10 … 13:00:50 come due while it hangs
		clock.Advance(10 * time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	store.mu.Lock()
	store.hold = nil
	store.mu.Unlock()
	close(hold)
	d := <-decisions
	if !d.Time.Equal(at("13:00:00")) {
		t.Errorf("first decision at %s", d.Time)
	}
	// Ticking goes on after the slow one.
	var next demand.Decision
	for i := 0; i < 10 && next.Time.IsZero(); i++ {
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second)
		select {
		case next = <-decisions:
		case <-time.After(time.Second):
		}
	}
	if !next.Time.After(at("13:00:50")) {
		t.Errorf("next decision at %s, want one after 13:00:50", next.Time.In(tokyo).Format("15:04:05"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := store.maxSeen.Load(); n != 1 {
		t.Errorf("%d ticks read at once, want 1", n)
	}
	if v := metricValue(t, reg, "setsuden_demand_ticks_skipped_total"); v != 0 {
		t.Errorf("%v ticks found another running: the scheduler let them overlap", v)
	}
	if v := metricValue(t, reg, "setsuden_demand_ticks_total"); v > 4 {
		t.Errorf("%v ticks ran; the 5 due during the slow one should have been skipped", v)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A store outage leaves the stage where it was: it must not read as a
// drop in demand.
func TestReadFailureHoldsTheState(t *testing.T) {
	store := &fakeStore{power: scenarioSamples(at("12:20:00"), at("13:40:00"))}
	pts := &memPoints{}
	reg := prometheus.NewRegistry()
	clock := clockwork.NewFakeClockAt(at("13:20:00"))
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: store, Points: pts, Logger: quietLogger(), Registerer: reg, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := c.Tick(ctx)
	if err != nil || d.Stage != demand.StageShed {
		t.Fatalf("stage %s, err %v; want shed", d.Stage, err)
	}
	store.fail = errors.New("influx down")
	clock.Advance(10 * time.Second)
	if _, err := c.Tick(ctx); err == nil {
		t.Fatal("a failed read returned no error")
	}
	if got := c.Latest(); !got.Time.Equal(at("13:20:00")) || got.Stage != demand.StageShed {
		t.Errorf("latest %s %s, want the 13:20 shed decision kept", got.Time, got.Stage)
	}
	if n := len(pts.of(demandctl.MeasurementDemand)); n != 1 {
		t.Errorf("%d demand points, want 1 (none for the failed tick)", n)
	}
	if v := metricValue(t, reg, "setsuden_demand_read_errors_total"); v != 1 {
		t.Errorf("read errors %v, want 1", v)
	}
	// The read covers the block and the predictor's window, and stops a
	// lag (one tick) short of now.
	store.fail = nil
	if _, err := c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	last := store.calls[len(store.calls)-1]
	if !last.to.Equal(at("13:20:00")) || last.from.After(at("13:00:00")) {
		t.Errorf("read %s..%s, want from before 13:00 to 13:20:00", last.from.In(tokyo).Format("15:04:05"), last.to.In(tokyo).Format("15:04:05"))
	}
}

func TestExternalTargets(t *testing.T) {
	// Flat 400 kW all along.
	var power []demand.Sample
	for tt := at("12:30:00"); tt.Before(at("14:00:00")); tt = tt.Add(10 * time.Second) {
		power = append(power, demand.Sample{Time: tt, KW: 400})
	}
	clock := clockwork.NewFakeClockAt(at("13:15:00"))
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: &fakeStore{power: power}, Points: &memPoints{}, Logger: quietLogger(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, _ := c.Tick(ctx); d.Stage != demand.StageNormal || d.Limit != "contract" {
		t.Fatalf("without a target: %s on %q", d.Stage, d.Limit)
	}
	if err := c.SetExternalTarget(demand.ExternalTarget{KW: 0, From: at("13:00:00"), To: at("14:00:00"), Source: "x"}); err == nil {
		t.Error("a 0 kW target was accepted")
	}
	if err := c.SetExternalTarget(demand.ExternalTarget{KW: 390, From: at("13:00:00"), To: at("14:00:00"), Source: "aggregator-x"}); err != nil {
		t.Fatal(err)
	}
	// Replaced by the same source's next target: 350 kW.
	if err := c.SetExternalTarget(demand.ExternalTarget{KW: 350, From: at("13:00:00"), To: at("14:00:00"), Source: "aggregator-x"}); err != nil {
		t.Fatal(err)
	}
	if n := len(c.ExternalTargets()); n != 1 {
		t.Fatalf("%d targets, want 1 (same source replaces)", n)
	}
	clock.Advance(10 * time.Second)
	d, err := c.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Limit != "external:aggregator-x" || d.LimitKW != 350 || d.Stage != demand.StageLimit {
		t.Errorf("with a 350 kW target: limit %q %.0f kW, stage %s; want external:aggregator-x 350 kW, limit (400/350 = 114 %%)", d.Limit, d.LimitKW, d.Stage)
	}
	if n := c.ClearExternalTarget("nobody"); n != 0 {
		t.Errorf("cleared %d targets of an unknown source", n)
	}
	if n := c.ClearExternalTarget(""); n != 1 {
		t.Errorf("cleared %d, want 1", n)
	}
	clock.Advance(10 * time.Second)
	if d, _ := c.Tick(ctx); d.Limit != "contract" {
		t.Errorf("after clearing: limit %q", d.Limit)
	}
	// A target long over is dropped at the next tick.
	_ = c.SetExternalTarget(demand.ExternalTarget{KW: 300, From: at("10:00:00"), To: at("11:00:00"), Source: "old"})
	clock.Advance(10 * time.Second)
	_, _ = c.Tick(ctx)
	if n := len(c.ExternalTargets()); n != 0 {
		t.Errorf("%d targets after a past one's tick, want 0", n)
	}
}

type fixedCaps struct{ calls int }

func (f *fixedCaps) Sheddable(context.Context, time.Time) ([]demand.Sheddable, error) {
	f.calls++
	return []demand.Sheddable{{Name: "batch", Kind: demand.KindIT, KW: 10, Latency: time.Minute}}, nil
}

// The planner's capabilities cap the request: at 13:20 the block needs
// (512 − 500) × 0.5 = 6 kWh off in 10 minutes, and 10 kW acting after 1
// minute removes 1.5 kWh: out of reach; the request is at most those
// 10 kW and protects the annual maximum (none known: the block's own).
func TestCapabilitiesCapTheRequest(t *testing.T) {
	store := &fakeStore{power: scenarioSamples(at("12:20:00"), at("13:40:00"))}
	caps := &fixedCaps{}
	clock := clockwork.NewFakeClockAt(at("13:19:55"))
	var logs bytes.Buffer
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: store, Points: &memPoints{}, Capabilities: caps, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	d, err := c.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if caps.calls != 1 || !d.Unreachable || d.Request == nil || d.Request.ShedKW > 10+1e-9 || d.Request.Protect != demand.ProtectAnnualMax {
		t.Errorf("calls %d, unreachable %v (%s), request %+v", caps.calls, d.Unreachable, d.UnreachableReason, d.Request)
	}
	if l := logs.String(); !strings.Contains(l, "demand limit out of reach this block") || !strings.Contains(l, "protect=annual_max") {
		t.Errorf("log lacks the out-of-reach warning:\n%s", l)
	}
	// Once per block: the next tick does not repeat it.
	clock.Advance(10 * time.Second)
	if _, err := c.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "out of reach"); n != 1 {
		t.Errorf("%d out-of-reach warnings in one block, want 1", n)
	}
	v := demandctl.NewDecisionView("dc1", d)
	if !v.Unreachable || v.Request == nil || v.Request.Protect != "annual_max" || v.FormulaKW <= 0 {
		t.Errorf("view %+v", v)
	}
}
