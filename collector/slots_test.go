package collector

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestSlotsShareOneTimerAnInstant(t *testing.T) {
	s := newSlots()
	at := time.Now().Add(80 * time.Millisecond)
	a, b := s.at(at), s.at(at)
	if a != b {
		t.Error("two waiters for the same instant got different channels")
	}
	other := s.at(at.Add(time.Millisecond))
	if s.armed != 2 {
		t.Errorf("armed %d timers for two instants", s.armed)
	}
	select {
	case <-a:
		t.Fatal("woke before its instant")
	default:
	}
	select {
	case <-a:
		if late := time.Since(at); late < 0 || late > 500*time.Millisecond {
			t.Errorf("woke %v after its instant", late)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("never woke")
	}
	<-other
	select {
	case <-s.at(time.Now().Add(-time.Second)):
	default:
		t.Error("an instant gone by does not wake at once")
	}
	s.mu.Lock()
	if len(s.pending) != 0 {
		t.Errorf("%d instants still pending after they passed", len(s.pending))
	}
	s.mu.Unlock()
}

// Sources with the same interval wake together from one timer an instant,
// not one a source, and each keeps its schedule.
func TestSourcesDueTogetherShareTheirWakeUps(t *testing.T) {
	sink := &memSink{}
	var sources []Scheduled
	for i := 0; i < 50; i++ {
		sources = append(sources, Scheduled{Source: okSource(fmt.Sprintf("m%02d", i)), Interval: 100 * time.Millisecond, Kind: "modbus"})
	}
	c, err := New(Config{Site: "s", Sink: sink}, sources)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(450*time.Millisecond, cancel)
	_ = c.Run(ctx)
	for i := 0; i < 50; i++ {
		if n := sink.count("power", "meter", fmt.Sprintf("m%02d", i)); n < 4 {
			t.Errorf("m%02d polled %d times in 450ms at 100ms, want >= 4", i, n)
		}
	}
	c.slots.mu.Lock()
	defer c.slots.mu.Unlock()
	if c.slots.armed > 6 {
		t.Errorf("%d timers armed for 50 sources over about 5 instants", c.slots.armed)
	}
}
