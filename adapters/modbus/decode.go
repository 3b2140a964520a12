package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// canonicalOrder validates a field's byte order for its type and returns it
// in the form the codec uses: "AB"/"BA" for 16-bit values (and strings and
// bools, register by register), one of the four 32-bit orders, or one of the
// four 64-bit orders. The 32-bit names are accepted for 64-bit types and for
// 16-bit ones (ABCD and CDAB read as AB, DCBA and BADC as BA), as in Telegraf.
func canonicalOrder(t DataType, order string) (string, error) {
	switch t.width() {
	case 2:
		switch order {
		case "", "AB", "ABCD", "CDAB":
			return "AB", nil
		case "BA", "DCBA", "BADC":
			return "BA", nil
		}
		return "", fmt.Errorf("invalid byte order %q for %s (expected AB or BA; ABCD and CDAB read as AB, DCBA and BADC as BA)", order, t)
	case 4:
		switch order {
		case "":
			return "ABCD", nil
		case "ABCD", "DCBA", "BADC", "CDAB":
			return order, nil
		case "ABCDEFGH", "HGFEDCBA", "BADCFEHG", "GHEFCDAB":
			return "", fmt.Errorf("invalid byte order %q for %s: that is a 64-bit order (expected ABCD, DCBA, BADC or CDAB)", order, t)
		}
		return "", fmt.Errorf("invalid byte order %q (expected ABCD, DCBA, BADC or CDAB)", order)
	case 8:
		switch order {
		case "", "ABCD", "ABCDEFGH":
			return "ABCDEFGH", nil
		case "DCBA", "HGFEDCBA":
			return "HGFEDCBA", nil
		case "BADC", "BADCFEHG":
			return "BADCFEHG", nil
		case "CDAB", "GHEFCDAB":
			return "GHEFCDAB", nil
		}
		return "", fmt.Errorf("invalid byte order %q for %s (expected ABCDEFGH, HGFEDCBA, BADCFEHG or GHEFCDAB, or the 32-bit names ABCD, DCBA, BADC, CDAB)", order, t)
	}
	return "", fmt.Errorf("invalid type %q (expected %s)", t, typeList)
}

// toBigEndian reorders wire bytes into big-endian order: the letter at
// position i of order names the significance of wire byte i (A = most).
func toBigEndian(wire []byte, order string) []byte {
	be := make([]byte, len(order))
	for i := 0; i < len(order); i++ {
		be[order[i]-'A'] = wire[i]
	}
	return be
}

// fromBigEndian is the inverse of toBigEndian.
func fromBigEndian(be []byte, order string) []byte {
	wire := make([]byte, len(order))
	for i := 0; i < len(order); i++ {
		wire[i] = be[order[i]-'A']
	}
	return wire
}

// Decode turns the bytes of one field, exactly as they came off the wire,
// into its value: float64 (raw*scale+offset) for numbers, string, or bool.
// For coils and discrete inputs regs holds one byte whose lowest bit is the
// field's bit. A float that is NaN or infinite is an error: a meter that
// answers it is answering garbage (or "not available").
func Decode(f Field, regs []byte) (any, error) {
	if f.Table.bits() {
		if f.Type != TypeBool {
			return nil, fmt.Errorf("field %q: type %s cannot be read from %s (expected bool)", f.Name, f.Type, f.Table.longName())
		}
		if len(regs) != 1 {
			return nil, fmt.Errorf("field %q: got %d bytes for one bit, want 1", f.Name, len(regs))
		}
		return regs[0]&1 == 1, nil
	}
	order, err := canonicalOrder(f.Type, f.ByteOrder)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", f.Name, err)
	}
	if want := 2 * f.Size(); len(regs) != want || want == 0 {
		return nil, fmt.Errorf("field %q: got %d bytes, want %d (%d registers of %s)", f.Name, len(regs), want, f.Size(), f.Type)
	}
	switch f.Type {
	case TypeBool:
		return regs[0]|regs[1] != 0, nil
	case TypeString:
		return decodeString(regs, order), nil
	}
	be := toBigEndian(regs, order)
	var v float64
	switch f.Type {
	case TypeInt16:
		v = float64(int16(binary.BigEndian.Uint16(be)))
	case TypeUint16:
		v = float64(binary.BigEndian.Uint16(be))
	case TypeInt32:
		v = float64(int32(binary.BigEndian.Uint32(be)))
	case TypeUint32:
		v = float64(binary.BigEndian.Uint32(be))
	case TypeInt64:
		v = float64(int64(binary.BigEndian.Uint64(be)))
	case TypeUint64:
		v = float64(binary.BigEndian.Uint64(be))
	case TypeFloat32:
		v = float64(math.Float32frombits(binary.BigEndian.Uint32(be)))
	case TypeFloat64:
		v = math.Float64frombits(binary.BigEndian.Uint64(be))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("field %q: %s value is %v (% x on the wire, byte order %s): garbage or \"not available\" answer", f.Name, f.Type, v, regs, order)
	}
	v = v*f.scale() + f.Offset
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("field %q: value is %v after scale %v and offset %v", f.Name, v, f.scale(), f.Offset)
	}
	return v, nil
}

// decodeString reads two characters a register, cut at the first NUL,
// trailing blanks removed, invalid UTF-8 replaced.
func decodeString(regs []byte, order string) string {
	b := make([]byte, len(regs))
	for i := 0; i+1 < len(regs); i += 2 {
		if order == "BA" {
			b[i], b[i+1] = regs[i+1], regs[i]
		} else {
			b[i], b[i+1] = regs[i], regs[i+1]
		}
	}
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(strings.TrimRight(string(b), " "), "\uFFFD")
}

// Encode is the inverse of Decode: it renders a value as the field's wire
// bytes (raw = (value-offset)/scale, rounded for integer types). The
// simulators and tests use it; a value that does not fit is an error.
func Encode(f Field, v any) ([]byte, error) {
	if f.Table.bits() {
		b, ok := v.(bool)
		if !ok || f.Type != TypeBool {
			return nil, fmt.Errorf("field %q: %s needs a bool, got %T", f.Name, f.Table.longName(), v)
		}
		if b {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	}
	order, err := canonicalOrder(f.Type, f.ByteOrder)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", f.Name, err)
	}
	switch f.Type {
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("field %q: bool field needs a bool, got %T", f.Name, v)
		}
		be := []byte{0, 0}
		if b {
			be[1] = 1
		}
		return fromBigEndian(be, order), nil
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("field %q: string field needs a string, got %T", f.Name, v)
		}
		n := 2 * int(f.Length)
		if len(s) > n {
			return nil, fmt.Errorf("field %q: %q is longer than %d bytes", f.Name, s, n)
		}
		wire := make([]byte, n)
		copy(wire, s)
		if order == "BA" {
			for i := 0; i+1 < n; i += 2 {
				wire[i], wire[i+1] = wire[i+1], wire[i]
			}
		}
		return wire, nil
	}
	x, ok := toFloat(v)
	if !ok {
		return nil, fmt.Errorf("field %q: %s field needs a number, got %T", f.Name, f.Type, v)
	}
	raw := (x - f.Offset) / f.scale()
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return nil, fmt.Errorf("field %q: %v cannot be encoded", f.Name, x)
	}
	be := make([]byte, f.Type.width())
	fits := func(lo, hi float64) bool { r := math.Round(raw); return r >= lo && r <= hi }
	switch f.Type {
	case TypeInt16:
		if !fits(math.MinInt16, math.MaxInt16) {
			return nil, rangeError(f, x, raw)
		}
		binary.BigEndian.PutUint16(be, uint16(int16(math.Round(raw))))
	case TypeUint16:
		if !fits(0, math.MaxUint16) {
			return nil, rangeError(f, x, raw)
		}
		binary.BigEndian.PutUint16(be, uint16(math.Round(raw)))
	case TypeInt32:
		if !fits(math.MinInt32, math.MaxInt32) {
			return nil, rangeError(f, x, raw)
		}
		binary.BigEndian.PutUint32(be, uint32(int32(math.Round(raw))))
	case TypeUint32:
		if !fits(0, math.MaxUint32) {
			return nil, rangeError(f, x, raw)
		}
		binary.BigEndian.PutUint32(be, uint32(math.Round(raw)))
	case TypeInt64:
		// 2^63 is exactly representable; anything at or above it overflows.
		if r := math.Round(raw); r < math.MinInt64 || r >= 1<<63 {
			return nil, rangeError(f, x, raw)
		}
		binary.BigEndian.PutUint64(be, uint64(int64(math.Round(raw))))
	case TypeUint64:
		if r := math.Round(raw); r < 0 || r >= 1<<64 {
			return nil, rangeError(f, x, raw)
		}
		binary.BigEndian.PutUint64(be, uint64(math.Round(raw)))
	case TypeFloat32:
		if raw > math.MaxFloat32 || raw < -math.MaxFloat32 {
			return nil, rangeError(f, x, raw)
		}
		binary.BigEndian.PutUint32(be, math.Float32bits(float32(raw)))
	case TypeFloat64:
		binary.BigEndian.PutUint64(be, math.Float64bits(raw))
	}
	return fromBigEndian(be, order), nil
}

func rangeError(f Field, x, raw float64) error {
	return fmt.Errorf("field %q: %v (raw %v) does not fit %s", f.Name, x, raw, f.Type)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}
