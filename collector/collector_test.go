package collector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/setsuden/setsuden/collector/point"
)

type memSink struct {
	mu  sync.Mutex
	pts []point.Point
}

func (m *memSink) Write(_ context.Context, pts []point.Point) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pts = append(m.pts, pts...)
	return nil
}

func (m *memSink) count(measurement, tag, val string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.pts {
		if p.Measurement == measurement && p.Tags[tag] == val {
			n++
		}
	}
	return n
}

// funcSource is a scheduler test double: the collector's contract with a
// source is only Name and Collect.
type funcSource struct {
	name string
	fn   func(ctx context.Context) ([]point.Point, error)
}

func (f funcSource) Name() string { return f.name }
func (f funcSource) Collect(ctx context.Context) ([]point.Point, error) {
	return f.fn(ctx)
}

func okSource(name string) funcSource {
	return funcSource{name, func(context.Context) ([]point.Point, error) {
		return []point.Point{{Measurement: "power", Tags: map[string]string{"meter": name},
			Fields: map[string]any{"kw": 1.5}, Time: time.Now()}}, nil
	}}
}

func TestHangingSourceDoesNotDelayOthers(t *testing.T) {
	sink := &memSink{}
	reg := prometheus.NewRegistry()
	hang := funcSource{"hung-meter", func(ctx context.Context) ([]point.Point, error) {
		<-ctx.Done() // a meter that never answers: only the poll deadline ends it
		return nil, errors.New("read input registers 0-11: i/o timeout")
	}}
	c, err := New(Config{Site: "dc1", Sink: sink, Registerer: reg},
		[]Scheduled{{okSource("good-meter"), 50 * time.Millisecond, "modbus"}, {hang, 200 * time.Millisecond, "modbus"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1100*time.Millisecond)
	defer cancel()
	_ = c.Run(ctx)

	good := sink.count("power", "meter", "good-meter")
	// 1.1 s at 50 ms is ~22 polls; allow for alignment and scheduling jitter.
	if good < 16 {
		t.Errorf("good meter polled %d times in 1.1 s at 50 ms; a hung meter must not delay it", good)
	}
	if n := sink.count("collector_errors", "source", "hung-meter"); n < 1 {
		t.Errorf("hung meter produced %d collector_errors points, want >= 1", n)
	}
	if sink.count("power", "site", "dc1") != good {
		t.Error("site tag missing on collected points")
	}
	st := c.Statuses()
	if len(st) != 2 || st[1].Name != "hung-meter" || !st[1].Failed || st[1].LastError == "" || st[0].Failed {
		t.Errorf("statuses = %+v", st)
	}
	if v := testutil.ToFloat64(c.errs.WithLabelValues("hung-meter", "modbus")); v < 1 {
		t.Errorf("setsuden_poll_errors_total{source=hung-meter} = %v", v)
	}
}

func TestFailingSourceBacksOffAndRecovers(t *testing.T) {
	sink := &memSink{}
	var mu sync.Mutex
	calls, failUntil := 0, 3
	src := funcSource{"flaky", func(context.Context) ([]point.Point, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= failUntil {
			return nil, errors.New("exception 6 (server device busy)")
		}
		return okSource("flaky").Collect(context.Background())
	}}
	c, err := New(Config{Site: "s", Sink: sink}, []Scheduled{{src, 20 * time.Millisecond, "modbus"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_ = c.Run(ctx)
	// Without backoff 600/20 = 30 calls; with 20,40,80 ms waits after
	// failures the three failures cost ~140 ms and then polling resumes.
	if calls < 10 || calls > 30 {
		t.Errorf("calls = %d", calls)
	}
	if st := c.Statuses()[0]; st.Failed || st.LastOK.IsZero() {
		t.Errorf("source should have recovered: %+v", st)
	}
}

func TestNextPollBackoff(t *testing.T) {
	now := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{6, 5 * time.Minute}, {60, 5 * time.Minute}} {
		got := nextPoll(now, 10*time.Second, 0, tc.failures, 5*time.Minute).Sub(now)
		if got != tc.want {
			t.Errorf("failures=%d: wait %v, want %v", tc.failures, got, tc.want)
		}
	}
	// With a phase, polls land on it, whatever time the last one ended.
	phase := 3700 * time.Millisecond
	for _, late := range []time.Duration{0, 5 * time.Millisecond, 900 * time.Millisecond} {
		at := now.Add(phase + late)
		next := nextPoll(at, 10*time.Second, phase, 0, 5*time.Minute)
		if want := now.Add(10*time.Second + phase); !next.Equal(want) {
			t.Errorf("poll ended %v after its phase: next %v, want %v", late, next.Sub(now), want.Sub(now))
		}
	}
}

func TestPhasesSpreadSources(t *testing.T) {
	buckets := make([]int, 10)
	for i := 0; i < 5000; i++ {
		p := phaseOf(fmt.Sprintf("pdu-%04d", i), time.Second)
		if p < 0 || p >= time.Second {
			t.Fatalf("phase %v outside the interval", p)
		}
		buckets[p/(100*time.Millisecond)]++
	}
	for i, n := range buckets {
		if n < 350 || n > 650 {
			t.Errorf("tenth %d of the interval holds %d of 5000 sources, want about 500", i, n)
		}
	}
}

func TestNewRejectsDuplicatesAndBadInterval(t *testing.T) {
	if _, err := New(Config{Sink: &memSink{}}, []Scheduled{{okSource("a"), time.Second, "x"}, {okSource("a"), time.Second, "x"}}); err == nil {
		t.Error("duplicate source accepted")
	}
	if _, err := New(Config{Sink: &memSink{}}, []Scheduled{{okSource("a"), 0, "x"}}); err == nil {
		t.Error("zero interval accepted")
	}
}

// historySource fails a few polls, then recovers; it remembers its own
// readings (like an oBIX history) and hands back the gap.
type historySource struct {
	mu    sync.Mutex
	calls int
	asked [][2]time.Time
}

func (h *historySource) Name() string { return "gw" }
func (h *historySource) Collect(context.Context) ([]point.Point, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.calls >= 2 && h.calls <= 3 {
		return nil, errors.New("gateway unreachable")
	}
	return okSource("gw").Collect(context.Background())
}
func (h *historySource) Backfill(_ context.Context, from, to time.Time) ([]point.Point, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, [2]time.Time{from, to})
	return []point.Point{{Measurement: "power", Tags: map[string]string{"meter": "gw", "backfill": "yes"},
		Fields: map[string]any{"kw": 2.0}, Time: from.Add(to.Sub(from) / 2)}}, nil
}

func TestRecoveredSourceBackfillsItsGap(t *testing.T) {
	sink := &memSink{}
	h := &historySource{}
	c, err := New(Config{Site: "s", Sink: sink}, []Scheduled{{h, 20 * time.Millisecond, "obix"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_ = c.Run(ctx)
	if len(h.asked) != 1 {
		t.Fatalf("backfill asked %d times, want once after the recovery", len(h.asked))
	}
	from, to := h.asked[0][0], h.asked[0][1]
	if !from.Before(to) || to.Sub(from) < 40*time.Millisecond {
		t.Errorf("gap asked [%v, %v] is not the outage", from, to)
	}
	if n := sink.count("power", "backfill", "yes"); n != 1 {
		t.Errorf("%d backfilled points written, want 1", n)
	}
	if n := sink.count("power", "site", "s"); n < 5 {
		t.Errorf("only %d points, site tag missing on backfill?", n)
	}
}

// A poll that overruns its slot is followed at once, not a slot later.
func TestLatePollDoesNotSkipTheNextSlot(t *testing.T) {
	sink := &memSink{}
	var mu sync.Mutex
	n := 0
	slow := funcSource{"slow", func(context.Context) ([]point.Point, error) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if k%2 == 0 {
			time.Sleep(130 * time.Millisecond) // overruns a 100 ms slot
		}
		return okSource("slow").Collect(context.Background())
	}}
	c, err := New(Config{Site: "s", Sink: sink}, []Scheduled{{slow, 100 * time.Millisecond, "modbus"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1050*time.Millisecond)
	defer cancel()
	_ = c.Run(ctx)
	// ~10 slots in 1.05 s; skipping after each late poll would give ~7.
	if got := sink.count("power", "meter", "slow"); got < 9 {
		t.Errorf("%d samples in ~10 slots: late polls skipped slots", got)
	}
}

// deadlineSource records how the collector calls a DeadlineSource.
type deadlineSource struct {
	funcSource
	mu             sync.Mutex
	collectCalled  bool
	starts, limits []time.Time
	ctxDeadline    []bool
}

func (d *deadlineSource) Collect(ctx context.Context) ([]point.Point, error) {
	d.mu.Lock()
	d.collectCalled = true
	d.mu.Unlock()
	return d.fn(ctx)
}

func (d *deadlineSource) CollectBy(ctx context.Context, deadline time.Time) ([]point.Point, error) {
	_, has := ctx.Deadline()
	d.mu.Lock()
	d.starts, d.limits, d.ctxDeadline = append(d.starts, time.Now()), append(d.limits, deadline), append(d.ctxDeadline, has)
	d.mu.Unlock()
	return d.fn(ctx)
}

// A DeadlineSource gets the sample's deadline (one interval after the poll
// starts) as an argument, under the collector's own context, which carries
// no per-poll deadline; Collect is not called.
func TestDeadlineSourceGetsTheSampleDeadline(t *testing.T) {
	src := &deadlineSource{funcSource: okSource("m1")}
	sink := &memSink{}
	const interval = 100 * time.Millisecond
	c, err := New(Config{Site: "s", Sink: sink}, []Scheduled{{Source: src, Interval: interval, Kind: "modbus"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(350*time.Millisecond, cancel)
	_ = c.Run(ctx)
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.collectCalled {
		t.Error("Collect called on a DeadlineSource")
	}
	if len(src.starts) < 3 {
		t.Fatalf("%d polls in 350ms at 100ms", len(src.starts))
	}
	for i := range src.starts {
		if src.ctxDeadline[i] {
			t.Errorf("poll %d: the context carries a deadline", i)
		}
		if d := src.limits[i].Sub(src.starts[i]); d <= 0 || d > interval {
			t.Errorf("poll %d: deadline %v after the poll started, want within one interval (%v)", i, d, interval)
		}
	}
	if n := sink.count("power", "meter", "m1"); n != len(src.starts) {
		t.Errorf("%d points for %d polls", n, len(src.starts))
	}
}

// setsuden_source_up is 1 while a source answered within 3 of its
// intervals and 0 for one that never answered.
func TestSourceUpGauge(t *testing.T) {
	sink := &memSink{}
	reg := prometheus.NewRegistry()
	dead := funcSource{"dead", func(context.Context) ([]point.Point, error) { return nil, errors.New("connection refused") }}
	c, err := New(Config{Site: "s", Sink: sink, Registerer: reg},
		[]Scheduled{{okSource("alive"), 50 * time.Millisecond, "modbus"}, {dead, 50 * time.Millisecond, "obix"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_ = c.Run(ctx)
	st := c.Statuses()
	if !st[0].Up || st[1].Up || st[0].StaleAfter != 150*time.Millisecond {
		t.Errorf("statuses %+v, want alive up (stale after 150ms), dead down", st)
	}
	want := `
# HELP setsuden_source_up 1 while the source has answered within its last 3 intervals, else 0 (its readings are then stale).
# TYPE setsuden_source_up gauge
setsuden_source_up{kind="modbus",source="alive"} 1
setsuden_source_up{kind="obix",source="dead"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "setsuden_source_up"); err != nil {
		t.Error(err)
	}
	// Three intervals after the last answer the source is down.
	time.Sleep(200 * time.Millisecond)
	if c.Statuses()[0].Up {
		t.Error("alive still up 200 ms (4 intervals) after its last poll")
	}
}
