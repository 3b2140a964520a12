package obix

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds element nesting. Real documents nest a few levels (a
// WatchOut holding a Niagara point holding its slots is four); the bound
// keeps hostile input from growing the stack of open elements without limit.
const maxDepth = 256

// Parse decodes one oBIX document into an Obj tree.
//
// It tolerates what real servers send (notes §4.5): the <?xml-stylesheet?>
// processing instruction and xsi:schemaLocation of Niagara, the oBIX
// namespace as default, with a prefix (<o:real>) or not at all, children in
// any order and without names, ISO-8859-1 documents. Text content is ignored:
// oBIX carries values in attributes.
//
// A document whose root is <err> is returned as an *Error naming the err's
// href and contract (obix:BadUriErr, obix:UnsupportedErr, obix:PermissionErr).
func Parse(r io.Reader) (*Obj, error) {
	root, err := parseTree(r)
	if err != nil {
		return nil, err
	}
	if root.Kind == KindErr {
		return nil, newError(root)
	}
	return root, nil
}

// parseTree is Parse without turning an <err> root into an error.
func parseTree(r io.Reader) (*Obj, error) {
	d := xml.NewDecoder(r)
	d.CharsetReader = charsetReader
	var (
		root  *Obj
		stack []*Obj
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse oBIX document: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && root != nil {
				return nil, fmt.Errorf("parse oBIX document: second root element <%s> after <%s>", t.Name.Local, root.Kind)
			}
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("parse oBIX document: elements nested deeper than %d", maxDepth)
			}
			o := newObj(t)
			if len(stack) == 0 {
				if !knownKinds[o.Kind] {
					return nil, fmt.Errorf("parse oBIX document: root element <%s> is not an oBIX object", clip(t.Name.Local, 40))
				}
				root = o
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, o)
			}
			stack = append(stack, o)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if root == nil {
		return nil, errors.New("parse oBIX document: no oBIX element")
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("parse oBIX document: unexpected end inside <%s>", stack[len(stack)-1].Kind)
	}
	return root, nil
}

// newObj builds an Obj from a start element. Attributes are matched by local
// name when they are unqualified or in the oBIX namespace, so that a prefixed
// document reads like an unprefixed one; attributes of other namespaces
// (xsi:schemaLocation) are ignored.
func newObj(t xml.StartElement) *Obj {
	o := &Obj{Kind: t.Name.Local}
	for _, a := range t.Attr {
		if a.Name.Space != "" && a.Name.Space != Namespace {
			continue
		}
		switch a.Name.Local {
		case "name":
			o.Name = a.Value
		case "href":
			o.Href = strings.TrimSpace(a.Value)
		case "is":
			o.Is = a.Value
		case "val":
			o.Val = a.Value
		case "null":
			o.Null = strings.TrimSpace(a.Value) == "true"
		case "unit":
			o.Unit = strings.TrimSpace(a.Value)
		case "display":
			o.Display = a.Value
		case "displayName":
			o.DisplayName = a.Value
		case "min":
			o.Min = a.Value
		case "max":
			o.Max = a.Value
		case "status":
			o.Status = strings.TrimSpace(a.Value)
		case "tz":
			o.TZ = strings.TrimSpace(a.Value)
		case "writable":
			o.Writable = strings.TrimSpace(a.Value) == "true"
		case "of":
			o.Of = a.Value
		case "in":
			o.In = a.Value
		case "out":
			o.Out = a.Value
		case "range":
			o.Range = a.Value
		case "precision":
			o.Precision = a.Value
		}
	}
	return o
}

// charsetReader lets documents declare ISO-8859-1 (or US-ASCII) besides
// UTF-8; embedded gateways still produce Latin-1 display names ("°C").
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1":
		return &latin1Reader{r: input}, nil
	}
	return nil, fmt.Errorf("unsupported document encoding %q (want UTF-8 or ISO-8859-1)", clip(charset, 40))
}

// latin1Reader converts ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r   io.Reader
	buf []byte // converted bytes not yet returned
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(l.buf) == 0 {
		raw := make([]byte, max(len(p)/2, 1))
		n, err := l.r.Read(raw)
		for _, b := range raw[:n] {
			l.buf = utf8.AppendRune(l.buf, rune(b))
		}
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

// Encode writes o as an XML document in the oBIX namespace.
func Encode(w io.Writer, o *Obj) error {
	e := xml.NewEncoder(w)
	if err := encodeObj(e, o, true); err != nil {
		return fmt.Errorf("encode <%s>: %w", o.Kind, err)
	}
	if err := e.Flush(); err != nil {
		return fmt.Errorf("encode <%s>: %w", o.Kind, err)
	}
	return nil
}

// encodeBytes is Encode into a byte slice.
func encodeBytes(o *Obj) ([]byte, error) {
	var b bytes.Buffer
	if err := Encode(&b, o); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeObj(e *xml.Encoder, o *Obj, root bool) error {
	if o.Kind == "" || !isXMLName(o.Kind) {
		return fmt.Errorf("invalid element name %q", o.Kind)
	}
	start := xml.StartElement{Name: xml.Name{Local: o.Kind}}
	if root {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: Namespace})
	}
	add := func(name, val string) {
		if val != "" {
			start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: name}, Value: val})
		}
	}
	add("name", o.Name)
	add("href", o.Href)
	add("is", o.Is)
	add("of", o.Of)
	add("in", o.In)
	add("out", o.Out)
	// val="" is meaningful for a str, so value kinds always carry val
	// unless they are null.
	if o.Val != "" || (valueKinds[o.Kind] && !o.Null) {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "val"}, Value: o.Val})
	}
	if o.Null {
		add("null", "true")
	}
	add("unit", o.Unit)
	add("min", o.Min)
	add("max", o.Max)
	add("precision", o.Precision)
	add("range", o.Range)
	add("tz", o.TZ)
	add("status", o.Status)
	add("display", o.Display)
	add("displayName", o.DisplayName)
	if o.Writable {
		add("writable", "true")
	}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, c := range o.Children {
		if err := encodeObj(e, c, false); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// isXMLName reports whether s is a plain element name (letters, digits,
// '_', '-', '.'), enough for oBIX kinds.
func isXMLName(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
