package obix

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// PointInfo describes one readable value point found by Discover.
type PointInfo struct {
	Href        string // absolute URL
	Kind        string // real, int, bool, str, enum, abstime, ...
	Unit        string // unit URI as served ("" if none)
	DisplayName string // displayName, else name
	Writable    bool
	Val         string // the value when discovered, as served
}

// Discover walks the server from root (an href; "" for the lobby) and
// returns the value objects that have an href, in breadth-first document
// order. It follows <ref> elements up to maxDepth hops from root (0 reads
// root only), stays on the BaseURL's host, reads each URL once, and skips
// the lobby's services (about, watchService, alarms) and null refs. A value
// object is a leaf: the slots inside a Niagara point (out, in1..in16,
// fallback) are not listed separately. A ref the server refuses (an oBIX
// err, HTTP 403 or 404) is skipped; any other failure ends the walk.
func (c *Client) Discover(ctx context.Context, root string, maxDepth int) ([]PointInfo, error) {
	if maxDepth < 0 {
		return nil, fmt.Errorf("discover: negative depth %d", maxDepth)
	}
	b, err := c.base()
	if err != nil {
		return nil, err
	}
	start := b // the lobby, read where BaseURL says
	if root != "" {
		if start, err = c.resolve(root); err != nil {
			return nil, err
		}
	}
	type job struct {
		u     *url.URL
		depth int
	}
	queue := []job{{start, 0}}
	visited := map[string]bool{docKey(start): true}
	listed := map[string]bool{}
	var out []PointInfo
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		o, err := c.Read(ctx, j.u.String())
		if err != nil {
			if j.depth > 0 && refused(err) {
				continue
			}
			return nil, fmt.Errorf("discover from %s: %w", redact(start), err)
		}
		o.walk(func(n *Obj) bool {
			switch {
			case n.IsValue():
				if h := n.AbsHref(); h != "" && !listed[h] {
					listed[h] = true
					name := n.DisplayName
					if name == "" {
						name = n.Name
					}
					out = append(out, PointInfo{Href: h, Kind: n.Kind, Unit: n.Unit, DisplayName: name, Writable: n.Writable, Val: n.Val})
				}
				return false
			case n.Kind == KindRef:
				if j.depth >= maxDepth || n.Null || n.Href == "" || n.Href[0] == '#' || isService(n) {
					return false
				}
				u, err := url.Parse(n.AbsHref())
				if err != nil || u.Scheme != b.Scheme || u.Host != b.Host {
					return false
				}
				if k := docKey(u); !visited[k] {
					visited[k] = true
					queue = append(queue, job{u, j.depth + 1})
				}
				return false
			case n.Kind == KindOp, n.Kind == KindFeed, n.Kind == KindErr:
				return false
			}
			return true
		})
	}
	return out, nil
}

// isService reports whether a lobby ref leads to a service rather than to
// points.
func isService(o *Obj) bool {
	switch o.Name {
	case "about", "watchService", "alarms", "batch":
		return true
	}
	return o.Implements(ContractWatchService) || o.Implements(ContractAbout) || o.Implements(ContractAlarmSubject)
}

// refused reports whether the server declined to serve an object, as
// opposed to failing.
func refused(err error) bool {
	var oe *Error
	if errors.As(err, &oe) {
		return true
	}
	var he *HTTPError
	return errors.As(err, &he) && (he.StatusCode == 403 || he.StatusCode == 404)
}

// docKey identifies a document: the URL without fragment.
func docKey(u *url.URL) string {
	v := *u
	v.Fragment, v.RawFragment = "", ""
	return v.String()
}
