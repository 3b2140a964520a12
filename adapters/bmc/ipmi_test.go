package bmc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/bmc/bmctest"
	"github.com/setsuden/setsuden/internal/testmigrate"
)

func waitPower(t *testing.T, b *IPMI, want bool, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		on, err := b.PowerIsOn(context.Background())
		if err == nil && on == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("power on=%v (err %v), want %v after %s", on, err, want, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIPMIReal drives a real ipmi_sim with go-ipmi and checks every state
// with ipmitool.
func TestIPMIReal(t *testing.T) {
	bmctest.Require(t)
	dir := t.TempDir()
	sim := bmctest.Start(t, dir, "h1", bmctest.HostScript(t, dir, "h1"))
	ctx := context.Background()
	b, err := NewIPMI(IPMIConfig{Addr: sim.Addr(), User: bmctest.User, Password: bmctest.Password})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("power on and off, cross-checked with ipmitool", func(t *testing.T) {
		o := testmigrate.Case(t, "ipmi_sim: power on and off (go-ipmi, checked by ipmitool)")
		_ = o
		if on, err := b.PowerIsOn(ctx); err != nil || on {
			t.Fatalf("initial power on=%v err=%v, want off", on, err)
		}
		if err := b.PowerOn(ctx); err != nil {
			t.Fatal(err)
		}
		waitPower(t, b, true, 5*time.Second)
		if on, err := sim.IpmitoolPowerOn(); err != nil || !on {
			t.Fatalf("ipmitool says on=%v (%v) after PowerOn", on, err)
		}
		if sim.HostPid() == 0 {
			t.Fatal("no host process after power on")
		}
		// ipmi_sim has no OS on its serial port, so a soft shutdown is
		// refused; the executor then goes on to a hard off.
		if err := b.PowerOff(ctx, false); err == nil {
			t.Log("soft off accepted")
		} else {
			t.Logf("soft off refused, as on a BMC without an OS agent: %v", err)
		}
		if err := b.PowerOff(ctx, true); err != nil {
			t.Fatal(err)
		}
		waitPower(t, b, false, 10*time.Second)
		if on, err := sim.IpmitoolPowerOn(); err != nil || on {
			t.Fatalf("ipmitool says on=%v (%v) after PowerOff", on, err)
		}
		if sim.HostPid() != 0 {
			t.Fatal("host process still there after power off")
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		testmigrate.Case(t, "ipmi_sim: wrong password refused")
		bad, _ := NewIPMI(IPMIConfig{Addr: sim.Addr(), User: bmctest.User, Password: "wrong"})
		_, err := bad.PowerIsOn(ctx)
		if err == nil || !strings.Contains(err.Error(), "open session") {
			t.Fatalf("err = %v, want a session error", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("the error shows the password: %v", err)
		}
		if out, err := sim.Ipmitool("wrong", "chassis", "power", "status"); err == nil {
			t.Errorf("ipmitool accepted the wrong password: %s", out)
		}
		t.Logf("go-ipmi: %v", err)
	})

	t.Run("BMC not answering", func(t *testing.T) {
		testmigrate.Case(t, "ipmi_sim: BMC not answering (SIGSTOP) times out")
		slowb, _ := NewIPMI(IPMIConfig{Addr: sim.Addr(), User: bmctest.User, Password: bmctest.Password, Timeout: 300 * time.Millisecond, Retries: 1})
		sim.Freeze()
		defer sim.Thaw()
		start := time.Now()
		_, err := slowb.PowerIsOn(ctx)
		took := time.Since(start)
		if err == nil {
			t.Fatal("a frozen BMC answered")
		}
		if took > 5*time.Second {
			t.Errorf("took %s to give up, want about timeout x (retries+1) = 0.6 s", took)
		}
		t.Logf("after %s: %v", took.Round(time.Millisecond), err)
		// And a context deadline shorter than that wins.
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start = time.Now()
		if _, err := b.PowerIsOn(cctx); err == nil {
			t.Fatal("a frozen BMC answered")
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("context deadline 100 ms took %s", took)
		}
	})
}

func TestIPMIConfigErrors(t *testing.T) {
	for _, c := range []IPMIConfig{{Addr: ":x", User: "a"}, {Addr: "h:99999", User: "a"}, {Addr: "h:623"}} {
		if _, err := NewIPMI(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
