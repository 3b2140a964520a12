package shed_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/shed"
	"github.com/setsuden/setsuden/rules/shed/inventory"
)

// TestCases: each folder under testdata/cases holds an inventory.yaml, a
// request.yaml ({kind, kw, by, now}) and an expected.json that the plan,
// as JSON, must contain (every key given must match; lists element by
// element, objects by the keys given).
func TestCases(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/cases/*")
	if len(dirs) == 0 {
		t.Fatal("no cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, err := inventory.Load(filepath.Join(dir, "inventory.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var req struct {
				Kind string    `json:"kind"`
				KW   float64   `json:"kw"`
				By   time.Time `json:"by"`
				Now  time.Time `json:"now"`
			}
			readJSON(t, filepath.Join(dir, "request.yaml"), &req)
			plan, err := shed.NewPlan(shed.Input{Inventory: f.Inventory, Policy: f.Policy, Now: req.Now,
				Request: shed.Request{Kind: shed.PlanKind(req.Kind), KW: req.KW, By: req.By}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(plan)
			var got any
			_ = json.Unmarshal(b, &got)
			var want any
			readJSON(t, filepath.Join(dir, "expected.json"), &want)
			if err := contains(got, want, ""); err != nil {
				out, _ := json.MarshalIndent(plan, "", "  ")
				t.Errorf("%v\nplan:\n%s", err, out)
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func contains(got, want any, path string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", path, got)
		}
		for k, wv := range w {
			if err := contains(g[k], wv, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) < len(w) {
			return fmt.Errorf("%s: got %v, want at least %d elements like %v", path, got, len(w), w)
		}
		if _, objs := w[0].(map[string]any); !objs && len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %v", path, got, w)
		}
		for i := range w {
			if err := contains(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
	return nil
}
