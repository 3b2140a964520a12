package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/rules/energy"
)

const energyUsage = `Usage:
  setsuden energy --config FILE --from YYYY-MM-DD --to YYYY-MM-DD [--by meter|rack|room|site] [--period day|month]
                  [--pue-category 1|2|3] [--max-gap 5m]
      kWh per group and period from the stored meter readings, with data coverage, and the
      site's PUE over the range
`

// energyMeter is one meter's energy over each reporting period and over
// the whole range, summed from days.
type energyMeter struct {
	name    string
	tags    map[string]string
	periods []energy.Energy
	total   energy.Energy
	// counterDays and days say how many days' figures came from the
	// energy register.
	counterDays, days int
}

// cmdEnergy is `setsuden energy`.
func cmdEnergy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("energy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, energyUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML)")
	fromFlag := fs.String("from", "", "first day, YYYY-MM-DD in site.timezone")
	toFlag := fs.String("to", "", "last day (included), YYYY-MM-DD")
	by := fs.String("by", "meter", "group by meter, rack, room or site")
	periodFlag := fs.String("period", "day", "reporting period: day or month (in site.timezone)")
	category := fs.Int("pue-category", 2, "measurement category of the IT meters for PUE: 1 UPS output, 2 PDU output, 3 IT equipment input")
	maxGap := fs.Duration("max-gap", 5*time.Minute, "longest interval between samples that is integrated or split; longer gaps are missing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "setsuden energy: "+format+"\n", a...)
		return errUsage
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if *path == "" {
		return bad("--config FILE is required")
	}
	switch *by {
	case "meter", "rack", "room", "site":
	default:
		return bad("--by %q: want meter, rack, room or site", *by)
	}
	var unit energy.PeriodUnit
	switch *periodFlag {
	case "day":
		unit = energy.Day
	case "month":
		unit = energy.Month
	default:
		return bad("--period %q: want day or month", *periodFlag)
	}
	if *category < 1 || *category > 3 {
		return bad("--pue-category %d: want 1 (UPS output), 2 (PDU output) or 3 (IT equipment input)", *category)
	}
	if *maxGap <= 0 {
		return bad("--max-gap %s: want a positive duration", *maxGap)
	}
	cfg, err := loadConfig(*path, true)
	if err != nil {
		return reportProblems(stderr, *path, err)
	}
	loc, err := time.LoadLocation(cfg.Site.Timezone)
	if err != nil {
		return fmt.Errorf("%s: site.timezone: %w", *path, err)
	}
	from, to, err := dayRange(*fromFlag, *toFlag, loc)
	last := to.AddDate(0, 0, -1) // the last day, for messages
	if err != nil {
		return bad("%v", err)
	}
	periods, err := energy.Periods(from, to, unit, loc)
	if err != nil {
		return err
	}
	days, err := energy.Periods(from, to, energy.Day, loc)
	if err != nil {
		return err
	}
	site := cfg.Site.Name
	reader := influx.NewReader(cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Org, cfg.Influx.Bucket)
	defer reader.Close()

	// A day at a time, so a year of 10-s samples is never in memory at
	// once; each day is read with maxGap either side so that intervals
	// crossing midnight are split, and periods are sums of days.
	meters := map[string]*energyMeter{}
	var progress *progressLine
	if len(days) > 1 {
		progress = newProgressLine(stderr)
	}
	pi := 0
	for i, d := range days {
		for pi+1 < len(periods) && !d.Start.Before(periods[pi].End) {
			pi++
		}
		series, err := reader.MeterSeries(ctx, site, d.Start.Add(-*maxGap), d.End.Add(*maxGap))
		if err != nil {
			if progress != nil {
				progress.done()
			}
			return err
		}
		for _, s := range series {
			m := meters[s.Meter]
			if m == nil {
				m = &energyMeter{name: s.Meter, tags: s.Tags, periods: make([]energy.Energy, len(periods))}
				meters[s.Meter] = m
			}
			e := energy.MeterKWh(s, d.Start, d.End, *maxGap)
			m.periods[pi].KWh += e.KWh
			m.periods[pi].Covered += e.Covered
			m.total.KWh += e.KWh
			m.total.Covered += e.Covered
			m.days++
			if e.FromCounter {
				m.counterDays++
			}
		}
		if progress != nil {
			progress.update("reading meters", float64(i+1)/float64(len(days)))
		}
	}
	if progress != nil {
		progress.done()
	}
	if len(meters) == 0 {
		return fmt.Errorf("no power meters of site %q in %s..%s", site, from.Format("2006-01-02"), last.Format("2006-01-02"))
	}
	list := make([]*energyMeter, 0, len(meters))
	haveFacility := false
	for _, m := range meters {
		for i, p := range periods {
			m.periods[i].Span = p.End.Sub(p.Start)
		}
		m.total.Span = to.Sub(from)
		list = append(list, m)
		haveFacility = haveFacility || m.tags["category"] == energy.CategoryFacility
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })

	fmt.Fprintf(stdout, "site %s (%s), %s..%s, by %s, per %s; energy from kwh_total where a meter has it, else integrated kW; gaps over %s are missing\n",
		site, loc, from.Format("2006-01-02"), last.Format("2006-01-02"), *by, unit, *maxGap)
	switch {
	case *by == "site" && haveFacility:
		fmt.Fprintln(stdout, "site energy is its facility meters' (category=facility)")
	case *by == "site":
		fmt.Fprintln(stdout, "site energy is the sum of all its meters (no category=facility meter)")
	case *by != "meter" && haveFacility:
		fmt.Fprintln(stdout, "facility meters (category=facility) are in the PUE, not in the sums")
	}
	fmt.Fprintln(stdout)
	printEnergyTable(stdout, list, periods, *by, haveFacility, unit, loc)
	fmt.Fprintln(stdout)
	printPUE(stdout, list, from, to, last, *category)
	return nil
}

// energyGroup names the group of m for --by, "" to leave it out.
func energyGroup(m *energyMeter, by string, haveFacility bool) string {
	tag := func(k string) string {
		if v := m.tags[k]; v != "" {
			return v
		}
		return "-"
	}
	facility := m.tags["category"] == energy.CategoryFacility
	switch by {
	case "meter":
		return m.name
	case "site":
		if haveFacility && !facility {
			return ""
		}
		return tag("site")
	case "room":
		if facility {
			return ""
		}
		return tag("site") + "/" + tag("room")
	case "rack":
		if facility {
			return ""
		}
		return tag("site") + "/" + tag("room") + "/" + tag("rack")
	}
	return ""
}

func printEnergyTable(w io.Writer, list []*energyMeter, periods []energy.Period, by string, haveFacility bool, unit energy.PeriodUnit, loc *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if by == "meter" {
		fmt.Fprintln(tw, "PERIOD\tMETER\tCATEGORY\tKWH\tCOVERAGE\tSOURCE")
	} else {
		fmt.Fprintf(tw, "PERIOD\t%s\tKWH\tCOVERAGE\tMETERS\n", strings.ToUpper(by))
	}
	layout := "2006-01-02"
	if unit == energy.Month {
		layout = "2006-01"
	}
	type group struct {
		name     string
		kwh, cov float64
		meters   int
		m        *energyMeter
	}
	for i, p := range periods {
		groups := map[string]*group{}
		var names []string
		for _, m := range list {
			name := energyGroup(m, by, haveFacility)
			if name == "" {
				continue
			}
			g := groups[name]
			if g == nil {
				g = &group{name: name, cov: 1, m: m}
				groups[name] = g
				names = append(names, name)
			}
			e := m.periods[i]
			g.kwh += e.KWh
			if c := e.Coverage(); c < g.cov {
				g.cov = c
			}
			g.meters++
		}
		sort.Strings(names)
		for _, name := range names {
			g := groups[name]
			if by == "meter" {
				cat := g.m.tags["category"]
				if cat == "" {
					cat = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.0f%%\t%s\n", p.Start.In(loc).Format(layout), name, cat, g.kwh, 100*g.cov, energySource(g.m))
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.0f%%\t%d\n", p.Start.In(loc).Format(layout), name, g.kwh, 100*g.cov, g.meters)
		}
	}
	_ = tw.Flush()
}

func energySource(m *energyMeter) string {
	switch m.counterDays {
	case 0:
		return "kw"
	case m.days:
		return "kwh_total"
	}
	return "mixed"
}

// printPUE prints the site's PUE over the whole range when it has IT
// meters.
func printPUE(w io.Writer, list []*energyMeter, from, to, last time.Time, category int) {
	var ms []energy.MeterEnergy
	haveIT := false
	for _, m := range list {
		ms = append(ms, energy.MeterEnergy{Meter: m.name, Tags: m.tags, Start: from, End: to, Energy: m.total})
		haveIT = haveIT || m.tags["category"] == energy.CategoryIT
	}
	if !haveIT {
		fmt.Fprintln(w, "no PUE: no meter tagged category=it")
		return
	}
	p, err := energy.ComputePUE(ms, category)
	if err != nil {
		fmt.Fprintf(w, "no PUE: %v\n", err)
		return
	}
	total := "facility meters"
	if p.TotalFrom == "sum" {
		total = "all meters (no facility meter)"
	}
	fmt.Fprintf(w, "%s %s..%s: %.2f = %.1f kWh %s / %.1f kWh IT (cooling %.1f kWh), coverage %.0f%%\n",
		p.Label(), from.Format("2006-01-02"), last.Format("2006-01-02"), p.Value, p.TotalKWh, total, p.ITKWh, p.CoolingKWh, 100*p.Coverage)
}
