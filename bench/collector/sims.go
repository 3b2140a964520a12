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
// exited) or it is killed.
func serveSims(from, n int) {
	ctx := context.Background()
	for i := from; i < from+n; i++ {
		_, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: simAddr(i), UnitID: 1,
			Curve: sim.LoadCurve{BaseKW: 5 + float64(i%7), PeakKW: 9 + float64(i%7), Seed: int64(i + 1), Location: time.UTC}})
		if err != nil {
			log.Fatalf("sim meter %d: %v", i, err)
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startSims starts simulator processes for n meters and waits until all of
// them listen.
func startSims(n int) ([]simMeter, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	var procs []*exec.Cmd
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
		stdin, err := cmd.StdinPipe()
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		_ = stdin // closed when the bench exits
		out, err := cmd.StdoutPipe()
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			stopAll()
			return nil, nil, err
		}
		procs = append(procs, cmd)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			stopAll()
			return nil, nil, fmt.Errorf("simulator process for meters %d..: %q, %v", from, line, err)
		}
	}
	meters := make([]simMeter, n)
	for i := range meters {
		meters[i] = simMeter{addr: simAddr(i), unit: 1}
	}
	return meters, stopAll, nil
}
