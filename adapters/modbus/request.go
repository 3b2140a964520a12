package modbus

import (
	"fmt"
	"sort"
	"strings"
)

// Protocol limits of one read (Modbus Application Protocol v1.1b, 6.1-6.4).
const (
	MaxRegistersPerRead = 125
	MaxBitsPerRead      = 2000
)

// Request is one read: a contiguous range of one table and the fields it
// carries, sorted by address.
type Request struct {
	Table    Table
	Address  uint16
	Quantity uint16
	Fields   []Field
}

// Range names the table and the addresses read: "input registers 0-11".
func (r Request) Range() string {
	return fmt.Sprintf("%s %d-%d", r.Table.longName(), r.Address, int(r.Address)+int(r.Quantity)-1)
}

// String describes the request and its fields:
// "input registers 0-11 (12): kw@0 voltage_v@2 kwh@10".
func (r Request) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d):", r.Range(), r.Quantity)
	for _, f := range r.Fields {
		fmt.Fprintf(&b, " %s@%d", f.Name, f.Address)
	}
	return b.String()
}

// Plan groups a model's fields into reads. Per table, in function-code order
// (coils, discrete inputs, holding, input registers), fields are sorted by
// address and neighbours merged into one read while the hole between them is
// at most maxGap registers (bits) and the read stays within the device's
// limit: Model.MaxRegisters (125 at most) registers or 2000 bits.
//
// maxGap 0 merges only touching fields; a larger gap saves round trips but
// reads registers no field names, which some devices answer with exception 2
// (illegal data address). Plan does no I/O and keeps no state.
func Plan(m *Model, maxGap uint16) []Request {
	var reqs []Request
	for _, t := range allTables() {
		var fs []Field
		for _, f := range m.Fields {
			if f.Table == t && f.Size() > 0 {
				fs = append(fs, f)
			}
		}
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Address < fs[j].Address })
		limit := m.maxRegisters()
		if t.bits() {
			limit = MaxBitsPerRead
		}
		var cur *Request
		end := 0 // one past the last address of cur
		for _, f := range fs {
			first, last := int(f.Address), int(f.Address)+f.Size()
			if cur != nil && first-end <= int(maxGap) && max(end, last)-int(cur.Address) <= limit {
				end = max(end, last)
				cur.Quantity = uint16(end - int(cur.Address))
				cur.Fields = append(cur.Fields, f)
				continue
			}
			if cur != nil {
				reqs = append(reqs, *cur)
			}
			cur = &Request{Table: t, Address: f.Address, Quantity: uint16(f.Size()), Fields: []Field{f}}
			end = last
		}
		if cur != nil {
			reqs = append(reqs, *cur)
		}
	}
	return reqs
}
