package sla_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/rules/sla"
)

var _ collector.Source = (*sla.Probe)(nil)

func newProbe(t *testing.T, spec sla.ProbeSpec) *sla.Probe {
	t.Helper()
	p, err := sla.NewProbe(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("status: ok")) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "db down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte("status: ok"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	ctx := context.Background()

	p := newProbe(t, sla.ProbeSpec{Name: "web-http", Service: "web", Kind: sla.ProbeHTTP, Target: srv.URL + "/health", ExpectBody: "ok"})
	pts, err := p.Collect(ctx)
	if err != nil || len(pts) != 1 {
		t.Fatalf("collect: %v, %d points", err, len(pts))
	}
	pt := pts[0]
	if err := pt.Validate(); err != nil {
		t.Fatal(err)
	}
	if pt.Measurement != "probe" || pt.Tags["service"] != "web" || pt.Tags["probe"] != "web-http" || pt.Tags["kind"] != "http" {
		t.Errorf("point = %+v", pt)
	}
	if pt.Fields["up"] != true || pt.Fields["response_ms"].(float64) <= 0 || pt.Fields["error"] != nil {
		t.Errorf("fields = %v", pt.Fields)
	}

	c, _ := newProbe(t, sla.ProbeSpec{Name: "b", Service: "web", Kind: sla.ProbeHTTP, Target: srv.URL + "/broken"}).Check(ctx)
	if c.OK || !strings.Contains(c.Error, "503") {
		t.Errorf("503: %+v", c)
	}
	c, _ = newProbe(t, sla.ProbeSpec{Name: "b", Service: "web", Kind: sla.ProbeHTTP, Target: srv.URL + "/health", ExpectBody: "green"}).Check(ctx)
	if c.OK || !strings.Contains(c.Error, `"green"`) {
		t.Errorf("body mismatch: %+v", c)
	}
	c, _ = newProbe(t, sla.ProbeSpec{Name: "s", Service: "web", Kind: sla.ProbeHTTP, Target: srv.URL + "/slow"}).Check(ctx)
	if !c.OK || c.ResponseMs < 300 {
		t.Errorf("slow answer: %+v, want up with >= 300 ms", c)
	}
	c, _ = newProbe(t, sla.ProbeSpec{Name: "s", Service: "web", Kind: sla.ProbeHTTP, Target: srv.URL + "/slow", Timeout: 50 * time.Millisecond}).Check(ctx)
	if c.OK || !strings.Contains(c.Error, "no answer within 50ms") {
		t.Errorf("timeout: %+v", c)
	}
	// HTTPS with the server's CA; without it the certificate is refused.
	tlsCfg := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	c, _ = newProbe(t, sla.ProbeSpec{Name: "t", Service: "web", Kind: sla.ProbeHTTP, Target: tlsSrv.URL + "/health", TLS: tlsCfg}).Check(ctx)
	if !c.OK {
		t.Errorf("https: %+v", c)
	}
	c, _ = newProbe(t, sla.ProbeSpec{Name: "t", Service: "web", Kind: sla.ProbeHTTP, Target: tlsSrv.URL + "/health"}).Check(ctx)
	if c.OK || !strings.Contains(c.Error, "certificate") {
		t.Errorf("https, unknown CA: %+v", c)
	}

	// The monitor's own end is not the service's failure.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if pts, err := p.Collect(cctx); err == nil || pts != nil {
		t.Errorf("cancelled check: %v, %v; want an error and no point", pts, err)
	}
}

func TestProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := l.Addr().String()
	ctx := context.Background()
	c, err := newProbe(t, sla.ProbeSpec{Name: "db-tcp", Service: "db", Kind: sla.ProbeTCP, Target: open}).Check(ctx)
	if err != nil || !c.OK || c.ResponseMs <= 0 {
		t.Errorf("open port: %+v, %v", c, err)
	}
	l.Close() // now nothing listens there
	pts, err := newProbe(t, sla.ProbeSpec{Name: "db-tcp", Service: "db", Kind: sla.ProbeTCP, Target: open}).Collect(ctx)
	if err != nil || len(pts) != 1 {
		t.Fatalf("closed port: %v", err)
	}
	if pts[0].Fields["up"] != false || !strings.Contains(pts[0].Fields["error"].(string), "refused") {
		t.Errorf("closed port fields: %v", pts[0].Fields)
	}
}

func TestProbeSpecValidate(t *testing.T) {
	for _, s := range []sla.ProbeSpec{
		{Name: "", Service: "x", Kind: "tcp", Target: "a:1"},
		{Name: "p", Service: "", Kind: "tcp", Target: "a:1"},
		{Name: "p", Service: "x", Kind: "tcp", Target: "nohostport"},
		{Name: "p", Service: "x", Kind: "http", Target: "ftp://a/"},
		{Name: "p", Service: "x", Kind: "icmp", Target: "a"},
	} {
		if _, err := sla.NewProbe(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
