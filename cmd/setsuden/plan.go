package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/shed"
	"github.com/setsuden/setsuden/rules/shed/inventory"
)

const planUsage = `Usage: setsuden plan --inventory FILE [--request-kw N [--by TIME|DURATION]] [--restore] [--at TIME] [--json]

Plans how to shed power (live-migrate VMs off hosts, power the hosts off,
change facility set-points) or, without --request-kw, a static consolidation
that releases every host the constraints allow; --restore plans powering
hosts back on. Nothing is carried out: the plan is printed (--json: as one
JSON document), then one summary line of JSON.
`

// planSummary is the last line `setsuden plan` prints.
type planSummary struct {
	PlanID           string  `json:"plan_id"`
	Kind             string  `json:"kind"`
	HostsBefore      int     `json:"hosts_before"`
	HostsAfter       int     `json:"hosts_after"`
	LowerBoundHosts  int     `json:"lower_bound_hosts"`
	Gap              float64 `json:"gap"`
	Migrations       int     `json:"migrations"`
	GBMoved          float64 `json:"gb_moved"`
	ExpectedSavingKW float64 `json:"expected_saving_kw"`
	RequestKW        float64 `json:"request_kw,omitempty"`
	CoversRequest    bool    `json:"covers_request"`
	ReadyBy          string  `json:"ready_by"`
	LeftAlone        int     `json:"left_alone"`
	PlanningMS       float64 `json:"planning_ms"`
}

func cmdPlan(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, planUsage); fs.PrintDefaults() }
	invPath := fs.String("inventory", "", "inventory file (YAML or JSON, docs/inventory.md)")
	kw := fs.Float64("request-kw", 0, "site kW to shed (0: static consolidation); with --restore, the kW the restore may take back (0: all)")
	by := fs.String("by", "30m", "when the saving must be in place: an RFC 3339 time or a duration from --at")
	restore := fs.Bool("restore", false, "plan a restore: power released hosts on, revert set-points, rebalance")
	at := fs.String("at", "", "planning time, RFC 3339 (default: now)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if *invPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "setsuden plan: --inventory FILE is required")
		fs.Usage()
		return errUsage
	}
	if *kw < 0 {
		fmt.Fprintln(stderr, "setsuden plan: --request-kw must be >= 0")
		return errUsage
	}
	now := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			fmt.Fprintf(stderr, "setsuden plan: --at %q: want an RFC 3339 time\n", *at)
			return errUsage
		}
		now = t
	}
	f, err := inventory.Load(*invPath)
	var probs config.Problems
	if errors.As(err, &probs) {
		for _, p := range probs {
			fmt.Fprintln(stderr, p.String())
		}
		return fmt.Errorf("%s: %d problems", *invPath, len(probs))
	}
	if err != nil {
		return err
	}
	req := shed.Request{Kind: shed.KindConsolidate, Reason: "setsuden plan"}
	switch {
	case *restore:
		// --request-kw is then the headroom the restore may use.
		req.Kind, req.KW = shed.KindRestore, *kw
	case *kw > 0:
		req.Kind, req.KW = shed.KindShed, *kw
	}
	if req.Kind != shed.KindConsolidate {
		if d, err := time.ParseDuration(*by); err == nil {
			req.By = now.Add(d)
		} else if t, err := time.Parse(time.RFC3339, *by); err == nil {
			req.By = t
		} else {
			fmt.Fprintf(stderr, "setsuden plan: --by %q: want an RFC 3339 time or a duration\n", *by)
			return errUsage
		}
	}
	start := time.Now()
	plan, err := shed.NewPlan(shed.Input{Inventory: f.Inventory, Policy: f.Policy, Request: req, Now: now})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if *asJSON {
		b, err := json.MarshalIndent(plan, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printPlan(stdout, plan)
	}
	sum := planSummary{PlanID: plan.ID, Kind: string(plan.Kind), HostsBefore: plan.Expected.HostsBefore, HostsAfter: plan.Expected.HostsAfter,
		LowerBoundHosts: plan.LowerBound.Hosts, Gap: plan.LowerBound.Gap, Migrations: plan.Expected.Migrations,
		GBMoved: plan.Expected.GBMoved, ExpectedSavingKW: plan.Expected.SavingKW, RequestKW: req.KW,
		CoversRequest: plan.Expected.CoversRequest, ReadyBy: plan.Expected.By.Format(time.RFC3339),
		LeftAlone: len(plan.LeftAlone), PlanningMS: float64(elapsed.Microseconds()) / 1000}
	b, _ := json.Marshal(sum)
	fmt.Fprintf(stdout, "%s\n", b)
	return nil
}

// printPlan writes a plan for a person to read.
func printPlan(w io.Writer, p shed.Plan) {
	e := p.Expected
	fmt.Fprintf(w, "plan %s (%s) at %s\n", p.ID, p.Kind, p.CreatedAt.Format(time.RFC3339))
	if p.Request.KW > 0 {
		fmt.Fprintf(w, "  request: %.2f kW by %s\n", p.Request.KW, p.Request.By.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "  expected: %.2f kW saved (IT %.2f, facility %.2f) by %s (+%s); covers the request: %v\n",
		e.SavingKW, e.ITSavingKW, e.FacilitySavingKW, e.By.Format(time.RFC3339), e.Duration.D(), e.CoversRequest)
	fmt.Fprintf(w, "  hosts: %d -> %d (lower bound %d, gap %.1f%%); %d migrations, %.1f GB moved; max CPU %.0f%%, memory %.0f%%\n",
		e.HostsBefore, e.HostsAfter, p.LowerBound.Hosts, p.LowerBound.Gap*100, e.Migrations, e.GBMoved, e.MaxCPUUtil*100, e.MaxMemUtil*100)
	if len(e.HostsReleased) > 0 {
		fmt.Fprintf(w, "  released: %s\n", abbreviate(e.HostsReleased, 20))
	}
	if len(e.HostsPoweredOn) > 0 {
		fmt.Fprintf(w, "  powered on: %s\n", abbreviate(e.HostsPoweredOn, 20))
	}
	if len(e.FacilityStages) > 0 {
		fmt.Fprintf(w, "  facility stages: %s\n", strings.Join(e.FacilityStages, ", "))
	}
	const maxSteps = 50
	fmt.Fprintf(w, "steps (%d):\n", len(p.Steps))
	for i, s := range p.Steps {
		if i == maxSteps {
			fmt.Fprintf(w, "  ... %d more (--json for all)\n", len(p.Steps)-maxSteps)
			break
		}
		var what string
		switch s.Kind {
		case shed.StepMigrate:
			what = fmt.Sprintf("migrate %s %s -> %s (%.1f GB)", s.VM, s.From, s.To, s.MemoryGB)
		case shed.StepPowerOff, shed.StepPowerOn:
			what = fmt.Sprintf("%s %s (%+.3f kW)", s.Kind, s.Host, s.ExpectedSavingKW)
		default:
			v := 0.0
			if s.Value != nil {
				v = *s.Value
			}
			what = fmt.Sprintf("%s %s: %s = %g (%+.2f kW)", s.Kind, s.Stage, s.Point, v, s.ExpectedSavingKW)
		}
		dep := ""
		if len(s.DependsOn) > 0 {
			dep = " after " + abbreviate(s.DependsOn, 5)
		}
		fmt.Fprintf(w, "  %-5s +%-8s %s%s\n", s.ID, s.ExpectedStart.D(), what, dep)
	}
	if len(p.LeftAlone) > 0 {
		fmt.Fprintf(w, "left alone (%d):\n", len(p.LeftAlone))
		for i, v := range p.LeftAlone {
			if i == maxSteps {
				fmt.Fprintf(w, "  ... %d more\n", len(p.LeftAlone)-maxSteps)
				break
			}
			fmt.Fprintf(w, "  %s on %s: %s %s\n", v.VM, v.Host, v.Reason, v.Detail)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func abbreviate(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(s[:n], ", "), len(s)-n)
}
