package modbus_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mbserver "github.com/simonvetter/modbus"

	"github.com/setsuden/setsuden/adapters/modbus"
)

// testModel covers every table; testValues are what the fake devices hold.
func testModel(t *testing.T) *modbus.Model {
	t.Helper()
	m, err := modbus.ParseModel("test.yaml", []byte(`
name: test-pm
fields:
  - {name: kw, measurement: power, table: input, address: 0, type: float32, byte_order: CDAB}
  - {name: kwh, measurement: power, table: input, address: 2, type: uint32, scale: 0.01, counter: true, modulus: 42949672.96}
  - {name: voltage_v, measurement: power, table: holding, address: 100, type: int16, scale: 0.1}
  - {name: serial, measurement: info, table: holding, address: 101, type: string, length: 3}
  - {name: breaker, measurement: info, table: coil, address: 7, type: bool}
  - {name: door_open, measurement: info, table: discrete, address: 3, type: bool}
`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testValues() map[string]any {
	return map[string]any{"kw": 12.5, "kwh": 1234.56, "voltage_v": 202.5, "serial": "PM-7", "breaker": true, "door_open": false}
}

// fakeDevice is an in-process Modbus TCP server (simonvetter/modbus) that
// serves a model's fields with given values, optionally failing first.
type fakeDevice struct {
	regs  map[modbus.Table]map[uint16]uint16
	bits  map[modbus.Table]map[uint16]bool
	mu    sync.Mutex
	calls int
	fail  []error // returned, one per call, before answering normally
}

func startFakeDevice(t *testing.T, m *modbus.Model, values map[string]any) (*fakeDevice, string) {
	t.Helper()
	d := &fakeDevice{regs: map[modbus.Table]map[uint16]uint16{}, bits: map[modbus.Table]map[uint16]bool{}}
	for _, f := range m.Fields {
		b, err := modbus.Encode(f, values[f.Name])
		if err != nil {
			t.Fatal(err)
		}
		if f.Table == modbus.TableCoil || f.Table == modbus.TableDiscrete {
			if d.bits[f.Table] == nil {
				d.bits[f.Table] = map[uint16]bool{}
			}
			d.bits[f.Table][f.Address] = b[0] == 1
			continue
		}
		if d.regs[f.Table] == nil {
			d.regs[f.Table] = map[uint16]uint16{}
		}
		for i := 0; i < len(b); i += 2 {
			d.regs[f.Table][f.Address+uint16(i/2)] = binary.BigEndian.Uint16(b[i:])
		}
	}
	addr := freeAddr(t)
	srv, err := mbserver.NewServer(&mbserver.ServerConfiguration{URL: "tcp://" + addr, Logger: log.New(io.Discard, "", 0)}, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return d, addr
}

func (d *fakeDevice) next() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if len(d.fail) > 0 {
		err := d.fail[0]
		d.fail = d.fail[1:]
		return err
	}
	return nil
}

func (d *fakeDevice) words(t modbus.Table, addr, n uint16) ([]uint16, error) {
	if err := d.next(); err != nil {
		return nil, err
	}
	out := make([]uint16, n)
	for i := range out {
		v, ok := d.regs[t][addr+uint16(i)]
		if !ok {
			return nil, mbserver.ErrIllegalDataAddress
		}
		out[i] = v
	}
	return out, nil
}

func (d *fakeDevice) flags(t modbus.Table, addr, n uint16) ([]bool, error) {
	if err := d.next(); err != nil {
		return nil, err
	}
	out := make([]bool, n)
	for i := range out {
		v, ok := d.bits[t][addr+uint16(i)]
		if !ok {
			return nil, mbserver.ErrIllegalDataAddress
		}
		out[i] = v
	}
	return out, nil
}

func (d *fakeDevice) HandleCoils(r *mbserver.CoilsRequest) ([]bool, error) {
	return d.flags(modbus.TableCoil, r.Addr, r.Quantity)
}

func (d *fakeDevice) HandleDiscreteInputs(r *mbserver.DiscreteInputsRequest) ([]bool, error) {
	return d.flags(modbus.TableDiscrete, r.Addr, r.Quantity)
}

func (d *fakeDevice) HandleHoldingRegisters(r *mbserver.HoldingRegistersRequest) ([]uint16, error) {
	return d.words(modbus.TableHolding, r.Addr, r.Quantity)
}

func (d *fakeDevice) HandleInputRegisters(r *mbserver.InputRegistersRequest) ([]uint16, error) {
	return d.words(modbus.TableInput, r.Addr, r.Quantity)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRawPeer accepts connections and hands each to serve.
func startRawPeer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return l.Addr().String()
}

func newMeter(t *testing.T, cfg modbus.MeterConfig) *modbus.Meter {
	t.Helper()
	m, err := modbus.NewMeter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMeterCollect(t *testing.T) {
	model := testModel(t)
	_, addr := startFakeDevice(t, model, testValues())
	m := newMeter(t, modbus.MeterConfig{
		Name: "pdu-a1", Model: model, Transport: "tcp", Address: addr, UnitID: 1,
		Timeout: time.Second, Tags: map[string]string{"room": "r1"},
	})
	if got := len(m.Plan()); got != 4 {
		t.Fatalf("plan has %d reads, want 4 (one a table): %v", got, m.Plan())
	}
	for i := 0; i < 3; i++ { // the connection is reused between samples
		before := time.Now()
		pts, err := m.Collect(context.Background())
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 2 || pts[0].Measurement != "info" || pts[1].Measurement != "power" {
			t.Fatalf("points = %+v", pts)
		}
		want := map[string]map[string]any{
			"info":  {"serial": "PM-7", "breaker": true, "door_open": false},
			"power": {"kw": 12.5, "kwh": 1234.56, "voltage_v": 202.5},
		}
		for _, p := range pts {
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
			if p.Time.Before(before) || p.Time.After(after) {
				t.Errorf("time %v outside [%v, %v]", p.Time, before, after)
			}
			if p.Tags["meter"] != "pdu-a1" || p.Tags["model"] != "test-pm" || p.Tags["room"] != "r1" || len(p.Tags) != 3 {
				t.Errorf("tags = %v", p.Tags)
			}
			for k, v := range want[p.Measurement] {
				if p.Fields[k] != v {
					t.Errorf("%s.%s = %v (%T), want %v", p.Measurement, k, p.Fields[k], p.Fields[k], v)
				}
			}
			if len(p.Fields) != len(want[p.Measurement]) {
				t.Errorf("%s fields = %v", p.Measurement, p.Fields)
			}
		}
	}
}

func TestMeterRetries(t *testing.T) {
	model := testModel(t)
	cases := []struct {
		name      string
		fail      []error
		retries   int
		wantErr   string
		wantCalls int
	}{
		{"busy then fine", []error{mbserver.ErrServerDeviceBusy}, 1, "", 5},
		{"busy twice, one retry", []error{mbserver.ErrServerDeviceBusy, mbserver.ErrServerDeviceBusy}, 1,
			`meter "m" unit 1: read coils 7-7: modbus: exception '6' (server device busy) (2 attempts)`, 2},
		{"illegal address is not retried", []error{mbserver.ErrIllegalDataAddress}, 3,
			`meter "m" unit 1: read coils 7-7: modbus: exception '2' (illegal data address)`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, addr := startFakeDevice(t, model, testValues())
			d.fail = c.fail
			m := newMeter(t, modbus.MeterConfig{Name: "m", Model: model, Transport: "tcp", Address: addr, UnitID: 1, Retries: c.retries})
			_, err := m.Collect(context.Background())
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || err.Error() != c.wantErr) {
				t.Errorf("err = %v, want %q", err, c.wantErr)
			}
			if d.calls != c.wantCalls {
				t.Errorf("device saw %d requests, want %d", d.calls, c.wantCalls)
			}
		})
	}
}

// silentPeer accepts and reads but never answers.
func silentPeer(c net.Conn) { io.Copy(io.Discard, c) }

func TestMeterHonoursContext(t *testing.T) {
	addr := startRawPeer(t, silentPeer)
	model := testModel(t)
	m := newMeter(t, modbus.MeterConfig{Name: "m", Model: model, Transport: "tcp", Address: addr, UnitID: 1, Timeout: 10 * time.Second, Retries: 5})

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := m.Collect(ctx)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancel took %v", el)
	}
	if err == nil || !strings.Contains(err.Error(), "cancelled") || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want cancellation", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = m.Collect(ctx)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("deadline took %v", el)
	}
	if err == nil || !strings.Contains(err.Error(), `meter "m" unit 1: read coils 7-7: timeout: sample deadline passed`) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err = %v, want a timeout at the sample deadline", err)
	}
}

func TestMeterTimeoutAndRetriesBound(t *testing.T) {
	addr := startRawPeer(t, silentPeer)
	m := newMeter(t, modbus.MeterConfig{Name: "m", Model: testModel(t), Transport: "tcp", Address: addr, UnitID: 1, Timeout: 150 * time.Millisecond, Retries: 2})
	start := time.Now()
	_, err := m.Collect(context.Background())
	el := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timeout: no answer within 150ms") || !strings.Contains(err.Error(), "(3 attempts)") {
		t.Errorf("err = %v", err)
	}
	if el < 450*time.Millisecond || el > 450*time.Millisecond+time.Second {
		t.Errorf("took %v, want 3 × 150ms plus backoff", el)
	}
}

// oneShotPeer answers one read of holding/input registers with zeros, then
// hangs up, as devices with short idle timeouts do between samples.
func oneShotPeer(c net.Conn) { answerZero(c) }

// answerZeros answers every read of holding or input registers with zeros.
func answerZeros(c net.Conn) {
	for answerZero(c) {
	}
}

// answerZero answers one read of holding or input registers with zeros and
// reports whether the connection is still good.
func answerZero(c net.Conn) bool {
	req := make([]byte, 12)
	if _, err := io.ReadFull(c, req); err != nil {
		return false
	}
	n := binary.BigEndian.Uint16(req[10:])
	resp := make([]byte, 9+2*n)
	copy(resp, req[:4])
	binary.BigEndian.PutUint16(resp[4:], uint16(3+2*n))
	resp[6], resp[7], resp[8] = req[6], req[7], byte(2*n)
	_, err := c.Write(resp)
	return err == nil
}

func TestMeterReconnectsAfterPeerHangsUp(t *testing.T) {
	addr := startRawPeer(t, oneShotPeer)
	model, err := modbus.ParseModel("x", []byte("name: x\nfields: [{name: kw, measurement: power, table: holding, address: 0, type: float32}]"))
	if err != nil {
		t.Fatal(err)
	}
	m := newMeter(t, modbus.MeterConfig{Name: "m", Model: model, Transport: "tcp", Address: addr, UnitID: 1})
	for i := 0; i < 3; i++ { // Retries 0: the stale connection must not cost a sample
		pts, err := m.Collect(context.Background())
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if pts[0].Fields["kw"] != 0.0 {
			t.Fatalf("sample %d: %v", i, pts)
		}
	}
}

// TestMeterGarbagePeers: whatever a broken peer sends, Collect returns an
// error naming the meter and the read, and never panics.
func TestMeterGarbagePeers(t *testing.T) {
	reply := func(b []byte) func(net.Conn) {
		return func(c net.Conn) {
			buf := make([]byte, 260)
			if _, err := c.Read(buf); err != nil {
				return
			}
			c.Write(b)
			time.Sleep(150 * time.Millisecond)
		}
	}
	// echoHeader answers with the request's own MBAP header and a body.
	echoHeader := func(body func(req []byte) []byte) func(net.Conn) {
		return func(c net.Conn) {
			req := make([]byte, 12)
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			b := body(req)
			resp := append(append([]byte{}, req[:4]...), 0, byte(len(b)+1), req[6])
			c.Write(append(resp, b...))
			time.Sleep(150 * time.Millisecond)
		}
	}
	peers := map[string]func(net.Conn){
		"text":            reply([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")),
		"short":           reply([]byte{0, 1, 0}),
		"zero length":     reply([]byte{0, 1, 0, 0, 0, 0, 1, 3}),
		"huge length":     reply([]byte{0, 1, 0, 0, 0xff, 0xff, 1, 3}),
		"wrong protocol":  reply([]byte{0, 1, 0, 7, 0, 3, 1, 3, 0}),
		"wrong tx id":     reply([]byte{0xde, 0xad, 0, 0, 0, 7, 1, 3, 4, 0, 0, 0, 0}),
		"immediate close": func(net.Conn) {},
		"random":          reply([]byte{0x9c, 0x11, 0x00, 0x00, 0x00, 0x05, 0x01, 0x03, 0x02, 0xff, 0xff}),
		"byte count lies": echoHeader(func(req []byte) []byte { return []byte{req[7], 200, 1, 2} }),
		"too few registers": echoHeader(func(req []byte) []byte {
			return []byte{req[7], 2, 0, 0}
		}),
		"function mismatch": echoHeader(func(req []byte) []byte { return []byte{0x10, 0, 0, 0, 1} }),
		"other exception":   echoHeader(func(req []byte) []byte { return []byte{0x81, 2} }),
		"unknown exception": echoHeader(func(req []byte) []byte { return []byte{req[7] | 0x80, 0x77} }),
		"empty pdu":         echoHeader(func(req []byte) []byte { return []byte{req[7]} }),
	}
	model, err := modbus.ParseModel("x", []byte("name: x\nfields: [{name: kw, measurement: power, table: holding, address: 0, type: float32}]"))
	if err != nil {
		t.Fatal(err)
	}
	for name, peer := range peers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := startRawPeer(t, peer)
			m := newMeter(t, modbus.MeterConfig{Name: "junk", Model: model, Transport: "tcp", Address: addr, UnitID: 1, Timeout: 100 * time.Millisecond})
			pts, err := m.Collect(context.Background())
			if err == nil {
				t.Fatalf("garbage gave points %v", pts)
			}
			if !strings.HasPrefix(err.Error(), `meter "junk" unit 1: read holding registers 0-1: `) {
				t.Errorf("err = %v", err)
			}
			t.Log(err)
		})
	}
}

func TestNewMeterValidation(t *testing.T) {
	model := testModel(t)
	bad := &modbus.Model{Name: "bad", Fields: []modbus.Field{{Name: "kw", Measurement: "power", Table: "input", Type: "float32", ByteOrder: "XYZW"}}}
	cases := []struct {
		cfg  modbus.MeterConfig
		want string
	}{
		{modbus.MeterConfig{Model: model, Transport: "tcp", Address: "x"}, `modbus meter: missing name`},
		{modbus.MeterConfig{Name: "a", Transport: "tcp", Address: "x"}, `meter "a": missing model`},
		{modbus.MeterConfig{Name: "a", Model: bad, Transport: "tcp", Address: "x"}, `meter "a": model "bad" field "kw": invalid byte order "XYZW" (expected ABCD, DCBA, BADC or CDAB)`},
		{modbus.MeterConfig{Name: "a", Model: model, Transport: "udp", Address: "x"}, `meter "a": invalid transport "udp" (expected tcp, rtuovertcp or rtu)`},
		{modbus.MeterConfig{Name: "a", Model: model, Transport: "tcp"}, `meter "a": missing address (host:port)`},
		{modbus.MeterConfig{Name: "a", Model: model, Transport: "tcp", Address: "x", Retries: -1}, `meter "a": negative retries -1`},
		{modbus.MeterConfig{Name: "a", Model: model, Transport: "tcp", Address: "x", Tags: map[string]string{"meter": "b"}}, `meter "a": tag "meter" is set by the adapter and cannot be configured`},
		{modbus.MeterConfig{Name: "a", Model: model, Transport: "rtuovertcp", Address: "x", UnitID: 0}, `meter "a": unit id 0 out of range for RTU (expected 1-247)`},
		{modbus.MeterConfig{Name: "a", Model: model, Transport: "rtu", Address: "/dev/ttyUSB0", UnitID: 1, Serial: modbus.SerialConfig{Parity: "X"}}, `meter "a": invalid parity "X" (expected N, E or O)`},
		{modbus.MeterConfig{Name: "a", Model: model, Transport: "rtu", Address: "/dev/ttyUSB0", UnitID: 248}, `meter "a": unit id 248 out of range for RTU (expected 1-247)`},
	}
	for _, c := range cases {
		_, err := modbus.NewMeter(c.cfg)
		if err == nil || err.Error() != c.want {
			t.Errorf("NewMeter(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	m, err := modbus.NewMeter(modbus.MeterConfig{Name: "a", Model: model, Transport: "tcp", Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "a" {
		t.Errorf("Name = %q", m.Name())
	}
	m.Close()
	if _, err := m.Collect(context.Background()); err == nil || err.Error() != `meter "a": closed` {
		t.Errorf("Collect after Close = %v", err)
	}
}

// The collector polls a meter under one long-lived context and passes each
// sample's deadline separately (CollectBy): the deadline must bound the
// exchange like a context deadline did, cancelling that context must still
// abort a blocked read at once, and a context that ended while the
// connection was idle must neither spoil the next sample under another
// context nor let another sample run under itself.
func TestMeterCollectByDeadlineUnderLongLivedContext(t *testing.T) {
	model := testModel(t)
	silent := newMeter(t, modbus.MeterConfig{Name: "m", Model: model, Transport: "tcp", Address: startRawPeer(t, silentPeer), UnitID: 1, Timeout: 10 * time.Second, Retries: 5})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 2; i++ { // the second sample reuses the connection and its watch
		start := time.Now()
		_, err := silent.CollectBy(ctx, start.Add(200*time.Millisecond))
		if el := time.Since(start); el < 150*time.Millisecond || el > 2*time.Second {
			t.Errorf("sample %d: took %v, want about the 200ms deadline", i, el)
		}
		if err == nil || !strings.Contains(err.Error(), `meter "m" unit 1: read coils 7-7: timeout: sample deadline passed`) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("sample %d: err = %v, want a timeout at the sample deadline", i, err)
		}
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := silent.CollectBy(ctx, start.Add(10*time.Second))
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancel took %v", el)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want cancellation", err)
	}

	_, addr := startFakeDevice(t, model, testValues())
	m := newMeter(t, modbus.MeterConfig{Name: "pdu", Model: model, Transport: "tcp", Address: addr, UnitID: 1, Timeout: time.Second})
	ctx1, cancel1 := context.WithCancel(context.Background())
	if _, err := m.CollectBy(ctx1, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	cancel1() // its watch fires on the idle connection
	if _, err := m.CollectBy(ctx1, time.Now().Add(time.Second)); !errors.Is(err, context.Canceled) {
		t.Errorf("sample under an ended context: err = %v, want cancellation", err)
	}
	for i := 0; i < 3; i++ {
		pts, err := m.CollectBy(context.Background(), time.Now().Add(time.Second))
		if err != nil || len(pts) != 2 {
			t.Fatalf("sample %d after another context ended: %d points, err %v", i, len(pts), err)
		}
	}
}
