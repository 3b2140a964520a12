package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/executor"
)

const executeUsage = `setsuden execute --config FILE [--submit PLAN.json] [--approve ID] [--cancel ID] [--operator NAME]
                 [--exit-when-idle] [--wait-lock DURATION]
setsuden execute --config FILE --list

Runs the shedding executor for the site of FILE (hosts, BMCs, mode, audit
store): takes the site lock, reconciles any plan a previous instance left
running, then submits, approves or cancels plans. Every audit event is
printed as a JSON line on stdout. --list prints the plans in the audit
store as JSON and exits (no lock needed).
`

type jsonSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *jsonSink) Emit(p point.Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]any{"time": p.Time.UTC().Format(time.RFC3339Nano)}
	for k, v := range p.Tags {
		m[k] = v
	}
	for k, v := range p.Fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	fmt.Fprintf(s.w, "%s\n", b)
}

func cmdExecute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("execute", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, executeUsage) }
	path := fs.String("config", "", "executor configuration (YAML)")
	submit := fs.String("submit", "", "plan to submit (JSON: id, kind, predicted_kw, steps)")
	approve := fs.String("approve", "", "approve (or resume) this plan")
	cancel := fs.String("cancel", "", "cancel this plan")
	operator := fs.String("operator", "", "operator name for --approve and --cancel")
	list := fs.Bool("list", false, "print the plans of the audit store and exit")
	idle := fs.Bool("exit-when-idle", false, "exit once no plan is running")
	waitLock := fs.Duration("wait-lock", 0, "wait this long for another instance's lock to expire (0: refuse at once)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *path == "" {
		fmt.Fprint(stderr, executeUsage)
		return errUsage
	}
	if (*approve != "" || *cancel != "") && *operator == "" {
		fmt.Fprintln(stderr, "setsuden execute: --approve and --cancel need --operator NAME")
		return errUsage
	}
	cfg, err := loadExecuteConfig(*path)
	if err != nil {
		return err
	}
	store, err := executor.OpenStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close()
	if *list {
		plans, err := store.Plans(ctx, cfg.Site)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(plans)
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fleet := newLibvirtFleet(cfg)
	defer fleet.Close()
	power := map[string]executor.Power{}
	for _, h := range cfg.Hosts {
		if h.BMC == nil {
			continue
		}
		p, err := newPower(h.Name, h.BMC)
		if err != nil {
			return err
		}
		power[h.Name] = p
	}
	mode, _ := executor.ParseMode(cfg.Mode)
	e, err := executor.New(executor.Config{
		Site: cfg.Site, Mode: mode, Parallel: cfg.Parallel, LockTTL: cfg.LockTTL,
		SoftOffWait: cfg.SoftOffWait, PowerOffTimeout: cfg.PowerOffTimeout, PowerOnTimeout: cfg.PowerOnTimeout,
		ReserveMiB: cfg.ReserveMiB, MeasureWindow: cfg.MeasureWindow,
	}, store, executor.Deps{Hypervisors: fleet, Power: power, Sink: &jsonSink{w: stdout}, Log: log})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*waitLock)
	for {
		err = e.Start(ctx)
		var le *executor.LockError
		if err == nil || !errors.As(err, &le) || time.Now().After(deadline) {
			break
		}
		log.Info("waiting for the site lock", "holder", le.Owner, "last_heartbeat", le.Heartbeat)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if le := (*executor.LockError)(nil); err != nil && errors.As(err, &le) && (*approve != "" || *cancel != "") && *submit == "" {
		return requestOfLockHolder(ctx, store, cfg.Site, *approve, *cancel, *operator, le, stdout)
	}
	if err != nil {
		return err
	}
	defer e.Close()

	if *submit != "" {
		b, err := os.ReadFile(*submit)
		if err != nil {
			return err
		}
		var p executor.Plan
		if err := json.Unmarshal(b, &p); err != nil {
			return fmt.Errorf("%s: %w", *submit, err)
		}
		if _, err := e.Submit(ctx, p, "cli"); err != nil {
			return err
		}
	}
	if *approve != "" {
		if err := e.Approve(ctx, *approve, *operator); err != nil {
			return err
		}
	}
	if *cancel != "" {
		if err := e.Cancel(ctx, *cancel, *operator); err != nil {
			return err
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if *idle && !anyRunning(e.List()) {
				return nil
			}
		}
	}
}

func anyRunning(plans []*executor.Plan) bool {
	for _, p := range plans {
		if p.State == executor.PlanRunning {
			return true
		}
	}
	return false
}
