package obix

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// DiscoverRules say which points discovery takes and where each goes.
type DiscoverRules struct {
	// Root is the object whose points are taken: an href relative to
	// BaseURL or absolute ("/obix/config/Hall1/"); "" for the Lobby.
	Root string
	// Depth is how many ref hops below Root are followed (see Discover).
	Depth int
	// Include and Exclude are patterns on the point's href path, where *
	// matches any run of characters (slashes too) and ? one character,
	// compared without regard to case. A point is taken when it matches
	// an Include pattern (or Include is empty) and no Exclude pattern.
	Include, Exclude []string
	// Tags are added to every discovered point (room, category...); a
	// rule's own tags win.
	Tags map[string]string
	// Rules map units to measurements and fields; the first rule that
	// matches a point wins, then DefaultUnitRules.
	Rules []UnitRule
}

// UnitRule maps points of a unit (and, optionally, a name pattern) to a
// measurement and field.
type UnitRule struct {
	// Unit is the unit's name, the last segment of its URI ("celsius"
	// for obix:units/celsius), or "*" for any unit.
	Unit string
	// Name is a pattern (as DiscoverRules.Include) on the point's href
	// path and display name; "" matches every point.
	Name        string
	Measurement string
	Field       string
	Tags        map[string]string
}

// DefaultUnitRules map the usual facility points to the field names of
// docs/schema.md: supply/return air and chilled-water temperatures,
// humidity, cooling and lighting power, energy.
func DefaultUnitRules() []UnitRule {
	temp := []string{"celsius", "fahrenheit", "kelvin"}
	var rules []UnitRule
	for _, u := range temp {
		rules = append(rules,
			UnitRule{Unit: u, Name: "*supply*air*", Measurement: "temperature", Field: "supply_air_c"},
			UnitRule{Unit: u, Name: "*discharge*air*", Measurement: "temperature", Field: "supply_air_c"},
			UnitRule{Unit: u, Name: "*return*air*", Measurement: "temperature", Field: "return_air_c"},
			UnitRule{Unit: u, Name: "*ch*w*supply*", Measurement: "temperature", Field: "chw_supply_c"},
			UnitRule{Unit: u, Name: "*ch*w*return*", Measurement: "temperature", Field: "chw_return_c"},
			UnitRule{Unit: u, Name: "*inlet*", Measurement: "temperature", Field: "inlet_c"},
		)
	}
	for _, u := range []string{"percent_relative_humidity", "percent"} {
		rules = append(rules, UnitRule{Unit: u, Name: "*humid*", Measurement: "temperature", Field: "humidity_rh"})
	}
	for _, u := range []string{"kilowatt", "watt", "megawatt"} {
		for _, n := range []string{"*chiller*", "*cool*", "*crac*", "*crah*", "*pump*", "*tower*", "*ahu*"} {
			rules = append(rules, UnitRule{Unit: u, Name: n, Measurement: "power", Field: "kw", Tags: map[string]string{"category": "cooling"}})
		}
		rules = append(rules, UnitRule{Unit: u, Name: "*light*", Measurement: "power", Field: "kw", Tags: map[string]string{"category": "lighting"}})
		rules = append(rules, UnitRule{Unit: u, Measurement: "power", Field: "kw"})
	}
	for _, u := range []string{"kilowatt_hour", "watt_hour", "megawatt_hour"} {
		rules = append(rules, UnitRule{Unit: u, Measurement: "power", Field: "kwh"})
	}
	return rules
}

// DiscoveredPoint is one point discovery found: where it goes, or why not.
type DiscoveredPoint struct {
	PointInfo
	// Mapping is where the point goes; empty Measurement when Skipped.
	Mapping PointMapping
	// Skipped says why the point is not taken ("" when it is): excluded,
	// no rule for its unit, its field already taken.
	Skipped string
}

// DiscoverPoints discovers the value points under rules.Root and maps
// each: the measurement and field of the first matching rule, the tags of
// the rules plus meter, the name of the point's parent object (lowercase;
// "/obix/config/AHU1/SupplyAirTemp/" is meter ahu1). Points whose
// measurement, tags and field another point already has are skipped, so
// that no two points feed one field.
func (c *Client) DiscoverPoints(ctx context.Context, rules DiscoverRules) ([]DiscoveredPoint, error) {
	infos, err := c.Discover(ctx, rules.Root, rules.Depth)
	if err != nil {
		return nil, err
	}
	all := append(append([]UnitRule{}, rules.Rules...), DefaultUnitRules()...)
	taken := map[string]string{}
	out := make([]DiscoveredPoint, 0, len(infos))
	for _, info := range infos {
		d := DiscoveredPoint{PointInfo: info}
		p := hrefPath(info.Href)
		switch {
		case len(rules.Include) > 0 && !matchAny(rules.Include, p):
			d.Skipped = "not included"
		case matchAny(rules.Exclude, p):
			d.Skipped = "excluded"
		default:
			r, ok := matchRule(all, info, p)
			if !ok {
				d.Skipped = fmt.Sprintf("no rule for unit %q", unitName(info.Unit))
				break
			}
			tags := map[string]string{}
			for k, v := range rules.Tags {
				tags[k] = v
			}
			for k, v := range r.Tags {
				tags[k] = v
			}
			if _, set := tags["meter"]; !set {
				tags["meter"] = meterName(p)
			}
			d.Mapping = PointMapping{Href: info.Href, Measurement: r.Measurement, Field: r.Field, Tags: tags}
			key := seriesKey(r.Measurement, tags) + " " + r.Field
			if prev, dup := taken[key]; dup {
				d.Mapping = PointMapping{}
				d.Skipped = fmt.Sprintf("field %s of %s is already fed by %s", r.Field, seriesKey(r.Measurement, tags), prev)
				break
			}
			taken[key] = info.Href
		}
		out = append(out, d)
	}
	return out, nil
}

// matchRule finds the first rule for the point.
func matchRule(rules []UnitRule, info PointInfo, p string) (UnitRule, bool) {
	unit := unitName(info.Unit)
	for _, r := range rules {
		if r.Unit != "*" && !strings.EqualFold(r.Unit, unit) {
			continue
		}
		if r.Name != "" && !Match(r.Name, p) && !Match(r.Name, info.DisplayName) {
			continue
		}
		return r, true
	}
	return UnitRule{}, false
}

// unitName is the last segment of a unit URI ("" for none or obix:units/null).
func unitName(unit string) string {
	name := unit
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if name == "null" {
		return ""
	}
	return name
}

// hrefPath is the path of an absolute href.
func hrefPath(href string) string {
	if u, err := url.Parse(href); err == nil {
		return u.Path
	}
	return href
}

// meterName is the point's parent object's name as a tag value.
func meterName(p string) string {
	dir := path.Dir(strings.TrimSuffix(p, "/"))
	name := strings.ToLower(path.Base(dir))
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 || name == "/" || name == "." {
		return "gateway"
	}
	return b.String()
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if Match(p, s) {
			return true
		}
	}
	return false
}

// Match reports whether s matches pattern, where * matches any run of
// characters (slashes too) and ? one character, without regard to case.
func Match(pattern, s string) bool {
	p, t := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	// Iterative wildcard match with backtracking to the last star.
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
