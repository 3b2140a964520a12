package sla

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// Probe kinds.
const (
	ProbeHTTP = "http" // http:// and https:// URLs
	ProbeTCP  = "tcp"  // host:port, connect only
)

// ProbeSpec configures one end-to-end check of a service.
type ProbeSpec struct {
	Name    string // unique within the site; tag "probe"
	Service string // tag "service"
	Kind    string // ProbeHTTP or ProbeTCP
	// Target is the URL (http) or host:port (tcp).
	Target string
	// Interval is how often the scheduler runs the probe (for the caller).
	Interval time.Duration
	// Timeout bounds one check (default 10 s; keep it above the SLA's
	// response bound so slow answers are measured, not cut off).
	Timeout time.Duration
	// ExpectStatus lists accepted HTTP status codes; empty accepts 200-399.
	ExpectStatus []int
	// ExpectBody, if set, must occur in the first MiB of the body.
	ExpectBody string
	// TLS configures https (e.g. a private CA); nil uses the system roots.
	TLS *tls.Config
}

// Validate reports what is wrong with the spec.
func (s ProbeSpec) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("probe: name is empty")
	case s.Service == "":
		return fmt.Errorf("probe %q: service is empty", s.Name)
	case s.Timeout < 0:
		return fmt.Errorf("probe %q: negative timeout", s.Name)
	}
	switch s.Kind {
	case ProbeHTTP:
		u, err := url.Parse(s.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("probe %q: target %q is not an http:// or https:// URL", s.Name, s.Target)
		}
	case ProbeTCP:
		if _, _, err := net.SplitHostPort(s.Target); err != nil {
			return fmt.Errorf("probe %q: target %q is not host:port: %w", s.Name, s.Target, err)
		}
	default:
		return fmt.Errorf("probe %q: kind %q (expected http or tcp)", s.Name, s.Kind)
	}
	return nil
}

// Probe runs one check per Collect and reports it as a "probe" point. It
// is a collector.Source, so the collector schedules it like any meter. A
// failing target is a result (up=false), not a Collect error: Collect fails
// only when the monitor itself cannot check (its context ended), which
// must read as UNKNOWN, never as the service being down.
type Probe struct {
	spec   ProbeSpec
	client *http.Client
	dialer net.Dialer
}

// NewProbe validates spec and returns a probe.
func NewProbe(spec ProbeSpec) (*Probe, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Timeout == 0 {
		spec.Timeout = 10 * time.Second
	}
	p := &Probe{spec: spec}
	if spec.Kind == ProbeHTTP {
		// A fresh connection per check: the response time is what a new
		// visitor sees (DNS, connect, TLS, first byte, body).
		p.client = &http.Client{Transport: &http.Transport{
			Proxy:             http.ProxyFromEnvironment,
			TLSClientConfig:   spec.TLS,
			DisableKeepAlives: true,
		}}
	}
	return p, nil
}

// Name implements collector.Source.
func (p *Probe) Name() string { return p.spec.Name }

// Spec returns the probe's configuration.
func (p *Probe) Spec() ProbeSpec { return p.spec }

// Collect implements collector.Source: one check, one point.
func (p *Probe) Collect(ctx context.Context) ([]point.Point, error) {
	c, err := p.Check(ctx)
	if err != nil {
		return nil, err
	}
	return []point.Point{ProbePoint(p.spec, c)}, nil
}

// Check runs one check. The error is non-nil only if ctx ended.
func (p *Probe) Check(ctx context.Context) (Check, error) {
	cctx, cancel := context.WithTimeout(ctx, p.spec.Timeout)
	defer cancel()
	start := time.Now()
	var err error
	switch p.spec.Kind {
	case ProbeHTTP:
		err = p.checkHTTP(cctx)
	case ProbeTCP:
		err = p.checkTCP(cctx)
	}
	end := time.Now()
	if ctx.Err() != nil {
		return Check{}, fmt.Errorf("probe %s: check of %s abandoned: %w", p.spec.Name, p.spec.Target, ctx.Err())
	}
	c := Check{At: end, OK: err == nil, ResponseMs: float64(end.Sub(start)) / float64(time.Millisecond)}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %w", p.spec.Timeout, err)
		}
		c.Error = err.Error()
	}
	return c, nil
}

func (p *Probe) checkHTTP(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.spec.Target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "setsuden-probe")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if !p.statusOK(resp.StatusCode) {
		return fmt.Errorf("HTTP status %s", resp.Status)
	}
	if p.spec.ExpectBody != "" && !strings.Contains(string(body), p.spec.ExpectBody) {
		return fmt.Errorf("body does not contain %q", p.spec.ExpectBody)
	}
	return nil
}

func (p *Probe) statusOK(code int) bool {
	if len(p.spec.ExpectStatus) == 0 {
		return code >= 200 && code < 400
	}
	for _, c := range p.spec.ExpectStatus {
		if c == code {
			return true
		}
	}
	return false
}

func (p *Probe) checkTCP(ctx context.Context) error {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.spec.Target)
	if err != nil {
		return err
	}
	return conn.Close()
}
