package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/rules/executor"
)

// loadExecuteConfig reads `setsuden execute --config FILE`: the main
// configuration (its site: is a mapping; the executor: section and
// libvirt.hosts are used, validated like `setsuden run` does), or the
// executor's own file (docs/executor.example.yaml).
func loadExecuteConfig(path string) (*executorConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root struct {
		Site yaml.Node `yaml:"site"`
	}
	if err := yaml.Unmarshal(b, &root); err != nil || root.Site.Kind != yaml.MappingNode {
		return loadExecutorConfig(path)
	}
	cfg, err := loadConfig(path, false)
	if err != nil {
		return nil, err
	}
	c, err := executorConfigOf(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Requests to a running executor: `setsuden execute --approve/--cancel`
// while another process (the daemon) holds the site lock records the
// operator's request in the audit store; the lock holder carries it out
// within a couple of seconds (shedWiring.serveRequests) and records the
// outcome. Whoever may write the audit store may approve: it is the same
// trust as running `setsuden execute` on the site.
const (
	eventApproveRequested = "approve_requested"
	eventCancelRequested  = "cancel_requested"
)

// requestOfLockHolder records --approve / --cancel for the lock holder.
func requestOfLockHolder(ctx context.Context, store *executor.Store, site, approve, cancel, operator string, le *executor.LockError, stdout io.Writer) error {
	for _, r := range []struct{ id, event string }{{approve, eventApproveRequested}, {cancel, eventCancelRequested}} {
		if r.id == "" {
			continue
		}
		ev, err := store.AppendEvent(ctx, executor.Event{Time: time.Now(), Site: site, Plan: r.id, Actor: "operator:" + operator,
			Event: r.event, Detail: "recorded by setsuden execute for the lock holder " + le.Owner})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "{\"event\":%q,\"plan\":%q,\"seq\":%d,\"lock_holder\":%q}\n", r.event, r.id, ev.Seq, le.Owner)
	}
	return nil
}
