package influx

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// snapshot copies the queue directory as a crash at this instant leaves
// it (a SIGKILL keeps every completed write; the lock goes with the
// process).
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "lock" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// crashState is what the queue had at the crash instant.
type crashState struct {
	step           string
	dir            string
	head, tail     uint64 // in memory at the crash
	synced         uint64
	prevHead       uint64 // the head before the last Ack (what may be sent again)
	activePath     string
	activeSyncSize int64 // the active segment's size at its last fsync
}

// TestDiskQueueCrashAtEveryStep crashes the queue at each step of its
// work (after a write before its fsync, after a send before the head
// write, between the head's temporary file and its rename, after a new
// segment's creation, after each segment removal), reopens what the crash
// left and checks: every line pushed is there, in order; no line not yet
// acknowledged is skipped; at most the last acknowledged batch is sent
// again. A power cut (the writes since the last fsync gone) leaves a head
// that needs no clamping, because only fsynced lines are ever sent.
func TestDiskQueueCrashAtEveryStep(t *testing.T) {
	steps := []string{"appended", "acked", "head-tmp-written", "rotate-created", "segment-removed"}
	for _, step := range steps {
		for nth := 1; nth <= 5; nth += 2 {
			t.Run(fmt.Sprintf("%s#%d", step, nth), func(t *testing.T) {
				dir := t.TempDir()
				q, _ := openQ(t, dir, 1<<20)
				q.segMax = 1 << 10 // many rotations and removals
				var all []string
				var crash *crashState
				seen := 0
				prevHead := uint64(0)
				syncSize := map[string]int64{}
				q.crash = func(s string) {
					if s != step || crash != nil {
						return
					}
					if seen++; seen < nth {
						return
					}
					c := &crashState{step: s, dir: snapshot(t, dir), head: q.head, tail: q.tail, synced: q.synced, prevHead: prevHead}
					if q.w != nil {
						c.activePath = q.segs[len(q.segs)-1].path
						c.activeSyncSize = syncSize[c.activePath]
					}
					crash = c
				}
				for i := 0; i < 200 && crash == nil; i++ {
					b := lines(fmt.Sprintf("b%03d", i), 1+i%4)
					all = append(all, b...)
					if err := q.Push(b); err != nil {
						t.Fatal(err)
					}
					if i%3 == 0 {
						_ = q.Sync()
						if q.w != nil {
							s := q.segs[len(q.segs)-1]
							syncSize[s.path] = s.size
						}
					}
					if i%5 == 4 {
						batch, first, _ := q.Peek(7)
						prevHead = q.head
						_ = q.Ack(first + uint64(len(batch)))
					}
				}
				_ = q.Close()
				if crash == nil {
					t.Fatalf("step %s never reached %d times", step, nth)
				}
				killed := crash.dir
				crash.dir = snapshot(t, killed) // checkReopen writes to its copy
				checkReopen(t, crash, all, false)
				if crash.activePath != "" {
					// The power cut: what was not fsynced is gone.
					crash.dir = snapshot(t, killed)
					p := filepath.Join(crash.dir, filepath.Base(crash.activePath))
					if err := os.Truncate(p, crash.activeSyncSize); err != nil {
						t.Fatal(err)
					}
					checkReopen(t, crash, all, true)
				}
			})
		}
	}
}

func checkReopen(t *testing.T, c *crashState, all []string, powerCut bool) {
	t.Helper()
	var logBuf bytes.Buffer
	q, err := openDiskQueue(c.dir, 1<<20, slog.New(slog.NewTextHandler(&logBuf, nil)), nil)
	if err != nil {
		t.Fatalf("reopen after a crash at %s: %v", c.step, err)
	}
	defer q.Close()
	if strings.Contains(logBuf.String(), "past the data") {
		t.Errorf("crash at %s (power cut %v): head past the data: %s", c.step, powerCut, logBuf.String())
	}
	wantTail := c.tail
	if powerCut {
		wantTail = q.tail // the lines after the last fsync are gone...
		if q.tail < c.synced {
			t.Errorf("crash at %s: power cut lost fsynced lines: tail %d < synced %d", c.step, q.tail, c.synced)
		}
	}
	if q.tail != wantTail {
		t.Errorf("crash at %s: reopened tail %d, want %d (every returned Push is in the file)", c.step, q.tail, wantTail)
	}
	if q.head > c.head {
		t.Errorf("crash at %s: reopened head %d is past the acknowledged %d: lines skipped", c.step, q.head, c.head)
	}
	if q.head < c.prevHead {
		t.Errorf("crash at %s: reopened head %d before %d: more than the last batch sent again", c.step, q.head, c.prevHead)
	}
	_ = q.Sync()
	got, first, err := q.Peek(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if first != q.head || uint64(len(got)) != q.tail-q.head {
		t.Fatalf("crash at %s: peek %d lines from %d, queue says %d..%d", c.step, len(got), first, q.head, q.tail)
	}
	for i, l := range got {
		if want := all[first+uint64(i)]; l != want {
			t.Fatalf("crash at %s: line %d = %q, want %q", c.step, first+uint64(i), l, want)
		}
	}
	// And it goes on: a new Push gets the next sequence number.
	if err := q.Push([]string{"after,crash=1 v=1 1"}); err != nil {
		t.Fatal(err)
	}
	_ = q.Sync()
	if got, _, _ := q.Peek(1 << 20); len(got) == 0 || got[len(got)-1] != "after,crash=1 v=1 1" {
		t.Errorf("crash at %s: push after reopen not delivered", c.step)
	}
}

// A head beyond the data (e.g. its data lost in a power cut on a disk that
// lied about fsync) is detected, logged and clamped; an unreadable head
// delivers again from the oldest segment instead of failing the start.
func TestDiskQueueHeadPastDataClamped(t *testing.T) {
	dir := t.TempDir()
	q, _ := openQ(t, dir, 1<<20)
	_ = q.Push(lines("a", 10))
	_ = q.Close()
	if err := os.WriteFile(filepath.Join(dir, "head"), []byte("500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	q2, err := openDiskQueue(dir, 1<<20, slog.New(slog.NewTextHandler(&logBuf, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if q2.head != 10 || q2.tail != 10 || !strings.Contains(logBuf.String(), "past the data") {
		t.Errorf("head %d tail %d, log %q: want both 10 and a log line", q2.head, q2.tail, logBuf.String())
	}
	_ = q2.Push(lines("b", 2))
	_ = q2.Sync()
	if got, first, _ := q2.Peek(10); len(got) != 2 || first != 10 || got[0] != "power,meter=b kw=0 0" {
		t.Errorf("after clamp: %q from %d, want the 2 new lines from 10", got, first)
	}
	_ = q2.Close()

	if err := os.WriteFile(filepath.Join(dir, "head"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	logBuf.Reset()
	q3, err := openDiskQueue(dir, 1<<20, slog.New(slog.NewTextHandler(&logBuf, nil)), nil)
	if err != nil {
		t.Fatalf("an unreadable head failed the start: %v", err)
	}
	defer q3.Close()
	if q3.Len() != 2 || !strings.Contains(logBuf.String(), "head file unreadable") {
		t.Errorf("len %d log %q: want the 2 unacked lines from the oldest segment", q3.Len(), logBuf.String())
	}
}

func TestDiskQueueLockRefusesSecondOpen(t *testing.T) {
	dir := t.TempDir()
	q, _ := openQ(t, dir, 1<<20)
	_, err := openDiskQueue(dir, 1<<20, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "in use by another setsuden process") ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second open: %v", err)
	}
	_ = q.Close()
	q2, err := openDiskQueue(dir, 1<<20, nil, nil)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	_ = q2.Close()
}

// Any bound the validator accepts is honoured: the files never exceed it,
// only whole batches go, and each is counted.
func TestDiskQueueSmallBoundHonoured(t *testing.T) {
	for _, bound := range []int64{64 << 10, 100 << 10, 200 << 10} {
		t.Run(fmt.Sprint(bound), func(t *testing.T) {
			dir := t.TempDir()
			q, drops := openQ(t, dir, bound)
			defer q.Close()
			pushed := 0
			for i := 0; i < 2000; i++ {
				b := lines(fmt.Sprintf("m%04d", i), 7) // ~200 bytes a batch
				if err := q.Push(b); err != nil {
					t.Fatal(err)
				}
				pushed += len(b)
				if q.size > bound {
					t.Fatalf("queue holds %d bytes, bound %d", q.size, bound)
				}
				if drops[dropQueueFull]%7 != 0 {
					t.Fatalf("dropped %d lines: a batch was split", drops[dropQueueFull])
				}
			}
			var onDisk int64
			segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
			for _, s := range segs {
				fi, _ := os.Stat(s)
				onDisk += fi.Size()
			}
			if onDisk > bound {
				t.Errorf("segment files hold %d bytes, bound %d", onDisk, bound)
			}
			if onDisk < bound*3/4 {
				t.Errorf("segment files hold %d bytes of a %d bound: it drops more than a segment's worth early", onDisk, bound)
			}
			if drops[dropQueueFull] == 0 || q.Len() != pushed-drops[dropQueueFull] {
				t.Errorf("len %d, pushed %d, dropped %d", q.Len(), pushed, drops[dropQueueFull])
			}
		})
	}
}

// tmpfs mounts a small tmpfs (root; the test skips otherwise).
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// A full disk (a real tmpfs, its free space hidden from the queue so the
// writes themselves fail with ENOSPC): the queue keeps the batches in
// memory up to its bound, counts what it drops there (reason disk), and
// once delivery frees the disk it writes them, in order, by itself.
func TestDiskQueueFullDiskHoldsAndResumes(t *testing.T) {
	dir := filepath.Join(tmpfs(t, 64<<10), "q")
	var mu sync.Mutex
	drops := map[string]int{}
	q, err := openDiskQueue(dir, 1<<30, slog.New(slog.NewTextHandler(os.Stderr, nil)), func(r string, n int) {
		mu.Lock()
		drops[r] += n
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.freeSpace = func(string) (int64, error) { return 1 << 40, nil } // hide the real free space
	q.checkSpace(false)
	q.pendingMax = 20 << 10
	var all []string
	for i := 0; i < 600; i++ { // ~120 KB into 64 KiB
		b := lines(fmt.Sprintf("m%04d", i), 7)
		all = append(all, b...)
		if err := q.Push(b); err != nil {
			t.Fatal(err)
		}
	}
	st := q.status()
	if st.DiskErr == nil || st.Held == 0 {
		t.Fatalf("no disk error on a full tmpfs: %+v", st)
	}
	if drops[dropDisk] == 0 || drops[dropDisk]%7 != 0 {
		t.Errorf("dropped %d for reason disk: want whole batches past the memory bound", drops[dropDisk])
	}
	if q.Len()+drops[dropDisk] != len(all) {
		t.Errorf("len %d + dropped %d != pushed %d", q.Len(), drops[dropDisk], len(all))
	}
	// Delivery: everything on disk is acknowledged, which frees it; the
	// next retry writes the held batches.
	var got []string
	for round := 0; round < 50 && q.Len() > 0; round++ {
		_ = q.Sync()
		batch, first, err := q.Peek(1000)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, batch...)
		_ = q.Ack(first + uint64(len(batch)))
		q.lastRetry = q.lastRetry.Add(-2 * 1e9) // as if a second passed
		q.tick()
	}
	if q.Len() != 0 || q.status().DiskErr != nil {
		t.Fatalf("after delivery: len %d, disk error %v", q.Len(), q.status().DiskErr)
	}
	// What was delivered is what was pushed less the dropped batches, in order.
	if len(got)+drops[dropDisk] != len(all) {
		t.Errorf("delivered %d + dropped %d != pushed %d", len(got), drops[dropDisk], len(all))
	}
	j := 0
	for _, l := range got {
		for j < len(all) && all[j] != l {
			j++
		}
		if j == len(all) {
			t.Fatalf("delivered line %q out of order or unknown", l)
		}
	}
}

// With the real free space the queue sees a filesystem smaller than its
// bound and drops the oldest to fit (reason disk) instead of failing writes.
func TestDiskQueueBoundShrinksToTheDisk(t *testing.T) {
	dir := filepath.Join(tmpfs(t, 64<<10), "q")
	q, drops := openQ(t, dir, 1<<30)
	defer q.Close()
	if q.limit() > 64<<10 {
		t.Fatalf("limit %d on a 64 KiB disk", q.limit())
	}
	for i := 0; i < 600; i++ {
		if err := q.Push(lines(fmt.Sprintf("m%04d", i), 7)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			q.tick()
		}
	}
	if drops[dropDisk] == 0 || drops[dropQueueFull] != 0 {
		t.Errorf("drops %v: want reason disk only", drops)
	}
	if q.Len()+drops[dropDisk] != 600*7 {
		t.Errorf("len %d + dropped %d != 4200", q.Len(), drops[dropDisk])
	}
}

// A write torn by a full disk that could not be taken back leaves whole
// lines of a batch that was then written again into the next segment: the
// start cuts the copies instead of refusing to start.
func TestDiskQueueCutsOverlapAfterTornWrite(t *testing.T) {
	dir := t.TempDir()
	a := strings.Join(lines("a", 5), "\n") + "\n"
	b := strings.Join(lines("a", 5)[3:], "\n") + "\nnext,x=1 v=1 1\n"
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", 0)), []byte(a), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", 3)), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	q, _ := openQ(t, dir, 1<<20)
	defer q.Close()
	got, first, _ := q.Peek(100)
	want := append(lines("a", 5), "next,x=1 v=1 1")
	if first != 0 || len(got) != len(want) {
		t.Fatalf("got %q from %d, want %q", got, first, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// A head that cannot be written (here head.tmp is a directory) is
// reported, and delivery goes on: acks advance, segments are freed.
func TestDiskQueueFailedHeadWriteDoesNotBlockDelivery(t *testing.T) {
	dir := t.TempDir()
	q, _ := openQ(t, dir, 1<<20)
	defer q.Close()
	if err := os.Mkdir(filepath.Join(dir, "head.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_ = q.Push(lines(fmt.Sprintf("r%d", i), 4))
		_ = q.Sync()
		batch, first, err := q.Peek(100)
		if err != nil || len(batch) != 4 || first != uint64(4*i) {
			t.Fatalf("round %d: peek %d lines from %d (%v), want 4 from %d", i, len(batch), first, err, 4*i)
		}
		if err := q.Ack(first + uint64(len(batch))); err != nil {
			t.Fatalf("ack with a failing head write: %v", err)
		}
	}
	if q.Len() != 0 || q.status().HeadErr == nil {
		t.Errorf("len %d, head error %v: want 0 and the error reported", q.Len(), q.status().HeadErr)
	}
	_ = os.Remove(filepath.Join(dir, "head.tmp"))
	_ = q.Push(lines("s", 1))
	_ = q.Sync()
	b, first, _ := q.Peek(10)
	_ = q.Ack(first + uint64(len(b)))
	if q.status().HeadErr != nil {
		t.Errorf("head error stays after the disk recovered: %v", q.status().HeadErr)
	}
}
