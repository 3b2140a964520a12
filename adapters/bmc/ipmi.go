package bmc

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// IPMIConfig is one BMC reached over IPMI v2.0 LAN (RMCP+).
type IPMIConfig struct {
	// Addr is host:port (port 623 if left out).
	Addr     string
	User     string
	Password string
	// CipherSuite defaults to 3 (HMAC-SHA1, AES-CBC-128). Letting the
	// client negotiate costs ~5 s per session against ipmi_sim.
	CipherSuite int
	// Timeout per packet (default 1 s) and Retries after it (default 2):
	// a frozen BMC fails after Timeout x (Retries+1), or at ctx's deadline.
	Timeout time.Duration
	Retries int
}

// IPMI is a BMC over IPMI LAN. Each call opens a session, sends one
// command and closes the session, so a BMC restart never leaves a stale
// session behind.
type IPMI struct {
	cfg  IPMIConfig
	host string
	port int
}

// NewIPMI checks the configuration.
func NewIPMI(cfg IPMIConfig) (*IPMI, error) {
	host, portS, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		host, portS = cfg.Addr, "623"
	}
	port, err := strconv.Atoi(portS)
	if host == "" || err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("bmc ipmi: addr %q: want host or host:port", cfg.Addr)
	}
	if cfg.User == "" {
		return nil, fmt.Errorf("bmc ipmi %s: user is empty", cfg.Addr)
	}
	if cfg.CipherSuite == 0 {
		cfg.CipherSuite = 3
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	return &IPMI{cfg: cfg, host: host, port: port}, nil
}

// Addr is the BMC's address.
func (b *IPMI) Addr() string { return b.cfg.Addr }

func (b *IPMI) session(ctx context.Context, op string, fn func(*client.Client) error) error {
	c, err := client.NewClient(b.host, b.port, b.cfg.User, b.cfg.Password)
	if err != nil {
		return &Error{Kind: "ipmi", Addr: b.cfg.Addr, Op: op, Err: err}
	}
	c.WithTimeout(b.cfg.Timeout).WithRetry(b.cfg.Retries).WithCipherSuiteID(types.CipherSuiteID(b.cfg.CipherSuite))
	if err := c.Connect(ctx); err != nil {
		return &Error{Kind: "ipmi", Addr: b.cfg.Addr, Op: op + ": open session", Err: err}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
		defer cancel()
		_ = c.Close(cctx)
	}()
	if err := fn(c); err != nil {
		return &Error{Kind: "ipmi", Addr: b.cfg.Addr, Op: op, Err: err}
	}
	return nil
}

// PowerIsOn reads the chassis power state.
func (b *IPMI) PowerIsOn(ctx context.Context) (bool, error) {
	var on bool
	err := b.session(ctx, "chassis status", func(c *client.Client) error {
		st, err := c.GetChassisStatus(ctx)
		if err != nil {
			return err
		}
		on = st.PowerIsOn
		return nil
	})
	return on, err
}

// PowerOn sends chassis power up (idempotent).
func (b *IPMI) PowerOn(ctx context.Context) error {
	return b.control(ctx, "power on", chassis.ChassisControlPowerUp)
}

// PowerOff sends a soft shutdown (ACPI, through the OS), or with hard a
// chassis power down (idempotent). A timed-out command can still run later
// (its retries queue in the BMC): re-read PowerIsOn after any error.
func (b *IPMI) PowerOff(ctx context.Context, hard bool) error {
	if hard {
		return b.control(ctx, "power off (hard)", chassis.ChassisControlPowerDown)
	}
	return b.control(ctx, "power off (soft)", chassis.ChassisControlSoftShutdown)
}

func (b *IPMI) control(ctx context.Context, op string, ctl chassis.ChassisControl) error {
	return b.session(ctx, op, func(c *client.Client) error {
		_, err := c.ChassisControl(ctx, ctl)
		return err
	})
}
