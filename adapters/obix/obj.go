package obix

import (
	"fmt"
	"net/url"
	"strings"
)

// Namespace is the oBIX XML namespace. Servers of both spec versions, 1.0 and
// 1.1, use it in practice (notes §4.1).
const Namespace = "http://obix.org/ns/schema/1.0"

// Element names of the oBIX object model (notes §4.1).
const (
	KindObj     = "obj"
	KindBool    = "bool"
	KindInt     = "int"
	KindReal    = "real"
	KindStr     = "str"
	KindEnum    = "enum"
	KindAbstime = "abstime"
	KindReltime = "reltime"
	KindDate    = "date"
	KindTime    = "time"
	KindURI     = "uri"
	KindList    = "list"
	KindOp      = "op"
	KindFeed    = "feed"
	KindRef     = "ref"
	KindErr     = "err"
)

// Contracts of the oBIX standard library that this package reads or writes.
const (
	ContractLobby           = "obix:Lobby"
	ContractPoint           = "obix:Point"
	ContractWatchService    = "obix:WatchService"
	ContractWatch           = "obix:Watch"
	ContractAbout           = "obix:About"
	ContractBatchIn         = "obix:BatchIn"
	ContractHistory         = "obix:History"
	ContractHistoryFilter   = "obix:HistoryFilter"
	ContractHistoryRecord   = "obix:HistoryRecord"
	ContractHistoryQueryOut = "obix:HistoryQueryOut"
	ContractWatchIn         = "obix:WatchIn"
	ContractAlarmSubject    = "obix:AlarmSubject"
)

// Obj is one element of an oBIX document with its children. Kind is the
// element name without namespace prefix; attributes are kept as the server
// sent them (strings), typed access goes through ValueOf and the parse
// helpers. Unknown attributes (Niagara's icon, xsi:schemaLocation, ...) are
// dropped, unknown elements are kept with their name as Kind.
type Obj struct {
	Kind        string
	Name        string
	Href        string
	Is          string // space-separated contract list
	Val         string
	Null        bool
	Unit        string // e.g. "obix:units/kilowatt"
	Display     string
	DisplayName string
	Min         string
	Max         string
	Status      string
	TZ          string
	Writable    bool
	Of          string // list and feed item contract
	In          string // op and feed input contract
	Out         string // op output contract
	Range       string // enum range
	Precision   string
	Children    []*Obj

	// abs is Href resolved against the document (see Resolve).
	abs string
}

// valueKinds are the elements that carry a value in val.
var valueKinds = map[string]bool{
	KindBool: true, KindInt: true, KindReal: true, KindStr: true, KindEnum: true,
	KindAbstime: true, KindReltime: true, KindDate: true, KindTime: true, KindURI: true,
}

// knownKinds are all elements of the oBIX 1.1 object model.
var knownKinds = map[string]bool{
	KindObj: true, KindBool: true, KindInt: true, KindReal: true, KindStr: true,
	KindEnum: true, KindAbstime: true, KindReltime: true, KindDate: true, KindTime: true,
	KindURI: true, KindList: true, KindOp: true, KindFeed: true, KindRef: true, KindErr: true,
}

// IsValue reports whether o is a value element (bool, int, real, str, enum,
// abstime, reltime, date, time or uri).
func (o *Obj) IsValue() bool { return o != nil && valueKinds[o.Kind] }

// Child returns the first child named name, or nil.
func (o *Obj) Child(name string) *Obj {
	if o == nil || name == "" {
		return nil
	}
	for _, c := range o.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// childOr returns the child named name or, when there is none, the first
// unnamed child of the given kind: IoTSyS leaves children unnamed where the
// spec names them (notes §4.3, §4.5 item 3).
func (o *Obj) childOr(name, kind string) *Obj {
	if c := o.Child(name); c != nil {
		return c
	}
	for _, c := range o.Children {
		if c.Name == "" && c.Kind == kind {
			return c
		}
	}
	return nil
}

// firstOfKind returns the first child of the kind, named or not.
func (o *Obj) firstOfKind(kind string) *Obj {
	for _, c := range o.Children {
		if c.Kind == kind {
			return c
		}
	}
	return nil
}

// Contracts returns the contract list of is, with server-specific prefixes
// removed: Niagara writes "/obix/def/control:NumericPoint" where the spec
// writes "control:NumericPoint" (notes §4.2, §4.4).
func (o *Obj) Contracts() []string {
	if o == nil {
		return nil
	}
	fields := strings.Fields(o.Is)
	for i, f := range fields {
		fields[i] = normalizeContract(f)
	}
	return fields
}

// Implements reports whether contract (e.g. "obix:Watch") is in o's is list.
func (o *Obj) Implements(contract string) bool {
	for _, c := range o.Contracts() {
		if c == contract {
			return true
		}
	}
	return false
}

// normalizeContract strips a path before a prefixed contract name:
// "/obix/def/obix:Point" and "obix:Point" are the same contract.
func normalizeContract(c string) string {
	if i := strings.LastIndexByte(c, '/'); i >= 0 && strings.Contains(c[i+1:], ":") {
		return c[i+1:]
	}
	return c
}

// contractListHas reports whether a space-separated contract list (an op's
// in or out, a list's of) names contract.
func contractListHas(list, contract string) bool {
	for _, f := range strings.Fields(list) {
		if normalizeContract(f) == contract {
			return true
		}
	}
	return false
}

// AbsHref is Href resolved against the document it came from, as set by
// Resolve (the Client resolves every document it returns); Href itself when
// the document was not resolved, "" when the element has no href.
func (o *Obj) AbsHref() string {
	if o == nil || o.Href == "" {
		return ""
	}
	if o.abs != "" {
		return o.abs
	}
	return o.Href
}

// Resolve resolves every href of the tree by RFC 3986 rules against base,
// the URL the document was fetched from (notes §4.5 item 5):
//
//   - Each element's href resolves against its nearest ancestor with an
//     href, so nested relative hrefs chain as in the spec's examples (a
//     watch's "lease/" under the watch, Niagara's "~historyQuery/" under its
//     history, "out/" under a point inside a BatchOut).
//   - Every href is taken to name the server that sent the document: an
//     absolute href with another scheme or host is moved onto base's.
//     Niagara writes the name it believes it has ("https://localhost/obix/…"
//     in the captures), not necessarily one the client can reach it by.
//   - A root whose own href is relative ("obix/" on IoTSyS's lobby) is no
//     base for its children, which resolve against base instead: IoTSyS
//     means "watchService" on the lobby fetched from http://host:8080/obix
//     as http://host:8080/watchService.
//
// An href that does not parse is left as is.
func (o *Obj) Resolve(base string) error {
	b, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("resolve against %q: %w", base, err)
	}
	o.resolve(b)
	return nil
}

func (o *Obj) resolve(base *url.URL) {
	// Iterative, so that a deep document cannot exhaust the stack.
	type item struct {
		o    *Obj
		base *url.URL
	}
	stack := []item{{o, base}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		b := it.base
		if it.o.Href != "" {
			if ref, err := url.Parse(it.o.Href); err == nil {
				u := b.ResolveReference(ref)
				if u.Scheme != base.Scheme || u.Host != base.Host {
					v := *u
					v.Scheme, v.Host, v.User = base.Scheme, base.Host, base.User
					u = &v
				}
				it.o.abs = u.String()
				if it.o != o || ref.IsAbs() || strings.HasPrefix(ref.Path, "/") {
					b = u
				}
			}
		}
		for i := len(it.o.Children) - 1; i >= 0; i-- {
			stack = append(stack, item{it.o.Children[i], b})
		}
	}
}

// Err returns o as an *Error when o is an <err> element, nil otherwise.
func (o *Obj) Err() error {
	if o == nil || o.Kind != KindErr {
		return nil
	}
	return newError(o)
}

// walk calls fn for o and every descendant, depth first in document order,
// without recursion; fn returning false skips the element's children.
func (o *Obj) walk(fn func(*Obj) bool) {
	stack := []*Obj{o}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !fn(n) {
			continue
		}
		for i := len(n.Children) - 1; i >= 0; i-- {
			stack = append(stack, n.Children[i])
		}
	}
}

// displayStatus extracts the status a server put only into display (notes
// §4.2, §4.5 item 7): Niagara writes "6.9 {ok}", "50.0 {ok} @ def",
// "- {null}", "72 {overridden} @ 8". The text between the last braces is the
// status; "down,alarm" lists several.
func displayStatus(display string) string {
	end := strings.LastIndexByte(display, '}')
	if end < 0 {
		return ""
	}
	start := strings.LastIndexByte(display[:end], '{')
	if start < 0 {
		return ""
	}
	return strings.TrimSpace(display[start+1 : end])
}

// StatusOf is o's status: the status attribute, else the status Niagara puts
// into display, else "null" for a null value, else "ok" (the spec's default).
func StatusOf(o *Obj) string {
	switch {
	case o.Status != "":
		return o.Status
	case displayStatus(o.Display) != "":
		return displayStatus(o.Display)
	case o.Null:
		return "null"
	}
	return "ok"
}
