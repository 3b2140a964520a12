package influx_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
)

// The token of InfluxDB 1.8 (user:password) reaches /query as basic
// authentication, the statement names the database and retention policy,
// and a refusal is an error that says what the server said.
func TestSiteHistoryAuthAndErrors(t *testing.T) {
	var gotUser, gotPass, gotDB, gotRP, gotQ string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || r.URL.Path != "/query" {
			http.Error(w, `{"error":"unable to parse authentication credentials"}`, http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		gotUser, gotPass, gotDB, gotRP, gotQ = u, p, r.Form.Get("db"), r.Form.Get("rp"), r.Form.Get("q")
		if p != "s3cret" {
			http.Error(w, `{"error":"authorization failed"}`, http.StatusUnauthorized)
			return
		}
		// Two windows of one meter (t in ns), the second without a register.
		_, _ = w.Write([]byte(`{"results":[{"statement_id":0,"series":[{"name":"power","tags":{"category":"facility","meter":"incomer"},
"columns":["time","kw","kwh_total","kwh_reset"],"values":[[1719795600000000000,400,1000.5,null],[1719795660000000000,410,1007.25,true]]}]}]}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	t0 := time.Unix(0, 1719795600000000000)
	r := influx.NewReader(srv.URL, "admin:s3cret", "", "setsuden/autogen")
	defer r.Close()
	p, e, err := r.SiteHistory(ctx, "dc1", t0, t0.Add(2*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if gotUser != "admin" || gotPass != "s3cret" || gotDB != "setsuden" || gotRP != "autogen" ||
		!strings.Contains(gotQ, `"site" = 'dc1'`) || !strings.Contains(gotQ, "GROUP BY time(60s)") {
		t.Errorf("request: user %q pass %q db %q rp %q q %q", gotUser, gotPass, gotDB, gotRP, gotQ)
	}
	if len(p) != 2 || p[0].KW != 400 || !p[0].Time.Equal(t0.Add(30*time.Second)) || len(e) != 2 || e[1].KWhTotal != 1007.25 || !e[1].Reset || e[0].Reset {
		t.Errorf("power %+v, energy %+v", p, e)
	}
	bad := influx.NewReader(srv.URL, "admin:wrong", "", "setsuden/autogen")
	defer bad.Close()
	if _, _, err := bad.SiteHistory(ctx, "dc1", t0, t0.Add(2*time.Minute), time.Minute); err == nil ||
		!strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "authorization failed") || !strings.Contains(err.Error(), `"dc1"`) {
		t.Errorf("refused query: %v", err)
	}
}
