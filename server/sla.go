package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

// SLAController is what the server needs of SLA accounting
// (rules/slactl.Controller).
type SLAController interface {
	Site() string
	Now() time.Time
	States() ([]slactl.ServiceState, time.Time)
	Revisions(month string) ([]report.Revision, error)
	Render(w io.Writer, month, scope string, number int, format string) (report.Revision, error)
	Issue(ctx context.Context, month, by, reason string) ([]slactl.Issued, error)
	MaintenanceWindows(ctx context.Context, from, to time.Time) ([]slactl.MaintenanceView, error)
	ClassifyMaintenance(ctx context.Context, req slactl.MaintenanceRequest, by string) (slactl.MaintenanceView, []slactl.FieldProblem)
	AnnounceMaintenance(ctx context.Context, req slactl.MaintenanceRequest, by string) (slactl.MaintenanceView, []slactl.FieldProblem, error)
	// MonthFigures are a month's figures as of now ("" the current month).
	MonthFigures(ctx context.Context, month string) ([]sla.Figures, error)
}

func (s *Server) slaRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/sla", Need: RoleCustomer, Tag: "sla", Summary: "every service's settled state with its pending or firing alerts (a customer: its own)", Handler: s.slaStates},
		{Method: "GET", Path: "/api/v1/sla/figures", Need: RoleCustomer, Tag: "sla", Summary: "a month's availability, error budget and burn per service, as of now (a customer: its own)", Query: []string{"month"}, Handler: s.slaFigures},
		{Method: "GET", Path: "/api/v1/reports", Need: RoleCustomer, Tag: "reports", Summary: "the archived report revisions (a customer: its own)", Query: []string{"month"}, Handler: s.revisions},
		{Method: "GET", Path: "/api/v1/reports/:month/:revision/:format", Need: RoleCustomer, Tag: "reports",
			Summary: "a revision (a number, or latest) as csv, html or pdf; ?scope= a customer exactly, or all", Query: []string{"scope"}, Handler: s.download},
		{Method: "POST", Path: "/api/v1/reports/:month/recompute", Need: RoleOperator, Tag: "reports", Summary: "a new revision of an ended month",
			Body: `{"reason": "late probe data from the Osaka monitor"}`, Handler: s.recompute},
		{Method: "GET", Path: "/api/v1/maintenance", Need: RoleViewer, Tag: "maintenance", Summary: "the maintenance windows in force, with what they count as per service", Query: []string{"from", "to"}, Handler: s.maintenance},
		{Method: "POST", Path: "/api/v1/maintenance", Need: RoleOperator, Tag: "maintenance", Summary: "announce a window (or {id, ...} to reschedule, {id, cancelled: true, reason} to cancel)",
			Body: `{"services": ["web"], "start": "2026-07-10T02:00:00+09:00", "end": "2026-07-10T04:00:00+09:00", "reason": "storage firmware"}`, Handler: s.announce},
		{Method: "POST", Path: "/api/v1/maintenance/check", Need: RoleOperator, Tag: "maintenance", Summary: "what a window would count as (the notice rule), without recording it",
			Body: `{"services": ["web"], "start": "...", "end": "...", "reason": "..."}`, Handler: s.checkMaintenance},
	}
}

func (s *Server) slaController() (SLAController, error) {
	if s.cfg.SLA == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "SLA accounting does not run in this process (no sla: section, or another shard runs the site controllers)")
	}
	return s.cfg.SLA, nil
}

// StatesView is the body of GET /api/v1/sla.
type StatesView struct {
	Site string `json:"site"`
	// AsOf is the tracker's horizon: states before it are final.
	AsOf     time.Time             `json:"as_of"`
	Services []slactl.ServiceState `json:"services"`
}

func (s *Server) slaStates(c *fiber.Ctx) error {
	ctl, err := s.slaController()
	if err != nil {
		return err
	}
	p := principalOf(c)
	states, asOf := ctl.States()
	out := []slactl.ServiceState{}
	for _, st := range states {
		if p.Role != RoleCustomer || st.Customer == p.Customer {
			out = append(out, st)
		}
	}
	return c.JSON(StatesView{Site: ctl.Site(), AsOf: asOf, Services: out})
}

var monthParam = regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])$`)

func checkMonth(month string) *FieldProblem {
	if !monthParam.MatchString(month) {
		return &FieldProblem{Field: "month", Msg: fmt.Sprintf("%q is not a month (expected YYYY-MM, e.g. 2026-07)", month)}
	}
	return nil
}

// oldestRecompute: a month further back than this has no data left to
// recompute from (and 1900-01 is a typo).
const oldestRecompute = 5 // years

// RevisionView is an archived revision with where to download it.
type RevisionView struct {
	report.Revision
	Files map[string]string `json:"files"`
}

func (s *Server) revisions(c *fiber.Ctx) error {
	ctl, err := s.slaController()
	if err != nil {
		return err
	}
	month, bad := queryMonth(c)
	if bad != nil {
		return badRequest(c, *bad)
	}
	revs, err := ctl.Revisions(month)
	if err != nil {
		return err
	}
	p := principalOf(c)
	out := []RevisionView{}
	for _, r := range revs {
		if p.Role == RoleCustomer && r.Scope != p.Customer {
			continue
		}
		files := map[string]string{}
		for f := range slactl.Formats {
			files[f] = fmt.Sprintf("/api/v1/reports/%s/%d/%s?scope=%s", r.Month, r.Number, f, url.QueryEscape(r.Scope))
		}
		out = append(out, RevisionView{Revision: r, Files: files})
	}
	return c.JSON(fiber.Map{"revisions": out})
}

var unsafeFileName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (s *Server) download(c *fiber.Ctx) error {
	ctl, err := s.slaController()
	if err != nil {
		return err
	}
	month, revParam, format := c.Params("month"), c.Params("revision"), c.Params("format")
	var probs problems
	if p := checkMonth(month); p != nil {
		probs = append(probs, *p)
	}
	number := 0
	if revParam != "latest" {
		n, err := strconv.Atoi(revParam)
		if err != nil || n < 1 {
			probs.add("revision", "%q is not a revision (expected a number from 1, or latest)", revParam)
		}
		number = n
	}
	contentType, ok := slactl.Formats[format]
	if !ok {
		probs.add("format", "%q is not a format (expected csv, html or pdf)", format)
	}
	p := principalOf(c)
	scope := c.Query("scope", "all")
	if p.Role == RoleCustomer {
		if c.Query("scope") != "" && scope != p.Customer {
			return fiber.NewError(fiber.StatusForbidden, "scope: a customer sees only its own reports")
		}
		scope = p.Customer
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	var buf bytes.Buffer
	rev, err := ctl.Render(&buf, month, scope, number, format)
	// The archive keeps a scope under a file-name slug: "Demo_Corp" finds
	// "Demo Corp."'s directory. The scope asked for must be the report's.
	if errors.Is(err, os.ErrNotExist) || (err == nil && rev.Scope != scope) {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": fmt.Sprintf("no revision %s of the %s report for %q", revParam, month, scope)})
	}
	if err != nil {
		return err
	}
	slug := strings.Trim(unsafeFileName.ReplaceAllString(rev.Scope, "_"), "._")
	c.Set(fiber.HeaderContentType, contentType)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="sla-report-%s-%s-r%04d.%s"`, rev.Month, slug, rev.Number, format))
	c.Set("X-Report-Revision", strconv.Itoa(rev.Number))
	c.Set("X-Report-SHA256", rev.SHA256)
	if format == "html" {
		// The report is html/template output; it runs no script at all.
		c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
	}
	return c.Send(buf.Bytes())
}

func (s *Server) recompute(c *fiber.Ctx) error {
	ctl, err := s.slaController()
	if err != nil {
		return err
	}
	month := c.Params("month")
	var body struct {
		Reason string `json:"reason"`
	}
	if p := decodeStrict(c.Body(), &body, `{"reason": "..."}`); p != nil {
		return badRequest(c, *p)
	}
	var probs problems
	if p := checkMonth(month); p != nil {
		probs = append(probs, *p)
	} else if m, _ := time.Parse("2006-01", month); m.Before(ctl.Now().AddDate(-oldestRecompute, 0, 0)) {
		probs.add("month", "%s is more than %d years ago (expected a month with data, from %s on)", month, oldestRecompute,
			ctl.Now().AddDate(-oldestRecompute, 1, 0).Format("2006-01"))
	}
	reason := strings.TrimSpace(body.Reason)
	if reason == "" {
		probs.add("reason", "missing (expected why the report is recomputed, e.g. late probe data from the Osaka monitor)")
	}
	checkText(&probs, "reason", reason)
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	changed(c, "month", month)
	changed(c, "reason", reason)
	issued, err := ctl.Issue(c.UserContext(), month, principalOf(c).Name, reason)
	if errors.Is(err, slactl.ErrMonthNotOver) {
		return badRequest(c, FieldProblem{Field: "month", Msg: err.Error()})
	}
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	revs := 0
	for _, is := range issued {
		if !is.Unchanged {
			status = fiber.StatusCreated
			revs++
		}
	}
	changed(c, "new_revisions", revs)
	return c.Status(status).JSON(fiber.Map{"issued": issued})
}

// maintenanceRange is how far back GET /api/v1/maintenance looks by
// default: windows of the month before are still in its report.
const maintenanceRange = 62 * 24 * time.Hour

func (s *Server) maintenance(c *fiber.Ctx) error {
	ctl, err := s.slaController()
	if err != nil {
		return err
	}
	now := ctl.Now()
	from, to := now.Add(-maintenanceRange), now.AddDate(10, 0, 0)
	var probs problems
	queryTime(c, "from", &from, &probs)
	queryTime(c, "to", &to, &probs)
	if len(probs) == 0 && !to.After(from) {
		probs.add("to", "%s is not after from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	windows, err := ctl.MaintenanceWindows(c.UserContext(), from, to)
	if err != nil {
		return err
	}
	if windows == nil {
		windows = []slactl.MaintenanceView{}
	}
	return c.JSON(fiber.Map{"windows": windows})
}

// pastTolerance: a new window may start a little before its announcement
// (the form took a while); one that starts earlier is history, not a plan.
const pastTolerance = 15 * time.Minute

// maintenanceRequest reads and checks the body of POST /maintenance and
// /maintenance/check beyond what the controller checks: sizes and the past.
func maintenanceRequest(c *fiber.Ctx, now time.Time) (slactl.MaintenanceRequest, []FieldProblem) {
	var req slactl.MaintenanceRequest
	if p := decodeStrict(c.Body(), &req, `{"services": [...], "start": "...", "end": "...", "reason": "..."}`); p != nil {
		return req, []FieldProblem{*p}
	}
	var probs problems
	checkText(&probs, "reason", req.Reason)
	if len(req.Services) > 200 {
		probs.add("services", "%d services (expected at most 200)", len(req.Services))
	}
	if !req.Cancelled {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(req.Start)); err == nil && t.Before(now.Add(-pastTolerance)) {
			probs.add("start", "%s is in the past (expected a window from now on; record past outages as incidents)", t.Format(time.RFC3339))
		}
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(req.End)); err == nil && !t.After(now) {
			probs.add("end", "%s is in the past (expected a window that has not ended)", t.Format(time.RFC3339))
		}
	}
	return req, probs
}

func (s *Server) announce(c *fiber.Ctx) error {
	ctl, err := s.slaController()
	if err != nil {
		return err
	}
	req, probs := maintenanceRequest(c, ctl.Now())
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	v, cprobs, err := ctl.AnnounceMaintenance(c.UserContext(), req, principalOf(c).Name)
	if len(cprobs) > 0 {
		return badRequest(c, slaProblems(cprobs)...)
	}
	if err != nil {
		return err
	}
	changed(c, "id", v.ID)
	changed(c, "services", strings.Join(v.Services, ","))
	changed(c, "start", v.Start.Format(time.RFC3339))
	changed(c, "end", v.End.Format(time.RFC3339))
	changed(c, "reason", v.Reason)
	changed(c, "cancelled", v.Cancelled)
	for _, cl := range v.Classes {
		changed(c, "class_"+cl.Service, string(cl.Class))
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) checkMaintenance(c *fiber.Ctx) error {
	ctl, err := s.slaController()
	if err != nil {
		return err
	}
	req, probs := maintenanceRequest(c, ctl.Now())
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	v, cprobs := ctl.ClassifyMaintenance(c.UserContext(), req, principalOf(c).Name)
	if len(cprobs) > 0 {
		return badRequest(c, slaProblems(cprobs)...)
	}
	return c.JSON(v)
}

func slaProblems(ps []slactl.FieldProblem) []FieldProblem {
	out := make([]FieldProblem, len(ps))
	for i, p := range ps {
		out[i] = FieldProblem{Field: p.Field, Msg: p.Msg}
	}
	return out
}

// FiguresView is one service's month in GET /api/v1/sla/figures.
type FiguresView struct {
	Service      string   `json:"service"`
	Customer     string   `json:"customer,omitempty"`
	SLA          string   `json:"sla"`
	Objective    float64  `json:"objective"`
	Availability *float64 `json:"availability,omitempty"`
	Verdict      string   `json:"verdict"`
	Provisional  bool     `json:"provisional,omitempty"`
	BudgetTotalS float64  `json:"budget_total_s"`
	BudgetLeftS  float64  `json:"budget_left_s"`
	// BudgetLeft is the share of the budget left (negative: overspent);
	// Burn the share spent over the share of the month gone (1: on track
	// to spend it exactly).
	BudgetLeft  *float64 `json:"budget_left,omitempty"`
	Burn        *float64 `json:"burn,omitempty"`
	Failures    int      `json:"failures"`
	MaxFailures int      `json:"max_failures"`
	Incidents   int      `json:"incidents"`
}

func ratioPtr(r sla.Ratio) *float64 {
	if !r.Valid() {
		return nil
	}
	v := r.Value()
	return &v
}

// queryMonth is the request's ?month= ("" for the current month); a
// malformed one is a problem naming month.
func queryMonth(c *fiber.Ctx) (string, *FieldProblem) {
	month := c.Query("month")
	if month != "" {
		if p := checkMonth(month); p != nil {
			return "", p
		}
	}
	return month, nil
}

// slaMonth is one month of SLA figures as a request may see them.
type slaMonth struct {
	ctl SLAController
	// month is the month asked ("" for the current one).
	month string
	// figs are the month's figures the principal may see: a customer's
	// own services only.
	figs []sla.Figures
}

// visibleFigures reads the figures of the request's month (GET
// /api/v1/sla/figures and /api/v1/incidents); a malformed month is a
// problem naming month, for the caller to answer with 400.
func (s *Server) visibleFigures(c *fiber.Ctx) (slaMonth, *FieldProblem, error) {
	ctl, err := s.slaController()
	if err != nil {
		return slaMonth{}, nil, err
	}
	month, bad := queryMonth(c)
	if bad != nil {
		return slaMonth{}, bad, nil
	}
	figs, err := ctl.MonthFigures(c.UserContext(), month)
	if err != nil {
		return slaMonth{}, nil, err
	}
	p := principalOf(c)
	m := slaMonth{ctl: ctl, month: month}
	for _, f := range figs {
		if p.Role == RoleCustomer && f.Customer != p.Customer {
			continue
		}
		m.figs = append(m.figs, f)
	}
	return m, nil, nil
}

func (s *Server) slaFigures(c *fiber.Ctx) error {
	m, bad, err := s.visibleFigures(c)
	if err != nil {
		return err
	}
	if bad != nil {
		return badRequest(c, *bad)
	}
	now := m.ctl.Now()
	out := []FiguresView{}
	for _, f := range m.figs {
		v := FiguresView{Service: f.Service, Customer: f.Customer, SLA: f.SLA, Objective: f.Objective, Availability: ratioPtr(f.Availability),
			Verdict: fmt.Sprint(f.Verdict), Provisional: f.Provisional, BudgetTotalS: f.BudgetTotal.Seconds(), BudgetLeftS: f.BudgetLeft.Seconds(),
			BudgetLeft: ratioPtr(f.BudgetLeftRatio()), Failures: f.Failures, MaxFailures: f.MaxFailures, Incidents: len(f.Incidents)}
		if spent := f.BudgetSpentRatio(); spent.Valid() {
			span := f.Period.End.Sub(f.Period.Start)
			end := now
			if end.After(f.Period.End) {
				end = f.Period.End
			}
			gone := end.Sub(f.Period.Start)
			if span > 0 && gone > 0 {
				b := spent.Value() / (float64(gone) / float64(span))
				v.Burn = &b
			}
		}
		out = append(out, v)
	}
	return c.JSON(fiber.Map{"services": out})
}
