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
// Its hosts are internal/testlibvirtd daemons (each with its own block of
// incoming-migration ports); this package adds the migration cases' guest,
// skip rules and report.
package testmigrate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testlibvirtd"
	"github.com/setsuden/setsuden/internal/testproc"
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
	if err := testlibvirtd.Missing(); err != nil {
		t.Skipf("SKIP (real libvirtd + qemu): %v", err)
	}
}

// Host is one session libvirtd (internal/testlibvirtd) with the migration
// cases' helpers.
type Host struct {
	*testlibvirtd.Daemon
	t testing.TB
}

// NewDir makes the short directory the hosts of one test live in; it is
// removed at cleanup, after the hosts in it stopped.
func NewDir(t testing.TB) string {
	t.Helper()
	return testlibvirtd.NewDir(t, "smig")
}

// NewHost prepares host n's directory under dir without starting it; at
// cleanup its guests and daemon are killed.
func NewHost(t testing.TB, dir, name string, n int) *Host {
	t.Helper()
	return &Host{Daemon: testlibvirtd.New(t, dir, name, n), t: t}
}

// StartHost prepares and starts host n.
func StartHost(t testing.TB, dir, name string, n int) *Host {
	t.Helper()
	h := NewHost(t, dir, name, n)
	h.Start()
	return h
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

// WaitFilled waits until the FillKernel guest name on h has touched its
// memory (its qemu's resident set reaches memMiB-8 MiB): a guest migrated
// before its kernel ran has only zero pages and moves in a second, however
// low the bandwidth. Under load the boot can take seconds.
func (h *Host) WaitFilled(name string, memMiB int) {
	h.t.Helper()
	filled := testproc.Poll(60*time.Second, 50*time.Millisecond, func() bool {
		p := h.QemuPid(name)
		return p != 0 && rssMiB(p) >= int64(memMiB-8)
	})
	if !filled {
		h.t.Fatalf("guest %s on %s: memory not filled after 60 s (rss %d MiB)", name, h.Name, rssMiB(h.QemuPid(name)))
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
