package testlibvirtd

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDaemonGuestRestart starts a daemon with an idle and a busy guest,
// restarts the daemon (the guests keep running and it finds them again),
// and sees the busy guest's CPU time rise.
func TestDaemonGuestRestart(t *testing.T) {
	d := Start(t, 1)
	uuid := d.DefineAndStartGuest(Guest{Name: "idle"})
	if len(uuid) != 36 {
		t.Errorf("uuid %q", uuid)
	}
	d.DefineAndStartGuest(Guest{Name: "busy", Busy: true})
	cpu := func(name string) float64 {
		out := d.MustVirsh("domstats", "--cpu-total", name)
		for _, l := range strings.Fields(out) {
			if v, ok := strings.CutPrefix(l, "cpu.time="); ok {
				var n float64
				_, _ = fmt.Sscan(v, &n)
				return n / 1e9
			}
		}
		t.Fatalf("no cpu.time in %q", out)
		return 0
	}
	c0 := cpu("busy")
	time.Sleep(2 * time.Second)
	if got := cpu("busy") - c0; got < 0.5 {
		t.Errorf("busy guest used %.2f s of CPU in 2 s", got)
	}
	pid := d.MustQemuPid("busy")
	d.Restart(300 * time.Millisecond)
	if !d.Running() || syscall.Kill(pid, 0) != nil {
		t.Fatal("after the restart: daemon or guest gone")
	}
	if st := d.MustVirsh("domstate", "idle"); st != "running" {
		t.Errorf("idle after restart: %q", st)
	}
}
