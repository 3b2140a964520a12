package collector

import (
	"context"
	"math"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/setsuden/setsuden/collector/point"
)

// CounterSource is implemented by sources that report cumulative counters
// (energy registers). Counters is asked once, when the collector starts
// polling the source: a source's counters do not change while it runs.
type CounterSource interface {
	Counters() []point.Counter
}

// CounterState is the last known reading of one counter series.
type CounterState struct {
	Raw   float64 // the register as read (after scale)
	Total float64 // the monotonic value written as <field>_total
	// Time is when Raw was read; zero when unknown (then a rise is not
	// checked against the meter's rated power).
	Time time.Time
}

// CounterStore restores counter state after a restart (adapters/influx
// reads the last stored values), so <field>_total stays monotonic across
// collector restarts.
//
// LastCounters returns the last state of every series of a counter at once,
// keyed by the series' tags (SeriesKey): one query at start instead of one
// per meter, which with thousands of meters delayed the first polls by
// seconds (bench/collector).
type CounterStore interface {
	LastCounters(ctx context.Context, c point.Counter) (map[string]CounterState, error)
}

// SeriesKey identifies a series by its tags, for CounterStore results.
func SeriesKey(tags map[string]string) string { return sortedTags(tags) }

// wrapShare: a decrease is taken as a wrap-around only if the value that
// would have been added is under this share of the modulus; anything else
// is a reset (or a meter swap) and is flagged, never turned into a huge
// delta.
const wrapShare = 0.1

// NextCounter advances a counter by one reading. It is a pure function:
// (state, raw) -> (new state, reset flag).
//   - first reading (ok=false): Total = Raw;
//   - raw >= last: Total grows by the difference;
//   - raw < last, and the register could have wrapped (modulus > 0 and
//     raw+modulus-last <= wrapShare*modulus): Total grows by that amount;
//   - otherwise a reset: Total unchanged, reset = true. The energy of that
//     one interval is unknown; the energy rules integrate power over it.
func NextCounter(prev CounterState, ok bool, raw, modulus float64) (CounterState, bool) {
	if !ok {
		return CounterState{Raw: raw, Total: raw}, false
	}
	d := raw - prev.Raw
	switch {
	case d >= 0:
		return CounterState{Raw: raw, Total: prev.Total + d}, false
	case modulus > 0 && raw+modulus-prev.Raw <= wrapShare*modulus:
		return CounterState{Raw: raw, Total: prev.Total + raw + modulus - prev.Raw}, false
	default:
		return CounterState{Raw: raw, Total: prev.Total}, true
	}
}

// ratedSlack is how far above its rated power a meter's counter may rise
// before the rise is taken for a reset: meters measure overload up to about
// 120 % of their rated current, and a register's resolution and the
// sampling jitter add a little more.
const ratedSlack = 1.5

// MaxRise is the most energy (kWh) a meter of ratedKW can deliver in
// elapsed, with ratedSlack and one second of clock jitter; +Inf when the
// rating is unknown (0).
func MaxRise(ratedKW float64, elapsed time.Duration) float64 {
	if ratedKW <= 0 {
		return math.Inf(1)
	}
	return ratedSlack * ratedKW * (max(elapsed, 0) + time.Second).Hours()
}

// AdvanceCounter is NextCounter with the meter's rated power: a rise (or
// a wrap) larger than the meter could deliver since the previous reading
// (MaxRise of spec.RatedKW) is a reset or a swapped meter, flagged like a
// decrease and never added as energy. The new state carries at.
func AdvanceCounter(prev CounterState, ok bool, raw float64, at time.Time, spec point.Counter) (CounterState, bool) {
	next, reset := NextCounter(prev, ok, raw, spec.Modulus)
	next.Time = at
	if ok && !reset && !prev.Time.IsZero() && next.Total-prev.Total > MaxRise(spec.RatedKW, at.Sub(prev.Time)) {
		return CounterState{Raw: raw, Total: prev.Total, Time: at}, true
	}
	return next, reset
}

// restoreWait bounds how long a sample waits for the store's answer on
// first use of a counter: InfluxDB frozen at start must not hold every
// meter's poll (the answer is still taken when it comes).
const restoreWait = time.Second

// counters tracks every counter series of one collector.
type counters struct {
	store CounterStore
	mu    sync.Mutex
	state map[string]CounterState // key: measurement, field, sorted tags

	loadMu     sync.Mutex
	restored   map[string]map[string]CounterState // per measurement+field: the store's answer
	restoreErr map[string]error                   // its error, reported to one caller
	loading    map[string]chan struct{}           // closed when that answer is in
	wait       time.Duration                      // restoreWait unless set (tests)
}

// restore returns the stored state of one series, loading every series of
// the counter on first use. The load runs in the background: a sample
// waits for it at most restoreWait, then goes on with pending set (its
// total is left out, its register kept) and a later sample takes the
// answer.
func (cs *counters) restore(ctx context.Context, spec point.Counter, tags map[string]string) (st CounterState, found, pending bool, err error) {
	k := spec.Measurement + "\x00" + spec.Field
	cs.loadMu.Lock()
	if all, ok := cs.restored[k]; ok {
		err = cs.restoreErr[k]
		delete(cs.restoreErr, k)
		cs.loadMu.Unlock()
		st, found = all[SeriesKey(tags)]
		return st, found, false, err
	}
	done := cs.loading[k]
	if done == nil {
		done = make(chan struct{})
		if cs.loading == nil {
			cs.loading = map[string]chan struct{}{}
		}
		cs.loading[k] = done
		go func() {
			all, err := cs.store.LastCounters(ctx, spec)
			cs.loadMu.Lock()
			if cs.restored == nil {
				cs.restored, cs.restoreErr = map[string]map[string]CounterState{}, map[string]error{}
			}
			// Asked once: after a failure (InfluxDB down at start) every
			// series of the counter starts from its register, said once in
			// the log.
			cs.restored[k] = all
			if err != nil {
				cs.restoreErr[k] = err
			}
			delete(cs.loading, k)
			cs.loadMu.Unlock()
			close(done)
		}()
	}
	cs.loadMu.Unlock()
	wait := cs.wait
	if wait == 0 {
		wait = restoreWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return cs.restore(ctx, spec, tags)
	case <-t.C:
	case <-ctx.Done():
	}
	return CounterState{}, false, true, nil
}

func counterKey(c point.Counter, tags map[string]string) string {
	return c.Measurement + "\x00" + c.Field + "\x00" + sortedTags(tags)
}

// keyCache holds the key of one counter series with the Tags map it was
// built from. A source that hands out the same Tags map with every sample
// (point.Point: then read-only) gets its keys built once instead of sorted
// and joined on every poll; the cached pointer keeps that map alive, so no
// other map can take its address.
type keyCache struct {
	tags unsafe.Pointer
	key  string
}

func (k *keyCache) get(spec point.Counter, tags map[string]string) string {
	id := reflect.ValueOf(tags).UnsafePointer()
	if k.key == "" || k.tags != id {
		k.tags, k.key = id, counterKey(spec, tags)
	}
	return k.key
}

// apply adds <field>_total and <field>_reset to the points that carry a
// counter field. keys has one cache per spec.
func (cs *counters) apply(ctx context.Context, specs []point.Counter, keys []keyCache, pts []point.Point, log func(msg string, args ...any)) {
	for s, spec := range specs {
		for i := range pts {
			p := &pts[i]
			if p.Measurement != spec.Measurement {
				continue
			}
			raw, isNum := p.Fields[spec.Field].(float64)
			if !isNum {
				continue
			}
			key := keys[s].get(spec, p.Tags)
			cs.mu.Lock()
			prev, ok := cs.state[key]
			cs.mu.Unlock()
			if !ok && cs.store != nil {
				st, found, pending, err := cs.restore(ctx, spec, p.Tags)
				if pending {
					// The store has not answered yet: the register is
					// stored, the total waits for the answer.
					continue
				}
				if err != nil {
					log("cannot restore counter state; the total restarts from the register", "field", spec.Field, "tags", p.Tags, "err", err)
				}
				prev, ok = st, found && err == nil
			}
			next, reset := AdvanceCounter(prev, ok, raw, p.Time, spec)
			cs.mu.Lock()
			cs.state[key] = next
			cs.mu.Unlock()
			p.Fields[spec.Field+"_total"] = next.Total
			if reset {
				p.Fields[spec.Field+"_reset"] = true
				why := "decrease that is not a wrap"
				if raw >= prev.Raw || (spec.Modulus > 0 && raw+spec.Modulus-prev.Raw <= wrapShare*spec.Modulus) {
					why = "rise larger than the meter's rated power can deliver"
				}
				log("counter reset detected: total kept, interval flagged", "field", spec.Field, "tags", p.Tags,
					"previous", prev.Raw, "now", raw, "at", p.Time.Format(time.RFC3339), "reason", why,
					"rated_kw", spec.RatedKW, "since", p.Time.Sub(prev.Time).Round(time.Millisecond).String())
			}
		}
	}
}
