package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/modbus"
)

// cmdCollect shows what the collectors would do (--dry-run: the request
// plan of every Modbus device) or polls every Modbus device once and prints
// the points as line protocol (--once), without writing anywhere.
func cmdCollect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("collect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	dry := fs.Bool("dry-run", false, "print each Modbus device's read plan and each oBIX gateway's points (with what discovery finds) and exit")
	once := fs.Bool("once", false, "poll each Modbus device once and print its points as line protocol")
	maxGap := fs.Uint("max-gap", 0, "bridge holes of up to this many registers when merging reads")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *path == "" || *dry == *once {
		fmt.Fprintln(stderr, "setsuden collect: --config FILE and exactly one of --dry-run or --once are required")
		return errUsage
	}
	cfg, err := loadConfig(*path, false)
	if err != nil {
		return reportProblems(stderr, *path, err)
	}
	models, err := modbus.LoadModels(cfg.Modbus.ModelDirs...)
	if err != nil {
		return err
	}
	failed, total := 0, len(cfg.Modbus.Devices)
	if *dry {
		failed += obixDryRun(ctx, cfg, stdout, stderr)
		total += len(cfg.Obix.Gateways)
	}
	for _, d := range cfg.Modbus.Devices {
		m, err := models.Get(d.Model)
		if err != nil {
			return fmt.Errorf("modbus device %q: %w", d.Name, err)
		}
		if *dry {
			plan := modbus.Plan(m, uint16(*maxGap))
			regs := 0
			for _, r := range plan {
				regs += int(r.Quantity)
			}
			fmt.Fprintf(stdout, "%s (model %s, %s %s unit %d, every %s): %d reads, %d registers\n",
				d.Name, m.Name, d.Transport, d.Address, d.UnitID, d.Interval, len(plan), regs)
			for _, r := range plan {
				fmt.Fprintf(stdout, "  %s\n", r)
			}
			continue
		}
		meter, err := modbus.NewMeter(modbus.MeterConfig{Name: d.Name, Model: m, Transport: d.Transport,
			Address: d.Address, UnitID: byte(d.UnitID), Timeout: d.Timeout, Retries: d.Retries, Tags: d.Tags,
			MaxGap: uint16(*maxGap),
			Serial: modbus.SerialConfig{BaudRate: d.Serial.BaudRate, DataBits: d.Serial.DataBits,
				Parity: d.Serial.Parity, StopBits: d.Serial.StopBits}})
		if err != nil {
			return fmt.Errorf("modbus device %q: %w", d.Name, err)
		}
		pts, err := meter.Collect(ctx)
		_ = meter.Close()
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "%v\n", err)
			continue
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].Measurement < pts[j].Measurement })
		for _, p := range pts {
			p.Tags["site"] = cfg.Site.Name
			fmt.Fprintln(stdout, influx.LineProtocol(p))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d devices failed", failed, total)
	}
	return nil
}
