package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

const reportUsage = `Usage:
  setsuden report --config FILE --month YYYY-MM --format html|pdf|csv --out PATH [--service NAME[,NAME...]] [--customer NAME] [--raw-probes]
      compute a month's SLA report from the configured InfluxDB and maintenance log and write it to
      PATH ("-": standard output); the current month gives a provisional report. Progress goes to
      standard error. Issued, archived reports are the daemon's (GET /api/v1/reports).
      Response times come from the daily probe summaries where they exist (the daemon writes them;
      p50/p95/p99 are then estimates at most 1% high) and from the probe samples elsewhere;
      --raw-probes reads every sample (exact percentiles, slow for many services).
  setsuden report --config FILE --month YYYY-MM --rollup [--format ... --out PATH ...]
      (re)write the daily probe summaries of every day of the month that has ended (after data
      arrived late, or a change of an SLA's response bound), then the report if --format is given.
`

// cmdReport is `setsuden report`.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML) with influx and sla sections")
	month := fs.String("month", "", "the month, YYYY-MM, in the site's time zone")
	format := fs.String("format", "", "html, pdf or csv")
	out := fs.String("out", "", `output file ("-": standard output)`)
	services := fs.String("service", "", "only these services (comma-separated)")
	customer := fs.String("customer", "", "only this customer's services (the report is then addressed to the customer)")
	font := fs.String("pdf-font", "", "a UTF-8 TrueType font for the PDF (e.g. a CJK font for Japanese names); default Helvetica")
	rollup := fs.Bool("rollup", false, "first (re)write the daily probe summaries of the month's days that have ended; the report is then optional")
	rawProbes := fs.Bool("raw-probes", false, "read every probe sample, not the daily summaries (exact percentiles, slower)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	required := []struct{ name, v string }{{"--config", *path}, {"--month", *month}, {"--format", *format}, {"--out", *out}}
	if *rollup && *format == "" && *out == "" {
		required = required[:2] // only the rollup
	}
	var missing []string
	for _, f := range required {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "setsuden report: %s required\n\n%s", strings.Join(missing, ", ")+map[bool]string{true: " is", false: " are"}[len(missing) == 1], reportUsage)
		return errUsage
	}
	if _, ok := slactl.Formats[*format]; !ok && *format != "" {
		fmt.Fprintf(stderr, "setsuden report: --format %q: expected html, pdf or csv\n", *format)
		return errUsage
	}
	if _, err := time.Parse("2006-01", *month); err != nil {
		fmt.Fprintf(stderr, "setsuden report: --month %q: expected YYYY-MM, e.g. 2026-07\n", *month)
		return errUsage
	}
	cfg, sc, err := loadSLA(*path, true, stderr)
	if err != nil {
		return err
	}
	var maint sla.MaintenanceStore
	if sc.Files.MaintenanceLog != "" {
		if maint, err = slactl.ReadMaintenanceLog(sc.Files.MaintenanceLog); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stderr, "setsuden report: no sla.state_dir or sla.maintenance_log: the report knows of no maintenance")
	}
	store, err := slaStore(cfg, maint)
	if err != nil {
		return err
	}
	loc, err := siteLocation(cfg)
	if err != nil {
		return err
	}
	filter := report.Filter{Customer: *customer}
	for _, s := range strings.Split(*services, ",") {
		if s = strings.TrimSpace(s); s != "" {
			filter.Services = append(filter.Services, s)
		}
	}

	progress := newProgressLine(stderr)
	if *rollup {
		if err := rollupMonth(ctx, report.Rollup{Site: cfg.Site.Name, Catalog: sc.Catalog, Location: loc}, store, *month, time.Now(), progress, stderr); err != nil {
			return err
		}
		if *format == "" {
			return nil
		}
	}
	var mu sync.Mutex // Generate reports progress from several goroutines
	gen := report.Generator{Site: cfg.Site.Name, Catalog: sc.Catalog, Policy: sc.Policy, Checks: sc.Checks, AsOf: time.Now().Truncate(time.Second), RawProbes: *rawProbes}
	m, err := gen.Generate(ctx, store, *month, loc, filter, func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		progress.update("report "+*month, float64(done)/float64(total))
	})
	progress.done()
	if err != nil {
		return err
	}
	var warnings []string
	if m.Energy, warnings, err = monthEnergy(ctx, cfg, *month, loc, progress); err != nil {
		// The availability figures stand without it.
		fmt.Fprintf(stderr, "WARNING: report %s: no energy section: %v\n", *month, err)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "setsuden report: energy section: warning: %s\n", w)
	}
	if err := writeReport(*out, stdout, m, *format, report.PDFOptions{FontFile: *font}); err != nil {
		return err
	}
	for _, n := range m.Notices() {
		fmt.Fprintf(stderr, "WARNING: report %s: %s\n", *month, n)
	}
	t := m.Totals()
	where := *out
	if where == "-" {
		where = "standard output"
	}
	note := ""
	if m.Provisional {
		note = " (provisional: the month has not ended)"
	}
	fmt.Fprintf(stderr, "%s report for %s, %s: %d services: %d pass, %d fail, %d insufficient data; written to %s%s\n",
		strings.ToUpper(*format), m.Scope(), *month, t.Services, t.Pass, t.Fail, t.Insufficient, where, note)
	return nil
}

// rollupMonth (re)writes the daily probe summaries of the days of month
// that have ended by now.
func rollupMonth(ctx context.Context, roll report.Rollup, store report.RollupStore, month string, now time.Time, progress *progressLine, stderr io.Writer) error {
	period, err := sla.Month(month, roll.Location)
	if err != nil {
		return err
	}
	days := roll.Days(period.Start, period.End)
	for len(days) > 0 && days[len(days)-1].End.After(now) {
		days = days[:len(days)-1]
	}
	if len(days) == 0 {
		fmt.Fprintf(stderr, "probe rollup %s: no day of the month has ended yet\n", month)
		return nil
	}
	t0 := time.Now()
	var st sla.RollupStats
	err = roll.Run(ctx, store, days, func(done, total int, _ sla.Interval, day sla.RollupStats) {
		st.Summaries += day.Summaries
		st.Samples += day.Samples
		progress.update("rollup "+month, float64(done)/float64(total))
	})
	progress.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "probe rollup %s: %d days, %d summaries of %d samples written in %s\n",
		month, len(days), st.Summaries, st.Samples, time.Since(t0).Round(time.Millisecond))
	return nil
}

// loadSLA loads the configuration and decodes its sla section, printing
// every problem as FILE:LINE: field: message.
func loadSLA(path string, requireInflux bool, stderr io.Writer) (*config.Config, sla.Config, error) {
	cfg, err := loadConfig(path, requireInflux)
	if err == nil {
		var sc sla.Config
		if sc, err = decodeSLA(path, cfg.SLA); err == nil {
			return cfg, sc, nil
		}
	}
	return nil, sla.Config{}, reportProblems(stderr, path, err)
}

// writeReport renders m to path ("-": w). A file is written beside its
// final name and renamed, so a failed render leaves nothing half-written.
func writeReport(path string, w io.Writer, m report.Monthly, format string, pdf report.PDFOptions) error {
	render := func(w io.Writer) error {
		switch format {
		case "csv":
			return report.WriteCSV(w, m)
		case "html":
			return report.WriteHTML(w, m)
		}
		return report.WritePDF(w, m, pdf)
	}
	if path == "-" {
		return render(w)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := render(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
