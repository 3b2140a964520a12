package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/setsuden/setsuden/adapters/sim"
)

// simMeter is one simulated meter as the collectors see it.
type simMeter struct {
	addr string
	unit byte
}

// simsPerProcess bounds the meters one simulator process serves: each holds
// a listener and a connection, and a process may hold 20,000 descriptors on
// this machine (the hard limit, which cannot be raised here). The
// simulators run in their own processes so that the collectors, not the
// bench, meet that limit: a collector needs one descriptor a meter.
const simsPerProcess = 8000

// simAddr gives meter i its own loopback address on a fixed port, so that
// tens of thousands of listeners do not use up the ephemeral ports the
// collectors' connections need (32768-60999 here). Linux routes all of
// 127.0.0.0/8 to the loopback interface.
func simAddr(i int) string {
	return fmt.Sprintf("127.%d.%d.%d:5020", 1+i/(250*250), (i/250)%250, 1+i%250)
}

// serveSims is the simulator process: it serves meters [from, from+n),
// prints "ready", and runs until its standard input closes (the bench
// exited) or it is killed. A line "answered A B" on its standard input is
// answered with the samples meters [A, B) have answered so far.
func serveSims(from, n int) {
	ctx := context.Background()
	var ms []*sim.Meter
	for i := from; i < from+n; i++ {
		m, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: simAddr(i), UnitID: 1,
			Curve: sim.LoadCurve{BaseKW: 5 + float64(i%7), PeakKW: 9 + float64(i%7), Seed: int64(i + 1), Location: time.UTC}})
		if err != nil {
			log.Fatalf("sim meter %d: %v", i, err)
		}
		ms = append(ms, m)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var a, b int
		if _, err := fmt.Sscanf(in.Text(), "answered %d %d", &a, &b); err != nil {
			continue
		}
		var total int64
		for i := max(a, from); i < min(b, from+n); i++ {
			total += ms[i-from].Answered()
		}
		fmt.Println(total)
	}
}

// simProc is one simulator process.
type simProc struct {
	from, n int
	cmd     *exec.Cmd
	in      io.Writer
	out     *bufio.Reader
}

// sims are the simulator processes.
type sims []*simProc

// answered is the samples meters [a, b) have answered (their own request
// counters, sim.Meter.Answered).
func (ss sims) answered(a, b int) int64 {
	var total int64
	for _, p := range ss {
		if b <= p.from || a >= p.from+p.n {
			continue
		}
		fmt.Fprintf(p.in, "answered %d %d\n", a, b)
		line, err := p.out.ReadString('\n')
		if err != nil {
			log.Fatalf("simulator process %d..: %v", p.from, err)
		}
		var n int64
		fmt.Sscan(strings.TrimSpace(line), &n)
		total += n
	}
	return total
}

// startSims starts simulator processes for n meters and waits until all of
// them listen.
func startSims(n int) ([]simMeter, sims, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	var procs []*exec.Cmd
	var ss sims
	stopAll := func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
	for from := 0; from < n; from += simsPerProcess {
		cmd := exec.Command(self, "--serve-sims", fmt.Sprintf("%d,%d", from, min(simsPerProcess, n-from)))
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err := cmd.StdinPipe() // closed when the bench exits
		if err != nil {
			stopAll()
			return nil, nil, nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			stopAll()
			return nil, nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			stopAll()
			return nil, nil, nil, err
		}
		procs = append(procs, cmd)
		r := bufio.NewReader(out)
		line, err := r.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			stopAll()
			return nil, nil, nil, fmt.Errorf("simulator process for meters %d..: %q, %v", from, line, err)
		}
		ss = append(ss, &simProc{from: from, n: min(simsPerProcess, n-from), cmd: cmd, in: stdin, out: r})
	}
	meters := make([]simMeter, n)
	for i := range meters {
		meters[i] = simMeter{addr: simAddr(i), unit: 1}
	}
	return meters, ss, stopAll, nil
}
