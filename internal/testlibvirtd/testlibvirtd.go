// Package testlibvirtd starts real, unprivileged libvirt session daemons
// (libvirtd 9, qemu driver) for tests, each with its own directory, socket
// and host UUID, so that two of them are two hosts to libvirt (live
// migration between them works), and defines qemu (TCG) guests on them.
// The recipe is shared/deps.md section 7: the daemon runs as nobody through
// setpriv, with stdio_handler "file" so no virtlogd is needed.
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Daemon is one running session libvirtd.
type Daemon struct {
	// N is the daemon's number (its host_uuid ends in N).
	N int
	// Dir is the daemon's home: config/, run/, cache/, data/, libvirtd.log.
	Dir string
	// URI is the connection URI (qemu+unix:///session?socket=...).
	URI string

	t      testing.TB
	mu     sync.Mutex
	guests []string
}

// Start starts daemon number n (1..9999) in a new temporary directory and
// stops it, with every guest it started, when the test ends.
func Start(t testing.TB, n int) *Daemon {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real libvirtd and qemu; skipped with -short")
	}
	for _, bin := range []string{"libvirtd", "qemu-system-x86_64", "setpriv", "virsh"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + bin); err2 != nil {
				t.Fatalf("testlibvirtd: %s not found (scripts/install-deps.sh installs libvirt-daemon-system and qemu-system-x86): %v", bin, err)
			}
		}
	}
	// Short: the socket path must fit sun_path (108 bytes).
	dir, err := os.MkdirTemp("", fmt.Sprintf("lvd%d-", n))
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{N: n, Dir: dir, t: t}
	d.URI = "qemu+unix:///session?socket=" + d.socket()
	for _, sub := range []string{"config/libvirt", "run", "cache", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, "config/libvirt", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("libvirtd.conf", fmt.Sprintf("host_uuid = \"7e57a000-0000-4000-8000-%012d\"\nlog_outputs = \"1:file:%s\"\n", n, filepath.Join(dir, "libvirtd.log")))
	write("qemu.conf", "stdio_handler = \"file\"\n")
	if out, err := exec.Command("chown", "-R", "nobody:nogroup", dir).CombinedOutput(); err != nil {
		t.Fatalf("testlibvirtd: chown: %v %s", err, out)
	}
	t.Cleanup(d.cleanup)
	d.start()
	return d
}

func (d *Daemon) socket() string  { return filepath.Join(d.Dir, "run/libvirt/libvirt-sock") }
func (d *Daemon) pidFile() string { return filepath.Join(d.Dir, "libvirtd.pid") }

// env is the daemon's environment (and virsh's, which then finds nothing
// of the caller's).
func (d *Daemon) env() []string {
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + d.Dir,
		"XDG_CONFIG_HOME=" + filepath.Join(d.Dir, "config"), "XDG_RUNTIME_DIR=" + filepath.Join(d.Dir, "run"),
		"XDG_CACHE_HOME=" + filepath.Join(d.Dir, "cache"), "XDG_DATA_HOME=" + filepath.Join(d.Dir, "data")}
}

// start runs libvirtd (it daemonizes) and waits for its socket.
func (d *Daemon) start() {
	d.t.Helper()
	_ = os.Remove(d.socket())
	args := append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "-i"}, d.env()...)
	args = append(args, "libvirtd", "-d", "-f", filepath.Join(d.Dir, "config/libvirt/libvirtd.conf"), "-p", d.pidFile())
	if out, err := exec.Command("setpriv", args...).CombinedOutput(); err != nil {
		d.t.Fatalf("testlibvirtd: start libvirtd %d: %v\n%s%s", d.N, err, out, d.logTail())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(d.socket()); err == nil {
			if _, err := d.Virsh("version"); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("testlibvirtd: libvirtd %d not ready within 30 s%s", d.N, d.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *Daemon) logTail() string {
	data, _ := os.ReadFile(filepath.Join(d.Dir, "libvirtd.log"))
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return "\nlibvirtd.log (end):\n" + string(data)
}

// pid is the daemon's process id, 0 if none runs.
func (d *Daemon) pid() int {
	data, err := os.ReadFile(d.pidFile())
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// Stop stops the daemon (SIGTERM) and waits until it has exited. Its
// guests keep running, as with any libvirtd: Start'ed again, it finds them.
func (d *Daemon) Stop() {
	d.t.Helper()
	pid := d.pid()
	if pid == 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the daemon (SIGKILL), as a crash would.
func (d *Daemon) Kill() {
	if pid := d.pid(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for syscall.Kill(pid, 0) == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Restart stops the daemon, waits down (0 for none) and starts it again;
// it returns once the new daemon answers.
func (d *Daemon) Restart(down time.Duration) {
	d.t.Helper()
	d.Stop()
	time.Sleep(down)
	d.start()
}

// Running reports whether the daemon's process is alive.
func (d *Daemon) Running() bool { return d.pid() != 0 }

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
		d.t.Fatalf("testlibvirtd %d: %v", d.N, err)
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
	d.mu.Lock()
	d.guests = append(d.guests, g.Name)
	d.mu.Unlock()
	if st := d.MustVirsh("domstate", g.Name); st != "running" {
		d.t.Fatalf("testlibvirtd %d: guest %s is %q after start", d.N, g.Name, st)
	}
	return d.MustVirsh("domuuid", g.Name)
}

// QemuPid is the pid of the guest's qemu process (from libvirt's pid file).
func (d *Daemon) QemuPid(name string) int {
	d.t.Helper()
	matches, _ := filepath.Glob(filepath.Join(d.Dir, "config/libvirt/qemu/run", name+".pid"))
	if len(matches) == 0 {
		matches, _ = filepath.Glob(filepath.Join(d.Dir, "run/libvirt/qemu/run", name+".pid"))
	}
	if len(matches) == 0 {
		d.t.Fatalf("testlibvirtd %d: no qemu pid file for %s", d.N, name)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		d.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// cleanup destroys the guests it started (stopping a libvirtd leaves them
// running), stops the daemon and removes its directory.
func (d *Daemon) cleanup() {
	if d.pid() == 0 && len(d.guests) > 0 {
		d.start()
	}
	out, _ := d.Virsh("list", "--name")
	for _, name := range strings.Fields(out) {
		_, _ = d.Virsh("destroy", name)
	}
	d.Stop()
	// A guest whose daemon was killed may still run: its qemu goes too.
	for _, name := range d.guests {
		for _, f := range []string{"config/libvirt/qemu/run", "run/libvirt/qemu/run"} {
			data, err := os.ReadFile(filepath.Join(d.Dir, f, name+".pid"))
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = os.RemoveAll(d.Dir)
}
