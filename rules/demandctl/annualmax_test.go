package demandctl_test

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/tariff"
)

// peakStore is the scenario's store with a stored 12-month maximum.
type peakStore struct {
	*fakeStore
	kw        float64
	calls     atomic.Int32
	billReads atomic.Int32
	from      time.Time
}

// BillBlocks answers the bill-block read of the span's 30-minute blocks,
// each 256 kWh (512 kW) at full coverage.
func (p *peakStore) BillBlocks(_ context.Context, _ string, from, to time.Time, block time.Duration) ([]tariff.Block, error) {
	p.billReads.Add(1)
	var out []tariff.Block
	for b := from; b.Before(to); b = b.Add(block) {
		out = append(out, tariff.Block{Start: b, KWh: 256, Coverage: 1})
	}
	return out, nil
}

func (p *peakStore) PeakDemand(_ context.Context, _ string, from, to time.Time, _ time.Duration) (float64, time.Time, error) {
	p.calls.Add(1)
	p.from = from
	return p.kw, from, nil
}

// The controller reads the 12-month maximum from history once (at start,
// then once a day, never per tick), holds the annual_max limit to it,
// prices the block as a new maximum on every decision and point, and
// raises the maximum at the end of the 512 kW block.
func TestControllerAnnualMaximum(t *testing.T) {
	store := &peakStore{fakeStore: &fakeStore{power: scenarioSamples(at("12:20:00"), at("13:40:00"))}, kw: 505}
	pts := &memPoints{}
	clock := clockwork.NewFakeClockAt(at("12:59:50"))
	engine := scenarioEngine()
	kepco := tariff.Contract{Name: "kepco", BasicYenPerKW: 1765.5, Bands: []tariff.Band{{Name: "all", YenPerKWh: 13.94}}}.Defaults()
	engine.Pricer = tariff.MaxPricer{Schedule: tariff.Schedule{{From: at("00:00:00").AddDate(-1, 0, 0), Contract: kepco}}}
	limits := []demandctl.LimitSpec{{Limit: demand.ContractLimit{KW: 600, Block: 30 * time.Minute}},
		{Limit: demand.AnnualMaxLimit{Block: 30 * time.Minute}}}
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: engine, Limits: limits, Tick: 10 * time.Second,
		Store: store, Points: pts, Logger: quietLogger(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.RefreshHistory(ctx)
	if want := time.Date(2023, 8, 1, 0, 0, 0, 0, tokyo); !store.from.Equal(want) {
		t.Errorf("history read from %s, want %s (the month and the 11 before it)", store.from, want)
	}
	var at1320, at1331 demand.Decision
	for now := at("13:00:00"); !now.After(at("13:37:00")); now = now.Add(10 * time.Second) {
		clock.Advance(10 * time.Second)
		d, err := c.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case now.Equal(at("13:20:00")):
			at1320 = d
		case now.Equal(at("13:37:00")):
			at1331 = d
		}
	}
	c.RefreshHistory(ctx) // the same day: not read again
	if n := store.calls.Load(); n != 1 {
		t.Errorf("history read %d times in 223 ticks, want once", n)
	}
	if at1320.Limit != "annual_max" || at1320.AnnualMaxKW != 505 || !at1320.Priced {
		t.Fatalf("13:20: strictest %q, annual max %.1f, priced %v", at1320.Limit, at1320.AnnualMaxKW, at1320.Priced)
	}
	want := (math.Floor(at1320.Billing.PredictedKW+0.5) - 505) * 1765.5 * 12
	if want <= 0 || math.Abs(at1320.NewMaxYen-want) > 1e-6 {
		t.Errorf("13:20: new max %.2f yen, want %.2f (predicted %.2f)", at1320.NewMaxYen, want, at1320.Billing.PredictedKW)
	}
	if at1331.AnnualMaxKW < 510 || at1331.AnnualMaxKW > 514 || at1331.NewMaxYen != 0 {
		t.Errorf("13:37: annual max %.2f (want the 512 kW block), new max %.0f yen (want 0 at 300 kW)", at1331.AnnualMaxKW, at1331.NewMaxYen)
	}
	var seen bool
	for _, p := range pts.pts {
		if p.Measurement == demandctl.MeasurementDemand && p.Time.Equal(at("13:20:00")) {
			seen = true
			if p.Fields["annual_max_kw"] != 505.0 || p.Fields["new_max_yen"] != want {
				t.Errorf("13:20 point: annual_max_kw %v new_max_yen %v, want 505, %.2f", p.Fields["annual_max_kw"], p.Fields["new_max_yen"], want)
			}
		}
	}
	if !seen {
		t.Error("no demand point at 13:20")
	}
	// The block that ended was written as a bill block, once.
	var bills []time.Time
	for _, p := range pts.pts {
		if p.Measurement == demandctl.MeasurementBillBlock {
			bills = append(bills, p.Time)
			if p.Fields["kwh"] != 256.0 || p.Fields["coverage"] != 1.0 {
				t.Errorf("bill block %v: %v", p.Time, p.Fields)
			}
		}
	}
	if len(bills) != 1 || !bills[0].Equal(at("13:00:00")) || store.billReads.Load() != 1 {
		t.Errorf("bill blocks at %v (%d reads), want one at 13:00", bills, store.billReads.Load())
	}
	clock.Advance(24 * time.Hour)
	c.RefreshHistory(ctx)
	if n := store.calls.Load(); n != 2 {
		t.Errorf("the next day: %d reads, want 2", n)
	}
}
