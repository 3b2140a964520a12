package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/energy"
	"github.com/setsuden/setsuden/server"
)

// costAPI answers GET /api/v1/cost with the month's bill as
// `setsuden cost --format json` prints it: with shed=1 as with --shed, and
// with by= as with --labels tariff.vm_labels, keeping the one grouping.
type costAPI struct {
	site   string
	loc    *time.Location
	priced config.Priced
	reader *influx.Reader
	// labels are tariff.vm_labels, read at start (nil: none configured).
	labels map[string]energy.VMLabels
}

// newCostAPI is the daemon's bill reader; nil when no contract is
// configured (the route then answers 503 naming the tariff: section).
func newCostAPI(cfg *config.Config, reader *influx.Reader, loc *time.Location) (server.CostReader, error) {
	if len(cfg.Tariff.Contracts) == 0 || reader == nil {
		return nil, nil
	}
	priced, probs := cfg.Tariff.Priced(loc)
	if len(probs) > 0 {
		return nil, fmt.Errorf("tariff: %w", probs)
	}
	c := costAPI{site: cfg.Site.Name, loc: loc, priced: priced, reader: reader}
	if cfg.Tariff.VMLabels != "" {
		labels, err := readVMLabels(cfg.Tariff.VMLabels)
		if err != nil {
			return nil, fmt.Errorf("tariff.vm_labels: %w", err)
		}
		c.labels = labels
	}
	return c, nil
}

func (c costAPI) Bill(ctx context.Context, q server.CostQuery) (any, error) {
	m, err := time.ParseInLocation("2006-01", q.Month, c.loc)
	if err != nil {
		return nil, fmt.Errorf("month %q: %w", q.Month, err)
	}
	if (q.By == "tenant" || q.By == "service") && c.labels == nil {
		return nil, server.NotConfigured{Msg: "by=" + q.By + ": no tariff.vm_labels in the configuration (expected a CSV vm,tenant,service or YAML file naming each VM's tenant and service; by=vm needs none)"}
	}
	rep, _, err := buildCost(ctx, c.reader, c.site, c.priced, m, costOptions{shares: q.By != "", labels: c.labels, shed: q.Shed}, newProgressLine(io.Discard))
	if err != nil {
		return nil, err
	}
	switch q.By {
	case "tenant":
		rep.Services, rep.VMs = nil, nil
	case "service":
		rep.Tenants, rep.VMs = nil, nil
	case "vm":
		rep.Tenants, rep.Services = nil, nil
	}
	return rep, nil
}
