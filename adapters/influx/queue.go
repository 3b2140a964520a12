package influx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// queue holds line-protocol lines until InfluxDB has accepted them. Lines
// carry sequence numbers so an Ack after a concurrent drop at the head
// removes only lines that are still there.
type queue interface {
	// Push appends lines; it returns how many old lines were dropped to
	// stay within the bound.
	Push(lines []string) (dropped int, err error)
	// Peek returns up to n lines from the head and the sequence number of
	// the first.
	Peek(n int) (lines []string, first uint64, err error)
	// Ack removes lines with sequence numbers below upTo.
	Ack(upTo uint64) error
	Len() int
	Sync() error
	Close() error
}

// memQueue is the in-memory queue, bounded in lines.
type memQueue struct {
	mu    sync.Mutex
	lines []string
	head  uint64 // sequence number of lines[0]
	max   int
}

func (q *memQueue) Push(lines []string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.lines = append(q.lines, lines...)
	over := len(q.lines) - q.max
	if over <= 0 {
		return 0, nil
	}
	// Drop the oldest without copying the rest (see diskQueue.Push).
	clear(q.lines[:over])
	q.lines = q.lines[over:]
	q.head += uint64(over)
	return over, nil
}

func (q *memQueue) Peek(n int) ([]string, uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.lines))
	return append([]string(nil), q.lines[:n]...), q.head, nil
}

func (q *memQueue) Ack(upTo uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if upTo <= q.head {
		return nil
	}
	k := min(int(upTo-q.head), len(q.lines))
	q.lines = q.lines[k:]
	q.head += uint64(k)
	return nil
}

func (q *memQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lines)
}

func (q *memQueue) Sync() error  { return nil }
func (q *memQueue) Close() error { return nil }

// diskQueue is a write-ahead queue of segment files, one line of line
// protocol per point, so that neither an InfluxDB outage nor a collector
// restart loses points: every point is on disk before it is sent, and the
// head position is persisted after every acknowledged batch. Bounded in
// bytes; past the bound whole oldest segments are dropped.
//
// Layout: DIR/NNNNNNNNNNNNNNNNNNNN.seg (segment named by the sequence number
// of its first line) and DIR/head (sequence number of the first unacked
// line).
type diskQueue struct {
	mu       sync.Mutex
	dir      string
	maxBytes int64
	segMax   int64
	segs     []*segment // oldest first; the last is being appended
	head     uint64     // first unacknowledged sequence number
	tail     uint64     // next sequence number to assign
	w        *os.File
	bw       *bufio.Writer

	// cache holds the newest lines, seq cacheFirst onwards, so that in the
	// steady state (InfluxDB up) a batch is served from memory and the disk
	// is only written. After a restart or a long outage the older lines
	// are read back from the segments.
	cache      []string
	cacheFirst uint64
	cacheMax   int
	// cursor is where the last disk read stopped: the next line to read is
	// seq cursor.seq at byte cursor.off of segment cursor.path. Draining a
	// backlog then reads each segment once instead of rescanning it.
	cursor struct {
		seq  uint64
		off  int64
		path string
	}
}

type segment struct {
	first uint64 // sequence number of its first line
	lines int
	size  int64
	path  string
}

func openDiskQueue(dir string, maxBytes int64) (*diskQueue, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("queue dir %s: %w", dir, err)
	}
	q := &diskQueue{dir: dir, maxBytes: maxBytes, segMax: min(max(maxBytes/16, 64<<10), 16<<20), cacheMax: 200_000}
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for i, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".seg"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("queue %s: unexpected file %s", dir, name)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("queue segment %s: %w", name, err)
		}
		// A crash can leave a torn last line: cut it, it was never acked
		// as written by Push's caller either.
		if cut := bytes.LastIndexByte(data, '\n') + 1; cut != len(data) {
			if i != len(names)-1 {
				return nil, fmt.Errorf("queue segment %s: torn line in a sealed segment", name)
			}
			if err := os.Truncate(name, int64(cut)); err != nil {
				return nil, err
			}
			data = data[:cut]
		}
		q.segs = append(q.segs, &segment{first: first, lines: bytes.Count(data, []byte{'\n'}), size: int64(len(data)), path: name})
	}
	if n := len(q.segs); n > 0 {
		last := q.segs[n-1]
		q.tail = last.first + uint64(last.lines)
		q.head = q.segs[0].first
	}
	if b, err := os.ReadFile(filepath.Join(dir, "head")); err == nil {
		h, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("queue head file: %w", err)
		}
		q.head = max(q.head, min(h, q.tail))
	}
	if len(q.segs) == 0 {
		q.head = q.tail
	}
	q.cacheFirst = q.tail
	return q, q.dropAcked()
}

func (q *diskQueue) segPath(first uint64) string {
	return filepath.Join(q.dir, fmt.Sprintf("%020d.seg", first))
}

func (q *diskQueue) Push(lines []string) (int, error) {
	for _, l := range lines {
		if l == "" || strings.ContainsRune(l, '\n') {
			return 0, fmt.Errorf("queue: line %q is empty or spans lines", l)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, l := range lines {
		if q.w == nil || q.segs[len(q.segs)-1].size >= q.segMax {
			if err := q.rotate(); err != nil {
				return 0, err
			}
		}
		s := q.segs[len(q.segs)-1]
		n, err := q.bw.WriteString(l)
		if err == nil {
			err = q.bw.WriteByte('\n')
		}
		if err != nil {
			return 0, fmt.Errorf("queue append: %w", err)
		}
		s.size += int64(n + 1)
		s.lines++
		q.tail++
	}
	q.cache = append(q.cache, lines...)
	if over := len(q.cache) - q.cacheMax; over > 0 {
		// Drop from the front without copying the rest: append moves
		// only the live lines when it next grows the array. Copying the
		// whole cache on every push cost ~0.6 ms a poll once an outage
		// had filled it (BenchmarkWriterWriteDuringOutage).
		clear(q.cache[:over])
		q.cache = q.cache[over:]
		q.cacheFirst += uint64(over)
	}
	return q.enforceBound()
}

// rotate seals the current segment and starts a new one.
func (q *diskQueue) rotate() error {
	if q.w != nil {
		if err := q.bw.Flush(); err != nil {
			return err
		}
		if err := q.w.Close(); err != nil {
			return err
		}
	}
	s := &segment{first: q.tail, path: q.segPath(q.tail)}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("queue segment: %w", err)
	}
	if len(q.segs) > 0 && q.segs[len(q.segs)-1].path == s.path {
		// Reopening the last segment after a restart: keep appending.
		s = q.segs[len(q.segs)-1]
	} else {
		q.segs = append(q.segs, s)
	}
	q.w, q.bw = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

func (q *diskQueue) enforceBound() (int, error) {
	var total int64
	for _, s := range q.segs {
		total += s.size
	}
	dropped := 0
	for total > q.maxBytes && len(q.segs) > 1 {
		s := q.segs[0]
		if end := s.first + uint64(s.lines); q.head < end {
			dropped += int(end - max(q.head, s.first))
		}
		total -= s.size
		if err := os.Remove(s.path); err != nil {
			return dropped, fmt.Errorf("queue drop: %w", err)
		}
		q.segs = q.segs[1:]
		q.head = max(q.head, q.segs[0].first)
	}
	if dropped > 0 {
		return dropped, q.writeHead()
	}
	return 0, nil
}

func (q *diskQueue) Peek(n int) ([]string, uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head >= q.cacheFirst {
		from := int(q.head - q.cacheFirst)
		k := min(n, len(q.cache)-from)
		return append([]string(nil), q.cache[from:from+k]...), q.head, nil
	}
	if q.bw != nil {
		if err := q.bw.Flush(); err != nil {
			return nil, 0, err
		}
	}
	var out []string
	for _, s := range q.segs {
		end := s.first + uint64(s.lines)
		if end <= q.head || s.lines == 0 {
			continue
		}
		f, err := os.Open(s.path)
		if err != nil {
			return nil, 0, fmt.Errorf("queue read: %w", err)
		}
		seq, off := s.first, int64(0)
		if q.cursor.path == s.path && q.cursor.seq <= q.head && q.cursor.seq >= s.first {
			seq, off = q.cursor.seq, q.cursor.off
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("queue read: %w", err)
		}
		br := bufio.NewReaderSize(f, 64<<10)
		for ; seq < end && len(out) < n; seq++ {
			line, err := br.ReadString('\n')
			if err != nil {
				f.Close()
				if errors.Is(err, io.EOF) {
					return nil, 0, fmt.Errorf("queue segment %s ends early at line %d", s.path, seq-s.first)
				}
				return nil, 0, err
			}
			off += int64(len(line))
			if seq >= q.head {
				out = append(out, line[:len(line)-1])
			}
		}
		f.Close()
		q.cursor.seq, q.cursor.off, q.cursor.path = seq, off, s.path
		if len(out) >= n {
			break
		}
	}
	return out, q.head, nil
}

func (q *diskQueue) Ack(upTo uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if upTo <= q.head {
		return nil
	}
	q.head = min(upTo, q.tail)
	if q.head > q.cacheFirst {
		k := min(int(q.head-q.cacheFirst), len(q.cache))
		q.cache = q.cache[k:]
		q.cacheFirst += uint64(k)
	}
	if err := q.writeHead(); err != nil {
		return err
	}
	return q.dropAcked()
}

// dropAcked removes sealed segments whose every line is acknowledged.
func (q *diskQueue) dropAcked() error {
	for len(q.segs) > 1 && q.segs[0].first+uint64(q.segs[0].lines) <= q.head {
		if err := os.Remove(q.segs[0].path); err != nil {
			return fmt.Errorf("queue: remove acked segment: %w", err)
		}
		q.segs = q.segs[1:]
	}
	return nil
}

func (q *diskQueue) writeHead() error {
	tmp := filepath.Join(q.dir, "head.tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(q.head, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("queue head: %w", err)
	}
	return os.Rename(tmp, filepath.Join(q.dir, "head"))
}

func (q *diskQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.tail - q.head)
}

// Sync makes every pushed line durable.
func (q *diskQueue) Sync() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.w == nil {
		return nil
	}
	if err := q.bw.Flush(); err != nil {
		return err
	}
	return q.w.Sync()
}

func (q *diskQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.w == nil {
		return nil
	}
	err := errors.Join(q.bw.Flush(), q.w.Sync(), q.w.Close())
	q.w, q.bw = nil, nil
	return err
}
