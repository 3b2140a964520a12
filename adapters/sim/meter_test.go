package sim

import (
	"context"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/modbus"
)

// meterTestClock is a clock a test moves by hand.
type meterTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *meterTestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *meterTestClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func meterStartForTest(t *testing.T, spec MeterSpec) *Meter {
	t.Helper()
	m, err := StartMeter(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// meterReadViaAdapter reads the simulated meter through the real Modbus adapter.
func meterReadViaAdapter(t *testing.T, sm *Meter, unit byte) (map[string]any, error) {
	t.Helper()
	models, err := modbus.LoadModels()
	if err != nil {
		t.Fatal(err)
	}
	am, err := modbus.NewMeter(modbus.MeterConfig{
		Name: "sim-pm", Model: models[MeterModel], Transport: "tcp", Address: sm.Addr(), UnitID: unit, Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer am.Close()
	pts, err := am.Collect(context.Background())
	if err != nil {
		return nil, err
	}
	fields := map[string]any{}
	for _, p := range pts {
		for k, v := range p.Fields {
			fields[p.Measurement+"."+k] = v
		}
	}
	return fields, nil
}

func meterF32(x float64) float64 { return float64(float32(x)) }

func TestSimMeterServesItsModel(t *testing.T) {
	clock := &meterTestClock{t: time.Date(2025, 7, 1, 14, 0, 0, 0, time.UTC)}
	sm := meterStartForTest(t, MeterSpec{Curve: loadCurveForTest(), Clock: clock.Now, InitialKWh: 1000})
	if sm.UnitID() != 1 || !strings.HasPrefix(sm.Addr(), "127.0.0.1:") || strings.HasSuffix(sm.Addr(), ":0") {
		t.Fatalf("unit %d addr %s", sm.UnitID(), sm.Addr())
	}
	got, err := meterReadViaAdapter(t, sm, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := sm.ReadingAt(clock.Now())
	want := map[string]float64{
		"power.kw": meterF32(r.KW), "power.voltage_v": meterF32(r.VoltageV), "power.current_a": meterF32(r.CurrentA),
		"power.pf": meterF32(r.PF), "temperature.inlet_c": meterF32(r.InletC), "power.kwh": 1000,
	}
	for k, w := range want {
		if g, ok := got[k].(float64); !ok || math.Abs(g-w) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields = %v", got)
	}

	// An hour later the counter has integrated the curve.
	clock.Add(time.Hour)
	got, err = meterReadViaAdapter(t, sm, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantKWh := 1000 + loadCurveIntegral(loadCurveForTest(), clock.Now().Add(-time.Hour), clock.Now())
	if g := got["power.kwh"].(float64); math.Abs(g-wantKWh) > 0.011 {
		t.Errorf("kwh after 1 h = %v, want %.3f", g, wantKWh)
	}
}

// loadCurveIntegral is a fine Riemann sum of the curve (1 s steps), kWh.
func loadCurveIntegral(c LoadCurve, from, to time.Time) float64 {
	e := 0.0
	for t := from; t.Before(to); t = t.Add(time.Second) {
		e += c.KW(t.Add(500*time.Millisecond)) / 3600
	}
	return e
}

func TestSimMeterPhysics(t *testing.T) {
	sm := meterStartForTest(t, MeterSpec{Curve: LoadCurve{BaseKW: 60, PeakKW: 140, Seed: 7, Location: time.FixedZone("JST", 9*3600)}})
	start := time.Date(2025, 8, 4, 0, 0, 0, 0, time.UTC)
	for s := 0; s < 7*24*3600; s += 61 {
		at := start.Add(time.Duration(s) * time.Second)
		r := sm.ReadingAt(at)
		if r.VoltageV < 200 || r.VoltageV > 210 {
			t.Fatalf("%v: voltage %.2f V outside 200-210", at, r.VoltageV)
		}
		if r.PF < 0.90 || r.PF > 0.98 {
			t.Fatalf("%v: PF %.3f outside 0.90-0.98", at, r.PF)
		}
		if r.InletC < 22 || r.InletC > 27 {
			t.Fatalf("%v: inlet %.2f °C outside 22-27", at, r.InletC)
		}
		if p := math.Sqrt(3) * r.VoltageV * r.CurrentA * r.PF / 1000; math.Abs(p-r.KW) > 1e-9*r.KW {
			t.Fatalf("%v: √3·V·I·PF = %.6f kW, KW = %.6f", at, p, r.KW)
		}
	}
	// The inlet follows the load: warmer in the afternoon than at night.
	night, day := time.Date(2025, 8, 5, 3, 0, 0, 0, time.FixedZone("JST", 9*3600)), time.Date(2025, 8, 5, 15, 0, 0, 0, time.FixedZone("JST", 9*3600))
	if sm.ReadingAt(day).InletC < sm.ReadingAt(night).InletC+2 {
		t.Errorf("inlet 15:00 %.2f °C vs 03:00 %.2f °C", sm.ReadingAt(day).InletC, sm.ReadingAt(night).InletC)
	}
}

// TestSimMeterCounterWraps starts the uint32 0.01 kWh counter just below
// its modulus: the adapter must read the wrapped value.
func TestSimMeterCounterWraps(t *testing.T) {
	const modulus = 42949672.96
	clock := &meterTestClock{t: time.Date(2025, 7, 1, 14, 0, 0, 0, time.UTC)}
	sm := meterStartForTest(t, MeterSpec{Curve: loadCurveForTest(), Clock: clock.Now, InitialKWh: modulus - 0.5})
	got, err := meterReadViaAdapter(t, sm, 1)
	if err != nil {
		t.Fatal(err)
	}
	if g := got["power.kwh"].(float64); math.Abs(g-(modulus-0.5)) > 1e-6 {
		t.Fatalf("kwh = %v, want %v", g, modulus-0.5)
	}
	clock.Add(10 * time.Minute) // ~20 kWh at ~120 kW
	got, err = meterReadViaAdapter(t, sm, 1)
	if err != nil {
		t.Fatal(err)
	}
	total := sm.KWh(clock.Now())
	want := math.Floor(math.Mod(total, modulus)*100) / 100
	if g := got["power.kwh"].(float64); g != want || g > 30 {
		t.Errorf("kwh after the wrap = %v, want %v (unwrapped %v)", g, want, total)
	}
}

func TestSimMeterExceptions(t *testing.T) {
	sm := meterStartForTest(t, MeterSpec{Curve: loadCurveForTest(), UnitID: 3})
	if _, err := meterReadViaAdapter(t, sm, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := meterReadViaAdapter(t, sm, 1); err == nil || !strings.Contains(err.Error(), "exception '11' (gateway target device failed to respond)") {
		t.Errorf("wrong unit id: %v", err)
	}
	// The fault tests' count: the good read answered, the refused one not.
	if n := sm.Answered(); n != 1 {
		t.Errorf("Answered = %d after one good and one refused sample, want 1", n)
	}
	for _, yaml := range []string{
		"name: x\nfields: [{name: a, measurement: m, table: input, address: 12, type: uint16}]",
		"name: x\nfields: [{name: a, measurement: m, table: input, address: 11, type: uint32}]",
		"name: x\nfields: [{name: a, measurement: m, table: holding, address: 0, type: float32}]",
		"name: x\nfields: [{name: a, measurement: m, table: coil, address: 0, type: bool}]",
		"name: x\nfields: [{name: a, measurement: m, table: discrete, address: 0, type: bool}]",
	} {
		model, err := modbus.ParseModel("x", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		am, err := modbus.NewMeter(modbus.MeterConfig{Name: "probe", Model: model, Transport: "tcp", Address: sm.Addr(), UnitID: 3})
		if err != nil {
			t.Fatal(err)
		}
		_, err = am.Collect(context.Background())
		am.Close()
		if err == nil || !strings.Contains(err.Error(), "exception '2' (illegal data address)") {
			t.Errorf("%s: err = %v, want exception 2", yaml, err)
		}
	}
}

func TestSimMeterStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sm, err := StartMeter(ctx, MeterSpec{Curve: loadCurveForTest()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", sm.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.Dial("tcp", sm.Addr())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("meter still listening after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := sm.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSimMeterStartValidation(t *testing.T) {
	for _, spec := range []MeterSpec{
		{Curve: LoadCurve{BaseKW: 0, PeakKW: 10}},
		{Curve: LoadCurve{BaseKW: 10, PeakKW: 5}},
		{Curve: loadCurveForTest(), InitialKWh: -1},
		{Curve: loadCurveForTest(), Addr: "256.0.0.1:0"},
	} {
		if m, err := StartMeter(context.Background(), spec); err == nil {
			m.Close()
			t.Errorf("StartMeter(%+v) succeeded", spec)
		}
	}
}
