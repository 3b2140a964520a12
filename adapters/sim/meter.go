// Package sim is the simulated outside world of setsuden: meters,
// hypervisors and the like, for the demo, the tests and `setsuden simulate`.
package sim

import (
	"context"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mbserver "github.com/simonvetter/modbus"

	"github.com/setsuden/setsuden/adapters/modbus"
)

// MeterModel is the meter model the simulated meter answers; its YAML file
// (adapters/modbus/models/setsuden-sim-pm.yaml) is the register map.
const MeterModel = "setsuden-sim-pm"

// MeterSpec describes one simulated power meter.
type MeterSpec struct {
	// Addr is the TCP listen address; "127.0.0.1:0" picks a free port.
	Addr  string
	Curve LoadCurve
	// UnitID is the only unit id the meter answers (0 means 1); any other
	// gets exception 11 (gateway target device failed to respond).
	UnitID byte
	// Clock gives the meter's time; nil means time.Now.
	Clock func() time.Time
	// InitialKWh is the energy counter at start, so a test can start it
	// just below its wrap at 42949672.96 kWh.
	InitialKWh float64
}

// MeterReading is what the simulated meter shows at one instant.
type MeterReading struct {
	KW       float64
	VoltageV float64 // line to line
	CurrentA float64
	PF       float64
	InletC   float64
}

// Meter serves one simulated meter over Modbus TCP. Values are computed
// from the Clock whenever a request arrives; the energy counter integrates
// kW over the clock's time since the previous request.
type Meter struct {
	spec  MeterSpec
	model *modbus.Model
	addr  string
	srv   *mbserver.ModbusServer

	mu   sync.Mutex
	kwh  float64
	last time.Time

	// answered counts the input-register requests answered with data: the
	// fault tests' own count of the samples a collector was given.
	answered atomic.Int64

	closeOnce sync.Once
	closeErr  error
	stopWatch func() bool
}

// StartMeter starts serving. The meter stops when ctx ends or Close is called.
func StartMeter(ctx context.Context, spec MeterSpec) (*Meter, error) {
	if spec.Addr == "" {
		spec.Addr = "127.0.0.1:0"
	}
	if spec.UnitID == 0 {
		spec.UnitID = 1
	}
	if spec.Clock == nil {
		spec.Clock = time.Now
	}
	if spec.Curve.BaseKW <= 0 || spec.Curve.PeakKW < spec.Curve.BaseKW {
		return nil, fmt.Errorf("sim meter: load curve needs 0 < BaseKW <= PeakKW, got %v and %v", spec.Curve.BaseKW, spec.Curve.PeakKW)
	}
	if spec.InitialKWh < 0 || math.IsNaN(spec.InitialKWh) || math.IsInf(spec.InitialKWh, 0) {
		return nil, fmt.Errorf("sim meter: invalid initial energy %v kWh", spec.InitialKWh)
	}
	models, err := modbus.LoadModels()
	if err != nil {
		return nil, fmt.Errorf("sim meter: %w", err)
	}
	model, err := models.Get(MeterModel)
	if err != nil {
		return nil, fmt.Errorf("sim meter: %w", err)
	}
	m := &Meter{spec: spec, model: model, kwh: spec.InitialKWh, last: spec.Clock()}
	// Refuse to serve a register map the simulator cannot fill.
	if _, err := m.registers(m.last); err != nil {
		return nil, fmt.Errorf("sim meter: %w", err)
	}
	if err := m.listen(); err != nil {
		return nil, err
	}
	m.stopWatch = context.AfterFunc(ctx, func() { m.Close() })
	return m, nil
}

// listen starts the Modbus server. simonvetter's server does not report the
// port it bound, so a port 0 is resolved first by binding and releasing it;
// should another process take it in between, try again.
func (m *Meter) listen() error {
	var lastErr error
	for range 5 {
		addr := m.spec.Addr
		if host, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
			l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				return fmt.Errorf("sim meter: listen on %s: %w", m.spec.Addr, err)
			}
			addr = l.Addr().String()
			l.Close()
		}
		srv, err := mbserver.NewServer(&mbserver.ServerConfiguration{
			URL:        "tcp://" + addr,
			Timeout:    5 * time.Minute,
			MaxClients: 64,
			Logger:     log.New(io.Discard, "", 0),
		}, meterHandler{m})
		if err != nil {
			return fmt.Errorf("sim meter: modbus server for %s: %w", addr, err)
		}
		if lastErr = srv.Start(); lastErr == nil {
			m.srv, m.addr = srv, addr
			return nil
		}
	}
	return fmt.Errorf("sim meter: listen on %s: %w", m.spec.Addr, lastErr)
}

// Addr is the host:port the meter listens on.
func (m *Meter) Addr() string { return m.addr }

// Answered is how many input-register requests the meter answered with
// data since it started (a setsuden-sim-pm sample is one request).
func (m *Meter) Answered() int64 { return m.answered.Load() }

// UnitID is the unit id the meter answers.
func (m *Meter) UnitID() byte { return m.spec.UnitID }

// Close stops the server and drops its connections.
func (m *Meter) Close() error {
	m.closeOnce.Do(func() {
		if m.stopWatch != nil {
			m.stopWatch()
		}
		if err := m.srv.Stop(); err != nil {
			m.closeErr = fmt.Errorf("sim meter %s: stop: %w", m.addr, err)
		}
	})
	return m.closeErr
}

// ReadingAt is what the meter shows at t (energy aside). Voltage sags and
// power factor improves with load; the inlet temperature follows the load
// of a quarter of an hour before, as a room's air does.
func (m *Meter) ReadingAt(t time.Time) MeterReading {
	c := m.spec.Curve
	load := c.loadFraction(t)
	r := MeterReading{
		KW:       c.KW(t),
		VoltageV: 208 - 6*load + 0.6*c.noise(2, 23*time.Second, t),
		PF:       0.905 + 0.07*load + 0.004*c.noise(3, 41*time.Second, t),
		InletC:   22.3 + 4.2*c.loadFraction(t.Add(-15*time.Minute)) + 0.3*c.noise(4, 97*time.Second, t),
	}
	r.CurrentA = r.KW * 1000 / (math.Sqrt(3) * r.VoltageV * r.PF)
	return r
}

// KWh advances the energy counter to t and returns it (unwrapped).
func (m *Meter) KWh(t time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.advance(t)
}

// advance integrates kW from the last update to t with the trapezoid rule in
// steps of at most 10 s (more for very long gaps). Caller holds mu.
func (m *Meter) advance(t time.Time) float64 {
	dt := t.Sub(m.last)
	if dt <= 0 {
		return m.kwh // a clock that stands or steps back adds nothing
	}
	n := int64(dt / (10 * time.Second))
	n = min(max(n+1, 1), 100_000)
	step := dt / time.Duration(n)
	from, prev := m.last, m.spec.Curve.KW(m.last)
	for i := int64(1); i <= n; i++ {
		to := m.last.Add(step * time.Duration(i))
		if i == n {
			to = t
		}
		kw := m.spec.Curve.KW(to)
		m.kwh += (prev + kw) / 2 * to.Sub(from).Hours()
		from, prev = to, kw
	}
	m.last = t
	return m.kwh
}

// registers renders the model's fields at t: address -> register value.
func (m *Meter) registers(t time.Time) (map[uint16]uint16, error) {
	r := m.ReadingAt(t)
	m.mu.Lock()
	kwh := m.advance(t)
	m.mu.Unlock()
	values := map[string]float64{
		"kw": r.KW, "voltage_v": r.VoltageV, "current_a": r.CurrentA,
		"pf": r.PF, "inlet_c": r.InletC, "kwh": kwh,
	}
	regs := map[uint16]uint16{}
	for _, f := range m.model.Fields {
		v, ok := values[f.Name]
		if !ok {
			return nil, fmt.Errorf("model %s field %q has no simulated value", m.model.Name, f.Name)
		}
		if f.Counter && f.Modulus > 0 {
			// The device counts whole steps and wraps at its modulus.
			step := f.Scale
			if step == 0 {
				step = 1
			}
			v = math.Floor(math.Mod(v, f.Modulus)/step) * step
		}
		b, err := modbus.Encode(f, v)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.model.Name, err)
		}
		for i := 0; i+1 < len(b); i += 2 {
			regs[f.Address+uint16(i/2)] = uint16(b[i])<<8 | uint16(b[i+1])
		}
	}
	return regs, nil
}

// meterHandler answers Modbus requests for a Meter.
type meterHandler struct{ m *Meter }

func (h meterHandler) HandleInputRegisters(req *mbserver.InputRegistersRequest) ([]uint16, error) {
	if req.UnitId != h.m.spec.UnitID {
		return nil, mbserver.ErrGWTargetFailedToRespond
	}
	regs, err := h.m.registers(h.m.spec.Clock())
	if err != nil {
		return nil, mbserver.ErrServerDeviceFailure // StartMeter checked the map; only a broken clock gets here
	}
	out := make([]uint16, req.Quantity)
	for i := range out {
		v, ok := regs[req.Addr+uint16(i)]
		if !ok {
			return nil, mbserver.ErrIllegalDataAddress
		}
		out[i] = v
	}
	h.m.answered.Add(1)
	return out, nil
}

func (h meterHandler) HandleHoldingRegisters(req *mbserver.HoldingRegistersRequest) ([]uint16, error) {
	if req.UnitId != h.m.spec.UnitID {
		return nil, mbserver.ErrGWTargetFailedToRespond
	}
	return nil, mbserver.ErrIllegalDataAddress
}

func (h meterHandler) HandleCoils(req *mbserver.CoilsRequest) ([]bool, error) {
	if req.UnitId != h.m.spec.UnitID {
		return nil, mbserver.ErrGWTargetFailedToRespond
	}
	return nil, mbserver.ErrIllegalDataAddress
}

func (h meterHandler) HandleDiscreteInputs(req *mbserver.DiscreteInputsRequest) ([]bool, error) {
	if req.UnitId != h.m.spec.UnitID {
		return nil, mbserver.ErrGWTargetFailedToRespond
	}
	return nil, mbserver.ErrIllegalDataAddress
}
