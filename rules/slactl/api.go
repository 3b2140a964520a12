package slactl

import (
	"bytes"
	"encoding/json"
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
	"github.com/setsuden/setsuden/server"
)

// API is the controller's server.Extension:
//
//	GET  /api/v1/sla                                 every service's settled state, with its pending or firing alerts
//	GET  /api/v1/reports[?month=YYYY-MM]             the archived report revisions
//	GET  /api/v1/reports/:month/:revision/:format    a revision (a number, or latest) as csv, html or pdf; ?scope=CUSTOMER (default all)
//	POST /api/v1/reports/:month/recompute            operator: a new revision of an ended month {reason}
//	GET  /api/v1/maintenance[?from=&to=]             the maintenance windows in force, with what they count as per service
//	POST /api/v1/maintenance                         operator: announce {services, start, end, reason} (or {id, ...} to reschedule, {id, cancelled: true, reason} to cancel)
//
// Changes are operator-only (server.Extension); a maintenance record is
// announced by the operator, at the time of the request.
type API struct{ c *Controller }

// API returns the controller's HTTP routes.
func (c *Controller) API() API { return API{c} }

// Register implements server.Extension.
func (a API) Register(r fiber.Router, operator fiber.Handler) {
	r.Get("/sla", a.states)
	r.Get("/reports", a.revisions)
	r.Get("/reports/:month/:revision/:format", a.download)
	r.Post("/reports/:month/recompute", operator, a.recompute)
	r.Get("/maintenance", a.maintenance)
	r.Post("/maintenance", operator, a.announce)
}

// StatesView is the body of GET /api/v1/sla.
type StatesView struct {
	Site string `json:"site"`
	// AsOf is the tracker's horizon: states before it are final.
	AsOf     time.Time      `json:"as_of"`
	Services []ServiceState `json:"services"`
}

func (a API) states(c *fiber.Ctx) error {
	states, asOf := a.c.States()
	return c.JSON(StatesView{Site: a.c.cfg.Site, AsOf: asOf, Services: states})
}

// badRequest answers 400 with every problem: {"error": "start: ...; end:
// ...", "problems": [{field, message}]}.
func badRequest(c *fiber.Ctx, probs ...FieldProblem) error {
	parts := make([]string, len(probs))
	for i, p := range probs {
		parts[i] = p.String()
	}
	return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": strings.Join(parts, "; "), "problems": probs})
}

var monthParam = regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])$`)

func checkMonth(month string) *FieldProblem {
	if !monthParam.MatchString(month) {
		return &FieldProblem{Field: "month", Msg: fmt.Sprintf("%q is not a month (expected YYYY-MM, e.g. 2026-07)", month)}
	}
	return nil
}

// RevisionView is an archived revision with where to download it.
type RevisionView struct {
	report.Revision
	Files map[string]string `json:"files"`
}

func (a API) revisions(c *fiber.Ctx) error {
	month := c.Query("month")
	if month != "" {
		if p := checkMonth(month); p != nil {
			return badRequest(c, *p)
		}
	}
	revs, err := a.c.Revisions(month)
	if err != nil {
		return err
	}
	out := make([]RevisionView, len(revs))
	for i, r := range revs {
		files := map[string]string{}
		for f := range Formats {
			files[f] = fmt.Sprintf("/api/v1/reports/%s/%d/%s?scope=%s", r.Month, r.Number, f, url.QueryEscape(r.Scope))
		}
		out[i] = RevisionView{Revision: r, Files: files}
	}
	return c.JSON(fiber.Map{"revisions": out})
}

var unsafeFileName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (a API) download(c *fiber.Ctx) error {
	month, revParam, format := c.Params("month"), c.Params("revision"), c.Params("format")
	var probs []FieldProblem
	if p := checkMonth(month); p != nil {
		probs = append(probs, *p)
	}
	number := 0
	if revParam != "latest" {
		n, err := strconv.Atoi(revParam)
		if err != nil || n < 1 {
			probs = append(probs, FieldProblem{Field: "revision", Msg: fmt.Sprintf("%q is not a revision (expected a number from 1, or latest)", revParam)})
		}
		number = n
	}
	contentType, ok := Formats[format]
	if !ok {
		probs = append(probs, FieldProblem{Field: "format", Msg: fmt.Sprintf("%q is not a format (expected csv, html or pdf)", format)})
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	scope := c.Query("scope", "all")
	var buf bytes.Buffer
	rev, err := a.c.Render(&buf, month, scope, number, format)
	if errors.Is(err, os.ErrNotExist) {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": fmt.Sprintf("no revision %s of the %s report for %s", revParam, month, scope)})
	}
	if err != nil {
		return err
	}
	slug := strings.Trim(unsafeFileName.ReplaceAllString(rev.Scope, "_"), "._")
	c.Set(fiber.HeaderContentType, contentType)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="sla-report-%s-%s-r%04d.%s"`, rev.Month, slug, rev.Number, format))
	c.Set("X-Report-Revision", strconv.Itoa(rev.Number))
	c.Set("X-Report-SHA256", rev.SHA256)
	return c.Send(buf.Bytes())
}

func (a API) recompute(c *fiber.Ctx) error {
	month := c.Params("month")
	var body struct {
		Reason string `json:"reason"`
	}
	if p := decodeStrict(c.Body(), &body, `{"reason": "..."}`); p != nil {
		return badRequest(c, *p)
	}
	var probs []FieldProblem
	if p := checkMonth(month); p != nil {
		probs = append(probs, *p)
	}
	if strings.TrimSpace(body.Reason) == "" {
		probs = append(probs, FieldProblem{Field: "reason", Msg: "missing (expected why the report is recomputed, e.g. late probe data from the Osaka monitor)"})
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	issued, err := a.c.Issue(c.UserContext(), month, server.OperatorOf(c), strings.TrimSpace(body.Reason))
	if errors.Is(err, ErrMonthNotOver) {
		return badRequest(c, FieldProblem{Field: "month", Msg: err.Error()})
	}
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	for _, is := range issued {
		if !is.Unchanged {
			status = fiber.StatusCreated
		}
	}
	return c.Status(status).JSON(fiber.Map{"issued": issued})
}

// maintenanceRange is how far back GET /api/v1/maintenance looks by
// default: windows of the month before are still in its report.
const maintenanceRange = 62 * 24 * time.Hour

func (a API) maintenance(c *fiber.Ctx) error {
	now := a.c.clock.Now()
	from, to := now.Add(-maintenanceRange), now.AddDate(10, 0, 0)
	var probs []FieldProblem
	for _, q := range []struct {
		name string
		into *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := c.Query(q.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				probs = append(probs, FieldProblem{Field: q.name, Msg: fmt.Sprintf("%q is not an RFC 3339 time (expected e.g. 2026-07-01T00:00:00+09:00)", v)})
				continue
			}
			*q.into = t
		}
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	windows, err := a.c.cfg.Maintenance.Windows(c.UserContext(), from, to)
	if err != nil {
		return err
	}
	out := make([]MaintenanceView, len(windows))
	for i, w := range windows {
		out[i] = ClassifyWindow(a.c.cfg.SLA.Catalog, a.c.cfg.SLA.Policy, w)
	}
	return c.JSON(fiber.Map{"windows": out})
}

func (a API) announce(c *fiber.Ctx) error {
	var req MaintenanceRequest
	if p := decodeStrict(c.Body(), &req, `{"services": [...], "start": "...", "end": "...", "reason": "..."}`); p != nil {
		return badRequest(c, *p)
	}
	ctx := c.UserContext()
	w, probs := NewMaintenanceWindow(ctx, a.c.cfg.SLA.Catalog, a.c.cfg.Maintenance, req, server.OperatorOf(c), a.c.clock.Now())
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	w, err := a.c.cfg.Maintenance.Append(ctx, w)
	if err != nil {
		return err
	}
	v := ClassifyWindow(a.c.cfg.SLA.Catalog, a.c.cfg.SLA.Policy, w)
	attrs := []any{"id", w.ID, "operator", w.AnnouncedBy, "services", strings.Join(w.Services, ","),
		"start", w.Start.Format(time.RFC3339), "end", w.End.Format(time.RFC3339), "cancelled", w.Cancelled}
	for _, cl := range v.Classes {
		attrs = append(attrs, "class_"+cl.Service, string(cl.Class))
	}
	a.c.log.Info("maintenance announced", attrs...)
	return c.Status(fiber.StatusCreated).JSON(v)
}

// decodeStrict reads one JSON object into v, refusing unknown fields; a
// problem names the field (or "body").
func decodeStrict(body []byte, v any, shape string) *FieldProblem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		return &FieldProblem{Field: "body", Msg: "more than one JSON value (expected one object)"}
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		field, _, _ := strings.Cut(typeErr.Field, ".")
		return &FieldProblem{Field: field, Msg: fmt.Sprintf("a JSON %s is not allowed here (expected %s)", typeErr.Value, jsonKind(typeErr.Type.String()))}
	case errors.As(err, &typeErr):
		return &FieldProblem{Field: "body", Msg: fmt.Sprintf("a JSON %s (expected an object: %s)", typeErr.Value, shape)}
	case errors.Is(err, io.EOF):
		return &FieldProblem{Field: "body", Msg: "empty (expected " + shape + ")"}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldProblem{Field: "body", Msg: "not valid JSON (expected " + shape + ")"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &FieldProblem{Field: strings.Trim(name, `"`), Msg: "unknown field (expected " + shape + ")"}
	}
	return &FieldProblem{Field: "body", Msg: err.Error()}
}

func jsonKind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "a list of strings"
	}
	return goType
}
