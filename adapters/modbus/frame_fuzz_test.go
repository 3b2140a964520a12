package modbus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// fuzzTimeout is the meter's timeout in the frame fuzzers: how long a
// device that sent too little may keep a Collect waiting.
const fuzzTimeout = 50 * time.Millisecond

// FuzzMBAPFrame takes arbitrary bytes as a Modbus TCP device's answer to a
// read (the table and register or bit count are fuzzed too). readMBAPFrame
// must frame them or fail, and Meter.Collect against a loopback peer that
// sends them for every request must never panic, must return within the
// timeout, and must return the values of the answer when the bytes start
// with a valid answer to the request, the exception when they start with a
// valid exception, and an error otherwise. A second sample then runs on the
// connection the first left (see fuzzCollect): its request is transaction 2,
// so the same bytes are then the wrong transaction. hang keeps the peer's
// connection open after each answer, so that short answers end in the
// timeout rather than in EOF.
func FuzzMBAPFrame(f *testing.F) {
	holding2 := func(b ...byte) []byte { return b } // answers to holding registers 0-1 (tx 1, unit 1)
	for _, s := range []struct {
		ans          []byte
		table, count uint8
	}{
		{holding2(0, 1, 0, 0, 0, 7, 1, 3, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},                // valid
		{holding2(0, 1, 0, 0, 0, 7, 1, 3, 4, 0x12, 0x34, 0xab, 0xcd, 0, 1, 0, 0), 2, 1},    // valid, then more
		{holding2(0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 7, 0, 2, 0, 0, 0, 5, 1, 3, 2, 0, 8), 2, 0}, // answers to transactions 1 and 2
		{holding2(0, 1, 0, 0, 0, 7, 1, 4, 4, 0x12, 0x34, 0xab, 0xcd), 3, 1},                // valid input registers
		{holding2(0, 1, 0, 0, 0, 5, 1, 1, 2, 0xa5, 0x03), 0, 9},                            // valid coils 0-9
		{holding2(0, 1, 0, 0, 0, 4, 1, 2, 1, 0x01), 1, 0},                                  // valid discrete input 0
		{holding2(0, 1, 0, 0, 0, 3, 1, 0x83, 2), 2, 1},                                     // exception 2
		{holding2(0, 1, 0, 0, 0, 3, 1, 0x83, 6), 2, 1},                                     // exception 6 (busy)
		{holding2(0, 1, 0, 0, 0, 4, 1, 0x83, 2, 9), 2, 1},                                  // exception with a stray byte
		{holding2(0, 1, 0, 0, 0, 2, 1, 0x83), 2, 1},                                        // exception without a code
		{holding2(0, 1, 0, 0, 0, 3, 1, 0x84, 2), 2, 1},                                     // exception to another function
		{holding2(0, 1, 0), 2, 1},                                                          // truncated header
		{holding2(0, 1, 0, 0, 0, 7, 1, 3, 4, 0x12), 2, 1},                                  // truncated data
		{holding2(0, 2, 0, 0, 0, 7, 1, 3, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},                // wrong transaction id
		{holding2(0, 1, 0, 0, 0, 7, 2, 3, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},                // wrong unit id
		{holding2(0, 1, 0, 0, 0, 7, 1, 4, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},                // wrong function code
		{holding2(0, 1, 0, 1, 0, 7, 1, 3, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},                // wrong protocol id
		{holding2(0, 1, 0, 0, 0xff, 0xff, 1, 3, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},          // oversized length
		{holding2(0, 1, 0, 0, 0, 0xff, 1, 3, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},             // length 255
		{append(holding2(0, 1, 0, 0, 0, 0xfe, 1, 3, 0xfb), make([]byte, 251)...), 2, 1},    // longest frame
		{holding2(0, 1, 0, 0, 0, 0, 1, 3), 2, 1},                                           // zero length
		{holding2(0, 1, 0, 0, 0, 1, 1, 3), 2, 1},                                           // length 1
		{holding2(0, 1, 0, 0, 0, 2, 1, 3), 2, 1},                                           // no byte count
		{holding2(0, 1, 0, 0, 0, 7, 1, 3, 6, 0x12, 0x34, 0xab, 0xcd), 2, 1},                // byte count lies
		{holding2(0, 1, 0, 0, 0, 9, 1, 3, 6, 0x12, 0x34, 0xab, 0xcd, 0, 0), 2, 1},          // too many registers
		{holding2(0, 1, 0, 0, 0, 5, 1, 3, 2, 0x12, 0x34), 2, 1},                            // too few registers
		{holding2(0, 1, 0, 0, 0, 8, 1, 3, 4, 0x12, 0x34, 0xab, 0xcd, 0xee), 2, 1},          // data after the count
		{holding2(0, 1, 0, 0, 0, 7, 1, 3, 4, 0x12, 0x34, 0xab, 0xcd), 0, 1},                // registers to a coil read
		{[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), 2, 1},                                 // not Modbus
		{nil, 2, 1}, // silence
	} {
		f.Add(s.ans, s.table, s.count, false)
		f.Add(s.ans, s.table, s.count, true)
	}
	f.Fuzz(func(t *testing.T, ans []byte, table, count uint8, hang bool) {
		model, r := fuzzRead(t, table, count)
		req := mbapRequest(r)

		frame, err := readMBAPFrame(bufio.NewReader(bytes.NewReader(ans)), req)
		if err == nil {
			length := int(binary.BigEndian.Uint16(ans[4:6]))
			if length < 2 || length > 254 || !bytes.Equal(frame, ans[:6+length]) {
				t.Fatalf("readMBAPFrame(% x) = % x: not the frame its length field says", ans, frame)
			}
		} else if frame != nil {
			t.Fatalf("readMBAPFrame returned % x with error %v", frame, err)
		}

		fuzzCollect(t, TransportTCP, model, r, ans, len(req), hang, func(n int, stream []byte) verdict { return judgeMBAP(stream, r, uint16(n)) })
	})
}

// FuzzRTUFrame is FuzzMBAPFrame for RTU frames over TCP (a serial gateway):
// readRTUFrame, then Meter.Collect with transport rtuovertcp.
func FuzzRTUFrame(f *testing.F) {
	valid := rtuFrame(1, 3, 4, 0x12, 0x34, 0xab, 0xcd)
	badCRC := bytes.Clone(valid)
	badCRC[len(badCRC)-1] ^= 0xff
	for _, s := range []struct {
		ans          []byte
		table, count uint8
	}{
		{valid, 2, 1}, // valid
		{append(bytes.Clone(valid), 1, 3, 0), 2, 1},                          // valid, then more
		{append(bytes.Clone(valid), rtuFrame(1, 3, 4, 0, 1, 0, 2)...), 2, 1}, // two answers: RTU has no transaction id, the second sample takes the other
		{rtuFrame(1, 4, 4, 0x12, 0x34, 0xab, 0xcd), 3, 1},                    // valid input registers
		{rtuFrame(1, 1, 2, 0xa5, 0x03), 0, 9},                                // valid coils 0-9
		{rtuFrame(1, 2, 1, 0x01), 1, 0},                                      // valid discrete input 0
		{rtuFrame(1, 0x83, 2), 2, 1},                                         // exception 2
		{rtuFrame(1, 0x83, 6), 2, 1},                                         // exception 6 (busy)
		{rtuFrame(1, 0x84, 2), 2, 1},                                         // exception to another function
		{rtuFrame(1, 0x83), 2, 1},                                            // exception without a code
		{valid[:2], 2, 1},                                                    // truncated after the function code
		{valid[:6], 2, 1},                                                    // truncated data
		{valid[:len(valid)-1], 2, 1},                                         // truncated CRC
		{badCRC, 2, 1},                                                       // bad CRC
		{rtuFrame(2, 3, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},                    // wrong unit id
		{rtuFrame(1, 4, 4, 0x12, 0x34, 0xab, 0xcd), 2, 1},                    // wrong function code
		{rtuFrame(1, 6, 0, 0, 0, 1), 2, 1},                                   // a write's echo
		{rtuFrame(1, 0x11, 0), 2, 1},                                         // unknown function code
		{rtuFrame(1, 3, 6, 0x12, 0x34, 0xab, 0xcd), 2, 1},                    // byte count lies
		{rtuFrame(1, 3, 0xff, 0x12, 0x34), 2, 1},                             // oversized byte count
		{rtuFrame(1, 3, 2, 0x12, 0x34), 2, 1},                                // too few registers
		{rtuFrame(1, 3, 0), 2, 1},                                            // no data
		{rtuFrame(1, 3, 4, 0x12, 0x34, 0xab, 0xcd), 0, 1},                    // registers to a coil read
		{append([]byte{0}, valid...), 2, 1},                                  // line noise before the answer
		{[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), 2, 1},                   // not Modbus
		{nil, 2, 1}, // silence
	} {
		f.Add(s.ans, s.table, s.count, false)
		f.Add(s.ans, s.table, s.count, true)
	}
	f.Fuzz(func(t *testing.T, ans []byte, table, count uint8, hang bool) {
		model, r := fuzzRead(t, table, count)
		req := rtuFrame(1, functionCode(r.Table), byte(r.Address>>8), byte(r.Address), byte(r.Quantity>>8), byte(r.Quantity))

		frame, err := readRTUFrame(bufio.NewReader(bytes.NewReader(ans)), req)
		if err == nil {
			if len(frame) < 5 || len(frame) > 260 || !bytes.Equal(frame, ans[:len(frame)]) {
				t.Fatalf("readRTUFrame(% x) = % x: not a frame at the start of the answer", ans, frame)
			}
		} else if frame != nil {
			t.Fatalf("readRTUFrame returned % x with error %v", frame, err)
		}

		fuzzCollect(t, TransportRTUOverTCP, model, r, ans, len(req), hang, func(_ int, stream []byte) verdict { return judgeRTU(stream, r) })
	})
}

// fuzzRead is a model of one read: table (coils, discrete inputs, holding or
// input registers) by index, 1-16 bits or 1-8 uint16 registers from
// address 0.
func fuzzRead(t *testing.T, table, count uint8) (*Model, Request) {
	tables := allTables()
	tb := tables[int(table)%len(tables)]
	m := &Model{Name: "fuzz"}
	n := 1 + int(count)%8
	if tb.bits() {
		n = 1 + int(count)%16
	}
	for i := range n {
		f := Field{Name: fmt.Sprintf("f%d", i), Measurement: "m", Table: tb, Address: uint16(i), Type: TypeUint16}
		if tb.bits() {
			f.Type = TypeBool
		}
		m.Fields = append(m.Fields, f)
	}
	plan := Plan(m, 0)
	if len(plan) != 1 {
		t.Fatalf("model of %d %s plans %d reads, want 1", n, tb, len(plan))
	}
	return m, plan[0]
}

// verdict is what the protocol makes of a device's bytes, judged here
// without the code under test.
type verdict struct {
	data      []byte // a valid answer's data
	exception int    // a valid exception's code, -1 if none
	size      int    // bytes of the valid answer or exception; 0 if none
}

// answerBytes is how many data bytes a valid answer to r carries.
func answerBytes(r Request) int {
	if r.Table.bits() {
		return (int(r.Quantity) + 7) / 8
	}
	return 2 * int(r.Quantity)
}

// judgeMBAP: the answer to transaction tx, unit 1, protocol 0, is
// [tx][0][3+n][1][fc][n][n bytes]; an exception is
// [tx][0][3][1][fc|0x80][code]. What follows the frame is not looked at.
func judgeMBAP(ans []byte, r Request, tx uint16) verdict {
	v := verdict{exception: -1}
	fc, n := functionCode(r.Table), answerBytes(r)
	if len(ans) < 9 || binary.BigEndian.Uint16(ans) != tx || ans[2] != 0 || ans[3] != 0 || ans[6] != 1 {
		return v
	}
	length := int(binary.BigEndian.Uint16(ans[4:6]))
	switch {
	case ans[7] == fc && length == 3+n && int(ans[8]) == n && len(ans) >= 9+n:
		v.data, v.size = ans[9:9+n], 9+n
	case ans[7] == fc|0x80 && length == 3:
		v.exception, v.size = int(ans[8]), 9
	}
	return v
}

// judgeRTU: the answer for unit 1 is [1][fc][n][n bytes][CRC]; an
// exception is [1][fc|0x80][code][CRC].
func judgeRTU(ans []byte, r Request) verdict {
	v := verdict{exception: -1}
	fc, n := functionCode(r.Table), answerBytes(r)
	crcOK := func(frame []byte) bool {
		c := crc16(frame[:len(frame)-2])
		return frame[len(frame)-2] == byte(c) && frame[len(frame)-1] == byte(c>>8)
	}
	switch {
	case len(ans) < 5 || ans[0] != 1:
	case ans[1] == fc && int(ans[2]) == n && len(ans) >= 5+n && crcOK(ans[:5+n]):
		v.data, v.size = ans[3:3+n], 5+n
	case ans[1] == fc|0x80 && crcOK(ans[:5]):
		v.exception, v.size = int(ans[2]), 5
	}
	return v
}

// fuzzCollect runs two samples of a meter against a loopback peer that
// answers every request (of reqLen bytes) with ans, closing the connection
// after each answer unless hang is set. judge gives the verdict on the
// bytes the meter reads for its n-th request (goburrow numbers MBAP
// transactions from 1).
//
// Every sample must not panic, must return within its bound (the timeout;
// twice that for the second, as a reused connection found closed is dialled
// once more), and must give either an error naming meter and read and no
// points, or one point with every field. The first sample must match its
// verdict. The second runs on the connection the first kept (after an
// answer or an exception), if any, and reads what the first left of ans,
// then ans again: on an open connection it must match the verdict on those
// bytes; on one the peer closed, what was left ends in EOF and the meter
// dials again, which only the shape checks cover.
func fuzzCollect(t *testing.T, transport string, model *Model, r Request, ans []byte, reqLen int, hang bool, judge func(n int, stream []byte) verdict) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var peers sync.WaitGroup
	peers.Add(1)
	go func() {
		defer peers.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			peers.Add(1)
			go func() {
				defer peers.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				for {
					if _, err := io.ReadFull(c, make([]byte, reqLen)); err != nil {
						return
					}
					if _, err := c.Write(ans); err != nil || !hang {
						return
					}
				}
			}()
		}
	}()
	defer func() { close(done); l.Close(); peers.Wait() }()

	m, err := NewMeter(MeterConfig{Name: "fuzz", Model: model, Transport: transport, Address: l.Addr().String(), UnitID: 1, Timeout: fuzzTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	first := judge(1, ans)
	pts, err := collectWithin(t, m, fuzzTimeout, ans)
	checkSample(t, r, ans, pts, err, first, true)

	// The second sample sees ans again, after what the first left over on a
	// kept connection. Over a connection the peer closed, the leftover ends
	// in EOF and the meter dials again: only the shape is checked then.
	second, exact := judge(2, ans), true
	if kept := err == nil || errors.As(err, new(*ExceptionError)); kept && first.size < len(ans) {
		stream := append(bytes.Clone(ans[first.size:]), ans...)
		second, exact = judge(2, stream), hang
	}
	pts, err = collectWithin(t, m, 2*fuzzTimeout, ans)
	checkSample(t, r, ans, pts, err, second, exact)
}

// collectWithin runs one Collect and fails the test if it does not return
// within bound (plus a second for a loaded machine).
func collectWithin(t *testing.T, m *Meter, bound time.Duration, ans []byte) ([]point.Point, error) {
	type result struct {
		pts []point.Point
		err error
	}
	res := make(chan result, 1)
	go func() {
		pts, err := m.Collect(context.Background())
		res <- result{pts, err}
	}()
	select {
	case got := <-res:
		return got.pts, got.err
	case <-time.After(bound + time.Second):
		t.Fatalf("Collect with answer % x did not return within %v", ans, bound)
	}
	return nil, nil
}

// checkSample checks one Collect's outcome; exact compares it with the
// verdict, otherwise only its shape is checked.
func checkSample(t *testing.T, r Request, ans []byte, pts []point.Point, err error, want verdict, exact bool) {
	t.Helper()
	prefix := fmt.Sprintf("meter %q unit 1: read %s: ", "fuzz", r.Range())
	if err != nil {
		if pts != nil {
			t.Fatalf("answer % x: points %v with error %v", ans, pts, err)
		}
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Fatalf("answer % x: error %q does not name meter and read (%q)", ans, err, prefix)
		}
	} else if len(pts) != 1 || len(pts[0].Fields) != len(r.Fields) {
		t.Fatalf("answer % x gave %v, want one point with %d fields", ans, pts, len(r.Fields))
	}
	if !exact {
		return
	}
	if want.data != nil {
		if err != nil {
			t.Fatalf("valid answer % x: %v", ans, err)
		}
		for i, f := range r.Fields {
			var v any
			if r.Table.bits() {
				v = want.data[i/8]>>(i%8)&1 == 1
			} else {
				v = float64(binary.BigEndian.Uint16(want.data[2*i:]))
			}
			if pts[0].Fields[f.Name] != v {
				t.Fatalf("valid answer % x: %s = %v, want %v", ans, f.Name, pts[0].Fields[f.Name], v)
			}
		}
		return
	}
	if err == nil {
		t.Fatalf("answer % x to %s gave points %v, want an error", ans, r.Range(), pts)
	}
	var ex *ExceptionError
	isException := errors.As(err, &ex)
	switch {
	case want.exception >= 0 && (!isException || int(ex.Code) != want.exception || ex.Function != functionCode(r.Table)):
		t.Fatalf("exception % x: got %v, want exception %d", ans, err, want.exception)
	case want.exception < 0 && isException:
		// An exception is a proper answer: the connection is kept and
		// codes 1-3 are not retried. Malformed frames must not pass for one.
		t.Fatalf("answer % x is no exception frame, but gave %v", ans, err)
	}
}

// mbapRequest is the Modbus TCP frame goburrow sends first for r: transaction
// 1, unit 1.
func mbapRequest(r Request) []byte {
	return []byte{0, 1, 0, 0, 0, 6, 1, functionCode(r.Table),
		byte(r.Address >> 8), byte(r.Address), byte(r.Quantity >> 8), byte(r.Quantity)}
}

// rtuFrame is unit, function and data with their CRC.
func rtuFrame(unit, fc byte, data ...byte) []byte {
	b := append([]byte{unit, fc}, data...)
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}

// crc16 is the Modbus RTU CRC (polynomial 0xA001 reflected, initial 0xFFFF),
// sent low byte first (Modbus over Serial Line v1.02, 6.2.2).
func crc16(b []byte) uint16 {
	crc := uint16(0xffff)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xa001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
