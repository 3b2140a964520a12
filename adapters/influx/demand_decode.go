package influx

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
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
	sink := &meterSink{by: map[seriesKey]*meterWindows{}}
	if err := decodeWindowsInto(b, sink); err != nil {
		return nil, err
	}
	sortWindows(sink.out)
	return sink.out, nil
}

type seriesKey struct{ meter, category, field string }

// Kinds of value passed to a windowSink.
const (
	valNum uint8 = iota + 1
	valTrue
	valFalse
)

// windowSink receives what decodeWindowsInto reads: each series' tags and
// columns (column 0 is the time; the slices are valid until the next
// call), then its non-null values by column. A number comes as valNum
// with num, a boolean as valTrue or valFalse with num 0.
type windowSink interface {
	beginSeries(meter, category []byte, columns [][]byte)
	value(col int, w int64, num float64, kind uint8)
}

// decodeWindowsInto reads the response into sink (the reading of
// decodeWindowsFast, without building any map). On errNotFast, sink may
// have received part of the response.
func decodeWindowsInto(b []byte, sink windowSink) error {
	p := &jsonScan{b: b, sink: sink}
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
				return p.array(p.series)
			})
		})
	})
	if err != nil {
		return err
	}
	if p.ws(); p.i != len(p.b) {
		return errNotFast
	}
	return nil
}

// meterSink builds meterWindows, as decodeWindows does.
type meterSink struct {
	by              map[seriesKey]*meterWindows
	out             []*meterWindows
	meter, category string
	columns         []string
	cur             []*meterWindows
}

func (s *meterSink) beginSeries(meter, category []byte, columns [][]byte) {
	s.meter, s.category = string(meter), string(category)
	s.columns = s.columns[:0]
	for _, c := range columns {
		s.columns = append(s.columns, string(c))
	}
	s.cur = make([]*meterWindows, len(columns))
}

func (s *meterSink) value(col int, w int64, num float64, kind uint8) {
	m := s.cur[col]
	if m == nil {
		k := seriesKey{s.meter, s.category, s.columns[col]}
		if m = s.by[k]; m == nil {
			m = &meterWindows{meter: s.meter, category: s.category, field: s.columns[col], values: map[int64]any{}}
			s.by[k] = m
			s.out = append(s.out, m)
		}
		s.cur[col] = m
	}
	if len(m.values) == 0 || w < m.first {
		m.first = w
	}
	if len(m.values) == 0 || w > m.last {
		m.last = w
	}
	var v any = num
	if kind != valNum {
		v = kind == valTrue
	}
	m.values[w] = v
}

var errNotFast = errors.New("influxql response: not in the fast decoder's form")

type jsonScan struct {
	b       []byte
	i       int
	sink    windowSink
	columns [][]byte
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

// bytesOf reads a string as bytes (a copy only when it has escapes).
func (p *jsonScan) bytesOf() ([]byte, error) {
	start := p.i
	if b, ok := p.rawString(); ok {
		return b, nil
	}
	p.i = start
	v, err := p.str()
	return []byte(v), err
}

// series reads one series into p.sink.
func (p *jsonScan) series() error {
	var meter, category []byte
	p.columns = p.columns[:0]
	sawValues := false
	return p.object(func(key []byte) error {
		switch string(key) {
		case "tags":
			if sawValues {
				return errNotFast
			}
			return p.object(func(k []byte) error {
				v, err := p.bytesOf()
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
				c, err := p.bytesOf()
				p.columns = append(p.columns, c)
				return err
			})
		case "values":
			if sawValues || len(p.columns) == 0 {
				return errNotFast
			}
			sawValues = true
			p.sink.beginSeries(meter, category, p.columns)
			return p.rows(len(p.columns))
		default:
			return p.skip()
		}
	})
}

// rows reads a series' values: rows of a time and ncol-1 values.
func (p *jsonScan) rows(ncol int) error {
	if p.peek() != '[' {
		return errNotFast
	}
	p.i++
	if p.peek() == ']' {
		p.i++
		return nil
	}
	for {
		if p.peek() != '[' {
			return errNotFast
		}
		p.i++
		p.ws()
		w, ok := p.int64()
		if !ok {
			return errNotFast
		}
		for col := 1; col < ncol; col++ {
			if p.peek() != ',' {
				return errNotFast // a short row: decodeWindows names it
			}
			p.i++
			if err := p.cell(col, w); err != nil {
				return err
			}
		}
		if p.peek() != ']' {
			return errNotFast // a long row
		}
		p.i++
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

// int64 reads a time: digits, as ParseInt reads them, up to a delimiter.
func (p *jsonScan) int64() (int64, bool) {
	j, neg := p.i, false
	if j < len(p.b) && p.b[j] == '-' {
		neg = true
		j++
	}
	var n int64
	d := j
	for ; j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9'; j++ {
		c := int64(p.b[j] - '0')
		if n > (math.MaxInt64-c)/10 {
			return p.int64Slow()
		}
		n = n*10 + c
	}
	if j == d || (j < len(p.b) && !isDelim(p.b[j])) {
		return p.int64Slow()
	}
	p.i = j
	if neg {
		n = -n
	}
	return n, true
}

func (p *jsonScan) int64Slow() (int64, bool) {
	t, err := strconv.ParseInt(string(p.literal()), 10, 64)
	return t, err == nil
}

func isDelim(c byte) bool {
	return c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\t' || c == '\r'
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// cell reads one value of column col.
func (p *jsonScan) cell(col int, w int64) error {
	switch c := p.peek(); c {
	case '"', '{', '[':
		return p.skip() // not a reading
	case 'n', 't', 'f':
		lit := p.literal()
		switch {
		case bytes.Equal(lit, jsonNull):
		case bytes.Equal(lit, jsonTrue):
			p.sink.value(col, w, 0, valTrue)
		case bytes.Equal(lit, jsonFalse):
			p.sink.value(col, w, 0, valFalse)
		default:
			return errNotFast
		}
		return nil
	}
	// A plain decimal ([-]digits[.digits], at most 15 digits) is exact as
	// an integer divided by a power of ten, which is how ParseFloat reads
	// it too; anything else goes through ParseFloat.
	j, neg := p.i, false
	if j < len(p.b) && p.b[j] == '-' {
		neg = true
		j++
	}
	var mant uint64
	digits, frac, dot := 0, 0, false
	for ; j < len(p.b); j++ {
		c := p.b[j]
		if c >= '0' && c <= '9' {
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
			continue
		}
		if c == '.' && !dot {
			dot = true
			continue
		}
		break
	}
	if digits > 0 && digits <= 15 && (j == len(p.b) || isDelim(p.b[j])) && !(dot && frac == 0) {
		f := float64(mant) / pow10[frac]
		if neg {
			f = -f
		}
		p.i = j
		p.sink.value(col, w, f, valNum)
		return nil
	}
	lit := p.literal()
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || !isJSONNumber(lit) {
		return errNotFast
	}
	p.sink.value(col, w, f, valNum)
	return nil
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
