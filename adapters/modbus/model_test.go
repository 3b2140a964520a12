package modbus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltinModels(t *testing.T) {
	ms, err := LoadModels()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"carlo-gavazzi-em21", "eastron-sdm72d-m", "setsuden-sim-pm", "vaisala-hmp4"}
	if got := strings.Join(ms.Names(), " "); got != strings.Join(want, " ") {
		t.Fatalf("built-in models = %s, want %s", got, strings.Join(want, " "))
	}
	for _, name := range want {
		m := ms[name]
		if m.Source == "" || m.Manufacturer == "" || m.Description == "" {
			t.Errorf("%s: source, manufacturer and description are required of shipped models", name)
		}
		if m.File != "models/"+name+".yaml" {
			t.Errorf("%s: File = %q", name, m.File)
		}
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The simulator's map, as documented in its file and served by adapters/sim.
	sim := ms["setsuden-sim-pm"]
	var got []string
	for _, f := range sim.Fields {
		got = append(got, f.Measurement+"."+f.Name)
	}
	if g := strings.Join(got, " "); g != "power.kw power.voltage_v power.current_a power.pf temperature.inlet_c power.kwh" {
		t.Errorf("setsuden-sim-pm fields = %s", g)
	}
	kwh := sim.Fields[5]
	if kwh.Type != TypeUint32 || kwh.Scale != 0.01 || !kwh.Counter || kwh.Modulus != 42949672.96 || kwh.Address != 10 {
		t.Errorf("setsuden-sim-pm kwh = %+v", kwh)
	}
	if _, err := ms.Get("nope"); err == nil || !strings.Contains(err.Error(), "known: carlo-gavazzi-em21, eastron-sdm72d-m") {
		t.Errorf("Get(nope) = %v", err)
	}
}

// TestInvalidModels runs testdata/invalid/<case>/model.yaml and expects the
// error in error.txt, line for line: a new case is a new folder.
func TestInvalidModels(t *testing.T) {
	dirs, err := filepath.Glob("testdata/invalid/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "model.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "error.txt"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseModel("model.yaml", data)
			if err == nil {
				t.Fatalf("parsed %+v, want error:\n%s", m, want)
			}
			if got := err.Error(); got != strings.TrimRight(string(want), "\n") {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestParseModelDefaultsAndMergeKeys(t *testing.T) {
	m, err := ParseModel("x.yaml", []byte(`
name: x
fields:
  - &f {name: a, measurement: power, table: input, address: 0x10, type: float32}
  - {<<: *f, name: b, address: 18, byte_order: CDAB, scale: 1e-3, offset: -2}
  - {name: s, measurement: info, table: holding, address: 0, type: string, length: 4}
  - {name: c, measurement: status, table: coil, address: 7, type: bool}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, s, c := m.Fields[0], m.Fields[1], m.Fields[2], m.Fields[3]
	if a.Address != 16 || a.Scale != 1 || a.ByteOrder != "" || a.Measurement != "power" {
		t.Errorf("a = %+v", a)
	}
	if b.Address != 18 || b.Scale != 0.001 || b.Offset != -2 || b.ByteOrder != "CDAB" || b.Table != TableInput || b.Type != TypeFloat32 {
		t.Errorf("b (merged) = %+v", b)
	}
	if s.Scale != 0 || s.Length != 4 || s.Size() != 4 {
		t.Errorf("s = %+v", s)
	}
	if c.Size() != 1 || c.Scale != 0 {
		t.Errorf("c = %+v", c)
	}
}

func TestLoadModelsFromDirectories(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("site-pdu.yaml", "name: site-pdu\nmanufacturer: us\nfields:\n  - {name: kw, measurement: power, table: input, address: 0, type: float32}\n")
	write("notes.txt", "ignored")
	ms, err := LoadModels(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ms["site-pdu"] == nil || ms["site-pdu"].File != filepath.Join(dir, "site-pdu.yaml") || ms["setsuden-sim-pm"] == nil {
		t.Fatalf("models = %v", ms.Names())
	}

	// A model that shadows a built-in one, and one whose name is not its file's.
	write("setsuden-sim-pm.yaml", "name: setsuden-sim-pm\nfields:\n  - {name: kw, measurement: power, table: input, address: 0, type: float32}\n")
	write("other.yaml", "name: something-else\nfields:\n  - {name: kw, measurement: power, table: input, address: 0, type: float32}\n")
	_, err = LoadModels(dir)
	if err == nil {
		t.Fatal("loaded a duplicate model")
	}
	for _, want := range []string{
		`setsuden-sim-pm.yaml: model "setsuden-sim-pm" is already defined in models/setsuden-sim-pm.yaml`,
		`other.yaml: model "something-else" must be in a file named something-else.yaml`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := LoadModels(filepath.Join(dir, "missing")); err == nil {
		t.Error("loaded from a missing directory")
	}
}

func TestValidateGoModel(t *testing.T) {
	m := &Model{Name: "go", Fields: []Field{
		{Name: "kw", Measurement: "power", Table: TableInput, Address: 0, Type: TypeFloat32, ByteOrder: "XYZW"},
	}}
	err := m.Validate()
	if err == nil || err.Error() != `model "go" field "kw": invalid byte order "XYZW" (expected ABCD, DCBA, BADC or CDAB)` {
		t.Errorf("Validate = %v", err)
	}
}
