// Package testmigrate starts real libvirt hosts for tests: unprivileged
// session libvirtd daemons run as nobody, each with its own host_uuid, so
// that a real peer-to-peer live migration (MigrateToURI3) moves real qemu
// (TCG) guests between them (shared/deps.md section 7). It also builds a
// tiny multiboot guest that fills its memory with non-zero pages and halts:
// with libvirt's bandwidth limit (1 MiB/s) its migration takes about a
// minute, long enough to abort, kill the destination daemon or kill the
// destination qemu mid-way. An idle SeaBIOS guest's memory is all zero pages,
// which qemu sends as flags, so no bandwidth limit slows it.
//
// This is a minimal harness for the executor's real-part tests; the lead
// may merge it with internal/testlibvirtd.
package testmigrate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Require skips the test, loudly, when the machine cannot run real libvirt
// hosts: -short, not root (the daemons run as nobody through setpriv), or a
// missing program.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP (real libvirtd + qemu): -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIP (real libvirtd + qemu): needs root to run session daemons as nobody (shared/deps.md section 7)")
	}
	for _, p := range []string{"libvirtd", "qemu-system-x86_64", "setpriv"} {
		if _, err := exec.LookPath(p); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + p); err2 != nil {
				t.Skipf("SKIP (real libvirtd + qemu): %s not installed (scripts/install-deps.sh test): %v", p, err)
			}
		}
	}
}

// Host is one session libvirtd.
type Host struct {
	Name string
	Dir  string
	// N is the host number (1..99), which sets its host_uuid.
	N int
	t testing.TB
}

// URI is the connection URI of the daemon's socket.
func (h *Host) URI() string {
	return "qemu+unix:///session?socket=" + h.Socket()
}

// Socket is the daemon's unix socket.
func (h *Host) Socket() string { return filepath.Join(h.Dir, "run", "libvirt", "libvirt-sock") }

// NewDir makes a short directory that nobody can traverse (t.TempDir is
// 0700 and long; unix socket paths are limited to 108 bytes). It is removed
// at cleanup, after the hosts in it stopped.
func NewDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "smig")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// NewHost prepares host n's directory under dir (config, run, cache, data,
// owned by nobody) without starting it.
func NewHost(t testing.TB, dir, name string, n int) *Host {
	t.Helper()
	h := &Host{Name: name, Dir: filepath.Join(dir, name), N: n, t: t}
	for _, sub := range []string{"config/libvirt", "run", "cache", "data"} {
		if err := os.MkdirAll(filepath.Join(h.Dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(h.Dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("host_uuid = \"7e57a000-0000-4000-8000-%012d\"\nlog_outputs = \"1:file:%s/libvirtd.log\"\n", n, h.Dir)
	write(t, filepath.Join(h.Dir, "config/libvirt/libvirtd.conf"), conf)
	// Every daemon picks incoming-migration ports from qemu's default
	// 49152-49215 unless told otherwise, and two daemons checking the same
	// free port at once both take it: one incoming qemu then fails with
	// "Address already in use" and its source may stream into the other
	// daemon's guest. Each host gets a block of its own.
	lo := portBlock(t)
	write(t, filepath.Join(h.Dir, "config/libvirt/qemu.conf"),
		fmt.Sprintf("stdio_handler = \"file\"\nmigration_port_min = %d\nmigration_port_max = %d\n", lo, lo+portBlockSize-1))
	chownNobody(t, h.Dir)
	t.Cleanup(h.cleanup)
	return h
}

const (
	portBlockSize  = 16
	portBlockFirst = 30000
	portBlocks     = 1000
)

// portBlock reserves a block of portBlockSize TCP ports for one host's
// incoming migrations, across test processes: a lock file per block under
// /tmp/setsuden-migports holds the owner's pid; a dead owner's block is
// taken over. The block is released at cleanup.
func portBlock(t testing.TB) int {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "setsuden-migports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := int(time.Now().UnixNano()/1000) % portBlocks
	for i := 0; i < portBlocks; i++ {
		b := (start + i) % portBlocks
		f := filepath.Join(dir, fmt.Sprintf("%d.lock", b))
		if p := readPid(f); p > 0 && !Alive(p) {
			os.Remove(f)
		}
		fh, err := os.OpenFile(f, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			continue
		}
		fmt.Fprintf(fh, "%d\n", os.Getpid())
		fh.Close()
		t.Cleanup(func() { os.Remove(f) })
		return portBlockFirst + b*portBlockSize
	}
	t.Fatal("no free migration port block")
	return 0
}

// StartHost prepares and starts host n.
func StartHost(t testing.TB, dir, name string, n int) *Host {
	t.Helper()
	h := NewHost(t, dir, name, n)
	h.Start()
	return h
}

// Command is the command line that runs this host's daemon in the
// foreground as nobody (for a BMC simulator's startcmd: power on = daemon
// up). exec'd, so SIGTERM reaches libvirtd itself.
func (h *Host) Command() []string {
	return []string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		"env", "-i", "PATH=/usr/sbin:/usr/bin", "HOME=" + h.Dir,
		"XDG_CONFIG_HOME=" + h.Dir + "/config", "XDG_RUNTIME_DIR=" + h.Dir + "/run",
		"XDG_CACHE_HOME=" + h.Dir + "/cache", "XDG_DATA_HOME=" + h.Dir + "/data",
		"libvirtd", "-f", h.Dir + "/config/libvirt/libvirtd.conf", "-p", h.PidFile()}
}

// PidFile is the daemon's pid file.
func (h *Host) PidFile() string { return filepath.Join(h.Dir, "libvirtd.pid") }

// Start starts the daemon (-d) and waits for its socket.
func (h *Host) Start() {
	h.t.Helper()
	os.Remove(h.Socket())
	args := h.Command()
	args = append(args, "-d")
	cmd := exec.Command(args[0], args[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		h.t.Fatalf("start libvirtd %s: %v: %s", h.Name, err, out)
	}
	h.WaitReady(30 * time.Second)
}

// WaitReady waits until the daemon's socket exists.
func (h *Host) WaitReady(d time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(h.Socket()); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("libvirtd %s: socket %s not there after %s; log: %s", h.Name, h.Socket(), d, h.Log())
}

// Log is the tail of the daemon's log file.
func (h *Host) Log() string {
	b, _ := os.ReadFile(filepath.Join(h.Dir, "libvirtd.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Pid is the daemon's pid, 0 if not running.
func (h *Host) Pid() int {
	p := readPid(h.PidFile())
	if p > 0 && Alive(p) {
		return p
	}
	return 0
}

// Stop sends SIGTERM to the daemon and waits for it to exit; its guests keep
// running (as on a real host).
func (h *Host) Stop() { h.signal(syscall.SIGTERM) }

// Kill sends SIGKILL to the daemon and waits for it to die.
func (h *Host) Kill() { h.signal(syscall.SIGKILL) }

func (h *Host) signal(sig syscall.Signal) {
	h.t.Helper()
	p := h.Pid()
	if p == 0 {
		return
	}
	_ = syscall.Kill(p, sig)
	if !WaitDead(p, 30*time.Second) {
		h.t.Fatalf("libvirtd %s (pid %d) still alive 30 s after %v", h.Name, p, sig)
	}
	os.Remove(h.Socket())
}

// QemuPid is the pid of the qemu process of domain name on this host, 0 if
// none is running.
func (h *Host) QemuPid(name string) int {
	p := readPid(filepath.Join(h.Dir, "run", "libvirt", "qemu", "run", name+".pid"))
	if p > 0 && Alive(p) && isQemu(p) {
		return p
	}
	return 0
}

// QemuPids are the running qemu processes started by this host (their pid
// files), by domain name.
func (h *Host) QemuPids() map[string]int {
	out := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(h.Dir, "run", "libvirt", "qemu", "run", "*.pid"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		if name == "driver" {
			continue
		}
		if p := readPid(f); p > 0 && Alive(p) && isQemu(p) {
			out[name] = p
		}
	}
	return out
}

// cleanup kills the host's guests, then its daemon (stopping a libvirtd
// does not stop its guests).
func (h *Host) cleanup() {
	for _, p := range h.QemuPids() {
		_ = syscall.Kill(p, syscall.SIGKILL)
		WaitDead(p, 10*time.Second)
	}
	if p := h.Pid(); p != 0 {
		_ = syscall.Kill(p, syscall.SIGKILL)
		WaitDead(p, 10*time.Second)
	}
}

// GuestXML is a transient qemu (TCG) guest of memMiB with no disk and no
// NIC. With kernel set, it boots that multiboot image (FillKernel) instead
// of halting in SeaBIOS.
func GuestXML(name string, memMiB int, kernel string) string {
	os := "<type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/>"
	if kernel != "" {
		os = "<type arch='x86_64' machine='pc'>hvm</type><kernel>" + kernel + "</kernel>"
	}
	return fmt.Sprintf(`<domain type='qemu'><name>%s</name><memory unit='MiB'>%d</memory><vcpu>1</vcpu>
 <os>%s</os>
 <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><video><model type='none'/></video>
  <memballoon model='none'/><serial type='pty'/></devices></domain>`, name, memMiB, os)
}

// FillKernel writes a multiboot image (a.out kludge, loaded at 1 MiB) that
// writes one non-zero word into every 4 KiB page from 2 MiB up to
// memMiB-1 MiB, then halts with interrupts off (no CPU burnt afterwards).
// Every such page is then a "normal" page for migration, so libvirt's
// bandwidth limit sets the migration's length: about (memMiB-3) s at 1 MiB/s.
func FillKernel(t testing.TB, dir string, memMiB int) string {
	t.Helper()
	const base = 0x100000
	magic, flags := uint32(0x1BADB002), uint32(0x00010000)
	var b bytes.Buffer
	for _, v := range []uint32{magic, flags, -(magic + flags), base, base, 0, 0, base + 32} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	limit := uint32(memMiB-1) << 20
	b.Write([]byte{
		0xfa,                         // cli
		0xb8, 0x78, 0x56, 0x34, 0x12, // mov eax, 0x12345678
		0xbf, 0x00, 0x00, 0x20, 0x00, // mov edi, 0x200000
		0x89, 0x07, // loop: mov [edi], eax
		0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, // add edi, 0x1000
		0x81, 0xff, // cmp edi, limit
	})
	binary.Write(&b, binary.LittleEndian, limit)
	b.Write([]byte{
		0x72, 0xf0, // jb loop
		0xf4,       // halt: hlt
		0xeb, 0xfd, // jmp halt
	})
	p := filepath.Join(dir, fmt.Sprintf("fill-%d.bin", memMiB))
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

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

// WaitDead waits until pid is gone or a zombie.
func WaitDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !Alive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func isQemu(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return bytes.Contains(b, []byte("qemu"))
}

func readPid(f string) int {
	b, err := os.ReadFile(f)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

func write(t testing.TB, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func chownNobody(t testing.TB, dir string) {
	t.Helper()
	out, err := exec.Command("chown", "-R", "nobody:nogroup", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("chown %s: %v: %s", dir, err, out)
	}
}

// WaitFilled waits until the FillKernel guest name on h has touched its
// memory (its qemu's resident set reaches memMiB-8 MiB): a guest migrated
// before its kernel ran has only zero pages and moves in a second, however
// low the bandwidth. Under load the boot can take seconds.
func (h *Host) WaitFilled(name string, memMiB int) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p := h.QemuPid(name)
		if p != 0 && rssMiB(p) >= int64(memMiB-8) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("guest %s on %s: memory not filled after 60 s (rss %d MiB)", name, h.Name, rssMiB(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rssMiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb / 1024
			}
		}
	}
	return 0
}
