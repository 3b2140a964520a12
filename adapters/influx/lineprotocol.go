package influx

import (
	"math"
	"slices"
	"strconv"

	"github.com/setsuden/setsuden/collector/point"
)

// AppendLineProtocol appends one point in InfluxDB line protocol, without
// the trailing newline. It is the write path's hot loop, so it appends to
// a caller's buffer instead of building a client Point (which sorted,
// copied and formatted through fmt: a third of the collector's CPU).
//
// Escaping follows the line protocol reference: in measurements comma and
// space; in tag keys, tag values and field keys comma, equals and space;
// in string fields double quote and backslash. A newline can never be
// written (each line is one point, also in the on-disk queue): in keys and
// tag values it becomes a space, in string fields the two characters \n.
// Tags and fields are sorted by key, as InfluxDB prefers. Unsigned
// integers are written as integers when they fit (InfluxDB 1.8 rejects the
// u suffix unless started with a flag), else as floats. NaN and ±Inf
// cannot be stored and are left out (point.Validate reports them first).
func AppendLineProtocol(b []byte, p point.Point) []byte {
	b = appendEscaped(b, p.Measurement, false)
	// Sorted keys live on the stack for ordinary points.
	var room [16]string
	keys := room[:0]
	for k := range p.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if p.Tags[k] == "" {
			continue // an empty tag value is no tag in InfluxDB
		}
		b = append(b, ',')
		b = appendEscaped(b, k, true)
		b = append(b, '=')
		b = appendEscaped(b, p.Tags[k], true)
	}
	keys = keys[:0]
	for k := range p.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sep := byte(' ')
	for _, k := range keys {
		v := p.Fields[k]
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			continue
		}
		b = append(b, sep)
		sep = ','
		b = appendEscaped(b, k, true)
		b = append(b, '=')
		switch x := v.(type) {
		case float64:
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		case int64:
			b = strconv.AppendInt(b, x, 10)
			b = append(b, 'i')
		case uint64:
			if x <= math.MaxInt64 {
				b = strconv.AppendUint(b, x, 10)
				b = append(b, 'i')
			} else {
				b = strconv.AppendFloat(b, float64(x), 'g', -1, 64)
			}
		case bool:
			b = strconv.AppendBool(b, x)
		case string:
			b = append(b, '"')
			for i := 0; i < len(x); i++ {
				switch c := x[i]; c {
				case '"', '\\':
					b = append(b, '\\', c)
				case '\n':
					b = append(b, '\\', 'n')
				case '\r':
				default:
					b = append(b, c)
				}
			}
			b = append(b, '"')
		}
	}
	b = append(b, ' ')
	return strconv.AppendInt(b, p.Time.UnixNano(), 10)
}

func appendEscaped(b []byte, s string, escapeEquals bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',', ' ':
			b = append(b, '\\', c)
		case '=':
			if escapeEquals {
				b = append(b, '\\')
			}
			b = append(b, c)
		case '\n', '\r', '\t':
			b = append(b, '\\', ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

// LineProtocol encodes one point (see AppendLineProtocol).
func LineProtocol(p point.Point) string { return string(AppendLineProtocol(nil, p)) }
