package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// The write queue's fault tests (issue 16): `setsuden run` polls simulated
// meters into a real influxd while setsuden is killed, InfluxDB goes away
// and the queue's disk is full or small. Loss is counted against what the
// meters answered (their own counter), not against what setsuden says it
// queued: lost = samples answered - samples stored in InfluxDB, and every
// lost sample must be either counted as dropped or one of the samples in
// flight when a process ended (at most one a meter each time); a stored
// sample is never counted as dropped. Samples a bound dropped after a write
// of them got no answer (influxd killed mid-write) are counted apart: they
// may be stored or not.

// faultRig is one influxd, some simulated meters and a config for them.
type faultRig struct {
	t      *testing.T
	bin    string
	dir    string
	conf   string
	db     *influx.Influxd
	port   int
	meters []*sim.Meter
	start  time.Time
	runs   int
	ends   int // processes ended (killed or stopped): each may lose the samples in flight
	// unanswered are the points stopped runs counted dropped after a write
	// of them got no answer: InfluxDB may or may not hold them.
	unanswered int64
}

type rigOpts struct {
	meters   int
	interval time.Duration
	queueDir string // "" = DIR/queue
	maxBytes int64  // 0 = default
}

func newFaultRig(t *testing.T, o rigOpts) *faultRig {
	t.Helper()
	db := testinflux.Start(t)
	r := &faultRig{t: t, bin: buildBinary(t), dir: t.TempDir(), db: db, start: time.Now()}
	fmt.Sscan(strings.TrimPrefix(db.URL, "http://127.0.0.1:"), &r.port)
	var devs []string
	for i := 0; i < o.meters; i++ {
		m, err := sim.StartMeter(context.Background(), sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1,
			Curve: sim.LoadCurve{BaseKW: 10, PeakKW: 15, Seed: int64(i), Location: time.UTC}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		r.meters = append(r.meters, m)
		devs = append(devs, fmt.Sprintf("    - {name: pdu-%02d, model: setsuden-sim-pm, address: %q, interval: %s, timeout: %s}\n",
			i, m.Addr(), o.interval, o.interval*9/10))
	}
	if o.queueDir == "" {
		o.queueDir = filepath.Join(r.dir, "queue")
	}
	extra := ""
	if o.maxBytes > 0 {
		extra = fmt.Sprintf("  queue_max_bytes: %d\n", o.maxBytes)
	}
	r.conf = filepath.Join(r.dir, "setsuden.yaml")
	err := os.WriteFile(r.conf, []byte(fmt.Sprintf(`site: {name: fault}
influx:
  url: %s
  bucket: %s
  flush_interval: 200ms
  timeout: 1s
  queue_dir: %s
%sserver: {listen: "127.0.0.1:0", metrics_public: true}
modbus:
  devices:
%s`, db.URL, db.Bucket(), o.queueDir, extra, strings.Join(devs, ""))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// faultRun is one setsuden process.
type faultRun struct {
	cmd  *exec.Cmd
	log  string
	ui   string
	done chan error
}

// run starts `setsuden run` and waits for its ready line.
func (r *faultRig) run() *faultRun {
	r.t.Helper()
	r.runs++
	p := &faultRun{log: filepath.Join(r.dir, fmt.Sprintf("run-%d.log", r.runs)), done: make(chan error, 1)}
	f, err := os.Create(p.log)
	if err != nil {
		r.t.Fatal(err)
	}
	p.cmd = exec.Command(r.bin, "run", "--config", r.conf)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); f.Close() }()
	r.t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for p.ui == "" {
		if time.Now().After(deadline) {
			r.t.Fatalf("run %d: no ready line in 60 s:\n%s", r.runs, readFile(r.t, p.log))
		}
		select {
		case err := <-p.done:
			r.t.Fatalf("run %d exited at start (%v):\n%s", r.runs, err, readFile(r.t, p.log))
		case <-time.After(20 * time.Millisecond):
		}
		for _, l := range strings.Split(readFile(r.t, p.log), "\n") {
			if strings.Contains(l, "msg=\"setsuden running\"") {
				for _, kv := range strings.Fields(l) {
					if v, ok := strings.CutPrefix(kv, "ui="); ok {
						p.ui = v
					}
				}
			}
		}
	}
	return p
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kill ends a run with SIGKILL.
func (r *faultRig) kill(p *faultRun) {
	r.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	r.ends++
}

// stop ends a run with SIGTERM and returns its final counters.
func (r *faultRig) stop(p *faultRun) (dropped, left int64) {
	r.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			r.t.Errorf("setsuden exit: %v\n%s", err, readFile(r.t, p.log))
		}
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		r.t.Fatal("setsuden did not stop within 60 s")
	}
	r.ends++
	r.unanswered += stoppedStat(r.t, p.log, "points_unanswered_dropped")
	return stoppedStat(r.t, p.log, "points_dropped"), stoppedStat(r.t, p.log, "points_left_in_queue")
}

// metric scrapes one sample of a metric from a run's /metrics (the sum
// over its label values).
func (p *faultRun) metric(name string) (float64, error) {
	resp, err := http.Get(p.ui + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			var v float64
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
			sum += v
			found = true
		}
	}
	if !found {
		return 0, fmt.Errorf("no %s in /metrics", name)
	}
	return sum, nil
}

func (p *faultRun) healthz() (int, string) {
	resp, err := http.Get(p.ui + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitDrained waits until the run's queue is empty.
func (r *faultRig) waitDrained(p *faultRun) {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, err := p.metric("setsuden_write_queue_points")
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("queue not drained in 90 s (%v points, %v)", n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *faultRig) answered() int64 {
	var n int64
	for _, m := range r.meters {
		n += m.Answered()
	}
	return n
}

// stored counts the samples in InfluxDB: power (kw) and temperature
// (inlet_c) values, one each a sample.
func (r *faultRig) stored(url string) (power, temp int64) {
	r.t.Helper()
	rd := influx.NewReader(url, "", "", r.db.Bucket())
	defer rd.Close()
	ctx := context.Background()
	var err error
	if power, err = rd.CountRange(ctx, "power", "kw", r.start.Add(-time.Minute), time.Now().Add(time.Minute)); err != nil {
		r.t.Fatal(err)
	}
	if temp, err = rd.CountRange(ctx, "temperature", "inlet_c", r.start.Add(-time.Minute), time.Now().Add(time.Minute)); err != nil {
		r.t.Fatal(err)
	}
	return power, temp
}

// check compares the meters' count with InfluxDB's: every lost sample is
// counted as dropped (2 points a sample) or was in flight when a process
// ended (at most one a meter each time).
func (r *faultRig) check(url string, droppedPoints int64) (answered, lost int64) {
	r.t.Helper()
	answered = r.answered()
	power, temp := r.stored(url)
	lost = answered - power
	inFlight := int64(len(r.meters) * r.ends)
	r.t.Logf("meters answered %d samples; InfluxDB holds %d power and %d temperature values; lost %d; counted dropped %d points (%d samples), dropped after a write without an answer %d points (%d samples); ends %d (in-flight bound %d samples)",
		answered, power, temp, lost, droppedPoints, droppedPoints/2, r.unanswered, r.unanswered/2, r.ends, inFlight)
	if power != temp {
		r.t.Errorf("power %d != temperature %d: a sample's points were split", power, temp)
	}
	if lost < droppedPoints/2 {
		r.t.Errorf("stored %d samples, more than answered %d less dropped %d: counts disagree", power, answered, droppedPoints/2)
	}
	// Points dropped after a write without an answer may be stored or
	// not: they bound the loss from above only.
	if uncounted := lost - droppedPoints/2 - r.unanswered/2; uncounted > inFlight {
		r.t.Errorf("%d samples lost and not counted, more than the %d that can be in flight at %d process ends", uncounted, inFlight, r.ends)
	}
	return answered, lost
}

func (r *faultRig) restartInfluxd() *influx.Influxd {
	r.t.Helper()
	d, err := influx.StartInfluxd(context.Background(), influx.InfluxdConfig{Dir: r.db.Dir(), Port: r.port})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = d.Stop() })
	return d
}

// sleepRand sleeps a random time in [lo, hi).
func sleepRand(lo, hi time.Duration) {
	time.Sleep(lo + time.Duration(rand.Int64N(int64(hi-lo))))
}

// Row 1: setsuden killed with SIGKILL while InfluxDB is up.
func TestQueueFaultSIGKILLInfluxUp(t *testing.T) {
	t.Parallel() // waits on its own daemons; see the suite notes in main_test.go
	r := newFaultRig(t, rigOpts{meters: 20, interval: time.Second})
	p := r.run()
	for i := 0; i < 3; i++ {
		sleepRand(2*time.Second, 4*time.Second)
		r.kill(p)
		p = r.run()
	}
	time.Sleep(3 * time.Second)
	r.waitDrained(p)
	dropped, left := r.stop(p)
	if left != 0 {
		t.Errorf("stopped with %d points queued", left)
	}
	if dropped != 0 {
		t.Errorf("%d points dropped with InfluxDB up and room on disk", dropped)
	}
	if answered, _ := r.check(r.db.URL, dropped); answered < 100 {
		t.Errorf("meters answered only %d samples", answered)
	}
}

// Row 2: setsuden killed with SIGKILL during an outage, with a backlog on
// disk; InfluxDB comes back and the backlog is delivered.
func TestQueueFaultSIGKILLDuringOutage(t *testing.T) {
	t.Parallel() // waits on its own daemons; see the suite notes in main_test.go
	r := newFaultRig(t, rigOpts{meters: 20, interval: time.Second})
	p := r.run()
	time.Sleep(3 * time.Second)
	r.db.Kill()
	time.Sleep(3 * time.Second)
	// /healthz says the write path is degraded while points wait.
	if code, body := p.healthz(); code != 503 || !strings.Contains(body, "InfluxDB writes failing") {
		t.Errorf("/healthz during the outage = %d %s, want 503 naming the failing writes", code, body)
	}
	if v, err := p.metric("setsuden_write_path_degraded"); err != nil || v != 1 {
		t.Errorf("setsuden_write_path_degraded during the outage = %v (%v), want 1", v, err)
	}
	for i := 0; i < 2; i++ {
		sleepRand(time.Second, 3*time.Second)
		r.kill(p)
		p = r.run()
	}
	time.Sleep(2 * time.Second)
	d2 := r.restartInfluxd()
	back := time.Now()
	// Delivery resumes within a few seconds of InfluxDB answering.
	for {
		if w, _ := p.metric("setsuden_points_written_total"); w > 0 {
			break
		}
		if time.Since(back) > 10*time.Second {
			t.Fatalf("nothing delivered 10 s after InfluxDB came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("first delivery %.1f s after influxd answered", time.Since(back).Seconds())
	r.waitDrained(p)
	t.Logf("backlog drained %.1f s after influxd answered", time.Since(back).Seconds())
	if code, body := p.healthz(); code != 200 {
		t.Errorf("/healthz after the backlog was delivered = %d %s, want 200", code, body)
	}
	dropped, left := r.stop(p)
	if left != 0 || dropped != 0 {
		t.Errorf("stopped with %d points queued, %d dropped", left, dropped)
	}
	r.check(d2.URL, dropped)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory (root only).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// Row 3: the queue directory on a full disk while InfluxDB is down:
// polling goes on, every sample that does not fit is counted as dropped
// (reason disk), a restart on the full disk works, and delivery resumes by
// itself when InfluxDB is back and delivered data frees the disk.
func TestQueueFaultFullDiskInfluxDown(t *testing.T) {
	small := mountTmpfs(t, 128<<10)
	r := newFaultRig(t, rigOpts{meters: 20, interval: 500 * time.Millisecond, queueDir: filepath.Join(small, "queue")})
	p := r.run()
	time.Sleep(2 * time.Second)
	r.db.Kill()
	// 20 meters at 500 ms write ~12 KB/s: 128 KiB is full within ~12 s.
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, _ := p.metric("setsuden_points_dropped_total")
		if d > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no drops counted 60 s into an outage on a 128 KiB disk")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	if code, body := p.healthz(); code != 503 || !strings.Contains(body, "reason disk") {
		t.Errorf("/healthz on a full disk = %d %s, want 503 naming drops for reason disk", code, body)
	}
	// A restart on the full disk starts and goes on.
	dropped, _ := r.stop(p)
	p = r.run()
	time.Sleep(4 * time.Second)
	d2 := r.restartInfluxd()
	r.waitDrained(p)
	time.Sleep(2 * time.Second) // samples after the recovery go through too
	r.waitDrained(p)
	d, left := r.stop(p)
	dropped += d
	if left != 0 {
		t.Errorf("stopped with %d points queued", left)
	}
	if dropped == 0 {
		t.Error("nothing dropped on a full disk")
	}
	r.check(d2.URL, dropped)
	if strings.Contains(readFile(t, p.log), "level=ERROR") && !strings.Contains(readFile(t, p.log), "DROPPED") {
		t.Logf("second run's errors:\n%s", readFile(t, p.log))
	}
}

// Row 4: the queue directory on a small disk with InfluxDB up: delivered
// data is freed at once, so a disk much smaller than what passes through
// loses nothing.
func TestQueueFaultSmallDiskInfluxUp(t *testing.T) {
	small := mountTmpfs(t, 128<<10)
	r := newFaultRig(t, rigOpts{meters: 20, interval: 500 * time.Millisecond, queueDir: filepath.Join(small, "queue")})
	p := r.run()
	time.Sleep(32 * time.Second) // ~350 KB through a 128 KiB disk
	r.waitDrained(p)
	dropped, left := r.stop(p)
	if left != 0 || dropped != 0 {
		t.Errorf("stopped with %d points queued, %d dropped", left, dropped)
	}
	if !strings.Contains(readFile(t, p.log), "less room than influx.queue_max_bytes") {
		t.Error("no warning at start that the 1 GiB bound does not fit the 128 KiB disk")
	}
	// A sample is two lines of ~280 bytes together.
	if answered, _ := r.check(r.db.URL, dropped); answered*250 < 2*128<<10 {
		t.Errorf("only %d samples: not twice what the disk holds", answered)
	}
}

// SIGKILL at random moments, at least 20 times, InfluxDB up and down
// (SIGSTOP/SIGCONT) in turns.
func TestQueueFaultSIGKILLLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("kills setsuden 22 times; skipped with -short")
	}
	t.Parallel() // waits on its own daemons; see the suite notes in main_test.go
	r := newFaultRig(t, rigOpts{meters: 10, interval: 500 * time.Millisecond})
	influxPid := r.db.Pid()
	stopped := false
	defer func() {
		if stopped {
			_ = syscall.Kill(-influxPid, syscall.SIGCONT)
		}
	}()
	const kills = 22
	// Each run's samples carry timestamps inside the run, so the loss of
	// each kill is counted on its own: answered during the run less
	// stored with a timestamp in it.
	type window struct {
		from, to time.Time
		answered int64
		down     bool
	}
	var wins []window
	for i := 0; i < kills; i++ {
		if i%4 == 2 {
			sig := syscall.SIGSTOP
			if stopped {
				sig = syscall.SIGCONT
			}
			if err := syscall.Kill(-influxPid, sig); err != nil {
				t.Fatal(err)
			}
			stopped = !stopped
		}
		w := window{from: time.Now(), answered: -r.answered(), down: stopped}
		p := r.run()
		sleepRand(100*time.Millisecond, 2500*time.Millisecond)
		r.kill(p)
		w.to, w.answered = time.Now(), w.answered+r.answered()
		wins = append(wins, w)
	}
	if stopped {
		_ = syscall.Kill(-influxPid, syscall.SIGCONT)
		stopped = false
	}
	p := r.run()
	time.Sleep(time.Second)
	r.waitDrained(p)
	dropped, left := r.stop(p)
	if left != 0 || dropped != 0 {
		t.Errorf("stopped with %d points queued, %d dropped", left, dropped)
	}
	r.check(r.db.URL, dropped)
	rd := influx.NewReader(r.db.URL, "", "", r.db.Bucket())
	defer rd.Close()
	var lostUp, lostDown, answeredUp, answeredDown int64
	for i, w := range wins {
		stored, err := rd.CountRange(context.Background(), "power", "kw", w.from, w.to)
		if err != nil {
			t.Fatal(err)
		}
		lost := w.answered - stored
		if lost < 0 || lost > int64(len(r.meters)) {
			t.Errorf("kill %d (InfluxDB down %v): meters answered %d, stored %d: lost %d, want 0..%d (one a meter in flight)",
				i+1, w.down, w.answered, stored, lost, len(r.meters))
		}
		if w.down {
			lostDown, answeredDown = lostDown+lost, answeredDown+w.answered
		} else {
			lostUp, answeredUp = lostUp+lost, answeredUp+w.answered
		}
	}
	t.Logf("kills with InfluxDB up: lost %d of %d samples; with InfluxDB frozen: lost %d of %d", lostUp, answeredUp, lostDown, answeredDown)
}

// A second process on the same queue_dir refuses to start, naming the
// directory and the holder.
func TestQueueDirLockRefusesSecondProcess(t *testing.T) {
	r := newFaultRig(t, rigOpts{meters: 1, interval: time.Second})
	p := r.run()
	out, err := exec.Command(r.bin, "run", "--config", r.conf).CombinedOutput()
	if err == nil {
		t.Fatalf("a second setsuden on the same queue_dir started:\n%s", out)
	}
	want := fmt.Sprintf("is in use by another setsuden process (pid %d", p.cmd.Process.Pid)
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "queue_dir") {
		t.Errorf("second process said:\n%s\nwant a message containing %q", out, want)
	}
	// Once the first is gone (even by SIGKILL) the lock is free again.
	r.kill(p)
	p = r.run()
	r.stop(p)
}
