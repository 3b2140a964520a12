// Command pipelining measures what batching Modbus requests could save
// (README, Performance). The collector took much of it another way: meters
// due at the same instant wake from one timer and yield after sending, so
// answers have usually arrived when they are read. It polls the same simulated meters (bench/collector's simulator
// processes) with raw Modbus TCP frames in two ways and prints the
// process's CPU microseconds per sample of each:
//
//   - per-meter: one goroutine a meter writes its request and reads the
//     answer, as the collector does now (the read parks until the answer
//     arrives);
//   - batched: one goroutine per batch of meters writes every request,
//     then reads the answers, which have mostly arrived by then.
//
// It leaves out everything else the collector does (decoding, points, the
// write path), so it bounds the saving from above.
//
//	go build -o /tmp/benchc ./bench/collector
//	go run ./bench/pipelining --sims /tmp/benchc --meters 2000
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	simsBin := flag.String("sims", "/tmp/benchc", "bench/collector binary, started with --serve-sims")
	meters := flag.Int("meters", 2000, "simulated meters")
	batch := flag.Int("batch", 64, "meters per batch in batched mode")
	dur := flag.Duration("duration", 20*time.Second, "measurement per mode")
	rounds := flag.Int("rounds", 3, "rounds per mode, taken in turns")
	flag.Parse()

	sims := exec.Command(*simsBin, "--serve-sims", fmt.Sprintf("0,%d", *meters))
	sims.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sims.Stderr = os.Stderr
	out, _ := sims.StdoutPipe()
	stdin, _ := sims.StdinPipe()
	defer stdin.Close()
	if err := sims.Start(); err != nil {
		log.Fatal(err)
	}
	defer sims.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		log.Fatalf("simulators: %q %v", line, err)
	}
	for round := 1; round <= *rounds; round++ {
		for _, mode := range []string{"per-meter", "batched"} {
			us, n := run(mode, *meters, *batch, *dur)
			fmt.Printf("round %d %-9s %6d samples  %5.1f CPU us per sample\n", round, mode, n, us)
		}
	}
}

// simAddr is bench/collector's address of meter i.
func simAddr(i int) string {
	return fmt.Sprintf("127.%d.%d.%d:5020", 1+i/(250*250), (i/250)%250, 1+i%250)
}

// request is a Modbus TCP read of input registers 0-11 of unit 1.
func request(id uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[4:], 6)
	b[6], b[7] = 1, 4
	binary.BigEndian.PutUint16(b[10:], 12)
	return b
}

const answerLen = 7 + 2 + 24

func run(mode string, n, batch int, d time.Duration) (float64, int64) {
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", simAddr(i))
		if err != nil {
			log.Fatal(err)
		}
		conns[i] = c
		defer c.Close()
	}
	var samples atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	poll := func(group []net.Conn) {
		defer wg.Done()
		req := request(1)
		buf := make([]byte, answerLen)
		t := time.NewTimer(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			for _, c := range group {
				c.SetDeadline(time.Now().Add(900 * time.Millisecond))
				if _, err := c.Write(req); err != nil {
					log.Fatal(err)
				}
				if mode == "per-meter" {
					if _, err := io.ReadFull(c, buf); err != nil {
						log.Fatal(err)
					}
					samples.Add(1)
				}
			}
			if mode == "batched" {
				for _, c := range group {
					if _, err := io.ReadFull(c, buf); err != nil {
						log.Fatal(err)
					}
					samples.Add(1)
				}
			}
			t.Reset(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		}
	}
	size := 1
	if mode == "batched" {
		size = batch
	}
	for i := 0; i < n; i += size {
		wg.Add(1)
		go poll(conns[i:min(i+size, n)])
	}
	time.Sleep(3 * time.Second)
	c0, s0 := cpu(), samples.Load()
	time.Sleep(d)
	c1, s1 := cpu(), samples.Load()
	close(stop)
	wg.Wait()
	return (c1 - c0) * 1e6 / float64(s1-s0), s1 - s0
}

// cpu is this process's user+system seconds.
func cpu() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		log.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}
