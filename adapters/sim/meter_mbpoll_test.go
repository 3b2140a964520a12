package sim

import (
	"context"
	"math"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestSimMeterAgainstMbpoll cross-checks the simulated meter with an
// independent client, mbpoll (Debian package mbpoll), and with our adapter:
// both must read kW and voltage within what the curve does in the seconds
// between the two reads.
func TestSimMeterAgainstMbpoll(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs mbpoll (skipped with -short)")
	}
	mbpoll, err := exec.LookPath("mbpoll")
	if err != nil {
		t.Skip("mbpoll not installed (apt-get install mbpoll)")
	}
	sm := meterStartForTest(t, MeterSpec{Curve: LoadCurve{BaseKW: 80, PeakKW: 120, Seed: 99, Location: time.Local}})
	_, port, _ := net.SplitHostPort(sm.Addr())

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// -r 1 -c 2 -t 3:float -B: input registers 1-4 (1-based) as two
	// big-endian floats, i.e. addresses 0-3: kw and voltage_v.
	out, err := exec.CommandContext(ctx, mbpoll, "-m", "tcp", "-p", port, "-a", "1", "-r", "1", "-c", "2", "-t", "3:float", "-B", "-1", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll: %v\n%s", err, out)
	}
	ours, err := meterReadViaAdapter(t, sm, 1)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()

	got := map[int]float64{}
	for _, m := range regexp.MustCompile(`\[(\d+)\]:\s+(\S+)`).FindAllStringSubmatch(string(out), -1) {
		ref, _ := strconv.Atoi(m[1])
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("mbpoll printed %q: %v\n%s", m[0], err, out)
		}
		got[ref] = v
	}
	if len(got) != 2 {
		t.Fatalf("mbpoll output without [1] and [3]:\n%s", out)
	}
	t.Logf("mbpoll: kw %v voltage %v; adapter: kw %v voltage %v", got[1], got[3], ours["power.kw"], ours["power.voltage_v"])

	// What the meter can have shown between start and end.
	shown := func(f func(MeterReading) float64) (lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for at := start.Add(-time.Second); !at.After(end.Add(time.Second)); at = at.Add(10 * time.Millisecond) {
			v := f(sm.ReadingAt(at))
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		return lo, hi
	}
	for _, c := range []struct {
		name         string
		mbpoll, ours float64
		value        func(MeterReading) float64
	}{
		{"kw", got[1], ours["power.kw"].(float64), func(r MeterReading) float64 { return r.KW }},
		{"voltage_v", got[3], ours["power.voltage_v"].(float64), func(r MeterReading) float64 { return r.VoltageV }},
	} {
		lo, hi := shown(c.value)
		// mbpoll prints 6 significant digits; float32 carries ~7.
		slack := 1e-5 * hi
		for who, v := range map[string]float64{"mbpoll": c.mbpoll, "adapter": c.ours} {
			if v < lo-slack || v > hi+slack {
				t.Errorf("%s %s = %v, outside what the meter showed [%v, %v]", who, c.name, v, lo, hi)
			}
		}
		if math.Abs(c.mbpoll-c.ours) > (hi-lo)+2*slack {
			t.Errorf("%s: mbpoll %v and adapter %v differ by more than the drift %v", c.name, c.mbpoll, c.ours, hi-lo)
		}
	}
}
