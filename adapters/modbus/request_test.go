package modbus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlan runs testdata/plan/<case>/model.yaml through Plan with the
// max_gap on the first line of expected.txt and compares the requests, one
// Request.String() a line, with the rest of the file.
func TestPlan(t *testing.T) {
	dirs, err := filepath.Glob("testdata/plan/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, gap, want := readPlanCase(t, dir)
			var got []string
			for _, r := range Plan(m, gap) {
				got = append(got, r.String())
				checkRequest(t, m, r)
			}
			if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
				t.Errorf("plan:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

func readPlanCase(t *testing.T, dir string) (*Model, uint16, []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseModel(filepath.Join(dir, "model.yaml"), data)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(exp), "\n"), "\n")
	var gap uint16
	if _, err := fmt.Sscanf(lines[0], "max_gap: %d", &gap); err != nil {
		t.Fatalf("expected.txt must start with \"max_gap: N\": %v", err)
	}
	return m, gap, lines[1:]
}

// checkRequest verifies the invariants every plan must keep.
func checkRequest(t *testing.T, m *Model, r Request) {
	t.Helper()
	limit := m.maxRegisters()
	if r.Table.bits() {
		limit = MaxBitsPerRead
	}
	if r.Quantity == 0 || int(r.Quantity) > limit {
		t.Errorf("%s: quantity %d outside 1-%d", r, r.Quantity, limit)
	}
	for _, f := range r.Fields {
		if f.Table != r.Table || f.Address < r.Address || int(f.Address)+f.Size() > int(r.Address)+int(r.Quantity) {
			t.Errorf("%s: field %s (%s %d+%d) outside the read", r, f.Name, f.Table, f.Address, f.Size())
		}
	}
}

func TestPlanCoversEveryFieldOnce(t *testing.T) {
	ms, err := LoadModels()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ms.Names() {
		m := ms[name]
		for _, gap := range []uint16{0, 1, 10, 200} {
			seen := map[string]int{}
			for _, r := range Plan(m, gap) {
				checkRequest(t, m, r)
				for _, f := range r.Fields {
					seen[f.Name]++
				}
			}
			for _, f := range m.Fields {
				if seen[f.Name] != 1 {
					t.Errorf("%s gap %d: field %s planned %d times", name, gap, f.Name, seen[f.Name])
				}
			}
		}
	}
}
