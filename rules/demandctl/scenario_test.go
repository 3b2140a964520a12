package demandctl_test

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

// The scenario: a Tokyo site on a Wednesday with a 500 kW contract on
// 30-minute blocks and the default stages (95/100/105 %, 3 % hysteresis,
// 2 exit ticks, 5 minutes of no-action, least squares over 5 minutes).
//
//	before 13:06   400 kW   (80 % of the contract)
//	13:06–13:30    540 kW   the block 13:00–13:30 lands on (40 + 9·24)/0.5 = 512 kW
//	from 13:30     300 kW
//
// Worked by hand: the least-squares load follows the step over 5 minutes,
// so the prediction passes 95 % (475 kW) about 13:09 and 100 % about
// 13:10:30, and settles at 512 kW (102.4 %, under the 105 % limit stage).
// The energy so far reaches 250 kWh = 500 kW × 0.5 h when
// 40 + 9·(τ − 6) = 250, τ = 29 min 20 s: the block is lost at 13:29:20
// (plus the read lag), stage limit. The next block is held for 5 minutes;
// at 13:35 it predicts 300 kW (60 %), below every exit level, so after 2
// ticks, at 13:35:10, the stage falls to normal.
var tokyo = mustZone("Asia/Tokyo")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func at(hhmmss string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", "2024-07-03 "+hhmmss, tokyo)
	if err != nil {
		panic(err)
	}
	return t
}

func scenarioKW(t time.Time) float64 {
	switch {
	case t.Before(at("13:06:00")):
		return 400
	case t.Before(at("13:30:00")):
		return 540
	}
	return 300
}

// scenarioSamples are the site's power every 10 s in [from, to).
func scenarioSamples(from, to time.Time) []demand.Sample {
	var s []demand.Sample
	for t := from; t.Before(to); t = t.Add(10 * time.Second) {
		s = append(s, demand.Sample{Time: t, KW: scenarioKW(t)})
	}
	return s
}

func scenarioEngine() demand.Config {
	cfg := demand.DefaultConfig()
	cfg.Location = tokyo
	// The scenario's transition windows were worked out for least squares,
	// which enters caution before shed on the step (the formula goes
	// straight to shed).
	cfg.Predictor = demand.LeastSquares{Window: 5 * time.Minute}
	return cfg
}

func contract500() []demandctl.LimitSpec {
	return []demandctl.LimitSpec{{Limit: demand.ContractLimit{KW: 500, Block: 30 * time.Minute}}}
}

// wantTransitions are the scenario's stage changes, each with the window
// its time must fall in.
var wantTransitions = []struct {
	from, to          demand.Stage
	earliest, latest  string
	request, headroom bool
}{
	{demand.StageNormal, demand.StageCaution, "13:08:30", "13:10:00", false, true},
	{demand.StageCaution, demand.StageShed, "13:09:30", "13:11:30", true, false},
	{demand.StageShed, demand.StageLimit, "13:29:20", "13:30:00", true, false},
	{demand.StageLimit, demand.StageNormal, "13:35:10", "13:35:10", false, true},
}

func checkTransitions(t *testing.T, got []demand.Transition) {
	t.Helper()
	if len(got) != len(wantTransitions) {
		t.Fatalf("%d transitions, want %d: %+v", len(got), len(wantTransitions), got)
	}
	for i, w := range wantTransitions {
		tr := got[i]
		if tr.From != w.from || tr.To != w.to {
			t.Errorf("transition %d: %s → %s, want %s → %s", i, tr.From, tr.To, w.from, w.to)
		}
		if tr.At.Before(at(w.earliest)) || tr.At.After(at(w.latest)) {
			t.Errorf("transition %d (%s → %s) at %s, want in %s..%s", i, tr.From, tr.To, tr.At.In(tokyo).Format("15:04:05"), w.earliest, w.latest)
		}
	}
}

// fakeStore serves fixed samples, counts calls and concurrent calls, and
// can hold calls until released.
type fakeStore struct {
	power  []demand.Sample
	energy []demand.EnergySample

	mu       sync.Mutex
	calls    []span
	hold     chan struct{} // when set, SitePower waits for it
	fail     error
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

type span struct{ from, to time.Time }

func (f *fakeStore) SitePower(ctx context.Context, _ string, from, to time.Time, _ time.Duration) ([]demand.Sample, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, span{from, to})
	hold, fail := f.hold, f.fail
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	lo := sort.Search(len(f.power), func(i int) bool { return !f.power[i].Time.Before(from) })
	hi := sort.Search(len(f.power), func(i int) bool { return !f.power[i].Time.Before(to) })
	return append([]demand.Sample(nil), f.power[lo:hi]...), nil
}

func (f *fakeStore) SiteEnergy(_ context.Context, _ string, from, to time.Time, _ time.Duration) ([]demand.EnergySample, error) {
	// Energy is stamped at its window's end: (from, to].
	lo := sort.Search(len(f.energy), func(i int) bool { return f.energy[i].Time.After(from) })
	hi := sort.Search(len(f.energy), func(i int) bool { return f.energy[i].Time.After(to) })
	if f.energy == nil {
		return nil, nil
	}
	return append([]demand.EnergySample(nil), f.energy[lo:hi]...), nil
}

// memPoints keeps what the controller writes.
type memPoints struct {
	mu  sync.Mutex
	pts []point.Point
}

func (m *memPoints) Write(_ context.Context, pts []point.Point) error {
	for _, p := range pts {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	m.pts = append(m.pts, pts...)
	m.mu.Unlock()
	return nil
}

func (m *memPoints) of(measurement string) []point.Point {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []point.Point
	for _, p := range m.pts {
		if p.Measurement == measurement {
			out = append(out, p)
		}
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
