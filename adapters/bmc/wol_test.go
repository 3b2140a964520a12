package bmc

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

func TestWakeOnLANPacket(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w, err := NewWakeOnLAN("52:54:00:12:34:56", l.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, _, err := l.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := buf[:n]
	if n != 102 || !bytes.Equal(got[:6], bytes.Repeat([]byte{0xff}, 6)) {
		t.Fatalf("packet %x: want 102 bytes starting with 6 x ff", got)
	}
	mac := []byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	for i := 0; i < 16; i++ {
		if !bytes.Equal(got[6+6*i:12+6*i], mac) {
			t.Fatalf("repetition %d = %x, want %x", i, got[6+6*i:12+6*i], mac)
		}
	}
	if _, err := w.PowerIsOn(context.Background()); err == nil {
		t.Error("WoL claims to know the power state")
	}
	for _, bad := range [][2]string{{"52:54:00", "h:9"}, {"52:54:00:12:34:56", "nohostport"}} {
		if _, err := NewWakeOnLAN(bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
