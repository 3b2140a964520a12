package demand

import (
	"math"
	"testing"
	"time"
)

// linearPricer charges 10,000 yen per kW above the maximum, and records
// what it was asked.
type linearPricer struct {
	at             time.Time
	blockKW, maxKW float64
}

func (p *linearPricer) NewMaximumCost(at time.Time, blockKW, maxKW float64) float64 {
	p.at, p.blockKW, p.maxKW = at, blockKW, maxKW
	return math.Max(0, blockKW-maxKW) * 10000
}

// The annual_max limit holds a block to the 12-month maximum: the
// configured seed until a completed block is higher, then that block's
// demand, picked up at the first tick of the next block; every decision
// prices the block as a new maximum.
func TestAnnualMaxLimitAndNewMaximumCost(t *testing.T) {
	t0 := time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.NoAction = 0
	cfg.AnnualMaxKW = 500
	pricer := &linearPricer{}
	cfg.Pricer = pricer
	cfg.Limits = []Limit{ContractLimit{KW: 800, Block: 30 * time.Minute}, AnnualMaxLimit{Block: 30 * time.Minute}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// 550 kW flat from 09:30: the 10:00 block predicts 550 against 500.
	s := flat(t0.Add(-30*time.Minute), 90, 550)
	d, st := Evaluate(cfg, State{}, s, t0.Add(10*time.Minute))
	if d.Limit != "annual_max" || d.LimitKW != 500 || d.AnnualMaxKW != 500 {
		t.Fatalf("strictest %q %.1f kW, annual max %.1f; want annual_max 500", d.Limit, d.LimitKW, d.AnnualMaxKW)
	}
	if !d.Priced || math.Abs(d.NewMaxYen-50*10000) > 1e-6 || !pricer.at.Equal(t0) || pricer.maxKW != 500 {
		t.Errorf("new max %v %.0f yen (asked %v %.1f over %.1f), want 500,000 yen for the 10:00 block", d.Priced, d.NewMaxYen, pricer.at, pricer.blockKW, pricer.maxKW)
	}
	if d.Stage < StageShed || d.Request == nil || d.Request.Limit != "annual_max" {
		t.Errorf("stage %s request %+v: want shed for annual_max", d.Stage, d.Request)
	}
	// The block ends at 550: the next block's first tick raises the maximum.
	d2, st2 := Evaluate(cfg, st, s, t0.Add(31*time.Minute))
	if math.Abs(d2.AnnualMaxKW-550) > 1e-6 || math.Abs(st2.PeakKW-550) > 1e-6 {
		t.Fatalf("after a 550 kW block: annual max %.2f, state peak %.2f", d2.AnnualMaxKW, st2.PeakKW)
	}
	if d2.NewMaxYen > 1e-6 || d2.Limit != "annual_max" || math.Abs(d2.LimitKW-550) > 1e-6 {
		t.Errorf("at the new maximum: %.0f yen, strictest %s %.1f", d2.NewMaxYen, d2.Limit, d2.LimitKW)
	}
}

// With no maximum known (no seed, no block completed) the annual_max limit
// is not in force and nothing is priced.
func TestAnnualMaxUnknown(t *testing.T) {
	t0 := time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.Pricer = &linearPricer{}
	cfg.Limits = []Limit{AnnualMaxLimit{Block: 30 * time.Minute}}
	d, _ := Evaluate(cfg, State{}, flat(t0, 10, 550), t0.Add(10*time.Minute))
	if len(d.Limits) != 0 || d.Priced || d.AnnualMaxKW != 0 {
		t.Errorf("limits %+v priced %v max %.1f: want nothing in force", d.Limits, d.Priced, d.AnnualMaxKW)
	}
	if err := (AnnualMaxLimit{Block: 7 * time.Minute}).Validate(); err == nil {
		t.Error("a 7-minute block validated")
	}
}
