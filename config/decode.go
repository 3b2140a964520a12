package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder fills a Config from a yaml.Node tree by the fields' yaml tags. It
// remembers the line of every field it meets, so that later checks can
// name it, and reports every key and value it cannot use; a value it
// cannot use leaves the field's default in place.
type decoder struct {
	lines map[string]int  // field path -> line of its key or scalar value
	bad   map[string]bool // paths already reported; checks skip them
	probs Problems        // Line set, File not yet
}

func newDecoder() *decoder {
	return &decoder{lines: map[string]int{}, bad: map[string]bool{}}
}

// failAt records a problem at an explicit line.
func (d *decoder) failAt(path string, line int, format string, args ...any) {
	d.bad[path] = true
	d.probs = append(d.probs, Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fail records a problem at the line of path, or of its nearest parent.
func (d *decoder) fail(path string, format string, args ...any) {
	d.failAt(path, d.lineOf(path), format, args...)
}

// lineOf is the line of path or, for a field the file leaves out, of the
// nearest mapping or list that holds it.
func (d *decoder) lineOf(path string) int {
	for {
		if line, ok := d.lines[path]; ok {
			return line
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// reported says whether path or one of its parents already has a problem,
// so that a value that could not be read is not reported a second time by
// the checks of what it left behind.
func (d *decoder) reported(path string) bool {
	for {
		if d.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// yamlLine finds the line in the messages of yaml.v3's syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads the one document of data. A file that is empty or not
// YAML is a single problem.
func parseYAML(data []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, &Problem{Line: 1, Msg: "the file is empty (expected at least site: name: ...)"}
	}
	if err != nil {
		return nil, syntaxProblem(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxProblem(err)
	case len(next.Content) > 0:
		return nil, &Problem{Line: next.Content[0].Line, Msg: "a second YAML document (expected one document)"}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, &Problem{Line: 1, Msg: "the file is empty (expected at least site: name: ...)"}
	}
	return doc.Content[0], nil
}

func syntaxProblem(err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return &Problem{Line: line, Msg: "invalid YAML: " + msg + " (expected YAML syntax)"}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolveAlias(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a value in a message. Only scalar values of non-secret
// fields reach it (strings take any scalar), so it never prints a token.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return strconv.Quote(n.Value)
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// decode sets v from n. A null value (a key with nothing after it) leaves
// the default.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	if v.Type() == reflect.TypeFor[*yaml.Node]() {
		if n.Kind != yaml.MappingNode {
			d.fail(path, "%s is not a mapping (expected the section's settings)", describe(n))
			return
		}
		v.Set(reflect.ValueOf(n))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	case reflect.Map:
		d.stringMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, "%s is not a single value (expected a string)", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		d.integer(n, v, path)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(path, "%s is not a number (expected e.g. 70 or 12.5)", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.fail(path, "%s is not true or false (expected a boolean)", describe(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("config: no decoder for %s (%s)", v.Type(), path))
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "%s is not a duration (expected e.g. 10s)", describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(path, "%s is not a duration (expected e.g. 10s)", describe(n))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "%s is not an integer (expected a whole number)", describe(n))
		return
	}
	var i int64
	if err := n.Decode(&i); err != nil {
		var perr error
		if i, perr = strconv.ParseInt(n.Value, 10, 64); perr != nil {
			d.fail(path, "%s is not an integer (expected a whole number)", describe(n))
			return
		}
	}
	if v.OverflowInt(i) {
		d.fail(path, "%d is out of range (expected a smaller number)", i)
		return
	}
	v.SetInt(i)
}

// structure fills a struct from a mapping; every key must name a field.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = yamlKey(t.Field(i))
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, "%s is not a mapping (expected keys: %s)", describe(n), strings.Join(keys, ", "))
		return
	}
	for _, p := range d.pairs(n, path) {
		fieldPath := joinPath(path, p.key.Value)
		i := indexOf(keys, p.key.Value)
		if i < 0 {
			d.failAt(fieldPath, p.key.Line, "unknown key (expected one of: %s)", strings.Join(keys, ", "))
			continue
		}
		d.lines[fieldPath] = valueLine(p)
		d.decode(p.val, v.Field(i), fieldPath)
	}
}

// list fills a slice from a sequence; structs start from their defaults.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, "%s is not a list (expected a list of - items)", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		d.lines[itemPath] = item.Line
		elem := elemDefault(v.Type().Elem())
		d.decode(item, elem, itemPath)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

// stringMap fills a map[string]string (tags) from a mapping of scalars.
func (d *decoder) stringMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "%s is not a mapping (expected key: value pairs)", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, path) {
		keyPath := joinPath(path, p.key.Value)
		d.lines[keyPath] = valueLine(p)
		val := resolveAlias(p.val)
		switch {
		case isNull(val):
			m.SetMapIndex(reflect.ValueOf(p.key.Value), reflect.ValueOf(""))
		case val.Kind != yaml.ScalarNode:
			d.fail(keyPath, "%s is not a single value (expected a string)", describe(val))
		default:
			m.SetMapIndex(reflect.ValueOf(p.key.Value), reflect.ValueOf(val.Value))
		}
	}
	v.Set(m)
}

type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's keys and values, reporting keys that are not
// plain names or appear twice. Merge keys (<<: *anchor) are honoured: keys
// the mapping sets itself override merged ones.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(v, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.failAt(path, k.Line, "%s is not a key (expected a name)", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.failAt(joinPath(path, k.Value), k.Line, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, pair{k, v})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key.Line
			own = append(own, p)
		}
	}
	return own
}

func (d *decoder) mergePairs(v *yaml.Node, path string) []pair {
	src := resolveAlias(v)
	switch src.Kind {
	case yaml.MappingNode:
		return d.pairs(src, path)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range src.Content {
			out = append(out, d.mergePairs(item, path)...)
		}
		return out
	default:
		d.failAt(path, v.Line, "<< merges %s (expected a mapping or an alias of one)", describe(src))
		return nil
	}
}

// valueLine is where a field's problems point: the value for a scalar
// (it may sit on the next line), the key for a mapping or list.
func valueLine(p pair) int {
	if p.val.Kind == yaml.ScalarNode || p.val.Kind == yaml.AliasNode {
		return p.val.Line
	}
	return p.key.Line
}

func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func indexOf(keys []string, key string) int {
	for i, k := range keys {
		if k == key {
			return i
		}
	}
	return -1
}

// elemDefault is a new list element: devices and hosts start from their
// defaults, anything else from zero.
func elemDefault(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch t {
	case reflect.TypeFor[ModbusDevice]():
		v.Set(reflect.ValueOf(DefaultModbusDevice()))
	case reflect.TypeFor[LibvirtHost]():
		v.Set(reflect.ValueOf(DefaultLibvirtHost()))
	case reflect.TypeFor[ObixGateway]():
		v.Set(reflect.ValueOf(DefaultObixGateway()))
	}
	return v
}
