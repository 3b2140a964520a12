package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// Transports a Meter can use.
const (
	TransportTCP        = "tcp"        // Modbus TCP (MBAP), port 502 by default
	TransportRTUOverTCP = "rtuovertcp" // RTU frames with CRC through a TCP gateway
	TransportRTU        = "rtu"        // RTU on a local serial port
)

// Defaults for zero MeterConfig values.
const (
	DefaultTimeout  = time.Second
	DefaultTCPPort  = "502"
	DefaultBaudRate = 19200 // Modbus over Serial Line v1.02, 2.5.1: 19200, even parity
)

// SerialConfig is the line setting of an RTU serial port. Zero values take
// the defaults of the Modbus serial line specification: 19200 baud, 8 data
// bits, even parity, 1 stop bit.
type SerialConfig struct {
	BaudRate int
	DataBits int
	Parity   string // "N", "E" or "O"
	StopBits int
}

// MeterConfig describes one device to poll.
type MeterConfig struct {
	// Name identifies the meter: the `meter` tag and the subject of errors.
	Name  string
	Model *Model
	// Transport is "tcp", "rtuovertcp" or "rtu".
	Transport string
	// Address is host:port for tcp and rtuovertcp (port 502 if left out),
	// the serial device (/dev/ttyUSB0) for rtu.
	Address string
	UnitID  byte
	// Timeout bounds connecting and each request/answer exchange
	// (default 1 s).
	Timeout time.Duration
	// Retries is how often a failed read is tried again within one Collect,
	// after a short backoff and on a fresh connection. Exceptions that cannot
	// heal (illegal function, address or value) are not retried.
	Retries int
	// Tags are added to every point, after meter and model.
	Tags   map[string]string
	Serial SerialConfig
	// MaxGap is the largest hole, in registers, bridged to merge two reads
	// (see Plan).
	MaxGap uint16
	// Lines, when set, makes meters with the same transport and address
	// (unit ids behind one gateway, or one RS-485 line) share a single
	// connection, polled in turn. nil gives the meter its own connection.
	Lines *Lines
	// Budget, when set, bounds the TCP connections all meters sharing it
	// keep open between samples (ConnBudget); nil keeps every one.
	Budget *ConnBudget
	// RatedKW is this meter's rated power (kW), overriding the model's
	// rated_kw (a CT-connected meter's rating depends on its CTs); 0 takes
	// the model's. The collector flags a counter that rises faster as a
	// reset (Model.CounterRatedKW).
	RatedKW float64
}

// Meter polls one device. It implements collector.Source. Collect calls are
// serialised; the connection is opened on first use, reused between samples
// and reopened after any error.
type Meter struct {
	cfg  MeterConfig
	plan []Request
	// measurements are the model's measurements, sorted; fieldMeas[i][j]
	// is the index in it of plan[i].Fields[j], and fieldCount[k] the
	// number of fields of measurements[k]: worked out once, so a sample
	// builds its points without maps of maps.
	measurements []string
	fieldMeas    [][]int
	fieldCount   []int
	// tags are every point's tags, built once and handed out with every
	// sample (read-only after the collector adds its site tag; point.Point).
	tags map[string]string

	mu     sync.Mutex
	link   link
	closed bool
}

// NewMeter validates the configuration and plans the reads. It does not
// connect: the first Collect does.
func NewMeter(cfg MeterConfig) (*Meter, error) {
	if cfg.Name == "" {
		return nil, errors.New("modbus meter: missing name")
	}
	wrap := func(format string, args ...any) error {
		return fmt.Errorf("meter %q: %s", cfg.Name, fmt.Sprintf(format, args...))
	}
	if cfg.Model == nil {
		return nil, wrap("missing model")
	}
	if err := cfg.Model.Validate(); err != nil {
		return nil, fmt.Errorf("meter %q: %w", cfg.Name, err)
	}
	if cfg.Timeout < 0 {
		return nil, wrap("negative timeout %v", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Retries < 0 {
		return nil, wrap("negative retries %d", cfg.Retries)
	}
	if cfg.RatedKW < 0 || math.IsNaN(cfg.RatedKW) || math.IsInf(cfg.RatedKW, 0) {
		return nil, wrap("rated_kw %v is not a positive number of kW", cfg.RatedKW)
	}
	for k := range cfg.Tags {
		if k == "meter" || k == "model" {
			return nil, wrap("tag %q is set by the adapter and cannot be configured", k)
		}
	}
	m := &Meter{cfg: cfg, plan: Plan(cfg.Model, cfg.MaxGap)}
	m.layout()
	// Room for the collector's site tag.
	m.tags = make(map[string]string, len(cfg.Tags)+3)
	for k, v := range cfg.Tags {
		m.tags[k] = v
	}
	m.tags["meter"] = cfg.Name
	m.tags["model"] = cfg.Model.Name
	switch cfg.Transport {
	case TransportTCP, TransportRTUOverTCP:
		addr := cfg.Address
		if addr == "" {
			return nil, wrap("missing address (host:port)")
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, DefaultTCPPort)
		}
		if cfg.Transport == TransportRTUOverTCP && (cfg.UnitID < 1 || cfg.UnitID > 247) {
			return nil, wrap("unit id %d out of range for RTU (expected 1-247)", cfg.UnitID)
		}
		m.link = cfg.Lines.get(cfg.Transport+"://"+addr, func() link {
			return newStreamLink(addr, cfg.Timeout, cfg.Transport == TransportRTUOverTCP, cfg.Budget)
		})
	case TransportRTU:
		if cfg.Address == "" {
			return nil, wrap("missing address (serial device such as /dev/ttyUSB0)")
		}
		if cfg.UnitID < 1 || cfg.UnitID > 247 {
			return nil, wrap("unit id %d out of range for RTU (expected 1-247)", cfg.UnitID)
		}
		s := cfg.Serial
		if s.BaudRate == 0 {
			s.BaudRate = DefaultBaudRate
		}
		if s.DataBits == 0 {
			s.DataBits = 8
		}
		if s.Parity == "" {
			s.Parity = "E"
		}
		if s.StopBits == 0 {
			s.StopBits = 1
		}
		switch {
		case s.Parity != "N" && s.Parity != "E" && s.Parity != "O":
			return nil, wrap("invalid parity %q (expected N, E or O)", s.Parity)
		case s.DataBits < 5 || s.DataBits > 8:
			return nil, wrap("invalid data bits %d (expected 5-8)", s.DataBits)
		case s.StopBits != 1 && s.StopBits != 2:
			return nil, wrap("invalid stop bits %d (expected 1 or 2)", s.StopBits)
		case s.BaudRate < 0:
			return nil, wrap("invalid baud rate %d", s.BaudRate)
		}
		m.cfg.Serial = s
		m.link = cfg.Lines.get("rtu://"+cfg.Address, func() link { return newSerialLink(cfg.Address, cfg.Timeout, s) })
	default:
		return nil, wrap("invalid transport %q (expected tcp, rtuovertcp or rtu)", cfg.Transport)
	}
	return m, nil
}

// Name implements collector.Source.
func (m *Meter) Name() string { return m.cfg.Name }

// Plan returns the reads one Collect performs.
func (m *Meter) Plan() []Request { return append([]Request(nil), m.plan...) }

// layout works out the measurements and where each planned field goes.
func (m *Meter) layout() {
	index := map[string]int{}
	for _, r := range m.plan {
		for _, f := range r.Fields {
			index[f.Measurement] = 0
		}
	}
	for n := range index {
		m.measurements = append(m.measurements, n)
	}
	sort.Strings(m.measurements)
	for i, n := range m.measurements {
		index[n] = i
	}
	m.fieldCount = make([]int, len(m.measurements))
	m.fieldMeas = make([][]int, len(m.plan))
	for i, r := range m.plan {
		m.fieldMeas[i] = make([]int, len(r.Fields))
		for j, f := range r.Fields {
			k := index[f.Measurement]
			m.fieldMeas[i][j] = k
			m.fieldCount[k]++
		}
	}
}

// Collect reads every request of the plan, decodes the fields and returns one
// point per measurement of the model, stamped when the reads completed. Any
// failed read fails the sample with an error naming meter, unit id, register
// range and cause; the points of a failed sample are not returned.
func (m *Meter) Collect(ctx context.Context) ([]point.Point, error) {
	deadline, _ := ctx.Deadline()
	return m.CollectBy(ctx, deadline)
}

// CollectBy is Collect bounded by deadline (zero: none but the timeout of
// each exchange) without a context that carries it
// (collector.DeadlineSource): the deadline goes onto the socket.
func (m *Meter) CollectBy(ctx context.Context, deadline time.Time) ([]point.Point, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("meter %q: closed", m.cfg.Name)
	}
	defer m.link.endSample()
	pts := make([]point.Point, len(m.measurements))
	for i, r := range m.plan {
		data, err := m.readWithRetry(ctx, deadline, r)
		if err != nil {
			return nil, fmt.Errorf("meter %q unit %d: read %s: %w", m.cfg.Name, m.cfg.UnitID, r.Range(), err)
		}
		for j, f := range r.Fields {
			v, err := Decode(f, fieldBytes(r, f, data))
			if err != nil {
				return nil, fmt.Errorf("meter %q unit %d: %s %d: %w", m.cfg.Name, m.cfg.UnitID, f.Table.longName(), f.Address, err)
			}
			k := m.fieldMeas[i][j]
			if pts[k].Fields == nil {
				// Room for the counters' <field>_total and _reset too.
				pts[k].Fields = make(map[string]any, m.fieldCount[k]+2)
			}
			pts[k].Fields[f.Name] = v
		}
	}
	now := time.Now()
	for k, n := range m.measurements {
		pts[k].Measurement, pts[k].Tags, pts[k].Time = n, m.tags, now
	}
	return pts, nil
}

// readWithRetry reads one request, trying again after a short backoff
// (50 ms, doubling, at most 1 s) on a fresh connection while retries remain,
// the error may heal, and the context and the sample's deadline allow.
func (m *Meter) readWithRetry(ctx context.Context, deadline time.Time, r Request) ([]byte, error) {
	attempts := m.cfg.Retries + 1
	backoff := 50 * time.Millisecond
	for i := 1; ; i++ {
		data, err := m.link.read(ctx, deadline, m.cfg.UnitID, r)
		if err == nil {
			if err = checkLength(r, data); err == nil {
				return data, nil
			}
			_ = m.link.reset() // a device answering the wrong size gets a fresh start
		}
		giveUp := i >= attempts || !retryable(err) || ctx.Err() != nil
		if !deadline.IsZero() && time.Until(deadline) < backoff {
			giveUp = true
		}
		if giveUp {
			if i > 1 {
				return nil, fmt.Errorf("%w (%d attempts)", err, i)
			}
			return nil, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (%d attempts, then cancelled: %v)", err, i, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// retryable reports whether trying again may help. Exceptions 1-3 (illegal
// function, data address, data value) say the request itself is wrong.
func retryable(err error) bool {
	var ex *ExceptionError
	if errors.As(err, &ex) && ex.Code >= 1 && ex.Code <= 3 {
		return false
	}
	return !errors.Is(err, context.Canceled)
}

// checkLength verifies that an answer carries exactly the requested data.
func checkLength(r Request, data []byte) error {
	want := 2 * int(r.Quantity)
	unit := "registers"
	if r.Table.bits() {
		want, unit = (int(r.Quantity)+7)/8, "bits"
	}
	if len(data) != want {
		return fmt.Errorf("malformed answer: %d data bytes for %d %s, want %d", len(data), r.Quantity, unit, want)
	}
	return nil
}

// fieldBytes cuts a field's bytes out of a request's answer; for bit tables
// it returns one byte holding the field's bit.
func fieldBytes(r Request, f Field, data []byte) []byte {
	off := int(f.Address) - int(r.Address)
	if r.Table.bits() {
		return []byte{data[off/8] >> (off % 8) & 1}
	}
	return data[2*off : 2*(off+f.Size())]
}

// Close drops the connection. It waits for a Collect in progress (cancel its
// context to cut that short). Collect fails after Close.
func (m *Meter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if err := m.link.Close(); err != nil {
		return fmt.Errorf("meter %q: close: %w", m.cfg.Name, err)
	}
	return nil
}

// Counters names the model's counter fields (energy registers) so the
// collector can keep a monotonic total across wrap and reset
// (collector.CounterSource), each with the power that bounds its rise:
// the device's rated_kw, else the model's (Model.CounterRatedKW).
func (m *Meter) Counters() []point.Counter {
	var out []point.Counter
	for _, f := range m.cfg.Model.Fields {
		if f.Counter {
			rated := m.cfg.RatedKW
			if rated == 0 {
				rated = m.cfg.Model.CounterRatedKW(f)
			}
			out = append(out, point.Counter{Measurement: f.Measurement, Field: f.Name, Modulus: f.Modulus, RatedKW: rated})
		}
	}
	return out
}
