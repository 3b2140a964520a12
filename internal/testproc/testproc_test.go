package testproc

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A process that ignores SIGTERM is still stopped (SIGKILL after the
// grace); one that honours it goes within the grace.
func TestStop(t *testing.T) {
	for _, c := range []struct {
		name   string
		script string
	}{
		{"honours SIGTERM", `touch "$READY"; exec sleep 60`},
		{"ignores SIGTERM", `trap '' TERM; touch "$READY"; while :; do sleep 0.05; done`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			cmd := exec.Command("sh", "-c", c.script)
			cmd.Env = append(os.Environ(), "READY="+ready)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := cmd.Process.Pid
			go cmd.Wait()
			defer cmd.Process.Kill()
			if !Poll(30*time.Second, 10*time.Millisecond, func() bool { _, err := os.Stat(ready); return err == nil }) || !Alive(pid) {
				t.Fatal("not running 30 s after start")
			}
			start := time.Now()
			if !Stop(pid, 300*time.Millisecond) || Alive(pid) {
				t.Fatal("still alive after Stop")
			}
			if took := time.Since(start); c.name == "ignores SIGTERM" && took < 300*time.Millisecond {
				t.Errorf("stopped in %s: SIGKILL came before the grace", took)
			}
		})
	}
}

func TestPidFileAndPorts(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.pid")
	if ReadPid(f) != 0 {
		t.Error("a missing pid file gave a pid")
	}
	WriteFile(t, f, strconv.Itoa(os.Getpid())+"\n", 0o644)
	if p := ReadPid(f); p != os.Getpid() || !CmdlineHas(p, "testproc") {
		t.Errorf("pid %d (want %d, whose command line names the test binary)", p, os.Getpid())
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(FreeTCPPort(t))))
	if err != nil {
		t.Fatalf("free TCP port: %v", err)
	}
	l.Close()
	c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(FreeUDPPort(t))))
	if err != nil {
		t.Fatalf("free UDP port: %v", err)
	}
	c.Close()
	if Poll(50*time.Millisecond, 10*time.Millisecond, func() bool { return false }) {
		t.Error("Poll held for a condition that never does")
	}
}
