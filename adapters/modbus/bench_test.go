package modbus_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/modbus"
)

// BenchmarkMeterCollectBy is one sample of the shipped simulated meter
// model (12 input registers, one read) from a peer that answers without
// allocating, so allocs/op are the meter's own: the hot path of
// bench/collector, where a collector makes thousands of these a second.
func BenchmarkMeterCollectBy(b *testing.B) {
	models, err := modbus.LoadModels()
	if err != nil {
		b.Fatal(err)
	}
	model, err := models.Get("setsuden-sim-pm")
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req := make([]byte, 12)
		resp := make([]byte, 9+2*125)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			n := binary.BigEndian.Uint16(req[10:])
			copy(resp, req[:4]) // transaction and protocol id
			binary.BigEndian.PutUint16(resp[4:], uint16(3+2*n))
			resp[6], resp[7], resp[8] = req[6], req[7], byte(2*n)
			if _, err := c.Write(resp[:9+2*n]); err != nil {
				return
			}
		}
	}()
	m, err := modbus.NewMeter(modbus.MeterConfig{Name: "pdu-0001", Model: model, Transport: "tcp",
		Address: l.Addr().String(), UnitID: 1, Timeout: time.Second, Tags: map[string]string{"room": "r1"}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.CollectBy(ctx, time.Now().Add(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}
