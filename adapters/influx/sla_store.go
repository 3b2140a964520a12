package influx

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// SLAStoreConfig configures an SLAStore.
type SLAStoreConfig struct {
	URL    string
	Token  string // v2 token, or "user:pass" / "" for InfluxDB 1.8
	Org    string
	Bucket string // "db/rp" for InfluxDB 1.8
	// Maintenance is the audited maintenance log (sla.FileMaintenanceStore);
	// nil means no maintenance.
	Maintenance sla.MaintenanceStore
	// RecentLookback is how far before a range the state-change read
	// reaches to find the state in force at its start (default 35 days);
	// only services with no change in it cost a second search, back to
	// InitialLookback (default 400 days).
	RecentLookback  time.Duration
	InitialLookback time.Duration
	// Timeout bounds one query (default 2 min).
	Timeout time.Duration
	// Gzip asks influxd to compress results: worth it only over a slow
	// link, as compressing costs influxd more than the transfer saves on
	// a LAN.
	Gzip bool
	// HTTPClient is used for queries; nil means a default client.
	HTTPClient *http.Client
}

// SLAStore reads what SLA reports need (report.Store) from InfluxDB: the
// sla_state_change and probe measurements (docs/schema.md) and, through the
// maintenance log, the maintenance windows.
//
// Queries keep to range, filter and last, which the Flux v0.65 engine of
// InfluxDB 1.8 has (shared/deps.md section 5). pivot is avoided: in that
// engine it roughly doubles the time of a probe read; fields are joined
// here instead. Results are streamed from the annotated CSV with a
// parser of our own rather than the client's QueryTableResult, which builds
// a map per row; a month of probes is millions of rows.
type SLAStore struct {
	cfg    SLAStoreConfig
	client *http.Client
}

// maxOrChain is the most services named in a Flux filter; beyond it the
// whole site is read and the rest dropped here.
const maxOrChain = 50

// NewSLAStore returns a store for cfg.
func NewSLAStore(cfg SLAStoreConfig) (*SLAStore, error) {
	if cfg.URL == "" || cfg.Bucket == "" {
		return nil, errors.New("sla store: url and bucket are required")
	}
	if cfg.RecentLookback <= 0 {
		cfg.RecentLookback = 35 * 24 * time.Hour
	}
	if cfg.InitialLookback <= 0 {
		cfg.InitialLookback = 400 * 24 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{}
	}
	return &SLAStore{cfg: cfg, client: c}, nil
}

// StateChanges implements report.Store: each service's changes in
// [from, to), preceded by the last change before from. One read covers
// [from - RecentLookback, to); services with no change in it are looked up
// with last() further back, so the cost follows the number of changes.
func (s *SLAStore) StateChanges(ctx context.Context, site string, services []string, from, to time.Time) (map[string][]sla.StateChange, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("sla state changes of %q: empty range %s..%s", site, fluxTime(from), fluxTime(to))
	}
	want := slaSet(services)
	fields := `r._field == "state" or r._field == "cause" or r._field == "severity"`
	recent := from.Add(-s.cfg.RecentLookback)
	q := fmt.Sprintf(`from(bucket: %s)
  |> %s
  |> filter(fn: (r) => r._measurement == %s and r.site == %s%s)
  |> filter(fn: (r) => %s)`,
		slaFluxString(s.cfg.Bucket), fluxRange(recent, to), slaFluxString(sla.MeasurementStateChange),
		slaFluxString(site), slaServiceFilter(services), fields)
	byService := map[string][]sla.StateChange{}
	if err := s.readChanges(ctx, q, want, byService); err != nil {
		return nil, fmt.Errorf("sla state changes of %q %s..%s: %w", site, fluxTime(from), fluxTime(to), err)
	}
	out := map[string][]sla.StateChange{}
	var missing []string
	for svc, cs := range byService {
		var before *sla.StateChange
		var in []sla.StateChange
		for i, c := range cs {
			if c.At.Before(from) {
				before = &cs[i]
			} else {
				in = append(in, c)
			}
		}
		if before != nil {
			in = append([]sla.StateChange{*before}, in...)
		} else {
			missing = append(missing, svc)
		}
		out[svc] = in
	}
	for _, svc := range services {
		if _, ok := byService[svc]; !ok {
			missing = append(missing, svc)
		}
	}
	if services != nil && len(missing) == 0 || !recent.After(from.Add(-s.cfg.InitialLookback)) {
		return out, nil
	}
	// The state in force for services that did not change recently (with
	// no list of services, any of the site's may not have).
	sort.Strings(missing)
	lookup := missing
	if services == nil {
		lookup = nil
	}
	q = fmt.Sprintf(`from(bucket: %s)
  |> %s
  |> filter(fn: (r) => r._measurement == %s and r.site == %s%s)
  |> filter(fn: (r) => %s)
  |> last()`,
		slaFluxString(s.cfg.Bucket), fluxRange(from.Add(-s.cfg.InitialLookback), recent),
		slaFluxString(sla.MeasurementStateChange), slaFluxString(site), slaServiceFilter(lookup), fields)
	older := map[string][]sla.StateChange{}
	needed := slaSet(missing)
	if err := s.readChanges(ctx, q, slaSet(lookup), older); err != nil {
		return nil, fmt.Errorf("sla state changes of %q before %s: %w", site, fluxTime(recent), err)
	}
	for svc, cs := range older {
		if services == nil && !needed[svc] {
			if _, seen := byService[svc]; seen {
				continue // it has its state before from already
			}
		}
		// last() works per field: keep the newest state, with the cause
		// and severity only if written with it.
		if n := len(cs); n > 0 {
			out[svc] = append([]sla.StateChange{cs[n-1]}, out[svc]...)
		}
	}
	return out, nil
}

// readChanges joins the state, cause and severity fields of each
// (service, time) into changes, sorted by time.
func (s *SLAStore) readChanges(ctx context.Context, q string, want map[string]bool, into map[string][]sla.StateChange) error {
	type key struct {
		svc string
		at  int64
	}
	type rec struct {
		state, cause, severity string
		hasState               bool
	}
	recs := map[key]*rec{}
	err := s.serviceRows(ctx, q, want, func(svc string, at time.Time, row slaRow) error {
		k := key{svc, at.UnixNano()}
		r := recs[k]
		if r == nil {
			r = &rec{}
			recs[k] = r
		}
		switch v := row.get("_value"); row.get("_field") {
		case "state":
			r.state, r.hasState = v, true
		case "cause":
			r.cause = v
		case "severity":
			r.severity = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, r := range recs {
		if !r.hasState {
			continue // a cause or severity without its state (last() of an older point)
		}
		st, err := sla.ParseState(r.state)
		if err != nil {
			return fmt.Errorf("service %q at %s: %w", k.svc, time.Unix(0, k.at).UTC().Format(time.RFC3339Nano), err)
		}
		sev, _ := sla.ParseSeverity(r.severity) // an unknown grade counts as unset: down
		into[k.svc] = append(into[k.svc], sla.StateChange{At: time.Unix(0, k.at).UTC(), State: st, Cause: r.cause, Severity: sev})
	}
	for _, cs := range into {
		sort.Slice(cs, func(i, j int) bool { return cs[i].At.Before(cs[j].At) })
	}
	return nil
}

// Probes implements report.Store. It reads response_ms of every probe
// point and, separately, only the failed ones' up field (few rows; the
// filter on _value is cheap in 1.8), and streams samples per series.
func (s *SLAStore) Probes(ctx context.Context, site string, services []string, from, to time.Time, fn func(string, []sla.ProbeSample) error) error {
	want := slaSet(services)
	base := fmt.Sprintf(`from(bucket: %s)
  |> %s
  |> filter(fn: (r) => r._measurement == %s and r.site == %s%s)`,
		slaFluxString(s.cfg.Bucket), fluxRange(from, to), slaFluxString(sla.MeasurementProbe),
		slaFluxString(site), slaServiceFilter(services))
	type key struct {
		svc, probe string
		at         int64
	}
	failed := map[key]bool{}
	err := s.serviceRows(ctx, base+`
  |> filter(fn: (r) => r._field == "up")
  |> filter(fn: (r) => r._value == false)`, want, func(svc string, at time.Time, row slaRow) error {
		failed[key{svc, row.get("probe"), at.UnixNano()}] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("sla probes of %q %s..%s: failures: %w", site, fluxTime(from), fluxTime(to), err)
	}
	const batchMax = 8192
	var batch []sla.ProbeSample
	var batchSvc, batchTable string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fn(batchSvc, batch)
		batch = nil
		return err
	}
	err = s.serviceRows(ctx, base+`
  |> filter(fn: (r) => r._field == "response_ms")`, want, func(svc string, at time.Time, row slaRow) error {
		if tbl := row.get("table"); tbl != batchTable || svc != batchSvc || len(batch) >= batchMax {
			if err := flush(); err != nil {
				return err
			}
			batchSvc, batchTable = svc, tbl
		}
		ms, err := row.float("_value")
		if err != nil {
			return err
		}
		probe := row.get("probe")
		k := key{svc, probe, at.UnixNano()}
		down := failed[k]
		if down {
			delete(failed, k)
		}
		batch = append(batch, sla.ProbeSample{At: at, Probe: probe, Up: !down, ResponseMs: ms})
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("sla probes of %q %s..%s: %w", site, fluxTime(from), fluxTime(to), err)
	}
	// Failures written without a response time still count (as failed).
	for k := range failed {
		if err := fn(k.svc, []sla.ProbeSample{{At: time.Unix(0, k.at).UTC(), Probe: k.probe}}); err != nil {
			return err
		}
	}
	return nil
}

// MaintenanceWindows implements report.Store from the maintenance log.
func (s *SLAStore) MaintenanceWindows(ctx context.Context, from, to time.Time) ([]sla.MaintenanceWindow, error) {
	if s.cfg.Maintenance == nil {
		return nil, nil
	}
	ws, err := s.cfg.Maintenance.Windows(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("sla maintenance windows: %w", err)
	}
	return ws, nil
}

// slaRow is one data row of an annotated-CSV table; valid only during the
// callback (the CSV reader reuses its buffers).
type slaRow struct {
	cols   map[string]int
	fields []string
}

func (r slaRow) get(col string) string {
	if i, ok := r.cols[col]; ok && i < len(r.fields) {
		return r.fields[i]
	}
	return ""
}

func (r slaRow) time() (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, r.get("_time"))
	if err != nil {
		return time.Time{}, fmt.Errorf("bad _time %q: %w", r.get("_time"), err)
	}
	return t, nil
}

func (r slaRow) float(col string) (float64, error) {
	f, err := strconv.ParseFloat(r.get(col), 64)
	if err != nil {
		return 0, fmt.Errorf("bad %s %q: %w", col, r.get(col), err)
	}
	return f, nil
}

// query runs q and calls fn for every data row, streaming.
// serviceRows runs q and calls fn with each row of a wanted service (want
// nil: every one).
func (s *SLAStore) serviceRows(ctx context.Context, q string, want map[string]bool, fn func(svc string, at time.Time, row slaRow) error) error {
	return s.query(ctx, q, func(row slaRow) error {
		svc := row.get("service")
		if want != nil && !want[svc] {
			return nil
		}
		at, err := row.time()
		if err != nil {
			return err
		}
		return fn(svc, at, row)
	})
}

// post sends body to InfluxDB's path (with its query string) with the
// store's token and returns the response if it is 2xx; otherwise an error
// with the server's message (the body is closed then).
func (s *SLAStore) post(ctx context.Context, path string, header http.Header, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = header
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+s.cfg.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

func (s *SLAStore) query(ctx context.Context, q string, fn func(slaRow) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{
		"query": q, "type": "flux",
		"dialect": map[string]any{"header": true, "annotations": []string{"datatype", "group", "default"}},
	})
	hdr := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/csv"}}
	if !s.cfg.Gzip {
		// influxd compresses far slower than it reads: a month of hourly
		// probes of 10,000 services (7.2 M rows) took 17.6 s gzipped and
		// 8.0 s plain on loopback (2 cores).
		hdr.Set("Accept-Encoding", "identity")
	}
	resp, err := s.post(ctx, "/api/v2/query?org="+url.QueryEscape(s.cfg.Org), hdr, body)
	if err != nil {
		return fmt.Errorf("flux query on %s: %w", s.cfg.Bucket, err)
	}
	defer resp.Body.Close()
	cr := csv.NewReader(resp.Body)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	row := slaRow{}
	header := false // the next non-annotation row is a header
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("flux query on %s: read result: %w", s.cfg.Bucket, err)
		}
		if len(rec) == 0 {
			continue
		}
		if strings.HasPrefix(rec[0], "#") {
			header = true
			continue
		}
		if header {
			header = false
			row.cols = make(map[string]int, len(rec))
			for i, name := range rec {
				row.cols[name] = i
			}
			continue
		}
		if row.cols == nil {
			return fmt.Errorf("flux query on %s: result without a header", s.cfg.Bucket)
		}
		if _, isErr := row.cols["error"]; isErr {
			row.fields = rec
			return fmt.Errorf("flux query on %s: %s", s.cfg.Bucket, row.get("error"))
		}
		row.fields = rec
		if err := fn(row); err != nil {
			return err
		}
	}
}

func slaSet(names []string) map[string]bool {
	if names == nil {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// slaServiceFilter narrows a filter to a few services; for many, the
// whole site is read (one scan beats a huge predicate) and rows are
// dropped client-side.
func slaServiceFilter(services []string) string {
	if services == nil || len(services) > maxOrChain {
		return ""
	}
	if len(services) == 0 {
		return ` and false`
	}
	parts := make([]string, len(services))
	for i, s := range services {
		parts[i] = "r.service == " + slaFluxString(s)
	}
	return " and (" + strings.Join(parts, " or ") + ")"
}

// slaFluxString quotes s as a Flux string literal.
func slaFluxString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
