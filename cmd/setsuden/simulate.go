package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/setsuden/setsuden/simulate"
)

const simulateUsage = `Usage: setsuden simulate --scenario FILE [--json] [--chart out.svg|out.png]

Replays the scenario's days (simulate/scenarios/*.yaml) with a simulated
clock through the real demand engine and the real shedding planner, with a
simulated executor, and once without shedding for the baseline. Prints
baseline and achieved peak, peak cut, energy saved, blocks over target,
migrations, power cycles and SLA minutes lost; --json prints one JSON line.
Progress goes to stderr.
`

func cmdSimulate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, simulateUsage); fs.PrintDefaults() }
	path := fs.String("scenario", "", "scenario file (YAML)")
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	chart := fs.String("chart", "", "write a chart of demand vs target with and without shedding (.svg or .png)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "setsuden simulate: --scenario FILE is required")
		return errUsage
	}
	if *chart != "" && !strings.HasSuffix(*chart, ".svg") && !strings.HasSuffix(*chart, ".png") {
		fmt.Fprintf(stderr, "setsuden simulate: --chart %q: want a .svg or .png file\n", *chart)
		return errUsage
	}
	sc, err := simulate.LoadScenario(*path)
	if err != nil {
		return err
	}
	res, err := simulate.Run(sc, simulate.Options{Progress: stderr})
	if err != nil {
		return err
	}
	if *chart != "" {
		f, err := os.Create(*chart)
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		if strings.HasSuffix(*chart, ".png") {
			err = res.PNG(f)
		} else {
			err = res.SVG(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("chart %s: %w", *chart, err)
		}
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(stdout, "scenario %s: %d days, %d blocks in force (target %.1f kW)\n", res.Scenario, res.Days, res.BlocksInForce, res.TargetKW)
	fmt.Fprintf(stdout, "  peak: baseline %.1f kW, achieved %.1f kW, cut %.1f%% (the lower bound allows %.1f%%: %.0f%% of it)\n",
		res.BaselinePeakKW, res.AchievedPeakKW, res.PeakCutPct, res.LBPeakCutPct, res.CutOfLBPct)
	fmt.Fprintf(stdout, "  energy saved: %.1f kWh of %.1f kWh (%.1f%%)\n", res.EnergySavedKWh, res.BaselineKWh, 100*res.EnergySavedKWh/max(res.BaselineKWh, 1e-9))
	fmt.Fprintf(stdout, "  blocks over target: %d (%d of them reachable by the lower bound; %d blocks out of reach)\n",
		res.BlocksOverTarget, res.BlocksOverReachable, res.BlocksUnreachable)
	fmt.Fprintf(stdout, "  plans %d, migrations %d, power cycles %d, failed steps %d, SLA minutes lost %.0f, slowest plan %.1f ms\n",
		res.Plans, res.Migrations, res.PowerCycles, res.FailedSteps, res.SLAViolationMin, res.MaxPlanningMS)
	if m := res.Money; m != nil {
		fmt.Fprintf(stdout, "  yen saved: %.0f (peak kept off the 12-month maximum %.0f, energy %.0f); CO2 avoided %.1f kg (adjusted factor %.1f kg)\n",
			m.YenSaved, m.PeakYenSaved, m.EnergyYenSaved, m.CO2AvoidedKg, m.CO2AdjustedKg)
		if m.PaybackYears > 0 {
			fmt.Fprintf(stdout, "  payback of the investment: %.2f years (the scenario's days taken as a year's shedding season)\n", m.PaybackYears)
		}
	}
	return nil
}
