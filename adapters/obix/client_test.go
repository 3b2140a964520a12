package obix

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector"
)

var _ collector.Source = (*Source)(nil)

// TestHTTPSBasicAuth reads through TLS with basic auth, against the fake
// server on an httptest TLS listener.
func TestHTTPSBasicAuth(t *testing.T) {
	f := newFakeServer(t, "testdata/batch", true)
	for _, r := range [][3]string{
		{"GET", "/obix/", "lobby.xml"},
		{"GET", "/obix/config/PDU1/ActivePower/", "active-power.xml"},
	} {
		if err := f.serve(r[0], r[1], r[2], 200); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	c := &Client{BaseURL: f.srv.URL + "/obix/", Username: fakeUser, Password: fakePass, HTTP: f.srv.Client()}
	if !strings.HasPrefix(c.BaseURL, "https://") {
		t.Fatalf("want an https server, got %s", c.BaseURL)
	}
	objs, err := c.Batch(ctx, []string{"/obix/config/PDU1/ActivePower/"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ValueOf(objs[0], time.Now())
	if err != nil || v.Value != 12.4 {
		t.Fatalf("got %+v, %v; want 12.4", v, err)
	}

	// The default client does not trust the test certificate: the error
	// must say so rather than hang or panic.
	insecure := &Client{BaseURL: c.BaseURL, Username: fakeUser, Password: fakePass}
	if _, err := insecure.Lobby(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error, got %v", err)
	}

	bad := &Client{BaseURL: c.BaseURL, Username: fakeUser, Password: "nope", HTTP: f.srv.Client()}
	_, err = bad.Read(ctx, "/obix/config/PDU1/ActivePower/")
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), f.srv.URL+"/obix/config/PDU1/ActivePower/") {
		t.Fatalf("want a 401 naming the URL, got %v", err)
	}
	if strings.Contains(err.Error(), "nope") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

// TestContextCancel: a server that never answers is cut off by the context.
func TestContextCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := &Client{BaseURL: srv.URL + "/obix/"}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Read(ctx, "x/")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("read did not stop at the deadline")
	}
}

// TestOversizedAnswer: an endless answer is cut at maxBody.
func TestOversizedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<obj>"))
		chunk := bytes.Repeat([]byte("<obj/>"), 1<<16)
		for i := 0; i < maxBody/len(chunk)+2; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL + "/"}
	_, err := c.Read(context.Background(), "big/")
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("want a size error, got %v", err)
	}
}

func TestInvalidBaseURL(t *testing.T) {
	for _, base := range []string{"", "station:80", "ftp://x/obix/", "http:///obix/"} {
		c := &Client{BaseURL: base}
		if _, err := c.Lobby(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid oBIX base URL") {
			t.Errorf("BaseURL %q: want an invalid base URL error, got %v", base, err)
		}
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	in := historyFilter(500, time.Date(2021, 4, 1, 0, 0, 0, 0, time.FixedZone("", 3600)), time.Time{})
	var b bytes.Buffer
	if err := Encode(&b, in); err != nil {
		t.Fatal(err)
	}
	// The HistoryFilter of the notes (§4.3), with end left open.
	want := `<obj xmlns="http://obix.org/ns/schema/1.0" is="obix:HistoryFilter"><int name="limit" val="500"></int><abstime name="start" val="2021-04-01T00:00:00.000+01:00"></abstime><abstime name="end" null="true"></abstime></obj>`
	if b.String() != want {
		t.Fatalf("encoded\n%s\nwant\n%s", b.String(), want)
	}
	out, err := Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Child("limit").Val != "500" || !out.Child("end").Null || !out.Implements(ContractHistoryFilter) {
		t.Fatalf("round trip lost data: %+v", out)
	}
	if err := Encode(&b, &Obj{Kind: "bad name"}); err == nil {
		t.Fatal("want an error for an invalid element name")
	}
}

func TestValueObj(t *testing.T) {
	for _, c := range []struct {
		in         any
		kind, val  string
		wantErrSub string
	}{
		{24.5, KindReal, "24.5", ""},
		{float32(0.5), KindReal, "0.5", ""},
		{math.Inf(-1), KindReal, "-INF", ""},
		{math.NaN(), KindReal, "NaN", ""},
		{1e21, KindReal, "1000000000000000000000", ""},
		{42, KindInt, "42", ""},
		{int64(-7), KindInt, "-7", ""},
		{uint64(math.MaxUint64), "", "", "does not fit"},
		{true, KindBool, "true", ""},
		{"eco", KindStr, "eco", ""},
		{4 * time.Minute, KindReltime, "PT240S", ""},
		{time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC), KindAbstime, "2025-07-01T12:00:00.000Z", ""},
		{struct{}{}, "", "", "cannot write"},
	} {
		o, err := valueObj(c.in)
		if c.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrSub) {
				t.Errorf("%v: want error containing %q, got %v", c.in, c.wantErrSub, err)
			}
			continue
		}
		if err != nil || o.Kind != c.kind || o.Val != c.val {
			t.Errorf("%v: got %+v, %v; want <%s val=%q>", c.in, o, err, c.kind, c.val)
		}
	}
}

func TestReltime(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT30S", 30 * time.Second, true},
		{"PT4M0S", 4 * time.Minute, true},
		{"PT1H", time.Hour, true},
		{"PT24H", 24 * time.Hour, true},
		{"P1DT2H", 26 * time.Hour, true},
		{"P0Y0M1D", 24 * time.Hour, true},
		{"PT0.25S", 250 * time.Millisecond, true},
		{"-PT1S", -time.Second, true},
		{"P1W", 7 * 24 * time.Hour, true},
		{"PT", 0, false},
		{"P", 0, false},
		{"30S", 0, false},
		{"PT5X", 0, false},
		{"PTT5S", 0, false},
		{"P1Y", 0, false},
		{"PT1e400S", 0, false},
		{"PT99999999999999999999H", 0, false},
	} {
		got, err := ParseReltime(c.in)
		if c.ok != (err == nil) || got != c.want {
			t.Errorf("ParseReltime(%q) = %v, %v; want %v ok=%t", c.in, got, err, c.want, c.ok)
		}
		if c.ok {
			back, err := ParseReltime(FormatReltime(c.want))
			if err != nil || back != c.want {
				t.Errorf("FormatReltime(%v) = %q does not read back: %v, %v", c.want, FormatReltime(c.want), back, err)
			}
		}
	}
}

func TestUnits(t *testing.T) {
	for unit, want := range map[string]string{
		"obix:units/kilowatt":      "kw",
		"obix:units/kilowatt_hour": "kwh",
		"obix:units/volt":          "v",
		"obix:units/ampere":        "a",
		"obix:units/celsius":       "c",
		"obix:units/fahrenheit":    "f",
		"obix:units/null":          "",
		"":                         "",
		"obix:units/furlong":       "",
	} {
		got, ok := UnitSuffix(unit)
		if got != want || ok != (want != "") {
			t.Errorf("UnitSuffix(%q) = %q, %t; want %q", unit, got, ok, want)
		}
	}
	for _, c := range []struct {
		v        float64
		from, to string
		want     float64
		ok       bool
	}{
		{12400, "w", "kw", 12.4, true},
		{2, "mwh", "kwh", 2000, true},
		{71.6, "f", "c", 22, true},
		{295.15, "k", "c", 22, true},
		{230, "v", "kw", 0, false},
		{5, "kw", "kw", 5, true},
	} {
		got, ok := convertUnit(c.v, c.from, c.to)
		if ok != c.ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("convertUnit(%v, %s, %s) = %v, %t; want %v, %t", c.v, c.from, c.to, got, ok, c.want, c.ok)
		}
	}
}
