package modbus

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mbserver "github.com/simonvetter/modbus"
)

// gateway answers input registers for any unit id, slowly, and records how
// many requests it ever had in flight at once.
type gateway struct {
	inFlight, most atomic.Int32
	units          sync.Map
}

func (g *gateway) HandleInputRegisters(req *mbserver.InputRegistersRequest) ([]uint16, error) {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			break
		}
	}
	g.units.Store(req.UnitId, true)
	time.Sleep(15 * time.Millisecond)
	return make([]uint16, req.Quantity), nil
}
func (g *gateway) HandleHoldingRegisters(*mbserver.HoldingRegistersRequest) ([]uint16, error) {
	return nil, mbserver.ErrIllegalFunction
}
func (g *gateway) HandleCoils(*mbserver.CoilsRequest) ([]bool, error) {
	return nil, mbserver.ErrIllegalFunction
}
func (g *gateway) HandleDiscreteInputs(*mbserver.DiscreteInputsRequest) ([]bool, error) {
	return nil, mbserver.ErrIllegalFunction
}

func startGateway(t *testing.T) (*gateway, string) {
	t.Helper()
	g := &gateway{}
	addr := freeLoopback(t)
	srv, err := mbserver.NewServer(&mbserver.ServerConfiguration{URL: "tcp://" + addr, Timeout: 10 * time.Second, MaxClients: 32}, g)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return g, addr
}

func pollConcurrently(t *testing.T, lines *Lines, addr string, units int) {
	t.Helper()
	model := &Model{Name: "ir4", Fields: []Field{{Name: "a", Measurement: "power", Table: TableInput, Address: 0, Type: TypeUint32},
		{Name: "b", Measurement: "power", Table: TableInput, Address: 10, Type: TypeUint32}}}
	var meters []*Meter
	for u := 1; u <= units; u++ {
		m, err := NewMeter(MeterConfig{Name: "m", Model: model, Transport: TransportTCP, Address: addr,
			UnitID: byte(u), Timeout: 2 * time.Second, Lines: lines})
		if err != nil {
			t.Fatal(err)
		}
		meters = append(meters, m)
	}
	var wg sync.WaitGroup
	errs := make(chan error, units)
	for _, m := range meters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Collect(context.Background()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, m := range meters {
		_ = m.Close()
	}
}

func TestUnitsBehindOneGatewayShareOneLineInTurn(t *testing.T) {
	g, addr := startGateway(t)
	lines := NewLines()
	pollConcurrently(t, lines, addr, 6)
	if most := g.most.Load(); most != 1 {
		t.Errorf("gateway saw %d requests at once over a shared line, want 1", most)
	}
	n := 0
	g.units.Range(func(any, any) bool { n++; return true })
	if n != 6 {
		t.Errorf("gateway answered %d unit ids, want 6", n)
	}
	if lines.Shared("tcp://"+addr) != 0 {
		t.Error("line not released after every meter closed")
	}

	// Without a shared line the same meters hit the gateway in parallel:
	// the check above can fail.
	g2, addr2 := startGateway(t)
	pollConcurrently(t, nil, addr2, 6)
	if g2.most.Load() < 2 {
		t.Errorf("separate connections never overlapped (most %d); the shared-line check proves nothing", g2.most.Load())
	}
}

func TestSharedLineWaitHonoursContext(t *testing.T) {
	lines := NewLines()
	l := lines.get("tcp://x", func() link { return newStreamLink("127.0.0.1:1", time.Second, false, nil) })
	s := l.(*sharedLink)
	s.turn <- struct{}{} // someone else is on the line
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := l.read(ctx, time.Time{}, 1, Request{Table: TableInput, Quantity: 1}); err == nil {
		t.Error("read on a busy line ignored its context")
	}
	<-s.turn
	_ = l.Close()
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestSharedLineWaitHonoursDeadline(t *testing.T) {
	lines := NewLines()
	l := lines.get("tcp://x", func() link { return newStreamLink("127.0.0.1:1", time.Second, false, nil) })
	s := l.(*sharedLink)
	s.turn <- struct{}{} // someone else is on the line
	start := time.Now()
	_, err := l.read(context.Background(), start.Add(50*time.Millisecond), 1, Request{Table: TableInput, Quantity: 1})
	if el := time.Since(start); el < 40*time.Millisecond || el > time.Second {
		t.Errorf("gave up after %v, want about the 50ms deadline", el)
	}
	if err == nil || !strings.Contains(err.Error(), "sample deadline passed waiting for line tcp://x") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	<-s.turn
	_ = l.Close()
}
