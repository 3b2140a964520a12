package bmc

import (
	"bytes"
	"context"
	"fmt"
	"net"
)

// WakeOnLAN powers a host on with a magic packet: 6 bytes 0xFF, then the
// NIC's MAC 16 times, in one UDP datagram (usually to the broadcast address,
// port 9).
type WakeOnLAN struct {
	MAC net.HardwareAddr
	// Addr is where the datagram goes, e.g. 192.168.1.255:9.
	Addr string
}

// NewWakeOnLAN checks the MAC (6 bytes) and the address.
func NewWakeOnLAN(mac, addr string) (*WakeOnLAN, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("bmc wol: mac %q: want 6 bytes like 52:54:00:12:34:56", mac)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("bmc wol: addr %q: want host:port, e.g. 192.168.1.255:9", addr)
	}
	return &WakeOnLAN{MAC: hw, Addr: addr}, nil
}

// MagicPacket is the 102-byte payload for mac.
func MagicPacket(mac net.HardwareAddr) []byte {
	p := bytes.Repeat([]byte{0xff}, 6)
	for i := 0; i < 16; i++ {
		p = append(p, mac...)
	}
	return p
}

// PowerOn sends the magic packet (to a broadcast address, with
// SO_BROADCAST set by the dialer for UDP).
func (w *WakeOnLAN) PowerOn(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", w.Addr)
	if err != nil {
		return &Error{Kind: "wol", Addr: w.Addr, Op: "power on", Err: err}
	}
	defer conn.Close()
	if _, err := conn.Write(MagicPacket(w.MAC)); err != nil {
		return &Error{Kind: "wol", Addr: w.Addr, Op: "power on", Err: err}
	}
	return nil
}

// PowerIsOn cannot be known from Wake-on-LAN.
func (w *WakeOnLAN) PowerIsOn(context.Context) (bool, error) {
	return false, &Error{Kind: "wol", Addr: w.Addr, Op: "power state", Err: ErrUnsupported}
}

// PowerOff cannot be done by Wake-on-LAN.
func (w *WakeOnLAN) PowerOff(context.Context, bool) error {
	return &Error{Kind: "wol", Addr: w.Addr, Op: "power off", Err: ErrUnsupported}
}
