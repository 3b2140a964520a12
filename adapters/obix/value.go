package obix

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Value is the typed reading of one value object.
type Value struct {
	Href string // absolute URL of the object
	Kind string // real, int, bool, str, enum, abstime, reltime, date, time, uri
	Unit string // unit URI as served, e.g. "obix:units/kilowatt" ("" if none)
	// Value is float64 (real), int64 (int), bool (bool), string (str, enum,
	// uri, date, time), time.Time (abstime), time.Duration (reltime), or nil
	// when the server marks the object null.
	Value any
	// Time is when the value was read (oBIX values carry no timestamp).
	Time time.Time
	// Status is the object's status (see StatusOf): "ok", "null", "fault",
	// "down", "overridden", ... or several separated by commas.
	Status string
}

// ValueOf reads o's value, taken at time at. An <err> comes back as its
// *Error; an object that is not a value (obj, list, ref, op, feed) is an
// error naming it.
func ValueOf(o *Obj, at time.Time) (Value, error) {
	if o == nil {
		return Value{}, fmt.Errorf("no object")
	}
	if err := o.Err(); err != nil {
		return Value{}, err
	}
	v := Value{Href: o.AbsHref(), Kind: o.Kind, Unit: o.Unit, Time: at, Status: StatusOf(o)}
	if !o.IsValue() {
		return v, fmt.Errorf("%s: <%s> is not a value object", describe(o), o.Kind)
	}
	if o.Null {
		// Niagara sends null values with a placeholder val ("0.0",
		// display "- {null}"); null wins (notes §4.5 item 9).
		return v, nil
	}
	x, err := parseVal(o.Kind, o.Val, o.TZ)
	if err != nil {
		return v, fmt.Errorf("%s: %w", describe(o), err)
	}
	v.Value = x
	return v, nil
}

// describe names o for an error: its href, else its name, else its kind.
func describe(o *Obj) string {
	switch {
	case o.AbsHref() != "":
		return o.AbsHref()
	case o.Name != "":
		return fmt.Sprintf("<%s name=%q>", o.Kind, o.Name)
	}
	return "<" + o.Kind + ">"
}

// parseVal converts a val attribute of the given kind.
func parseVal(kind, val, tz string) (any, error) {
	s := strings.TrimSpace(val)
	switch kind {
	case KindReal:
		// xs:double: the spec spells the specials NaN, INF and -INF, which
		// ParseFloat accepts too.
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("real val %q is not a number", clip(val, 40))
		}
		return f, nil
	case KindInt:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("int val %q is not a 64-bit integer", clip(val, 40))
		}
		return i, nil
	case KindBool:
		switch s {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, fmt.Errorf("bool val %q is not true or false", clip(val, 40))
	case KindAbstime:
		return ParseAbstime(s, tz)
	case KindReltime:
		return ParseReltime(s)
	case KindStr, KindEnum, KindURI, KindDate, KindTime:
		return val, nil
	}
	return nil, fmt.Errorf("<%s> has no value", kind)
}

// ParseAbstime parses an abstime val: ISO 8601 with an offset, as the spec
// wants ("2023-08-15T20:31:09.560-04:00"), or without one, as the NextDC
// server writes ("2014-04-25T15:34:23"); the latter is read in the tz zone
// when the zone is known here, in UTC otherwise (notes §4.3, §4.5 item 8).
func ParseAbstime(val, tz string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, val); err == nil {
		return t, nil
	}
	loc := time.UTC
	if tz != "" && len(tz) < 64 && !strings.Contains(tz, "..") {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", val, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("abstime val %q is not an ISO 8601 date and time", clip(val, 40))
}

// FormatAbstime formats t as an abstime val with millisecond precision and
// offset, the form of the spec's and Niagara's examples.
func FormatAbstime(t time.Time) string {
	return t.Format("2006-01-02T15:04:05.000Z07:00")
}

// ParseReltime parses a reltime val, an xs:duration such as "PT30S",
// "PT4M0S" or "P1DT2H" (notes §4.1). Years and months have no fixed length
// and are refused.
func ParseReltime(val string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("reltime val %q is not a duration such as PT4M0S", clip(val, 40))
	}
	s := val
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if !strings.HasPrefix(s, "P") {
		return bad()
	}
	s = s[1:]
	var total float64 // seconds
	inTime, seen := false, false
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return bad()
			}
			inTime = true
			s = s[1:]
			if s == "" {
				return bad()
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return bad()
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return bad()
		}
		unit := s[i]
		s = s[i+1:]
		seen = true
		switch {
		case !inTime && unit == 'D':
			total += n * 86400
		case !inTime && unit == 'W':
			total += n * 7 * 86400
		case !inTime && (unit == 'Y' || unit == 'M'):
			if n != 0 {
				return 0, fmt.Errorf("reltime val %q uses years or months, which have no fixed length", clip(val, 40))
			}
		case inTime && unit == 'H':
			total += n * 3600
		case inTime && unit == 'M':
			total += n * 60
		case inTime && unit == 'S':
			total += n
		default:
			return bad()
		}
	}
	if !seen {
		return bad()
	}
	if total > math.MaxInt64/float64(time.Second) {
		return 0, fmt.Errorf("reltime val %q is too long", clip(val, 40))
	}
	d := time.Duration(math.Round(total * float64(time.Second)))
	if neg {
		d = -d
	}
	return d, nil
}

// FormatReltime formats d as a reltime val in seconds ("PT240S",
// "PT0.5S"), which every xs:duration reader accepts.
func FormatReltime(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}
