package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/sim"
)

func TestCollectDryRunAndOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1, InitialKWh: 5000,
		Curve: sim.LoadCurve{BaseKW: 10, PeakKW: 14, Seed: 1, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	conf := filepath.Join(t.TempDir(), "c.yaml")
	_ = os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: t}
modbus:
  devices:
    - {name: pdu-1, model: setsuden-sim-pm, address: %q}
    - {name: pdu-dead, model: setsuden-sim-pm, address: "127.0.0.1:1", timeout: 200ms, retries: 0}
`, m.Addr())), 0o644)

	var out, errb bytes.Buffer
	if code := run([]string{"collect", "--config", conf, "--dry-run"}, &out, &errb); code != 0 {
		t.Fatalf("dry-run exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "pdu-1 (model setsuden-sim-pm") || !strings.Contains(out.String(), "input registers 0-11 (12): kw@0") {
		t.Errorf("dry-run plan:\n%s", out.String())
	}

	out.Reset()
	errb.Reset()
	code := run([]string{"collect", "--config", conf, "--once"}, &out, &errb)
	if code != 1 {
		t.Errorf("--once with a dead meter: exit %d, want 1", code)
	}
	if !strings.Contains(out.String(), "power,meter=pdu-1,model=setsuden-sim-pm,site=t ") || !strings.Contains(out.String(), "kwh=50") {
		t.Errorf("--once output:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), `meter "pdu-dead" unit 1`) {
		t.Errorf("dead meter error should name it: %s", errb.String())
	}
}
