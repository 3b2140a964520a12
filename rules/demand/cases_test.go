package demand

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/rules/jpholiday"
)

// Test cases are folders under testdata/: config.yaml (the site's demand
// configuration and the replay span), samples.csv (site power and, in
// optional columns, energy counters) and expected.yaml (figures at chosen
// ticks, the stage transitions, and block demands). A new case is a
// folder, not new Go code. testdata/README.md describes the format.

type caseConfig struct {
	Timezone     string         `yaml:"timezone"`
	Block        *duration      `yaml:"block"`
	MaxGap       *duration      `yaml:"max_gap"`
	MinRemaining *duration      `yaml:"min_remaining"`
	NoAction     *duration      `yaml:"no_action"`
	Predictor    *casePredict   `yaml:"predictor"`
	Stages       *caseStages    `yaml:"stages"`
	Limits       []caseLimit    `yaml:"limits"`
	Sheddable    []caseShed     `yaml:"sheddable"`
	AnnualMaxKW  float64        `yaml:"annual_max_kw"`
	Replay       caseReplaySpan `yaml:"replay"`
}

type caseShed struct {
	Name    string   `yaml:"name"`
	Kind    string   `yaml:"kind"`
	KW      float64  `yaml:"kw"`
	Latency duration `yaml:"latency"`
}

type casePredict struct {
	Method string   `yaml:"method"`
	Window duration `yaml:"window"`
	Points int      `yaml:"points"`
}

type caseStages struct {
	Caution    *float64 `yaml:"caution"`
	Shed       *float64 `yaml:"shed"`
	Limit      *float64 `yaml:"limit"`
	Hysteresis *float64 `yaml:"hysteresis"`
	ExitTicks  *int     `yaml:"exit_ticks"`
}

type caseLimit struct {
	Contract *struct {
		Name  string   `yaml:"name"`
		KW    float64  `yaml:"kw"`
		Block duration `yaml:"block"`
	} `yaml:"contract"`
	Cap *struct {
		Name       string       `yaml:"name"`
		BaselineKW float64      `yaml:"baseline_kw"`
		Reduction  float64      `yaml:"reduction"`
		Block      duration     `yaml:"block"`
		Calendar   caseCalendar `yaml:"calendar"`
	} `yaml:"cap"`
	External *struct {
		KW     float64   `yaml:"kw"`
		From   time.Time `yaml:"from"`
		To     time.Time `yaml:"to"`
		Source string    `yaml:"source"`
		Block  duration  `yaml:"block"`
	} `yaml:"external"`
}

type caseCalendar struct {
	Dates    []string `yaml:"dates"` // "07-01..09-09"
	Weekdays []string `yaml:"weekdays"`
	Hours    string   `yaml:"hours"` // "09:00-20:00"
	Holidays []string `yaml:"holidays"`
	// NationalHolidays jp and HolidaysFile (relative to the case folder)
	// as in the configuration.
	NationalHolidays string `yaml:"national_holidays"`
	HolidaysFile     string `yaml:"holidays_file"`
}

type caseReplaySpan struct {
	From time.Time `yaml:"from"`
	To   time.Time `yaml:"to"`
	Tick duration  `yaml:"tick"`
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d.Duration = v
	return nil
}

func (c caseCalendar) build(dir string) (Calendar, error) {
	var cal Calendar
	switch {
	case c.NationalHolidays == "jp" && c.HolidaysFile != "":
		jc, err := jpholiday.Load(filepath.Join(dir, c.HolidaysFile))
		if err != nil {
			return cal, err
		}
		cal.DaysOff = jc
	case c.NationalHolidays == "jp":
		cal.DaysOff = jpholiday.New()
	case c.NationalHolidays != "" || c.HolidaysFile != "":
		return cal, fmt.Errorf("national_holidays %q, holidays_file %q: want jp, and a file only with it", c.NationalHolidays, c.HolidaysFile)
	}
	for _, s := range c.Dates {
		a, b, ok := strings.Cut(s, "..")
		if !ok {
			return cal, fmt.Errorf("dates %q: want MM-DD..MM-DD", s)
		}
		from, err := ParseMonthDay(a)
		if err != nil {
			return cal, err
		}
		to, err := ParseMonthDay(b)
		if err != nil {
			return cal, err
		}
		cal.Dates = append(cal.Dates, DateRange{from, to})
	}
	for _, s := range c.Weekdays {
		w, err := ParseWeekday(s)
		if err != nil {
			return cal, err
		}
		cal.Weekdays = append(cal.Weekdays, w)
	}
	if c.Hours != "" {
		a, b, ok := strings.Cut(c.Hours, "-")
		if !ok {
			return cal, fmt.Errorf("hours %q: want HH:MM-HH:MM", c.Hours)
		}
		var err error
		if cal.From, err = ParseClock(a); err != nil {
			return cal, err
		}
		if cal.To, err = ParseClock(b); err != nil {
			return cal, err
		}
	}
	for _, s := range c.Holidays {
		d, err := ParseDate(s)
		if err != nil {
			return cal, err
		}
		cal.Holidays = append(cal.Holidays, d)
	}
	return cal, nil
}

func (c caseConfig) build(dir string) (Config, error) {
	cfg := DefaultConfig()
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return cfg, err
		}
		cfg.Location = loc
	}
	if c.Block != nil {
		cfg.BlockLength = c.Block.Duration
	}
	if c.MaxGap != nil {
		cfg.MaxGap = c.MaxGap.Duration
	}
	if c.MinRemaining != nil {
		cfg.MinRemaining = c.MinRemaining.Duration
	}
	if c.NoAction != nil {
		cfg.NoAction = c.NoAction.Duration
	}
	if p := c.Predictor; p != nil {
		pr, err := NewPredictor(p.Method, p.Window.Duration, p.Points)
		if err != nil {
			return cfg, err
		}
		cfg.Predictor = pr
	}
	if s := c.Stages; s != nil {
		set := func(dst *float64, v *float64) {
			if v != nil {
				*dst = *v
			}
		}
		set(&cfg.Stages.CautionAt, s.Caution)
		set(&cfg.Stages.ShedAt, s.Shed)
		set(&cfg.Stages.LimitAt, s.Limit)
		set(&cfg.Stages.Hysteresis, s.Hysteresis)
		if s.ExitTicks != nil {
			cfg.Stages.ExitTicks = *s.ExitTicks
		}
	}
	for _, sh := range c.Sheddable {
		cfg.Sheddable = append(cfg.Sheddable, Sheddable{Name: sh.Name, Kind: sh.Kind, KW: sh.KW, Latency: sh.Latency.Duration})
	}
	cfg.AnnualMaxKW = c.AnnualMaxKW
	for i, l := range c.Limits {
		switch {
		case l.Contract != nil:
			b := l.Contract.Block.Duration
			if b == 0 {
				b = cfg.BlockLength
			}
			cfg.Limits = append(cfg.Limits, ContractLimit{Name: l.Contract.Name, KW: l.Contract.KW, Block: b})
		case l.Cap != nil:
			cal, err := l.Cap.Calendar.build(dir)
			if err != nil {
				return cfg, fmt.Errorf("limits[%d].cap.calendar: %w", i, err)
			}
			cfg.Limits = append(cfg.Limits, CapLimit{Name: l.Cap.Name, BaselineKW: l.Cap.BaselineKW,
				Reduction: l.Cap.Reduction, Block: l.Cap.Block.Duration, Calendar: cal})
		case l.External != nil:
			e := l.External
			cfg.Limits = append(cfg.Limits, ExternalTarget{KW: e.KW, From: e.From, To: e.To, Source: e.Source, Block: e.Block.Duration})
		default:
			return cfg, fmt.Errorf("limits[%d]: want one of contract, cap, external", i)
		}
	}
	return cfg, cfg.Validate()
}

// readSamples reads samples.csv: a header naming time, kw and optionally
// kwh_total and reset; other columns (e.g. the raw register kwh) are
// documentation. An empty cell means no reading of that kind at that time.
func readSamples(path string) ([]Sample, []EnergySample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	head, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	if _, ok := col["time"]; !ok {
		return nil, nil, fmt.Errorf("%s: no time column", path)
	}
	var power []Sample
	var energy []EnergySample
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		cell := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		t, err := time.Parse(time.RFC3339, cell("time"))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: time: %w", path, line, err)
		}
		if v := cell("kw"); v != "" {
			kw, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%s:%d: kw: %w", path, line, err)
			}
			power = append(power, Sample{Time: t, KW: kw})
		}
		if v := cell("kwh_total"); v != "" {
			kwh, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%s:%d: kwh_total: %w", path, line, err)
			}
			energy = append(energy, EnergySample{Time: t, KWhTotal: kwh, Reset: cell("reset") == "true"})
		}
	}
	return power, energy, nil
}

type caseExpected struct {
	Tolerance   float64          `yaml:"tolerance_kw"`
	Checkpoints []caseCheckpoint `yaml:"checkpoints"`
	// Transitions, when present (even empty), must match exactly.
	Transitions *[]caseTransition `yaml:"transitions"`
	// TransitionCount, when set, is the number of transitions.
	TransitionCount *int        `yaml:"transition_count"`
	Blocks          []caseBlock `yaml:"blocks"`
}

type caseCheckpoint struct {
	At           time.Time  `yaml:"at"`
	Block        *time.Time `yaml:"block"`
	Elapsed      *float64   `yaml:"elapsed"`
	CurrentKW    *float64   `yaml:"current_kw"`
	Coverage     *float64   `yaml:"coverage"`
	TargetRampKW *float64   `yaml:"target_ramp_kw"`
	LoadKW       *float64   `yaml:"load_kw"`
	PredictedKW  *float64   `yaml:"predicted_kw"`
	AdjustmentKW *float64   `yaml:"adjustment_kw"`
	LimitKW      *float64   `yaml:"limit_kw"`
	Limit        *string    `yaml:"limit"`
	Limits       *[]string  `yaml:"limits"` // labels of the active limits
	Stage        *string    `yaml:"stage"`
	Held         *bool      `yaml:"held"`
	RequestKW    *float64   `yaml:"request_kw"` // 0 = no request
	HeadroomKW   *float64   `yaml:"headroom_kw"`
	Fallback     *bool      `yaml:"fallback"`
	BillingKW    *float64   `yaml:"billing_current_kw"`
	FormulaKW    *float64   `yaml:"formula_kw"`
	Method       *string    `yaml:"method"`
	// Requests the site can meet.
	RequestBy    *time.Time `yaml:"request_by"`
	Protect      *string    `yaml:"protect"`
	Unreachable  *bool      `yaml:"unreachable"`
	AchievableKW *float64   `yaml:"achievable_kw"`
	ReasonHas    string     `yaml:"reason_has"`
}

type caseTransition struct {
	From string    `yaml:"from"`
	To   string    `yaml:"to"`
	At   time.Time `yaml:"at"`
	// ReasonHas is a substring the reason must contain.
	ReasonHas string `yaml:"reason_has"`
}

type caseBlock struct {
	Start    time.Time `yaml:"start"`
	KW       float64   `yaml:"kw"`
	Coverage *float64  `yaml:"coverage"`
}

func loadYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/config.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, cf := range dirs {
		dir := filepath.Dir(cf)
		t.Run(filepath.Base(dir), func(t *testing.T) { runCase(t, dir) })
	}
}

func runCase(t *testing.T, dir string) {
	var cc caseConfig
	if err := loadYAML(filepath.Join(dir, "config.yaml"), &cc); err != nil {
		t.Fatal(err)
	}
	cfg, err := cc.build(dir)
	if err != nil {
		t.Fatalf("%s/config.yaml: %v", dir, err)
	}
	power, counters, err := readSamples(filepath.Join(dir, "samples.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var exp caseExpected
	if err := loadYAML(filepath.Join(dir, "expected.yaml"), &exp); err != nil {
		t.Fatal(err)
	}
	tol := exp.Tolerance
	if tol == 0 {
		tol = 0.01
	}
	sp := cc.Replay
	if sp.Tick.Duration <= 0 || !sp.To.After(sp.From) {
		t.Fatalf("%s/config.yaml: replay needs from < to and a tick", dir)
	}
	decisions := map[int64]Decision{}
	var trans []Transition
	var st State
	for now := sp.From; now.Before(sp.To); now = now.Add(sp.Tick.Duration) {
		var d Decision
		d, st = EvaluateMetered(cfg, st, power, counters, now)
		decisions[now.UnixNano()] = d
		trans = append(trans, d.Transitions...)
		if testing.Verbose() {
			t.Logf("%s block %s τ=%.3f cur=%.3f cov=%.3f ramp=%.3f P̂=%.3f pred=%.3f ΔP=%.3f lim=%s/%.1f stage=%s held=%v",
				now.In(cfg.Location).Format("15:04:05"), d.Block.Start.In(cfg.Location).Format("15:04"), d.Elapsed, d.CurrentKW, d.Coverage,
				d.TargetRampKW, d.LoadKW, d.PredictedKW, d.AdjustmentKW, d.Limit, d.LimitKW, d.Stage, d.Held)
		}
	}
	// The same run through Replay must give the same transitions.
	if rr := ReplayMetered(cfg, power, counters, sp.From, sp.To, sp.Tick.Duration, nil); len(rr.Transitions) != len(trans) {
		t.Errorf("Replay gave %d transitions, Evaluate loop %d", len(rr.Transitions), len(trans))
	}

	num := func(at time.Time, name string, got float64, want *float64) {
		if want != nil && math.Abs(got-*want) > tol {
			t.Errorf("%s %s = %.4f, want %.4f", at.Format(time.RFC3339), name, got, *want)
		}
	}
	for _, c := range exp.Checkpoints {
		d, ok := decisions[c.At.UnixNano()]
		if !ok {
			t.Errorf("checkpoint %s is not a tick of the replay", c.At.Format(time.RFC3339))
			continue
		}
		at := c.At
		if c.Block != nil && !d.Block.Start.Equal(*c.Block) {
			t.Errorf("%s block starts %s, want %s", at.Format(time.RFC3339), d.Block.Start.Format(time.RFC3339), c.Block.Format(time.RFC3339))
		}
		if c.Elapsed != nil && math.Abs(d.Elapsed-*c.Elapsed) > 1e-6 {
			t.Errorf("%s elapsed = %.6f, want %.6f", at.Format(time.RFC3339), d.Elapsed, *c.Elapsed)
		}
		num(at, "current_kw", d.CurrentKW, c.CurrentKW)
		if c.Coverage != nil && math.Abs(d.Coverage-*c.Coverage) > 1e-3 {
			t.Errorf("%s coverage = %.4f, want %.4f", at.Format(time.RFC3339), d.Coverage, *c.Coverage)
		}
		num(at, "target_ramp_kw", d.TargetRampKW, c.TargetRampKW)
		num(at, "load_kw", d.LoadKW, c.LoadKW)
		num(at, "predicted_kw", d.PredictedKW, c.PredictedKW)
		num(at, "adjustment_kw", d.AdjustmentKW, c.AdjustmentKW)
		num(at, "limit_kw", d.LimitKW, c.LimitKW)
		num(at, "headroom_kw", d.HeadroomKW, c.HeadroomKW)
		num(at, "billing_current_kw", d.Billing.CurrentKW, c.BillingKW)
		if c.RequestKW != nil {
			var got float64
			if d.Request != nil {
				got = d.Request.ShedKW
				if c.RequestBy != nil {
					if !d.Request.By.Equal(*c.RequestBy) {
						t.Errorf("%s request by %s, want %s", at.Format(time.RFC3339), d.Request.By, c.RequestBy)
					}
				} else if !d.Request.By.Equal(d.Block.End) {
					t.Errorf("%s request by %s, want the block end %s", at.Format(time.RFC3339), d.Request.By, d.Block.End)
				}
			}
			num(at, "request_kw", got, c.RequestKW)
		}
		num(at, "formula_kw", d.Billing.FormulaKW, c.FormulaKW)
		if c.Method != nil && d.Billing.Method != *c.Method {
			t.Errorf("%s method = %s, want %s", at.Format(time.RFC3339), d.Billing.Method, *c.Method)
		}
		if c.Protect != nil {
			got := ""
			if d.Request != nil {
				got = d.Request.Protect
			}
			if got != *c.Protect {
				t.Errorf("%s request protects %q, want %q", at.Format(time.RFC3339), got, *c.Protect)
			}
		}
		if c.Unreachable != nil && d.Unreachable != *c.Unreachable {
			t.Errorf("%s unreachable = %v (%s), want %v", at.Format(time.RFC3339), d.Unreachable, d.UnreachableReason, *c.Unreachable)
		}
		num(at, "achievable_kw", d.AchievableKW, c.AchievableKW)
		if c.ReasonHas != "" && !strings.Contains(d.UnreachableReason, c.ReasonHas) {
			t.Errorf("%s unreachable reason %q lacks %q", at.Format(time.RFC3339), d.UnreachableReason, c.ReasonHas)
		}
		if c.Limit != nil && d.Limit != *c.Limit {
			t.Errorf("%s strictest limit = %q, want %q", at.Format(time.RFC3339), d.Limit, *c.Limit)
		}
		if c.Limits != nil {
			var got []string
			for _, l := range d.Limits {
				got = append(got, l.Label)
			}
			if strings.Join(got, ",") != strings.Join(*c.Limits, ",") {
				t.Errorf("%s active limits = %v, want %v", at.Format(time.RFC3339), got, *c.Limits)
			}
		}
		if c.Stage != nil && d.Stage.String() != *c.Stage {
			t.Errorf("%s stage = %s, want %s", at.Format(time.RFC3339), d.Stage, *c.Stage)
		}
		if c.Held != nil && d.Held != *c.Held {
			t.Errorf("%s held = %v, want %v", at.Format(time.RFC3339), d.Held, *c.Held)
		}
		if c.Fallback != nil && d.Billing.Fallback != *c.Fallback {
			t.Errorf("%s fallback = %v, want %v", at.Format(time.RFC3339), d.Billing.Fallback, *c.Fallback)
		}
	}
	if exp.Transitions != nil {
		want := *exp.Transitions
		if len(trans) != len(want) {
			t.Errorf("%d transitions, want %d:", len(trans), len(want))
			for _, tr := range trans {
				t.Logf("  %s → %s at %s: %s", tr.From, tr.To, tr.At.Format(time.RFC3339), tr.Reason)
			}
		}
		for i := 0; i < len(want) && i < len(trans); i++ {
			g, w := trans[i], want[i]
			if g.From.String() != w.From || g.To.String() != w.To || !g.At.Equal(w.At) || !strings.Contains(g.Reason, w.ReasonHas) {
				t.Errorf("transition %d = %s → %s at %s (%s), want %s → %s at %s (reason has %q)", i,
					g.From, g.To, g.At.Format(time.RFC3339), g.Reason, w.From, w.To, w.At.Format(time.RFC3339), w.ReasonHas)
			}
		}
	}
	if exp.TransitionCount != nil && len(trans) != *exp.TransitionCount {
		t.Errorf("%d transitions, want %d", len(trans), *exp.TransitionCount)
	}
	for _, b := range exp.Blocks {
		blk := BlockOf(b.Start, cfg.BlockLength, cfg.Location)
		if !blk.Start.Equal(b.Start) {
			t.Errorf("block %s is not aligned (its block starts %s)", b.Start.Format(time.RFC3339), blk.Start.Format(time.RFC3339))
		}
		dm := BlockDemand(power, counters, blk, cfg.MaxGap)
		if math.Abs(dm.KW-b.KW) > tol {
			t.Errorf("block %s demand = %.4f kW, want %.4f", b.Start.Format(time.RFC3339), dm.KW, b.KW)
		}
		if b.Coverage != nil && math.Abs(dm.Coverage-*b.Coverage) > 1e-3 {
			t.Errorf("block %s coverage = %.4f, want %.4f", b.Start.Format(time.RFC3339), dm.Coverage, *b.Coverage)
		}
	}
}
