package obix

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.txt from the actual output")

// TestCases runs every testdata/<case>/script.txt against the fake server
// loaded with that folder's documents and compares the transcript with
// expected.txt. A new case is a new folder; the commands are:
//
//	serve METHOD PATH FILE [STATUS]   declare a document of the fake server (not echoed)
//	parse FILE                        parse a document and print its tree
//	lobby | read HREF | batch HREF... | discover ROOT|- DEPTH
//	write HREF real|int|bool|str|reltime VALUE
//	history HREF START|- END|- LIMIT
//	watch make | add HREF... | remove HREF... | poll | refresh | lease DUR | renew | info | delete
//	client auth USER|- PASS|- | client base PATH
//	server set PATH VAL | status PATH STATUS | advance DUR | lease-max DUR | drop-watches | lose-next N
//	server history PATH FILE UNIT | history-cap N | requests
//	source batch|watch NAME [LEASE] | map HREF MEASUREMENT FIELD [TAG=VALUE...] | map-history HREF
//	collect | backfill FROM TO | close
//
// Run with -update to rewrite expected.txt, then review the diff.
func TestCases(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join("testdata", "*", "script.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) == 0 {
		t.Fatal("no testdata/*/script.txt")
	}
	for _, script := range scripts {
		dir := filepath.Dir(script)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runCase(t, dir)
			want, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
			if *update {
				if err := os.WriteFile(filepath.Join(dir, "expected.txt"), []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("transcript differs from %s/expected.txt\n%s", dir, diffLines(string(want), got))
			}
		})
	}
}

type caseRun struct {
	t      *testing.T
	dir    string
	fake   *fakeServer
	client *Client
	watch  *Watch
	out    strings.Builder

	srcMode  string
	srcName  string
	srcLease time.Duration
	srcMaps  []PointMapping
	source   *Source
}

func runCase(t *testing.T, dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "script.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeServer(t, dir, false)
	r := &caseRun{t: t, dir: dir, fake: fake}
	r.client = &Client{BaseURL: fake.srv.URL + "/obix/", Username: fakeUser, Password: fakePass, HTTP: fake.srv.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		args := strings.Fields(line)
		if args[0] == "serve" {
			if err := r.serve(args[1:]); err != nil {
				t.Fatalf("%s/script.txt:%d: %v", dir, n+1, err)
			}
			continue
		}
		fmt.Fprintf(&r.out, "> %s\n", line)
		if err := r.exec(ctx, args); err != nil {
			fmt.Fprintf(&r.out, "error: %v\n", err)
		}
	}
	return strings.ReplaceAll(r.out.String(), fake.srv.URL, "$SERVER")
}

func (r *caseRun) serve(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("serve METHOD PATH FILE [STATUS]")
	}
	status := 200
	if len(args) > 3 {
		var err error
		if status, err = strconv.Atoi(args[3]); err != nil {
			return err
		}
	}
	return r.fake.serve(args[0], args[1], args[2], status)
}

func (r *caseRun) printf(format string, a ...any) { fmt.Fprintf(&r.out, format, a...) }

func (r *caseRun) exec(ctx context.Context, args []string) error {
	need := func(n int) error {
		if len(args) < n {
			return fmt.Errorf("script: %q needs %d arguments", args[0], n-1)
		}
		return nil
	}
	switch args[0] {
	case "parse":
		if err := need(2); err != nil {
			return err
		}
		data, err := os.ReadFile(filepath.Join(r.dir, args[1]))
		if err != nil {
			return err
		}
		o, err := Parse(bytes.NewReader(data))
		if err != nil {
			return err
		}
		r.dumpTree(o, "")
	case "lobby":
		o, err := r.client.Lobby(ctx)
		if err != nil {
			return err
		}
		r.printf("%s href=%s is=%q\n", o.Kind, o.AbsHref(), o.Is)
		for _, c := range o.Children {
			r.printf("  %s name=%q href=%s is=%q\n", c.Kind, c.Name, c.AbsHref(), c.Is)
		}
	case "read":
		if err := need(2); err != nil {
			return err
		}
		o, err := r.client.Read(ctx, args[1])
		if err != nil {
			return err
		}
		r.dumpTree(o, "")
	case "batch":
		objs, err := r.client.Batch(ctx, args[1:])
		if err != nil {
			return err
		}
		for _, o := range objs {
			r.printValue(o)
		}
	case "discover":
		if err := need(3); err != nil {
			return err
		}
		depth, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		pts, err := r.client.Discover(ctx, dash(args[1]), depth)
		if err != nil {
			return err
		}
		for _, p := range pts {
			r.printf("%s kind=%s unit=%s name=%q writable=%t val=%q\n", p.Href, p.Kind, p.Unit, p.DisplayName, p.Writable, p.Val)
		}
	case "write":
		if err := need(4); err != nil {
			return err
		}
		v, err := scriptValue(args[2], args[3])
		if err != nil {
			return err
		}
		o, err := r.client.Write(ctx, args[1], v)
		if err != nil {
			return err
		}
		if o == nil {
			r.printf("(no body)\n")
			return nil
		}
		r.printValue(o)
	case "history":
		if err := need(5); err != nil {
			return err
		}
		var start, end time.Time
		var err error
		if s := dash(args[2]); s != "" {
			if start, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return err
			}
		}
		if s := dash(args[3]); s != "" {
			if end, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return err
			}
		}
		limit, err := strconv.Atoi(args[4])
		if err != nil {
			return err
		}
		samples, err := r.client.History(ctx, args[1], start, end, limit)
		for _, s := range samples {
			r.printf("%s %s %s unit=%s status=%s\n", s.Time.Format(time.RFC3339Nano), s.Kind, formatAny(s.Value), s.Unit, s.Status)
		}
		r.printf("(%d samples)\n", len(samples))
		return err
	case "watch":
		return r.execWatch(ctx, args[1:])
	case "client":
		if err := need(2); err != nil {
			return err
		}
		switch args[1] {
		case "auth":
			if err := need(4); err != nil {
				return err
			}
			r.client = &Client{BaseURL: r.client.BaseURL, Username: dash(args[2]), Password: dash(args[3]), HTTP: r.client.HTTP}
		case "base":
			if err := need(3); err != nil {
				return err
			}
			r.client = &Client{BaseURL: r.fake.srv.URL + args[2], Username: r.client.Username, Password: r.client.Password, HTTP: r.client.HTTP}
		default:
			return fmt.Errorf("script: unknown client command %q", args[1])
		}
	case "server":
		return r.execServer(args[1:])
	case "source":
		if err := need(3); err != nil {
			return err
		}
		r.srcMode, r.srcName, r.srcMaps, r.source, r.srcLease = args[1], dash(args[2]), nil, nil, 0
		if len(args) > 3 {
			d, err := time.ParseDuration(args[3])
			if err != nil {
				return err
			}
			r.srcLease = d
		}
	case "map":
		if err := need(4); err != nil {
			return err
		}
		m := PointMapping{Href: dash(args[1]), Measurement: dash(args[2]), Field: dash(args[3])}
		for _, kv := range args[4:] {
			k, v, _ := strings.Cut(kv, "=")
			if m.Tags == nil {
				m.Tags = map[string]string{}
			}
			m.Tags[k] = v
		}
		r.srcMaps = append(r.srcMaps, m)
	case "map-history":
		if err := need(2); err != nil {
			return err
		}
		if len(r.srcMaps) == 0 {
			return fmt.Errorf("script: map-history before map")
		}
		r.srcMaps[len(r.srcMaps)-1].History = args[1]
	case "collect":
		if err := r.makeSource(); err != nil {
			return err
		}
		pts, err := r.source.Collect(ctx)
		if err != nil {
			return err
		}
		for _, p := range pts {
			if err := p.Validate(); err != nil {
				return err
			}
			r.printf("%s\n", lineProtocol(p.Measurement, p.Tags, p.Fields))
		}
	case "backfill":
		if err := need(3); err != nil {
			return err
		}
		from, err := time.Parse(time.RFC3339Nano, args[1])
		if err != nil {
			return err
		}
		to, err := time.Parse(time.RFC3339Nano, args[2])
		if err != nil {
			return err
		}
		if err := r.makeSource(); err != nil {
			return err
		}
		pts, err := r.source.Backfill(ctx, from, to)
		for _, p := range pts {
			if verr := p.Validate(); verr != nil {
				return verr
			}
			r.printf("%s %s\n", lineProtocol(p.Measurement, p.Tags, p.Fields), p.Time.Format(time.RFC3339Nano))
		}
		r.printf("(%d points)\n", len(pts))
		return err
	case "close":
		if r.source != nil {
			return r.source.Close(ctx)
		}
	default:
		return fmt.Errorf("script: unknown command %q", args[0])
	}
	return nil
}

// makeSource makes the source of the mappings so far on first use.
func (r *caseRun) makeSource() error {
	if r.source != nil {
		return nil
	}
	s, err := NewSource(SourceConfig{Name: r.srcName, Client: r.client, Points: r.srcMaps, UseWatch: r.srcMode == "watch", WatchLease: r.srcLease})
	if err != nil {
		return err
	}
	r.source = s
	return nil
}

func (r *caseRun) execWatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("script: watch needs a subcommand")
	}
	if args[0] != "make" && r.watch == nil {
		return fmt.Errorf("script: no watch made")
	}
	var (
		vals []Value
		err  error
	)
	switch args[0] {
	case "make":
		r.watch, err = r.client.MakeWatch(ctx)
		if err != nil {
			return err
		}
		r.printf("watch %s lease %v\n", r.watch.Href(), r.watch.Lease())
		return nil
	case "info":
		r.printf("watch %s lease %v recreated %d\n", r.watch.Href(), r.watch.Lease(), r.watch.Recreated())
		return nil
	case "lease":
		if len(args) < 2 {
			return fmt.Errorf("script: watch lease DURATION")
		}
		d, err := time.ParseDuration(args[1])
		if err != nil {
			return err
		}
		if err := r.watch.SetLease(ctx, d); err != nil {
			return err
		}
		r.printf("lease %v\n", r.watch.Lease())
		return nil
	case "renew":
		if err := r.watch.Renew(ctx); err != nil {
			return err
		}
		r.printf("lease %v\n", r.watch.Lease())
		return nil
	case "delete":
		return r.watch.Delete(ctx)
	case "add":
		vals, err = r.watch.Add(ctx, args[1:]...)
	case "remove":
		return r.watch.Remove(ctx, args[1:]...)
	case "poll":
		vals, err = r.watch.Poll(ctx)
	case "refresh":
		vals, err = r.watch.PollRefresh(ctx)
	default:
		return fmt.Errorf("script: unknown watch command %q", args[0])
	}
	for _, v := range vals {
		r.printf("%s\n", formatValue(v))
	}
	r.printf("(%d values)\n", len(vals))
	return err
}

func (r *caseRun) execServer(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("script: server needs a subcommand")
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch args[0] {
	case "set":
		return r.fake.set(arg(1), arg(2))
	case "status":
		return r.fake.setStatus(arg(1), arg(2))
	case "advance":
		d, err := time.ParseDuration(arg(1))
		if err != nil {
			return err
		}
		r.fake.advance(d)
	case "lease-max":
		d, err := time.ParseDuration(arg(1))
		if err != nil {
			return err
		}
		r.fake.mu.Lock()
		r.fake.leaseMax = d
		r.fake.mu.Unlock()
	case "lose-next":
		n, err := strconv.Atoi(arg(1))
		if err != nil {
			return err
		}
		r.fake.mu.Lock()
		r.fake.lose = n
		r.fake.mu.Unlock()
	case "drop-watches":
		r.fake.mu.Lock()
		clear(r.fake.watches)
		r.fake.mu.Unlock()
	case "history":
		return r.fake.loadHistory(arg(1), arg(2), arg(3))
	case "history-cap":
		n, err := strconv.Atoi(arg(1))
		if err != nil {
			return err
		}
		r.fake.mu.Lock()
		r.fake.historyCap = n
		r.fake.mu.Unlock()
	case "requests":
		for _, l := range r.fake.requests() {
			r.printf("%s\n", l)
		}
	default:
		return fmt.Errorf("script: unknown server command %q", args[0])
	}
	return nil
}

// dumpTree prints an object tree, one element per line, with the typed
// value of value elements.
func (r *caseRun) dumpTree(o *Obj, indent string) {
	var b strings.Builder
	b.WriteString(indent)
	b.WriteString(o.Kind)
	attr := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	attr("name", o.Name)
	attr("href", o.AbsHref())
	attr("is", o.Is)
	attr("of", o.Of)
	attr("in", o.In)
	attr("out", o.Out)
	attr("val", o.Val)
	attr("unit", o.Unit)
	attr("tz", o.TZ)
	attr("display", o.Display)
	attr("displayName", o.DisplayName)
	if o.Null {
		b.WriteString(" null")
	}
	if o.Writable {
		b.WriteString(" writable")
	}
	if o.IsValue() {
		v, err := ValueOf(o, time.Time{})
		if err != nil {
			fmt.Fprintf(&b, " -> error: %v", err)
		} else {
			fmt.Fprintf(&b, " -> %s status=%s", formatAny(v.Value), v.Status)
		}
	}
	r.printf("%s\n", b.String())
	for _, c := range o.Children {
		r.dumpTree(c, indent+"  ")
	}
}

func (r *caseRun) printValue(o *Obj) {
	v, err := ValueOf(o, time.Time{})
	if err != nil {
		r.printf("error: %v\n", err)
		return
	}
	r.printf("%s\n", formatValue(v))
}

func formatValue(v Value) string {
	return fmt.Sprintf("%s %s %s unit=%s status=%s", v.Href, v.Kind, formatAny(v.Value), v.Unit, v.Status)
}

// formatAny prints a typed value with its Go type.
func formatAny(x any) string {
	switch v := x.(type) {
	case nil:
		return "null"
	case float64:
		return "float64(" + strconv.FormatFloat(v, 'g', -1, 64) + ")"
	case int64:
		return "int64(" + strconv.FormatInt(v, 10) + ")"
	case bool:
		return "bool(" + strconv.FormatBool(v) + ")"
	case string:
		return "string(" + strconv.Quote(v) + ")"
	case time.Time:
		return "time(" + v.Format(time.RFC3339Nano) + ")"
	case time.Duration:
		return "duration(" + v.String() + ")"
	}
	return fmt.Sprintf("%T(%v)", x, x)
}

// lineProtocol prints a point like InfluxDB line protocol, without time.
func lineProtocol(m string, tags map[string]string, fields map[string]any) string {
	var b strings.Builder
	b.WriteString(m)
	tk := make([]string, 0, len(tags))
	for k := range tags {
		tk = append(tk, k)
	}
	slices.Sort(tk)
	for _, k := range tk {
		fmt.Fprintf(&b, ",%s=%s", k, tags[k])
	}
	fk := make([]string, 0, len(fields))
	for k := range fields {
		fk = append(fk, k)
	}
	slices.Sort(fk)
	for i, k := range fk {
		sep := ","
		if i == 0 {
			sep = " "
		}
		fmt.Fprintf(&b, "%s%s=%s", sep, k, formatAny(fields[k]))
	}
	return b.String()
}

func scriptValue(kind, s string) (any, error) {
	switch kind {
	case "real":
		return strconv.ParseFloat(s, 64)
	case "int":
		return strconv.ParseInt(s, 10, 64)
	case "bool":
		return strconv.ParseBool(s)
	case "str":
		return s, nil
	case "reltime":
		return time.ParseDuration(s)
	}
	return nil, fmt.Errorf("script: unknown kind %q", kind)
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// diffLines shows the first differing lines of two transcripts.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
