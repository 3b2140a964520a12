package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/internal/testobixd"
)

// The oBIX end-to-end tests run the built binary against obixd, an oBIX
// gateway of our own in its own process (adapters/obix/testdata/obixd,
// Python standard library), and a real influxd, and check what InfluxDB
// holds. obixd's flags pick the behaviours of gateways that differ from
// the spec's examples.

// startObixd starts obixd with flags and stops it when the test ends.
func startObixd(t *testing.T, flags ...string) *obixd { return &obixd{testobixd.Start(t, flags...)} }

// obixd is one running oBIX test gateway.
type obixd struct{ *testobixd.Gateway }

func (o *obixd) ctl(t *testing.T, path string, params ...string) string {
	t.Helper()
	return o.Ctl(t, path, params...)
}

// obixRun is one `setsuden run` process.
type obixRun struct {
	cmd *exec.Cmd
	log string // path of its log (stdout and stderr)
}

// startRun starts `setsuden run --config conf` and stops it (SIGTERM) when
// the test ends, if the test has not stopped it already.
func startObixRun(t *testing.T, conf string) *obixRun {
	t.Helper()
	bin := buildBinary(t)
	r := &obixRun{log: filepath.Join(filepath.Dir(conf), "run.log")}
	f, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "run", "--config", conf)
	r.cmd.Stdout, r.cmd.Stderr = f, f
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.stop(t)
		f.Close()
		if t.Failed() {
			data, _ := os.ReadFile(r.log)
			t.Logf("setsuden log:\n%s", data)
		}
	})
	return r
}

func (r *obixRun) stop(t *testing.T) {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("setsuden exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
		t.Error("setsuden did not stop within 30 s")
	}
}

func (r *obixRun) logText() string {
	data, _ := os.ReadFile(r.log)
	return string(data)
}

var uiAddr = regexp.MustCompile(`ui=(http://[0-9.:]+)`)

// ui waits for the ready line and returns the UI's base URL.
func (r *obixRun) ui(t *testing.T) string {
	t.Helper()
	var base string
	waitUntil(t, 60*time.Second, "setsuden's ready line", func() bool {
		m := uiAddr.FindStringSubmatch(r.logText())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	return base
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// obixConfig writes a configuration for one gateway (gateway is its YAML
// block below "gateways:", indented by six spaces) and returns its path.
func obixConfig(t *testing.T, db *influx.Influxd, site, gateway string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "setsuden.yaml")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: %s}
influx:
  url: %s
  bucket: %s
  flush_interval: 200ms
  queue_dir: %s
server: {listen: "127.0.0.1:0"}
obix:
  gateways:
%s`, site, db.URL, db.Bucket(), filepath.Join(dir, "queue"), gateway)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// facilityPoints maps obixd's facility to the fields of docs/schema.md.
const facilityPoints = `      points:
        - {href: config/AHU1/SupplyAirTemp/, measurement: temperature, field: supply_air_c, tags: {meter: ahu-1}}
        - {href: config/AHU1/ReturnAirTemp/, measurement: temperature, field: return_air_c, tags: {meter: ahu-1}}
        - {href: config/AHU1/Humidity/, measurement: temperature, field: humidity_rh, tags: {meter: ahu-1}}
        - {href: /obix/config/CHW/SupplyTemp/, measurement: temperature, field: chw_supply_c, tags: {meter: chw}}
        - {href: /obix/config/CHW/ReturnTemp/, measurement: temperature, field: chw_return_c, tags: {meter: chw}}
        - {href: /obix/config/Chiller1/Power/, measurement: power, field: kw, tags: {meter: chiller-1, category: cooling}}
        - {href: /obix/config/Lighting/Power/, measurement: power, field: kw, tags: {meter: lighting, category: lighting}}
`

// influxRow is one row of an InfluxQL answer: column -> value.
type influxRow map[string]any

// influxQuery runs an InfluxQL query on the test database (the v1 API, so
// that the check does not go through setsuden's own reader).
func influxQuery(t *testing.T, db *influx.Influxd, q string) []influxRow {
	t.Helper()
	resp, err := http.Get(db.URL + "/query?" + url.Values{"db": {db.Database}, "q": {q}, "epoch": {"ns"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags    map[string]string `json:"tags"`
				Columns []string          `json:"columns"`
				Values  [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("influx query %q: %v", q, err)
	}
	var rows []influxRow
	for _, r := range res.Results {
		if r.Error != "" {
			t.Fatalf("influx query %q: %s", q, r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				row := influxRow{}
				for i, c := range s.Columns {
					row[c] = v[i]
				}
				for k, tv := range s.Tags {
					row[k] = tv
				}
				rows = append(rows, row)
			}
		}
	}
	return rows
}

// lastValue is the newest value of field in measurement for the site and
// meter, or nil.
func lastValue(t *testing.T, db *influx.Influxd, measurement, field, site, meter string) any {
	t.Helper()
	rows := influxQuery(t, db, fmt.Sprintf(`SELECT last(%q) FROM %q WHERE site = '%s' AND meter = '%s'`, field, measurement, site, meter))
	if len(rows) == 0 {
		return nil
	}
	return rows[0]["last"]
}

// number is an InfluxQL value as float64 (NaN when it is none).
func number(v any) float64 {
	var f float64
	if n, ok := v.(json.Number); ok {
		f, _ = n.Float64()
		return f
	}
	return -1e300
}

// waitValue waits until the newest stored value of a field equals want.
func waitValue(t *testing.T, db *influx.Influxd, measurement, field, site, meter string, want float64) {
	t.Helper()
	var got any
	waitUntil(t, 60*time.Second, fmt.Sprintf("%s.%s of %s = %v in InfluxDB", measurement, field, meter, want), func() bool {
		got = lastValue(t, db, measurement, field, site, meter)
		f := number(got)
		return f > want-1e-9 && f < want+1e-9
	})
}

// TestObixRunModes runs `setsuden run` once per way of reading a gateway,
// the default first: batch (no reads/watch keys at all), per-point reads
// and a watch. Each stores every point of the facility in InfluxDB, in the
// units of its field (the chiller's watts as kW), and follows a change of
// value at the gateway; the gateway's request log shows the mode was the
// one configured.
func TestObixRunModes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, obixd and setsuden")
	}
	db := testinflux.Start(t)
	for _, mode := range []struct {
		name    string
		yaml    string // options of the gateway beyond url and interval
		request string // a request obixd must have seen
		never   string // a request obixd must not have seen
		flags   []string
	}{
		{"batch", "", "POST /obix/batch/", "POST /obix/watchService/make/", nil},
		{"per_point", "      reads: per_point\n", "GET /obix/config/CHW/SupplyTemp/", "POST /obix/batch/", nil},
		{"watch", "      watch: true\n", "/pollChanges/", "POST /obix/batch/", nil},
		// An oBIX 1.0 gateway that puts the status into display only
		// (Niagara's "18.5 {ok}"), read the default way.
		{"batch_obix_1_0", "", "POST /obix/batch/", "POST /obix/watchService/make/", []string{"--version", "1.0", "--status-in", "display"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			gw := startObixd(t, mode.flags...)
			site := "obix-" + strings.ReplaceAll(mode.name, "_", "-")
			conf := obixConfig(t, db, site, fmt.Sprintf("    - name: bldg2\n      url: %s/obix\n      interval: 1s\n      timeout: 800ms\n%s%s",
				gw.URL, mode.yaml, facilityPoints))
			if out, err := exec.Command(buildBinary(t), "validate", "--config", conf).CombinedOutput(); err != nil {
				t.Fatalf("validate: %v\n%s", err, out)
			}
			run := startObixRun(t, conf)
			waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 18.5)
			for _, c := range []struct {
				meas, field, meter string
				want               float64
			}{
				{"temperature", "return_air_c", "ahu-1", 26},
				{"temperature", "humidity_rh", "ahu-1", 45},
				{"temperature", "chw_supply_c", "chw", 7},
				{"temperature", "chw_return_c", "chw", 12.5},
				{"power", "kw", "chiller-1", 85}, // 85000 W
				{"power", "kw", "lighting", 4.2},
			} {
				waitValue(t, db, c.meas, c.field, site, c.meter, c.want)
			}
			gw.ctl(t, "set", "href", "/obix/config/AHU1/SupplyAirTemp/", "val", "19.25")
			waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 19.25)
			log := gw.ctl(t, "log")
			if !strings.Contains(log, mode.request) || strings.Contains(log, mode.never) {
				t.Errorf("obixd saw no %q, or a %q, in mode %s:\n%s", mode.request, mode.never, mode.name, clipLog(log))
			}
			if errs := influxQuery(t, db, fmt.Sprintf(`SELECT count("count") FROM collector_errors WHERE site = '%s'`, site)); len(errs) > 0 {
				t.Errorf("failed samples recorded: %v\n%s", errs, run.logText())
			}
			if mode.name == "watch" {
				run.stop(t)
				if log := gw.ctl(t, "log"); !regexp.MustCompile(`POST /obix/watchService/watch\d+/delete/`).MatchString(log) {
					t.Errorf("setsuden stopped without deleting its watch:\n%s", clipLog(log))
				}
			}
		})
	}
}

// clipLog keeps the end of a long request log.
func clipLog(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// TestObixRunPointFailures: in every mode, points that are null, down,
// fault, answered with an err, or served as malformed XML lose only their
// own field; the other points of the same samples are stored, and each
// failing point's status is stored as <field>_status (docs/schema.md).
// When they recover, their values come back.
func TestObixRunPointFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, obixd and setsuden")
	}
	db := testinflux.Start(t)
	for _, mode := range []struct{ name, yaml string }{
		{"batch", ""},
		{"per_point", "      reads: per_point\n"},
		{"watch", "      watch: true\n"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			gw := startObixd(t)
			site := "fail-" + strings.ReplaceAll(mode.name, "_", "-")
			conf := obixConfig(t, db, site, fmt.Sprintf("    - name: bldg2\n      url: %s/obix/\n      interval: 1s\n      timeout: 800ms\n%s%s",
				gw.URL, mode.yaml, facilityPoints))
			run := startObixRun(t, conf)
			waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 18.5)

			broken := time.Now()
			gw.ctl(t, "set", "href", "/obix/config/AHU1/SupplyAirTemp/", "val", "0.0", "null", "1")
			gw.ctl(t, "set", "href", "/obix/config/CHW/SupplyTemp/", "val", "7.0", "status", "down")
			gw.ctl(t, "set", "href", "/obix/config/CHW/ReturnTemp/", "val", "12.5", "status", "fault")
			gw.ctl(t, "set", "href", "/obix/config/AHU1/Humidity/", "err", "1")
			gw.ctl(t, "set", "href", "/obix/config/AHU1/ReturnAirTemp/", "val", "26.0", "garbage", "1")
			// A value that changes after the failures proves later samples are stored.
			gw.ctl(t, "set", "href", "/obix/config/Lighting/Power/", "val", "5.5")
			waitValue(t, db, "power", "kw", site, "lighting", 5.5)
			waitValue(t, db, "power", "kw", site, "chiller-1", 85)

			status := func(meter, field string) string {
				rows := influxQuery(t, db, fmt.Sprintf(`SELECT last(%q) FROM temperature WHERE site = '%s' AND meter = '%s' AND time > %d`,
					field+"_status", site, meter, broken.UnixNano()))
				if len(rows) == 0 {
					return ""
				}
				s, _ := rows[0]["last"].(string)
				return s
			}
			for _, c := range []struct{ meter, field, want string }{
				{"ahu-1", "supply_air_c", "null"},
				{"chw", "chw_supply_c", "down"},
				{"chw", "chw_return_c", "fault"},
				{"ahu-1", "humidity_rh", "error"},
				{"ahu-1", "return_air_c", "error"},
			} {
				waitUntil(t, 30*time.Second, fmt.Sprintf("%s_status = %s", c.field, c.want), func() bool { return status(c.meter, c.field) == c.want })
			}
			// In the samples that carry a status, the field itself is missing.
			rows := influxQuery(t, db, fmt.Sprintf(`SELECT supply_air_c, supply_air_c_status FROM temperature WHERE site = '%s' AND meter = 'ahu-1' AND supply_air_c_status = 'null'`, site))
			if len(rows) == 0 {
				t.Fatal("no sample with supply_air_c_status")
			}
			for _, r := range rows {
				if r["supply_air_c"] != nil {
					t.Errorf("sample %v has supply_air_c %v next to status null", r["time"], r["supply_air_c"])
				}
			}
			log := run.logText()
			for _, href := range []string{"AHU1/SupplyAirTemp", "AHU1/Humidity", "AHU1/ReturnAirTemp"} {
				if !strings.Contains(log, href) {
					t.Errorf("the log does not name the failing point %s", href)
				}
			}
			if strings.Contains(log, "panic") {
				t.Errorf("setsuden panicked:\n%s", log)
			}

			// Recovery: the values come back.
			gw.ctl(t, "set", "href", "/obix/config/AHU1/SupplyAirTemp/", "val", "17.75")
			gw.ctl(t, "set", "href", "/obix/config/AHU1/ReturnAirTemp/", "val", "27.5")
			gw.ctl(t, "set", "href", "/obix/config/AHU1/Humidity/", "val", "40")
			waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 17.75)
			waitValue(t, db, "temperature", "return_air_c", site, "ahu-1", 27.5)
			waitValue(t, db, "temperature", "humidity_rh", site, "ahu-1", 40)
		})
	}
}

// TestObixRunBatchRefused: gateways whose batch op answers an err object
// (BadUriErr or UnsupportedErr, with HTTP 200, 404 or 501) are read point
// by point from then on: the values are stored, the batch op is tried
// once, and the choice is logged once.
func TestObixRunBatchRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, obixd and setsuden")
	}
	db := testinflux.Start(t)
	for _, v := range []struct{ kind, status string }{
		{"badurierr", "200"},
		{"unsupported", "404"},
		{"unsupported", "501"},
	} {
		t.Run(v.kind+"-"+v.status, func(t *testing.T) {
			gw := startObixd(t, "--batch", v.kind, "--batch-status", v.status)
			site := "refused-" + v.kind + "-" + v.status
			conf := obixConfig(t, db, site, fmt.Sprintf("    - name: bldg2\n      url: %s/obix\n      interval: 1s\n      timeout: 800ms\n%s",
				gw.URL, facilityPoints))
			run := startObixRun(t, conf)
			waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 18.5)
			gw.ctl(t, "set", "href", "/obix/config/Lighting/Power/", "val", "6.25")
			waitValue(t, db, "power", "kw", site, "lighting", 6.25)
			waitValue(t, db, "power", "kw", site, "chiller-1", 85)
			if n := strings.Count(gw.ctl(t, "log"), "POST /obix/batch/"); n != 1 {
				t.Errorf("the batch op was tried %d times (want once, then per-point reads)", n)
			}
			if n := strings.Count(run.logText(), "batch op refused"); n != 1 {
				t.Errorf("the fallback was logged %d times (want once)", n)
			}
		})
	}
}

// metric reads one sample of the UI's /metrics ("" if absent).
func metric(t *testing.T, base, series string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestObixRunWatchLeases: watches against gateways that will not take the
// lease asked for, grant a shorter one, or hide their watch service, and
// one that drops the watch: no sample fails for the lease, a lease too
// short for the interval is warned about at start and kept alive between
// samples, the make op is found under an unreadable watch service, and a
// watch re-made after expiry is logged and counted on /metrics.
func TestObixRunWatchLeases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, obixd and setsuden")
	}
	db := testinflux.Start(t)
	for _, v := range []struct {
		name     string
		flags    []string
		interval string
		log      string // a line setsuden must log
	}{
		{"refused", []string{"--lease-write", "refuse", "--lease", "5"}, "1s", "refused the watch lease"},
		{"readonly", []string{"--lease-write", "readonly", "--lease", "5"}, "1s", "refused the watch lease"},
		// The gateway caps leases at 2.4 s: samples every 5 s would lose
		// the watch each time, so it is polled in between.
		{"capped", []string{"--lease-max", "2.4", "--lease", "2.4"}, "5s", "polling the watch in between"},
		{"unreadable-service", []string{"--watch-service", "unreadable"}, "1s", "trying its conventional make op"},
	} {
		t.Run(v.name, func(t *testing.T) {
			gw := startObixd(t, v.flags...)
			site := "lease-" + v.name
			conf := obixConfig(t, db, site, fmt.Sprintf("    - name: bldg2\n      url: %s/obix\n      interval: %s\n      timeout: 900ms\n      watch: true\n%s",
				gw.URL, v.interval, facilityPoints))
			run := startObixRun(t, conf)
			base := run.ui(t)
			waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 18.5)
			for i, val := range []string{"19.5", "20.5", "21.5"} {
				gw.ctl(t, "set", "href", "/obix/config/AHU1/SupplyAirTemp/", "val", val)
				waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 19.5+float64(i))
			}
			if !strings.Contains(run.logText(), v.log) {
				t.Errorf("setsuden did not log %q", v.log)
			}
			if errs := influxQuery(t, db, fmt.Sprintf(`SELECT count("count") FROM collector_errors WHERE site = '%s'`, site)); len(errs) > 0 {
				t.Errorf("failed samples: %v", errs)
			}
			if got := metric(t, base, `setsuden_obix_watch_recreated_total{gateway="bldg2"}`); got != "0" {
				t.Errorf("watch re-created %s times (want 0: the lease was kept)", got)
			}
			if n := strings.Count(gw.ctl(t, "log"), "POST /obix/watchService/make/"); n != 1 {
				t.Errorf("%d watches made (want 1)", n)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		gw := startObixd(t)
		site := "lease-expired"
		conf := obixConfig(t, db, site, fmt.Sprintf("    - name: bldg2\n      url: %s/obix\n      interval: 1s\n      timeout: 900ms\n      watch: true\n%s",
			gw.URL, facilityPoints))
		run := startObixRun(t, conf)
		base := run.ui(t)
		waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 18.5)
		for i := 1; i <= 2; i++ {
			gw.ctl(t, "drop-watches")
			gw.ctl(t, "set", "href", "/obix/config/AHU1/SupplyAirTemp/", "val", fmt.Sprint(30+i))
			waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", float64(30+i))
			waitUntil(t, 30*time.Second, fmt.Sprintf("setsuden_obix_watch_recreated_total = %d", i), func() bool {
				return metric(t, base, `setsuden_obix_watch_recreated_total{gateway="bldg2"}`) == fmt.Sprint(i)
			})
		}
		if n := strings.Count(run.logText(), "watch had expired on the gateway"); n != 2 {
			t.Errorf("%d re-creations logged (want 2)", n)
		}
	})
}

// backfilledGap reads the window of the collector's "backfilled gap" log
// line for the source.
var backfilledGap = regexp.MustCompile(`msg="backfilled gap" .*source=(\S+) from=(\S+) to=(\S+) points=(\d+)`)

// TestObixRunBackfillsOutage: the gateway's HTTP side goes down for a few
// seconds while it keeps logging its histories; when it answers again,
// setsuden fills the gap from each point's history (the History object's
// query op, the ~historyQuery GET form, Niagara's op that takes only GET),
// whatever the layout of the HistoryQueryOut (spec order, Niagara's data
// list first with a #RecordDef prototype, oBIX 1.1's prototype child) and
// with the gateway's own time zone: every record of the gap is in
// InfluxDB with its original timestamp and value.
func TestObixRunBackfillsOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, obixd and setsuden")
	}
	db := testinflux.Start(t)
	for _, v := range []struct{ history, layout, request string }{
		{"query", "spec", "POST /obix/histories/AHU1_SupplyAirTemp/query/"},
		{"get", "niagara", "GET /obix/histories/AHU1_SupplyAirTemp/~historyQuery?"},
		{"niagara", "prototype", "GET /obix/histories/AHU1_SupplyAirTemp/~historyQuery?"},
	} {
		t.Run(v.history+"-"+v.layout, func(t *testing.T) {
			gw := startObixd(t, "--history", v.history, "--record-layout", v.layout, "--history-every", "0.3", "--tz-offset", "9")
			site := "backfill-" + v.history
			conf := obixConfig(t, db, site, fmt.Sprintf("    - name: bldg2\n      url: %s/obix\n      interval: 1s\n      timeout: 800ms\n%s",
				gw.URL, facilityPoints))
			run := startObixRun(t, conf)
			waitValue(t, db, "temperature", "supply_air_c", site, "ahu-1", 18.5)

			gw.ctl(t, "outage", "on", "1")
			waitUntil(t, 30*time.Second, "a failed sample", func() bool {
				return len(influxQuery(t, db, fmt.Sprintf(`SELECT count("count") FROM collector_errors WHERE site = '%s'`, site))) > 0
			})
			// The values move while nobody can read them; only the
			// gateway's histories see it.
			for _, val := range []string{"20.25", "21.5", "22.75"} {
				gw.ctl(t, "set", "href", "/obix/config/AHU1/SupplyAirTemp/", "val", val)
				time.Sleep(time.Second)
			}
			gw.ctl(t, "outage", "on", "0")
			var from, to time.Time
			waitUntil(t, 60*time.Second, "the backfilled gap in the log", func() bool {
				m := backfilledGap.FindStringSubmatch(run.logText())
				if m == nil {
					return false
				}
				var err1, err2 error
				from, err1 = time.Parse(time.RFC3339Nano, m[2])
				to, err2 = time.Parse(time.RFC3339Nano, m[3])
				return err1 == nil && err2 == nil
			})
			var recs []struct {
				T string  `json:"t"`
				V *string `json:"v"`
			}
			if err := json.Unmarshal([]byte(gw.ctl(t, "history", "href", "/obix/config/AHU1/SupplyAirTemp/")), &recs); err != nil {
				t.Fatal(err)
			}
			want := map[int64]string{}
			for _, r := range recs {
				ts, err := time.Parse(time.RFC3339Nano, r.T)
				if err != nil {
					t.Fatal(err)
				}
				// The log's times are cut to milliseconds: keep clear of the edges.
				if r.V != nil && ts.After(from.Add(time.Millisecond)) && ts.Before(to.Add(-time.Millisecond)) {
					want[ts.UnixNano()] = *r.V
				}
			}
			if len(want) < 5 {
				t.Fatalf("only %d history records in the gap %s .. %s", len(want), from, to)
			}
			// The backfilled points are queued when the line is logged:
			// wait until InfluxDB has them all (or the deadline says which not).
			got := map[int64]float64{}
			deadline := time.Now().Add(30 * time.Second)
			for {
				rows := influxQuery(t, db, fmt.Sprintf(`SELECT supply_air_c FROM temperature WHERE site = '%s' AND meter = 'ahu-1' AND time > %d AND time < %d`,
					site, from.UnixNano(), to.UnixNano()+int64(time.Millisecond)))
				for _, r := range rows {
					ns, _ := r["time"].(json.Number).Int64()
					got[ns] = number(r["supply_air_c"])
				}
				all := true
				for ns := range want {
					if _, ok := got[ns]; !ok {
						all = false
					}
				}
				if all || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			seen := map[string]bool{}
			for ns, val := range want {
				var f float64
				fmt.Sscan(val, &f)
				g, ok := got[ns]
				if !ok {
					t.Errorf("history record %s = %s is not in InfluxDB at its own time", time.Unix(0, ns).UTC().Format(time.RFC3339Nano), val)
					continue
				}
				if g != f {
					t.Errorf("record %s: InfluxDB has %v, the gateway's history %s", time.Unix(0, ns).UTC().Format(time.RFC3339Nano), g, val)
				}
				seen[val] = true
			}
			for _, val := range []string{"20.25", "21.5", "22.75"} {
				if !seen[val] {
					t.Errorf("the value %s set during the outage is not among the backfilled records", val)
				}
			}
			if log := gw.ctl(t, "log"); !strings.Contains(log, v.request) {
				t.Errorf("obixd saw no %q:\n%s", v.request, clipLog(log))
			}
			t.Logf("gap %s .. %s: %d history records, all stored with their own timestamps", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), len(want))
		})
	}
}

// TestObixDiscovery: a gateway configured with discover (every point
// under an object, include/exclude patterns, the default unit mapping to
// docs/schema.md's facility fields) and no points: `setsuden collect
// --dry-run` lists what discovery found, and `setsuden run` stores it.
func TestObixDiscovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd, obixd and setsuden")
	}
	db := testinflux.Start(t)
	gw := startObixd(t)
	site := "discover"
	conf := obixConfig(t, db, site, fmt.Sprintf(`    - name: bldg2
      url: %s/obix
      interval: 1s
      timeout: 800ms
      discover:
        root: config/
        include: ["*/AHU1/*", "*/CHW/*", "*/Chiller1/*", "*/Lighting/*"]
        exclude: ["*Setpoint*"]
        tags: {room: hall1}
`, gw.URL))
	out, err := exec.Command(buildBinary(t), "collect", "--config", conf, "--dry-run").CombinedOutput()
	if err != nil {
		t.Fatalf("collect --dry-run: %v\n%s", err, out)
	}
	t.Logf("collect --dry-run:\n%s", out)
	for _, want := range []string{
		`bldg2 \(oBIX http://127.0.0.1:\d+/obix, batch reads, every 1s\): 7 points`,
		`/obix/config/AHU1/SupplyAirTemp/\s+obix:units/celsius\s+temperature\s+supply_air_c\s+meter=ahu1,room=hall1\s+discovered`,
		`/obix/config/AHU1/ReturnAirTemp/\s+obix:units/celsius\s+temperature\s+return_air_c\s+meter=ahu1,room=hall1`,
		`/obix/config/AHU1/Humidity/\s+obix:units/percent_relative_humidity\s+temperature\s+humidity_rh\s+meter=ahu1`,
		`/obix/config/CHW/SupplyTemp/\s+obix:units/celsius\s+temperature\s+chw_supply_c\s+meter=chw`,
		`/obix/config/CHW/ReturnTemp/\s+obix:units/celsius\s+temperature\s+chw_return_c\s+meter=chw`,
		`/obix/config/Chiller1/Power/\s+obix:units/watt\s+power\s+kw\s+category=cooling,meter=chiller1,room=hall1`,
		`/obix/config/Lighting/Power/\s+obix:units/kilowatt\s+power\s+kw\s+category=lighting,meter=lighting,room=hall1`,
		`not taken: http://127.0.0.1:\d+/obix/config/AHU1/SupplyAirSetpoint/ \(excluded\)`,
		`not taken: http://127.0.0.1:\d+/obix/config/AHU1/Enable/ \(no rule for unit ""\)`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("collect --dry-run has no line matching %s", want)
		}
	}
	startObixRun(t, conf)
	for _, c := range []struct {
		meas, field, meter string
		want               float64
	}{
		{"temperature", "supply_air_c", "ahu1", 18.5},
		{"temperature", "return_air_c", "ahu1", 26},
		{"temperature", "humidity_rh", "ahu1", 45},
		{"temperature", "chw_supply_c", "chw", 7},
		{"temperature", "chw_return_c", "chw", 12.5},
		{"power", "kw", "chiller1", 85},
		{"power", "kw", "lighting", 4.2},
	} {
		waitValue(t, db, c.meas, c.field, site, c.meter, c.want)
	}
	if rows := influxQuery(t, db, `SELECT last("kw") FROM power WHERE category = 'cooling' AND room = 'hall1'`); len(rows) != 1 {
		t.Errorf("no cooling kW tagged room=hall1: %v", rows)
	}
}
