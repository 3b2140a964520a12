package modbus

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// decodeCases are hand-computed: the big-endian bytes of each value (in the
// comment), laid out on the wire in every byte order by what the order means
// (DCBA reversed, BADC bytes swapped in each word, CDAB words swapped).
func decodeCases() []decodeCase {
	return []decodeCase{
		// int16 -123 = ff85
		{TypeInt16, "AB", []byte{0xff, 0x85}, -123},
		{TypeInt16, "BA", []byte{0x85, 0xff}, -123},
		{TypeInt16, "ABCD", []byte{0xff, 0x85}, -123},
		{TypeInt16, "CDAB", []byte{0xff, 0x85}, -123},
		{TypeInt16, "DCBA", []byte{0x85, 0xff}, -123},
		{TypeInt16, "BADC", []byte{0x85, 0xff}, -123},
		{TypeInt16, "", []byte{0xff, 0x85}, -123},
		// uint16 65413 = ff85
		{TypeUint16, "AB", []byte{0xff, 0x85}, 65413},
		{TypeUint16, "BA", []byte{0x85, 0xff}, 65413},
		{TypeUint16, "ABCD", []byte{0xff, 0x85}, 65413},
		{TypeUint16, "CDAB", []byte{0xff, 0x85}, 65413},
		{TypeUint16, "DCBA", []byte{0x85, 0xff}, 65413},
		{TypeUint16, "BADC", []byte{0x85, 0xff}, 65413},
		// int32 -1582119980 = a1b2c3d4
		{TypeInt32, "ABCD", []byte{0xa1, 0xb2, 0xc3, 0xd4}, -1582119980},
		{TypeInt32, "DCBA", []byte{0xd4, 0xc3, 0xb2, 0xa1}, -1582119980},
		{TypeInt32, "BADC", []byte{0xb2, 0xa1, 0xd4, 0xc3}, -1582119980},
		{TypeInt32, "CDAB", []byte{0xc3, 0xd4, 0xa1, 0xb2}, -1582119980},
		{TypeInt32, "", []byte{0xa1, 0xb2, 0xc3, 0xd4}, -1582119980},
		// uint32 2712847316 = a1b2c3d4
		{TypeUint32, "ABCD", []byte{0xa1, 0xb2, 0xc3, 0xd4}, 2712847316},
		{TypeUint32, "DCBA", []byte{0xd4, 0xc3, 0xb2, 0xa1}, 2712847316},
		{TypeUint32, "BADC", []byte{0xb2, 0xa1, 0xd4, 0xc3}, 2712847316},
		{TypeUint32, "CDAB", []byte{0xc3, 0xd4, 0xa1, 0xb2}, 2712847316},
		{TypeUint32, "", []byte{0xa1, 0xb2, 0xc3, 0xd4}, 2712847316},
		// int64 -4822678189205111 = ffeeddccbbaa9989 (below 2^53: exact in float64)
		{TypeInt64, "ABCDEFGH", []byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x89}, -4822678189205111},
		{TypeInt64, "HGFEDCBA", []byte{0x89, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, -4822678189205111},
		{TypeInt64, "BADCFEHG", []byte{0xee, 0xff, 0xcc, 0xdd, 0xaa, 0xbb, 0x89, 0x99}, -4822678189205111},
		{TypeInt64, "GHEFCDAB", []byte{0x99, 0x89, 0xbb, 0xaa, 0xdd, 0xcc, 0xff, 0xee}, -4822678189205111},
		{TypeInt64, "ABCD", []byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x89}, -4822678189205111},
		{TypeInt64, "DCBA", []byte{0x89, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, -4822678189205111},
		{TypeInt64, "BADC", []byte{0xee, 0xff, 0xcc, 0xdd, 0xaa, 0xbb, 0x89, 0x99}, -4822678189205111},
		{TypeInt64, "CDAB", []byte{0x99, 0x89, 0xbb, 0xaa, 0xdd, 0xcc, 0xff, 0xee}, -4822678189205111},
		{TypeInt64, "", []byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x89}, -4822678189205111},
		// uint64 4822678189205111 = 0011223344556677
		{TypeUint64, "ABCDEFGH", []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}, 4822678189205111},
		{TypeUint64, "HGFEDCBA", []byte{0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00}, 4822678189205111},
		{TypeUint64, "BADCFEHG", []byte{0x11, 0x00, 0x33, 0x22, 0x55, 0x44, 0x77, 0x66}, 4822678189205111},
		{TypeUint64, "GHEFCDAB", []byte{0x66, 0x77, 0x44, 0x55, 0x22, 0x33, 0x00, 0x11}, 4822678189205111},
		{TypeUint64, "ABCD", []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}, 4822678189205111},
		{TypeUint64, "DCBA", []byte{0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00}, 4822678189205111},
		{TypeUint64, "BADC", []byte{0x11, 0x00, 0x33, 0x22, 0x55, 0x44, 0x77, 0x66}, 4822678189205111},
		{TypeUint64, "CDAB", []byte{0x66, 0x77, 0x44, 0x55, 0x22, 0x33, 0x00, 0x11}, 4822678189205111},
		{TypeUint64, "", []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}, 4822678189205111},
		// float32 -1234.5 = c49a5000
		{TypeFloat32, "ABCD", []byte{0xc4, 0x9a, 0x50, 0x00}, -1234.5},
		{TypeFloat32, "DCBA", []byte{0x00, 0x50, 0x9a, 0xc4}, -1234.5},
		{TypeFloat32, "BADC", []byte{0x9a, 0xc4, 0x00, 0x50}, -1234.5},
		{TypeFloat32, "CDAB", []byte{0x50, 0x00, 0xc4, 0x9a}, -1234.5},
		{TypeFloat32, "", []byte{0xc4, 0x9a, 0x50, 0x00}, -1234.5},
		// float64 -12345.6789 = c0c81cd6e631f8a1
		{TypeFloat64, "ABCDEFGH", []byte{0xc0, 0xc8, 0x1c, 0xd6, 0xe6, 0x31, 0xf8, 0xa1}, -12345.6789},
		{TypeFloat64, "HGFEDCBA", []byte{0xa1, 0xf8, 0x31, 0xe6, 0xd6, 0x1c, 0xc8, 0xc0}, -12345.6789},
		{TypeFloat64, "BADCFEHG", []byte{0xc8, 0xc0, 0xd6, 0x1c, 0x31, 0xe6, 0xa1, 0xf8}, -12345.6789},
		{TypeFloat64, "GHEFCDAB", []byte{0xf8, 0xa1, 0xe6, 0x31, 0x1c, 0xd6, 0xc0, 0xc8}, -12345.6789},
		{TypeFloat64, "ABCD", []byte{0xc0, 0xc8, 0x1c, 0xd6, 0xe6, 0x31, 0xf8, 0xa1}, -12345.6789},
		{TypeFloat64, "DCBA", []byte{0xa1, 0xf8, 0x31, 0xe6, 0xd6, 0x1c, 0xc8, 0xc0}, -12345.6789},
		{TypeFloat64, "BADC", []byte{0xc8, 0xc0, 0xd6, 0x1c, 0x31, 0xe6, 0xa1, 0xf8}, -12345.6789},
		{TypeFloat64, "CDAB", []byte{0xf8, 0xa1, 0xe6, 0x31, 0x1c, 0xd6, 0xc0, 0xc8}, -12345.6789},
		{TypeFloat64, "", []byte{0xc0, 0xc8, 0x1c, 0xd6, 0xe6, 0x31, 0xf8, 0xa1}, -12345.6789},
	}
}

type decodeCase struct {
	typ   DataType
	order string
	wire  []byte
	want  float64
}

func TestDecodeEveryTypeAndByteOrder(t *testing.T) {
	for _, c := range decodeCases() {
		f := Field{Name: "x", Table: TableHolding, Type: c.typ, ByteOrder: c.order}
		got, err := Decode(f, c.wire)
		if err != nil {
			t.Errorf("%s %s % x: %v", c.typ, c.order, c.wire, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s %s % x = %v, want %v", c.typ, c.order, c.wire, got, c.want)
		}
		// Encode is the inverse and must give back the same wire bytes.
		back, err := Encode(f, c.want)
		if err != nil || !bytes.Equal(back, c.wire) {
			t.Errorf("Encode(%s %s, %v) = % x, %v; want % x", c.typ, c.order, c.want, back, err, c.wire)
		}
	}
}

func TestDecodeScaleOffset(t *testing.T) {
	// 0x0929 = 2345; 2345 * 0.5 - 40 = 1132.5 (exact in binary).
	f := Field{Name: "t", Table: TableInput, Type: TypeInt16, Scale: 0.5, Offset: -40}
	got, err := Decode(f, []byte{0x09, 0x29})
	if err != nil || got != 1132.5 {
		t.Fatalf("Decode = %v, %v; want 1132.5", got, err)
	}
	// Scale 0 means 1.
	f = Field{Name: "n", Table: TableInput, Type: TypeUint32, ByteOrder: "CDAB", Offset: 1}
	if got, _ := Decode(f, []byte{0x00, 0x02, 0x00, 0x01}); got != float64(0x00010002+1) {
		t.Fatalf("Decode = %v, want %v", got, 0x00010002+1)
	}
	// The sim meter's energy counter: 0.01 kWh steps.
	f = Field{Name: "kwh", Table: TableInput, Type: TypeUint32, Scale: 0.01}
	if got, _ := Decode(f, []byte{0xff, 0xff, 0xff, 0xff}); math.Abs(got.(float64)-42949672.95) > 1e-6 {
		t.Fatalf("Decode = %v, want 42949672.95", got)
	}
}

func TestDecodeRejectsNaNAndInf(t *testing.T) {
	cases := []struct {
		typ  DataType
		wire []byte
	}{
		{TypeFloat32, []byte{0x7f, 0xc0, 0x00, 0x00}}, // quiet NaN (Vaisala's "not available")
		{TypeFloat32, []byte{0x7f, 0x80, 0x00, 0x00}}, // +Inf
		{TypeFloat32, []byte{0xff, 0x80, 0x00, 0x00}}, // -Inf
		{TypeFloat64, []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1}},
		{TypeFloat64, []byte{0xff, 0xf0, 0, 0, 0, 0, 0, 0}},
	}
	for _, c := range cases {
		_, err := Decode(Field{Name: "inlet_c", Table: TableHolding, Type: c.typ}, c.wire)
		if err == nil || !strings.Contains(err.Error(), `field "inlet_c"`) {
			t.Errorf("%s % x: err = %v, want an error naming the field", c.typ, c.wire, err)
		}
	}
	// A finite float32 that overflows once scaled.
	_, err := Decode(Field{Name: "big", Table: TableHolding, Type: TypeFloat64, Scale: 1e300}, []byte{0x7f, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if err == nil || !strings.Contains(err.Error(), "after scale") {
		t.Errorf("overflow after scale: err = %v", err)
	}
}

func TestDecodeStringBoolAndBits(t *testing.T) {
	s := Field{Name: "serial", Table: TableHolding, Type: TypeString, Length: 4}
	if got, err := Decode(s, []byte("SDM630\x00\x00")); err != nil || got != "SDM630" {
		t.Errorf("string ABCD = %q, %v", got, err)
	}
	s.ByteOrder = "BADC"
	if got, err := Decode(s, []byte("DS6M03  ")); err != nil || got != "SDM630" {
		t.Errorf("string BADC = %q, %v (trailing blank must go)", got, err)
	}
	s.ByteOrder = "XYZW"
	if _, err := Decode(s, []byte("SDM630  ")); err == nil {
		t.Error("string with invalid order decoded")
	}
	b := Field{Name: "alarm", Table: TableHolding, Type: TypeBool}
	for wire, want := range map[string]bool{"\x00\x00": false, "\x00\x01": true, "\x01\x00": true, "\xff\xff": true} {
		if got, err := Decode(b, []byte(wire)); err != nil || got != want {
			t.Errorf("bool register % x = %v, %v; want %v", wire, got, err, want)
		}
	}
	c := Field{Name: "breaker", Table: TableCoil, Type: TypeBool}
	for wire, want := range map[byte]bool{0: false, 1: true, 0xfe: false, 0xff: true} {
		if got, err := Decode(c, []byte{wire}); err != nil || got != want {
			t.Errorf("coil %02x = %v, %v; want %v", wire, got, err, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		f    Field
		wire []byte
		want string
	}{
		{Field{Name: "kw", Table: TableInput, Type: TypeFloat32, ByteOrder: "XYZW"}, make([]byte, 4),
			`field "kw": invalid byte order "XYZW" (expected ABCD, DCBA, BADC or CDAB)`},
		{Field{Name: "kw", Table: TableInput, Type: TypeFloat32, ByteOrder: "ABCDEFGH"}, make([]byte, 4),
			`that is a 64-bit order`},
		{Field{Name: "e", Table: TableInput, Type: TypeInt64, ByteOrder: "ABDC"}, make([]byte, 8),
			`invalid byte order "ABDC" for int64`},
		{Field{Name: "v", Table: TableInput, Type: TypeUint16, ByteOrder: "XY"}, make([]byte, 2),
			`invalid byte order "XY" for uint16 (expected AB or BA`},
		{Field{Name: "kw", Table: TableInput, Type: TypeFloat32}, make([]byte, 3),
			`field "kw": got 3 bytes, want 4 (2 registers of float32)`},
		{Field{Name: "kw", Table: TableInput, Type: "float16"}, make([]byte, 2),
			`invalid type "float16"`},
		{Field{Name: "s", Table: TableInput, Type: TypeString}, nil,
			`got 0 bytes, want 0`},
		{Field{Name: "c", Table: TableCoil, Type: TypeUint16}, []byte{1},
			`cannot be read from coils`},
		{Field{Name: "c", Table: TableDiscrete, Type: TypeBool}, []byte{1, 0},
			`got 2 bytes for one bit`},
	}
	for _, c := range cases {
		_, err := Decode(c.f, c.wire)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%+v, % x) error = %v, want it to contain %q", c.f, c.wire, err, c.want)
		}
	}
}

func TestEncodeRange(t *testing.T) {
	cases := []struct {
		f  Field
		v  any
		ok bool
	}{
		{Field{Name: "a", Table: TableInput, Type: TypeInt16}, 32767.0, true},
		{Field{Name: "a", Table: TableInput, Type: TypeInt16}, 32768.0, false},
		{Field{Name: "a", Table: TableInput, Type: TypeUint16}, -1.0, false},
		{Field{Name: "a", Table: TableInput, Type: TypeUint32, Scale: 0.01}, 42949672.95, true},
		{Field{Name: "a", Table: TableInput, Type: TypeUint32, Scale: 0.01}, 42949672.96, false},
		{Field{Name: "a", Table: TableInput, Type: TypeInt64}, 9.3e18, false},
		{Field{Name: "a", Table: TableInput, Type: TypeUint64}, 1.8e19, true},
		{Field{Name: "a", Table: TableInput, Type: TypeFloat32}, 1e39, false},
		{Field{Name: "a", Table: TableInput, Type: TypeFloat32}, "x", false},
		{Field{Name: "a", Table: TableInput, Type: TypeString, Length: 1}, "abc", false},
		{Field{Name: "a", Table: TableCoil, Type: TypeBool}, 1.0, false},
	}
	for _, c := range cases {
		_, err := Encode(c.f, c.v)
		if (err == nil) != c.ok {
			t.Errorf("Encode(%s, %v) error = %v, want ok=%v", c.f.Type, c.v, err, c.ok)
		}
	}
	for _, order := range []string{"ABCD", "BADC"} {
		f := Field{Name: "s", Table: TableHolding, Type: TypeString, Length: 3, ByteOrder: order}
		b, err := Encode(f, "HELLO")
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := Decode(f, b); got != "HELLO" {
			t.Errorf("string %s round trip = %q", order, got)
		}
	}
}
