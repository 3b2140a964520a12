package obix

import (
	"strings"
)

// unitSuffixes maps oBIX unit names (the last segment of a unit URI such as
// "obix:units/kilowatt", notes §4.1) to the suffix setsuden puts at the end
// of a field name (docs/schema.md: "units are part of the field name").
// Names follow the oBIX unit database; of these, kilowatt and fahrenheit
// appear in the cited examples (notes §4.2), the rest are not verified
// against a gateway. "null" is Niagara's "no unit" and has no suffix.
var unitSuffixes = map[string]string{
	"kilowatt":                  "kw",
	"watt":                      "w",
	"megawatt":                  "mw",
	"kilowatt_hour":             "kwh",
	"watt_hour":                 "wh",
	"megawatt_hour":             "mwh",
	"volt":                      "v",
	"kilovolt":                  "kv",
	"millivolt":                 "mv",
	"ampere":                    "a",
	"milliampere":               "ma",
	"celsius":                   "c",
	"fahrenheit":                "f",
	"kelvin":                    "k",
	"hertz":                     "hz",
	"percent":                   "pct",
	"percent_relative_humidity": "rh",
	"volt_ampere":               "va",
	"kilovolt_ampere":           "kva",
	"kilovolt_ampere_reactive":  "kvar",
}

// unitConversions convert a reading into the unit a field is named after:
// a gateway that reports watts can feed a "kw" field. value*scale + offset.
var unitConversions = map[[2]string]struct{ scale, offset float64 }{
	{"w", "kw"}:    {0.001, 0},
	{"mw", "kw"}:   {1000, 0},
	{"wh", "kwh"}:  {0.001, 0},
	{"mwh", "kwh"}: {1000, 0},
	{"kv", "v"}:    {1000, 0},
	{"mv", "v"}:    {0.001, 0},
	{"ma", "a"}:    {0.001, 0},
	{"f", "c"}:     {5.0 / 9, -32 * 5.0 / 9},
	{"k", "c"}:     {1, -273.15},
	{"pct", "rh"}:  {1, 0}, // a humidity sensor that says "percent"
}

// UnitSuffix returns the field-name suffix for a unit URI
// ("obix:units/kilowatt" -> "kw"). ok is false for "", obix:units/null and
// units missing from the table.
func UnitSuffix(unit string) (suffix string, ok bool) {
	name := unit
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	suffix, ok = unitSuffixes[strings.ToLower(name)]
	return suffix, ok
}

// fieldSuffix is the unit suffix of a field name ("inlet_c" -> "c",
// "kw" -> "kw"); ok is false when the name does not end in a known suffix
// ("pf", "state").
func fieldSuffix(field string) (string, bool) {
	s := field
	if i := strings.LastIndexByte(s, '_'); i >= 0 {
		s = s[i+1:]
	}
	for _, known := range unitSuffixes {
		if known == s {
			return s, true
		}
	}
	return "", false
}

// convertUnit converts v from the unit with suffix from to suffix to.
func convertUnit(v float64, from, to string) (float64, bool) {
	if from == to {
		return v, true
	}
	c, ok := unitConversions[[2]string{from, to}]
	if !ok {
		return 0, false
	}
	return v*c.scale + c.offset, true
}
