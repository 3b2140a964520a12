// Package modbus reads power meters and sensors over Modbus TCP, RTU over TCP
// and RTU serial lines. A meter model (models/*.yaml) says which registers
// hold which quantity; Plan groups the registers into as few reads as the
// device allows; Decode turns register bytes into values; Meter runs the plan
// over one reused connection and returns points for the collector.
//
// README.md documents the model format, the types, the byte orders and the
// request planning.
package modbus

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Table is one of the four Modbus data tables.
type Table string

// The four Modbus data tables. Coils and discrete inputs hold bits; holding
// and input registers hold 16-bit words.
const (
	TableCoil     Table = "coil"
	TableDiscrete Table = "discrete"
	TableHolding  Table = "holding"
	TableInput    Table = "input"
)

// allTables lists the tables in function-code order (1, 2, 3, 4); Plan emits
// requests in this order.
func allTables() []Table { return []Table{TableCoil, TableDiscrete, TableHolding, TableInput} }

func (t Table) valid() bool {
	switch t {
	case TableCoil, TableDiscrete, TableHolding, TableInput:
		return true
	}
	return false
}

// bits reports whether the table holds single bits rather than registers.
func (t Table) bits() bool { return t == TableCoil || t == TableDiscrete }

// longName is the table's name in requests and errors ("input registers").
func (t Table) longName() string {
	switch t {
	case TableCoil:
		return "coils"
	case TableDiscrete:
		return "discrete inputs"
	case TableHolding:
		return "holding registers"
	case TableInput:
		return "input registers"
	}
	return fmt.Sprintf("table %q", string(t))
}

// DataType is how a field's registers are interpreted.
type DataType string

// The supported data types. Integers and floats decode to float64 (after
// scale and offset), string to string and bool to bool.
const (
	TypeInt16   DataType = "int16"
	TypeUint16  DataType = "uint16"
	TypeInt32   DataType = "int32"
	TypeUint32  DataType = "uint32"
	TypeInt64   DataType = "int64"
	TypeUint64  DataType = "uint64"
	TypeFloat32 DataType = "float32"
	TypeFloat64 DataType = "float64"
	TypeString  DataType = "string"
	TypeBool    DataType = "bool"
)

// width is the size in bytes of one value of a fixed-size type; strings are
// handled register by register and so have width 2, like bool in a register.
func (d DataType) width() int {
	switch d {
	case TypeInt16, TypeUint16, TypeString, TypeBool:
		return 2
	case TypeInt32, TypeUint32, TypeFloat32:
		return 4
	case TypeInt64, TypeUint64, TypeFloat64:
		return 8
	}
	return 0
}

func (d DataType) numeric() bool {
	switch d {
	case TypeString, TypeBool:
		return false
	}
	return d.width() != 0
}

// Field is one value of a meter model: where it lives and how to decode it.
type Field struct {
	// Name is the InfluxDB field name, unit suffixed (kw, voltage_v).
	Name string
	// Measurement is the InfluxDB measurement the field belongs to (power).
	Measurement string
	Table       Table
	// Address is the PDU address, counted from 0 (register 30001 of a
	// manual's 1-based numbering is address 0).
	Address uint16
	Type    DataType
	// Length is the number of registers of a string; other types have a
	// fixed size and leave it 0.
	Length uint16
	// ByteOrder says where the bytes of the value travel, A being the most
	// significant: ABCD big-endian, DCBA little-endian, BADC bytes swapped
	// in each word, CDAB words swapped; 64-bit types also take ABCDEFGH,
	// HGFEDCBA, BADCFEHG and GHEFCDAB. Empty means ABCD.
	ByteOrder string
	// Value = raw*Scale + Offset. A Scale of 0 means 1.
	Scale  float64
	Offset float64
	Unit   string
	// Counter marks an ever-increasing total (energy). Modulus is the value
	// (after scale) at which the device's counter wraps back to 0; 0 means
	// unknown or never.
	Counter     bool
	Modulus     float64
	Description string
}

// wrapDays is how long, at least, a meter takes to go round its energy
// register at full power: the default bound on a counter's rise when the
// model has no rated_kw (Model.CounterRatedKW).
const wrapDays = 30

// CounterRatedKW is the power that bounds counter field f's rise: the
// model's rated_kw, else the power at which f's register (its modulus, or
// the range of its 32- or 64-bit integer type after scale) would go round
// in wrapDays; 0 (unbounded) for a float or 16-bit register without a
// rating.
func (m *Model) CounterRatedKW(f Field) float64 {
	if m.RatedKW > 0 {
		return m.RatedKW
	}
	mod := f.Modulus
	if mod == 0 {
		switch f.Type {
		case TypeUint32:
			mod = math.Exp2(32) * math.Abs(f.scale())
		case TypeInt32:
			mod = math.Exp2(31) * math.Abs(f.scale())
		case TypeUint64, TypeInt64:
			mod = math.Exp2(63) * math.Abs(f.scale())
		}
	}
	return mod / (wrapDays * 24)
}

// Size is the number of registers the field occupies, or of bits for coils
// and discrete inputs.
func (f Field) Size() int {
	if f.Table.bits() {
		return 1
	}
	if f.Type == TypeString {
		return int(f.Length)
	}
	return f.Type.width() / 2
}

// scale returns the effective multiplier (0 means 1).
func (f Field) scale() float64 {
	if f.Scale == 0 {
		return 1
	}
	return f.Scale
}

// Model describes one meter or sensor type.
type Model struct {
	Name         string
	Manufacturer string
	Description  string
	// Source cites the manual (title, version, section) the register table
	// was taken from.
	Source string
	// MaxRegisters is the most registers the device answers in one read;
	// 0 means the protocol limit of 125. Some meters allow fewer (Eastron:
	// 80 or 60).
	MaxRegisters uint16
	// RatedKW is the most power the meter measures (kW, from its
	// datasheet: rated voltage x maximum current x phases); 0 when the
	// model cannot know it (CT-connected meters: set it per device).
	RatedKW float64
	Fields  []Field
	// File is where the model was read from ("models/<name>.yaml" for the
	// built-in ones).
	File string
}

// Models holds meter models by name.
type Models map[string]*Model

// Names returns the model names, sorted.
func (ms Models) Names() []string {
	names := make([]string, 0, len(ms))
	for n := range ms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Get returns the named model or an error listing the known ones.
func (ms Models) Get(name string) (*Model, error) {
	if m, ok := ms[name]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("unknown meter model %q (known: %s)", name, strings.Join(ms.Names(), ", "))
}

//go:embed models/*.yaml
var builtinModels embed.FS

// LoadModels reads the built-in models and then every *.yaml file of the
// given directories, one model a file, named after its file. Every file is
// validated; the error lists every problem of every file, each naming file,
// line, model and field.
func LoadModels(dirs ...string) (Models, error) {
	ms := Models{}
	var errs []error
	add := func(file string, data []byte) {
		m, err := ParseModel(file, data)
		if err != nil {
			errs = append(errs, err)
			return
		}
		base := strings.TrimSuffix(path.Base(filepath.ToSlash(file)), ".yaml")
		if m.Name != base {
			errs = append(errs, fmt.Errorf("%s: model %q must be in a file named %s.yaml (one model a file, named after it)", file, m.Name, m.Name))
			return
		}
		if prev, ok := ms[m.Name]; ok {
			errs = append(errs, fmt.Errorf("%s: model %q is already defined in %s", file, m.Name, prev.File))
			return
		}
		ms[m.Name] = m
	}

	builtin, err := fs.Glob(builtinModels, "models/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list built-in models: %w", err)
	}
	for _, file := range builtin {
		data, err := builtinModels.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read built-in model %s: %w", file, err)
		}
		add(file, data)
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("read model directory: %w", err))
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
				continue
			}
			file := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("read model: %w", err))
				continue
			}
			add(file, data)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ms, nil
}

// Validate checks a model built in Go (ParseModel already validates what it
// parses). The error lists every problem, naming model and field.
func (m *Model) Validate() error {
	ps := m.problems()
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = errors.New(m.describe(p))
	}
	return errors.Join(errs...)
}

// problem is one thing wrong with a model: field is an index into Fields,
// or -1 for the model as a whole.
type problem struct {
	field int
	key   string // the YAML key at fault, for its line number
	msg   string
}

// describe renders a problem as `model "x" field "kw": msg`.
func (m *Model) describe(p problem) string {
	var b strings.Builder
	if m.Name == "" {
		b.WriteString("model (unnamed)")
	} else {
		fmt.Fprintf(&b, "model %q", m.Name)
	}
	if p.field >= 0 && p.field < len(m.Fields) {
		if n := m.Fields[p.field].Name; n != "" {
			fmt.Fprintf(&b, " field %q", n)
		} else {
			fmt.Fprintf(&b, " field #%d", p.field+1)
		}
	}
	b.WriteString(": ")
	b.WriteString(p.msg)
	return b.String()
}

// validModelName accepts lower-case letters, digits, '.', '-' and '_',
// starting with a letter or digit.
func validModelName(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '-' || r == '_'):
		default:
			return false
		}
	}
	return s != ""
}

// validFieldName accepts lower-case snake_case starting with a letter.
func validFieldName(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_'):
		default:
			return false
		}
	}
	return s != ""
}

const (
	typeList  = "int16, uint16, int32, uint32, int64, uint64, float32, float64, string or bool"
	tableList = "holding, input, coil or discrete"
)

// problems lists everything wrong with the model, field by field.
func (m *Model) problems() []problem {
	var ps []problem
	if m.Name == "" {
		ps = append(ps, problem{-1, "name", "missing name"})
	} else if !validModelName(m.Name) {
		ps = append(ps, problem{-1, "name", fmt.Sprintf("invalid name %q (expected lower-case letters, digits, '.', '-' or '_')", m.Name)})
	}
	if m.MaxRegisters > MaxRegistersPerRead {
		ps = append(ps, problem{-1, "max_registers", fmt.Sprintf("max_registers %d is above the protocol limit of %d", m.MaxRegisters, MaxRegistersPerRead)})
	}
	if len(m.Fields) == 0 {
		ps = append(ps, problem{-1, "fields", "no fields"})
	}
	seen := map[string]int{}
	for i, f := range m.Fields {
		for _, p := range f.problems(m.maxRegisters()) {
			p.field = i
			ps = append(ps, p)
		}
		if f.Name == "" {
			continue
		}
		if j, ok := seen[f.Name]; ok {
			ps = append(ps, problem{i, "name", fmt.Sprintf("duplicate field name (also field #%d)", j+1)})
			continue
		}
		seen[f.Name] = i
	}
	return append(ps, m.overlaps()...)
}

// maxRegisters is the effective register limit per read.
func (m *Model) maxRegisters() int {
	if m.MaxRegisters == 0 || m.MaxRegisters > MaxRegistersPerRead {
		return MaxRegistersPerRead
	}
	return int(m.MaxRegisters)
}

// problems lists what is wrong with one field on its own.
func (f Field) problems(maxRegs int) []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key: key, msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case f.Name == "":
		add("name", "missing name")
	case !validFieldName(f.Name):
		add("name", "invalid name %q (expected lower-case snake_case, unit last: kw, voltage_v)", f.Name)
	}
	switch {
	case f.Measurement == "":
		add("measurement", "missing measurement")
	case !validFieldName(f.Measurement):
		add("measurement", "invalid measurement %q (expected lower-case snake_case)", f.Measurement)
	}
	switch {
	case f.Table == "":
		add("table", "missing table (expected %s)", tableList)
	case !f.Table.valid():
		add("table", "invalid table %q (expected %s)", f.Table, tableList)
	}
	switch {
	case f.Type == "":
		add("type", "missing type (expected %s)", typeList)
		return ps
	case f.Type.width() == 0:
		add("type", "invalid type %q (expected %s)", f.Type, typeList)
		return ps
	}
	if f.Table.bits() {
		if f.Type != TypeBool {
			add("type", "type %s cannot be read from %s (expected bool)", f.Type, f.Table.longName())
		}
		if f.ByteOrder != "" {
			add("byte_order", "byte order %q makes no sense for %s (single bits)", f.ByteOrder, f.Table.longName())
		}
	} else if _, err := canonicalOrder(f.Type, f.ByteOrder); err != nil {
		add("byte_order", "%v", err)
	}
	if f.Type == TypeString {
		if f.Length == 0 || int(f.Length) > maxRegs {
			add("length", "string needs a length of 1-%d registers, got %d", maxRegs, f.Length)
		}
	} else if f.Length != 0 {
		add("length", "length %d is only for strings (%s has a fixed size)", f.Length, f.Type)
	} else if !f.Table.bits() && f.Size() > maxRegs {
		add("type", "%s needs %d registers but the device reads at most %d at once (max_registers)", f.Type, f.Size(), maxRegs)
	}
	if f.Type.numeric() {
		if math.IsNaN(f.Scale) || math.IsInf(f.Scale, 0) {
			add("scale", "scale must be a finite number, got %s", num(f.Scale))
		}
		if math.IsNaN(f.Offset) || math.IsInf(f.Offset, 0) {
			add("offset", "offset must be a finite number, got %s", num(f.Offset))
		}
	} else {
		if (f.Scale != 0 && f.Scale != 1) || f.Offset != 0 {
			add("scale", "scale and offset apply to numbers only, not %s", f.Type)
		}
		if f.Counter {
			add("counter", "counter applies to numbers only, not %s", f.Type)
		}
	}
	switch {
	case math.IsNaN(f.Modulus) || math.IsInf(f.Modulus, 0) || f.Modulus < 0:
		add("modulus", "modulus must be a positive number, got %s", num(f.Modulus))
	case f.Modulus > 0 && !f.Counter:
		add("modulus", "modulus %s needs counter: true", num(f.Modulus))
	}
	if size := f.Size(); size > 0 && int(f.Address)+size-1 > math.MaxUint16 {
		add("address", "%s %d-%d run past address 65535", f.Table.longName(), f.Address, int(f.Address)+size-1)
	}
	return ps
}

// num formats a number as written in a model file: 42949672.96, not 4.29e+07.
func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// overlaps reports fields that share a register (or bit) of the same table.
func (m *Model) overlaps() []problem {
	var ps []problem
	for _, t := range allTables() {
		var idx []int
		for i, f := range m.Fields {
			if f.Table == t && f.Size() > 0 {
				idx = append(idx, i)
			}
		}
		sort.SliceStable(idx, func(a, b int) bool { return m.Fields[idx[a]].Address < m.Fields[idx[b]].Address })
		end, last := -1, -1 // last register used so far and the field using it
		for _, i := range idx {
			f := m.Fields[i]
			first := int(f.Address)
			if first <= end {
				p := m.Fields[last]
				ps = append(ps, problem{i, "address", fmt.Sprintf("%s %d-%d overlap field %q (%d-%d)",
					t.longName(), first, first+f.Size()-1, p.Name, p.Address, int(p.Address)+p.Size()-1)})
			}
			if e := first + f.Size() - 1; e > end {
				end, last = e, i
			}
		}
	}
	return ps
}

// ParseModel parses and validates one model file. file names the source in
// errors; the error lists every problem found, in line order, as
// `file:line: model "x" field "kw": what is wrong (what was expected)`.
func ParseModel(file string, data []byte) (m *Model, err error) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a bad file must
		// never take the daemon down.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%s: cannot parse YAML: %v", file, r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// "yaml: line 3: did not find expected key" -> "file:3: did not ..."
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		var line int
		if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
			_, rest, _ := strings.Cut(msg, ": ")
			return nil, fmt.Errorf("%s:%d: %s", file, line, rest)
		}
		return nil, fmt.Errorf("%s: %s", file, msg)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty model file", file)
	}
	p := &modelParser{file: file, model: &Model{File: file}, keyLines: map[string]int{}, bad: map[int]bool{}}
	if !p.parseModel(resolve(doc.Content[0])) {
		return nil, p.err()
	}
	for _, pr := range p.model.problems() {
		if pr.field >= 0 && p.bad[pr.field] {
			continue // already reported, and its zero values would mislead
		}
		p.add(p.line(pr), pr)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.model, nil
}

// modelParser walks the YAML tree by hand so that every error can name its
// line, unknown keys are rejected and absent keys told from zero values.
type modelParser struct {
	file          string
	model         *Model
	modelLine     int
	keyLines      map[string]int   // model key -> line
	fieldLines    []int            // field index -> line
	fieldKeyLines []map[string]int // field index -> key -> line
	bad           map[int]bool     // fields with structural errors
	found         []located
}

// located is one error message with the line it is about.
type located struct {
	line int
	msg  string
}

// add records a problem at a line.
func (p *modelParser) add(line int, pr problem) {
	p.found = append(p.found, located{line, fmt.Sprintf("%s:%d: %s", p.file, line, p.model.describe(pr))})
}

// errorf records a problem found while reading the YAML structure; the
// field's own validation is then skipped.
func (p *modelParser) errorf(line, field int, format string, args ...any) {
	p.add(line, problem{field: field, msg: fmt.Sprintf(format, args...)})
	if field >= 0 {
		p.bad[field] = true
	}
}

// line finds the line of the key a validation problem is about.
func (p *modelParser) line(pr problem) int {
	if pr.field < 0 {
		if l, ok := p.keyLines[pr.key]; ok {
			return l
		}
		return p.modelLine
	}
	if l, ok := p.fieldKeyLines[pr.field][pr.key]; ok {
		return l
	}
	return p.fieldLines[pr.field]
}

// err joins the problems found, in line order.
func (p *modelParser) err() error {
	sort.SliceStable(p.found, func(i, j int) bool { return p.found[i].line < p.found[j].line })
	errs := make([]error, len(p.found))
	for i, l := range p.found {
		errs[i] = errors.New(l.msg)
	}
	return errors.Join(errs...)
}

// resolve follows aliases (bounded: yaml.v3 rejects alias cycles, but a
// hostile file must not loop).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 8 && n != nil && n.Kind == yaml.AliasNode; i++ {
		n = n.Alias
	}
	return n
}

// pair is one key of a mapping with its value.
type pair struct{ key, value *yaml.Node }

// pairs returns a mapping's keys in order, with YAML merge keys (<<: *x)
// expanded: merged keys come first and explicit keys override them.
func (p *modelParser) pairs(n *yaml.Node, field int) []pair {
	var merged, own []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if v == nil {
			continue
		}
		if k.Tag == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				s = resolve(s)
				if s == nil || s.Kind != yaml.MappingNode {
					p.errorf(k.Line, field, "merge key << needs a mapping")
					continue
				}
				for j := 0; j+1 < len(s.Content); j += 2 {
					if s.Content[j].Tag == "!!merge" {
						continue // one level of merging is enough for models
					}
					if v := resolve(s.Content[j+1]); v != nil {
						merged = append(merged, pair{s.Content[j], v})
					}
				}
			}
			continue
		}
		if seen[k.Value] {
			p.errorf(k.Line, field, "key %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{k, v})
	}
	out := own
	for _, m := range merged {
		if !seen[m.key.Value] {
			seen[m.key.Value] = true
			out = append(out, pair{m.key, m.value})
		}
	}
	return out
}

// parseModel reads the top-level mapping; false means the document is not
// a model at all.
func (p *modelParser) parseModel(root *yaml.Node) bool {
	if root == nil || root.Kind != yaml.MappingNode {
		line := 1
		if root != nil {
			line = root.Line
		}
		p.found = append(p.found, located{line, fmt.Sprintf("%s:%d: expected a mapping with name, manufacturer, description, source, max_registers and fields", p.file, line)})
		return false
	}
	p.modelLine = root.Line
	var fieldsNode *yaml.Node
	for _, kv := range p.pairs(root, -1) {
		k, v := kv.key, kv.value
		p.keyLines[k.Value] = k.Line
		switch k.Value {
		case "name":
			p.model.Name = p.str(v, -1, "name")
		case "manufacturer":
			p.model.Manufacturer = p.str(v, -1, "manufacturer")
		case "description":
			p.model.Description = p.str(v, -1, "description")
		case "source":
			p.model.Source = p.str(v, -1, "source")
		case "max_registers":
			n, _ := p.uint16(v, -1, "max_registers")
			if n == 0 && v.Kind == yaml.ScalarNode && v.Value != "" {
				p.errorf(v.Line, -1, "max_registers must be 1-%d", MaxRegistersPerRead)
			}
			p.model.MaxRegisters = n
		case "rated_kw":
			if r, ok := p.float(v, -1, "rated_kw"); ok {
				if r <= 0 {
					p.errorf(v.Line, -1, "rated_kw must be a positive number of kW, got %s", v.Value)
				}
				p.model.RatedKW = r
			}
		case "fields":
			fieldsNode = v
		default:
			p.errorf(k.Line, -1, "unknown key %q (expected name, manufacturer, description, source, max_registers, rated_kw or fields)", k.Value)
		}
	}
	if fieldsNode == nil {
		return true // problems() reports "no fields"
	}
	if fieldsNode.Kind != yaml.SequenceNode {
		p.errorf(fieldsNode.Line, -1, "fields must be a list")
		return false
	}
	for _, fn := range fieldsNode.Content {
		p.parseField(resolve(fn), fieldsNode.Line)
	}
	return true
}

func (p *modelParser) parseField(n *yaml.Node, listLine int) {
	i := len(p.model.Fields)
	p.model.Fields = append(p.model.Fields, Field{})
	line := listLine
	if n != nil {
		line = n.Line
	}
	p.fieldLines = append(p.fieldLines, line)
	keyLines := map[string]int{}
	p.fieldKeyLines = append(p.fieldKeyLines, keyLines)
	if n == nil || n.Kind != yaml.MappingNode {
		p.errorf(line, i, "a field must be a mapping (name, measurement, table, address, type, ...)")
		return
	}
	// Read the name first so that every other error can name the field.
	kvs := p.pairs(n, i)
	for _, kv := range kvs {
		if kv.key.Value == "name" {
			p.model.Fields[i].Name = p.str(kv.value, i, "name")
		}
	}
	f := &p.model.Fields[i]
	var hasAddress, hasScale bool
	for _, kv := range kvs {
		k, v := kv.key, kv.value
		keyLines[k.Value] = v.Line
		switch k.Value {
		case "name":
		case "measurement":
			f.Measurement = p.str(v, i, "measurement")
		case "table":
			f.Table = Table(p.str(v, i, "table"))
		case "address":
			f.Address, _ = p.uint16(v, i, "address")
			hasAddress = true
		case "type":
			f.Type = DataType(p.str(v, i, "type"))
		case "length":
			f.Length, _ = p.uint16(v, i, "length")
		case "byte_order":
			f.ByteOrder = p.str(v, i, "byte_order")
		case "scale":
			f.Scale, hasScale = p.float(v, i, "scale")
			if hasScale && f.Scale == 0 {
				p.errorf(v.Line, i, "scale must not be 0 (leave it out for 1)")
			}
		case "offset":
			f.Offset, _ = p.float(v, i, "offset")
		case "unit":
			f.Unit = p.str(v, i, "unit")
		case "counter":
			f.Counter = p.bool(v, i, "counter")
		case "modulus":
			f.Modulus, _ = p.float(v, i, "modulus")
		case "description":
			f.Description = p.str(v, i, "description")
		default:
			p.errorf(k.Line, i, "unknown key %q (expected name, measurement, table, address, type, length, byte_order, scale, offset, unit, counter, modulus or description)", k.Value)
		}
	}
	if !hasAddress {
		p.errorf(line, i, "missing address (the PDU address, counted from 0)")
	}
	if !hasScale && f.Type.numeric() {
		f.Scale = 1
	}
}

// scalar returns the node's text, recording an error if it is not a scalar.
func (p *modelParser) scalar(v *yaml.Node, field int, key string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v.Line, field, "%s must be a single value", key)
		return "", false
	}
	return v.Value, true
}

func (p *modelParser) str(v *yaml.Node, field int, key string) string {
	s, _ := p.scalar(v, field, key)
	return s
}

func (p *modelParser) uint16(v *yaml.Node, field int, key string) (uint16, bool) {
	s, ok := p.scalar(v, field, key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		p.errorf(v.Line, field, "invalid %s %q (expected an integer 0-65535, decimal or 0x hex)", key, s)
		return 0, false
	}
	return uint16(n), true
}

func (p *modelParser) float(v *yaml.Node, field int, key string) (float64, bool) {
	s, ok := p.scalar(v, field, key)
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		p.errorf(v.Line, field, "invalid %s %q (expected a finite number)", key, s)
		return 0, false
	}
	return x, true
}

func (p *modelParser) bool(v *yaml.Node, field int, key string) bool {
	s, ok := p.scalar(v, field, key)
	if !ok {
		return false
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	p.errorf(v.Line, field, "invalid %s %q (expected true or false)", key, s)
	return false
}
