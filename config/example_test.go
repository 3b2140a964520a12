package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const examplePath = "../setsuden.example.yaml"

// commentedOut lists the options that cannot be set in the example
// together with another one; each must appear there as a commented-out
// line instead.
func commentedOut() map[string]string {
	return map[string]string{
		"influx.token_file":                          "token_file",    // alternative to influx.token
		"obix.gateways[].password_file":              "password_file", // alternative to password
		"demand.limits[].cap.calendar.holidays_file": "holidays_file", // needs a file beside the example
		"executor.hosts[].bmc.url":                   "url",           // redfish instead of ipmi's addr
		"executor.hosts[].bmc.system":                "system",        // redfish only
		"executor.hosts[].bmc.insecure":              "insecure",      // redfish only
	}
}

// TestExampleIsValid loads setsuden.example.yaml as `setsuden run` would.
func TestExampleIsValid(t *testing.T) {
	t.Setenv("INFLUX_TOKEN", "example-token")
	t.Setenv("OBIX_PASSWORD", "example-password")
	c, err := Load(examplePath, Options{RequireInflux: true})
	if err != nil {
		t.Fatalf("setsuden.example.yaml:\n%v", err)
	}
	models := map[string]int{}
	rtuWithSerial := false
	for _, d := range c.Modbus.Devices {
		models[d.Model]++
		rtuWithSerial = rtuWithSerial || d.Transport == "rtu" && d.Serial != Serial{}
	}
	if models["setsuden-sim-pm"] < 2 || !rtuWithSerial {
		t.Errorf("the example should show two setsuden-sim-pm meters and an rtu device with its serial block")
	}
	if len(c.Libvirt.Hosts) == 0 || c.Libvirt.Hosts[0].URI != "test:///default" {
		t.Errorf("the example should show a libvirt host at test:///default")
	}
}

// TestExampleSetsEveryOption walks the example's YAML keys against the
// struct tags of Config: every option must be set to a non-zero value
// somewhere (in some device, for device options) and have a comment, so
// a new option without an example fails here.
func TestExampleSetsEveryOption(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	walkExample(t, doc.Content[0], reflect.TypeFor[Config](), "", set)

	var options []string
	optionPaths(reflect.TypeFor[Config](), "", &options)
	for _, opt := range options {
		if key, ok := commentedOut()[opt]; ok {
			if !regexp.MustCompile(`(?m)^\s*#\s*` + key + `:\s*\S`).Match(data) {
				t.Errorf("%s: neither set nor shown commented out (# %s: ...)", opt, key)
			}
			continue
		}
		if !set[opt] {
			t.Errorf("%s: not set to a non-zero value anywhere in setsuden.example.yaml", opt)
		}
	}
}

// optionPaths lists every option of t: "modbus.devices[].serial.parity".
func optionPaths(t reflect.Type, path string, out *[]string) {
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		for i := 0; i < t.NumField(); i++ {
			optionPaths(t.Field(i).Type, joinPath(path, yamlKey(t.Field(i))), out)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		optionPaths(t.Elem(), path+"[]", out)
	default:
		*out = append(*out, path)
	}
}

// walkExample records in set the options n gives a non-zero value, and
// reports keys without a comment.
func walkExample(t *testing.T, n *yaml.Node, typ reflect.Type, path string, set map[string]bool) {
	t.Helper()
	n = resolveAlias(n)
	switch {
	case typ.Kind() == reflect.Struct && typ != durationType:
		if n.Kind != yaml.MappingNode {
			t.Errorf("%s: not a mapping", path)
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			f, ok := fieldByKey(typ, key.Value)
			if !ok {
				t.Errorf("line %d: %s: unknown key", key.Line, joinPath(path, key.Value))
				continue
			}
			p := joinPath(path, key.Value)
			if key.HeadComment == "" && key.LineComment == "" && val.LineComment == "" {
				t.Errorf("line %d: %s: no comment says what it is", key.Line, p)
			}
			walkExample(t, val, f.Type, p, set)
		}
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
		for _, item := range n.Content {
			walkExample(t, item, typ.Elem(), path+"[]", set)
		}
	case nonZero(n, typ):
		set[path] = true
	}
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if yamlKey(t.Field(i)) == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func nonZero(n *yaml.Node, t reflect.Type) bool {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) > 0
	case yaml.ScalarNode:
		if isNull(n) || slices.Contains([]string{"", "0", `""`}, strings.TrimSpace(n.Value)) {
			return false
		}
		if t == durationType {
			d, err := time.ParseDuration(n.Value)
			return err == nil && d != 0
		}
		return true
	}
	return false
}
