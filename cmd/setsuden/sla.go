package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/rules/slactl"
)

const slaUsage = `Usage:
  setsuden sla backfill --config FILE --from YYYY-MM-DD --to YYYY-MM-DD
      derive the SLA state changes of the days from..to (site time zone, --to included) from the
      probe results and host/VM points already stored in InfluxDB, through the same SLA engine the
      daemon runs, and write them as sla_state_change points as the daemon would. Running it again
      writes the same points (stored once). Run it on days the daemon did not account for (history
      from before setsuden ran); then 'setsuden report' covers them. Progress goes to standard error.
`

// cmdSLA is `setsuden sla`.
func cmdSLA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "sla", slaUsage, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"backfill": cmdSLABackfill,
	}, args, stdout, stderr)
}

func cmdSLABackfill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sla backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, slaUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML) with influx and sla sections")
	fromDay := fs.String("from", "", "first day, YYYY-MM-DD, in the site's time zone")
	toDay := fs.String("to", "", "last day (included), YYYY-MM-DD")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--config", *path}, {"--from", *fromDay}, {"--to", *toDay}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "setsuden sla backfill: %s required\n\n%s", strings.Join(missing, ", ")+map[bool]string{true: " is", false: " are"}[len(missing) == 1], slaUsage)
		return errUsage
	}
	cfg, sc, err := loadSLA(*path, true, stderr)
	if err != nil {
		return err
	}
	if err := needSLAFiles(*path, cfg.SLA, sc.Files, true, true); err != nil {
		return reportProblems(stderr, *path, err)
	}
	loc, err := siteLocation(cfg)
	if err != nil {
		return err
	}
	from, to, err := dayRange(*fromDay, *toDay, loc)
	if err != nil {
		fmt.Fprintf(stderr, "setsuden sla backfill: %v\n", err)
		return errUsage
	}
	if to.After(time.Now()) {
		return fmt.Errorf("--to %s: the period must have ended (the running daemon accounts for today)", *toDay)
	}
	maint, err := slactl.ReadMaintenanceLog(sc.Files.MaintenanceLog)
	if err != nil {
		return err
	}
	store, err := slaStore(cfg, maint)
	if err != nil {
		return err
	}
	names := make([]string, len(sc.Catalog.Services))
	for i, s := range sc.Catalog.Services {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: sla.services is empty: nothing to backfill", *path)
	}
	stored, err := store.StateChanges(ctx, cfg.Site.Name, names, from, to)
	if err != nil {
		return err
	}
	already := 0
	for _, cs := range stored {
		for _, c := range cs {
			if !c.At.Before(from) {
				already++
			}
		}
	}
	if already > 0 {
		fmt.Fprintf(stderr, "setsuden sla backfill: %d state changes are already stored in %s..%s (the daemon's or an earlier backfill's): those at the same times are replaced, the others kept\n",
			already, *fromDay, *toDay)
	}
	w, err := influx.NewWriter(influx.WriterConfig{URL: cfg.Influx.URL, Token: cfg.Influx.Token, Org: cfg.Influx.Org,
		Bucket: cfg.Influx.Bucket, Timeout: cfg.Influx.Timeout, Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer w.Close()

	t0 := time.Now()
	progress := newProgressLine(stderr)
	label := fmt.Sprintf("sla backfill %s..%s", *fromDay, *toDay)
	res, err := slactl.Backfill(ctx, slactl.Config{Site: cfg.Site.Name, SLA: sc, Location: loc, Points: w, Store: store, Maintenance: maint},
		store, from, to, func(done, total int) { progress.update(label, float64(done)/float64(total)) })
	progress.done()
	if err != nil {
		return err
	}
	if err := w.Flush(ctx); err != nil {
		return fmt.Errorf("write sla_state_change points: %w", err)
	}
	svcs := make([]string, 0, len(res.ByService))
	for s, n := range res.ByService {
		svcs = append(svcs, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(svcs)
	fmt.Fprintf(stderr, "sla backfill %s..%s: %d observations (%d probe results) read, %d state changes (%s), %d sla_state_change points written in %s\n",
		*fromDay, *toDay, res.Observations, res.Checks, res.Changes, strings.Join(svcs, ", "), res.Points, time.Since(t0).Round(time.Millisecond))
	if res.Checks == 0 && res.Observations == 0 {
		fmt.Fprintf(stderr, "WARNING: no probe results or host/VM points are stored for site %q in %s..%s: every service is UNKNOWN there\n", cfg.Site.Name, *fromDay, *toDay)
	}
	return nil
}
