package influx

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// openQ opens a disk queue whose drops are counted into the returned map.
func openQ(t *testing.T, dir string, maxBytes int64) (*diskQueue, map[string]int) {
	t.Helper()
	drops := map[string]int{}
	q, err := openDiskQueue(dir, maxBytes, slog.New(slog.NewTextHandler(io.Discard, nil)), func(r string, n int) { drops[r] += n })
	if err != nil {
		t.Fatal(err)
	}
	return q, drops
}

func lines(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("power,meter=%s kw=%d %d", prefix, i, i)
	}
	return out
}

func TestDiskQueueOrderAckAndRestart(t *testing.T) {
	dir := t.TempDir()
	q, _ := openQ(t, dir, 1<<20)
	if err := q.Push(lines("a", 10)); err != nil {
		t.Fatal(err)
	}
	// Nothing is deliverable before the group commit made it durable.
	if got, _, _ := q.Peek(4); len(got) != 0 {
		t.Fatalf("peek before sync = %q, want nothing", got)
	}
	if err := q.Sync(); err != nil {
		t.Fatal(err)
	}
	got, first, err := q.Peek(4)
	if err != nil || len(got) != 4 || first != 0 || got[3] != "power,meter=a kw=3 3" {
		t.Fatalf("peek = %v %d %v", got, first, err)
	}
	if err := q.Ack(first + 4); err != nil {
		t.Fatal(err)
	}
	if err := q.Push(lines("b", 5)); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart resumes exactly after the acknowledged lines.
	q2, _ := openQ(t, dir, 1<<20)
	defer q2.Close()
	if q2.Len() != 11 {
		t.Fatalf("len after restart = %d, want 11", q2.Len())
	}
	got, first, _ = q2.Peek(100)
	if first != 4 || got[0] != "power,meter=a kw=4 4" || got[10] != "power,meter=b kw=4 4" {
		t.Errorf("after restart first=%d got[0]=%q got[10]=%q", first, got[0], got[10])
	}
}

func TestDiskQueueCutsTornLine(t *testing.T) {
	dir := t.TempDir()
	q, _ := openQ(t, dir, 1<<20)
	_ = q.Push(lines("a", 3))
	_ = q.Close()
	seg, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, _ := os.OpenFile(seg[0], os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString("power,meter=a kw=") // crash mid-write
	f.Close()
	q2, _ := openQ(t, dir, 1<<20)
	defer q2.Close()
	got, _, _ := q2.Peek(10)
	if len(got) != 3 {
		t.Errorf("after torn write: %d lines, want the 3 complete ones", len(got))
	}
	_ = q2.Push(lines("b", 1))
	_ = q2.Sync()
	got, _, _ = q2.Peek(10)
	if len(got) != 4 || got[3] != "power,meter=b kw=0 0" {
		t.Errorf("append after torn write: %q", got)
	}
}

func TestDiskQueueBoundDropsOldestSegments(t *testing.T) {
	q, drops := openQ(t, t.TempDir(), 1<<20) // segments of 64 KiB
	defer q.Close()
	total := 0
	for i := 0; i < 100; i++ {
		if err := q.Push(lines(fmt.Sprintf("m%03d", i), 1000)); err != nil { // ~30 KB a push
			t.Fatal(err)
		}
		total += 1000
	}
	_ = q.Sync()
	dropped := drops[dropQueueFull]
	if dropped == 0 {
		t.Fatal("no drops past a 1 MiB bound after ~3 MB")
	}
	if q.Len() != total-dropped {
		t.Errorf("len %d != pushed %d - dropped %d", q.Len(), total, dropped)
	}
	var size int64
	for _, s := range q.segs {
		size += s.size
	}
	if size > 1<<20 {
		t.Errorf("queue holds %d bytes, bound 1 MiB", size)
	}
	got, first, _ := q.Peek(1)
	// The newest data survives, the oldest went.
	if first == 0 || got[0] == "power,meter=m000 kw=0 0" {
		t.Errorf("head after drops = %d %q", first, got)
	}
	// An Ack for a batch that was dropped meanwhile removes nothing more.
	before := q.Len()
	_ = q.Ack(first - 1)
	if q.Len() != before {
		t.Errorf("stale ack removed lines: %d -> %d", before, q.Len())
	}
}

func TestMemQueueAckAfterDrop(t *testing.T) {
	drops := map[string]int{}
	q := &memQueue{max: 5, drop: func(r string, n int) { drops[r] += n }}
	for i := 0; i < 5; i++ {
		_ = q.Push(lines(fmt.Sprintf("a%d", i), 1))
	}
	batch, first, _ := q.Peek(3)
	// a0 and a1 go, but they are on their way to InfluxDB: not counted
	// dropped until the batch turns out undelivered (#16).
	if _ = q.Push(lines("b", 2)); drops[dropQueueFull] != 0 {
		t.Fatalf("dropped %d of the batch in flight, want 0 until it is known undelivered", drops[dropQueueFull])
	}
	_ = q.Ack(first + uint64(len(batch)))
	if drops[dropQueueFull] != 0 {
		t.Errorf("dropped %d after the batch holding them was delivered, want 0", drops[dropQueueFull])
	}
	got, _, _ := q.Peek(10)
	if len(got) != 4 || got[0] != "power,meter=a3 kw=0 0" {
		t.Errorf("after ack = %q", got)
	}
}

// A backlog larger than the memory cache drains from disk in order, each
// line exactly once, across segment boundaries.
func TestDiskQueueDrainsBacklogBeyondCache(t *testing.T) {
	q, _ := openQ(t, t.TempDir(), 64<<20)
	defer q.Close()
	q.cacheMax, q.segMax = 1000, 32<<10 // small cache, many segments
	var want []string
	for i := 0; i < 10; i++ {
		l := lines(fmt.Sprintf("b%d", i), 700)
		want = append(want, l...)
		if err := q.Push(l); err != nil {
			t.Fatal(err)
		}
	}
	_ = q.Sync()
	if len(q.segs) < 5 {
		t.Fatalf("only %d segments; the test wants several", len(q.segs))
	}
	var got []string
	for q.Len() > 0 {
		batch, first, err := q.Peek(333)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, batch...)
		if err := q.Ack(first + uint64(len(batch))); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("drained %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}
