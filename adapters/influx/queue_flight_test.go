package influx

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// A bound that drops lines of the batch on its way to InfluxDB holds their
// count back: delivered (acknowledged), they are not dropped; unsent, they
// are. The lines outside the batch are counted at once.
func TestDiskQueueDropsDuringDeliveryCountOnlyUndelivered(t *testing.T) {
	for _, delivered := range []bool{true, false} {
		t.Run(fmt.Sprintf("delivered=%v", delivered), func(t *testing.T) {
			q, drops := openQ(t, t.TempDir(), 1<<30)
			defer q.Close()
			free := int64(1 << 30)
			q.freeSpace = func(string) (int64, error) { return free, nil }
			for i := 0; i < 10; i++ {
				if err := q.Push(lines(fmt.Sprintf("m%d", i), 20)); err != nil {
					t.Fatal(err)
				}
			}
			_ = q.Sync()
			batch, first, err := q.Peek(50)
			if err != nil || len(batch) != 50 {
				t.Fatalf("peek: %d lines, %v", len(batch), err)
			}
			// The disk fills while the batch is on its way: the next
			// sample makes room by dropping every older line, the 50
			// in flight among them.
			free = 0
			q.tick()
			if err := q.Push(lines("new", 20)); err != nil {
				t.Fatal(err)
			}
			if drops[dropDisk] != 150 {
				t.Fatalf("dropped %v while the batch is in flight, want the 150 lines outside it (reason disk)", drops)
			}
			if delivered {
				_ = q.Ack(first + uint64(len(batch)))
			} else {
				q.Unsent()
			}
			want := 150
			if !delivered {
				want = 200
			}
			if drops[dropDisk] != want || len(drops) != 1 {
				t.Errorf("dropped %v after the batch was delivered=%v, want %d reason disk", drops, delivered, want)
			}
			stored := 0
			if delivered {
				stored = len(batch)
			}
			if got := stored + drops[dropDisk] + q.Len(); got != 220 {
				t.Errorf("delivered %d + dropped %d + queued %d = %d, want the 220 pushed", stored, drops[dropDisk], q.Len(), got)
			}
		})
	}
}

// The same on the memory queue.
func TestMemQueueDropsDuringDeliveryCountOnlyUndelivered(t *testing.T) {
	for _, delivered := range []bool{true, false} {
		t.Run(fmt.Sprintf("delivered=%v", delivered), func(t *testing.T) {
			drops := map[string]int{}
			q := &memQueue{max: 10, drop: func(r string, n int) { drops[r] += n }}
			for i := 0; i < 5; i++ {
				_ = q.Push(lines(fmt.Sprintf("a%d", i), 2))
			}
			batch, first, _ := q.Peek(3) // a0 a0 a1
			_ = q.Push(lines("b", 6))    // drops a0 a0 a1 a1 a2 a2
			if drops[dropQueueFull] != 3 {
				t.Fatalf("dropped %v while a0 a0 a1 are in flight, want 3 (a1 a2 a2)", drops)
			}
			if delivered {
				_ = q.Ack(first + uint64(len(batch)))
			} else {
				q.Unsent()
			}
			want := map[bool]int{true: 3, false: 6}[delivered]
			if drops[dropQueueFull] != want {
				t.Errorf("dropped %v after the batch was delivered=%v, want %d", drops, delivered, want)
			}
			if q.Len() != 10 {
				t.Errorf("len %d, want 10 (a3 a4 b)", q.Len())
			}
		})
	}
}

// TestWriterCountsNoDeliveredPointDropped reproduces #16's miscount
// (TestQueueFaultFullDiskInfluxDown, run in parallel: InfluxDB held 744
// points while answered - dropped was 724) deterministically: while a
// batch is on its way to InfluxDB the queue's disk fills and the next
// sample makes room by dropping the oldest segment, the batch's lines
// among them; InfluxDB then stores the batch. Before the fix those lines
// were counted dropped (reason disk) and stored. Every point written is
// now exactly one of stored or dropped.
func TestWriterCountsNoDeliveredPointDropped(t *testing.T) {
	var stored atomic.Int64
	var once sync.Once
	var w *Writer
	var free atomic.Int64
	free.Store(1 << 30)
	fake := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/write" {
			http.NotFound(rw, r)
			return
		}
		n := int64(0)
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			if len(sc.Bytes()) > 0 {
				n++
			}
		}
		once.Do(func() {
			// The disk fills while this batch is in flight: a sample
			// arrives and makes room.
			free.Store(0)
			w.disk.tick()
			if err := w.Write(context.Background(), writerPoints("late", 20)); err != nil {
				t.Error(err)
			}
			free.Store(1 << 30)
			w.disk.tick()
		})
		stored.Add(n)
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer fake.Close()
	var err error
	w, err = NewWriter(WriterConfig{URL: fake.URL, Bucket: "b", Org: "o", BatchSize: 50, FlushInterval: 20 * time.Millisecond,
		QueueDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.disk.mu.Lock()
	w.disk.freeSpace = func(string) (int64, error) { return free.Load(), nil }
	w.disk.mu.Unlock()
	for i := 0; i < 10; i++ {
		if err := w.Write(context.Background(), writerPoints(fmt.Sprintf("m%d", i), 20)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for w.QueueLen() > 0 || stored.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not drained within 30 s: %d queued, %d stored", w.QueueLen(), stored.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	st := w.Stats()
	if st.Queued != 220 {
		t.Fatalf("queued %d, want 220", st.Queued)
	}
	if st.Dropped == 0 {
		t.Fatal("nothing dropped: the full disk did not make the queue drop")
	}
	if got := stored.Load() + st.Dropped + st.Pending; got != st.Queued {
		t.Errorf("stored %d + dropped %d + pending %d = %d, want the %d queued: a point counted dropped was stored",
			stored.Load(), st.Dropped, st.Pending, got, st.Queued)
	}
	if stored.Load() != st.Written {
		t.Errorf("InfluxDB stored %d, the writer counts %d written", stored.Load(), st.Written)
	}
}

func writerPoints(meter string, n int) []point.Point {
	pts := make([]point.Point, n)
	at := time.Now()
	for i := range pts {
		pts[i] = point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": fmt.Sprintf("%s-%d", meter, i)},
			Fields: map[string]any{"kw": 1.5}, Time: at}
	}
	return pts
}
