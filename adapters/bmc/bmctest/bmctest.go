// Package bmctest runs Debian's ipmi_sim (OpenIPMI's LAN BMC simulator) for
// tests, as shared/deps.md section 8 and shared/examples/bmc/bmcctl.sh
// describe: "power on" starts a command of the test's (the host), "power
// off" sends it SIGTERM, and ipmitool is the independent client to
// cross-check with.
package bmctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testproc"
)

// User and Password are the admin account of every simulated BMC.
const (
	User     = "admin"
	Password = "secret"
)

// Require skips loudly when ipmi_sim or ipmitool is missing or under -short.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP (ipmi_sim): -short")
	}
	for _, p := range []string{"ipmi_sim", "ipmitool"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("SKIP (ipmi_sim): %s not installed (apt-get install openipmi ipmitool; scripts/install-deps.sh test): %v", p, err)
		}
	}
}

// BMC is one running ipmi_sim.
type BMC struct {
	Name   string
	Dir    string
	Port   int
	VMPort int
	pid    int
	t      testing.TB
}

// Addr is 127.0.0.1:PORT.
func (b *BMC) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.Port) }

// Pid is ipmi_sim's pid.
func (b *BMC) Pid() int { return b.pid }

// HostScript writes an executable script that runs cmd in the foreground
// (exec, so ipmi_sim's SIGTERM reaches it) and returns its path. With no
// cmd the host "boots" but never runs a hypervisor: it sleeps until
// SIGTERM.
func HostScript(t testing.TB, dir, name string, cmd ...string) string {
	t.Helper()
	body := "#!/bin/sh\ntrap 'kill $child 2>/dev/null; exit 0' TERM INT\nsleep infinity & child=$!\nwait $child\n"
	if len(cmd) > 0 {
		q := make([]string, len(cmd))
		for i, c := range cmd {
			q[i] = "'" + strings.ReplaceAll(c, "'", `'\''`) + "'"
		}
		body = "#!/bin/sh\nexec " + strings.Join(q, " ") + "\n"
	}
	p := filepath.Join(dir, name+".host.sh")
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start runs one ipmi_sim on free ports with startcmd as its host's power
// (a script path) and waits until it listens. It is stopped, with its host,
// at cleanup.
func Start(t testing.TB, dir, name, startcmd string) *BMC {
	t.Helper()
	b := &BMC{Name: name, Dir: filepath.Join(dir, "bmc-"+name), Port: testproc.FreeUDPPort(t), VMPort: testproc.FreeTCPPort(t), t: t}
	if err := os.MkdirAll(filepath.Join(b.Dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	lan := fmt.Sprintf(`name "%s"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa1234567%08x
  endlan
  serial 15 127.0.0.1 %d codec VM
  startcmd "%s"
  startnow false
  poweroff_wait 30
  kill_wait 5
  user 2 true  "%s" "%s" admin 10 none md2 md5 straight
`, name, b.Port, b.Port, b.VMPort, startcmd, User, Password)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n"
	testproc.WriteFile(t, filepath.Join(b.Dir, "lan.conf"), lan, 0o644)
	testproc.WriteFile(t, filepath.Join(b.Dir, "bmc.emu"), emu, 0o644)
	logf, err := os.Create(filepath.Join(b.Dir, "sim.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	cmd := exec.Command("ipmi_sim", "-n", "-c", filepath.Join(b.Dir, "lan.conf"), "-f", filepath.Join(b.Dir, "bmc.emu"), "-s", filepath.Join(b.Dir, "state"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ipmi_sim: %v", err)
	}
	b.pid = cmd.Process.Pid
	go cmd.Wait() // reap
	t.Cleanup(b.Stop)
	listening := testproc.Poll(10*time.Second, 20*time.Millisecond, func() bool {
		out, _ := exec.Command("ss", "-Hlunp", fmt.Sprintf("sport = :%d", b.Port)).Output()
		return strings.Contains(string(out), fmt.Sprintf("pid=%d,", b.pid)) || !testproc.Alive(b.pid)
	})
	switch {
	case !testproc.Alive(b.pid):
		t.Fatalf("ipmi_sim %s died at start (bad config? with -n it logs to syslog only)", name)
	case !listening:
		t.Fatalf("ipmi_sim %s not listening on udp %d after 10 s", name, b.Port)
	}
	return b
}

// HostPid is the pid of the host process ipmi_sim started (power on), 0 if
// none runs.
func (b *BMC) HostPid() int {
	out, _ := exec.Command("ps", "-o", "pid=", "--ppid", strconv.Itoa(b.pid)).Output()
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil && testproc.Alive(p) {
			return p
		}
	}
	return 0
}

// Freeze stops the BMC (SIGSTOP): it no longer answers.
func (b *BMC) Freeze() { _ = syscall.Kill(b.pid, syscall.SIGSTOP) }

// Thaw resumes a frozen BMC.
func (b *BMC) Thaw() { _ = syscall.Kill(b.pid, syscall.SIGCONT) }

// Stop stops the host first (ipmi_sim does not kill its startcmd on exit),
// then ipmi_sim.
func (b *BMC) Stop() {
	if !testproc.Alive(b.pid) {
		return
	}
	b.Thaw()
	if h := b.HostPid(); h != 0 {
		testproc.Stop(h, 10*time.Second)
	}
	testproc.Stop(b.pid, 5*time.Second)
}

// Ipmitool runs ipmitool against the BMC (cipher suite 3) and returns its
// trimmed output.
func (b *BMC) Ipmitool(password string, args ...string) (string, error) {
	full := append([]string{"-I", "lanplus", "-C", "3", "-N", "1", "-R", "2", "-H", "127.0.0.1", "-p", strconv.Itoa(b.Port), "-U", User, "-P", password}, args...)
	out, err := exec.Command("ipmitool", full...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// IpmitoolPowerOn asks ipmitool for the power state: true for "Chassis
// Power is on".
func (b *BMC) IpmitoolPowerOn() (bool, error) {
	out, err := b.Ipmitool(Password, "chassis", "power", "status")
	if err != nil {
		return false, fmt.Errorf("ipmitool: %v: %s", err, out)
	}
	switch out {
	case "Chassis Power is on":
		return true, nil
	case "Chassis Power is off":
		return false, nil
	}
	return false, fmt.Errorf("ipmitool: unexpected %q", out)
}
