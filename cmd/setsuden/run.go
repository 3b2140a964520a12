package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/setsuden/setsuden/collector"
)

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML); see setsuden.example.yaml")
	shardFlag := fs.String("shard", "", "poll only shard i of n of the sources (e.g. 2/3), for splitting a large site across collector processes")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	shard, err := collector.ParseShard(*shardFlag)
	if err != nil {
		fmt.Fprintln(stderr, "setsuden run:", err)
		return errUsage
	}
	if *path == "" {
		fmt.Fprintln(stderr, "setsuden run: --config FILE is required")
		return errUsage
	}
	cfg, err := loadConfig(*path, true)
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
	p, err := buildPipeline(ctx, cfg, *path, log, shard)
	if err != nil {
		return err
	}
	return p.serve(ctx, func(addr string) {
		log.Info("setsuden running", "ui", "http://"+addr, "site", cfg.Site.Name,
			"meters", len(cfg.Modbus.Devices), "hosts", len(cfg.Libvirt.Hosts), "influx", cfg.Influx.URL,
			"shard", fmt.Sprintf("%d/%d", shard.Index+1, shard.Count))
	})
}
