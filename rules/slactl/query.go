package slactl

import (
	"context"
	"time"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

// Site is the site the controller accounts for.
func (c *Controller) Site() string { return c.cfg.Site }

// Now is the controller's clock (a fake one in tests).
func (c *Controller) Now() time.Time { return c.clock.Now() }

// MaintenanceWindows are the windows in force between from and to, with
// what each counts as per service.
func (c *Controller) MaintenanceWindows(ctx context.Context, from, to time.Time) ([]MaintenanceView, error) {
	windows, err := c.cfg.Maintenance.Windows(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]MaintenanceView, len(windows))
	for i, w := range windows {
		out[i] = ClassifyWindow(c.cfg.SLA.Catalog, c.cfg.SLA.Policy, w)
	}
	return out, nil
}

// ClassifyMaintenance checks req as AnnounceMaintenance would and says what
// it would count as, without recording it (the console shows the notice
// rule before saving).
func (c *Controller) ClassifyMaintenance(ctx context.Context, req MaintenanceRequest, by string) (MaintenanceView, []FieldProblem) {
	w, probs := NewMaintenanceWindow(ctx, c.cfg.SLA.Catalog, c.cfg.Maintenance, req, by, c.clock.Now())
	if len(probs) > 0 {
		return MaintenanceView{}, probs
	}
	return ClassifyWindow(c.cfg.SLA.Catalog, c.cfg.SLA.Policy, w), nil
}

// AnnounceMaintenance records req, announced by by now; problems name the
// request's fields, the error is the log's.
func (c *Controller) AnnounceMaintenance(ctx context.Context, req MaintenanceRequest, by string) (MaintenanceView, []FieldProblem, error) {
	w, probs := NewMaintenanceWindow(ctx, c.cfg.SLA.Catalog, c.cfg.Maintenance, req, by, c.clock.Now())
	if len(probs) > 0 {
		return MaintenanceView{}, probs, nil
	}
	w, err := c.cfg.Maintenance.Append(ctx, w)
	if err != nil {
		return MaintenanceView{}, nil, err
	}
	return ClassifyWindow(c.cfg.SLA.Catalog, c.cfg.SLA.Policy, w), nil, nil
}

// MonthFigures computes month's figures (YYYY-MM in the site's zone; ""
// for the current month, provisional) from the store as of now, without
// archiving them: the console's availability, budget and burn.
func (c *Controller) MonthFigures(ctx context.Context, month string) ([]sla.Figures, error) {
	now := c.clock.Now()
	if month == "" {
		month = now.In(c.loc).Format("2006-01")
	}
	gen := report.Generator{Site: c.cfg.Site, Catalog: c.cfg.SLA.Catalog, Policy: c.cfg.SLA.Policy, AsOf: now.Truncate(time.Second), Lookahead: reportLookahead}
	m, err := gen.Generate(ctx, c.cfg.Store, month, c.loc, report.Filter{}, nil)
	if err != nil {
		return nil, err
	}
	out := make([]sla.Figures, len(m.Services))
	for i, s := range m.Services {
		out[i] = s.Figures
	}
	return out, nil
}
