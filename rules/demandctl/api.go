package demandctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/server"
)

// API is the controller's server.Extension:
//
//	GET    /api/v1/demand          the latest decision (503 before the first tick)
//	POST   /api/v1/demand/target   operator: set an external target {kw, from, to, source[, block]}
//	DELETE /api/v1/demand/target   operator: remove the target of ?source=, or all
type API struct{ c *Controller }

// API returns the controller's HTTP routes.
func (c *Controller) API() API { return API{c} }

// maxTargetWindow bounds an external target's window: an event is hours,
// and a mistyped year must not cap the site for months.
const maxTargetWindow = 31 * 24 * time.Hour

// Register implements server.Extension.
func (a API) Register(r fiber.Router, operator fiber.Handler) {
	r.Get("/demand", a.get)
	r.Post("/demand/target", operator, a.setTarget)
	r.Delete("/demand/target", operator, a.clearTarget)
}

func (a API) get(c *fiber.Ctx) error {
	d, ok := a.c.latestIfAny()
	if !ok {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "no demand decision yet: the first tick has not run"})
	}
	v := NewDecisionView(a.c.cfg.Site, d)
	for _, t := range a.c.ExternalTargets() {
		v.ExternalTargets = append(v.ExternalTargets, targetView(t))
	}
	for _, s := range a.c.CapStatuses() {
		v.Caps = append(v.Caps, capStatusView(s))
	}
	return c.JSON(v)
}

// FieldProblem is one thing wrong with a request body.
type FieldProblem struct {
	Field string `json:"field"`
	Msg   string `json:"message"`
}

// badRequest answers 400 with every problem: {"error": "kw: ...; to: ...",
// "problems": [{field, message}]}.
func badRequest(c *fiber.Ctx, probs []FieldProblem) error {
	parts := make([]string, len(probs))
	for i, p := range probs {
		parts[i] = p.Field + ": " + p.Msg
	}
	return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": strings.Join(parts, "; "), "problems": probs})
}

type targetBody struct {
	KW     *float64 `json:"kw"`
	From   *string  `json:"from"`
	To     *string  `json:"to"`
	Source *string  `json:"source"`
	Block  *string  `json:"block"`
}

func (a API) setTarget(c *fiber.Ctx) error {
	t, probs := parseTarget(c.Body(), a.c.clock.Now())
	if len(probs) > 0 {
		return badRequest(c, probs)
	}
	replaced := false
	for _, old := range a.c.ExternalTargets() {
		replaced = replaced || old.Source == t.Source
	}
	if err := a.c.SetExternalTarget(t); err != nil {
		return badRequest(c, []FieldProblem{{Field: "body", Msg: err.Error()}})
	}
	a.c.log.Info("external demand target from an operator", "operator", server.OperatorOf(c), "source", t.Source, "kw", t.KW)
	return c.JSON(fiber.Map{"target": targetView(t), "replaced": replaced})
}

// parseTarget reads and checks a POST body; every problem names its field.
func parseTarget(body []byte, now time.Time) (demand.ExternalTarget, []FieldProblem) {
	var b targetBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return demand.ExternalTarget{}, []FieldProblem{decodeProblem(err)}
	}
	if dec.More() {
		return demand.ExternalTarget{}, []FieldProblem{{Field: "body", Msg: "more than one JSON value (expected one object)"}}
	}
	var probs []FieldProblem
	add := func(field, format string, args ...any) {
		probs = append(probs, FieldProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	var t demand.ExternalTarget
	switch {
	case b.KW == nil:
		add("kw", "missing (expected the target in kW, more than 0)")
	case math.IsNaN(*b.KW) || *b.KW <= 0 || *b.KW > 1e6:
		add("kw", "%g is out of range (expected more than 0 and at most 1000000 kW)", *b.KW)
	default:
		t.KW = *b.KW
	}
	fromOK := parseTime(b.From, "from", &t.From, add)
	toOK := parseTime(b.To, "to", &t.To, add)
	if fromOK && toOK {
		switch {
		case !t.To.After(t.From):
			add("to", "%s is not after from %s (expected a window of some length)", t.To.Format(time.RFC3339), t.From.Format(time.RFC3339))
		case !t.To.After(now):
			add("to", "%s is in the past (expected a window that has not ended)", t.To.Format(time.RFC3339))
		case t.To.Sub(t.From) > maxTargetWindow:
			add("to", "the window is %s long (expected at most 31 days)", t.To.Sub(t.From).Round(time.Minute))
		}
	}
	switch {
	case b.Source == nil || *b.Source == "":
		add("source", "missing (expected who sets the target, e.g. aggregator-x)")
	case !validSource(*b.Source):
		add("source", "%q is not a name (expected up to 64 letters, digits, _ . -)", *b.Source)
	default:
		t.Source = *b.Source
	}
	if b.Block != nil && *b.Block != "" {
		d, err := time.ParseDuration(*b.Block)
		if err != nil || demand.ValidBlockLength(d) != nil {
			add("block", "%q is not a block length (expected 15m, 30m or 60m; default the billing block)", *b.Block)
		} else {
			t.Block = d
		}
	}
	return t, probs
}

func parseTime(s *string, field string, into *time.Time, add func(string, string, ...any)) bool {
	if s == nil || *s == "" {
		add(field, "missing (expected an RFC 3339 time, e.g. 2026-07-01T14:00:00+09:00)")
		return false
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		add(field, "%q is not an RFC 3339 time (expected e.g. 2026-07-01T14:00:00+09:00)", *s)
		return false
	}
	*into = t
	return true
}

func validSource(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// decodeProblem names the field of a JSON decoding error.
func decodeProblem(err error) FieldProblem {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		want := map[string]string{"kw": "a number"}[typeErr.Field]
		if want == "" {
			want = "a string"
		}
		return FieldProblem{Field: typeErr.Field, Msg: fmt.Sprintf("a JSON %s is not allowed here (expected %s)", typeErr.Value, want)}
	case errors.As(err, &typeErr):
		return FieldProblem{Field: "body", Msg: fmt.Sprintf("a JSON %s (expected an object)", typeErr.Value)}
	case errors.Is(err, io.EOF):
		return FieldProblem{Field: "body", Msg: "empty (expected {\"kw\": ..., \"from\": ..., \"to\": ..., \"source\": ...})"}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return FieldProblem{Field: "body", Msg: "not valid JSON (expected {\"kw\": ..., \"from\": ..., \"to\": ..., \"source\": ...})"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return FieldProblem{Field: strings.Trim(name, `"`), Msg: "unknown field (expected kw, from, to, source, block)"}
	}
	return FieldProblem{Field: "body", Msg: err.Error()}
}

func (a API) clearTarget(c *fiber.Ctx) error {
	source := c.Query("source")
	n := a.c.ClearExternalTarget(source)
	if source != "" && n == 0 {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": fmt.Sprintf("source: no external target from %q", source)})
	}
	a.c.log.Info("external demand target cleared by an operator", "operator", server.OperatorOf(c), "source", source, "removed", n)
	return c.JSON(fiber.Map{"removed": n})
}
