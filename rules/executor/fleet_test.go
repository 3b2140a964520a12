package executor_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/libvirt/fleet"
)

// newFleet is the executor's Hypervisors over real adapters/libvirt hosts,
// the same adapter cmd/setsuden wires: migrations to 127.0.0.1, progress read
// every 200 ms so that tests can inject faults mid-stream.
func newFleet() *fleet.Fleet {
	return fleet.New(fleet.Options{Timeout: 3 * time.Minute, PollInterval: 200 * time.Millisecond})
}

// addHost puts a test libvirtd into f; migrations to it go over loopback.
func addHost(f *fleet.Fleet, name, uri string) {
	f.Add(fleet.Host{Name: name, URI: uri, MigrationURI: "tcp://127.0.0.1"})
}

// testLog sends the executor's log to t.Log (shown with -v or on failure).
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
