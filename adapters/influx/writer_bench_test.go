package influx

import (
	"context"
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
