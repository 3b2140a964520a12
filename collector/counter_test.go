package collector

import (
	"context"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

func TestNextCounter(t *testing.T) {
	const mod = 42949672.96 // UINT32 of 0.01 kWh
	for _, tc := range []struct {
		name      string
		prev      CounterState
		ok        bool
		raw, mod  float64
		want      float64
		wantReset bool
	}{
		{"first reading starts at the register", CounterState{}, false, 1234.5, mod, 1234.5, false},
		{"normal growth", CounterState{Raw: 1000, Total: 5000}, true, 1002.25, mod, 5002.25, false},
		{"no change", CounterState{Raw: 1000, Total: 5000}, true, 1000, mod, 5000, false},
		{"wrap at modulus", CounterState{Raw: mod - 1.5, Total: 9e7}, true, 0.5, mod, 9e7 + 2, false},
		{"reset to zero is flagged, not a huge delta", CounterState{Raw: 25000, Total: 30000}, true, 0.3, mod, 30000, true},
		{"decrease without modulus is a reset", CounterState{Raw: 500, Total: 700}, true, 499, 0, 700, true},
		{"meter swap to a larger value is growth but a swap to smaller is a reset", CounterState{Raw: 500, Total: 700}, true, 100, 0, 700, true},
	} {
		got, reset := NextCounter(tc.prev, tc.ok, tc.raw, tc.mod)
		if diff := got.Total - tc.want; diff > 1e-6 || diff < -1e-6 || reset != tc.wantReset || got.Raw != tc.raw {
			t.Errorf("%s: got %+v reset=%v, want total %v reset=%v", tc.name, got, reset, tc.want, tc.wantReset)
		}
	}
}

type fixedStore map[string]CounterState

func (f fixedStore) LastCounters(_ context.Context, c point.Counter) (map[string]CounterState, error) {
	out := map[string]CounterState{}
	for meter, st := range f {
		out[SeriesKey(map[string]string{"meter": meter})] = st
	}
	return out, nil
}

func TestCountersApplyRestoresAndFlags(t *testing.T) {
	cs := &counters{store: fixedStore{"m1": {Raw: 100, Total: 90100}}, state: map[string]CounterState{}}
	spec := []point.Counter{{Measurement: "power", Field: "kwh", Modulus: 0}}
	mk := func(meter string, kwh float64) []point.Point {
		return []point.Point{{Measurement: "power", Tags: map[string]string{"meter": meter},
			Fields: map[string]any{"kw": 1.0, "kwh": kwh}, Time: time.Now()}}
	}
	var logs []string
	logf := func(msg string, _ ...any) { logs = append(logs, msg) }
	// One key cache, as a source's loop has: m2's fresh tags must not be
	// taken for m1's.
	keys := make([]keyCache, len(spec))
	p := mk("m1", 101)
	cs.apply(context.Background(), spec, keys, p, logf)
	if p[0].Fields["kwh_total"] != 90101.0 {
		t.Errorf("restored total = %v, want 90101", p[0].Fields["kwh_total"])
	}
	p = mk("m1", 3) // meter reset
	cs.apply(context.Background(), spec, keys, p, logf)
	if p[0].Fields["kwh_total"] != 90101.0 || p[0].Fields["kwh_reset"] != true || len(logs) != 1 {
		t.Errorf("after reset: %v, logs %v", p[0].Fields, logs)
	}
	p = mk("m2", 7) // unknown to the store: starts at the register
	cs.apply(context.Background(), spec, keys, p, logf)
	if p[0].Fields["kwh_total"] != 7.0 {
		t.Errorf("fresh total = %v", p[0].Fields["kwh_total"])
	}
}

// A source that hands out the same Tags map every sample has its counter
// keys built once; the totals are those of building them every time.
func TestCounterKeysCachedForReusedTags(t *testing.T) {
	spec := []point.Counter{{Measurement: "power", Field: "kwh", Modulus: 100}}
	tags := map[string]string{"meter": "m1", "site": "s"}
	cached, fresh := &counters{state: map[string]CounterState{}}, &counters{state: map[string]CounterState{}}
	keys := make([]keyCache, 1)
	logf := func(string, ...any) {}
	for i, kwh := range []float64{10, 20, 95, 5, 30} { // 95 -> 5 wraps at 100
		a := []point.Point{{Measurement: "power", Tags: tags, Fields: map[string]any{"kwh": kwh}}}
		b := []point.Point{{Measurement: "power", Tags: map[string]string{"meter": "m1", "site": "s"}, Fields: map[string]any{"kwh": kwh}}}
		cached.apply(context.Background(), spec, keys, a, logf)
		fresh.apply(context.Background(), spec, make([]keyCache, 1), b, logf) // a new cache: keys built afresh
		if a[0].Fields["kwh_total"] != b[0].Fields["kwh_total"] {
			t.Errorf("sample %d: total %v with cached keys, %v without", i, a[0].Fields["kwh_total"], b[0].Fields["kwh_total"])
		}
	}
	if got := cached.state[counterKey(spec[0], tags)].Total; got != 130 {
		t.Errorf("total %v, want 130 (10, +10, +75, +10 across the wrap, +25)", got)
	}
	if k := keys[0].get(spec[0], tags); k != counterKey(spec[0], tags) {
		t.Errorf("cached key %q, want %q", k, counterKey(spec[0], tags))
	}
	other := map[string]string{"meter": "m2", "site": "s"}
	if k := keys[0].get(spec[0], other); k != counterKey(spec[0], other) {
		t.Errorf("another map got key %q, want %q", k, counterKey(spec[0], other))
	}
}

// A counter rising by more than its meter's rated power can deliver in the
// elapsed time is a reset (or a swapped meter): the 99,926 kWh in
// 16 s on a meter at 123 kW.
func TestAdvanceCounterBoundsRiseByRatedPower(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	spec := point.Counter{Measurement: "power", Field: "kwh", Modulus: 42949672.96, RatedKW: 200}
	prev := CounterState{Raw: 1000, Total: 5000, Time: t0}
	for _, tc := range []struct {
		name      string
		spec      point.Counter
		prev      CounterState
		raw       float64
		at        time.Time
		want      float64
		wantReset bool
	}{
		{"rise within rated power", spec, prev, 1000.5, t0.Add(16 * time.Second), 5000.5, false},
		{"the field report: 99,926 kWh in 16 s", spec, prev, 100926, t0.Add(16 * time.Second), 5000, true},
		{"same rise over 30 days is energy", spec, prev, 100926, t0.Add(30 * 24 * time.Hour), 104926, false},
		{"just above 1.5 x rated over an hour", spec, prev, 1000 + 301, t0.Add(time.Hour - time.Second), 5000, true},
		{"wrap is bounded too", spec, CounterState{Raw: spec.Modulus - 2, Total: 9e7, Time: t0}, 4e6, t0.Add(time.Minute), 9e7, true},
		{"unknown rating: rise accepted", point.Counter{Field: "kwh"}, prev, 100926, t0.Add(16 * time.Second), 104926, false},
		{"unknown previous time (old store): rise accepted", spec, CounterState{Raw: 1000, Total: 5000}, 100926, t0, 104926, false},
		{"decrease is still a reset", spec, prev, 10, t0.Add(time.Minute), 5000, true},
	} {
		got, reset := AdvanceCounter(tc.prev, true, tc.raw, tc.at, tc.spec)
		if diff := got.Total - tc.want; diff > 1e-6 || diff < -1e-6 || reset != tc.wantReset || got.Raw != tc.raw || !got.Time.Equal(tc.at) {
			t.Errorf("%s: got %+v reset=%v, want total %v reset=%v", tc.name, got, reset, tc.want, tc.wantReset)
		}
	}
	if got := MaxRise(123, 16*time.Second); got < 0.8 || got > 1 {
		t.Errorf("MaxRise(123 kW, 16 s) = %v kWh, want 1.5 x 123 x 17 s = 0.87", got)
	}
}

// slowStore answers LastCounters only when released, like an InfluxDB
// frozen at start.
type slowStore struct {
	release chan struct{}
	state   map[string]CounterState
}

func (s slowStore) LastCounters(ctx context.Context, _ point.Counter) (map[string]CounterState, error) {
	select {
	case <-s.release:
		return s.state, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestCounterRestoreDoesNotHoldSamples: while the store does not answer, a
// sample waits at most the restore wait and goes out with its register but
// no total; once the store answers, the total continues from the stored one.
func TestCounterRestoreDoesNotHoldSamples(t *testing.T) {
	store := slowStore{release: make(chan struct{}), state: map[string]CounterState{SeriesKey(map[string]string{"meter": "m1"}): {Raw: 100, Total: 90100}}}
	cs := &counters{store: store, state: map[string]CounterState{}, wait: 50 * time.Millisecond}
	spec := []point.Counter{{Measurement: "power", Field: "kwh"}}
	keys := make([]keyCache, 1)
	mk := func(kwh float64, at time.Time) []point.Point {
		return []point.Point{{Measurement: "power", Tags: map[string]string{"meter": "m1"}, Fields: map[string]any{"kwh": kwh}, Time: at}}
	}
	t0 := time.Now()
	start := time.Now()
	p := mk(101, t0)
	cs.apply(context.Background(), spec, keys, p, func(string, ...any) {})
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("a sample waited %s for a store that does not answer", waited)
	}
	if _, has := p[0].Fields["kwh_total"]; has || p[0].Fields["kwh"] != 101.0 {
		t.Errorf("pending restore: fields %v, want the register and no total", p[0].Fields)
	}
	close(store.release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p = mk(102, t0.Add(time.Minute))
		cs.apply(context.Background(), spec, keys, p, func(string, ...any) {})
		if _, has := p[0].Fields["kwh_total"]; has || time.Now().After(deadline) {
			break
		}
	}
	if p[0].Fields["kwh_total"] != 90102.0 {
		t.Errorf("after the store answered: total %v, want 90102 (stored 90100 + 2)", p[0].Fields["kwh_total"])
	}
}
