package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

// MaintenanceImporter imports a maintenance calendar into the log the
// daemon holds (rules/slactl.Controller.ImportCalendar): all or nothing,
// problems as slactl.ImportProblems.
type MaintenanceImporter interface {
	ImportCalendar(ctx context.Context, file string, data []byte, by string) (imported, unchanged []slactl.MaintenanceView, err error)
}

func (s *Server) incidentRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/incidents", Need: RoleCustomer, Tag: "sla",
			Summary: "a month's incidents per service: start, end, cause, whether they counted against the SLA, RTO met; and each service's response-time SLI for the month (a customer: its own)",
			Query:   []string{"month", "service"}, Handler: s.incidents},
		{Method: "POST", Path: "/api/v1/maintenance/import", Need: RoleOperator, Tag: "maintenance",
			Summary: "import a maintenance calendar (CSV, header " + strings.Join(slactl.CalendarColumns, ",") + "; services separated by ;) with its original announcement times: every row is checked first, one bad row imports nothing",
			Body:    `{"file": "calendar-2026.csv", "csv": "id,services,start,end,announced_at,announced_by,reason\n,web;db,2026-07-10T02:00:00+09:00,2026-07-10T04:00:00+09:00,2026-06-01T10:00:00+09:00,alice,storage firmware\n"}`,
			Handler: s.importMaintenance},
	}
}

// IncidentView is one incident in GET /api/v1/incidents.
type IncidentView struct {
	Service  string    `json:"service"`
	Customer string    `json:"customer,omitempty"`
	SLA      string    `json:"sla"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Ongoing  bool      `json:"ongoing,omitempty"`
	// DurationS is wall-clock seconds from start to end; DowntimeS the
	// in-service down time, DowntimeInMonthS the part inside the month.
	DurationS        float64  `json:"duration_s"`
	DowntimeS        float64  `json:"downtime_s"`
	DowntimeInMonthS float64  `json:"downtime_in_month_s"`
	Causes           []string `json:"causes"`
	Cause            string   `json:"cause"`
	Maintenance      string   `json:"maintenance,omitempty"`
	EnergyAction     bool     `json:"energy_action,omitempty"`
	// CountsAgainstSLA: its downtime inside the month lowers availability
	// and spends the error budget. Failure: it also counts against the
	// failure limit and the RTO (short-notice maintenance does not).
	CountsAgainstSLA bool `json:"counts_against_sla"`
	Failure          bool `json:"failure"`
	// TTRS is the time to restore in service time; RTOS the SLA's
	// objective (0: none); RTOMet is set for failures under an RTO.
	TTRS        float64 `json:"ttr_s"`
	RTOS        float64 `json:"rto_s,omitempty"`
	RTOMet      *bool   `json:"rto_met,omitempty"`
	Stretches   int     `json:"stretches"`
	CarriedOver bool    `json:"carried_over,omitempty"`
}

// ResponseView is a service's response-time SLI for the month (the model
// measures it per month, not per incident): the share of valid probes
// within the bound against the objective.
type ResponseView struct {
	Service    string   `json:"service"`
	BoundMs    float64  `json:"bound_ms"`
	Objective  float64  `json:"objective,omitempty"`
	Valid      int      `json:"valid"`
	Within     int      `json:"within"`
	Compliance *float64 `json:"compliance,omitempty"`
	// Met: compliance reaches the objective (unset without an objective
	// or without valid probes).
	Met   *bool   `json:"met,omitempty"`
	P95Ms float64 `json:"p95_ms"`
}

func responseView(f sla.Figures) (ResponseView, bool) {
	r := f.Response
	if r.Bound <= 0 {
		return ResponseView{}, false
	}
	v := ResponseView{Service: f.Service, BoundMs: float64(r.Bound) / float64(time.Millisecond), Objective: r.Objective,
		Valid: r.Valid, Within: r.Within, Compliance: ratioPtr(r.Compliance), P95Ms: r.P95}
	if v.Compliance != nil && r.Objective > 0 {
		met := *v.Compliance >= r.Objective
		v.Met = &met
	}
	return v, true
}

func incidentView(f sla.Figures, in sla.Incident, carried bool) IncidentView {
	v := IncidentView{Service: f.Service, Customer: f.Customer, SLA: f.SLA, Start: in.Start, End: in.End, Ongoing: in.Ongoing,
		DurationS: in.End.Sub(in.Start).Seconds(), DowntimeS: in.Downtime.Seconds(), DowntimeInMonthS: in.DowntimeInPeriod.Seconds(),
		Causes: append([]string{}, in.Causes...), Cause: strings.Join(in.Causes, ", "), Maintenance: in.Maintenance, EnergyAction: in.EnergyAction,
		CountsAgainstSLA: in.DowntimeInPeriod > 0, Failure: in.Failure, TTRS: in.TTR.Seconds(), Stretches: in.Stretches, CarriedOver: carried}
	if f.RTO > 0 {
		v.RTOS = f.RTO.Seconds()
		if in.Failure {
			met := !in.RTOBreach
			v.RTOMet = &met
		}
	}
	return v
}

func (s *Server) incidents(c *fiber.Ctx) error {
	m, bad, err := s.visibleFigures(c)
	if err != nil {
		return err
	}
	if bad != nil {
		return badRequest(c, *bad)
	}
	service := c.Query("service")
	p := principalOf(c)
	var names []string
	for _, f := range m.figs {
		names = append(names, f.Service)
	}
	if service != "" && !slices.Contains(names, service) {
		if p.Role == RoleCustomer {
			return fiber.NewError(fiber.StatusForbidden, fmt.Sprintf("service: %q is not one of your services (expected one of: %s)", service, strings.Join(names, ", ")))
		}
		return badRequest(c, FieldProblem{Field: "service", Msg: fmt.Sprintf("unknown service %q (expected one of: %s)", service, strings.Join(names, ", "))})
	}
	out := []IncidentView{}
	resp := []ResponseView{}
	for _, f := range m.figs {
		if service != "" && f.Service != service {
			continue
		}
		if rv, ok := responseView(f); ok {
			resp = append(resp, rv)
		}
		for _, in := range f.CarriedOver {
			out = append(out, incidentView(f, in, true))
		}
		for _, in := range f.Incidents {
			out = append(out, incidentView(f, in, false))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	month := m.month
	if month == "" {
		month = m.ctl.Now().In(s.cfg.Location).Format("2006-01")
	}
	return c.JSON(fiber.Map{"month": month, "incidents": out, "response": resp})
}

// maxCalendar bounds an imported calendar: years of windows, not a dump.
const maxCalendar = 1 << 20

func (s *Server) importMaintenance(c *fiber.Ctx) error {
	ctl, err := s.slaController()
	if err != nil {
		return err
	}
	imp, ok := ctl.(MaintenanceImporter)
	if !ok {
		return fiber.NewError(fiber.StatusServiceUnavailable, "this SLA controller cannot import maintenance calendars")
	}
	var body struct {
		File string `json:"file"`
		CSV  string `json:"csv"`
	}
	if p := decodeStrict(c.Body(), &body, `{"file": "calendar.csv", "csv": "id,services,start,end,announced_at,announced_by,reason\n..."}`); p != nil {
		return badRequest(c, *p)
	}
	var probs problems
	file := strings.TrimSpace(body.File)
	if file == "" {
		file = "upload.csv"
	}
	if len(file) > 200 || strings.ContainsAny(file, "\x00\n\r") {
		probs.add("file", "%d characters (expected a file name of at most 200 characters on one line)", len(file))
	}
	if !strings.EqualFold(filepath.Ext(file), ".csv") {
		probs.add("file", "%q does not end in .csv (expected the calendar as CSV)", file)
	}
	if strings.TrimSpace(body.CSV) == "" {
		probs.add("csv", "missing (expected CSV with the header %s)", strings.Join(slactl.CalendarColumns, ","))
	}
	if len(body.CSV) > maxCalendar {
		probs.add("csv", "%d bytes (expected at most %d)", len(body.CSV), maxCalendar)
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	// The log records where a window came from: this route and the file name.
	name := "/api/v1/maintenance/import/" + filepath.Base(file)
	imported, unchanged, err := imp.ImportCalendar(c.UserContext(), name, []byte(body.CSV), principalOf(c).Name)
	var ips slactl.ImportProblems
	if errors.As(err, &ips) {
		out := make([]FieldProblem, len(ips))
		for i, ip := range ips {
			row := ""
			if ip.Line > 1 {
				row = fmt.Sprintf(" (row %d)", ip.Line-1)
			}
			out[i] = FieldProblem{Field: ip.Field, Msg: fmt.Sprintf("line %d%s: %s", ip.Line, row, ip.Msg)}
		}
		return badRequest(c, out...)
	}
	if err != nil {
		return err
	}
	if imported == nil {
		imported = []slactl.MaintenanceView{}
	}
	if unchanged == nil {
		unchanged = []slactl.MaintenanceView{}
	}
	changed(c, "file", file)
	changed(c, "imported", len(imported))
	changed(c, "unchanged", len(unchanged))
	ws := make([]string, len(imported))
	for i, v := range imported {
		ws[i] = fmt.Sprintf("%s %s %s-%s", v.ID, strings.Join(v.Services, ";"), v.Start.Format(time.RFC3339), v.End.Format(time.RFC3339))
	}
	changed(c, "windows", strings.Join(ws, ", "))
	status := fiber.StatusOK
	if len(imported) > 0 {
		status = fiber.StatusCreated
	}
	return c.Status(status).JSON(fiber.Map{"imported": imported, "unchanged": unchanged})
}
