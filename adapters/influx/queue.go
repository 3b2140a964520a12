package influx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Reasons a point is dropped (the reason label of
// setsuden_points_dropped_total).
const (
	dropQueueFull = "queue_full" // the configured bound (queue_max_bytes, or the memory queue's points)
	dropDisk      = "disk"       // the queue's disk is full or failing and memory is at its bound too
	dropRejected  = "rejected"   // InfluxDB refused the data itself
	// dropUnanswered: a bound dropped the lines after a write of them got
	// no answer, so InfluxDB may hold them. Counted apart
	// (setsuden_points_unanswered_dropped_total), never as lost.
	dropUnanswered = "unanswered"
)

// queue holds line-protocol lines until InfluxDB has accepted them. Lines
// carry sequence numbers so an Ack after a concurrent drop at the head
// removes only lines that are still there. A Push is one sample's lines (a
// Write call): past a bound whole Pushes are dropped, never part of one.
type queue interface {
	// Push appends one batch of lines. Drops go to the drop callback.
	Push(lines []string) error
	// Peek returns up to n deliverable lines from the head and the
	// sequence number of the first (a disk queue delivers only lines
	// already durable in its files).
	Peek(n int) (lines []string, first uint64, err error)
	// Ack removes lines with sequence numbers below upTo: the batch of
	// the last Peek was delivered.
	Ack(upTo uint64) error
	// Unsent says the batch of the last Peek was not delivered: lines a
	// bound dropped from it meanwhile are counted now (until then they
	// are held back, so that a delivered point is never counted dropped).
	// noAnswer says the write got no answer and may have been stored: its
	// lines, dropped later, count as dropUnanswered.
	Unsent(noAnswer bool)
	Len() int
	Sync() error
	Close() error
}

// dropFunc counts points dropped for a reason.
type dropFunc func(reason string, n int)

// memQueue is the in-memory queue, bounded in lines; it drops whole oldest
// batches.
type memQueue struct {
	mu      sync.Mutex
	lines   []string
	batches []int  // sizes of the batches in lines, oldest first
	head    uint64 // sequence number of lines[0]
	max     int
	drop    dropFunc
	fl      flight // the batch of the last Peek
}

func (q *memQueue) Push(lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(lines) > q.max {
		q.drop(dropQueueFull, len(lines))
		return nil
	}
	q.lines = append(q.lines, lines...)
	q.batches = append(q.batches, len(lines))
	over, dropped := len(q.lines)-q.max, 0
	for dropped < over {
		dropped += q.batches[0]
		q.batches = q.batches[1:]
	}
	if dropped == 0 {
		return nil
	}
	// Drop the oldest without copying the rest (see diskQueue.cache).
	clear(q.lines[:dropped])
	q.lines = q.lines[dropped:]
	q.fl.drop(dropQueueFull, q.head, q.head+uint64(dropped), q.drop)
	q.head += uint64(dropped)
	return nil
}

func (q *memQueue) Peek(n int) ([]string, uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.lines))
	q.fl.begin(q.head, q.head+uint64(n), q.drop)
	return append([]string(nil), q.lines[:n]...), q.head, nil
}

func (q *memQueue) Ack(upTo uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fl.settle(upTo, q.drop)
	if upTo <= q.head {
		return nil
	}
	k := min(int(upTo-q.head), len(q.lines))
	q.lines = q.lines[k:]
	q.head += uint64(k)
	// Batch sizes follow: an ack may end inside a batch.
	for k > 0 && len(q.batches) > 0 {
		if q.batches[0] <= k {
			k -= q.batches[0]
			q.batches = q.batches[1:]
			continue
		}
		q.batches[0] -= k
		k = 0
	}
	return nil
}

func (q *memQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lines)
}

func (q *memQueue) Unsent(noAnswer bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if noAnswer {
		q.fl.noAnswer()
	}
	q.fl.settle(0, q.drop)
}

func (q *memQueue) Sync() error { return nil }

func (q *memQueue) Close() error {
	q.Unsent(false)
	return nil
}

// diskQueue is a write-ahead queue of segment files, one line of line
// protocol per point. A Push is written to the active segment with one
// write(2) before it returns, so a point once accepted survives a SIGKILL;
// Sync (the group commit, every few milliseconds) fsyncs it, and only
// fsynced lines are handed to Peek, so nothing reaches InfluxDB before it
// is durable and the head (what InfluxDB acknowledged) never points past
// durable data. Bounded in bytes on disk; past the bound whole oldest
// segments are dropped (a segment holds whole Pushes only).
//
// When the disk refuses a write (full, failing) the Push waits in memory,
// bounded, and the disk is retried; the queue resumes by itself.
//
// Layout: DIR/NNNNNNNNNNNNNNNNNNNN.seg (segment named by the sequence number
// of its first line), DIR/head (sequence number of the first unacked line,
// replaced by rename), DIR/unanswered (the flight's unanswered mark, written
// only after a write without an answer) and DIR/lock (flock: one process per
// directory).
type diskQueue struct {
	mu       sync.Mutex
	dir      string
	log      *slog.Logger
	drop     dropFunc
	maxBytes int64
	segMax   int64 // a segment's size at most (less when the filesystem leaves less room: segLimit)
	lock     *os.File
	segs     []*segment // oldest first; the last is the active one while w != nil
	head     uint64     // first unacknowledged sequence number
	tail     uint64     // next sequence number to assign
	synced   uint64     // lines below synced are fsynced
	size     int64      // bytes in the segment files
	w        *os.File   // the active segment
	dirty    bool       // written since the last fsync
	// written is signalled when a write makes a clean queue dirty: the
	// group commit waits on it instead of waking on a ticker.
	written chan struct{}
	buf     []byte

	// pending holds Pushes the disk refused, oldest first, until a retry
	// writes them; bounded by pendingMax bytes.
	pending      [][]string
	pendingBytes int64
	pendingMax   int64
	diskErr      error // the last write error; nil once the disk takes writes again
	lastRetry    time.Time
	headErr      error // the last failed head write (delivery goes on regardless)

	// diskLimit is what the filesystem leaves the queue (its files plus
	// the free space), refreshed by checkSpace; the bound is the smaller of
	// it and maxBytes.
	diskLimit int64
	freeSpace func(dir string) (int64, error)
	// crash, when set (tests), is called at each step where a crash would
	// leave the directory in a state of its own.
	crash func(step string)

	// cache holds the newest lines, seq cacheFirst onwards, so that in the
	// steady state (InfluxDB up) a batch is served from memory and the disk
	// is only written. After a restart or a long outage the older lines
	// are read back from the segments.
	cache      []string
	cacheFirst uint64
	cacheMax   int
	// fl is the batch of the last Peek: a bound dropping its lines
	// meanwhile counts them only if it is not delivered.
	fl flight
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

// minSegBytes and maxSegBytes bound a segment's size: small enough that
// delivered data is freed promptly and the bound is honoured to 1/16 of
// it, large enough that a backlog is not thousands of files.
const (
	minSegBytes = 4 << 10
	maxSegBytes = 4 << 20
)

func openDiskQueue(dir string, maxBytes int64, log *slog.Logger, drop dropFunc) (*diskQueue, error) {
	if log == nil {
		log = slog.Default()
	}
	if drop == nil {
		drop = func(string, int) {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("queue dir %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	q := &diskQueue{dir: dir, log: log, drop: drop, maxBytes: maxBytes, lock: lock,
		segMax: min(max(maxBytes/16, minSegBytes), maxSegBytes), cacheMax: 200_000,
		pendingMax: min(maxBytes, 32<<20), freeSpace: freeBytes, diskLimit: maxBytes, written: make(chan struct{}, 1)}
	if err := q.load(); err != nil {
		unlockDir(lock)
		return nil, err
	}
	q.checkSpace(true)
	return q, nil
}

// load reads the segments and the head, repairing what a crash can leave:
// a torn last line, an unreadable head, a head past the data.
func (q *diskQueue) load() error {
	names, err := filepath.Glob(filepath.Join(q.dir, "*.seg"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".seg"), 10, 64)
		if err != nil {
			return fmt.Errorf("queue %s: unexpected file %s (only NNN.seg, head and lock belong there)", q.dir, name)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("queue segment %s: %w", name, err)
		}
		// A crash (or a disk that filled mid-write) can leave a torn last
		// line: cut it; its Push was never reported written.
		if cut := bytes.LastIndexByte(data, '\n') + 1; cut != len(data) {
			q.log.Warn("queue segment ends in a torn line; cut", "segment", name, "bytes_cut", len(data)-cut)
			if err := os.Truncate(name, int64(cut)); err != nil {
				return fmt.Errorf("queue segment %s: cut torn line: %w", name, err)
			}
			data = data[:cut]
		}
		if n := len(q.segs); n > 0 {
			if prev := q.segs[n-1]; prev.first+uint64(prev.lines) > first {
				// A write the disk refused half-way (and that could not
				// be taken back) left whole lines of a batch that was
				// held in memory and written again in the next segment:
				// cut the copies.
				if first < prev.first {
					return fmt.Errorf("queue segment %s starts before %s: the directory was written by something else", name, prev.path)
				}
				if err := q.cutLines(prev, int(first-prev.first)); err != nil {
					return err
				}
			}
		}
		q.segs = append(q.segs, &segment{first: first, lines: bytes.Count(data, []byte{'\n'}), size: int64(len(data)), path: name})
		q.size += int64(len(data))
	}
	headFile := filepath.Join(q.dir, "head")
	h, haveHead := uint64(0), false
	if b, err := os.ReadFile(headFile); err == nil {
		v, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil {
			// Resending from the oldest segment loses nothing (InfluxDB
			// overwrites a point it already has).
			q.log.Warn("queue head file unreadable; delivering again from the oldest segment", "file", headFile, "content", string(b))
		} else {
			h, haveHead = v, true
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		q.log.Warn("queue head file unreadable; delivering again from the oldest segment", "file", headFile, "err", err)
	}
	if len(q.segs) == 0 {
		// Nothing queued: keep counting from the head.
		q.head, q.tail = h, h
	} else {
		first, last := q.segs[0], q.segs[len(q.segs)-1]
		q.tail = last.first + uint64(last.lines)
		q.head = first.first
		if haveHead {
			switch {
			case h > q.tail:
				q.log.Error("queue head is past the data on disk (the data after it was lost, e.g. in a power cut); clamped to the end of the data",
					"head", h, "end_of_data", q.tail, "queue_dir", q.dir)
				q.head = q.tail
			case h > q.head:
				q.head = h
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(q.dir, "unanswered")); err == nil {
		if v, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); perr == nil && v > q.head {
			q.fl.unanswered = min(v, q.tail)
		}
	}
	q.synced = q.tail // what is in the files now is what a restart has
	q.cacheFirst = q.tail
	q.dropAcked()
	return nil
}

// cutLines truncates a loaded segment to its first n lines.
func (q *diskQueue) cutLines(s *segment, n int) error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("queue segment %s: %w", s.path, err)
	}
	off := 0
	for i := 0; i < n; i++ {
		off += bytes.IndexByte(data[off:], '\n') + 1
	}
	q.log.Warn("queue segment overlaps the next one (a write torn by a full disk); the copies are cut",
		"segment", s.path, "lines_kept", n, "lines_cut", s.lines-n)
	if err := os.Truncate(s.path, int64(off)); err != nil {
		return fmt.Errorf("queue segment %s: cut overlap: %w", s.path, err)
	}
	q.size -= s.size - int64(off)
	s.size, s.lines = int64(off), n
	return nil
}

func (q *diskQueue) segPath(first uint64) string {
	return filepath.Join(q.dir, fmt.Sprintf("%020d.seg", first))
}

func (q *diskQueue) Push(lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	size := int64(0)
	for _, l := range lines {
		if l == "" || strings.ContainsRune(l, '\n') {
			return fmt.Errorf("queue: line %q is empty or spans lines", l)
		}
		size += int64(len(l)) + 1
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) > 0 && time.Since(q.lastRetry) >= time.Second {
		q.retryLocked()
	}
	if len(q.pending) == 0 {
		err := q.appendLocked(lines, size)
		if err == nil {
			return nil
		}
		q.diskFailed(err)
	}
	q.holdLocked(lines, size)
	return nil
}

// appendLocked writes one batch to the active segment with one write.
func (q *diskQueue) appendLocked(lines []string, size int64) error {
	if size > q.limit() {
		q.drop(q.limitReason(), len(lines))
		return nil
	}
	q.makeRoom(size)
	if q.w == nil || q.segs[len(q.segs)-1].size >= q.segLimit() {
		if err := q.rotate(); err != nil {
			return err
		}
	}
	s := q.segs[len(q.segs)-1]
	q.buf = q.buf[:0]
	for _, l := range lines {
		q.buf = append(q.buf, l...)
		q.buf = append(q.buf, '\n')
	}
	if n, err := q.w.Write(q.buf); err != nil {
		if n > 0 {
			// Take the torn part back so the segment stays whole lines
			// of whole batches; should that fail too, seal the segment
			// (a restart cuts the torn line).
			if terr := q.w.Truncate(s.size); terr != nil {
				q.closeActive()
			}
		}
		return fmt.Errorf("queue append to %s: %w", s.path, err)
	}
	s.size += size
	q.size += size
	s.lines += len(lines)
	q.tail += uint64(len(lines))
	if !q.dirty {
		q.dirty = true
		select {
		case q.written <- struct{}{}:
		default:
		}
	}
	q.crashPoint("appended")
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
	return nil
}

// diskFailed records a write error (logged once until the disk recovers)
// and refreshes what the filesystem has left.
func (q *diskQueue) diskFailed(err error) {
	if q.diskErr == nil {
		q.log.Error("queue disk refused a write; points wait in memory and the disk is retried every second",
			"queue_dir", q.dir, "err", err, "memory_bound_bytes", q.pendingMax)
	}
	q.diskErr = err
	q.lastRetry = time.Now()
	q.checkSpace(false)
}

// holdLocked keeps a batch the disk refused in memory, dropping whole
// oldest batches past pendingMax.
func (q *diskQueue) holdLocked(lines []string, size int64) {
	q.pending = append(q.pending, lines)
	q.pendingBytes += size
	for q.pendingBytes > q.pendingMax && len(q.pending) > 0 {
		old := q.pending[0]
		q.pending[0] = nil
		q.pending = q.pending[1:]
		for _, l := range old {
			q.pendingBytes -= int64(len(l)) + 1
		}
		q.drop(dropDisk, len(old))
	}
}

// retryLocked writes the batches held in memory to the disk, oldest first,
// until one fails.
func (q *diskQueue) retryLocked() {
	q.lastRetry = time.Now()
	if q.diskErr != nil {
		q.checkSpace(false)
	}
	for len(q.pending) > 0 {
		b := q.pending[0]
		size := int64(0)
		for _, l := range b {
			size += int64(len(l)) + 1
		}
		if err := q.appendLocked(b, size); err != nil {
			q.diskErr = err
			return
		}
		q.pending[0] = nil
		q.pending = q.pending[1:]
		q.pendingBytes -= size
	}
	if q.diskErr != nil {
		q.log.Info("queue disk takes writes again; the points held in memory are queued", "queue_dir", q.dir)
		q.diskErr = nil
	}
}

// segLimit is the size at which the active segment is sealed: 1/16 of the
// bound in force, so that dropping whole oldest segments stays close to it.
func (q *diskQueue) segLimit() int64 {
	return min(q.segMax, max(q.limit()/16, minSegBytes))
}

// limit is the bound on the queue's files: queue_max_bytes, or less when
// the filesystem has less room.
func (q *diskQueue) limit() int64 { return min(q.maxBytes, q.diskLimit) }

func (q *diskQueue) limitReason() string {
	if q.diskLimit < q.maxBytes {
		return dropDisk
	}
	return dropQueueFull
}

func (q *diskQueue) bytes() int64 { return q.size }

// makeRoom drops whole oldest segments until size more bytes fit the bound.
func (q *diskQueue) makeRoom(size int64) {
	if q.size+size <= q.limit() {
		return
	}
	for q.size+size > q.limit() && len(q.segs) > 0 {
		s := q.segs[0]
		if len(q.segs) == 1 && q.w != nil {
			q.closeActive() // the only segment: seal it to drop it
		}
		if end := s.first + uint64(s.lines); q.head < end {
			q.fl.drop(q.limitReason(), max(q.head, s.first), end, q.drop)
			q.head = end
		}
		q.removeOldest()
	}
	q.synced = max(q.synced, q.head)
	if q.head > q.cacheFirst {
		k := min(int(q.head-q.cacheFirst), len(q.cache))
		clear(q.cache[:k])
		q.cache = q.cache[k:]
		q.cacheFirst += uint64(k)
	}
	q.writeHead()
}

// rotate seals the active segment (fsynced, so every line before the new
// one is durable) and starts a new one.
func (q *diskQueue) rotate() error {
	if q.w != nil {
		q.closeActive()
	}
	s := &segment{first: q.tail, path: q.segPath(q.tail)}
	if n := len(q.segs); n > 0 && q.segs[n-1].path == s.path {
		// The last segment has no lines yet (a restart, or a seal after a
		// failed write): append to it.
		s = q.segs[n-1]
		q.segs = q.segs[:n-1]
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("queue segment: %w", err)
	}
	q.crashPoint("rotate-created")
	if err := syncDir(q.dir); err != nil {
		q.log.Warn("queue: fsync of the directory failed", "queue_dir", q.dir, "err", err)
	}
	q.segs = append(q.segs, s)
	q.w = f
	return nil
}

// closeActive fsyncs and closes the active segment; later Pushes start a
// new one.
func (q *diskQueue) closeActive() {
	if q.w == nil {
		return
	}
	if q.dirty {
		if err := q.w.Sync(); err != nil {
			q.log.Error("queue fsync failed", "queue_dir", q.dir, "err", err)
		}
		q.dirty = false
	}
	_ = q.w.Close()
	q.w = nil
	q.synced = q.tail
}

func (q *diskQueue) removeOldest() {
	s := q.segs[0]
	q.size -= s.size
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.log.Error("queue: remove segment failed", "segment", s.path, "err", err)
	}
	q.segs[0] = nil
	q.segs = q.segs[1:]
	q.crashPoint("segment-removed")
}

func (q *diskQueue) Peek(n int) ([]string, uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	upTo := q.synced
	if q.head >= upTo {
		q.fl.begin(q.head, q.head, q.drop)
		return nil, q.head, nil
	}
	n = min(n, int(upTo-q.head))
	if q.head >= q.cacheFirst {
		from := int(q.head - q.cacheFirst)
		k := min(n, len(q.cache)-from)
		q.fl.begin(q.head, q.head+uint64(k), q.drop)
		return append([]string(nil), q.cache[from:from+k]...), q.head, nil
	}
	out, err := q.readLocked(n)
	q.fl.begin(q.head, q.head+uint64(len(out)), q.drop)
	return out, q.head, err
}

// readLocked reads up to n lines from the head out of the segment files.
func (q *diskQueue) readLocked(n int) ([]string, error) {
	var out []string
	for _, s := range q.segs {
		end := min(s.first+uint64(s.lines), q.synced)
		if end <= q.head || s.lines == 0 {
			continue
		}
		f, err := os.Open(s.path)
		if err != nil {
			return nil, fmt.Errorf("queue read: %w", err)
		}
		seq, off := s.first, int64(0)
		if q.cursor.path == s.path && q.cursor.seq <= q.head && q.cursor.seq >= s.first {
			seq, off = q.cursor.seq, q.cursor.off
		}
		br := bufio.NewReaderSize(io.NewSectionReader(f, off, s.size-off), 64<<10)
		for ; seq < end && len(out) < n; seq++ {
			line, err := br.ReadString('\n')
			if err != nil {
				f.Close()
				if errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("queue segment %s ends early at line %d", s.path, seq-s.first)
				}
				return nil, fmt.Errorf("queue read %s: %w", s.path, err)
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
	return out, nil
}

func (q *diskQueue) Ack(upTo uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fl.settle(upTo, q.drop)
	if upTo <= q.head {
		return nil
	}
	q.head = min(upTo, q.synced)
	if q.head > q.cacheFirst {
		k := min(int(q.head-q.cacheFirst), len(q.cache))
		q.cache = q.cache[k:]
		q.cacheFirst += uint64(k)
	}
	q.crashPoint("acked")
	q.writeHead()
	q.dropAcked()
	return nil
}

// dropAcked removes segments whose every line is acknowledged, the active
// one too once everything is delivered, so delivered data is freed at once.
func (q *diskQueue) dropAcked() {
	for len(q.segs) > 0 {
		s := q.segs[0]
		if s.first+uint64(s.lines) > q.head {
			return
		}
		if len(q.segs) == 1 {
			// The active segment, all delivered: freed once it holds a
			// quarter of a segment (1/64 of the bound), so delivered data
			// never takes more, without a new file on every flush
			// (creating one cost ~8% of the collector's CPU at 500 meters).
			// A disk that refuses writes gets it back at once.
			if q.w != nil && s.size < q.segLimit()/4 && q.diskErr == nil && len(q.pending) == 0 {
				return
			}
			if s.size == 0 {
				return
			}
			q.closeActive()
		}
		q.removeOldest()
	}
}

// writeHead records the head (write a temporary file, rename over). It is
// not fsynced: a head lost in a power cut only sends an acknowledged batch
// again, which InfluxDB stores once. A failure is logged and reported by
// Degraded; delivery goes on.
func (q *diskQueue) writeHead() {
	tmp := filepath.Join(q.dir, "head.tmp")
	err := os.WriteFile(tmp, []byte(strconv.FormatUint(q.head, 10)+"\n"), 0o644)
	q.crashPoint("head-tmp-written")
	if err == nil {
		err = os.Rename(tmp, filepath.Join(q.dir, "head"))
	}
	if err != nil && q.headErr == nil {
		q.log.Error("queue head not saved (delivery goes on; a restart would send some points again)", "queue_dir", q.dir, "err", err)
	}
	if err == nil && q.headErr != nil {
		q.log.Info("queue head saved again", "queue_dir", q.dir)
	}
	q.headErr = err
}

func (q *diskQueue) crashPoint(step string) {
	if q.crash != nil {
		q.crash(step)
	}
}

// Len is the points not yet delivered, those held in memory included.
func (q *diskQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := int(q.tail - q.head)
	for _, b := range q.pending {
		n += len(b)
	}
	return n
}

// Sync is the group commit: it fsyncs what was written since the last one
// and makes it deliverable. Pushes go on during the fsync.
func (q *diskQueue) Sync() error {
	q.mu.Lock()
	if len(q.pending) > 0 && time.Since(q.lastRetry) >= time.Second {
		q.retryLocked()
	}
	f, target := q.w, q.tail
	if f == nil || !q.dirty {
		// Nothing written since the last fsync began (a sealed segment
		// was fsynced by closeActive): only that fsync may advance synced.
		q.mu.Unlock()
		return nil
	}
	q.dirty = false
	q.mu.Unlock()
	err := f.Sync()
	q.mu.Lock()
	defer q.mu.Unlock()
	if f != q.w {
		return nil // sealed meanwhile; closeActive fsynced it
	}
	if err != nil {
		// The lines stay deliverable (they are in the page cache): holding
		// them back would stop delivery for a disk that may never recover.
		q.log.Error("queue fsync failed; a power cut could lose the last points", "queue_dir", q.dir, "err", err)
	}
	q.synced = max(q.synced, target)
	return err
}

// checkSpace refreshes diskLimit from the filesystem's free space; at
// start it warns when the bound does not fit.
func (q *diskQueue) checkSpace(atStart bool) {
	free, err := q.freeSpace(q.dir)
	if err != nil {
		return
	}
	used := q.bytes()
	limit := used + free - free/50 // leave 2% of the free space to the rest of the system
	was := q.diskLimit
	q.diskLimit = limit
	switch {
	case limit < q.maxBytes && (atStart || was >= q.maxBytes):
		q.log.Warn("the queue's filesystem has less room than influx.queue_max_bytes; past what fits the oldest points are dropped (counted as reason=disk)",
			"queue_dir", q.dir, "queue_max_bytes", q.maxBytes, "room_bytes", limit)
	case limit >= q.maxBytes && was < q.maxBytes && !atStart:
		q.log.Info("the queue's filesystem has room for influx.queue_max_bytes again", "queue_dir", q.dir)
	}
}

// Status is the disk queue's state for health reporting.
type queueStatus struct {
	Bytes, Limit int64
	Held         int // points held in memory while the disk refuses writes
	DiskErr      error
	HeadErr      error
}

func (q *diskQueue) status() queueStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	held := 0
	for _, b := range q.pending {
		held += len(b)
	}
	return queueStatus{Bytes: q.bytes(), Limit: q.limit(), Held: held, DiskErr: q.diskErr, HeadErr: q.headErr}
}

// tick runs the queue's periodic work between group commits: retrying the
// disk and re-reading the free space.
func (q *diskQueue) tick() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) > 0 {
		q.retryLocked()
	}
	q.checkSpace(false)
}

// giveUpHeld tries the disk once more for the points held in memory and
// drops (counts) what it still refuses: the process is stopping.
func (q *diskQueue) giveUpHeld() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return
	}
	q.retryLocked()
	held := 0
	for _, b := range q.pending {
		held += len(b)
	}
	if held == 0 {
		return
	}
	q.pending, q.pendingBytes = nil, 0
	q.drop(dropDisk, held)
	q.log.Error("stopping with points the queue's disk did not take: they are lost", "points", held, "queue_dir", q.dir, "err", q.diskErr)
}

func (q *diskQueue) Unsent(noAnswer bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if noAnswer && q.fl.noAnswer() {
		q.writeUnanswered()
	}
	q.fl.settle(0, q.drop)
}

// writeUnanswered records the unanswered mark (see flight), so that a
// restart still counts those lines apart if a bound drops them. Written
// only after a write that got no answer; a failure is logged and costs
// only that distinction (the lines would then be counted dropped).
func (q *diskQueue) writeUnanswered() {
	tmp := filepath.Join(q.dir, "unanswered.tmp")
	err := os.WriteFile(tmp, []byte(strconv.FormatUint(q.fl.unanswered, 10)+"\n"), 0o644)
	if err == nil {
		err = os.Rename(tmp, filepath.Join(q.dir, "unanswered"))
	}
	if err != nil {
		q.log.Warn("queue: unanswered mark not saved", "queue_dir", q.dir, "err", err)
	}
}

func (q *diskQueue) Close() error {
	q.giveUpHeld()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fl.settle(0, q.drop)
	q.closeActive()
	if q.lock != nil {
		unlockDir(q.lock)
		q.lock = nil
	}
	return nil
}
