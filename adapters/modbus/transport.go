package modbus

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	gmodbus "github.com/goburrow/modbus"
)

// link is one reused connection to a device. read performs one request under
// ctx, finishing by deadline (zero: only the link's timeout bounds it), and
// returns the data bytes of the answer; on any error the connection is
// dropped and the next read reconnects. Callers serialise reads.
type link interface {
	read(ctx context.Context, deadline time.Time, unit byte, r Request) ([]byte, error)
	// reset drops the connection; the next read reconnects.
	reset() error
	// endSample is called after each sample: a connection opened outside
	// the connection budget's kept ones is closed.
	endSample()
	// Close releases the link for good.
	Close() error
}

// streamLink speaks Modbus over a TCP connection, framed either as Modbus
// TCP (MBAP header) or as RTU frames with CRC (RTU over TCP, as serial
// gateways and terminal servers do). It uses goburrow's client and packagers;
// the transporter is ours because goburrow v0.1.0 has no RTU-over-TCP and its
// TCP transporter can neither be interrupted by a context nor drops a
// connection after an error.
type streamLink struct {
	t       *streamTransporter
	client  gmodbus.Client
	setUnit func(byte)
}

func newStreamLink(address string, timeout time.Duration, rtu bool, budget *ConnBudget) *streamLink {
	t := &streamTransporter{address: address, timeout: timeout, readFrame: readMBAPFrame, budget: budget}
	var p gmodbus.Packager
	var setUnit func(byte)
	if rtu {
		h := gmodbus.NewRTUClientHandler("")
		p, setUnit = h, func(u byte) { h.SlaveId = u }
		t.readFrame = readRTUFrame
	} else {
		h := gmodbus.NewTCPClientHandler("")
		p, setUnit = h, func(u byte) { h.SlaveId = u }
	}
	return &streamLink{t: t, client: gmodbus.NewClient2(p, t), setUnit: setUnit}
}

func (l *streamLink) read(ctx context.Context, deadline time.Time, unit byte, r Request) ([]byte, error) {
	l.setUnit(unit)
	l.t.ctx, l.t.deadline = ctx, deadline
	defer func() { l.t.ctx = nil }()
	data, err := readTable(l.client, r)
	var ex *ExceptionError
	switch {
	case errors.As(err, &ex):
		return nil, err // a proper answer: the connection is fine
	case err != nil:
		// Drop the connection whatever else went wrong: a late answer to
		// this request must not be taken for the answer to the next one.
		l.t.close()
		return nil, l.t.explain(ctx, err)
	}
	return data, nil
}

func (l *streamLink) reset() error { return l.t.close() }

func (l *streamLink) endSample() {
	if l.t.slot == slotShort {
		_ = l.t.close()
	}
}

func (l *streamLink) Close() error { return l.t.close() }

// readTable issues the read function of the request's table.
func readTable(c gmodbus.Client, r Request) ([]byte, error) {
	var data []byte
	var err error
	switch r.Table {
	case TableCoil:
		data, err = c.ReadCoils(r.Address, r.Quantity)
	case TableDiscrete:
		data, err = c.ReadDiscreteInputs(r.Address, r.Quantity)
	case TableHolding:
		data, err = c.ReadHoldingRegisters(r.Address, r.Quantity)
	case TableInput:
		data, err = c.ReadInputRegisters(r.Address, r.Quantity)
	default:
		return nil, fmt.Errorf("invalid table %q", r.Table)
	}
	var me *gmodbus.ModbusError
	if errors.As(err, &me) {
		// goburrow takes any answer with another function code for an
		// exception; only function|0x80 is one.
		if want := functionCode(r.Table); me.FunctionCode != want|0x80 {
			return nil, fmt.Errorf("malformed frame: answer with function code 0x%02x to a request with 0x%02x", me.FunctionCode, want)
		}
		return nil, &ExceptionError{Function: me.FunctionCode &^ 0x80, Code: me.ExceptionCode}
	}
	return data, err
}

// functionCode is the read function of a table.
func functionCode(t Table) byte {
	switch t {
	case TableCoil:
		return gmodbus.FuncCodeReadCoils
	case TableDiscrete:
		return gmodbus.FuncCodeReadDiscreteInputs
	case TableHolding:
		return gmodbus.FuncCodeReadHoldingRegisters
	}
	return gmodbus.FuncCodeReadInputRegisters
}

// streamTransporter is a goburrow Transporter over one reused net.Conn.
// Every exchange has a deadline of now+timeout, or the sample's deadline if
// that is earlier, and cancelling the context aborts a blocked read at once.
type streamTransporter struct {
	address string
	timeout time.Duration
	// budget, when set, decides whether conn is kept between samples;
	// slot is what conn holds of it.
	budget    *ConnBudget
	slot      connSlot
	readFrame func(br *bufio.Reader, req []byte) ([]byte, error)

	// ctx and deadline are those of the read in progress, set by
	// streamLink around each call into goburrow, whose Transporter.Send
	// takes neither.
	ctx      context.Context
	deadline time.Time
	conn     net.Conn
	// watch aborts conn's exchanges when its context ends. It is
	// registered once per connection and context, not per exchange: a
	// collector polls a meter under the same long-lived context, and
	// registering with it (and removing again) on every poll cost
	// measurable CPU at thousands of polls a second (bench/collector).
	// close drops it with the connection.
	watch *abortWatch
	// br buffers conn's answers: a whole frame usually arrives in one
	// segment, so the header and the rest cost one read, not two.
	br     *bufio.Reader
	reused bool // conn carried an earlier exchange
	// ctxDeadline is set when the last exchange's deadline was the
	// context's, not now+timeout.
	ctxDeadline bool
}

// Send implements goburrow's Transporter.
func (t *streamTransporter) Send(req []byte) ([]byte, error) {
	ctx := t.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	resp, err := t.exchange(ctx, req)
	if err != nil && t.reused && stale(err) && ctx.Err() == nil {
		// The device (or a NAT box) closed the idle connection since the
		// last sample: reconnect once, without counting it as a retry.
		t.close()
		resp, err = t.exchange(ctx, req)
	}
	return resp, err
}

func (t *streamTransporter) exchange(ctx context.Context, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.conn == nil {
		slot, err := t.budget.take(ctx, t.deadline)
		if err != nil {
			return nil, err
		}
		d := net.Dialer{Timeout: t.timeout, Deadline: t.deadline}
		conn, err := d.DialContext(ctx, "tcp", t.address)
		if err != nil {
			t.budget.give(slot)
			return nil, err
		}
		t.conn, t.reused, t.slot = conn, false, slot
		if t.br == nil {
			t.br = bufio.NewReaderSize(conn, 512)
		} else {
			t.br.Reset(conn)
		}
	} else {
		t.reused = true
	}
	conn := t.conn
	deadline := time.Now().Add(t.timeout)
	t.ctxDeadline = false
	if d := t.deadline; !d.IsZero() && d.Before(deadline) {
		deadline, t.ctxDeadline = d, true
	}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, t.ctxDeadline = d, true
	}
	if t.watch == nil || t.watch.ctx != ctx {
		// A fired watch of another context must finish before this
		// exchange sets its deadline, or it could spoil it.
		t.unwatch()
		t.watch = watchAbort(ctx, conn)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// ctx may have ended between the check above and SetDeadline, its
	// watch setting a past deadline that SetDeadline then replaced.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	// Let the other meters woken for the same instant send their requests
	// before this one reads: its answer has then usually arrived, and the
	// read costs one system call instead of a failed one, a park and a
	// wake-up by the network poller.
	runtime.Gosched()
	return t.readFrame(t.br, req)
}

// abortWatch sets a past deadline on conn when its context ends, which
// unblocks a read in progress at once.
type abortWatch struct {
	ctx  context.Context
	stop func() bool
	done chan struct{} // closed when the abort has run
}

func watchAbort(ctx context.Context, conn net.Conn) *abortWatch {
	w := &abortWatch{ctx: ctx, done: make(chan struct{})}
	w.stop = context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		close(w.done)
	})
	return w
}

// unwatch stops the current watch; if it already fired, it waits for it to
// finish.
func (t *streamTransporter) unwatch() {
	if t.watch == nil {
		return
	}
	if !t.watch.stop() {
		<-t.watch.done
	}
	t.watch = nil
}

func (t *streamTransporter) close() error {
	t.unwatch()
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	t.budget.give(t.slot)
	t.slot = slotNone
	return err
}

// explain turns transport errors into ones that say what happened:
// a timeout (the device's, or the context's deadline) or a cancellation.
func (t *streamTransporter) explain(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	switch {
	case errors.Is(ctxErr, context.Canceled):
		return fmt.Errorf("cancelled: %w (%w)", ctxErr, err)
	case errors.Is(err, os.ErrDeadlineExceeded) && (t.ctxDeadline || ctxErr != nil):
		return fmt.Errorf("timeout: sample deadline passed waiting for an answer: %w (%w)", err, context.DeadlineExceeded)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("timeout: no answer within %v: %w", t.timeout, err)
	case ctxErr != nil:
		return fmt.Errorf("timeout: sample deadline passed: %w", err)
	}
	return err
}

// stale reports errors that mean the peer closed a connection we reused.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// readMBAPFrame reads one Modbus TCP frame: the 7-byte MBAP header, then as
// many bytes as its length field says (unit id included), at most 254. An
// exception (function code with bit 7 set) must be exactly function and
// exception code: goburrow would take a shorter one for exception 0 and
// ignore bytes after the code, and an exception counts as a proper answer
// (the connection is kept, codes 1-3 are not retried).
func readMBAPFrame(br *bufio.Reader, _ []byte) ([]byte, error) {
	// Peek, not ReadFull into a local array: the frame is parsed in the
	// reader's buffer and copied once (bench/collector: one allocation a
	// request instead of two).
	hdr, err := br.Peek(7)
	if err != nil {
		return nil, partial(len(hdr), err)
	}
	if proto := binary.BigEndian.Uint16(hdr[2:4]); proto != 0 {
		return nil, fmt.Errorf("malformed frame: protocol id %d in MBAP header (want 0)", proto)
	}
	length := int(binary.BigEndian.Uint16(hdr[4:6]))
	if length < 2 || length > 254 {
		return nil, fmt.Errorf("malformed frame: length %d in MBAP header (want 2-254)", length)
	}
	n := 7 + length - 1
	frame, err := br.Peek(n)
	if err != nil {
		return nil, partial(len(frame), err)
	}
	if fc := frame[7]; fc&0x80 != 0 && length != 3 {
		return nil, fmt.Errorf("malformed frame: exception answer (function code 0x%02x) with %d bytes after the unit id (want 2)", fc, length-1)
	}
	out := append([]byte(nil), frame...)
	_, _ = br.Discard(n)
	return out, nil
}

// partial gives a short read io.ReadFull's meaning: EOF after some bytes of
// a frame is an unexpected EOF.
func partial(got int, err error) error {
	if got > 0 && errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readRTUFrame reads one RTU frame from a stream: unit id and function code,
// then an exception code, a byte count and data, or a fixed echo, then the
// CRC. goburrow's RTU packager checks unit id and CRC afterwards.
func readRTUFrame(br *bufio.Reader, req []byte) ([]byte, error) {
	head, err := br.Peek(2)
	if err != nil {
		return nil, partial(len(head), err)
	}
	fc := head[1]
	n := 0
	switch {
	case len(req) > 1 && fc == req[1]|0x80:
		n = 5 // unit, function, exception code, CRC
	case fc == gmodbus.FuncCodeReadCoils, fc == gmodbus.FuncCodeReadDiscreteInputs,
		fc == gmodbus.FuncCodeReadHoldingRegisters, fc == gmodbus.FuncCodeReadInputRegisters:
		count, err := br.Peek(3)
		if err != nil {
			return nil, partial(len(count), err)
		}
		n = 3 + int(count[2]) + 2
	case fc == gmodbus.FuncCodeWriteSingleCoil, fc == gmodbus.FuncCodeWriteSingleRegister,
		fc == gmodbus.FuncCodeWriteMultipleCoils, fc == gmodbus.FuncCodeWriteMultipleRegisters:
		n = 8
	default:
		return nil, fmt.Errorf("malformed frame: unexpected function code 0x%02x in RTU answer", fc)
	}
	frame, err := br.Peek(n)
	if err != nil {
		return nil, partial(len(frame), err)
	}
	out := append([]byte(nil), frame...)
	_, _ = br.Discard(n)
	return out, nil
}

// serialLink is RTU over a local serial port through goburrow's own RTU
// client handler. A serial read cannot be interrupted: the context is only
// checked between requests, and Timeout bounds each read.
type serialLink struct {
	h      *gmodbus.RTUClientHandler
	client gmodbus.Client
}

func newSerialLink(device string, timeout time.Duration, s SerialConfig) *serialLink {
	h := gmodbus.NewRTUClientHandler(device)
	h.Timeout = timeout
	h.BaudRate = s.BaudRate
	h.DataBits = s.DataBits
	h.Parity = s.Parity
	h.StopBits = s.StopBits
	return &serialLink{h: h, client: gmodbus.NewClient(h)}
}

func (l *serialLink) read(ctx context.Context, _ time.Time, unit byte, r Request) ([]byte, error) {
	l.h.SlaveId = unit
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cancelled: %w", err)
	}
	data, err := readTable(l.client, r)
	var ex *ExceptionError
	if err != nil && !errors.As(err, &ex) {
		l.h.Close() // reopen the port on the next read
	}
	return data, err
}

func (l *serialLink) reset() error { return l.h.Close() }
func (l *serialLink) endSample()   {}
func (l *serialLink) Close() error { return l.h.Close() }
