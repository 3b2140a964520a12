package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite each case's expected.txt or problems.txt from what Load returns")

// testToken is what ${SETSUDEN_TEST_TOKEN} expands to in the cases; no
// problem line may show it.
const testToken = "tok-3f9a-never-printed"

func knownModel(name string) bool {
	return slices.Contains([]string{"setsuden-sim-pm", "eastron-sdm72d-m", "carlo-gavazzi-em21"}, name)
}

// TestCases loads testdata/<case>/config.yaml. A valid case has
// expected.txt, the loaded configuration one field a line; an invalid one
// has problems.txt, the exact problem lines with FILE shown as config.yaml.
// A new case is a new folder; go test -update writes the file it lacks.
func TestCases(t *testing.T) {
	t.Setenv("SETSUDEN_TEST_TOKEN", testToken)
	files, err := filepath.Glob("testdata/*/config.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range files {
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := Load(file, Options{RequireInflux: true, KnownModel: knownModel})
			var got, golden string
			var probs Problems
			switch {
			case errors.As(err, &probs):
				for _, p := range probs {
					if p.File != file {
						t.Errorf("problem names file %q, want %q", p.File, file)
					}
					if p.Line <= 0 {
						t.Errorf("problem without a line: %s", p)
					}
					p.File = "config.yaml"
					got += p.String() + "\n"
				}
				golden = "problems.txt"
			case err != nil:
				t.Fatalf("Load: %v", err)
			default:
				got = strings.ReplaceAll(render(cfg), dir+string(filepath.Separator), "")
				golden = "expected.txt"
				if again := cfg.Validate(Options{RequireInflux: true, KnownModel: knownModel}); again != nil {
					t.Errorf("a loaded configuration does not validate again:\n%v", again)
				}
			}
			if strings.Contains(got, testToken) && golden == "problems.txt" {
				t.Errorf("a problem shows the token:\n%s", got)
			}
			checkGolden(t, dir, golden, got)
		})
	}
}

func checkGolden(t *testing.T, dir, golden, got string) {
	t.Helper()
	other := map[string]string{"problems.txt": "expected.txt", "expected.txt": "problems.txt"}[golden]
	if *update {
		_ = os.Remove(filepath.Join(dir, other))
		if err := os.WriteFile(filepath.Join(dir, golden), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := os.Stat(filepath.Join(dir, other)); err == nil {
		t.Fatalf("case has %s, but Load gave:\n%s", other, got)
	}
	want, err := os.ReadFile(filepath.Join(dir, golden))
	if err != nil {
		t.Fatalf("%v; Load gave:\n%s", err, got)
	}
	if got != string(want) {
		t.Errorf("%s differs\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// render prints every field of a configuration as "path: value", one a
// line, in field order.
func render(c *Config) string {
	var lines []string
	renderValue(reflect.ValueOf(*c), "", &lines)
	return strings.Join(lines, "\n") + "\n"
}

func renderValue(v reflect.Value, path string, lines *[]string) {
	switch {
	case v.Type() == durationType:
		*lines = append(*lines, fmt.Sprintf("%s: %s", path, time.Duration(v.Int())))
	case v.Kind() == reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			renderValue(v.Field(i), joinPath(path, yamlKey(v.Type().Field(i))), lines)
		}
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			*lines = append(*lines, path+": []")
		}
		for i := 0; i < v.Len(); i++ {
			renderValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i), lines)
		}
	case v.Kind() == reflect.Map:
		if v.Len() == 0 {
			*lines = append(*lines, path+": {}")
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			renderValue(v.MapIndex(k), path+"."+k.String(), lines)
		}
	case v.Kind() == reflect.String:
		*lines = append(*lines, fmt.Sprintf("%s: %q", path, v.String()))
	default:
		*lines = append(*lines, fmt.Sprintf("%s: %v", path, v.Interface()))
	}
}

func TestDefaultValidates(t *testing.T) {
	c := Default()
	c.Site.Name = "demo"
	if probs := c.Validate(Options{}); probs != nil {
		t.Fatalf("Default() with a site name:\n%v", probs)
	}
	if probs := c.Validate(Options{RequireInflux: true}); len(probs) != 2 {
		t.Fatalf("RequireInflux without url and bucket: got\n%v\nwant influx.url and influx.bucket", probs)
	}
}

// TestValidateInCode checks a configuration built as the demo builds one:
// problems have a path but no file or line.
func TestValidateInCode(t *testing.T) {
	c := Default()
	c.Site.Name = "demo"
	d := DefaultModbusDevice()
	d.Name, d.Model, d.Address = "pdu-a1", "setsuden-sim-pm", "127.0.0.1:1502"
	c.Modbus.Devices = append(c.Modbus.Devices, d)
	h := DefaultLibvirtHost()
	h.Name, h.URI = "host-01", "test:///default"
	c.Libvirt.Hosts = append(c.Libvirt.Hosts, h)
	if probs := c.Validate(Options{KnownModel: knownModel}); probs != nil {
		t.Fatalf("valid configuration:\n%v", probs)
	}

	c.Modbus.Devices[0].UnitID = 300
	c.Modbus.Devices[0].Serial.BaudRate = 9600
	c.Libvirt.Hosts[0].Name = "pdu-a1"
	want := strings.Join([]string{
		"modbus.devices[0].unit_id: 300 is out of range (expected 0..247)",
		"modbus.devices[0].serial: allowed only with transport rtu (expected no serial block with transport tcp)",
		`libvirt.hosts[0].name: "pdu-a1" is already the name of modbus.devices[0].name (expected names unique among modbus devices, libvirt hosts and obix gateways)`,
	}, "\n")
	if got := c.Validate(Options{}).Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{"setsuden.yaml", 14, "modbus.devices[1].unit_id", "300 is out of range (expected 0..247)"},
			"setsuden.yaml:14: modbus.devices[1].unit_id: 300 is out of range (expected 0..247)"},
		{Problem{"setsuden.yaml", 1, "", "the file is empty (expected at least site: name: ...)"},
			"setsuden.yaml:1: the file is empty (expected at least site: name: ...)"},
		{Problem{"", 0, "site.name", "missing (required)"}, "site.name: missing (required)"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.yaml", Options{})
	var probs Problems
	if err == nil || errors.As(err, &probs) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a wrapped not-exist error", err)
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	t.Setenv("SETSUDEN_TEST_TOKEN", testToken)
	c, err := Load("testdata/valid-full/config.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Influx.Token != testToken {
		t.Fatalf("token not expanded: got %d characters", len(c.Influx.Token))
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v\n%+v\n%#v\n%s\n%v\n", *c, c, *c, c.Influx, c.Influx)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "influx", c.Influx)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "influx", c.Influx, "all", *c)
	if strings.Contains(buf.String(), testToken) {
		t.Errorf("token printed:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "<redacted>") {
		t.Errorf("no redaction marker:\n%s", buf.String())
	}
}

func TestExpandEnv(t *testing.T) {
	t.Setenv("SETSUDEN_A", "alpha")
	t.Setenv("SETSUDEN_EMPTY", "")
	for _, tc := range []struct {
		in, want string
		unset    []string
	}{
		{"${SETSUDEN_A}", "alpha", nil},
		{"user:${SETSUDEN_A}", "user:alpha", nil},
		{"${SETSUDEN_EMPTY}", "", nil},
		{"pa$$word", "pa$$word", nil},
		{"$SETSUDEN_A", "$SETSUDEN_A", nil},
		{"${not a name}", "${not a name}", nil},
		{"${SETSUDEN_A", "${SETSUDEN_A", nil},
		{"${SETSUDEN_NOPE}x${SETSUDEN_A}", "xalpha", []string{"SETSUDEN_NOPE"}},
	} {
		got, unset := expandEnv(tc.in)
		if got != tc.want || !slices.Equal(unset, tc.unset) {
			t.Errorf("expandEnv(%q) = %q, %v; want %q, %v", tc.in, got, unset, tc.want, tc.unset)
		}
	}
}
