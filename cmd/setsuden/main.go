// Command setsuden is the whole product in one binary: collectors, rules,
// the web UI and the CLI tools, as subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=v0.1.0".
var version = "dev"

const usage = `setsuden — datacenter power, cooling and SLA monitoring with automatic peak cut

Usage:
  setsuden demo     [--listen 127.0.0.1:8080] [--data DIR]   everything local: influxd, simulated meters and hosts, UI
  setsuden run      --config FILE                            production: collect into an external InfluxDB and serve the UI
  setsuden energy   --config FILE --from DATE --to DATE ...  kWh per meter, rack, room or site by day or month, and PUE
  setsuden energy-vms --config FILE --from DATE --to DATE ... per-host power model, per-VM kWh, per-tenant/service totals
  setsuden report   --config FILE --month YYYY-MM ...        compute a month's SLA report from InfluxDB as csv, html or pdf
  setsuden cost     --config FILE --month YYYY-MM            the month's electricity bill rebuilt from the meters, and its CO2
  setsuden maintenance add|list --config FILE ...            announce maintenance (append-only log), or list it as PLANNED or SHORT NOTICE
  setsuden sla backfill --config FILE --from DATE --to DATE  derive SLA state changes from probe results already stored
  setsuden collect  --config FILE --dry-run | --once         show each Modbus device's read plan, or poll each once and print line protocol
  setsuden validate --config FILE                            check a configuration; every problem as FILE:LINE: field: what is wrong
  setsuden demand   replay|now --config FILE ...             replay demand control over stored history, or show its decision now
  setsuden plan     --inventory FILE [--request-kw N] [--json] plan a power shed or a static consolidation (migrations, power-offs, set-points)
  setsuden inventory export --config FILE [--days 7]        write an inventory file (hosts, VMs, p95 demand, power models) from InfluxDB
  setsuden simulate --scenario FILE [--json] [--chart F]    replay summer days of a simulated site through the demand engine and planner
  setsuden execute  --config FILE [--submit PLAN.json] ...  run the shedding executor (migrations, BMC power, set-points), audited
  setsuden hash-password < password-file                     print the bcrypt hash of a password for server.operators
  setsuden version                                           print the version

Run 'setsuden COMMAND -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a command-line mistake (exit 2).
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "energy":
		err = cmdEnergy(ctx, args[1:], stdout, stderr)
	case "energy-vms":
		err = cmdEnergyVMs(ctx, args[1:], stdout, stderr)
	case "report":
		err = cmdReport(ctx, args[1:], stdout, stderr)
	case "cost":
		err = cmdCost(ctx, args[1:], stdout, stderr)
	case "maintenance":
		err = cmdMaintenance(ctx, args[1:], stdout, stderr)
	case "sla":
		err = cmdSLA(ctx, args[1:], stdout, stderr)
	case "collect":
		err = cmdCollect(ctx, args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "demand":
		err = cmdDemand(ctx, args[1:], stdout, stderr)
	case "plan":
		err = cmdPlan(ctx, args[1:], stdout, stderr)
	case "inventory":
		err = cmdInventory(ctx, args[1:], stdout, stderr)
	case "simulate":
		err = cmdSimulate(ctx, args[1:], stdout, stderr)
	case "execute":
		err = cmdExecute(ctx, args[1:], stdout, stderr)
	case "hash-password":
		return cmdHashPassword(os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "setsuden: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "setsuden %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// subcommand runs one of a command's subcommands (`demand replay`,
// `maintenance add`), with the command's usage for help and mistakes.
func subcommand(ctx context.Context, name, usage string, subs map[string]func(context.Context, []string, io.Writer, io.Writer) error,
	args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	if run, ok := subs[args[0]]; ok {
		return run(ctx, args[1:], stdout, stderr)
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "setsuden %s: unknown command %q\n\n%s", name, args[0], usage)
	return errUsage
}
