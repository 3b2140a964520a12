// Package webhook delivers JSON events to HTTP endpoints: a bounded queue
// and a worker per endpoint, so that the sender never waits for the
// network and a dead endpoint delays no other; retries with exponential
// backoff, a bounded number of times; and an HMAC-SHA256 signature over
// the timestamp and the body when the endpoint has a secret.
//
// Every request carries
//
//	Content-Type:         application/json
//	X-Setsuden-Event:     the event name, e.g. demand.stage
//	X-Setsuden-Delivery:  an id, the same on every retry (deduplicate on it)
//	X-Setsuden-Timestamp: Unix seconds of this attempt
//	X-Setsuden-Signature: sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))   (with a secret)
//
// Signing the timestamp with the body lets a receiver refuse replays of an
// old request (Verify does both checks).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Header names.
const (
	HeaderEvent     = "X-Setsuden-Event"
	HeaderDelivery  = "X-Setsuden-Delivery"
	HeaderTimestamp = "X-Setsuden-Timestamp"
	HeaderSignature = "X-Setsuden-Signature"
)

// Endpoint is one receiver.
type Endpoint struct {
	URL string
	// Secret is the HMAC-SHA256 key; empty sends unsigned requests.
	Secret []byte
}

// Config configures a Sender.
type Config struct {
	// Name is what sends (e.g. "demand"): the sender label of the metrics
	// and part of the User-Agent.
	Name      string
	Endpoints []Endpoint
	// QueueSize bounds each endpoint's queue (default 256); when it is
	// full the oldest event is dropped, counted and logged.
	QueueSize int
	// MaxAttempts bounds the tries per event (default 6); then it is
	// given up, counted and logged.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure (default 1s); it
	// doubles up to MaxBackoff (default 1m).
	InitialBackoff, MaxBackoff time.Duration
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// Client sends the requests (default a plain http.Client).
	Client *http.Client
	Logger *slog.Logger
	// Registerer receives the metrics; nil means none.
	Registerer prometheus.Registerer
	// Now stamps the requests (default time.Now).
	Now func() time.Time
}

// Sender queues events and delivers them.
type Sender struct {
	cfg       Config
	log       *slog.Logger
	endpoints []*endpoint
	results   *prometheus.CounterVec
	depth     *prometheus.GaugeVec
}

type event struct {
	name, id string
	body     []byte
}

// endpoint is one receiver's queue; its worker delivers in order.
type endpoint struct {
	Endpoint
	// label names the endpoint in logs and metrics: its host only, since
	// the URL's path or query may hold a token.
	label string

	mu    sync.Mutex
	queue []event
	wake  chan struct{}
}

// New checks the endpoints and returns a sender; call Run to deliver.
func New(cfg Config) (*Sender, error) {
	if cfg.Name == "" {
		return nil, errors.New("webhook: sender without a name")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.InitialBackoff {
		cfg.MaxBackoff = max(time.Minute, cfg.InitialBackoff)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sender{cfg: cfg, log: cfg.Logger.With("component", "webhook", "sender", cfg.Name)}
	for i, e := range cfg.Endpoints {
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("webhook %s endpoint %d: not an http or https URL", cfg.Name, i)
		}
		s.endpoints = append(s.endpoints, &endpoint{Endpoint: e, label: u.Host, wake: make(chan struct{}, 1)})
	}
	s.results = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "setsuden_webhook_events_total",
		Help:        "Webhook events by endpoint host and result: delivered, failed (gave up after retries or refused), dropped (queue full).",
		ConstLabels: prometheus.Labels{"sender": cfg.Name},
	}, []string{"endpoint", "result"})
	s.depth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name:        "setsuden_webhook_queue_events",
		Help:        "Webhook events waiting for delivery, by endpoint host.",
		ConstLabels: prometheus.Labels{"sender": cfg.Name},
	}, []string{"endpoint"})
	for _, e := range s.endpoints {
		for _, r := range []string{"delivered", "failed", "dropped"} {
			s.results.WithLabelValues(e.label, r)
		}
		s.depth.WithLabelValues(e.label).Set(0)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.results, s.depth} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("webhook %s metrics: %w", cfg.Name, err)
			}
		}
	}
	return s, nil
}

// Send queues body (JSON) for every endpoint under the event name. It
// never blocks: a full queue drops its oldest event.
func (s *Sender) Send(name string, body []byte) {
	if s == nil {
		return
	}
	ev := event{name: name, id: newID(), body: body}
	for _, e := range s.endpoints {
		e.mu.Lock()
		if len(e.queue) >= s.cfg.QueueSize {
			old := e.queue[0]
			e.queue = e.queue[1:]
			s.results.WithLabelValues(e.label, "dropped").Inc()
			s.log.Warn("webhook queue full; dropped the oldest event", "endpoint", e.label, "event", old.name, "delivery", old.id)
		}
		e.queue = append(e.queue, ev)
		s.depth.WithLabelValues(e.label).Set(float64(len(e.queue)))
		e.mu.Unlock()
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// Pending is the number of events waiting, summed over endpoints.
func (s *Sender) Pending() int {
	n := 0
	for _, e := range s.endpoints {
		e.mu.Lock()
		n += len(e.queue)
		e.mu.Unlock()
	}
	return n
}

// Run delivers until ctx ends; events still queued then are not sent.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, e := range s.endpoints {
		wg.Add(1)
		go func() { defer wg.Done(); s.work(ctx, e) }()
	}
	wg.Wait()
	if n := s.Pending(); n > 0 {
		s.log.Warn("stopped with webhook events undelivered", "events", n)
	}
}

func (s *Sender) work(ctx context.Context, e *endpoint) {
	for {
		e.mu.Lock()
		var ev event
		have := len(e.queue) > 0
		if have {
			ev = e.queue[0]
		}
		e.mu.Unlock()
		if !have {
			select {
			case <-ctx.Done():
				return
			case <-e.wake:
				continue
			}
		}
		result := s.deliver(ctx, e, ev)
		if ctx.Err() != nil {
			return // the event stays queued; Run reports it
		}
		e.mu.Lock()
		// Send may have dropped it meanwhile; remove it only if it is
		// still at the head.
		if len(e.queue) > 0 && e.queue[0].id == ev.id {
			e.queue = e.queue[1:]
		}
		s.depth.WithLabelValues(e.label).Set(float64(len(e.queue)))
		e.mu.Unlock()
		s.results.WithLabelValues(e.label, result).Inc()
	}
}

// deliver tries an event until it is accepted, refused, or the attempts
// run out; it returns delivered or failed.
func (s *Sender) deliver(ctx context.Context, e *endpoint, ev event) string {
	backoff := s.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		wait, err := s.attempt(ctx, e, ev)
		if err == nil {
			return "delivered"
		}
		if ctx.Err() != nil {
			return "failed"
		}
		var perm permanentError
		if errors.As(err, &perm) {
			s.log.Error("webhook refused the event; not retried", "endpoint", e.label, "event", ev.name, "delivery", ev.id, "err", err)
			return "failed"
		}
		if attempt >= s.cfg.MaxAttempts {
			s.log.Error("webhook delivery gave up", "endpoint", e.label, "event", ev.name, "delivery", ev.id, "attempts", attempt, "err", err)
			return "failed"
		}
		if wait <= 0 || wait > s.cfg.MaxBackoff {
			wait = backoff
		}
		s.log.Warn("webhook delivery failed; retrying", "endpoint", e.label, "event", ev.name, "delivery", ev.id, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "failed"
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// permanentError is a failure that retrying will not change: a 4xx
// response other than 408 and 429, or a request that cannot be built.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// attempt sends once; wait is the server's Retry-After, if any.
func (s *Sender) attempt(ctx context.Context, e *endpoint, ev event) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(ev.body))
	if err != nil {
		// err quotes the URL, which may hold a token.
		return 0, permanentError{fmt.Errorf("request to %s: cannot be built", e.label)}
	}
	ts := strconv.FormatInt(s.cfg.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "setsuden-webhook/"+s.cfg.Name)
	req.Header.Set(HeaderEvent, ev.name)
	req.Header.Set(HeaderDelivery, ev.id)
	req.Header.Set(HeaderTimestamp, ts)
	if len(e.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(e.Secret, ts, ev.body))
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		// The error names the URL, which may hold a token: keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, fmt.Errorf("post to %s: %w", e.label, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		var wait time.Duration
		if sec, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && sec > 0 {
			wait = time.Duration(sec) * time.Second
		}
		return wait, fmt.Errorf("post to %s: HTTP %d", e.label, resp.StatusCode)
	default:
		return 0, permanentError{fmt.Errorf("post to %s: HTTP %d", e.label, resp.StatusCode)}
	}
}

// Sign is the signature header's value: sha256= and the hex HMAC-SHA256 of
// timestamp + "." + body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a received request's signature and that its timestamp is
// within tolerance of now, for receivers (and tests).
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: %s %q is not Unix seconds", HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp %s is %s away from now (tolerance %s)", ts, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return errors.New("webhook: signature does not match")
	}
	return nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
