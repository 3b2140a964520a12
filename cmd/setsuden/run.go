package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/setsuden/setsuden/config"
)

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML); see setsuden.example.yaml")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *path == "" {
		fmt.Fprintln(stderr, "setsuden run: --config FILE is required")
		return errUsage
	}
	cfg, err := loadConfig(*path, true)
	var probs config.Problems
	if errors.As(err, &probs) {
		for _, p := range probs {
			fmt.Fprintln(stderr, p.String())
		}
		return fmt.Errorf("%d configuration problem(s) in %s", len(probs), *path)
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	p, err := buildPipeline(ctx, cfg, log)
	if err != nil {
		return err
	}
	return p.serve(ctx, func(addr string) {
		log.Info("setsuden running", "ui", "http://"+addr, "site", cfg.Site.Name,
			"meters", len(cfg.Modbus.Devices), "hosts", len(cfg.Libvirt.Hosts), "influx", cfg.Influx.URL)
	})
}
