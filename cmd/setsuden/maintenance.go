package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

const maintenanceUsage = `Usage:
  setsuden maintenance add --config FILE --services A[,B...] --start RFC3339 --end RFC3339 --reason TEXT --by NAME
      announce maintenance: append it to the maintenance log (sla.state_dir), announced by NAME now.
      It is PLANNED (excluded from service time) for a service whose SLA's notice period it meets.
      --id ID gives a new record of an announced window (rescheduled); with --cancel, withdraws it.
      While the daemon runs it holds the log: announce through its API, POST /api/v1/maintenance.
  setsuden maintenance list --config FILE [--all]
      the windows in force from two months ago on (--all: every one), with what each counts as
  setsuden maintenance import --config FILE --by NAME CALENDAR.csv|CALENDAR.yaml
      import an existing maintenance calendar with its ORIGINAL announcement times (docs/sla.md):
      each window is recorded now, audited as imported from the file by NAME, and counts from the
      calendar's announced_at. Every entry is checked first; one bad entry imports nothing. Importing
      the same file again adds nothing.
`

// cmdMaintenance is `setsuden maintenance add|list`.
func cmdMaintenance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "maintenance", maintenanceUsage, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"add":    cmdMaintenanceAdd,
		"list":   cmdMaintenanceList,
		"import": cmdMaintenanceImport,
	}, args, stdout, stderr)
}

// maintenanceFlag names a request field as the CLI spells it.
var maintenanceFlag = map[string]string{
	"id": "--id", "services": "--services", "start": "--start", "end": "--end", "reason": "--reason",
	"announced_by": "--by", "cancelled": "--cancel",
}

func cmdMaintenanceAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("maintenance add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML) with an sla section")
	services := fs.String("services", "", "the services the maintenance takes down (comma-separated)")
	start := fs.String("start", "", "start, RFC 3339 (e.g. 2026-07-01T02:00:00+09:00)")
	end := fs.String("end", "", "end, RFC 3339")
	reason := fs.String("reason", "", "what the maintenance is for")
	by := fs.String("by", "", "who announces it (the audit trail)")
	id := fs.String("id", "", "an announced window's id: the new record reschedules (or with --cancel withdraws) it")
	cancel := fs.Bool("cancel", false, "withdraw the window --id")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	sc, loc, err := maintenanceConfig("add", *path, stderr)
	if err != nil {
		return err
	}
	log, err := slactl.OpenMaintenanceLog(sc.Files.MaintenanceLog, nil)
	if errors.Is(err, slactl.ErrMaintenanceLogBusy) {
		return fmt.Errorf("%w: a running setsuden holds it; announce through its API: POST /api/v1/maintenance as an operator", err)
	}
	if err != nil {
		return err
	}
	defer log.Close()
	req := slactl.MaintenanceRequest{ID: *id, Start: *start, End: *end, Reason: *reason, Cancelled: *cancel}
	for _, s := range strings.Split(*services, ",") {
		if s = strings.TrimSpace(s); s != "" {
			req.Services = append(req.Services, s)
		}
	}
	w, probs := slactl.NewMaintenanceWindow(ctx, sc.Catalog, log, req, *by, time.Now())
	if len(probs) > 0 {
		for _, p := range probs {
			name := maintenanceFlag[p.Field]
			if name == "" {
				name = p.Field
			}
			fmt.Fprintf(stderr, "setsuden maintenance add: %s: %s\n", name, p.Msg)
		}
		return errUsage
	}
	if w, err = log.Append(ctx, w); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "appended to %s:\n", sc.Files.MaintenanceLog)
	printWindows(stdout, []slactl.MaintenanceView{slactl.ClassifyWindow(sc.Catalog, sc.Policy, w)}, loc)
	return nil
}

func cmdMaintenanceList(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("maintenance list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML) with an sla section")
	all := fs.Bool("all", false, "every window in force, however old")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	sc, loc, err := maintenanceConfig("list", *path, stderr)
	if err != nil {
		return err
	}
	// Read without the lock: the daemon may be appending.
	log, err := slactl.ReadMaintenanceLog(sc.Files.MaintenanceLog)
	if err != nil {
		return err
	}
	from := time.Now().AddDate(0, -2, 0)
	if *all {
		from = time.Time{}
	}
	windows, err := log.Windows(context.Background(), from, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return err
	}
	if len(windows) == 0 {
		fmt.Fprintf(stdout, "no maintenance windows in %s\n", sc.Files.MaintenanceLog)
		return nil
	}
	views := make([]slactl.MaintenanceView, len(windows))
	for i, w := range windows {
		views[i] = slactl.ClassifyWindow(sc.Catalog, sc.Policy, w)
	}
	printWindows(stdout, views, loc)
	return nil
}

func cmdMaintenanceImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("maintenance import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML) with an sla section")
	by := fs.String("by", "", "who imports the calendar (the audit trail)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 || *by == "" {
		fmt.Fprintf(stderr, "setsuden maintenance import: --by NAME and one calendar file are required\n\n%s", maintenanceUsage)
		return errUsage
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sc, loc, err := maintenanceConfig("import", *path, stderr)
	if err != nil {
		return err
	}
	log, err := slactl.OpenMaintenanceLog(sc.Files.MaintenanceLog, nil)
	if errors.Is(err, slactl.ErrMaintenanceLogBusy) {
		return fmt.Errorf("%w: stop the daemon for the import (it holds the log)", err)
	}
	if err != nil {
		return err
	}
	defer log.Close()
	res, err := slactl.ImportMaintenance(ctx, sc.Catalog, log, file, data, *by, time.Now())
	var probs slactl.ImportProblems
	if errors.As(err, &probs) {
		for _, p := range probs {
			fmt.Fprintln(stderr, p.Error())
		}
		return fmt.Errorf("%s: %d problems; nothing imported", file, len(probs))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d windows from %s into %s (%d already imported before)\n", len(res.Imported), file, sc.Files.MaintenanceLog, len(res.Unchanged))
	views := make([]slactl.MaintenanceView, len(res.Imported))
	for i, w := range res.Imported {
		views[i] = slactl.ClassifyWindow(sc.Catalog, sc.Policy, w)
	}
	printWindows(stdout, views, loc)
	return nil
}

// printWindows writes each window, then per service what it counts as:
//
//	mw-20250405T010000Z-1a2b3c  2025-05-10 02:00 - 2025-05-10 04:00 (2h 00m 00s)  storage firmware
//	  announced 2025-04-05 10:00 by alice, recorded 2025-04-05 10:00
//	  web  core  PLANNED       notice 34d 16h 00m >= 30d 00h 00m: excluded from service time
func printWindows(w io.Writer, views []slactl.MaintenanceView, loc *time.Location) {
	tm := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04") }
	for _, v := range views {
		status := ""
		if v.Cancelled {
			status = "  CANCELLED"
		}
		fmt.Fprintf(w, "%s  %s - %s %s (%s)  %s%s\n", v.ID, tm(v.Start), tm(v.End), loc, report.HumanDuration(v.End.Sub(v.Start)), v.Reason, status)
		fmt.Fprintf(w, "  announced %s by %s, recorded %s\n", tm(v.AnnouncedAt), v.AnnouncedBy, tm(v.RecordedAt))
		if v.Imported() {
			fmt.Fprintf(w, "  imported from %s by %s (the calendar's announcement time counts)\n", v.ImportedFrom, v.ImportedBy)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range v.Classes {
			line := fmt.Sprintf("  %s\t%s\tSHORT NOTICE\tnotice %s < %s: counts as downtime", c.Service, c.SLA,
				report.HumanDuration(c.Notice), report.HumanDuration(c.Required))
			if c.Planned() {
				line = fmt.Sprintf("  %s\t%s\tPLANNED\tnotice %s >= %s: excluded from service time", c.Service, c.SLA,
					report.HumanDuration(c.Notice), report.HumanDuration(c.Required))
			}
			switch {
			case c.Backdated && v.Imported():
				line += " (imported: the calendar's announcement counts)"
			case c.Backdated:
				line += " (announced_at earlier than recorded: back-dated)"
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
}

// maintenanceConfig loads what both maintenance commands need: the SLA
// section with its maintenance log, and the site's time zone.
func maintenanceConfig(command, path string, stderr io.Writer) (sla.Config, *time.Location, error) {
	if path == "" {
		fmt.Fprintf(stderr, "setsuden maintenance %s: --config FILE is required\n", command)
		return sla.Config{}, nil, errUsage
	}
	cfg, sc, err := loadSLA(path, false, stderr)
	if err != nil {
		return sla.Config{}, nil, err
	}
	if err := needSLAFiles(path, cfg.SLA, sc.Files, true, false); err != nil {
		return sla.Config{}, nil, err
	}
	loc, err := siteLocation(cfg)
	if err != nil {
		return sla.Config{}, nil, err
	}
	return sc, loc, nil
}
