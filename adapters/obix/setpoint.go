package obix

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SetPoints writes facility set-points on named oBIX gateways: it is the
// shedding executor's set-point writer (rules/executor.SetPointWriter).
// A point is "GATEWAY:HREF", GATEWAY one of the gateways' names and HREF
// resolved against that gateway's Lobby; a bare HREF (no "GATEWAY:") is
// allowed when there is exactly one gateway. Every write is verified by
// reading the point back (WriteAndVerify).
type SetPoints struct {
	gateways map[string]*Client
}

// NewSetPoints returns the writer over gateways (by name).
func NewSetPoints(gateways map[string]*Client) *SetPoints {
	return &SetPoints{gateways: gateways}
}

// Resolve splits point into its gateway's client and href, or says why
// it names no configured gateway.
func (s *SetPoints) Resolve(point string) (*Client, string, error) {
	names := make([]string, 0, len(s.gateways))
	for n := range s.gateways {
		names = append(names, n)
	}
	slices.Sort(names)
	known := strings.Join(names, ", ")
	if known == "" {
		known = "none"
	}
	name, href, found := strings.Cut(point, ":")
	if !found || strings.Contains(name, "/") {
		// A bare href ("/obix/config/...", "config/...").
		if len(s.gateways) != 1 {
			return nil, "", fmt.Errorf("point %q names no gateway (want GATEWAY:HREF with GATEWAY one of obix.gateways: %s)", point, known)
		}
		return s.gateways[names[0]], point, nil
	}
	c, ok := s.gateways[name]
	if !ok {
		return nil, "", fmt.Errorf("point %q: gateway %q is not in obix.gateways (configured: %s; want GATEWAY:HREF)", point, name, known)
	}
	if href == "" || strings.HasPrefix(href, "//") {
		return nil, "", fmt.Errorf("point %q: the href after %q is empty or not a path (want GATEWAY:HREF, e.g. %s:/obix/config/AHU1/SupplyAirSetpoint/)", point, name+":", name)
	}
	return c, href, nil
}

// Write writes value to the point and reads it back: a gateway that
// rounds, clamps or ignores the write is an error naming the point and
// both values.
func (s *SetPoints) Write(ctx context.Context, point string, value float64) error {
	c, href, err := s.Resolve(point)
	if err != nil {
		return err
	}
	if _, err := c.WriteAndVerify(ctx, href, value); err != nil {
		return fmt.Errorf("set-point %s: %w", point, err)
	}
	return nil
}

// Read reads the point's numeric value (real or int); a null value or a
// status other than ok is an error.
func (s *SetPoints) Read(ctx context.Context, point string) (float64, error) {
	c, href, err := s.Resolve(point)
	if err != nil {
		return 0, err
	}
	o, err := c.Read(ctx, href)
	if err != nil {
		return 0, fmt.Errorf("set-point %s: %w", point, err)
	}
	v, err := ValueOf(o, time.Now())
	if err != nil {
		return 0, fmt.Errorf("set-point %s: %w", point, err)
	}
	if st := normalStatus(v.Status); st != "ok" && v.Value != nil {
		return 0, fmt.Errorf("set-point %s: status %s (want ok)", point, st)
	}
	switch x := v.Value.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case nil:
		return 0, fmt.Errorf("set-point %s: the value is null (status %s)", point, v.Status)
	}
	return 0, fmt.Errorf("set-point %s: <%s> is not a number (want a real or an int)", point, v.Kind)
}
