package obix

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Watch is a server-side watch (obix:Watch): the server remembers a set of
// objects and answers a poll with those that changed since the last one
// (notes §4.4).
//
// Leases: the server may drop a watch nobody used for its lease time (4 min
// on Niagara, 60 s on IoTSyS, 1 h on NextDC). Every request on the watch
// restarts that timer, so polling more often than the lease keeps it alive.
// SetLease asks for a longer lease, Renew restarts the timer without
// polling. When the server has dropped the watch anyway, it answers
// obix:BadUriErr (or HTTP 404) for the watch's ops; Add, Poll, PollRefresh
// and Renew then make a new watch, ask for the same lease, add the same
// hrefs and carry on, returning the full set of values from the new add.
//
// A Watch serialises its calls.
type Watch struct {
	c        *Client
	makeHref string // the watch service's make op

	mu        sync.Mutex
	obj       *Obj          // the server's watch object
	hrefs     []*url.URL    // added objects, in order
	lease     time.Duration // lease asked for with SetLease; 0 = server's choice
	granted   time.Duration // lease in effect, as the server last said
	contact   time.Time     // last request on the watch
	recreated int
	// leaseRefused: the server would not take a lease write; the watch
	// lives by the server's lease, and is kept alive by reading it.
	leaseRefused bool
}

// MakeWatch creates a watch with the make op of the lobby's watchService.
func (c *Client) MakeWatch(ctx context.Context) (*Watch, error) {
	lobby, err := c.cachedLobby(ctx)
	if err != nil {
		return nil, fmt.Errorf("make watch: %w", err)
	}
	svc := lobbyEntry(lobby, "watchService", func(o *Obj) bool { return o.Implements(ContractWatchService) })
	if svc == "" {
		return nil, fmt.Errorf("make watch: the lobby of %s has no watchService", c.BaseURL)
	}
	var mk string
	ws, err := c.Read(ctx, svc)
	if err != nil {
		// Some gateways do not let the watch service be read, yet serve
		// its make op at the conventional place under it.
		u, perr := url.Parse(svc)
		if perr != nil {
			return nil, fmt.Errorf("make watch: %w", err)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		mk = u.ResolveReference(&url.URL{Path: "make/"}).String()
		if c.Logger != nil {
			c.Logger.Warn("oBIX watch service cannot be read; trying its conventional make op", "watch_service", svc, "make", mk, "err", err.Error())
		}
	} else {
		mk = lobbyEntry(ws, "make", func(o *Obj) bool { return o.Kind == KindOp && contractListHas(o.Out, ContractWatch) })
		if mk == "" {
			return nil, fmt.Errorf("make watch: watch service %s has no make op", svc)
		}
	}
	w := &Watch{c: c, makeHref: mk}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.make(ctx); err != nil {
		if ws == nil {
			return nil, fmt.Errorf("make watch: the watch service %s cannot be read (%v), and %w", svc, err, err)
		}
		return nil, fmt.Errorf("make watch: %w", err)
	}
	return w, nil
}

// make invokes the make op and takes the new watch's lease.
func (w *Watch) make(ctx context.Context) error {
	o, err := w.c.post(ctx, w.makeHref, nil)
	if err != nil {
		return fmt.Errorf("make: %w", err)
	}
	if o == nil || o.Href == "" {
		return fmt.Errorf("%s answered without a watch object", w.makeHref)
	}
	w.obj = o
	w.contact = time.Now()
	w.granted = 0
	if l := o.Child("lease"); l != nil && !l.Null {
		if d, err := ParseReltime(l.Val); err == nil {
			w.granted = d
		}
	}
	if w.lease > 0 && w.lease != w.granted && !w.leaseRefused {
		if err := w.writeLease(ctx, w.lease); err != nil {
			// The watch is there; it lives by the server's lease.
			w.leaseRefused = true
		}
	}
	return nil
}

// Href is the watch's URL.
func (w *Watch) Href() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.obj.AbsHref()
}

// Lease is the lease in effect as the server last reported it (0 if it did
// not say).
func (w *Watch) Lease() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.granted
}

// LeaseEnds is when the server may drop the watch unless it hears from the
// client: the last request plus the lease (zero if the lease is unknown).
func (w *Watch) LeaseEnds() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.granted <= 0 {
		return time.Time{}
	}
	return w.contact.Add(w.granted)
}

// Recreated counts the times the watch was made again after the server had
// dropped it.
func (w *Watch) Recreated() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.recreated
}

// SetLease asks the server for lease d by writing the watch's lease
// reltime; the server may cap or ignore it, Lease says what it granted. The
// lease is asked for again whenever the watch has to be made again.
func (w *Watch) SetLease(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("watch lease %v: must be positive", d)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lease = d
	err := w.writeLease(ctx, d)
	if expired(err) {
		err = w.recreate(ctx, nil, nil)
	}
	if err != nil {
		w.leaseRefused = true
		w.refreshLease(ctx)
	}
	return err
}

// refreshLease reads the lease the server has after a refused write, as
// it may differ from the one the watch was made with.
func (w *Watch) refreshLease(ctx context.Context) {
	o, err := w.c.Read(ctx, w.obj.AbsHref())
	if err != nil {
		return
	}
	w.contact = time.Now()
	if l := o.Child("lease"); l != nil && !l.Null {
		if d, err := ParseReltime(l.Val); err == nil {
			w.granted = d
		}
	}
}

// Renew restarts the lease timer without polling: it writes the lease again
// or, where the lease is not writable (NextDC), reads the watch. Call it
// when the next poll would come after LeaseEnds.
func (w *Watch) Renew(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if l := w.obj.Child("lease"); l != nil && l.Href != "" && l.Writable && !w.leaseRefused {
		d := w.lease
		if d == 0 {
			d = w.granted
		}
		err = w.writeLease(ctx, d)
	} else {
		var o *Obj
		o, err = w.c.Read(ctx, w.obj.AbsHref())
		if err == nil {
			w.obj = o
			w.contact = time.Now()
		}
	}
	if expired(err) {
		err = w.recreate(ctx, nil, nil)
	}
	if err != nil {
		return fmt.Errorf("renew watch: %w", err)
	}
	return nil
}

// writeLease PUTs d to the lease and takes the lease the server answers.
func (w *Watch) writeLease(ctx context.Context, d time.Duration) error {
	l := w.obj.Child("lease")
	if l == nil || l.Href == "" {
		return fmt.Errorf("watch %s has no lease to write", w.obj.AbsHref())
	}
	if !l.Writable {
		return fmt.Errorf("watch %s: the server does not let clients write the lease (it is %s)", w.obj.AbsHref(), l.Val)
	}
	out, err := w.c.Write(ctx, l.AbsHref(), d)
	if err != nil {
		return err
	}
	w.contact = time.Now()
	w.granted = d
	if out != nil && out.Kind == KindReltime {
		if g, err := ParseReltime(out.Val); err == nil {
			w.granted = g
		}
	}
	return nil
}

// Add adds hrefs (absolute, or relative to BaseURL) to the watch and
// returns their current values, as the add op answers them.
func (w *Watch) Add(ctx context.Context, hrefs ...string) ([]Value, error) {
	vals, bad, err := w.add(ctx, hrefs)
	if err == nil {
		err = w.itemErrors(bad, len(vals))
	}
	return vals, err
}

// add is Add with the items the server answered with an err apart.
func (w *Watch) add(ctx context.Context, hrefs []string) ([]Value, []itemError, error) {
	var urls []*url.URL
	for _, h := range hrefs {
		u, err := w.c.resolve(h)
		if err != nil {
			return nil, nil, err
		}
		urls = append(urls, u)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range urls {
		if !containsURL(w.hrefs, u) {
			w.hrefs = append(w.hrefs, u)
		}
	}
	out, err := w.call(ctx, "add", w.watchIn(urls))
	if expired(err) {
		return w.recreateValues(ctx, err)
	}
	if err != nil {
		return nil, nil, err
	}
	if out == nil {
		// Some servers answer add with Nil; the values then come with a
		// refresh.
		return w.pollLocked(ctx, "pollRefresh")
	}
	return w.values(out)
}

// Remove removes hrefs from the watch.
func (w *Watch) Remove(ctx context.Context, hrefs ...string) error {
	var urls []*url.URL
	for _, h := range hrefs {
		u, err := w.c.resolve(h)
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	kept := w.hrefs[:0]
	for _, u := range w.hrefs {
		if !containsURL(urls, u) {
			kept = append(kept, u)
		}
	}
	w.hrefs = kept
	_, err := w.call(ctx, "remove", w.watchIn(urls))
	if expired(err) {
		// The new watch simply does not get them.
		_, _, err = w.recreateValues(ctx, err)
	}
	return err
}

// Poll returns the values that changed since the last poll (pollChanges),
// or all values if the watch had to be made again. Values the server
// reports as <err> (an href that does not resolve) make Poll return an
// error naming them, together with the values that did read.
func (w *Watch) Poll(ctx context.Context) ([]Value, error) {
	return w.public(w.poll(ctx, "pollChanges"))
}

// PollRefresh returns the current values of all objects of the watch
// (pollRefresh).
func (w *Watch) PollRefresh(ctx context.Context) ([]Value, error) {
	return w.public(w.poll(ctx, "pollRefresh"))
}

func (w *Watch) public(vals []Value, bad []itemError, err error) ([]Value, error) {
	if err == nil {
		err = w.itemErrors(bad, len(vals))
	}
	return vals, err
}

// poll is Poll or PollRefresh (op) with the err items apart.
func (w *Watch) poll(ctx context.Context, op string) ([]Value, []itemError, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pollLocked(ctx, op)
}

func (w *Watch) pollLocked(ctx context.Context, op string) ([]Value, []itemError, error) {
	out, err := w.call(ctx, op, nil)
	if expired(err) {
		return w.recreateValues(ctx, err)
	}
	if err != nil {
		return nil, nil, err
	}
	return w.values(out)
}

// Delete deletes the watch on the server. A watch the server already
// dropped is not an error.
func (w *Watch) Delete(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.call(ctx, "delete", nil)
	if err != nil && !expired(err) {
		return err
	}
	return nil
}

// call invokes one of the watch's ops.
func (w *Watch) call(ctx context.Context, op string, in *Obj) (*Obj, error) {
	o := w.obj.Child(op)
	if o == nil || o.Href == "" {
		return nil, fmt.Errorf("watch %s has no %s op", w.obj.AbsHref(), op)
	}
	out, err := w.c.post(ctx, o.AbsHref(), in)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", op, err)
	}
	w.contact = time.Now()
	return out, nil
}

// recreateValues makes the watch again after cause (the server's answer
// that it no longer knows the watch) and returns the values of the re-add.
func (w *Watch) recreateValues(ctx context.Context, cause error) ([]Value, []itemError, error) {
	var (
		vals []Value
		bad  []itemError
	)
	old := w.obj.AbsHref()
	if err := w.recreate(ctx, &vals, &bad); err != nil {
		return nil, nil, fmt.Errorf("watch %s was dropped by the server (%v); making it again failed: %w", old, cause, err)
	}
	return vals, bad, nil
}

// recreate makes a new watch, asks for the lease and adds the hrefs; the
// add's values go to vals and bad when they are not nil.
func (w *Watch) recreate(ctx context.Context, vals *[]Value, bad *[]itemError) error {
	if err := w.make(ctx); err != nil {
		return err
	}
	w.recreated++
	if len(w.hrefs) == 0 {
		return nil
	}
	out, err := w.call(ctx, "add", w.watchIn(w.hrefs))
	if err != nil {
		return err
	}
	if out == nil {
		if out, err = w.call(ctx, "pollRefresh", nil); err != nil {
			return err
		}
	}
	v, b, err := w.values(out)
	if vals != nil {
		*vals = v
	}
	if bad != nil {
		*bad = b
	}
	return err
}

// watchIn builds the WatchIn of an add or remove (notes §4.4):
// <obj is="obix:WatchIn"><list name="hrefs"><uri val="…"/></list></obj>.
func (w *Watch) watchIn(urls []*url.URL) *Obj {
	list := &Obj{Kind: KindList, Name: "hrefs", Of: "obix:uri"}
	for _, u := range urls {
		list.Children = append(list.Children, &Obj{Kind: KindURI, Val: w.c.requestURI(u)})
	}
	return &Obj{Kind: KindObj, Is: ContractWatchIn, Children: []*Obj{list}}
}

// itemError is one item of a WatchOut that holds no value: an <err>, or a
// value that does not parse.
type itemError struct {
	href string // absolute URL, "" when the item names none
	err  error
}

// itemErrors is the error Poll, PollRefresh and Add return for bad items.
func (w *Watch) itemErrors(bad []itemError, good int) error {
	if len(bad) == 0 {
		return nil
	}
	errs := make([]error, len(bad))
	for i, b := range bad {
		errs[i] = b.err
	}
	return fmt.Errorf("watch %s: %d of %d values failed: %w", w.Href(), len(bad), len(bad)+good, errors.Join(errs...))
}

// values reads a WatchOut: the list named values, or the first list
// (IoTSyS leaves it unnamed, notes §4.4). Items without a value come back
// apart, so that they cost only themselves.
func (w *Watch) values(out *Obj) ([]Value, []itemError, error) {
	if out == nil {
		return nil, nil, nil
	}
	list := out.Child("values")
	if list == nil {
		list = out.firstOfKind(KindList)
	}
	if list == nil && out.Kind == KindList {
		list = out
	}
	if list == nil {
		return nil, nil, fmt.Errorf("watch %s: answer <%s is=%q> holds no values list", w.obj.AbsHref(), out.Kind, out.Is)
	}
	now := time.Now()
	var (
		vals []Value
		bad  []itemError
	)
	for _, o := range list.Children {
		v, err := ValueOf(o, now)
		if err != nil {
			bad = append(bad, itemError{href: o.AbsHref(), err: err})
			continue
		}
		vals = append(vals, v)
	}
	return vals, bad, nil
}

// expired reports whether err says the server no longer knows the watch.
func expired(err error) bool {
	if err == nil {
		return false
	}
	if IsErr(err, BadUriErr) {
		return true
	}
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode == http.StatusNotFound
}

func containsURL(list []*url.URL, u *url.URL) bool {
	for _, v := range list {
		if v.String() == u.String() {
			return true
		}
	}
	return false
}
