package config

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/jpholiday"
)

// Demand is demand control (rules/demand, rules/demandctl): the site's
// power is averaged over fixed billing blocks, the end-of-block demand is
// predicted at every tick, and the stage (normal, caution, shed, limit)
// follows the strictest limit in force. Without a demand section (or with
// one that sets nothing) demand control is off.
//
// A zero value means the default, said at each field. Numbers that may be
// fractional are kept as written (Decimal, Fraction) and parsed by
// Validate, because the file decoder reads no floats.
type Demand struct {
	// Block is the billing block: 15m, 30m or 60m; default 30m (Japan).
	Block time.Duration `yaml:"block"`
	// Tick is the time between evaluations, 1s..5m in whole seconds;
	// default 10s. It is also the window the site's meters are summed
	// over (adapters/influx Reader.SitePower).
	Tick time.Duration `yaml:"tick"`
	// MaxGap is the longest interval between samples that is integrated;
	// longer ones are missing data. Default 3m; more than Tick.
	MaxGap time.Duration `yaml:"max_gap"`
	// MinRemaining is the floor on the time left in the adjustment power
	// (so it stays finite at the block's end): (0, 10m]; default 1m.
	MinRemaining time.Duration `yaml:"min_remaining"`
	// NoAction is the hold at the start of each block while predictions
	// are too noisy to act on; default 5m, "0s" turns it off. It is kept
	// as written so that 0s can be told from absent.
	NoAction  OptionalDuration `yaml:"no_action"`
	Predictor DemandPredictor  `yaml:"predictor"`
	Stages    DemandStages     `yaml:"stages"`
	// Limits are the limits in force; control acts on the strictest.
	Limits []DemandLimit `yaml:"limits"`
	// Webhooks receive every stage transition as JSON.
	Webhooks []DemandWebhook `yaml:"webhooks"`
	// Sheddable are the loads that can be shed, each with its latency: a
	// shed request never exceeds what they remove before the block ends
	// (the shedding planner will supply them at run time). Empty: the
	// whole site load, at once.
	Sheddable []DemandSheddable `yaml:"sheddable"`
	// AnnualMaxKW is the highest billing demand of the last 12 months
	// (it sets the contract power); when a contract limit cannot be met
	// this block, the request keeps the block at or below it if possible.
	AnnualMaxKW Decimal `yaml:"annual_max_kw"`
}

// DemandSheddable is one sheddable load.
type DemandSheddable struct {
	Name string `yaml:"name"`
	// Kind is it (VMs, hosts) or facility (chillers, lighting).
	Kind string  `yaml:"kind"`
	KW   Decimal `yaml:"kw"`
	// Latency is the time from the request until the load is off; 0s..59m.
	Latency time.Duration `yaml:"latency"`
}

// DemandPredictor chooses how the end-of-block demand is predicted.
type DemandPredictor struct {
	// Method is adaptive (default: the formula, or least_squares or
	// two_point when their recent error is clearly smaller), formula
	// (energy so far + power now × time left), least_squares, two_point
	// or moving_average.
	Method string `yaml:"method"`
	// Window is the recent history the method looks at: (0, 1h]; default 5m.
	Window time.Duration `yaml:"window"`
}

// DemandStages are the thresholds of predicted demand / limit at which the
// stages are entered, and how they are left.
type DemandStages struct {
	CautionAt Fraction `yaml:"caution_at"` // default 95%
	ShedAt    Fraction `yaml:"shed_at"`    // default 100%
	LimitAt   Fraction `yaml:"limit_at"`   // default 105%
	// Hysteresis is taken off a threshold to leave its stage; default 3%.
	Hysteresis Fraction `yaml:"hysteresis"`
	// ExitTicks is how many ticks in a row must be below the exit level
	// to step down; default 2.
	ExitTicks int `yaml:"exit_ticks"`
}

// DemandLimit is one limit: exactly one of Contract and Cap.
type DemandLimit struct {
	Contract DemandContract `yaml:"contract"`
	Cap      DemandCap      `yaml:"cap"`
}

// DemandContract is the billing limit: contract power (or a target below
// it) on billing blocks.
type DemandContract struct {
	// Name labels the limit in decisions; default "contract".
	Name string  `yaml:"name"`
	KW   Decimal `yaml:"kw"`
	// Block defaults to demand.block.
	Block time.Duration `yaml:"block"`
}

// DemandCap is a percent-of-baseline cap such as the 2011 Electricity
// Usage Restriction: the average over each block in the calendar must stay
// at or below baseline × (1 − reduction).
type DemandCap struct {
	// Name labels the limit in decisions; default "cap".
	Name string `yaml:"name"`
	// BaselineKW is the baseline; or Baseline: last_year computes it from
	// stored history (last year's peak hourly average in the same
	// calendar). Exactly one of them.
	BaselineKW Decimal `yaml:"baseline_kw"`
	Baseline   string  `yaml:"baseline"`
	// Reduction is the cut (15% or 0.15; default 15%), or "auto": the
	// data-centre relaxation (0, 5 or 10%) chosen by last year's load
	// variation (demand.RelaxationOf).
	Reduction Fraction `yaml:"reduction"`
	// Block defaults to 60m: the 2011 rule was on hourly averages.
	Block    time.Duration  `yaml:"block"`
	Calendar DemandCalendar `yaml:"calendar"`
}

// DemandCalendar says when a cap applies, in the site's time zone. Empty
// dates or weekdays mean every day; empty hours the whole day.
type DemandCalendar struct {
	// Dates are MM-DD..MM-DD ranges, recurring every year.
	Dates []string `yaml:"dates"`
	// Weekdays are mon, tue, wed, thu, fri, sat, sun.
	Weekdays []string `yaml:"weekdays"`
	// Hours is HH:MM-HH:MM, e.g. 09:00-20:00.
	Hours string `yaml:"hours"`
	// Holidays are YYYY-MM-DD days that are off; list last year's too
	// when the baseline comes from history.
	Holidays []string `yaml:"holidays"`
	// NationalHolidays is jp: Japan's national holidays of every year,
	// computed by the rules of the holiday law (substitute and citizens'
	// holidays included), so last year's baseline and this year's cap
	// both skip them.
	NationalHolidays string `yaml:"national_holidays"`
	// HolidaysFile holds the site's overrides on top of the national
	// holidays: company days off (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD,
	// with a name) and working days on a holiday (-YYYY-MM-DD). Relative
	// to the configuration file.
	HolidaysFile string `yaml:"holidays_file"`
}

// resolvePaths makes the calendars' holiday files relative to dir.
func (d *Demand) resolvePaths(dir string) {
	for i := range d.Limits {
		d.Limits[i].Cap.Calendar.HolidaysFile = relativeTo(dir, d.Limits[i].Cap.Calendar.HolidaysFile)
	}
}

// DemandWebhook is an HTTP endpoint that receives stage transitions.
type DemandWebhook struct {
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the HMAC-SHA256
	// key; with it, every request is signed.
	SecretEnv string `yaml:"secret_env"`
}

// Decimal is a number as written in the file: 600 or 425.5.
type Decimal string

// Value parses the number.
func (n Decimal) Value() (float64, error) {
	x, err := strconv.ParseFloat(strings.TrimSpace(string(n)), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%q is not a number", string(n))
	}
	return x, nil
}

// Fraction is a share as written in the file: 0.95 or 95%.
type Fraction string

// Value parses the share (95% is 0.95).
func (f Fraction) Value() (float64, error) {
	s := strings.TrimSpace(string(f))
	percent := false
	if p, ok := strings.CutSuffix(s, "%"); ok {
		s, percent = strings.TrimSpace(p), true
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%q is not a fraction", string(f))
	}
	if percent {
		x /= 100 // 95/100 is 0.95 exactly; 95*0.01 is not
	}
	return x, nil
}

// OptionalDuration is a duration as written in the file (5m, 0s), for an
// option whose 0 differs from its default.
type OptionalDuration string

// Value parses the duration; ok is false when it is not set.
func (d OptionalDuration) Value() (time.Duration, bool, error) {
	if d == "" {
		return 0, false, nil
	}
	v, err := time.ParseDuration(strings.TrimSpace(string(d)))
	if err != nil {
		return 0, false, fmt.Errorf("%q is not a duration", string(d))
	}
	return v, true, nil
}

// Demand defaults, for messages and the mapping.
const (
	DefaultDemandTick = 10 * time.Second
	defaultCapBlock   = time.Hour
	// BaselineLastYear is the one value of cap.baseline.
	BaselineLastYear = "last_year"
	// ReductionAuto is cap.reduction's data-centre relaxation.
	ReductionAuto = "auto"
	minDemandTick = time.Second
	maxDemandTick = 5 * time.Minute
)

// Enabled reports whether the file has a demand section that sets
// anything.
func (d Demand) Enabled() bool { return !reflect.ValueOf(d).IsZero() }

// TickInterval is Tick or its default.
func (d Demand) TickInterval() time.Duration {
	if d.Tick == 0 {
		return DefaultDemandTick
	}
	return d.Tick
}

// DemandLimitSpec is one configured limit in the engine's terms. A cap
// whose baseline is last_year has BaselineKW 0, and one whose reduction is
// auto has Reduction 0, until they are computed from stored history.
type DemandLimitSpec struct {
	Limit demand.Limit
	// BaselineLastYear and ReductionAuto mark a demand.CapLimit to be
	// completed from last year's history.
	BaselineLastYear, ReductionAuto bool
}

// Engine maps a validated section to the demand engine: the
// demand.Config with the site's time zone and no limits, and the limits
// in configured order. It fails only on a section that did not validate.
func (d Demand) Engine(site Site) (demand.Config, []DemandLimitSpec, error) {
	var v validator
	e, specs := v.demandEngine(d, site)
	if len(v.probs) > 0 {
		return demand.Config{}, nil, v.probs
	}
	if err := e.Validate(); err != nil {
		return demand.Config{}, nil, fmt.Errorf("demand engine: %w", err)
	}
	for _, s := range specs {
		if s.BaselineLastYear || s.ReductionAuto {
			continue // completed and checked once history is read
		}
		if err := s.Limit.Validate(); err != nil {
			return demand.Config{}, nil, fmt.Errorf("demand limit %q: %w", s.Limit.Label(), err)
		}
	}
	return e, specs, nil
}

// Secret returns the webhook's HMAC key from the environment, or "" when
// none is configured.
func (w DemandWebhook) Secret() (string, error) {
	if w.SecretEnv == "" {
		return "", nil
	}
	s, ok := os.LookupEnv(w.SecretEnv)
	if !ok || s == "" {
		// Not the URL: its path may be a token.
		return "", fmt.Errorf("secret_env %s is not set in the environment", w.SecretEnv)
	}
	return s, nil
}

// demand validates the section; nothing when it is absent.
func (v *validator) demand(d Demand, site Site) {
	if !d.Enabled() {
		return
	}
	v.demandEngine(d, site)
	for i, w := range d.Webhooks {
		p := fmt.Sprintf("demand.webhooks[%d]", i)
		if v.required(p+".url", w.URL) {
			if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(p+".url", "%q is not an http or https URL (expected e.g. https://hooks.example/setsuden)", redactURL(w.URL))
			}
		}
		if w.SecretEnv != "" && !isEnvName(w.SecretEnv) {
			v.add(p+".secret_env", "%q is not an environment variable name (expected e.g. SETSUDEN_WEBHOOK_SECRET)", w.SecretEnv)
		}
	}
}

// demandEngine checks every option of the section and maps it; problems
// go to v, and the result is meaningful only without them.
func (v *validator) demandEngine(d Demand, site Site) (demand.Config, []DemandLimitSpec) {
	e := demand.DefaultConfig()
	if loc, err := time.LoadLocation(site.Timezone); err == nil && site.Timezone != "" {
		e.Location = loc
	} // else site.timezone has its own problem

	if d.Block != 0 {
		if demand.ValidBlockLength(d.Block) != nil {
			v.add("demand.block", "%s is not a block length (expected 15m, 30m or 60m)", d.Block)
		} else {
			e.BlockLength = d.Block
		}
	}
	tick := d.TickInterval()
	if tick < minDemandTick || tick > maxDemandTick || tick%time.Second != 0 {
		v.add("demand.tick", "%s is out of range (expected 1s..5m in whole seconds)", tick)
	}
	if d.MaxGap != 0 {
		e.MaxGap = d.MaxGap
	}
	if e.MaxGap <= tick {
		v.add("demand.max_gap", "%s is not longer than tick %s (expected more than tick: the site's power comes once a tick)", e.MaxGap, tick)
	}
	if d.MinRemaining != 0 {
		if d.MinRemaining < 0 || d.MinRemaining > 10*time.Minute {
			v.add("demand.min_remaining", "%s is out of range (expected more than 0s and at most 10m)", d.MinRemaining)
		} else {
			e.MinRemaining = d.MinRemaining
		}
	}
	if na, set, err := d.NoAction.Value(); err != nil {
		v.add("demand.no_action", "%v (expected e.g. 5m, or 0s for none)", err)
	} else if set {
		if na < 0 || na >= e.BlockLength {
			v.add("demand.no_action", "%s is out of range (expected 0s or more and less than the block, %s)", na, e.BlockLength)
		} else {
			e.NoAction = na
		}
	}
	v.demandPredictor(d.Predictor, &e)
	v.demandStages(d.Stages, &e)
	v.demandSheddable(d, &e)

	var specs []DemandLimitSpec
	labels := map[string]string{}
	for i, l := range d.Limits {
		p := fmt.Sprintf("demand.limits[%d]", i)
		hasContract, hasCap := l.Contract != (DemandContract{}), !reflect.ValueOf(l.Cap).IsZero()
		var spec DemandLimitSpec
		var name, namePath string
		switch {
		case hasContract && hasCap:
			v.add(p, "both contract and cap (expected one of them per list item)")
			continue
		case hasContract:
			spec, name = v.demandContract(p+".contract", l.Contract, e.BlockLength), l.Contract.Name
			namePath = p + ".contract.name"
		case hasCap:
			spec, name = v.demandCap(p+".cap", l.Cap), l.Cap.Name
			namePath = p + ".cap.name"
		default:
			v.add(p, "an empty item (expected contract: {kw: ...} or cap: {baseline_kw: ..., calendar: ...})")
			continue
		}
		if name != "" {
			v.name(namePath, name)
		}
		if spec.Limit == nil {
			continue
		}
		label := spec.Limit.Label()
		if prev, dup := labels[label]; dup {
			v.add(namePath, "%q is already the name of %s (expected each limit named differently: set name)", label, prev)
		}
		labels[label] = p
		specs = append(specs, spec)
	}
	return e, specs
}

func (v *validator) demandPredictor(pr DemandPredictor, e *demand.Config) {
	method, ok := pr.Method, true
	if method != "" && !slices.Contains(demand.PredictorNames, method) {
		v.add("demand.predictor.method", "%q is not a prediction method (expected %s)", method, strings.Join(demand.PredictorNames, ", "))
		ok = false
	}
	if pr.Window < 0 || pr.Window > time.Hour {
		v.add("demand.predictor.window", "%s is out of range (expected more than 0s and at most 1h)", pr.Window)
		ok = false
	}
	if !ok {
		return
	}
	p, err := demand.NewPredictor(method, pr.Window, 0)
	if err != nil {
		v.add("demand.predictor", "%v (expected a method and a window)", err)
		return
	}
	e.Predictor = p
}

func (v *validator) demandStages(s DemandStages, e *demand.Config) {
	st := &e.Stages
	for _, f := range []struct {
		key string
		in  Fraction
		out *float64
	}{
		{"caution_at", s.CautionAt, &st.CautionAt},
		{"shed_at", s.ShedAt, &st.ShedAt},
		{"limit_at", s.LimitAt, &st.LimitAt},
		{"hysteresis", s.Hysteresis, &st.Hysteresis},
	} {
		if f.in == "" {
			continue
		}
		x, err := f.in.Value()
		switch {
		case err != nil:
			v.add("demand.stages."+f.key, "%v (expected e.g. 95%% or 0.95)", err)
		case x < 0 || x > 2:
			v.add("demand.stages."+f.key, "%s is out of range (expected 0%%..200%% of the limit)", string(f.in))
		default:
			*f.out = x
		}
	}
	if s.ExitTicks < 0 {
		v.add("demand.stages.exit_ticks", "%d is out of range (expected 1 or more; default 2)", s.ExitTicks)
	} else if s.ExitTicks > 0 {
		st.ExitTicks = s.ExitTicks
	}
	if v.reportedUnder("demand.stages") {
		return
	}
	if !(st.CautionAt > 0 && st.CautionAt <= st.ShedAt && st.ShedAt <= st.LimitAt) {
		v.add("demand.stages", "caution_at %s, shed_at %s, limit_at %s do not increase (expected 0 < caution_at <= shed_at <= limit_at)",
			pct(st.CautionAt), pct(st.ShedAt), pct(st.LimitAt))
	}
	if st.Hysteresis >= st.CautionAt {
		v.add("demand.stages.hysteresis", "%s is not below caution_at %s (expected a few %%, e.g. 3%%)", pct(st.Hysteresis), pct(st.CautionAt))
	}
}

// reportedUnder says whether a problem was already added under path.
func (v *validator) reportedUnder(path string) bool {
	for _, p := range v.probs {
		if p.Path == path || strings.HasPrefix(p.Path, path+".") {
			return true
		}
	}
	return false
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', -1, 64) + "%" }

func (v *validator) demandContract(p string, c DemandContract, billing time.Duration) DemandLimitSpec {
	l := demand.ContractLimit{Name: c.Name, Block: billing}
	ok := true
	if c.KW == "" {
		v.add(p+".kw", "missing (required: the contract power in kW)")
		ok = false
	} else if kw, err := c.KW.Value(); err != nil || kw <= 0 {
		v.add(p+".kw", "%q is not a positive number (expected kW, e.g. 600)", string(c.KW))
		ok = false
	} else {
		l.KW = kw
	}
	if c.Block != 0 {
		if demand.ValidBlockLength(c.Block) != nil {
			v.add(p+".block", "%s is not a block length (expected 15m, 30m or 60m; default demand.block)", c.Block)
			ok = false
		} else {
			l.Block = c.Block
		}
	}
	if !ok {
		return DemandLimitSpec{}
	}
	return DemandLimitSpec{Limit: l}
}

func (v *validator) demandCap(p string, c DemandCap) DemandLimitSpec {
	spec := DemandLimitSpec{}
	l := demand.CapLimit{Name: c.Name, Block: defaultCapBlock, Reduction: demand.StandardReduction}
	ok := true
	switch {
	case c.BaselineKW != "" && c.Baseline != "":
		v.add(p+".baseline", "set together with baseline_kw (expected one of them)")
		ok = false
	case c.BaselineKW != "":
		if kw, err := c.BaselineKW.Value(); err != nil || kw <= 0 {
			v.add(p+".baseline_kw", "%q is not a positive number (expected kW, e.g. 500)", string(c.BaselineKW))
			ok = false
		} else {
			l.BaselineKW = kw
		}
	case c.Baseline == BaselineLastYear:
		spec.BaselineLastYear = true
	case c.Baseline != "":
		v.add(p+".baseline", "%q is not a baseline (expected last_year, or baseline_kw: N instead)", c.Baseline)
		ok = false
	default:
		v.add(p+".baseline_kw", "missing (expected baseline_kw: N, or baseline: last_year)")
		ok = false
	}
	switch c.Reduction {
	case "":
	case ReductionAuto:
		spec.ReductionAuto = true
	default:
		if r, err := c.Reduction.Value(); err != nil || r < 0 || r >= 1 {
			v.add(p+".reduction", "%q is not a cut (expected 0%%..99%%, e.g. 15%%, or auto)", string(c.Reduction))
			ok = false
		} else {
			l.Reduction = r
		}
	}
	if spec.ReductionAuto {
		l.Reduction = 0
	}
	if c.Block != 0 {
		if demand.ValidBlockLength(c.Block) != nil {
			v.add(p+".block", "%s is not a block length (expected 15m, 30m or 60m; default 60m)", c.Block)
			ok = false
		} else {
			l.Block = c.Block
		}
	}
	cal, calOK := v.demandCalendar(p+".calendar", c.Calendar)
	l.Calendar = cal
	if !ok || !calOK {
		return DemandLimitSpec{}
	}
	spec.Limit = l
	return spec
}

func (v *validator) demandCalendar(p string, c DemandCalendar) (demand.Calendar, bool) {
	var cal demand.Calendar
	n := len(v.probs)
	for i, s := range c.Dates {
		a, b, found := strings.Cut(s, "..")
		from, err1 := demand.ParseMonthDay(strings.TrimSpace(a))
		to, err2 := demand.ParseMonthDay(strings.TrimSpace(b))
		if !found || err1 != nil || err2 != nil {
			v.add(fmt.Sprintf("%s.dates[%d]", p, i), "%q is not a range of days (expected MM-DD..MM-DD, e.g. 07-01..09-09)", s)
			continue
		}
		cal.Dates = append(cal.Dates, demand.DateRange{From: from, To: to})
	}
	for i, s := range c.Weekdays {
		w, err := demand.ParseWeekday(s)
		if err != nil {
			v.add(fmt.Sprintf("%s.weekdays[%d]", p, i), "%q is not a weekday (expected mon, tue, wed, thu, fri, sat or sun)", s)
			continue
		}
		cal.Weekdays = append(cal.Weekdays, w)
	}
	if c.Hours != "" {
		a, b, found := strings.Cut(c.Hours, "-")
		from, err1 := demand.ParseClock(strings.TrimSpace(a))
		to, err2 := demand.ParseClock(strings.TrimSpace(b))
		switch {
		case !found || err1 != nil || err2 != nil:
			v.add(p+".hours", "%q is not a daily window (expected HH:MM-HH:MM, e.g. 09:00-20:00)", c.Hours)
		case from >= to:
			v.add(p+".hours", "%q ends before it starts (expected from < to within one day)", c.Hours)
		default:
			cal.From, cal.To = from, to
		}
	}
	for i, s := range c.Holidays {
		d, err := demand.ParseDate(s)
		if err != nil {
			v.add(fmt.Sprintf("%s.holidays[%d]", p, i), "%q is not a date (expected YYYY-MM-DD)", s)
			continue
		}
		cal.Holidays = append(cal.Holidays, d)
	}
	switch c.NationalHolidays {
	case "":
		if c.HolidaysFile != "" {
			v.add(p+".holidays_file", "set without national_holidays (expected national_holidays: jp: the file overrides the national holidays)")
		}
	case "jp":
		if c.HolidaysFile == "" {
			cal.DaysOff = jpholiday.New()
		} else if jc, err := jpholiday.Load(c.HolidaysFile); err != nil {
			v.add(p+".holidays_file", "%v (expected lines YYYY-MM-DD [name], YYYY-MM-DD..YYYY-MM-DD [name] or -YYYY-MM-DD [reason])", err)
		} else {
			cal.DaysOff = jc
		}
	default:
		v.add(p+".national_holidays", "%q is not a holiday calendar (expected jp)", c.NationalHolidays)
	}
	if len(v.probs) > n {
		return cal, false
	}
	if err := cal.Validate(); err != nil {
		v.add(p, "%v (expected a valid calendar)", err)
		return cal, false
	}
	return cal, true
}

func (v *validator) demandSheddable(d Demand, e *demand.Config) {
	names := map[string]bool{}
	for i, s := range d.Sheddable {
		p := fmt.Sprintf("demand.sheddable[%d]", i)
		sh := demand.Sheddable{Name: s.Name, Kind: s.Kind, Latency: s.Latency}
		ok := v.required(p+".name", s.Name)
		if ok && names[s.Name] {
			v.add(p+".name", "%q is listed twice (expected each load once)", s.Name)
			ok = false
		}
		names[s.Name] = true
		if s.Kind != demand.KindIT && s.Kind != demand.KindFacility {
			v.add(p+".kind", "%q is not a kind of load (expected it or facility)", s.Kind)
			ok = false
		}
		if kw, err := s.KW.Value(); err != nil || kw <= 0 {
			v.add(p+".kw", "%q is not a positive number (expected kW, e.g. 40)", string(s.KW))
			ok = false
		} else {
			sh.KW = kw
		}
		if s.Latency < 0 || s.Latency >= time.Hour {
			v.add(p+".latency", "%s is out of range (expected 0s..59m: the time until the load is off)", s.Latency)
			ok = false
		}
		if ok {
			e.Sheddable = append(e.Sheddable, sh)
		}
	}
	if d.AnnualMaxKW != "" {
		if kw, err := d.AnnualMaxKW.Value(); err != nil || kw < 0 {
			v.add("demand.annual_max_kw", "%q is not a number of kW (expected e.g. 530)", string(d.AnnualMaxKW))
		} else {
			e.AnnualMaxKW = kw
		}
	}
}
