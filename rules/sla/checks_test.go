package sla_test

import (
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

func TestDebouncer(t *testing.T) {
	t0 := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	p := sla.CheckPolicy{Interval: time.Minute}
	d := sla.NewDebouncer(p)
	var got []sla.StateChange
	observe := func(m int, ok bool) {
		got = append(got, d.Observe(sla.Check{At: at(m), OK: ok, Error: "refused"})...)
	}
	// Two failures first: soft, and valid data, so UP from the first one.
	observe(0, false)
	observe(1, false)
	if len(got) != 0 || d.Settled(at(1)) != at(0) {
		t.Fatalf("pending failures: emitted %v, settled %s", got, d.Settled(at(1)))
	}
	observe(2, true)
	observe(3, false)
	observe(4, false)
	observe(5, false) // confirmed, back-dated to minute 3
	observe(6, true)
	observe(7, false) // recovery run broken
	observe(8, true)
	observe(9, true) // recovered at minute 8
	got = append(got, d.Advance(at(12))...)
	if d.Settled(at(12)) != at(10) {
		t.Errorf("settled = %s, want the next check's due time", d.Settled(at(12)))
	}
	got = append(got, d.Advance(at(12).Add(time.Second))...) // > 3 min since 9
	observe(20, false)
	got = append(got, d.Advance(at(40))...) // the single failure was soft
	want := []sla.StateChange{
		{At: at(0), State: sla.StateUp},
		{At: at(3), State: sla.StateDown, Cause: "refused"},
		{At: at(8), State: sla.StateUp},
		{At: at(10), State: sla.StateUnknown, Cause: sla.CauseNoData},
		{At: at(20), State: sla.StateUp},
		{At: at(21), State: sla.StateUnknown, Cause: sla.CauseNoData},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || got[i].State != want[i].State || got[i].Cause != want[i].Cause {
			t.Errorf("change %d = %v, want %v", i, got[i], want[i])
		}
	}
	// Out of order and duplicate checks are ignored.
	if out := d.Observe(sla.Check{At: at(5), OK: false}); out != nil {
		t.Errorf("old check emitted %v", out)
	}
}

func TestCheckPolicyValidate(t *testing.T) {
	if err := (sla.CheckPolicy{}).Validate(); err == nil {
		t.Error("zero interval accepted")
	}
	if err := (sla.CheckPolicy{Interval: time.Minute, StaleAfter: time.Second}).Validate(); err == nil {
		t.Error("stale_after below the interval accepted")
	}
}
