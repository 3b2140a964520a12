package main

import (
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"testing"

	"github.com/setsuden/setsuden/config"
)

// TestTuneRuntime: the runtime: section sets the GC target and memory
// limit (0 means the default 400), and GOGC / GOMEMLIMIT in the
// environment win over it.
func TestTuneRuntime(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	oldGC, oldLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(oldGC); debug.SetMemoryLimit(oldLimit) })
	unset := func(k string) {
		v, had := os.LookupEnv(k)
		os.Unsetenv(k)
		t.Cleanup(func() {
			if had {
				os.Setenv(k, v)
			}
		})
	}
	unset("GOGC")
	unset("GOMEMLIMIT")

	tuneRuntime(config.Runtime{GCPercent: 250, MemoryLimitMiB: 512}, quiet)
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("gc percent %d, want 250", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 512<<20 {
		t.Errorf("memory limit %d, want %d", got, 512<<20)
	}
	tuneRuntime(config.Runtime{}, quiet)
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("default gc percent %d, want 400", got)
	}

	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(1 << 30)
	tuneRuntime(config.Runtime{GCPercent: 250, MemoryLimitMiB: 512}, quiet)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: gc percent %d, want the environment's 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("GOMEMLIMIT set: memory limit %d, want the environment's", got)
	}
}
