// Package testlibvirtd starts real, unprivileged libvirt session daemons
// (libvirtd 9, qemu driver) for tests, each with its own directory, socket
// and host UUID, so that two of them are two hosts to libvirt (live
// migration between them works), and defines qemu (TCG) guests on them.
// The recipe is shared/deps.md section 7: the daemon runs as nobody through
// setpriv, with stdio_handler "file" so no virtlogd is needed. It is the one
// libvirtd harness: internal/testmigrate builds its migration hosts on it.
//
// Under `go test -short` tests that need it are skipped; otherwise a
// missing libvirtd, qemu or setpriv is a failure, not a silent skip.
package testlibvirtd

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testproc"
)

// Daemon is one session libvirtd.
type Daemon struct {
	// Name names the daemon in messages (and its directory under New's dir).
	Name string
	// N is the daemon's number (its host_uuid ends in N).
	N int
	// Dir is the daemon's home: config/, run/, cache/, data/, libvirtd.log.
	Dir string
	// URI is the connection URI (qemu+unix:///session?socket=...).
	URI string

	t testing.TB
}

// Programs are what a daemon needs on the machine.
var Programs = []string{"libvirtd", "qemu-system-x86_64", "setpriv", "virsh"}

// Missing is an error naming the first of Programs not installed, nil if
// all are.
func Missing() error {
	for _, bin := range Programs {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + bin); err2 != nil {
				return fmt.Errorf("%s not found (scripts/install-deps.sh installs libvirt-daemon-system and qemu-system-x86): %v", bin, err)
			}
		}
	}
	return nil
}

// Start starts daemon number n (1..9999) in a new temporary directory and
// stops it, with every guest it started, when the test ends.
func Start(t testing.TB, n int) *Daemon {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real libvirtd and qemu; skipped with -short")
	}
	if err := Missing(); err != nil {
		t.Fatalf("testlibvirtd: %v", err)
	}
	// Short: the socket path must fit sun_path (108 bytes).
	dir, err := os.MkdirTemp("", fmt.Sprintf("lvd%d-", n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the daemon's cleanup
	d := prepare(t, fmt.Sprintf("libvirtd %d", n), dir, n)
	d.Start()
	return d
}

// NewDir makes a short directory for daemons made with New (t.TempDir is
// 0700 and long; unix socket paths are limited to 108 bytes), one nobody
// can traverse. It is removed at cleanup, after the daemons in it stopped.
func NewDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// New prepares daemon n in dir/name without starting it (Start starts it;
// Command runs it in the foreground, e.g. as a simulated BMC's host). At
// cleanup its guests and the daemon are killed.
func New(t testing.TB, dir, name string, n int) *Daemon {
	t.Helper()
	return prepare(t, name, filepath.Join(dir, name), n)
}

func prepare(t testing.TB, name, dir string, n int) *Daemon {
	t.Helper()
	d := &Daemon{Name: name, N: n, Dir: dir, t: t}
	d.URI = "qemu+unix:///session?socket=" + d.Socket()
	for _, sub := range []string{"config/libvirt", "run", "cache", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	testproc.WriteFile(t, filepath.Join(dir, "config/libvirt/libvirtd.conf"),
		fmt.Sprintf("host_uuid = \"7e57a000-0000-4000-8000-%012d\"\nlog_outputs = \"1:file:%s\"\n", n, filepath.Join(dir, "libvirtd.log")), 0o644)
	// Every daemon picks incoming-migration ports from qemu's default
	// 49152-49215 unless told otherwise, and two daemons checking the same
	// free port at once both take it: one incoming qemu then fails with
	// "Address already in use" and its source may stream into the other
	// daemon's guest. Each daemon gets a block of its own.
	lo := portBlock(t)
	testproc.WriteFile(t, filepath.Join(dir, "config/libvirt/qemu.conf"),
		fmt.Sprintf("stdio_handler = \"file\"\nmigration_port_min = %d\nmigration_port_max = %d\n", lo, lo+portBlockSize-1), 0o644)
	testproc.ChownNobody(t, dir)
	t.Cleanup(d.cleanup)
	return d
}

const (
	portBlockSize  = 16
	portBlockFirst = 30000
	portBlocks     = 1000
)

// portBlock reserves a block of portBlockSize TCP ports for one daemon's
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
		if p := testproc.ReadPid(f); p > 0 && !testproc.Alive(p) {
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

// Socket is the daemon's unix socket.
func (d *Daemon) Socket() string { return filepath.Join(d.Dir, "run/libvirt/libvirt-sock") }

// PidFile is the daemon's pid file.
func (d *Daemon) PidFile() string { return filepath.Join(d.Dir, "libvirtd.pid") }

// env is the daemon's environment (and virsh's, which then finds nothing
// of the caller's).
func (d *Daemon) env() []string {
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + d.Dir,
		"XDG_CONFIG_HOME=" + filepath.Join(d.Dir, "config"), "XDG_RUNTIME_DIR=" + filepath.Join(d.Dir, "run"),
		"XDG_CACHE_HOME=" + filepath.Join(d.Dir, "cache"), "XDG_DATA_HOME=" + filepath.Join(d.Dir, "data")}
}

// Command is the command line that runs the daemon in the foreground as
// nobody (for a BMC simulator's startcmd: power on = daemon up). exec'd, so
// SIGTERM reaches libvirtd itself.
func (d *Daemon) Command() []string {
	args := append([]string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "-i"}, d.env()...)
	return append(args, "libvirtd", "-f", filepath.Join(d.Dir, "config/libvirt/libvirtd.conf"), "-p", d.PidFile())
}

// Start runs libvirtd (it daemonizes) and waits until it answers.
func (d *Daemon) Start() {
	d.t.Helper()
	_ = os.Remove(d.Socket())
	args := append(d.Command(), "-d")
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		d.t.Fatalf("testlibvirtd: start %s: %v\n%s%s", d.Name, err, out, d.logTail())
	}
	d.WaitReady(30 * time.Second)
}

// WaitReady waits until the daemon's socket is there and virsh gets an
// answer through it.
func (d *Daemon) WaitReady(within time.Duration) {
	d.t.Helper()
	ready := testproc.Poll(within, 50*time.Millisecond, func() bool {
		if _, err := os.Stat(d.Socket()); err != nil {
			return false
		}
		_, err := d.Virsh("version")
		return err == nil
	})
	if !ready {
		d.t.Fatalf("testlibvirtd: %s not ready within %s (socket %s)%s", d.Name, within, d.Socket(), d.logTail())
	}
}

// Log is the tail of the daemon's log file.
func (d *Daemon) Log() string {
	data, _ := os.ReadFile(filepath.Join(d.Dir, "libvirtd.log"))
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

func (d *Daemon) logTail() string { return "\nlibvirtd.log (end):\n" + d.Log() }

// Pid is the daemon's process id, 0 if none runs.
func (d *Daemon) Pid() int {
	if p := testproc.ReadPid(d.PidFile()); p > 0 && testproc.Alive(p) {
		return p
	}
	return 0
}

// Stop stops the daemon (SIGTERM; SIGKILL if it is still there after 30 s)
// and waits until it has exited. Its guests keep running, as with any
// libvirtd: started again, it finds them.
func (d *Daemon) Stop() {
	d.t.Helper()
	if p := d.Pid(); p != 0 && !testproc.Stop(p, 30*time.Second) {
		d.t.Fatalf("testlibvirtd: %s (pid %d) still alive after SIGTERM and SIGKILL", d.Name, p)
	}
	_ = os.Remove(d.Socket())
}

// Kill kills the daemon (SIGKILL), as a crash would, and waits until it
// is gone.
func (d *Daemon) Kill() {
	d.t.Helper()
	if p := d.Pid(); p != 0 {
		_ = syscall.Kill(p, syscall.SIGKILL)
		if !testproc.WaitDead(p, 30*time.Second) {
			d.t.Fatalf("testlibvirtd: %s (pid %d) still alive 30 s after SIGKILL", d.Name, p)
		}
	}
	_ = os.Remove(d.Socket())
}

// Restart stops the daemon, waits down (0 for none) and starts it again;
// it returns once the new daemon answers.
func (d *Daemon) Restart(down time.Duration) {
	d.t.Helper()
	d.Stop()
	time.Sleep(down)
	d.Start()
}

// Running reports whether the daemon's process is alive.
func (d *Daemon) Running() bool { return d.Pid() != 0 }

// Virsh runs virsh against the daemon and returns its output.
func (d *Daemon) Virsh(args ...string) (string, error) {
	cmd := exec.Command("virsh", append([]string{"-q", "-c", d.URI}, args...)...)
	cmd.Env = d.env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("virsh %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// MustVirsh is Virsh failing the test on an error.
func (d *Daemon) MustVirsh(args ...string) string {
	d.t.Helper()
	out, err := d.Virsh(args...)
	if err != nil {
		d.t.Fatalf("testlibvirtd: %s: %v", d.Name, err)
	}
	return out
}

// Guest describes a qemu guest for DefineAndStartGuest.
type Guest struct {
	Name      string
	MemoryMiB int // default 64
	VCPUs     int // default 1
	// Busy makes the guest burn its vCPU: it boots a 512-byte disk whose
	// boot sector loops forever (jmp $), so its CPU time rises at about
	// one host CPU per vCPU under TCG. Without it the guest halts in
	// SeaBIOS (no boot device): running, and nearly idle.
	Busy bool
	// Transient starts it with virsh create (gone when stopped) instead of
	// define + start.
	Transient bool
}

// DomainXML is the guest's libvirt domain XML.
func (d *Daemon) DomainXML(g Guest) string {
	d.t.Helper()
	if g.MemoryMiB == 0 {
		g.MemoryMiB = 64
	}
	if g.VCPUs == 0 {
		g.VCPUs = 1
	}
	boot, disk := "<boot dev='network'/>", ""
	if g.Busy {
		img := filepath.Join(d.Dir, "data", g.Name+"-loop.img")
		sector := make([]byte, 512)
		copy(sector, []byte{0xFA, 0xEB, 0xFE}) // cli; jmp $
		sector[510], sector[511] = 0x55, 0xAA
		if err := os.WriteFile(img, sector, 0o644); err != nil {
			d.t.Fatal(err)
		}
		_ = os.Chown(img, 65534, 65534)
		boot = "<boot dev='hd'/>"
		disk = fmt.Sprintf("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/><target dev='hda' bus='ide'/></disk>", img)
	}
	return fmt.Sprintf(`<domain type='qemu'><name>%s</name><memory unit='MiB'>%d</memory><vcpu>%d</vcpu>
 <os><type arch='x86_64' machine='pc'>hvm</type>%s</os>
 <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>%s<video><model type='none'/></video>
  <memballoon model='none'/><serial type='pty'/></devices></domain>
`, g.Name, g.MemoryMiB, g.VCPUs, boot, disk)
}

// DefineAndStartGuest defines and starts the guest (or creates it, when
// transient) and returns its UUID once libvirt says it is running.
func (d *Daemon) DefineAndStartGuest(g Guest) string {
	d.t.Helper()
	path := filepath.Join(d.Dir, g.Name+".xml")
	if err := os.WriteFile(path, []byte(d.DomainXML(g)), 0o644); err != nil {
		d.t.Fatal(err)
	}
	if g.Transient {
		d.MustVirsh("create", path)
	} else {
		d.MustVirsh("define", path)
		d.MustVirsh("start", g.Name)
	}
	if st := d.MustVirsh("domstate", g.Name); st != "running" {
		d.t.Fatalf("testlibvirtd: %s: guest %s is %q after start", d.Name, g.Name, st)
	}
	return d.MustVirsh("domuuid", g.Name)
}

// qemuRunDirs are where the session daemon keeps its guests' pid files.
var qemuRunDirs = []string{"run/libvirt/qemu/run", "config/libvirt/qemu/run"}

// QemuPid is the pid of the running qemu process of guest name on this
// daemon (libvirt's pid file), 0 if none runs.
func (d *Daemon) QemuPid(name string) int {
	for _, dir := range qemuRunDirs {
		if p := testproc.ReadPid(filepath.Join(d.Dir, dir, name+".pid")); p > 0 && testproc.Alive(p) && testproc.CmdlineHas(p, "qemu") {
			return p
		}
	}
	return 0
}

// MustQemuPid is QemuPid failing the test when the guest's qemu does not run.
func (d *Daemon) MustQemuPid(name string) int {
	d.t.Helper()
	p := d.QemuPid(name)
	if p == 0 {
		d.t.Fatalf("testlibvirtd: %s: no running qemu for %s", d.Name, name)
	}
	return p
}

// QemuPids are the running qemu processes this daemon started (their pid
// files), by guest name.
func (d *Daemon) QemuPids() map[string]int {
	out := map[string]int{}
	for _, dir := range qemuRunDirs {
		files, _ := filepath.Glob(filepath.Join(d.Dir, dir, "*.pid"))
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".pid")
			if name == "driver" {
				continue
			}
			if p := testproc.ReadPid(f); p > 0 && testproc.Alive(p) && testproc.CmdlineHas(p, "qemu") {
				out[name] = p
			}
		}
	}
	return out
}

// cleanup kills the daemon's guests (stopping a libvirtd leaves them
// running), then the daemon.
func (d *Daemon) cleanup() {
	for _, p := range d.QemuPids() {
		_ = syscall.Kill(p, syscall.SIGKILL)
		testproc.WaitDead(p, 10*time.Second)
	}
	if p := d.Pid(); p != 0 {
		_ = syscall.Kill(p, syscall.SIGKILL)
		testproc.WaitDead(p, 10*time.Second)
	}
}
