// Package testproc is what the test harnesses that run real daemons
// (internal/testlibvirtd, internal/testmigrate, adapters/bmc/bmctest) share:
// whether a process lives, stopping it (SIGTERM, then SIGKILL), pid files,
// free loopback ports and waiting for a condition with a deadline.
package testproc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Alive reports whether pid exists and is not a zombie (zombies are not
// reaped in some sandboxes, and kill -0 succeeds on them).
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Poll calls cond every interval until it holds (true) or d has passed
// (false).
func Poll(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// WaitDead waits until pid is gone or a zombie.
func WaitDead(pid int, d time.Duration) bool {
	return Poll(d, 20*time.Millisecond, func() bool { return !Alive(pid) })
}

// Stop sends pid SIGTERM, waits up to grace, then SIGKILLs it and waits
// up to 10 s more; it reports whether the process is gone.
func Stop(pid int, grace time.Duration) bool {
	if !Alive(pid) {
		return true
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if WaitDead(pid, grace) {
		return true
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return WaitDead(pid, 10*time.Second)
}

// ReadPid is the pid in a pid file, 0 if there is none.
func ReadPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

// CmdlineHas reports whether pid's command line contains s (a guard
// against a reused pid).
func CmdlineHas(pid int, s string) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return bytes.Contains(b, []byte(s))
}

// FreeTCPPort is a loopback TCP port nothing listens on right now.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeUDPPort is a loopback UDP port no socket is bound to, checked with ss
// as well: a daemon that sets SO_REUSEADDR (ipmi_sim) would share a used one.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if out, _ := exec.Command("ss", "-Hlun", fmt.Sprintf("sport = :%d", p)).Output(); len(strings.TrimSpace(string(out))) == 0 {
			return p
		}
	}
	t.Fatal("no free UDP port")
	return 0
}

// WriteFile writes a test fixture file, failing the test on an error.
func WriteFile(t testing.TB, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

// ChownNobody gives dir and everything below it to nobody:nogroup (for
// daemons run unprivileged through setpriv).
func ChownNobody(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("chown", "-R", "nobody:nogroup", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v: %s", dir, err, out)
	}
}
