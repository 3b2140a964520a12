package obix

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is the in-process oBIX server the tests run against: no oBIX
// server can be installed here (notes §0 item 6, §4.6). It serves the case
// folder's documents verbatim for the routes a script declares and
// implements the stateful parts itself: batch, the watch service with
// leases on a clock the script moves, history queries with a page cap, and
// writes. Every request must carry basic auth obix/secret.
type fakeServer struct {
	t   testing.TB
	dir string
	srv *httptest.Server

	mu         sync.Mutex
	now        time.Time
	routes     map[string]fakeRoute  // "GET /obix/" -> document
	points     map[string]*fakePoint // path -> current object
	watches    map[string]*fakeWatch // id -> watch
	nextWatch  int
	leaseDef   time.Duration
	leaseMax   time.Duration
	histories  map[string][]fakeRecord // history path -> records, oldest first
	historyCap int                     // records per query answer, 0 = no cap
	unit       map[string]string       // history path -> unit of its values
	lose       int                     // answers to replace by a 502 after doing the work
	down       int                     // requests to refuse with a 503 without doing anything
	onDown     func(time.Time)         // called, under mu, for each request refused by down
	log        []string
}

type fakeRoute struct {
	file   string
	status int
}

type fakePoint struct {
	obj      *Obj
	ver      int
	modified bool // serve the encoded obj instead of the file
}

type fakeWatch struct {
	id      string
	lease   time.Duration
	contact time.Time
	hrefs   []string       // paths
	sent    map[string]int // path -> version last sent
}

type fakeRecord struct {
	t      time.Time
	v      string // "null" for a null value
	status string // "" for none
}

const (
	fakeUser = "obix"
	fakePass = "secret"
)

func newFakeServer(t testing.TB, dir string, tls bool) *fakeServer {
	f := &fakeServer{
		t:         t,
		dir:       dir,
		now:       time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC),
		routes:    map[string]fakeRoute{},
		points:    map[string]*fakePoint{},
		watches:   map[string]*fakeWatch{},
		leaseDef:  4 * time.Minute, // Niagara's default (notes §4.4)
		leaseMax:  24 * time.Hour,
		histories: map[string][]fakeRecord{},
		unit:      map[string]string{},
	}
	if tls {
		f.srv = httptest.NewTLSServer(f)
	} else {
		f.srv = httptest.NewServer(f)
	}
	t.Cleanup(f.srv.Close)
	return f
}

// serve declares a static document; a GET of a document holding a value
// object also makes it a point for batch, watch and write.
func (f *fakeServer) serve(method, path, file string, status int) error {
	data, err := os.ReadFile(filepath.Join(f.dir, file))
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" "+path] = fakeRoute{file: file, status: status}
	if method == http.MethodGet && status == http.StatusOK {
		if o, err := Parse(bytes.NewReader(data)); err == nil {
			f.points[path] = &fakePoint{obj: o, ver: 1}
		}
	}
	return nil
}

// loadHistory reads "timestamp value [status]" lines for the history at
// path; the value "null" makes a null record.
func (f *fakeServer) loadHistory(path, file, unit string) error {
	fh, err := os.Open(filepath.Join(f.dir, file))
	if err != nil {
		return err
	}
	defer fh.Close()
	var recs []fakeRecord
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ts, v, ok := strings.Cut(line, " ")
		if !ok {
			return fmt.Errorf("%s: bad record %q", file, line)
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		v, status, _ := strings.Cut(strings.TrimSpace(v), " ")
		recs = append(recs, fakeRecord{t: t, v: v, status: strings.TrimSpace(status)})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.histories[path] = recs
	f.unit[path] = unit
	return sc.Err()
}

// set changes a point's value as the building would.
func (f *fakeServer) set(path, val string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.points[path]
	if p == nil {
		return fmt.Errorf("no point %s", path)
	}
	switch val {
	case "null":
		p.obj.Null = true
	default:
		p.obj.Null = false
		p.obj.Val = val
	}
	p.ver++
	p.modified = true
	return nil
}

func (f *fakeServer) setStatus(path, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.points[path]
	if p == nil {
		return fmt.Errorf("no point %s", path)
	}
	p.obj.Status = status
	p.ver++
	p.modified = true
	return nil
}

func (f *fakeServer) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// requests returns and clears the request log.
func (f *fakeServer) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.log
	f.log = nil
	return l
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	if f.down > 0 {
		// An outage between the client and the gateway: nothing is done.
		f.down--
		if f.onDown != nil {
			f.onDown(time.Now())
		}
		http.Error(w, "gateway unreachable", http.StatusServiceUnavailable)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != fakeUser || p != fakePass {
		w.Header().Set("WWW-Authenticate", `Basic realm="obix"`)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "<html><body><h1>401 Unauthorized</h1></body></html>")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f.lose > 0 {
		// The request is carried out, its answer lost on the way back.
		f.lose--
		defer http.Error(w, "upstream answer lost", http.StatusBadGateway)
		w = httptest.NewRecorder()
	}
	path := r.URL.Path
	if rt, ok := f.routes[r.Method+" "+path]; ok {
		if p := f.points[path]; p != nil && p.modified && r.Method == http.MethodGet {
			f.writeObj(w, p.obj)
			return
		}
		data, err := os.ReadFile(filepath.Join(f.dir, rt.file))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(rt.status)
		w.Write(data)
		return
	}
	switch {
	case r.Method == http.MethodPost && path == "/obix/batch/":
		f.batch(w, body)
	case r.Method == http.MethodPost && path == "/obix/watchService/make/":
		f.makeWatch(w)
	case strings.HasPrefix(path, "/obix/watchService/watch"):
		f.watchOp(w, r.Method, path, body)
	case r.Method == http.MethodPut && f.points[path] != nil:
		f.write(w, path, body)
	case r.Method == http.MethodPost && strings.HasSuffix(path, "~historyQuery/"):
		f.historyQuery(w, strings.TrimSuffix(path, "~historyQuery/"), body)
	default:
		f.writeStatus(w, http.StatusNotFound, &Obj{Kind: KindErr, Is: BadUriErr, Href: path, Display: "no object at " + path})
	}
}

func (f *fakeServer) writeObj(w http.ResponseWriter, o *Obj) {
	f.writeStatus(w, http.StatusOK, o)
}

func (f *fakeServer) writeStatus(w http.ResponseWriter, status int, o *Obj) {
	var b bytes.Buffer
	if err := Encode(&b, o); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// inline is a point as it appears inside a BatchOut or WatchOut: with a
// rooted href, as Niagara sends them (notes §4.4).
func (f *fakeServer) inline(path string) *Obj {
	p := f.points[path]
	if p == nil {
		return &Obj{Kind: KindErr, Is: BadUriErr, Href: path, Display: "no object at " + path}
	}
	o := *p.obj
	o.Href = path
	return &o
}

// uriPath turns a uri val (a path or an absolute URL) into a path.
func uriPath(val string) string {
	u, err := url.Parse(val)
	if err != nil {
		return val
	}
	return u.Path
}

func (f *fakeServer) batch(w http.ResponseWriter, body []byte) {
	in, err := Parse(bytes.NewReader(body))
	if err != nil || !in.Implements(ContractBatchIn) {
		f.writeStatus(w, http.StatusBadRequest, &Obj{Kind: KindErr, Is: UnsupportedErr, Display: fmt.Sprintf("not a BatchIn: %v", err)})
		return
	}
	out := &Obj{Kind: KindList, Of: "obix:BatchOut"}
	for _, u := range in.Children {
		if u.Kind != KindURI || u.Is != "obix:Read" {
			out.Children = append(out.Children, &Obj{Kind: KindErr, Is: UnsupportedErr, Href: u.Val})
			continue
		}
		out.Children = append(out.Children, f.inline(uriPath(u.Val)))
	}
	f.writeObj(w, out)
}

func (f *fakeServer) write(w http.ResponseWriter, path string, body []byte) {
	p := f.points[path]
	in, err := Parse(bytes.NewReader(body))
	switch {
	case err != nil:
		f.writeStatus(w, http.StatusBadRequest, &Obj{Kind: KindErr, Is: UnsupportedErr, Href: path, Display: err.Error()})
		return
	case !p.obj.Writable:
		f.writeObj(w, &Obj{Kind: KindErr, Is: PermissionErr, Href: path, Display: path + " is read-only"})
		return
	case in.Kind != p.obj.Kind:
		f.writeObj(w, &Obj{Kind: KindErr, Is: UnsupportedErr, Href: path, Display: fmt.Sprintf("cannot write <%s> to <%s>", in.Kind, p.obj.Kind)})
		return
	}
	p.obj.Val, p.obj.Null = in.Val, false
	p.ver++
	p.modified = true
	f.writeObj(w, p.obj)
}

func (f *fakeServer) watchObj(wt *fakeWatch) *Obj {
	base := f.srv.URL + "/obix/watchService/" + wt.id + "/"
	op := func(name, in, out string) *Obj {
		return &Obj{Kind: KindOp, Name: name, Href: base + name + "/", In: in, Out: out}
	}
	// Shaped like Niagara's (notes §4.4 fixture C): absolute hrefs.
	return &Obj{Kind: KindObj, Href: base, Is: ContractWatch, Display: "Obix Watch", Children: []*Obj{
		{Kind: KindReltime, Name: "lease", Val: FormatReltime(wt.lease), Href: base + "lease/", DisplayName: "Lease", Writable: true},
		op("add", "obix:WatchIn", "obix:WatchOut"),
		op("remove", "obix:WatchIn", "obix:Nil"),
		op("pollChanges", "obix:Nil", "obix:WatchOut"),
		op("pollRefresh", "obix:Nil", "obix:WatchOut"),
		op("delete", "obix:Nil", "obix:Nil"),
	}}
}

func (f *fakeServer) makeWatch(w http.ResponseWriter) {
	f.nextWatch++
	wt := &fakeWatch{id: fmt.Sprintf("watch%d", f.nextWatch), lease: f.leaseDef, contact: f.now, sent: map[string]int{}}
	f.watches[wt.id] = wt
	f.writeObj(w, f.watchObj(wt))
}

func (f *fakeServer) watchOp(w http.ResponseWriter, method, path string, body []byte) {
	rest := strings.TrimPrefix(path, "/obix/watchService/")
	id, op, _ := strings.Cut(rest, "/")
	op = strings.TrimSuffix(op, "/")
	wt := f.watches[id]
	if wt != nil && f.now.Sub(wt.contact) > wt.lease {
		delete(f.watches, id) // the lease ran out
		wt = nil
	}
	if wt == nil {
		f.writeObj(w, &Obj{Kind: KindErr, Is: BadUriErr, Href: path, Display: "no watch " + id})
		return
	}
	wt.contact = f.now
	switch {
	case method == http.MethodGet && op == "":
		f.writeObj(w, f.watchObj(wt))
	case method == http.MethodPut && op == "lease":
		in, err := Parse(bytes.NewReader(body))
		if err != nil || in.Kind != KindReltime {
			f.writeObj(w, &Obj{Kind: KindErr, Is: UnsupportedErr, Href: path, Display: "want a reltime"})
			return
		}
		d, err := ParseReltime(in.Val)
		if err != nil {
			f.writeObj(w, &Obj{Kind: KindErr, Is: UnsupportedErr, Href: path, Display: err.Error()})
			return
		}
		wt.lease = min(d, f.leaseMax)
		f.writeObj(w, &Obj{Kind: KindReltime, Name: "lease", Href: f.srv.URL + path, Val: FormatReltime(wt.lease), Writable: true})
	case method == http.MethodPost && (op == "add" || op == "remove"):
		in, err := Parse(bytes.NewReader(body))
		if err != nil || in.Child("hrefs") == nil {
			f.writeObj(w, &Obj{Kind: KindErr, Is: UnsupportedErr, Href: path, Display: "want a WatchIn"})
			return
		}
		var paths []string
		for _, u := range in.Child("hrefs").Children {
			paths = append(paths, uriPath(u.Val))
		}
		if op == "remove" {
			wt.hrefs = slices.DeleteFunc(wt.hrefs, func(p string) bool { return slices.Contains(paths, p) })
			w.WriteHeader(http.StatusOK)
			return
		}
		for _, p := range paths {
			if !slices.Contains(wt.hrefs, p) {
				wt.hrefs = append(wt.hrefs, p)
			}
		}
		f.writeObj(w, f.watchOut(wt, paths))
	case method == http.MethodPost && op == "pollChanges":
		var changed []string
		for _, p := range wt.hrefs {
			if pt := f.points[p]; pt != nil && pt.ver != wt.sent[p] {
				changed = append(changed, p)
			}
		}
		f.writeObj(w, f.watchOut(wt, changed))
	case method == http.MethodPost && op == "pollRefresh":
		f.writeObj(w, f.watchOut(wt, wt.hrefs))
	case method == http.MethodPost && op == "delete":
		delete(f.watches, id)
		w.WriteHeader(http.StatusOK)
	default:
		f.writeObj(w, &Obj{Kind: KindErr, Is: BadUriErr, Href: path})
	}
}

func (f *fakeServer) watchOut(wt *fakeWatch, paths []string) *Obj {
	list := &Obj{Kind: KindList, Name: "values", Of: "obix:obj"}
	for _, p := range paths {
		list.Children = append(list.Children, f.inline(p))
		if pt := f.points[p]; pt != nil {
			wt.sent[p] = pt.ver
		}
	}
	return &Obj{Kind: KindObj, Is: "obix:WatchOut", Children: []*Obj{list}}
}

// historyQuery answers like Niagara (notes §4.3 fixture B): the data list
// first, then count, start and end, then the #RecordDef prototype; at most
// historyCap records, whatever the filter's limit.
func (f *fakeServer) historyQuery(w http.ResponseWriter, hist string, body []byte) {
	recs, ok := f.histories[hist]
	if !ok {
		f.writeStatus(w, http.StatusNotFound, &Obj{Kind: KindErr, Is: BadUriErr, Href: hist + "~historyQuery/"})
		return
	}
	in, err := Parse(bytes.NewReader(body))
	if err != nil || !in.Implements(ContractHistoryFilter) {
		f.writeObj(w, &Obj{Kind: KindErr, Is: UnsupportedErr, Display: "want a HistoryFilter"})
		return
	}
	bound := func(name string) (time.Time, bool) {
		c := in.Child(name)
		if c == nil || c.Null {
			return time.Time{}, false
		}
		t, err := ParseAbstime(c.Val, c.TZ)
		return t, err == nil
	}
	start, hasStart := bound("start")
	end, hasEnd := bound("end")
	limit := 0
	if c := in.Child("limit"); c != nil && !c.Null {
		limit, _ = strconv.Atoi(c.Val)
	}
	if f.historyCap > 0 && (limit == 0 || limit > f.historyCap) {
		limit = f.historyCap
	}
	data := &Obj{Kind: KindList, Name: "data", Of: "#RecordDef obix:HistoryRecord"}
	var first, last time.Time
	for _, r := range recs {
		if hasStart && r.t.Before(start) || hasEnd && r.t.After(end) {
			continue
		}
		if limit > 0 && len(data.Children) == limit {
			break
		}
		if first.IsZero() {
			first = r.t
		}
		last = r.t
		value := &Obj{Kind: KindReal, Name: "value", Val: r.v, Status: r.status}
		if r.v == "null" {
			value.Val, value.Null = "0.0", true // Niagara's placeholder (notes §4.5 item 9)
		}
		data.Children = append(data.Children, &Obj{Kind: KindObj, Children: []*Obj{
			{Kind: KindAbstime, Name: "timestamp", Val: FormatAbstime(r.t), TZ: "America/New_York"},
			value,
		}})
	}
	out := &Obj{Kind: KindObj, Href: f.srv.URL + hist + "~historyQuery/", Is: ContractHistoryQueryOut, Children: []*Obj{
		data,
		{Kind: KindInt, Name: "count", Val: strconv.Itoa(len(data.Children))},
		fakeAbstime("start", first),
		fakeAbstime("end", last),
		{Kind: KindObj, Href: "#RecordDef", Is: ContractHistoryRecord, Children: []*Obj{
			{Kind: KindAbstime, Name: "timestamp", TZ: "America/New_York"},
			{Kind: KindReal, Name: "value", Unit: f.unit[hist]},
		}},
	}}
	f.writeObj(w, out)
}

func fakeAbstime(name string, t time.Time) *Obj {
	if t.IsZero() {
		return &Obj{Kind: KindAbstime, Name: name, Null: true}
	}
	return &Obj{Kind: KindAbstime, Name: name, Val: FormatAbstime(t), TZ: "America/New_York"}
}
