package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML); see setsuden.example.yaml")
	shardFlag := fs.String("shard", "", "poll only shard i of n of the sources (e.g. 2/3), for splitting a large site across collector processes")
	ctlFlag := fs.String("site-controllers", "", "run the site-wide controllers (demand, SLA, shedding) in this process: true or false (default: in shard 1 only)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	role, err := parseSiteRole(*shardFlag, *ctlFlag)
	if err != nil {
		fmt.Fprintln(stderr, "setsuden run:", err)
		return errUsage
	}
	if *path == "" {
		fmt.Fprintln(stderr, "setsuden run: --config FILE is required")
		return errUsage
	}
	cfg, err := loadRunConfig(*path)
	if err != nil {
		return reportProblems(stderr, *path, err)
	}
	log := newLogger(cfg.Log, os.Stderr)
	tuneRuntime(cfg.Runtime, log)
	// A developer's aid for performance work: SETSUDEN_CPUPROFILE=FILE.
	if path := os.Getenv("SETSUDEN_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	p, err := buildPipelineAs(ctx, cfg, *path, log, role)
	if err != nil {
		return err
	}
	return p.serve(ctx, func(addr string) {
		log.Info("setsuden running", "ui", "http://"+addr, "site", cfg.Site.Name,
			"meters", len(cfg.Modbus.Devices), "hosts", len(cfg.Libvirt.Hosts), "influx", cfg.Influx.URL,
			"shard", role.String())
	})
}
