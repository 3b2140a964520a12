package slactl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

// ScheduleBy names the monthly schedule as the author of the revisions it
// issues.
const ScheduleBy = "setsuden (monthly schedule)"

// ErrMonthNotOver is returned for a report of a month that has not ended:
// the archive holds issued reports only.
var ErrMonthNotOver = errors.New("the month has not ended")

// Issued is the outcome of issuing one scope of a month's report.
type Issued struct {
	Revision report.Revision `json:"revision"`
	// Unchanged: the report equals the latest revision, so none was added.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Issue computes month's report (YYYY-MM in the site's time zone, over)
// from the store as of now, and puts it in the archive: once for all
// customers and once for each customer. A scope whose report equals its
// latest revision gets no new one. Every revision after a scope's first
// needs a reason; an empty reason is allowed for the first one only.
func (c *Controller) Issue(ctx context.Context, month, by, reason string) ([]Issued, error) {
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	now := c.clock.Now()
	period, err := sla.Month(month, c.loc)
	if err != nil {
		return nil, err
	}
	if now.Before(period.End) {
		return nil, fmt.Errorf("report %s: %w (it ends %s)", month, ErrMonthNotOver, period.End.Format(time.RFC3339))
	}
	if c.cfg.BeforeIssue != nil {
		if err := c.cfg.BeforeIssue(ctx); err != nil {
			c.log.Warn("before the report: step failed; the report reads raw samples where it must", "month", month, "err", err)
		}
	}
	// As of now, but never past what the report reads, so that a
	// recomputation on unchanged data is the same report.
	asOf := now.Truncate(time.Second)
	if lim := period.End.Add(reportLookahead); asOf.After(lim) {
		asOf = lim
	}
	gen := report.Generator{Site: c.cfg.Site, Catalog: c.cfg.SLA.Catalog, Policy: c.cfg.SLA.Policy, Checks: c.cfg.SLA.Checks, AsOf: asOf, Lookahead: reportLookahead}
	all, err := gen.Generate(ctx, c.cfg.Store, month, c.loc, report.Filter{}, nil)
	if err != nil {
		return nil, err
	}
	if c.cfg.Energy != nil {
		if all.Energy, err = c.cfg.Energy(ctx, month); err != nil {
			c.log.Warn("SLA report without its energy section", "month", month, "err", err)
			all.Energy = nil
		}
	}
	var out []Issued
	for _, m := range scopes(all) {
		r := reason
		if r == "" {
			revs, err := c.archive.List(month, m.Scope())
			if err != nil {
				return out, err
			}
			if n := len(revs); n > 0 {
				r = fmt.Sprintf("recomputed by the schedule: the data changed since revision %d", revs[n-1].Number)
			}
		}
		rev, err := c.archive.Put(m, by, r, now)
		switch {
		case errors.Is(err, report.ErrUnchanged):
			out = append(out, Issued{Revision: rev, Unchanged: true})
		case err != nil:
			return out, err
		default:
			out = append(out, Issued{Revision: rev})
			c.log.Info("SLA report issued", "month", month, "scope", rev.Scope, "revision", rev.Number,
				"by", by, "reason", rev.Reason, "services", len(m.Services))
		}
	}
	return out, nil
}

// scopes splits the report for all customers into one per customer too.
// Each service's figures do not depend on the others, so this is the
// report Generate gives with a customer filter; the site's energy section
// stays in the report of all.
func scopes(all report.Monthly) []report.Monthly {
	out := []report.Monthly{all}
	byCustomer := map[string][]report.ServiceReport{}
	var customers []string
	for _, s := range all.Services {
		cu := s.Service.Customer
		if cu == "" {
			continue
		}
		if _, ok := byCustomer[cu]; !ok {
			customers = append(customers, cu)
		}
		byCustomer[cu] = append(byCustomer[cu], s)
	}
	sort.Strings(customers)
	for _, cu := range customers {
		m := all
		m.Customer, m.Services, m.Energy = cu, byCustomer[cu], nil
		out = append(out, m)
	}
	return out
}

// previousMonth is the month before the one t falls in.
func (c *Controller) previousMonth(t time.Time) string {
	t = t.In(c.loc)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, c.loc).AddDate(0, -1, 0).Format("2006-01")
}

// issueScheduled is the monthly job: the report of the month before.
func (c *Controller) issueScheduled(ctx context.Context) {
	month := c.previousMonth(c.clock.Now())
	if _, err := c.Issue(ctx, month, ScheduleBy, ""); err != nil {
		c.log.Error("monthly SLA report not issued", "month", month, "err", err)
	}
}

// catchUp issues the report of the month before if its scheduled time has
// passed, the archive has none and the store holds state changes of that
// month (the daemon was down at the scheduled time; a fresh installation
// has no data for it and issues nothing).
func (c *Controller) catchUp(ctx context.Context) {
	now := c.clock.Now().In(c.loc)
	sched := c.cfg.SLA.Schedule
	due := time.Date(now.Year(), now.Month(), sched.Day, 0, 0, 0, 0, c.loc).Add(sched.At)
	if now.Before(due) {
		return
	}
	month := c.previousMonth(now)
	revs, err := c.archive.List(month, "all")
	if err != nil || len(revs) > 0 {
		return
	}
	period, _ := sla.Month(month, c.loc)
	names := make([]string, len(c.services))
	for i, s := range c.services {
		names[i] = s.Name
	}
	changes, err := c.cfg.Store.StateChanges(ctx, c.cfg.Site, names, period.Start, period.End)
	if err != nil {
		c.log.Warn("missed monthly SLA report: stored states unreadable; not caught up", "month", month, "err", err)
		return
	}
	for _, cs := range changes {
		for _, ch := range cs {
			if !ch.At.Before(period.Start) {
				c.log.Info("issuing the monthly SLA report the schedule missed", "month", month)
				c.issueScheduled(ctx)
				return
			}
		}
	}
}

var monthDir = regexp.MustCompile(`^\d{4}-\d{2}$`)

// Revisions lists the archived revisions, of one month or ("") all, newest
// month first, then by scope and number.
func (c *Controller) Revisions(month string) ([]report.Revision, error) {
	var months []string
	if month != "" {
		if _, err := time.Parse("2006-01", month); err != nil {
			return nil, fmt.Errorf("month %q: expected YYYY-MM", month)
		}
		months = []string{month}
	} else {
		entries, err := os.ReadDir(c.cfg.SLA.Files.ReportsDir)
		if err != nil {
			return nil, fmt.Errorf("report archive: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && monthDir.MatchString(e.Name()) {
				months = append(months, e.Name())
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(months)))
	}
	var out []report.Revision
	for _, m := range months {
		entries, err := os.ReadDir(filepath.Join(c.cfg.SLA.Files.ReportsDir, m))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("report archive: %w", err)
		}
		var revs []report.Revision
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			// The directory is the scope's slug, which the archive maps
			// to itself.
			rs, err := c.archive.List(m, e.Name())
			if err != nil {
				return nil, err
			}
			revs = append(revs, rs...)
		}
		sort.SliceStable(revs, func(i, j int) bool {
			if revs[i].Scope != revs[j].Scope {
				return revs[i].Scope < revs[j].Scope
			}
			return revs[i].Number < revs[j].Number
		})
		out = append(out, revs...)
	}
	return out, nil
}

// Formats a revision can be rendered in, with their content types.
var Formats = map[string]string{
	"csv":  "text/csv; charset=utf-8",
	"html": "text/html; charset=utf-8",
	"pdf":  "application/pdf",
}

// Render writes revision number (0: the latest) of month and scope ("all"
// or a customer) in format, from the archived report: the same figures
// however often it is downloaded, or an error if the file was altered.
func (c *Controller) Render(w io.Writer, month, scope string, number int, format string) (report.Revision, error) {
	if _, ok := Formats[format]; !ok {
		return report.Revision{}, fmt.Errorf("format %q (expected csv, html or pdf)", format)
	}
	m, rev, err := c.archive.Get(month, scope, number)
	if err != nil {
		return rev, err
	}
	switch format {
	case "csv":
		err = report.WriteCSV(w, m)
	case "html":
		err = report.WriteHTML(w, m)
	case "pdf":
		opt := c.cfg.PDF
		opt.Revision = &rev
		err = report.WritePDF(w, m, opt)
	}
	return rev, err
}
