package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// The demand section maps onto the engine's types.
func TestDemandEngine(t *testing.T) {
	c, err := Load("testdata/demand-valid/config.yaml", Options{RequireInflux: true})
	if err != nil {
		t.Fatal(err)
	}
	e, specs, err := c.Demand.Engine(c.Site)
	if err != nil {
		t.Fatal(err)
	}
	if e.Location.String() != "Asia/Tokyo" || e.BlockLength != 30*time.Minute || e.MaxGap != 2*time.Minute ||
		e.MinRemaining != 90*time.Second || e.NoAction != 0 {
		t.Errorf("engine %+v", e)
	}
	wantShed := []demand.Sheddable{{Name: "chiller-2", Kind: "facility", KW: 40, Latency: time.Minute},
		{Name: "batch-vms", Kind: "it", KW: 60.5, Latency: 3 * time.Minute}}
	if !reflect.DeepEqual(e.Sheddable, wantShed) || e.AnnualMaxKW != 530 {
		t.Errorf("sheddable %+v, annual max %g", e.Sheddable, e.AnnualMaxKW)
	}
	// The cap "auto" follows Japan's holidays with the company's file
	// (relative to the configuration): 2024-07-16 is a working Tuesday,
	// 2024-08-14 a company day off, 2024-09-16 敬老の日, 2024-07-15 海の日
	// but worked.
	if c, ok := specs[len(specs)-1].Limit.(demand.CapLimit); !ok || c.Calendar.DaysOff == nil {
		t.Errorf("last limit %#v has no computed days off", specs[len(specs)-1].Limit)
	} else {
		tokyo, _ := time.LoadLocation("Asia/Tokyo")
		for day, want := range map[string]bool{"2024-07-16": true, "2024-08-14": false, "2024-09-16": false, "2024-07-15": true, "2025-07-21": false} {
			d, _ := time.ParseInLocation("2006-01-02", day, tokyo)
			if got := c.Calendar.ContainsDay(d.Add(12*time.Hour), tokyo); got != want {
				t.Errorf("cap calendar on %s: in force %v, want %v", day, got, want)
			}
		}
	}
	if p, ok := e.Predictor.(demand.MovingAverage); !ok || p.Window != 4*time.Minute || p.Points != 5 {
		t.Errorf("predictor %#v", e.Predictor)
	}
	if want := (demand.StageConfig{CautionAt: 0.9, ShedAt: 0.98, LimitAt: 1.1, Hysteresis: 0.025, ExitTicks: 3}); e.Stages != want {
		t.Errorf("stages %+v, want %+v", e.Stages, want)
	}
	if c.Demand.TickInterval() != 15*time.Second || len(e.Limits) != 0 {
		t.Errorf("tick %s, engine limits %v", c.Demand.TickInterval(), e.Limits)
	}
	if len(specs) != 4 {
		t.Fatalf("%d limits", len(specs))
	}
	if l := specs[0].Limit; l != (demand.ContractLimit{KW: 600, Block: 30 * time.Minute}) {
		t.Errorf("limit 0: %#v", l)
	}
	if l := specs[1].Limit; l != (demand.ContractLimit{Name: "target", KW: 575.5, Block: 15 * time.Minute}) {
		t.Errorf("limit 1: %#v", l)
	}
	cap2 := specs[2].Limit.(demand.CapLimit)
	wantCal := demand.Calendar{
		Dates: []demand.DateRange{{From: demand.MonthDay{Month: 7, Day: 1}, To: demand.MonthDay{Month: 9, Day: 9}},
			{From: demand.MonthDay{Month: 12, Day: 1}, To: demand.MonthDay{Month: 2, Day: 28}}},
		Weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		From:     9 * time.Hour, To: 20 * time.Hour,
		Holidays: []demand.Date{{Year: 2024, Month: 7, Day: 15}},
	}
	if cap2.Name != "restriction-2011" || cap2.BaselineKW != 500 || cap2.Reduction != 0.15 || cap2.Block != time.Hour ||
		!reflect.DeepEqual(cap2.Calendar, wantCal) || specs[2].BaselineLastYear || specs[2].ReductionAuto {
		t.Errorf("limit 2: %#v", specs[2])
	}
	if s := specs[3]; !s.BaselineLastYear || !s.ReductionAuto || s.Limit.(demand.CapLimit).Block != 30*time.Minute {
		t.Errorf("limit 3: %#v", s)
	}

	t.Setenv("SETSUDEN_TEST_WEBHOOK", "k3y")
	if s, err := c.Demand.Webhooks[1].Secret(); s != "k3y" || err != nil {
		t.Errorf("secret %q, %v", s, err)
	}
	if s, err := c.Demand.Webhooks[0].Secret(); s != "" || err != nil {
		t.Errorf("no secret_env: %q, %v", s, err)
	}
	t.Setenv("SETSUDEN_TEST_WEBHOOK", "")
	if _, err := c.Demand.Webhooks[1].Secret(); err == nil || strings.Contains(err.Error(), "/demand") {
		t.Errorf("unset secret: %v (and the error must not quote the URL's path)", err)
	}
}

func TestDemandDefaultsAndAbsence(t *testing.T) {
	c, err := Load("testdata/demand-defaults/config.yaml", Options{RequireInflux: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Demand.Enabled() {
		t.Fatal("a section with one limit is not enabled")
	}
	e, specs, err := c.Demand.Engine(c.Site)
	if err != nil {
		t.Fatal(err)
	}
	want := demand.DefaultConfig()
	if e.Location != time.UTC || e.BlockLength != want.BlockLength || e.MaxGap != want.MaxGap || e.NoAction != want.NoAction ||
		e.Stages != want.Stages || !reflect.DeepEqual(e.Predictor, want.Predictor) || c.Demand.TickInterval() != 10*time.Second {
		t.Errorf("defaults: %+v", e)
	}
	if len(specs) != 1 || specs[0].Limit != (demand.ContractLimit{KW: 450, Block: 30 * time.Minute}) {
		t.Errorf("limits %#v", specs)
	}
	if (Demand{}).Enabled() {
		t.Error("an absent section is enabled")
	}
	if _, _, err := (Demand{Block: 20 * time.Minute}).Engine(Site{Timezone: "UTC"}); err == nil {
		t.Error("Engine accepted a 20m block")
	}
}

func TestFractionAndDecimal(t *testing.T) {
	for in, want := range map[Fraction]float64{"95%": 0.95, "0.95": 0.95, " 2.5 % ": 0.025, "1": 1} {
		if got, err := in.Value(); err != nil || got != want {
			t.Errorf("Fraction(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []Fraction{"", "%", "high", "NaN", "1e400%"} {
		if _, err := bad.Value(); err == nil {
			t.Errorf("Fraction(%q) parsed", bad)
		}
	}
	if x, err := Decimal("425.5").Value(); x != 425.5 || err != nil {
		t.Errorf("Decimal: %v %v", x, err)
	}
	if _, err := Decimal("Inf").Value(); err == nil {
		t.Error("Decimal(Inf) parsed")
	}
}
