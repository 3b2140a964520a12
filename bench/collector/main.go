// Command collector benchmarks setsuden's Modbus collector against Telegraf
// v1.37.2 (inputs.modbus + outputs.influxdb_v2), the tool facility teams
// would otherwise pick. Both poll the same simulated meters (the same
// register set, from the setsuden-sim-pm model) into the same real influxd,
// one after the other, in one run; the simulators run in processes of
// their own. It prints CPU seconds per million points (the median of three
// rounds taken in turns), the most devices each sustains at a 1 s
// interval, the points setsuden loses across an InfluxDB outage with a
// collector restart, then one JSON line:
//
//	{"cpu_per_point_ratio": S/T, "max_devices_ratio": S/T, "points_lost_outage": N,
//	 "cpu_per_point_ratio_vs_telegraf_gzip": S/Tgz, "cpu_per_point_ratio_vs_tuned_telegraf": S/T*}
//
// where T is Telegraf with compression off (content_encoding = "identity"),
// like for like since setsuden does not compress its writes: the headline.
// Tgz is Telegraf as installed (gzip, its default) and T* Telegraf without
// gzip and with GOGC=400, both context. Points lost are counted against
// the samples the simulated meters answered (their own request counters),
// not against setsuden's own queued count.
//
// Run with `make bench-collector`; it is not part of `make test`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/modbus"
)

// A "point" here is one field value of one sample, counted over the fields
// both collectors write (setsuden also writes kwh_total, which is not
// counted, so the comparison is conservative for setsuden).
var commonFields = []string{"kw", "kwh", "voltage_v", "current_a", "pf", "inlet_c"}

type peer struct {
	name string
	// start launches the collector for devices, writing to db; it returns the
	// running command.
	start func(dir, db string, meters []simMeter) (*exec.Cmd, error)
}

type bench struct {
	influxd   *influx.Influxd
	setsuden  string
	telegraf  string
	model     *modbus.Model
	meters    []simMeter
	work      string
	runSerial int
	profile   string // directory for setsuden CPU profiles, if set
	sims      sims
}

func main() {
	cpuDevices := flag.Int("cpu-devices", 500, "devices polled during the CPU measurement")
	cpuFor := flag.Duration("cpu-duration", 40*time.Second, "length of the CPU measurement per collector")
	rounds := flag.Int("cpu-rounds", 3, "CPU measurements per collector, taken in turns; the median counts")
	stepsFlag := flag.String("steps", "2000,4000,6000,8000,10000,12000,14000,16000,18000,20000,22000", "device counts tried for the most sustained at 1 s")
	stepFor := flag.Duration("step-duration", 20*time.Second, "length of each device-count step")
	setsudenBin := flag.String("setsuden", "bin/setsuden", "setsuden binary")
	telegrafBin := flag.String("telegraf", ".tools/bin/telegraf", "telegraf v1.37.2 binary")
	only := flag.String("only", "", "run just this collector (telegraf or setsuden; setsuden also runs the outage), for profiling and smoke runs; no ratios")
	profile := flag.String("profile", "", "write setsuden's CPU profile of each run into this directory")
	serve := flag.String("serve-sims", "", "internal: serve simulated meters FROM,N in this process")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *serve != "" {
		var from, n int
		if _, err := fmt.Sscanf(*serve, "%d,%d", &from, &n); err != nil {
			log.Fatalf("--serve-sims %q: %v", *serve, err)
		}
		serveSims(from, n)
		return
	}
	// Telegraf holds one descriptor a meter (the simulators run in
	// processes of their own), so the open-file limit (20,000 here, not
	// raisable) caps it below that; setsuden keeps connections within its
	// budget (modbus.max_connections, by default the limit less 1,024) and
	// connects per sample beyond it.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		log.Printf("open-file limit %d (hard %d)", lim.Cur, lim.Max)
	}

	var steps []int
	for _, s := range strings.Split(*stepsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			log.Fatalf("--steps: %q is not a number", s)
		}
		steps = append(steps, n)
	}
	ctx := context.Background()
	work, err := os.MkdirTemp("", "setsuden-bench-")
	if err != nil {
		log.Fatal(err)
	}
	if os.Getenv("BENCH_KEEP") == "" {
		defer os.RemoveAll(work)
	} else {
		log.Printf("keeping %s", work)
	}

	b := &bench{setsuden: abs(*setsudenBin), telegraf: abs(*telegrafBin), work: work, profile: *profile}
	models, err := modbus.LoadModels()
	if err != nil {
		log.Fatal(err)
	}
	b.model, err = models.Get("setsuden-sim-pm")
	if err != nil {
		log.Fatal(err)
	}
	b.influxd, err = influx.StartInfluxd(ctx, influx.InfluxdConfig{Dir: filepath.Join(work, "influxdb")})
	if err != nil {
		log.Fatal(err)
	}
	defer b.influxd.Stop()

	most := max(*cpuDevices, steps[len(steps)-1])
	log.Printf("starting %d simulated meters in %d processes", most, (most+simsPerProcess-1)/simsPerProcess)
	meters, simProcs, stopSims, err := startSims(most)
	if err != nil {
		log.Fatal(err)
	}
	defer stopSims()
	b.meters = meters
	b.sims = simProcs

	peers := []peer{{"telegraf", b.startTelegraf}, {"setsuden", b.startSetsuden}}
	if *only != "" {
		peers = slices.DeleteFunc(peers, func(p peer) bool { return p.name != *only })
	}
	type result struct {
		cpuPerMillion float64
		maxDevices    int
		lost          int64
	}
	res := map[string]*result{}
	// CPU per point: the collectors take turns, rounds times, and each
	// one's median counts, so that a burst of other load on this shared
	// 2-core machine cannot decide the ratio.
	samples := map[string][]float64{}
	cpuPeers := peers
	if *only == "" {
		// Context, not part of the headline: Telegraf as installed
		// (gzip), and with what setsuden has by default (plain writes,
		// GOGC=400).
		cpuPeers = append(slices.Clone(peers), peer{"telegraf-gzip", b.startTelegrafGzip}, peer{"telegraf-tuned", b.startTelegrafTuned})
	}
	for round := 1; round <= *rounds; round++ {
		for _, p := range cpuPeers {
			cpu, pts := b.measure(ctx, p, *cpuDevices, *cpuFor)
			v := cpu / float64(pts) * 1e6
			samples[p.name] = append(samples[p.name], v)
			log.Printf("%s (round %d): %d devices for %s: %.2f CPU s, %d points -> %.2f CPU s per million points", p.name, round, *cpuDevices, *cpuFor, cpu, pts, v)
		}
	}
	for _, p := range peers {
		r := &result{cpuPerMillion: median(samples[p.name])}
		res[p.name] = r
		log.Printf("%s: median of %d rounds %.2f CPU s per million points (%v)", p.name, *rounds, r.cpuPerMillion, samples[p.name])
		for _, n := range steps {
			_, got := b.measure(ctx, p, n, *stepFor)
			want := int64(n) * int64(len(commonFields)) * int64(stepFor.Seconds())
			share := float64(got) / float64(want)
			log.Printf("%s: %d devices at 1 s: %d of %d points (%.1f%%)", p.name, n, got, want, share*100)
			if share < 0.95 {
				break
			}
			r.maxDevices = n
		}
	}
	if *only != "" {
		if *only == "setsuden" {
			fmt.Printf("setsuden points lost across an InfluxDB outage with a collector restart, against what the meters answered: %d\n", b.outage(ctx))
		}
		return
	}
	tuned, gz := median(samples["telegraf-tuned"]), median(samples["telegraf-gzip"])
	log.Printf("telegraf-gzip: median of %d rounds %.2f CPU s per million points (%v)", *rounds, gz, samples["telegraf-gzip"])
	log.Printf("telegraf-tuned: median of %d rounds %.2f CPU s per million points (%v)", *rounds, tuned, samples["telegraf-tuned"])
	res["setsuden"].lost = b.outage(ctx)

	s, t := res["setsuden"], res["telegraf"]
	fmt.Println()
	fmt.Printf("%-10s %28s %28s\n", "", "CPU s per million points", "most devices at 1 s")
	fmt.Printf("%-11s %28.2f %28d   (Telegraf, compression off: like for like)\n", "telegraf", t.cpuPerMillion, t.maxDevices)
	fmt.Printf("%-11s %28.2f %28d\n", "setsuden", s.cpuPerMillion, s.maxDevices)
	fmt.Printf("%-11s %28.2f %28s   (Telegraf as installed, gzip: context)\n", "telegraf-gz", gz, "-")
	fmt.Printf("%-11s %28.2f %28s   (Telegraf with content_encoding=identity and GOGC=400: context)\n", "telegraf*", tuned, "-")
	fmt.Printf("setsuden points lost across an InfluxDB outage with a collector restart, against what the meters answered: %d\n", s.lost)
	out, _ := json.Marshal(map[string]any{
		"cpu_per_point_ratio": round(s.cpuPerMillion / t.cpuPerMillion),
		"max_devices_ratio":   round(float64(s.maxDevices) / float64(max(t.maxDevices, 1))),
		"points_lost_outage":  s.lost,
		// Context: against Telegraf as installed (gzip), and without gzip
		// and with GOGC=400.
		"cpu_per_point_ratio_vs_telegraf_gzip":  round(s.cpuPerMillion / gz),
		"cpu_per_point_ratio_vs_tuned_telegraf": round(s.cpuPerMillion / tuned),
	})
	fmt.Println(string(out))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func round(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := os.Stat(a); err != nil {
		log.Fatalf("%s: %v", p, err)
	}
	return a
}

// measure runs one collector on n devices for d after a warm-up and returns
// its CPU seconds and the points it stored within the window.
func (b *bench) measure(ctx context.Context, p peer, n int, d time.Duration) (cpuSec float64, points int64) {
	b.runSerial++
	db := fmt.Sprintf("%s_%d", strings.ReplaceAll(p.name, "-", "_"), b.runSerial)
	if err := b.influxd.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		log.Fatal(err)
	}
	dir := filepath.Join(b.work, db)
	_ = os.MkdirAll(dir, 0o755)
	cmd, err := p.start(dir, db, b.meters[:n])
	if err != nil {
		log.Fatalf("%s: %v", p.name, err)
	}
	// Warm-up: start-up (parsing thousands of devices or plugins),
	// connections, first flushes.
	time.Sleep(5*time.Second + time.Duration(n)*time.Millisecond)
	t0, c0 := time.Now(), cpuSeconds(cmd.Process.Pid)
	time.Sleep(d)
	t1, c1 := time.Now(), cpuSeconds(cmd.Process.Pid)
	stop(cmd)
	time.Sleep(2 * time.Second)
	return c1 - c0, b.count(ctx, db, t0, t1)
}

// count returns the common field values stored in db in [t0, t1).
func (b *bench) count(ctx context.Context, db string, t0, t1 time.Time) int64 {
	r := influx.NewReader(b.influxd.URL, "", "", db+"/autogen")
	defer r.Close()
	var total int64
	for _, f := range commonFields {
		m := "power"
		if f == "inlet_c" {
			m = "temperature"
		}
		c, err := r.CountRange(ctx, m, f, t0, t1)
		if err != nil {
			log.Fatalf("count %s: %v", f, err)
		}
		total += c
	}
	return total
}

func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func stop(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func startProcess(dir, name string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(dir, filepath.Base(name)+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd, cmd.Start()
}
