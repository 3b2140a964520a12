package modbus

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

func fuzzTypes() []DataType {
	return []DataType{TypeInt16, TypeUint16, TypeInt32, TypeUint32, TypeInt64, TypeUint64,
		TypeFloat32, TypeFloat64, TypeString, TypeBool, "float16", ""}
}

func fuzzOrders() []string {
	return []string{"", "AB", "BA", "ABCD", "DCBA", "BADC", "CDAB",
		"ABCDEFGH", "HGFEDCBA", "BADCFEHG", "GHEFCDAB", "XYZW", "ABDC", "A", "ZZZZZZZZ"}
}

// FuzzDecode feeds arbitrary bytes to every type, byte order and table:
// Decode must never panic, never return NaN or Inf, only return float64,
// bool or valid UTF-8 strings, and for numbers up to 32 bits and floats
// Encode must give bytes that decode to the same value (-0 decodes as 0).
func FuzzDecode(f *testing.F) {
	for i, c := range decodeCases() {
		f.Add(c.wire, uint8(i), uint8(i), uint8(2), uint16(0), 1.0)
	}
	f.Add([]byte("SDM630\x00\x00"), uint8(8), uint8(0), uint8(2), uint16(4), 1.0)
	f.Add([]byte{0x7f, 0xc0, 0, 0}, uint8(6), uint8(3), uint8(3), uint16(0), 1.0)
	f.Add([]byte{1}, uint8(9), uint8(0), uint8(0), uint16(0), 0.0)
	f.Fuzz(func(t *testing.T, data []byte, typ, order, table uint8, length uint16, scale float64) {
		types, orders := fuzzTypes(), fuzzOrders()
		tables := append(allTables(), "bogus")
		fld := Field{
			Name: "f", Table: tables[int(table)%len(tables)], Type: types[int(typ)%len(types)],
			ByteOrder: orders[int(order)%len(orders)], Length: length, Scale: scale,
		}
		v, err := Decode(fld, data)
		if err != nil {
			return
		}
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("Decode(%+v, % x) = %v", fld, data, x)
			}
		case string:
			if !utf8.ValidString(x) {
				t.Fatalf("Decode(%+v, % x) = invalid UTF-8 %q", fld, data, x)
			}
		case bool:
		default:
			t.Fatalf("Decode(%+v, % x) returned %T", fld, data, v)
		}
		switch fld.Type {
		case TypeInt16, TypeUint16, TypeInt32, TypeUint32, TypeFloat32, TypeFloat64:
			if fld.Table.bits() || (fld.Scale != 0 && fld.Scale != 1) {
				return
			}
			back, err := Encode(fld, v)
			if err != nil {
				t.Fatalf("Encode(%+v, %v): %v", fld, v, err)
			}
			if again, err := Decode(fld, back); err != nil || again != v {
				t.Fatalf("Decode(Encode(%v)) = %v, %v (wire % x, was % x)", v, again, err, back, data)
			}
		}
	})
}

// FuzzParseModel feeds arbitrary YAML to ParseModel: it must never panic,
// and whatever it accepts must validate, plan within the protocol limits
// with every field read exactly once, and decode without panicking.
func FuzzParseModel(f *testing.F) {
	for _, pattern := range []string{"models/*.yaml", "testdata/invalid/*/model.yaml", "testdata/plan/*/model.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data, uint16(0))
			}
		}
	}
	f.Add([]byte("name: a\nfields: [{name: x, measurement: m, table: coil, address: 65535, type: bool}]"), uint16(65535))
	f.Add([]byte("a: &a [*a, *a]\nname: *a"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, gap uint16) {
		m, err := ParseModel("fuzz", data)
		if err != nil {
			if m != nil {
				t.Fatal("ParseModel returned a model and an error")
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("ParseModel accepted a model that does not validate: %v", err)
		}
		seen := map[string]int{}
		for _, r := range Plan(m, gap) {
			limit := m.maxRegisters()
			if r.Table.bits() {
				limit = MaxBitsPerRead
			}
			if r.Quantity == 0 || int(r.Quantity) > limit {
				t.Fatalf("%s: quantity outside 1-%d", r, limit)
			}
			for _, fld := range r.Fields {
				seen[fld.Name]++
				if fld.Address < r.Address || int(fld.Address)+fld.Size() > int(r.Address)+int(r.Quantity) {
					t.Fatalf("%s: field %s outside the read", r, fld.Name)
				}
				n := 2 * fld.Size()
				if r.Table.bits() {
					n = 1
				}
				Decode(fld, make([]byte, n))
			}
		}
		for _, fld := range m.Fields {
			if seen[fld.Name] != 1 {
				t.Fatalf("field %s read %d times", fld.Name, seen[fld.Name])
			}
		}
	})
}
