package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Suite notes. The package's tests run one at a time except those marked
// t.Parallel(): tests that spend their time waiting on their own daemons
// (influxd, libvirtd, setsuden run on free ports and in t.TempDir()) and
// assert no timing of their own. They run after the serial ones, two at a
// time by default (-parallel is GOMAXPROCS). Left serial: the Chromium
// tests (CPU), the demo tests, tests that measure a rate, a latency or a
// guest's CPU, tests with tight poll timeouts (oBIX, staleness), and tests
// that set environment variables.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}
