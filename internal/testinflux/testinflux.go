// Package testinflux starts a real InfluxDB 1.8.10 (influxd) for tests.
// Under `go test -short` tests that need it are skipped; otherwise a missing
// influxd is a failure, never a silent skip (make test builds it first).
package testinflux

import (
	"context"
	"testing"

	"github.com/setsuden/setsuden/adapters/influx"
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
