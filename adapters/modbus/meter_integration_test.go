package modbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/modbus"
)

// Integration tests against a real, independent Modbus server: pymodbus 3.0
// (Debian's python3-pymodbus) running testdata/pymodbus_server.py. They are
// skipped with -short or when /usr/bin/python3 cannot import pymodbus.

const python = "/usr/bin/python3"

// pyValue is one value the Python server places and the adapter must read.
type pyValue struct {
	Table   string  `json:"table"`
	Address uint16  `json:"address"`
	Type    string  `json:"type"`
	Order   string  `json:"order,omitempty"`
	Value   any     `json:"value"`
	Length  uint16  `json:"length,omitempty"`
	Scale   float64 `json:"-"`
	Offset  float64 `json:"-"`
	want    any
}

// pyValues covers every type in every byte order, strings, a bool register,
// scale and offset, coils and discrete inputs.
func pyValues() []pyValue {
	var vs []pyValue
	addr := map[string]uint16{}
	add := func(table, typ, order string, value any, length uint16, want any) {
		size := map[string]uint16{"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
			"int64": 4, "uint64": 4, "float64": 4, "string": length, "bool": 1}[typ]
		vs = append(vs, pyValue{Table: table, Address: addr[table], Type: typ, Order: order, Value: value, Length: length, want: want})
		addr[table] += size
	}
	for _, o := range []string{"AB", "BA"} {
		add("holding", "int16", o, -123, 0, -123.0)
		add("holding", "uint16", o, 65413, 0, 65413.0)
	}
	for _, o := range []string{"ABCD", "DCBA", "BADC", "CDAB"} {
		add("holding", "int32", o, -1582119980, 0, -1582119980.0)
		add("holding", "uint32", o, 2712847316, 0, 2712847316.0)
		add("holding", "float32", o, -1234.5678, 0, float64(float32(-1234.5678)))
	}
	for _, o := range []string{"ABCDEFGH", "HGFEDCBA", "BADCFEHG", "GHEFCDAB"} {
		add("input", "int64", o, -4822678189205111, 0, -4822678189205111.0)
		add("input", "uint64", o, 4822678189205111, 0, 4822678189205111.0)
		add("input", "float64", o, -12345.6789012345, 0, -12345.6789012345)
	}
	add("input", "string", "ABCD", "SETSUDEN-PM", 6, "SETSUDEN-PM")
	add("input", "string", "BADC", "PM5560", 4, "PM5560")
	add("holding", "bool", "", true, 0, true)
	add("holding", "bool", "", false, 0, false)
	// Scaled: raw 2345 * 0.5 - 40 = 1132.5; raw 0xFFFFFFFF * 0.01.
	add("holding", "int16", "", 2345, 0, 1132.5)
	vs[len(vs)-1].Scale, vs[len(vs)-1].Offset = 0.5, -40
	add("input", "uint32", "CDAB", 4294967295, 0, 42949672.95)
	vs[len(vs)-1].Scale = 0.01
	for i, b := range []bool{true, false, true, true} {
		vs = append(vs, pyValue{Table: "coil", Address: uint16(3 * i), Type: "bool", Value: b, want: b})
	}
	vs = append(vs, pyValue{Table: "coil", Address: 130, Type: "bool", Value: true, want: true})
	for i, b := range []bool{false, true, true} {
		vs = append(vs, pyValue{Table: "discrete", Address: uint16(10 + i), Type: "bool", Value: b, want: b})
	}
	return vs
}

// pyModel renders the values as a meter model, one field each.
func pyModel(t *testing.T, vs []pyValue, extra string) *modbus.Model {
	t.Helper()
	var b strings.Builder
	b.WriteString("name: pymodbus-all-types\nfields:\n")
	for i, v := range vs {
		fmt.Fprintf(&b, "  - {name: f%02d_%s, measurement: m, table: %s, address: %d, type: %s", i, v.Type, v.Table, v.Address, v.Type)
		if v.Order != "" {
			fmt.Fprintf(&b, ", byte_order: %s", v.Order)
		}
		if v.Length > 0 {
			fmt.Fprintf(&b, ", length: %d", v.Length)
		}
		if v.Scale != 0 {
			fmt.Fprintf(&b, ", scale: %v", v.Scale)
		}
		if v.Offset != 0 {
			fmt.Fprintf(&b, ", offset: %v", v.Offset)
		}
		b.WriteString("}\n")
	}
	b.WriteString(extra)
	m, err := modbus.ParseModel("pymodbus-all-types.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pyServer is a running pymodbus_server.py.
type pyServer struct {
	addr   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPyServer starts the server on a free port and waits until it listens;
// it is killed when the test ends.
func startPyServer(t *testing.T, vs []pyValue, framer string) *pyServer {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs pymodbus (skipped with -short)")
	}
	if out, err := exec.Command(python, "-c", "import pymodbus").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import pymodbus (apt-get install python3-pymodbus): %v %s", python, err, out)
	}
	regs, bits := []pyValue{}, []pyValue{}
	for _, v := range vs {
		if v.Table == "coil" || v.Table == "discrete" {
			bits = append(bits, v)
		} else {
			regs = append(regs, v)
		}
	}
	spec, err := json.Marshal(map[string]any{"registers": regs, "bits": bits})
	if err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	s := &pyServer{addr: addr, stderr: &lockedBuffer{}}
	s.cmd = exec.Command(python, "testdata/pymodbus_server.py", port, specFile, framer)
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGCONT) // in case a test left it stopped
		s.cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("pymodbus server exited: %v\n%s", err, s.stderr)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("pymodbus server not listening on %s after 20 s\n%s", addr, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkValues compares a sample with the values the server holds.
func checkValues(t *testing.T, m *modbus.Model, vs []pyValue, fields map[string]any) {
	t.Helper()
	for i, v := range vs {
		name := m.Fields[i].Name
		got, ok := fields[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if g, isFloat := got.(float64); isFloat {
			if w := v.want.(float64); g != w {
				t.Errorf("%s (%s %s %s@%d) = %v, want exactly %v (diff %g)", name, v.Type, v.Order, v.Table, v.Address, g, w, math.Abs(g-w))
			}
			continue
		}
		if got != v.want {
			t.Errorf("%s (%s %s %s@%d) = %#v, want %#v", name, v.Type, v.Order, v.Table, v.Address, got, v.want)
		}
	}
}

func TestPymodbusEveryTypeAndByteOrder(t *testing.T) {
	for _, transport := range []string{"tcp", "rtuovertcp"} {
		t.Run(transport, func(t *testing.T) {
			vs := pyValues()
			framer := map[string]string{"tcp": "socket", "rtuovertcp": "rtu"}[transport]
			srv := startPyServer(t, vs, framer)
			model := pyModel(t, vs, "")
			m := newMeter(t, modbus.MeterConfig{Name: "py", Model: model, Transport: transport, Address: srv.addr, UnitID: 1, Timeout: 2 * time.Second})
			t.Logf("plan: %v", m.Plan())
			for i := 0; i < 2; i++ {
				pts, err := m.Collect(context.Background())
				if err != nil {
					t.Fatalf("%v\n%s", err, srv.stderr)
				}
				if len(pts) != 1 || len(pts[0].Fields) != len(vs) {
					t.Fatalf("points = %+v", pts)
				}
				checkValues(t, model, vs, pts[0].Fields)
			}

			// An address the server does not have: exception 2, named.
			bad := pyModel(t, vs, "  - {name: unmapped, measurement: m, table: holding, address: 300, type: float32}\n")
			mb := newMeter(t, modbus.MeterConfig{Name: "pdu-a1", Model: bad, Transport: transport, Address: srv.addr, UnitID: 1, Retries: 2})
			_, err := mb.Collect(context.Background())
			want := `meter "pdu-a1" unit 1: read holding registers 300-301: modbus: exception '2' (illegal data address)`
			if err == nil || err.Error() != want {
				t.Errorf("err = %v\nwant %s", err, want)
			}
			// The connection survives the exception: the good meter still reads.
			if _, err := m.Collect(context.Background()); err != nil {
				t.Error(err)
			}

			// The other framing against this server is garbage to both sides.
			other := map[string]string{"tcp": "rtuovertcp", "rtuovertcp": "tcp"}[transport]
			mw := newMeter(t, modbus.MeterConfig{Name: "wrong-framing", Model: model, Transport: other, Address: srv.addr, UnitID: 1, Timeout: 300 * time.Millisecond})
			if _, err := mw.Collect(context.Background()); err == nil || !strings.HasPrefix(err.Error(), `meter "wrong-framing" unit 1: read coils 0-0: `) {
				t.Errorf("%s against a %s server: err = %v", other, transport, err)
			} else {
				t.Logf("%s against a %s server: %v", other, transport, err)
			}
		})
	}
}

// TestPymodbusStopsAnswering freezes the server with SIGSTOP: Collect must
// fail with a timeout within Timeout×(Retries+1) plus slack, and succeed
// again (on a new connection) once the server is thawed with SIGCONT.
func TestPymodbusStopsAnswering(t *testing.T) {
	vs := pyValues()
	srv := startPyServer(t, vs, "socket")
	model := pyModel(t, vs, "")
	const timeout, retries = 300 * time.Millisecond, 2
	m := newMeter(t, modbus.MeterConfig{Name: "frozen", Model: model, Transport: "tcp", Address: srv.addr, UnitID: 1, Timeout: timeout, Retries: retries})
	if _, err := m.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := m.Collect(context.Background())
	took := time.Since(start)
	if err == nil {
		t.Fatal("a stopped server answered")
	}
	if !strings.HasPrefix(err.Error(), `meter "frozen" unit 1: read `) || !strings.Contains(err.Error(), "timeout: no answer within 300ms") || !strings.Contains(err.Error(), "(3 attempts)") {
		t.Errorf("err = %v", err)
	}
	if limit := timeout*(retries+1) + time.Second; took > limit || took < timeout*(retries+1) {
		t.Errorf("failing took %v, want %v..%v", took, timeout*(retries+1), limit)
	}
	t.Logf("stopped server: %v after %v", err, took)

	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	pts, err := m.Collect(context.Background())
	if err != nil {
		t.Fatalf("after SIGCONT: %v\n%s", err, srv.stderr)
	}
	checkValues(t, model, vs, pts[0].Fields)
}

// TestPymodbusBudgetAndSampleDeadline polls the real server the way the
// collector does (CollectBy with the sample's deadline) with a connection
// budget smaller than the meters: every sample is right whether its meter
// keeps its connection or connects for it, and a frozen server fails the
// sample at its deadline, not after each exchange's longer timeout.
func TestPymodbusBudgetAndSampleDeadline(t *testing.T) {
	vs := pyValues()
	srv := startPyServer(t, vs, "socket")
	model := pyModel(t, vs, "")
	budget := modbus.NewConnBudget(2) // one kept, one for a sample at a time
	var meters []*modbus.Meter
	for _, name := range []string{"a", "b", "c"} {
		meters = append(meters, newMeter(t, modbus.MeterConfig{Name: name, Model: model, Transport: "tcp",
			Address: srv.addr, UnitID: 1, Timeout: 5 * time.Second, Retries: 3, Budget: budget}))
	}
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		for _, m := range meters {
			pts, err := m.CollectBy(ctx, time.Now().Add(2*time.Second))
			if err != nil {
				t.Fatalf("round %d %s: %v\n%s", round, m.Name(), err, srv.stderr)
			}
			checkValues(t, model, vs, pts[0].Fields)
		}
	}
	if got := budget.Kept(); got != 1 {
		t.Errorf("%d connections kept, budget keeps 1", got)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := meters[0].CollectBy(ctx, start.Add(400*time.Millisecond))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timeout: sample deadline passed") {
		t.Errorf("frozen server: err = %v, want the sample deadline", err)
	}
	if took < 350*time.Millisecond || took > 2*time.Second {
		t.Errorf("frozen server: failed after %v, want about the 400ms deadline (exchange timeout 5s)", took)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, m := range meters {
		if _, err := m.CollectBy(ctx, time.Now().Add(2*time.Second)); err != nil {
			t.Errorf("%s after SIGCONT: %v", m.Name(), err)
		}
	}
}
