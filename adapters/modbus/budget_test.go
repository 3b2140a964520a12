package modbus_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/modbus"
)

// Within the budget a meter keeps its connection; beyond it, it connects
// for each sample and closes after, and every sample still succeeds.
func TestConnBudgetKeepsWhatFitsAndReconnectsTheRest(t *testing.T) {
	var accepts atomic.Int32
	addr := startRawPeer(t, func(c net.Conn) {
		accepts.Add(1)
		answerZeros(c)
	})
	model, err := modbus.ParseModel("x", []byte("name: x\nfields: [{name: kw, measurement: power, table: holding, address: 0, type: float32}]"))
	if err != nil {
		t.Fatal(err)
	}
	budget := modbus.NewConnBudget(3) // 2 kept, 1 for per-sample connections
	var meters []*modbus.Meter
	for i := 0; i < 4; i++ {
		meters = append(meters, newMeter(t, modbus.MeterConfig{Name: "m" + string(rune('a'+i)), Model: model, Transport: "tcp",
			Address: addr, UnitID: 1, Timeout: time.Second, Budget: budget}))
	}
	for round := 0; round < 3; round++ {
		for _, m := range meters {
			if _, err := m.CollectBy(context.Background(), time.Now().Add(time.Second)); err != nil {
				t.Fatalf("round %d %s: %v", round, m.Name(), err)
			}
		}
	}
	if got := budget.Kept(); got != 2 {
		t.Errorf("%d connections kept, want 2", got)
	}
	// 2 kept connections, once each; 2 meters connecting for each of 3 samples.
	if got := accepts.Load(); got != 2+2*3 {
		t.Errorf("peer accepted %d connections, want 8", got)
	}
	for _, m := range meters {
		m.Close()
	}
	if got := budget.Kept(); got != 0 {
		t.Errorf("%d connections still counted after every meter closed", got)
	}
}

// A meter that finds the budget's per-sample slot taken waits for it only
// until the sample's deadline.
func TestConnBudgetWaitEndsAtTheDeadline(t *testing.T) {
	addr := startRawPeer(t, silentPeer)
	model, err := modbus.ParseModel("x", []byte("name: x\nfields: [{name: kw, measurement: power, table: holding, address: 0, type: float32}]"))
	if err != nil {
		t.Fatal(err)
	}
	budget := modbus.NewConnBudget(2) // 1 kept, 1 per-sample
	cfg := modbus.MeterConfig{Model: model, Transport: "tcp", Address: addr, UnitID: 1, Timeout: 5 * time.Second, Budget: budget}
	cfg.Name = "kept"
	kept := newMeter(t, cfg)
	cfg.Name = "short"
	short := newMeter(t, cfg)
	cfg.Name = "waiting"
	waiting := newMeter(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go kept.CollectBy(ctx, time.Now().Add(3*time.Second)) // holds the kept slot, silent peer
	time.Sleep(50 * time.Millisecond)
	go short.CollectBy(ctx, time.Now().Add(3*time.Second)) // holds the per-sample slot
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	_, err = waiting.CollectBy(ctx, start.Add(200*time.Millisecond))
	if el := time.Since(start); el < 150*time.Millisecond || el > 2*time.Second {
		t.Errorf("waited %v, want about the 200ms deadline", el)
	}
	if err == nil || !strings.Contains(err.Error(), "waiting for one of 1 connection slots") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
}
