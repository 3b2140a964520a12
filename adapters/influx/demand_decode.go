package influx

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// decodeWindowsFast is decodeWindows for the response as InfluxDB 1.8
// writes it (results, series with tags and columns before values),
// reading the bytes directly instead of through encoding/json's any
// values: the demand tick decodes every meter's re-read windows every
// 10 s. Numbers are parsed as json.Number's Int64 and Float64 parse them,
// so the values are the same. It returns errNotFast for anything it does
// not read (an error, an escape in a key, values before columns), and
// the caller then decodes with decodeWindows, which gives the errors.
func decodeWindowsFast(b []byte) ([]*meterWindows, error) {
	p := &jsonScan{b: b}
	by := map[seriesKey]*meterWindows{}
	var out []*meterWindows
	err := p.object(func(key []byte) error {
		if string(key) != "results" {
			if string(key) == "error" {
				return errNotFast
			}
			return p.skip()
		}
		return p.array(func() error {
			return p.object(func(key []byte) error {
				if string(key) != "series" {
					if string(key) == "error" {
						return errNotFast
					}
					return p.skip()
				}
				return p.array(func() error { return p.series(by, &out) })
			})
		})
	})
	if err != nil {
		return nil, err
	}
	if p.ws(); p.i != len(p.b) {
		return nil, errNotFast
	}
	sortWindows(out)
	return out, nil
}

var errNotFast = errors.New("influxql response: not in the fast decoder's form")

type jsonScan struct {
	b []byte
	i int
}

func (p *jsonScan) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonScan) peek() byte {
	p.ws()
	if p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

// object calls f for each key, with the value next to read.
func (p *jsonScan) object(f func(key []byte) error) error {
	if p.peek() != '{' {
		return errNotFast
	}
	p.i++
	if p.peek() == '}' {
		p.i++
		return nil
	}
	for {
		key, ok := p.rawString()
		if !ok {
			return errNotFast
		}
		if p.peek() != ':' {
			return errNotFast
		}
		p.i++
		if err := f(key); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return errNotFast
		}
	}
}

func (p *jsonScan) array(f func() error) error {
	if p.peek() != '[' {
		return errNotFast
	}
	p.i++
	if p.peek() == ']' {
		p.i++
		return nil
	}
	for {
		if err := f(); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return errNotFast
		}
	}
}

// rawString reads a string without escapes (ok false otherwise).
func (p *jsonScan) rawString() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	j := p.i + 1
	for j < len(p.b) && p.b[j] != '"' {
		if p.b[j] == '\\' || p.b[j] < 0x20 {
			return nil, false
		}
		j++
	}
	if j >= len(p.b) {
		return nil, false
	}
	s := p.b[p.i+1 : j]
	p.i = j + 1
	return s, true
}

// str reads a string, escapes included.
func (p *jsonScan) str() (string, error) {
	start := p.i
	if s, ok := p.rawString(); ok {
		return string(s), nil
	}
	p.i = start
	if p.peek() != '"' {
		return "", errNotFast
	}
	j := p.i + 1
	for ; j < len(p.b) && p.b[j] != '"'; j++ {
		if p.b[j] == '\\' {
			j++
		}
	}
	if j >= len(p.b) {
		return "", errNotFast
	}
	var s string
	if err := json.Unmarshal(p.b[p.i:j+1], &s); err != nil {
		return "", errNotFast
	}
	p.i = j + 1
	return s, nil
}

// literal reads a number, true, false or null.
func (p *jsonScan) literal() []byte {
	p.ws()
	j := p.i
	for j < len(p.b) {
		c := p.b[j]
		if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			break
		}
		j++
	}
	s := p.b[p.i:j]
	p.i = j
	return s
}

func (p *jsonScan) skip() error {
	switch p.peek() {
	case '{':
		return p.object(func([]byte) error { return p.skip() })
	case '[':
		return p.array(p.skip)
	case '"':
		_, err := p.str()
		return err
	default:
		if len(p.literal()) == 0 {
			return errNotFast
		}
		return nil
	}
}

var jsonNull, jsonTrue, jsonFalse = []byte("null"), []byte("true"), []byte("false")

// series reads one series into by and out, as decodeWindows does.
func (p *jsonScan) series(by map[seriesKey]*meterWindows, out *[]*meterWindows) error {
	var meter, category string
	var columns []string
	sawValues := false
	return p.object(func(key []byte) error {
		switch string(key) {
		case "tags":
			if sawValues {
				return errNotFast
			}
			return p.object(func(k []byte) error {
				v, err := p.str()
				if err != nil {
					return err
				}
				switch string(k) {
				case "meter":
					meter = v
				case "category":
					category = v
				}
				return nil
			})
		case "columns":
			if sawValues {
				return errNotFast
			}
			return p.array(func() error {
				c, err := p.str()
				columns = append(columns, c)
				return err
			})
		case "values":
			sawValues = true
			if len(columns) == 0 {
				return errNotFast
			}
			series := make([]*meterWindows, len(columns))
			return p.array(func() error {
				n := 0
				var w int64
				err := p.array(func() error {
					if n >= len(columns) {
						return errNotFast
					}
					i := n
					n++
					if i == 0 {
						t, err := strconv.ParseInt(string(p.literal()), 10, 64)
						if err != nil {
							return errNotFast
						}
						w = t
						return nil
					}
					var v any
					switch p.peek() {
					case '"', '{', '[':
						return p.skip() // not a reading
					}
					lit := p.literal()
					switch {
					case bytes.Equal(lit, jsonNull):
						return nil
					case bytes.Equal(lit, jsonTrue):
						v = true
					case bytes.Equal(lit, jsonFalse):
						v = false
					default:
						f, err := strconv.ParseFloat(string(lit), 64)
						if err != nil || !isJSONNumber(lit) {
							return errNotFast
						}
						v = f
					}
					m := series[i]
					if m == nil {
						k := seriesKey{meter, category, columns[i]}
						if m = by[k]; m == nil {
							m = &meterWindows{meter: meter, category: category, field: columns[i], values: map[int64]any{}}
							by[k] = m
							*out = append(*out, m)
						}
						series[i] = m
					}
					if len(m.values) == 0 || w < m.first {
						m.first = w
					}
					if len(m.values) == 0 || w > m.last {
						m.last = w
					}
					m.values[w] = v
					return nil
				})
				if err == nil && n != len(columns) {
					return errNotFast // a short row: decodeWindows names it
				}
				return err
			})
		default:
			return p.skip()
		}
	})
}

// isJSONNumber: ParseFloat also takes "Inf", "0x1p3" and "1_0", JSON does not.
func isJSONNumber(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return false
		}
	}
	return true
}
