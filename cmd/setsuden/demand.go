package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

const demandUsage = `Usage:
  setsuden demand replay --config FILE --from YYYY-MM-DD --to YYYY-MM-DD [--tick 1m] [--format text|json|csv]
      run demand control over stored history, a day per line: peak block, the predictions
      at 10/20/25 minutes into it, the highest stage and the stages entered
  setsuden demand now --config FILE [--at TIME] [--json]
      the decision demand control makes now (or at TIME, RFC 3339), from the blocks in force
`

// cmdDemand is `setsuden demand replay|now`.
func cmdDemand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "demand", demandUsage, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"replay": cmdDemandReplay,
		"now":    cmdDemandNow,
	}, args, stdout, stderr)
}

// demandSetup is what both subcommands need from the configuration.
type demandSetup struct {
	cfg    *config.Config
	engine demand.Config
	specs  []demandctl.LimitSpec
	reader *influx.Reader
}

func loadDemand(path string, stderr io.Writer) (*demandSetup, error) {
	if path == "" {
		fmt.Fprintln(stderr, "setsuden demand: --config FILE is required")
		return nil, errUsage
	}
	cfg, err := loadConfig(path, true)
	if err != nil {
		return nil, reportProblems(stderr, path, err)
	}
	if !cfg.Demand.Enabled() {
		return nil, fmt.Errorf("%s has no demand section: nothing to control", path)
	}
	engine, specs, err := cfg.Demand.Engine(cfg.Site)
	if err != nil {
		return nil, fmt.Errorf("%s: demand: %w", path, err)
	}
	return &demandSetup{cfg: cfg, engine: engine, specs: demandLimits(specs),
		reader: influx.NewReader(cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Org, cfg.Influx.Bucket)}, nil
}

// limits resolves the limits at `at`, computing caps from history, and
// says on stderr how each such cap came out.
func (s *demandSetup) limits(ctx context.Context, at time.Time, stderr io.Writer) []demand.Limit {
	limits, _ := s.limitsAndCaps(ctx, at, stderr)
	return limits
}

// limitsAndCaps is limits with the caps' statuses.
func (s *demandSetup) limitsAndCaps(ctx context.Context, at time.Time, stderr io.Writer) ([]demand.Limit, []demandctl.CapStatus) {
	limits, statuses, _ := demandctl.ResolveCaps(ctx, s.reader, s.cfg.Site.Name, s.specs, s.engine.Location, at)
	for _, st := range statuses {
		if st.Err != nil {
			fmt.Fprintf(stderr, "warning: %v; the cap is left out\n", st.Err)
			continue
		}
		fmt.Fprintf(stderr, "cap %s from history (%s): baseline %.1f kW, cut %.0f%%\n", st.Label, spansText(st.Spans), st.BaselineKW, 100*st.Reduction)
	}
	return limits, statuses
}

func spansText(spans []demandctl.Span) string {
	var parts []string
	for _, s := range spans {
		parts = append(parts, s.From.Format("2006-01-02")+".."+s.To.Add(-time.Nanosecond).Format("2006-01-02"))
	}
	return strings.Join(parts, ", ")
}

// replayTick is the replay's default tick: one-minute windows read a
// summer of 10-s data in seconds, and a 30-minute block still gets 30
// evaluations (--tick 10s replays exactly at the controller's tick).
const replayTick = time.Minute

// historyLead is read before a replay's first tick: the longest block and
// the predictor's window.
const historyLead = 2 * time.Hour

func cmdDemandReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demand replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML) with a demand section")
	fromFlag := fs.String("from", "", "first day, YYYY-MM-DD in site.timezone")
	toFlag := fs.String("to", "", "last day (included), YYYY-MM-DD")
	tick := fs.Duration("tick", replayTick, "time between evaluations and the window the meters are read at, whole seconds (demand.tick replays at the controller's own tick)")
	chunk := fs.Duration("chunk", 7*24*time.Hour, "history read per query")
	format := fs.String("format", "text", "text, json or csv: the same rows")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *format != "text" && *format != "json" && *format != "csv" {
		fmt.Fprintf(stderr, "setsuden demand replay: --format %q: want text, json or csv\n", *format)
		return errUsage
	}
	s, err := loadDemand(*path, stderr)
	if err != nil {
		return err
	}
	defer s.reader.Close()
	loc := s.engine.Location
	from, to, err := dayRange(*fromFlag, *toFlag, loc)
	last := to.AddDate(0, 0, -1) // the last day, for messages
	if err != nil {
		fmt.Fprintln(stderr, "setsuden demand replay:", err)
		return errUsage
	}
	if *tick < time.Second || *tick%time.Second != 0 {
		fmt.Fprintf(stderr, "setsuden demand replay: --tick %s: want whole seconds, at least 1s\n", *tick)
		return errUsage
	}
	site := s.cfg.Site.Name
	started := time.Now()

	engine := s.engine
	var caps []demandctl.CapStatus
	engine.Limits, caps = s.limitsAndCaps(ctx, from, stderr)
	progress := newProgressLine(stderr)
	h, err := demandctl.ReadHistory(ctx, s.reader, site, from.Add(-historyLead), to, *tick, *chunk,
		func(done, total time.Duration) { progress.update("reading history", float64(done)/float64(total)) })
	progress.done()
	if err != nil {
		return err
	}
	read := time.Since(started)
	res := demand.ReplayMetered(engine, h.Power, h.Energy, from, to, *tick,
		func(done, total int) { progress.update("replaying", float64(done)/float64(total)) })
	progress.done()

	rep := newReplayReport(site, loc, from, last, *tick, engine.Limits, caps, h, res, read, time.Since(started)-read)
	switch *format {
	case "json":
		return rep.writeJSON(stdout)
	case "csv":
		return rep.writeCSV(stdout)
	}
	rep.writeText(stdout)
	return nil
}

func blockText(b demand.Block, loc *time.Location) string {
	return b.Start.In(loc).Format("15:04") + "-" + b.End.In(loc).Format("15:04")
}

func kwText(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.1f", x)
}

func limitsText(limits []demand.Limit) string {
	if len(limits) == 0 {
		return "no limits"
	}
	var parts []string
	for _, l := range limits {
		switch v := l.(type) {
		case demand.ContractLimit:
			parts = append(parts, fmt.Sprintf("%s %.1f kW (%s)", v.Label(), v.KW, v.Block))
		case demand.CapLimit:
			parts = append(parts, fmt.Sprintf("%s %.1f kW (%s, %.1f kW - %.0f%%)", v.Label(), v.KW(), v.Block, v.BaselineKW, 100*v.Reduction))
		default:
			parts = append(parts, l.Label())
		}
	}
	return "limits: " + strings.Join(parts, ", ")
}

func cmdDemandNow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demand now", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML) with a demand section")
	atFlag := fs.String("at", "", "evaluate at this time (RFC 3339) instead of now")
	asJSON := fs.Bool("json", false, "print the decision as JSON (as GET /api/v1/demand)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	s, err := loadDemand(*path, stderr)
	if err != nil {
		return err
	}
	defer s.reader.Close()
	now := time.Now()
	if *atFlag != "" {
		if now, err = time.Parse(time.RFC3339, *atFlag); err != nil {
			fmt.Fprintf(stderr, "setsuden demand now: --at %q: want an RFC 3339 time, e.g. 2026-07-15T14:10:00+09:00\n", *atFlag)
			return errUsage
		}
	}
	tick := s.cfg.Demand.TickInterval()
	now = now.Truncate(tick)
	engine := s.engine
	engine.Limits = s.limits(ctx, now, stderr)

	// The stage has memory (hysteresis, exit ticks): replay from the start
	// of the block before the current one, then evaluate now.
	from := demand.BlockOf(now, time.Hour, engine.Location).Start.Add(-time.Hour)
	h, err := demandctl.ReadHistory(ctx, s.reader, s.cfg.Site.Name, from.Add(-time.Hour), now, tick, 6*time.Hour, nil)
	if err != nil {
		return err
	}
	res := demand.ReplayMetered(engine, h.Power, h.Energy, from, now, tick, nil)
	d, _ := demand.EvaluateMetered(engine, res.Final, h.Power, h.Energy, now)
	v := demandctl.NewDecisionView(s.cfg.Site.Name, d)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printDecision(stdout, d, s.cfg.Site.Name, engine.Location)
	return nil
}

func printDecision(w io.Writer, d demand.Decision, site string, loc *time.Location) {
	fmt.Fprintf(w, "site %s at %s\n", site, d.Time.In(loc).Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(w, "block %s: %.0f%% elapsed, %s left, data coverage %.0f%%\n", blockText(d.Block, loc), 100*d.Elapsed, d.Remaining.Round(time.Second), 100*d.Coverage)
	fmt.Fprintf(w, "demand so far %.1f kW, load %.1f kW, predicted %.1f kW (%s; formula %.1f kW)\n", d.CurrentKW, d.LoadKW, d.PredictedKW, d.Billing.Method, d.Billing.FormulaKW)
	if d.Unreachable {
		fmt.Fprintf(w, "out of reach: %s\n", d.UnreachableReason)
	}
	if d.Limit != "" {
		fmt.Fprintf(w, "strictest limit %s %.1f kW: predicted %.1f%% of it, target so far %.1f kW, adjustment %+.1f kW\n",
			d.Limit, d.LimitKW, 100*d.PredictedKW/d.LimitKW, d.TargetRampKW, d.AdjustmentKW)
	} else {
		fmt.Fprintln(w, "no limit in force")
	}
	held := ""
	if d.Held {
		held = " (held: no-action time at the block's start)"
	}
	fmt.Fprintf(w, "stage %s%s\n", d.Stage, held)
	switch {
	case d.Request != nil:
		fmt.Fprintf(w, "request: shed %.1f kW now, until %s (protects %s)\n", d.Request.ShedKW, d.Request.By.In(loc).Format("15:04"), d.Request.Protect)
	case d.HeadroomKW > 0:
		fmt.Fprintf(w, "headroom %.1f kW\n", d.HeadroomKW)
	}
	for _, l := range d.Limits {
		fmt.Fprintf(w, "  %-8s %-20s %8.1f kW  block %s  predicted %8.1f kW  %5.1f%%\n", l.Kind, l.Label, l.LimitKW, blockText(l.Block, loc), l.PredictedKW, 100*l.Ratio)
	}
}

// progressLine prints one progress line on stderr: rewritten in place on a
// terminal, every 10 % otherwise (logs, tests). A progress bar library
// would add three modules for this.
type progressLine struct {
	w        io.Writer
	terminal bool
	label    string
	lastPct  int
	lastAt   time.Time
	open     bool
}

func newProgressLine(w io.Writer) *progressLine {
	p := &progressLine{w: w, lastPct: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progressLine) update(label string, frac float64) {
	pct := int(math.Floor(100 * math.Min(math.Max(frac, 0), 1)))
	if label != p.label {
		p.done()
		p.label, p.lastPct = label, -1
	}
	if p.terminal {
		if pct == p.lastPct || (pct < 100 && time.Since(p.lastAt) < 100*time.Millisecond) {
			return
		}
		const width = 30
		bar := strings.Repeat("=", pct*width/100) + strings.Repeat(" ", width-pct*width/100)
		fmt.Fprintf(p.w, "\r%-16s [%s] %3d%%", label, bar, pct)
		p.open = true
	} else {
		if pct/10 == p.lastPct/10 && p.lastPct >= 0 {
			return
		}
		fmt.Fprintf(p.w, "%s %3d%%\n", label, pct/10*10)
	}
	p.lastPct, p.lastAt = pct, time.Now()
}

// done ends a line left open on a terminal.
func (p *progressLine) done() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}
