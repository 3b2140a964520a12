package server

import (
	"fmt"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

// DemandController is what the server needs of demand control
// (rules/demandctl.Controller).
type DemandController interface {
	// Status is the latest decision; false before the first tick.
	Status() (demandctl.DecisionView, bool)
	ExternalTargets() []demand.ExternalTarget
	SetExternalTarget(t demand.ExternalTarget) error
	ClearExternalTarget(source string) int
	Now() time.Time
}

// maxTargetWindow bounds an external target's window: an event is hours,
// and a mistyped year must not cap the site for months.
const maxTargetWindow = 31 * 24 * time.Hour

func (s *Server) demandRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/demand", Need: RoleViewer, Tag: "demand", Summary: "the latest demand decision (503 before the first tick)", Handler: s.demandState},
		{Method: "POST", Path: "/api/v1/demand/target", Need: RoleOperator, Tag: "demand", Summary: "set an external target",
			Body: `{"kw": 350, "from": "2026-07-01T13:00:00+09:00", "to": "2026-07-01T16:00:00+09:00", "source": "aggregator-x", "block": "30m"}`, Handler: s.setTarget},
		{Method: "DELETE", Path: "/api/v1/demand/target", Need: RoleOperator, Tag: "demand", Summary: "remove the external target of ?source=", Query: []string{"source"}, Handler: s.clearTarget},
	}
}

func (s *Server) demandController(c *fiber.Ctx) (DemandController, error) {
	if s.cfg.Demand == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "demand control does not run in this process (no demand: section, or another shard runs the site controllers)")
	}
	return s.cfg.Demand, nil
}

func (s *Server) demandState(c *fiber.Ctx) error {
	d, err := s.demandController(c)
	if err != nil {
		return err
	}
	v, ok := d.Status()
	if !ok {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "no demand decision yet: the first tick has not run"})
	}
	return c.JSON(v)
}

type targetBody struct {
	KW     *float64 `json:"kw"`
	From   *string  `json:"from"`
	To     *string  `json:"to"`
	Source *string  `json:"source"`
	Block  *string  `json:"block"`
}

func (s *Server) setTarget(c *fiber.Ctx) error {
	d, err := s.demandController(c)
	if err != nil {
		return err
	}
	t, probs := parseTarget(c.Body(), d.Now())
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	replaced := false
	for _, old := range d.ExternalTargets() {
		replaced = replaced || old.Source == t.Source
	}
	changed(c, "kw", t.KW)
	changed(c, "from", t.From.Format(time.RFC3339))
	changed(c, "to", t.To.Format(time.RFC3339))
	changed(c, "source", t.Source)
	changed(c, "replaced", replaced)
	if err := d.SetExternalTarget(t); err != nil {
		return badRequest(c, FieldProblem{Field: "body", Msg: err.Error()})
	}
	return c.JSON(fiber.Map{"target": demandctl.NewTargetView(t), "replaced": replaced})
}

// parseTarget reads and checks a POST body; every problem names its field.
func parseTarget(body []byte, now time.Time) (demand.ExternalTarget, []FieldProblem) {
	var b targetBody
	if p := decodeStrict(body, &b, `{"kw": ..., "from": ..., "to": ..., "source": ...}`); p != nil {
		if p.Msg == "unknown field (expected {\"kw\": ..., \"from\": ..., \"to\": ..., \"source\": ...})" {
			p.Msg = "unknown field (expected kw, from, to, source, block)"
		}
		return demand.ExternalTarget{}, []FieldProblem{*p}
	}
	var probs problems
	var t demand.ExternalTarget
	switch {
	case b.KW == nil:
		probs.add("kw", "missing (expected the target in kW, more than 0)")
	case math.IsNaN(*b.KW) || *b.KW <= 0 || *b.KW > 1e6:
		probs.add("kw", "%g is out of range (expected more than 0 and at most 1000000 kW)", *b.KW)
	default:
		t.KW = *b.KW
	}
	fromOK := parseTime(b.From, "from", &t.From, &probs)
	toOK := parseTime(b.To, "to", &t.To, &probs)
	if fromOK && toOK {
		switch {
		case !t.To.After(t.From):
			probs.add("to", "%s is not after from %s (expected a window of some length)", t.To.Format(time.RFC3339), t.From.Format(time.RFC3339))
		case !t.To.After(now):
			probs.add("to", "%s is in the past (expected a window that has not ended)", t.To.Format(time.RFC3339))
		case t.To.Sub(t.From) > maxTargetWindow:
			probs.add("to", "the window is %s long (expected at most 31 days)", t.To.Sub(t.From).Round(time.Minute))
		}
	}
	switch {
	case b.Source == nil || *b.Source == "":
		probs.add("source", "missing (expected who sets the target, e.g. aggregator-x)")
	case !validName(*b.Source):
		probs.add("source", "%q is not a name (expected up to 64 letters, digits, _ . -)", *b.Source)
	default:
		t.Source = *b.Source
	}
	if b.Block != nil && *b.Block != "" {
		d, err := time.ParseDuration(*b.Block)
		if err != nil || demand.ValidBlockLength(d) != nil {
			probs.add("block", "%q is not a block length (expected 15m, 30m or 60m; default the billing block)", *b.Block)
		} else {
			t.Block = d
		}
	}
	return t, probs
}

func parseTime(s *string, field string, into *time.Time, probs *problems) bool {
	if s == nil || *s == "" {
		probs.add(field, "missing (expected an RFC 3339 time, e.g. 2026-07-01T14:00:00+09:00)")
		return false
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		probs.add(field, "%q is not an RFC 3339 time (expected e.g. 2026-07-01T14:00:00+09:00)", *s)
		return false
	}
	*into = t
	return true
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// clearTarget removes the target of one source: without ?source= it
// removes nothing (a typo must not lift every cap).
func (s *Server) clearTarget(c *fiber.Ctx) error {
	d, err := s.demandController(c)
	if err != nil {
		return err
	}
	source := c.Query("source")
	if source == "" {
		return badRequest(c, FieldProblem{Field: "source", Msg: "missing (expected ?source= naming the target to remove; nothing was removed)"})
	}
	if !validName(source) {
		return badRequest(c, FieldProblem{Field: "source", Msg: fmt.Sprintf("%q is not a name (expected up to 64 letters, digits, _ . -)", source)})
	}
	changed(c, "source", source)
	n := d.ClearExternalTarget(source)
	changed(c, "removed", n)
	if n == 0 {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": fmt.Sprintf("source: no external target from %q", source)})
	}
	return c.JSON(fiber.Map{"removed": n})
}
