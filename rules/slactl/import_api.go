package slactl

import (
	"context"
	"errors"
)

// ImportCalendar imports a maintenance calendar (CSV with a header of
// CalendarColumns, or YAML; chosen by file's extension) into the log the
// controller appends to, as `setsuden maintenance import` does with the
// daemon stopped: every entry is checked first and any problem
// (ImportProblems) imports nothing. The windows imported and those already
// imported before come back with what each counts as per service (the
// notice rule, from the calendar's announced_at).
func (c *Controller) ImportCalendar(ctx context.Context, file string, data []byte, by string) (imported, unchanged []MaintenanceView, err error) {
	if c.cfg.Maintenance == nil {
		return nil, nil, errors.New("maintenance import: no maintenance log is configured")
	}
	res, err := ImportMaintenance(ctx, c.cfg.SLA.Catalog, c.cfg.Maintenance, file, data, by, c.clock.Now())
	for _, w := range res.Imported {
		imported = append(imported, ClassifyWindow(c.cfg.SLA.Catalog, c.cfg.SLA.Policy, w))
	}
	for _, w := range res.Unchanged {
		unchanged = append(unchanged, ClassifyWindow(c.cfg.SLA.Catalog, c.cfg.SLA.Policy, w))
	}
	return imported, unchanged, err
}
