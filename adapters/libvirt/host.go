// Package libvirt reads hypervisor and VM state from libvirt hosts through
// libvirt.org/go/libvirt (cgo, links libvirt.so.0) and watches VM lifecycle
// events. A Host is one collector.Source; README.md lists the measurements,
// their fields and units, and what the test driver (test:///...) fakes.
package libvirt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
)

var _ collector.Source = (*Host)(nil)

// HostConfig describes one libvirt host.
type HostConfig struct {
	// Name is the value of the host tag and names the host in errors.
	Name string
	// URI is the libvirt connection URI: qemu:///system,
	// qemu+ssh://user@node/system, test:///ABS/PATH.xml, ...
	URI string
	// Tags are added to every point of this host (host, vm and vm_event);
	// they must not use the keys host, vm or uuid.
	Tags map[string]string
	// OnEvent receives the vm_event points of WatchEvents. It runs on the
	// libvirt event loop goroutine, which serves every host of the process:
	// hand the point off (a buffered channel, a queue) and return.
	OnEvent func(point.Point)
	// ReconnectBackoff is the wait after a failed reconnect, doubling up to
	// ReconnectBackoffMax. When WatchEvents runs, a closed connection (the
	// daemon restarted, keepalive timed out) is reconnected at once, then
	// after each wait. Defaults: DefaultReconnectBackoff and
	// DefaultReconnectBackoffMax.
	ReconnectBackoff, ReconnectBackoffMax time.Duration
	// KeepaliveInterval and KeepaliveCount are libvirt's keepalive: a probe
	// every interval (whole seconds), the connection closed after count
	// unanswered ones. Defaults: DefaultKeepaliveInterval and
	// DefaultKeepaliveCount. They need the event loop (StartEventLoop).
	KeepaliveInterval time.Duration
	KeepaliveCount    int
	// Logger receives reconnects (nil: none).
	Logger *slog.Logger
}

// Defaults of HostConfig's reconnect and keepalive options.
const (
	DefaultReconnectBackoff    = 250 * time.Millisecond
	DefaultReconnectBackoffMax = 30 * time.Second
	DefaultKeepaliveInterval   = 5 * time.Second
	DefaultKeepaliveCount      = 3
)

// reservedTags are the tags a Host sets itself.
func reservedTag(k string) bool { return k == "host" || k == "vm" || k == "uuid" }

// Validate reports the first thing wrong with the configuration.
func (c HostConfig) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("libvirt host (%s): name is empty", c.URI)
	}
	if strings.TrimSpace(c.URI) == "" {
		return fmt.Errorf("libvirt host %q: uri is empty", c.Name)
	}
	if !strings.Contains(c.URI, ":") {
		return fmt.Errorf("libvirt host %q: uri %q has no scheme (want e.g. qemu:///system or test:///ABS/PATH.xml)", c.Name, c.URI)
	}
	keys := make([]string, 0, len(c.Tags))
	for k := range c.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if reservedTag(k) {
			return fmt.Errorf("libvirt host %q (%s): tag %q is set by the collector and cannot be configured", c.Name, c.URI, k)
		}
		if k == "" {
			return fmt.Errorf("libvirt host %q (%s): tag with an empty key", c.Name, c.URI)
		}
	}
	return nil
}

// Host is one libvirt host as a collector.Source. It connects on first use
// and, after any connection-level error, closes the connection and opens a
// new one on the next Collect. All methods are safe for concurrent use.
type Host struct {
	cfg    HostConfig
	cfgErr error
	// synthetic is set for the test driver, whose CPU time is fake: VM
	// utilisation is then SyntheticCPUUtil instead of a CPU-time delta.
	synthetic bool
	done      chan struct{} // closed by Close

	mu         sync.Mutex
	closed     bool
	conn       *lv.Connect
	connEvents bool // conn was opened while the event loop ran
	prevCPU    map[string]cpuSample
	watching   uint64 // generation of the current WatchEvents; 0: none
	watchGen   uint64 // last generation handed out
	callbackID int    // lifecycle callback on conn; -1: none
	// lost is set when a connection was dropped other than by Close: the
	// next connection reconciles the domains' states (reconcile.go).
	lost bool
	// connClosed is signalled by libvirt's close callback.
	connClosed chan struct{}

	// stateMu guards last; it is taken by the event callback, which must
	// not take mu.
	stateMu sync.Mutex
	last    map[string]domainState // by UUID: the last state seen
	listed  bool                   // last holds a complete listing
}

// NewHost returns a Host; it does not connect. An invalid configuration is
// reported by every Collect, WatchEvents and WithConn call.
func NewHost(cfg HostConfig) *Host {
	tags := make(map[string]string, len(cfg.Tags))
	for k, v := range cfg.Tags {
		tags[k] = v
	}
	cfg.Tags = tags
	if cfg.ReconnectBackoff <= 0 {
		cfg.ReconnectBackoff = DefaultReconnectBackoff
	}
	if cfg.ReconnectBackoffMax < cfg.ReconnectBackoff {
		cfg.ReconnectBackoffMax = max(DefaultReconnectBackoffMax, cfg.ReconnectBackoff)
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if cfg.KeepaliveCount <= 0 {
		cfg.KeepaliveCount = DefaultKeepaliveCount
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Host{
		connClosed: make(chan struct{}, 1),
		last:       map[string]domainState{},
		cfg:        cfg,
		cfgErr:     cfg.Validate(),
		synthetic:  IsTestURI(cfg.URI),
		done:       make(chan struct{}),
		prevCPU:    map[string]cpuSample{},
		callbackID: -1,
	}
}

// Name is the host name of the configuration.
func (h *Host) Name() string { return h.cfg.Name }

// URI is the libvirt connection URI of the configuration.
func (h *Host) URI() string { return h.cfg.URI }

// IsTestURI reports whether uri uses libvirt's test driver (test:///default,
// test:///ABS/PATH.xml, test+unix://...), whose CPU time is fake.
func IsTestURI(uri string) bool {
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok {
		return false
	}
	driver, _, _ := strings.Cut(scheme, "+")
	return strings.EqualFold(driver, "test")
}

// testDriverFile is the node file of a test:///ABS/PATH.xml URI (not of
// test:///default, nor of test+unix://, whose file is the daemon's).
func testDriverFile(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || !strings.EqualFold(u.Scheme, "test") || u.Host != "" || u.Path == "" || u.Path == "/default" {
		return "", false
	}
	return u.Path, true
}

var errClosed = errors.New("host is closed")

// connLocked returns a live connection, opening one if there is none or the
// current one is dead, and (re)registers the lifecycle callback when
// WatchEvents is active. h.mu must be held.
func (h *Host) connLocked() (*lv.Connect, error) {
	if h.cfgErr != nil {
		return nil, h.cfgErr
	}
	if h.closed {
		return nil, h.errorf("connect", errClosed)
	}
	if h.conn != nil {
		if alive, err := h.conn.IsAlive(); err != nil || !alive {
			h.dropLocked()
		}
	}
	if h.conn == nil {
		if file, ok := testDriverFile(h.cfg.URI); ok {
			// Checked here for a clear error (libxml2 would also print an
			// I/O warning on stderr).
			if _, err := os.Stat(file); err != nil {
				return nil, h.errorf("connect", err)
			}
		}
		conn, err := lv.NewConnect(h.cfg.URI)
		if err != nil {
			return nil, h.errorf("connect", err)
		}
		h.conn = conn
		h.connEvents = eventLoopRunning()
		if h.connEvents {
			h.watchConnLocked()
		}
	}
	if h.watching != 0 && h.callbackID < 0 && h.connEvents {
		// A failure here leaves callbackID at -1: the next call retries.
		_ = h.registerLocked()
	}
	if h.lost {
		h.lost = false
		h.reconcileLocked()
	}
	return h.conn, nil
}

// dropLocked forgets the connection (and its event callback) after closing
// it; the next connLocked opens a new one. h.mu must be held.
func (h *Host) dropLocked() error {
	if h.conn == nil {
		return nil
	}
	if h.callbackID >= 0 {
		_ = h.conn.DomainEventDeregister(h.callbackID)
		h.callbackID = -1
	}
	if h.connEvents {
		_ = h.conn.UnregisterCloseCallback()
	}
	h.lost = !h.closed
	_, err := h.conn.Close()
	h.conn = nil
	h.connEvents = false
	if err != nil {
		return h.errorf("close", err)
	}
	return nil
}

// Close deregisters the event callback and closes the connection. A closed
// Host stays closed: Collect, WatchEvents and WithConn then fail.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	h.watching = 0
	close(h.done)
	return h.dropLocked()
}

// WithConn runs fn with the host's live connection (connecting first if
// needed) while holding the host's lock, so that fn and Collect never
// interleave. It is the hook for acting on a host (start, shut down or
// migrate a domain) and for tests that drive the test driver: connections
// to one test:///FILE.xml do not share state, so changes must go through
// the connection the Host collects from. fn must not keep the connection
// or close it. fn's error is returned unchanged.
func (h *Host) WithConn(fn func(*lv.Connect) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	conn, err := h.connLocked()
	if err != nil {
		return err
	}
	return fn(conn)
}

// Collect reads the node and all its domains and returns one host point
// and one vm point per domain, sorted by domain name, all stamped with the
// time of the read. A connection-level failure closes the connection; the
// next Collect reconnects.
func (h *Host) Collect(ctx context.Context) ([]point.Point, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	conn, err := h.connLocked()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, h.errorf("collect", err)
	}
	now := time.Now()
	node, err := readNode(conn)
	if err != nil {
		h.dropLocked()
		return nil, h.errorf("node info", err)
	}
	doms, op, err := readDomains(ctx, conn)
	if err != nil {
		if ctx.Err() == nil {
			h.dropLocked()
		}
		return nil, h.errorf(op, err)
	}
	return h.points(node, doms, now), nil
}
