package obix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody bounds the size of one response. A large Niagara batch or history
// page is a few megabytes.
const maxBody = 32 << 20

// Client talks to one oBIX server. Set the exported fields, then use it from
// any number of goroutines; do not copy it after first use (it caches the
// lobby).
type Client struct {
	// BaseURL is the lobby, e.g. "https://station.example/obix/". Relative
	// hrefs passed to the methods resolve against it.
	BaseURL string
	// Username and Password are sent as HTTP basic authentication when
	// Username is set. Use HTTPS: basic auth sends the password in clear.
	Username string
	Password string
	// HTTP is the client for requests (TLS settings, proxies, timeouts);
	// nil means http.DefaultClient. Every request is also bounded by the
	// context passed to the method.
	HTTP *http.Client
	// Logger, when set, hears of the choices the client makes on its own
	// (reading points one by one after the batch op refused), once each.
	Logger *slog.Logger

	mu      sync.Mutex
	lobby   *Obj // cached by Lobby
	noBatch bool // the batch op refused: read one by one
}

// Lobby reads the lobby (BaseURL), the server's root object with its about,
// batch and watchService entries (notes §4.1), and caches it for Batch and
// MakeWatch.
func (c *Client) Lobby(ctx context.Context) (*Obj, error) {
	u, err := c.base()
	if err != nil {
		return nil, err
	}
	o, err := c.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("read lobby: %w", err)
	}
	if o == nil {
		return nil, fmt.Errorf("read lobby %s: empty answer", redact(u))
	}
	c.mu.Lock()
	c.lobby = o
	c.noBatch = false
	c.mu.Unlock()
	return o, nil
}

// cachedLobby returns the lobby, reading it on first use.
func (c *Client) cachedLobby(ctx context.Context) (*Obj, error) {
	c.mu.Lock()
	l := c.lobby
	c.mu.Unlock()
	if l != nil {
		return l, nil
	}
	return c.Lobby(ctx)
}

// lobbyEntry finds a lobby child by name or, for servers that leave lobby
// refs unnamed (IoTSyS: <ref href="watchService" is="obix:WatchService"/>,
// notes §4.5 item 3), by contract; "" if there is none.
func lobbyEntry(lobby *Obj, name string, match func(*Obj) bool) string {
	if c := lobby.Child(name); c != nil && c.Href != "" {
		return c.AbsHref()
	}
	for _, c := range lobby.Children {
		if c.Href != "" && match(c) {
			return c.AbsHref()
		}
	}
	return ""
}

// Read reads the object at href (absolute, or relative to BaseURL).
func (c *Client) Read(ctx context.Context, href string) (*Obj, error) {
	u, err := c.resolve(href)
	if err != nil {
		return nil, err
	}
	o, err := c.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", href, err)
	}
	if o == nil {
		return nil, fmt.Errorf("read %s: empty answer", redact(u))
	}
	return o, nil
}

// Batch reads the objects at hrefs with one request: a BatchIn of
// obix:Read uris POSTed to the lobby's batch op, answered by a BatchOut
// holding one object per uri in request order (notes §4.1). An item the
// server could not read comes back as an <err> object in its place (see
// Obj.Err); items without an href (Niagara leaves some out) get the
// requested URL.
//
// Without a batch op in the lobby, or when the op answers an err object
// (BadUriErr, UnsupportedErr, PermissionErr; with HTTP 200, 404, 501 or
// any other status) or a bare HTTP 404/405/501, Batch reads the hrefs one
// after another instead, and keeps doing so for the client's lifetime
// (logged once). An answer that is not a valid document is read again one
// by one for that call only. Read one by one, a point that fails (an oBIX
// err, an HTTP error, a malformed document) takes its item's place as an
// <err> object, so that it costs only itself; a failed connection fails the
// whole call.
func (c *Client) Batch(ctx context.Context, hrefs []string) ([]*Obj, error) {
	if len(hrefs) == 0 {
		return nil, nil
	}
	urls := make([]*url.URL, len(hrefs))
	for i, h := range hrefs {
		u, err := c.resolve(h)
		if err != nil {
			return nil, err
		}
		urls[i] = u
	}
	lobby, err := c.cachedLobby(ctx)
	if err != nil {
		return nil, fmt.Errorf("batch read: %w", err)
	}
	c.mu.Lock()
	noBatch := c.noBatch
	c.mu.Unlock()
	op := lobbyEntry(lobby, "batch", func(o *Obj) bool {
		return o.Kind == KindOp && contractListHas(o.In, ContractBatchIn)
	})
	if op == "" || noBatch {
		return c.readEach(ctx, urls)
	}
	opURL, err := url.Parse(op)
	if err != nil {
		return nil, fmt.Errorf("batch read: lobby batch op href %q: %w", op, err)
	}
	in := &Obj{Kind: KindList, Is: ContractBatchIn, Of: "obix:uri"}
	for _, u := range urls {
		in.Children = append(in.Children, &Obj{Kind: KindURI, Is: "obix:Read", Val: c.requestURI(u)})
	}
	out, err := c.do(ctx, http.MethodPost, opURL, in)
	if err != nil {
		if batchRefused(err) {
			c.mu.Lock()
			first := !c.noBatch
			c.noBatch = true
			c.mu.Unlock()
			if first && c.Logger != nil {
				c.Logger.Warn("oBIX batch op refused; reading points one by one from now on",
					"url", redact(opURL), "answer", err.Error())
			}
			return c.readEach(ctx, urls)
		}
		var pe *ParseError
		if errors.As(err, &pe) {
			// One malformed answer must not cost every point: read them
			// one by one this time, so that only the bad ones are lost.
			if c.Logger != nil {
				c.Logger.Warn("oBIX batch answer is not a valid document; reading points one by one for this sample",
					"url", redact(opURL), "err", err.Error())
			}
			return c.readEach(ctx, urls)
		}
		return nil, fmt.Errorf("batch read of %d points: %w", len(urls), err)
	}
	if out == nil {
		return nil, fmt.Errorf("batch read of %d points via %s: empty answer", len(urls), redact(opURL))
	}
	// The BatchOut is the root list (Niagara marks it of="obix:BatchOut"
	// rather than is=); accept it wrapped in an obj too.
	items := out.Children
	if out.Kind != KindList {
		if l := out.firstOfKind(KindList); l != nil {
			items = l.Children
		}
	}
	if len(items) != len(urls) {
		return nil, fmt.Errorf("batch read via %s: %d results for %d requests", redact(opURL), len(items), len(urls))
	}
	for i, it := range items {
		if it.Href == "" {
			it.Href = urls[i].String()
			it.resolve(urls[i])
		}
	}
	return items, nil
}

// readEach is Batch without a batch op.
func (c *Client) readEach(ctx context.Context, urls []*url.URL) ([]*Obj, error) {
	out := make([]*Obj, len(urls))
	for i, u := range urls {
		o, err := c.do(ctx, http.MethodGet, u, nil)
		var (
			oe *Error
			he *HTTPError
			pe *ParseError
		)
		switch {
		case errors.As(err, &oe):
			out[i] = &Obj{Kind: KindErr, Href: u.String(), abs: u.String(), Is: oe.Contract, Display: oe.Display}
		case errors.As(err, &he), errors.As(err, &pe):
			out[i] = &Obj{Kind: KindErr, Href: u.String(), abs: u.String(), Is: GenericErr, Display: err.Error()}
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", redact(u), err)
		case o == nil:
			out[i] = &Obj{Kind: KindErr, Href: u.String(), abs: u.String(), Is: GenericErr, Display: "empty answer"}
		default:
			out[i] = o
		}
	}
	return out, nil
}

// batchRefused reports whether the batch op's answer says the server will
// not do batches: an err object of the refusing contracts, whatever the
// HTTP status (servers answer BadUriErr with 200, 404 or 501), or a bare
// 404, 405 or 501.
func batchRefused(err error) bool {
	var oe *Error
	if errors.As(err, &oe) {
		switch oe.Contract {
		case BadUriErr, UnsupportedErr, PermissionErr:
			return true
		}
		return oe.StatusCode == 404 || oe.StatusCode == 405 || oe.StatusCode == 501
	}
	var he *HTTPError
	return errors.As(err, &he) && (he.StatusCode == 404 || he.StatusCode == 405 || he.StatusCode == 501)
}

// ReadEach reads hrefs one by one, as Batch does without a batch op:
// results in request order, a point the server could not read as an <err>
// object in its place.
func (c *Client) ReadEach(ctx context.Context, hrefs []string) ([]*Obj, error) {
	urls := make([]*url.URL, len(hrefs))
	for i, h := range hrefs {
		u, err := c.resolve(h)
		if err != nil {
			return nil, err
		}
		urls[i] = u
	}
	return c.readEach(ctx, urls)
}

// Write writes value to the object at href with a PUT of the typed element
// (the spec's write; notes §4.1) and returns the server's answer, the object
// as it is after the write (nil if the server answers without a body).
//
// value is float64 or float32 (<real>), any integer type (<int>), bool,
// string (<str>), time.Time (<abstime>), time.Duration (<reltime>) or a
// ready *Obj. Servers check that the kind matches the object's: write a
// float64 to a real.
func (c *Client) Write(ctx context.Context, href string, value any) (*Obj, error) {
	in, err := valueObj(value)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", href, err)
	}
	u, err := c.resolve(href)
	if err != nil {
		return nil, err
	}
	out, err := c.do(ctx, http.MethodPut, u, in)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", href, err)
	}
	return out, nil
}

// Invoke invokes the op at href with the input object in (nil for ops whose
// input is obix:Nil) and returns the op's output (nil if the server answers
// without a body).
func (c *Client) Invoke(ctx context.Context, href string, in *Obj) (*Obj, error) {
	u, err := c.resolve(href)
	if err != nil {
		return nil, err
	}
	out, err := c.do(ctx, http.MethodPost, u, in)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", href, err)
	}
	return out, nil
}

// post invokes an op like Invoke, leaving the error as do returns it (it
// names method and URL already).
func (c *Client) post(ctx context.Context, href string, in *Obj) (*Obj, error) {
	u, err := c.resolve(href)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, http.MethodPost, u, in)
}

// valueObj builds the element a Write sends.
func valueObj(value any) (*Obj, error) {
	switch v := value.(type) {
	case *Obj:
		if v == nil {
			return nil, errors.New("nil object")
		}
		return v, nil
	case float64:
		return &Obj{Kind: KindReal, Val: formatReal(v)}, nil
	case float32:
		return &Obj{Kind: KindReal, Val: formatReal(float64(v))}, nil
	case int:
		return &Obj{Kind: KindInt, Val: strconv.FormatInt(int64(v), 10)}, nil
	case int8:
		return &Obj{Kind: KindInt, Val: strconv.FormatInt(int64(v), 10)}, nil
	case int16:
		return &Obj{Kind: KindInt, Val: strconv.FormatInt(int64(v), 10)}, nil
	case int32:
		return &Obj{Kind: KindInt, Val: strconv.FormatInt(int64(v), 10)}, nil
	case int64:
		return &Obj{Kind: KindInt, Val: strconv.FormatInt(v, 10)}, nil
	case uint8:
		return &Obj{Kind: KindInt, Val: strconv.FormatUint(uint64(v), 10)}, nil
	case uint16:
		return &Obj{Kind: KindInt, Val: strconv.FormatUint(uint64(v), 10)}, nil
	case uint32:
		return &Obj{Kind: KindInt, Val: strconv.FormatUint(uint64(v), 10)}, nil
	case uint:
		if uint64(v) > math.MaxInt64 {
			return nil, fmt.Errorf("int value %d does not fit an oBIX int (64-bit signed)", v)
		}
		return &Obj{Kind: KindInt, Val: strconv.FormatUint(uint64(v), 10)}, nil
	case uint64:
		if v > math.MaxInt64 {
			return nil, fmt.Errorf("int value %d does not fit an oBIX int (64-bit signed)", v)
		}
		return &Obj{Kind: KindInt, Val: strconv.FormatUint(v, 10)}, nil
	case bool:
		return &Obj{Kind: KindBool, Val: strconv.FormatBool(v)}, nil
	case string:
		return &Obj{Kind: KindStr, Val: v}, nil
	case time.Time:
		return &Obj{Kind: KindAbstime, Val: FormatAbstime(v)}, nil
	case time.Duration:
		return &Obj{Kind: KindReltime, Val: FormatReltime(v)}, nil
	}
	return nil, fmt.Errorf("cannot write a %T (want float64, an integer, bool, string, time.Time, time.Duration or *Obj)", value)
}

// formatReal spells a real val; the specials as xs:double does.
func formatReal(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "INF"
	case math.IsInf(f, -1):
		return "-INF"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// base parses BaseURL.
func (c *Client) base() (*url.URL, error) {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid oBIX base URL %q: want http(s)://host/obix/", c.BaseURL)
	}
	return u, nil
}

// resolve resolves href against BaseURL taken as a directory: a base
// written without its trailing slash ("http://gw/obix") resolves
// "config/AHU1/" to /obix/config/AHU1/ just as "http://gw/obix/" does. The
// lobby itself is read at BaseURL as written, and the hrefs in documents
// resolve against the URL they came from.
func (c *Client) resolve(href string) (*url.URL, error) {
	b, err := c.base()
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(b.Path, "/") {
		d := *b
		d.Path += "/"
		if d.RawPath != "" {
			d.RawPath += "/"
		}
		b = &d
	}
	ref, err := url.Parse(href)
	if err != nil {
		return nil, fmt.Errorf("invalid href %q: %w", href, err)
	}
	return b.ResolveReference(ref), nil
}

// requestURI is how a batch or watch names u to the server: the absolute
// path when u is on the server itself (as the cited Niagara and IoTSyS
// examples do), the full URL otherwise.
func (c *Client) requestURI(u *url.URL) string {
	if b, err := c.base(); err == nil && b.Scheme == u.Scheme && b.Host == u.Host {
		return u.RequestURI()
	}
	return u.String()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// redact is u without a password, for messages.
func redact(u *url.URL) string { return u.Redacted() }

// do sends one request and parses the answer. The document is resolved
// against u. An <err> answer (with any HTTP status) is returned as *Error,
// other non-2xx answers as *HTTPError; a 2xx answer without a body is
// (nil, nil).
func (c *Client) do(ctx context.Context, method string, u *url.URL, body *Obj) (*Obj, error) {
	var rd io.Reader
	if body != nil {
		b, err := encodeBytes(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, redact(u), err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, redact(u), err)
	}
	req.Header.Set("Accept", "text/xml, application/xml")
	if body != nil {
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	}
	if c.Username != "" {
		req.SetBasicAuth(c.Username, c.Password)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err // *url.Error names method and URL
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, redact(u), err)
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%s %s: answer larger than %d MiB", method, redact(u), maxBody>>20)
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(bytes.TrimSpace(data)) == 0 {
		if ok {
			return nil, nil
		}
		return nil, c.httpError(method, u, resp, nil)
	}
	root, perr := parseTree(bytes.NewReader(data))
	if perr != nil {
		if !ok {
			return nil, c.httpError(method, u, resp, data)
		}
		return nil, &ParseError{Method: method, URL: redact(u), Err: perr}
	}
	root.resolve(u)
	if root.Kind == KindErr {
		e := newError(root)
		if e.Href == "" {
			e.Href = redact(u)
		}
		if !ok {
			e.StatusCode = resp.StatusCode
		}
		return nil, e
	}
	if !ok {
		return nil, c.httpError(method, u, resp, data)
	}
	return root, nil
}

func (c *Client) httpError(method string, u *url.URL, resp *http.Response, body []byte) *HTTPError {
	return &HTTPError{
		Method:     method,
		URL:        redact(u),
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Body:       clip(string(body), 512),
		User:       c.Username,
	}
}
