package obix

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
)

var _ collector.Backfiller = (*Source)(nil)

// memSink keeps every write of the collector, in order.
type memSink struct {
	mu     sync.Mutex
	writes [][]point.Point
}

func (s *memSink) Write(_ context.Context, pts []point.Point) error {
	cp := make([]point.Point, len(pts))
	for i, p := range pts {
		cp[i] = point.Point{Measurement: p.Measurement, Tags: maps.Clone(p.Tags), Fields: maps.Clone(p.Fields), Time: p.Time}
	}
	s.mu.Lock()
	s.writes = append(s.writes, cp)
	s.mu.Unlock()
	return nil
}

func (s *memSink) snapshot() [][]point.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.writes)
}

// TestCollectorBackfillsOutage runs a real collector over a Source against
// the fake gateway, cuts the gateway off for a few polls while its
// histories keep logging, and checks that the records of the gap are
// written once, when the source recovers, with their own timestamps and
// values converted as in a sample, and that no live sample is repeated.
func TestCollectorBackfillsOutage(t *testing.T) {
	for _, mode := range []string{"batch", "watch"} {
		t.Run(mode, func(t *testing.T) { testCollectorBackfill(t, mode == "watch") })
	}
}

func testCollectorBackfill(t *testing.T, useWatch bool) {
	const (
		interval = 100 * time.Millisecond
		outage   = 3 // failed polls
	)
	f := newFakeServer(t, "testdata/source-backfill", false)
	for path, file := range map[string]string{
		"/obix/":                             "lobby.xml",
		"/obix/watchService/":                "watch-service.xml",
		"/obix/config/PDU1/ActivePower/":     "pdu1-active-power.xml",
		"/obix/histories/PDU1/ActivePower/":  "active-power-history.xml",
		"/obix/config/PDU1/Voltage/":         "pdu1-voltage.xml",
		"/obix/config/PDU1/Voltage/history/": "voltage-history.xml",
		"/obix/config/PDU1/PowerFactor/":     "pdu1-pf.xml",
	} {
		if err := f.serve("GET", path, file, 200); err != nil {
			t.Fatal(err)
		}
	}
	const (
		powerHist   = "/obix/histories/PDU1/ActivePower/"
		voltageHist = "/obix/config/PDU1/Voltage/history/"
	)
	// Records outside any gap of this test, which must never be written.
	start := time.Now().Truncate(time.Millisecond)
	f.histories[powerHist] = []fakeRecord{{t: start.Add(-time.Hour), v: "99999"}, {t: start.Add(time.Hour), v: "99999"}}
	f.histories[voltageHist] = []fakeRecord{{t: start.Add(-time.Hour), v: "999"}, {t: start.Add(time.Hour), v: "999"}}
	f.unit[powerHist] = "obix:units/watt"
	f.unit[voltageHist] = "obix:units/null"
	f.historyCap = 2 // the gap takes more than one query

	// While the gateway cannot be reached, its stations keep logging: every
	// refused poll leaves one record in each history.
	type logged struct {
		t        time.Time
		kw, volt float64
	}
	var gap []logged // guarded by f.mu
	f.onDown = func(now time.Time) {
		k := len(gap) + 1
		rec := logged{t: now.Truncate(time.Millisecond), kw: 20 + 0.5*float64(k), volt: 230 + float64(k)}
		gap = append(gap, rec)
		f.histories[powerHist] = addRecord(f.histories[powerHist], fakeRecord{t: rec.t, v: strconv.Itoa(20000 + 500*k)})
		f.histories[voltageHist] = addRecord(f.histories[voltageHist], fakeRecord{t: rec.t, v: strconv.Itoa(230 + k)})
	}

	src, err := NewSource(SourceConfig{
		Name:   "bms",
		Client: &Client{BaseURL: f.srv.URL + "/obix/", Username: fakeUser, Password: fakePass, HTTP: f.srv.Client()},
		Points: []PointMapping{
			{Href: "/obix/config/PDU1/ActivePower/", Measurement: "power", Field: "kw", Tags: map[string]string{"meter": "pdu1"}, History: powerHist},
			{Href: "/obix/config/PDU1/Voltage/", Measurement: "power", Field: "voltage_v", Tags: map[string]string{"meter": "pdu1"}},
			{Href: "/obix/config/PDU1/PowerFactor/", Measurement: "power", Field: "pf", Tags: map[string]string{"meter": "pdu1"}},
		},
		UseWatch: useWatch,
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	c, err := collector.New(collector.Config{
		Site: "dc1", Sink: sink, MaxBackoff: interval,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, []collector.Scheduled{{Source: src, Interval: interval, Kind: "obix"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	// counts is what the sink has seen: live samples (they carry pf, which
	// has no history), failed polls, and live samples after the last failure.
	counts := func() (live, failed, liveAfter int) {
		for _, w := range sink.snapshot() {
			for _, p := range w {
				switch {
				case p.Measurement == "collector_errors":
					failed++
					liveAfter = 0
				case p.Fields["pf"] != nil:
					live++
					liveAfter++
				}
			}
		}
		return live, failed, liveAfter
	}
	waitFor(t, "two samples before the outage", func() bool { live, _, _ := counts(); return live >= 2 })
	f.mu.Lock()
	f.down = outage
	f.mu.Unlock()
	waitFor(t, "the outage and two samples after it", func() bool { _, failed, after := counts(); return failed >= outage && after >= 2 })
	cancel()
	<-done

	f.mu.Lock()
	want := slices.Clone(gap)
	f.mu.Unlock()
	if len(want) != outage {
		t.Fatalf("the fake logged %d records, want %d", len(want), outage)
	}
	writes := sink.snapshot()
	var (
		failures   int
		byTime     = map[int64][]point.Point{} // power points by timestamp
		backfillAt = -1                        // index of the write holding the backfill
		lastFail   = -1
		firstLive  = -1 // first live sample after the outage
	)
	for i, w := range writes {
		for _, p := range w {
			if p.Measurement == "collector_errors" {
				failures++
				lastFail = i
				continue
			}
			if p.Measurement != "power" {
				t.Fatalf("unexpected point %+v", p)
			}
			byTime[p.Time.UnixNano()] = append(byTime[p.Time.UnixNano()], p)
			if p.Fields["pf"] == nil {
				if backfillAt >= 0 && backfillAt != i {
					t.Errorf("backfilled points in writes %d and %d, want one write", backfillAt, i)
				}
				backfillAt = i
			} else if lastFail >= 0 && firstLive < 0 {
				firstLive = i
			}
		}
	}
	if failures != outage {
		t.Errorf("%d failed polls written, want %d", failures, outage)
	}
	if backfillAt < 0 || backfillAt < lastFail || backfillAt > firstLive {
		t.Errorf("backfill written at write %d, want between the last failure (%d) and the first sample after it (%d)", backfillAt, lastFail, firstLive)
	}
	for ts, pts := range byTime {
		if len(pts) != 1 {
			t.Errorf("%d power points at %s, want 1: %v", len(pts), time.Unix(0, ts).Format(time.RFC3339Nano), pts)
		}
	}
	for _, rec := range want {
		pts := byTime[rec.t.UnixNano()]
		if len(pts) != 1 {
			t.Errorf("gap record at %s: %d points written, want 1", rec.t.Format(time.RFC3339Nano), len(pts))
			continue
		}
		p := pts[0]
		wantFields := map[string]any{"kw": rec.kw, "voltage_v": rec.volt}
		wantTags := map[string]string{"meter": "pdu1", "site": "dc1"}
		if !maps.Equal(p.Fields, wantFields) || !maps.Equal(p.Tags, wantTags) {
			t.Errorf("gap record at %s written as %v %v, want %v %v", rec.t.Format(time.RFC3339Nano), p.Tags, p.Fields, wantTags, wantFields)
		}
	}
	// Every backfilled point is a gap record: the records outside the gap
	// and those of the live samples' times are not written again.
	var backfilled []string
	for _, p := range writes[max(backfillAt, 0)] {
		backfilled = append(backfilled, p.Time.Format(time.RFC3339Nano))
	}
	var wantTimes []string
	for _, rec := range want {
		wantTimes = append(wantTimes, rec.t.Format(time.RFC3339Nano))
	}
	if !slices.Equal(backfilled, wantTimes) {
		t.Errorf("backfilled %v, want %v", backfilled, wantTimes)
	}
	for _, st := range c.Statuses() {
		if st.Failed || st.ConsecutiveFailures != 0 {
			t.Errorf("source still failed after recovery: %+v", st)
		}
	}
}

// addRecord inserts r into recs, keeping them in time order.
func addRecord(recs []fakeRecord, r fakeRecord) []fakeRecord {
	i, _ := slices.BinarySearchFunc(recs, r.t, func(a fakeRecord, t time.Time) int { return a.t.Compare(t) })
	return slices.Insert(recs, i, r)
}

// waitFor polls cond until it holds, or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("timed out waiting for %s", what))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
