package influx

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// BenchmarkWriterWriteDuringOutage queues one sample of a power meter (the
// two points of bench/collector's meters) into a disk queue, as every poll
// does, while nothing is sent (InfluxDB down): encoding and queueing, with
// the queue's memory cache soon full.
func BenchmarkWriterWriteDuringOutage(b *testing.B) {
	w, err := NewWriter(WriterConfig{URL: "http://127.0.0.1:1", Bucket: "db/rp", QueueDir: b.TempDir(), BatchSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	tags := map[string]string{"meter": "pdu-0001", "model": "setsuden-sim-pm", "site": "bench"}
	now := time.Now()
	pts := []point.Point{
		{Measurement: "power", Tags: tags, Time: now, Fields: map[string]any{
			"kw": 12.345678, "voltage_v": 202.51, "current_a": 38.2, "pf": 0.953, "kwh": 123456.78, "kwh_total": 123456.78}},
		{Measurement: "temperature", Tags: tags, Time: now, Fields: map[string]any{"inlet_c": 24.37}},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(ctx, pts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterDeliverCPU is the write path's CPU cost per point with the
// disk queue, end to end: Write (encode, and now one write(2) into the
// queue file), the group commit's fsync, and delivery in batches to an
// HTTP endpoint that answers 204 as InfluxDB does, until the queue is
// empty. cpu-us/point is the process's user+system time (getrusage) over
// the points; the stand-in endpoint's share is the same before and after.
func BenchmarkWriterDeliverCPU(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	w, err := NewWriter(WriterConfig{URL: srv.URL, Bucket: "db/rp", QueueDir: b.TempDir(),
		FlushInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	tags := map[string]string{"meter": "pdu-0001", "model": "setsuden-sim-pm", "site": "bench"}
	now := time.Now()
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	n := 0
	for b.Loop() {
		t := now.Add(time.Duration(n) * time.Millisecond)
		pts := []point.Point{
			{Measurement: "power", Tags: tags, Time: t, Fields: map[string]any{
				"kw": 12.345678, "voltage_v": 202.51, "current_a": 38.2, "pf": 0.953, "kwh": 123456.78, "kwh_total": 123456.78}},
			{Measurement: "temperature", Tags: tags, Time: t, Fields: map[string]any{"inlet_c": 24.37}},
		}
		if err := w.Write(ctx, pts); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for w.QueueLen() > 0 {
		time.Sleep(time.Millisecond)
	}
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cancel()
	<-done
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Microseconds())/float64(2*n), "cpu-us/point")
}
