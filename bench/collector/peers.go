package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/modbus"
)

// telegrafType maps a model type to Telegraf's request-style field type.
func telegrafType(t modbus.DataType) string { return strings.ToUpper(string(t)) }

// startTelegraf writes one [[inputs.modbus]] per device (Telegraf holds one
// connection per plugin instance and polls its slaves in turn), with the
// same registers as the setsuden-sim-pm model, grouped into requests by
// table and byte order the way its request style wants. Its writes are not
// compressed (content_encoding = "identity"), as setsuden's are not: the
// like-for-like peer of the headline ratio.
func (b *bench) startTelegraf(dir, db string, meters []simMeter) (*exec.Cmd, error) {
	return b.telegrafWith(dir, db, meters, "identity", false)
}

// startTelegrafGzip is Telegraf as installed: outputs.influxdb_v2 gzips the
// write body by default. Context only.
func (b *bench) startTelegrafGzip(dir, db string, meters []simMeter) (*exec.Cmd, error) {
	return b.telegrafWith(dir, db, meters, "gzip", false)
}

// startTelegrafTuned is Telegraf given what setsuden has by default, for a
// further, informational CPU figure: no gzip and setsuden's
// garbage-collector target (GOGC=400).
func (b *bench) startTelegrafTuned(dir, db string, meters []simMeter) (*exec.Cmd, error) {
	return b.telegrafWith(dir, db, meters, "identity", true)
}

func (b *bench) telegrafWith(dir, db string, meters []simMeter, encoding string, tuned bool) (*exec.Cmd, error) {
	var c strings.Builder
	fmt.Fprintf(&c, `[agent]
  interval = "1s"
  round_interval = true
  flush_interval = "1s"
  metric_batch_size = 5000
  metric_buffer_limit = 1000000
  omit_hostname = true
  quiet = true

[[outputs.influxdb_v2]]
  urls = [%q]
  token = ""
  organization = ""
  bucket = "%s/autogen"
  content_encoding = %q
`, b.influxd.URL, db, encoding)
	for i, m := range meters {
		fmt.Fprintf(&c, `
[[inputs.modbus]]
  name = "pdu-%04d"
  controller = "tcp://%s"
  timeout = "1s"
  configuration_type = "request"
  [inputs.modbus.tags]
    meter = "pdu-%04d"
`, i, m.addr, i)
		groups := map[string][]modbus.Field{}
		var order []string
		for _, f := range b.model.Fields {
			key := string(f.Table) + "/" + orderOf(f)
			if _, ok := groups[key]; !ok {
				order = append(order, key)
			}
			groups[key] = append(groups[key], f)
		}
		for _, key := range order {
			fs := groups[key]
			table, bo, _ := strings.Cut(key, "/")
			fmt.Fprintf(&c, `  [[inputs.modbus.request]]
    slave_id = %d
    byte_order = %q
    register = %q
    measurement = "power"
    fields = [
`, m.unit, bo, table)
			for _, f := range fs {
				scale := ""
				if f.Scale != 0 && f.Scale != 1 {
					scale = fmt.Sprintf(", scale=%g", f.Scale)
				}
				fmt.Fprintf(&c, "      { address=%d, name=%q, type=%q, measurement=%q%s },\n",
					f.Address, f.Name, telegrafType(f.Type), f.Measurement, scale)
			}
			c.WriteString("    ]\n")
		}
	}
	conf := filepath.Join(dir, "telegraf.conf")
	if err := os.WriteFile(conf, []byte(c.String()), 0o644); err != nil {
		return nil, err
	}
	if tuned {
		os.Setenv("GOGC", "400")
		defer os.Unsetenv("GOGC")
	}
	return startProcess(dir, b.telegraf, "--config", conf)
}

func orderOf(f modbus.Field) string {
	if f.ByteOrder == "" {
		return "ABCD"
	}
	return f.ByteOrder
}

// setsudenConfig writes a setsuden config for meters into dir.
func (b *bench) setsudenConfig(dir, db string, meters []simMeter, influxURL string) string {
	var c strings.Builder
	fmt.Fprintf(&c, `site:
  name: bench
influx:
  url: %s
  bucket: %s/autogen
  queue_dir: %s
server:
  listen: 127.0.0.1:0
log:
  level: info
modbus:
  devices:
`, influxURL, db, filepath.Join(dir, "queue"))
	for i, m := range meters {
		fmt.Fprintf(&c, `    - name: pdu-%04d
      model: setsuden-sim-pm
      address: %s
      unit_id: %d
      interval: 1s
      timeout: 900ms
      retries: 0
`, i, m.addr, m.unit)
	}
	path := filepath.Join(dir, "setsuden.yaml")
	if err := os.WriteFile(path, []byte(c.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	return path
}

func (b *bench) startSetsuden(dir, db string, meters []simMeter) (*exec.Cmd, error) {
	if b.profile != "" {
		os.Setenv("SETSUDEN_CPUPROFILE", filepath.Join(b.profile, db+".pprof"))
		defer os.Unsetenv("SETSUDEN_CPUPROFILE")
	}
	return startProcess(dir, b.setsuden, "run", "--config", b.setsudenConfig(dir, db, meters, b.influxd.URL))
}

// outage runs setsuden on 50 devices, kills influxd for 20 s, restarts
// setsuden in the middle of the outage, brings influxd back on the same
// port and data, and returns the points lost: what the simulated meters
// answered (their own request counters: a kw and an inlet_c point per
// sample) less what InfluxDB holds. It also logs setsuden's own queued
// count against the store, for context.
func (b *bench) outage(ctx context.Context) int64 {
	const n = 50
	db := "setsuden_outage"
	if err := b.influxd.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		log.Fatal(err)
	}
	answered0 := b.sims.answered(0, n)
	dir := filepath.Join(b.work, db)
	_ = os.MkdirAll(dir, 0o755)
	dataDir, url := b.influxd.Dir(), b.influxd.URL
	var port int
	fmt.Sscanf(url, "http://127.0.0.1:%d", &port)

	run := func(tag string) *exec.Cmd {
		cmd, err := startProcess(dir, b.setsuden, "run", "--config", b.setsudenConfig(dir, db, b.meters[:n], url))
		if err != nil {
			log.Fatal(err)
		}
		// startProcess names the log after the binary (bench/queue/ab.sh
		// passes binaries under other names than setsuden).
		_ = os.Rename(filepath.Join(dir, filepath.Base(b.setsuden)+".log"), filepath.Join(dir, "setsuden-"+tag+".log"))
		return cmd
	}
	start := time.Now()
	first := run("1")
	time.Sleep(10 * time.Second)
	log.Printf("outage: killing influxd")
	b.influxd.Kill()
	time.Sleep(10 * time.Second)
	log.Printf("outage: restarting setsuden while influxd is down")
	stop(first)
	second := run("2")
	time.Sleep(10 * time.Second)
	log.Printf("outage: influxd back")
	var err error
	b.influxd, err = influx.StartInfluxd(ctx, influx.InfluxdConfig{Dir: dataDir, Port: port})
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(15 * time.Second)
	stop(second)
	end := time.Now()
	time.Sleep(time.Second)

	answered := b.sims.answered(0, n) - answered0
	var queued int64
	for _, tag := range []string{"1", "2"} {
		queued += statFromLog(filepath.Join(dir, "setsuden-"+tag+".log"), "points_queued")
	}
	r := influx.NewReader(b.influxd.URL, "", "", db+"/autogen")
	defer r.Close()
	counts := map[string]int64{}
	for _, m := range []struct{ meas, field string }{{"power", "kw"}, {"temperature", "inlet_c"}, {"collector_errors", "count"}} {
		c, err := r.CountRange(ctx, m.meas, m.field, start.Add(-time.Minute), end.Add(time.Minute))
		if err != nil {
			log.Fatal(err)
		}
		counts[m.field] = c
	}
	stored := counts["kw"] + counts["inlet_c"]
	log.Printf("outage: the meters answered %d samples (%d kw and inlet_c points); InfluxDB holds %d of them (and %d collector_errors)",
		answered, 2*answered, stored, counts["count"])
	log.Printf("outage (context): setsuden queued %d points, InfluxDB holds %d with the collector_errors", queued, stored+counts["count"])
	return 2*answered - stored
}

// statFromLog reads key=N from setsuden's "stopped" log line.
func statFromLog(path, key string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "msg=stopped") {
			continue
		}
		for _, kv := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				var n int64
				fmt.Sscan(v, &n)
				return n
			}
		}
	}
	log.Fatalf("%s: no stopped line with %s", path, key)
	return 0
}
