package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// FieldProblem is one thing wrong with a request, naming its field.
type FieldProblem struct {
	Field string `json:"field"`
	Msg   string `json:"message"`
}

func (p FieldProblem) String() string { return p.Field + ": " + p.Msg }

// problems collects what is wrong with a request.
type problems []FieldProblem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, FieldProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// badRequest answers 400 with every problem: {"error": "kw: ...; to: ...",
// "problems": [{field, message}]}.
func badRequest(c *fiber.Ctx, probs ...FieldProblem) error {
	parts := make([]string, len(probs))
	for i, p := range probs {
		parts[i] = p.String()
	}
	return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": strings.Join(parts, "; "), "problems": probs})
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
	case goType == "string", goType == "*string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "a list of strings"
	case strings.Contains(goType, "float"), strings.Contains(goType, "int"):
		return "a number"
	}
	return goType
}

// queryTime reads an optional RFC 3339 query parameter.
func queryTime(c *fiber.Ctx, name string, into *time.Time, probs *problems) {
	v := c.Query(name)
	if v == "" {
		return
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		probs.add(name, "%q is not an RFC 3339 time (expected e.g. 2026-07-01T00:00:00+09:00)", v)
		return
	}
	*into = t
}

// maxText bounds free text fields (a reason, a note): a paragraph, not a file.
const maxText = 1000

func checkText(probs *problems, field, s string) {
	if n := len([]rune(s)); n > maxText {
		probs.add(field, "%d characters (expected at most %d)", n, maxText)
	}
}

// errBadField is a 400 naming a field, as an error a helper can return.
type errBadField struct{ p FieldProblem }

func (e errBadField) Error() string { return e.p.String() }
