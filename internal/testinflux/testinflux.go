// Package testinflux starts a real InfluxDB 1.8.10 (influxd) for tests.
// Under `go test -short` tests that need it are skipped; otherwise a missing
// influxd is a failure, never a silent skip (make test builds it first).
package testinflux

import (
	"context"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
)

// Start starts a fresh influxd with its own data directory and stops it
// when the test ends.
func Start(t testing.TB) *influx.Influxd {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real influxd; skipped with -short")
	}
	bin, err := influx.FindInfluxd()
	if err != nil {
		t.Fatalf("%v", err)
	}
	d, err := influx.StartInfluxd(context.Background(), influx.InfluxdConfig{Binary: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start influxd: %v", err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d
}

// Write stores pts in d's database through the product's own writer and
// waits until InfluxDB has accepted every one (in chunks, so the writer's
// queue never reaches its bound).
func Write(t testing.TB, d *influx.Influxd, pts []point.Point) {
	t.Helper()
	w, err := influx.NewWriter(influx.WriterConfig{URL: d.URL, Bucket: d.Bucket(), BatchSize: 20000, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	for len(pts) > 0 {
		n := min(len(pts), 200000)
		if err := w.Write(ctx, pts[:n]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		pts = pts[n:]
	}
}
