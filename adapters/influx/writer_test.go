package influx_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

func powerPoints(meter string, n int, start time.Time) []point.Point {
	pts := make([]point.Point, n)
	for i := range pts {
		pts[i] = point.Point{Measurement: "power",
			Tags:   map[string]string{"site": "dc1", "meter": meter},
			Fields: map[string]any{"kw": 10 + float64(i)/100, "kwh": float64(i)},
			Time:   start.Add(time.Duration(i) * time.Second)}
	}
	return pts
}

func TestWriterWritesAndReaderReads(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	w, err := influx.NewWriter(influx.WriterConfig{URL: d.URL, Bucket: d.Bucket(), BatchSize: 100, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	if err := w.Write(ctx, append(powerPoints("pdu-a", 250, start), powerPoints("pdu-b", 150, start)...)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(w.Metrics()[0]); got != 400 {
		t.Errorf("points_written_total = %v, want 400", got)
	}
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()
	counts, err := r.CountBy(ctx, "power", "kw", "meter", start.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if counts["pdu-a"] != 250 || counts["pdu-b"] != 150 {
		t.Errorf("counts = %v, want pdu-a 250, pdu-b 150", counts)
	}
	// [start, start+10 s): ten samples of each meter, the one at the stop
	// time excluded although InfluxDB 1.8's range includes it.
	if n, err := r.CountRange(ctx, "power", "kw", start, start.Add(10*time.Second)); err != nil || n != 20 {
		t.Errorf("CountRange over 10 s = %d (%v), want 20", n, err)
	}
	last, err := r.Last(ctx, "power", "dc1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, v := range last {
		got[v.Tags["meter"]+"/"+v.Field] = v.Value
	}
	if got["pdu-a/kw"] != 12.49 || got["pdu-b/kwh"] != 149.0 {
		t.Errorf("last values = %v", got)
	}

	// Counter state for a collector restart: newest raw and total.
	cp := powerPoints("pdu-c", 3, start)
	for i := range cp {
		cp[i].Fields["kwh_total"] = 1e6 + float64(i)
	}
	_ = w.Write(ctx, cp)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := r.LastCounters(ctx, "power", "kwh")
	if err != nil {
		t.Fatal(err)
	}
	counters := map[string][2]float64{}
	for _, c := range all {
		counters[c.Tags["meter"]] = [2]float64{c.Raw, c.Total}
	}
	// pdu-c has both values; pdu-a and pdu-b have no kwh_total and are left out.
	if len(counters) != 1 || counters["pdu-c"] != [2]float64{2, 1e6 + 2} {
		t.Errorf("LastCounters = %v, want only pdu-c: raw 2, total 1000002", counters)
	}
}

func TestWriterRejectsBadPointButKeepsOthers(t *testing.T) {
	w, err := influx.NewWriter(influx.WriterConfig{URL: "http://127.0.0.1:1", Bucket: "x/y"})
	if err != nil {
		t.Fatal(err)
	}
	pts := powerPoints("m", 3, time.Now())
	pts[1].Fields["bad"] = []int{1}
	err = w.Write(context.Background(), pts)
	if err == nil || !strings.Contains(err.Error(), `field "bad"`) {
		t.Errorf("err = %v, want one naming field \"bad\"", err)
	}
	if w.QueueLen() != 2 {
		t.Errorf("queue = %d, want the 2 good points", w.QueueLen())
	}
}

func TestWriterKeepsPointsThroughOutage(t *testing.T) {
	d := testinflux.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := influx.NewWriter(influx.WriterConfig{URL: d.URL, Bucket: d.Bucket(), BatchSize: 50,
		FlushInterval: 50 * time.Millisecond, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()

	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := w.Write(ctx, powerPoints("before", 100, start)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return w.QueueLen() == 0 }, "first batch delivered")

	port := strings.TrimPrefix(d.URL, "http://127.0.0.1:")
	d.Kill()
	if err := w.Write(ctx, powerPoints("during", 500, start)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if w.QueueLen() != 500 {
		t.Fatalf("queue during outage = %d, want 500", w.QueueLen())
	}
	var p int
	fmt.Sscan(port, &p)
	d2, err := influx.StartInfluxd(context.Background(), influx.InfluxdConfig{Dir: d.Dir(), Port: p})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Stop()
	waitFor(t, func() bool { return w.QueueLen() == 0 }, "queue drained after influxd came back")
	cancel()
	<-done
	r := influx.NewReader(d2.URL, "", "", d2.Bucket())
	defer r.Close()
	counts, err := r.CountBy(context.Background(), "power", "kw", "meter", start.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if counts["before"] != 100 || counts["during"] != 500 {
		t.Errorf("counts after outage = %v, want before=100 during=500 (nothing lost)", counts)
	}
}

func TestWriterDropsOldestAtBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	w, err := influx.NewWriter(influx.WriterConfig{URL: "http://127.0.0.1:1", Bucket: "x/y", QueueMax: 10, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	// 25 samples of one point each: the 15 oldest go.
	for _, p := range powerPoints("m", 25, time.Now()) {
		_ = w.Write(context.Background(), []point.Point{p})
	}
	if w.QueueLen() != 10 {
		t.Errorf("queue = %d, want bound 10", w.QueueLen())
	}
	if got := w.Stats().Dropped; got != 15 {
		t.Errorf("dropped = %v, want 15", got)
	}
	// A sample of 4 points makes room by dropping whole older samples, and
	// a sample larger than the bound is dropped whole, never split.
	_ = w.Write(context.Background(), powerPoints("n", 4, time.Now()))
	if w.QueueLen() != 10 || w.Stats().Dropped != 19 {
		t.Errorf("after a 4-point sample: queue %d dropped %d, want 10 and 19", w.QueueLen(), w.Stats().Dropped)
	}
	_ = w.Write(context.Background(), powerPoints("big", 11, time.Now()))
	if w.QueueLen() != 10 || w.Stats().Dropped != 30 {
		t.Errorf("after an 11-point sample: queue %d dropped %d, want 10 and 30", w.QueueLen(), w.Stats().Dropped)
	}
	if got := testutil.ToFloat64(w.Metrics()[2].(*prometheus.CounterVec).WithLabelValues("queue_full")); got != 30 {
		t.Errorf(`setsuden_points_dropped_total{reason="queue_full"} = %v, want 30`, got)
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The fault test of the write path: influxd is killed during collection,
// the writer is restarted while it is down, influxd comes back: the count
// of points in InfluxDB equals the count written, exactly.
func TestDiskQueueSurvivesOutageAndWriterRestart(t *testing.T) {
	d := testinflux.Start(t)
	qdir := t.TempDir()
	newWriter := func(url string) *influx.Writer {
		w, err := influx.NewWriter(influx.WriterConfig{URL: url, Bucket: "setsuden/autogen", BatchSize: 100,
			FlushInterval: 50 * time.Millisecond, Timeout: 2 * time.Second, QueueDir: qdir})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	ctx1, cancel1 := context.WithCancel(context.Background())
	w1 := newWriter(d.URL)
	done1 := make(chan struct{})
	go func() { _ = w1.Run(ctx1); close(done1) }()
	_ = w1.Write(ctx1, powerPoints("m1", 300, start))
	waitFor(t, func() bool { return w1.QueueLen() == 0 }, "first points delivered")

	port := strings.TrimPrefix(d.URL, "http://127.0.0.1:")
	d.Kill()
	_ = w1.Write(ctx1, powerPoints("m2", 700, start))
	time.Sleep(300 * time.Millisecond)
	cancel1() // the collector stops while InfluxDB is down
	<-done1
	w1.Close()

	var p int
	fmt.Sscan(port, &p)
	d2, err := influx.StartInfluxd(context.Background(), influx.InfluxdConfig{Dir: d.Dir(), Port: p})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Stop()
	w2 := newWriter(d2.URL)
	defer w2.Close()
	if w2.QueueLen() != 700 {
		t.Fatalf("restarted writer found %d queued points, want 700", w2.QueueLen())
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _ = w2.Run(ctx2) }()
	waitFor(t, func() bool { return w2.QueueLen() == 0 }, "queue replayed")
	r := influx.NewReader(d2.URL, "", "", d2.Bucket())
	defer r.Close()
	counts, err := r.CountBy(context.Background(), "power", "kw", "meter", start.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if counts["m1"] != 300 || counts["m2"] != 700 {
		t.Errorf("counts = %v, want m1=300 m2=700 exactly", counts)
	}
}

// The line protocol encoder against the real parser: awkward names and
// values come back exactly; a batch InfluxDB refuses (a field type
// conflict) is dropped instead of blocking the queue forever.
func TestLineProtocolRoundTripAndPoisonBatch(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	w, err := influx.NewWriter(influx.WriterConfig{URL: d.URL, Bucket: d.Bucket(), BatchSize: 10, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	odd := point.Point{Measurement: "collector errors", Time: ts,
		Tags: map[string]string{"site": "dc 1", "source": "pdu,a=1", "empty": ""},
		Fields: map[string]any{"error": "line one\nsaid \"no\" \\ twice", "count": int64(3), "ok": true,
			"big": uint64(1 << 40), "ratio": 1e-7}}
	if err := w.Write(ctx, []point.Point{odd}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()
	got, err := r.Last(ctx, "collector errors", "dc 1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	for _, v := range got {
		vals[v.Field] = v.Value
		if v.Tags["source"] != "pdu,a=1" {
			t.Errorf("tag source = %q", v.Tags["source"])
		}
	}
	want := map[string]any{"error": `line one\nsaid "no" \ twice`, "count": int64(3), "ok": true, "big": int64(1 << 40), "ratio": 1e-7}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, vals[k], v)
		}
	}

	// Poison: "count" was an integer; a float now conflicts.
	bad := point.Point{Measurement: "collector errors", Tags: map[string]string{"site": "dc 1"}, Time: ts.Add(time.Second),
		Fields: map[string]any{"count": 1.5}}
	good := powerPoints("after", 3, ts)
	_ = w.Write(ctx, []point.Point{bad})
	_ = w.Flush(ctx)
	_ = w.Write(ctx, good)
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("queue blocked behind a rejected batch: %v", err)
	}
	if w.QueueLen() != 0 {
		t.Errorf("queue = %d after flush", w.QueueLen())
	}
	if got := w.Stats().Dropped; got != 1 {
		t.Errorf("dropped = %v, want the 1 rejected point", got)
	}
	counts, _ := r.CountBy(ctx, "power", "kw", "meter", ts.Add(-time.Second))
	if counts["after"] != 3 {
		t.Errorf("points after the rejected batch: %v", counts)
	}
}

// Degraded (the /healthz reason and setsuden_write_path_degraded) names
// failing writes while points wait and drops of the last minute, and is
// nil on a healthy path.
func TestWriterDegradedSaysWhy(t *testing.T) {
	reg := prometheus.NewRegistry()
	w, err := influx.NewWriter(influx.WriterConfig{URL: "http://127.0.0.1:1", Bucket: "x/y", QueueMax: 3,
		Timeout: time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Degraded(); err != nil {
		t.Fatalf("fresh writer degraded: %v", err)
	}
	ctx := context.Background()
	_ = w.Write(ctx, powerPoints("m", 2, time.Now()))
	if err := w.Flush(ctx); err == nil {
		t.Fatal("flush to a closed port succeeded")
	}
	if err := w.Degraded(); err == nil || !strings.Contains(err.Error(), "InfluxDB writes failing with 2 points waiting") {
		t.Errorf("Degraded = %v, want failing writes with 2 points waiting", err)
	}
	_ = w.Write(ctx, powerPoints("n", 2, time.Now())) // past the bound of 3: the older sample goes
	if err := w.Degraded(); err == nil || !strings.Contains(err.Error(), "2 points dropped in the last minute (reason queue_full)") {
		t.Errorf("Degraded = %v, want the drop named", err)
	}
	var gauge float64
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "setsuden_write_path_degraded" {
			gauge = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if gauge != 1 {
		t.Errorf("setsuden_write_path_degraded = %v, want 1", gauge)
	}
}
