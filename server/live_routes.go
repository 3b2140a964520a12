package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func (s *Server) liveRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/live", Need: RoleViewer, Tag: "live", Summary: "the newest values: site power, meters, hosts, collectors' health", Handler: s.live},
		{Method: "GET", Path: "/api/v1/stream", Need: RoleViewer, Tag: "live", Summary: "server-sent events: a snapshot event per refresh", Handler: s.stream},
		{Method: "GET", Path: "/api/v1/sites", Need: RoleViewer, Tag: "live", Summary: "the site's hierarchy: rooms, racks, meters, hosts", Handler: s.sites},
	}
}

func (s *Server) liveHub() (*Live, error) {
	if s.cfg.Live == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "the live view is not running")
	}
	return s.cfg.Live, nil
}

func (s *Server) live(c *fiber.Ctx) error {
	l, err := s.liveHub()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(l.Current(c.UserContext()))
}

// stream sends a snapshot whenever the hub refreshes (server-sent events).
func (s *Server) stream(c *fiber.Ctx) error {
	l, err := s.liveHub()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	ch, cancel := l.Subscribe(c.UserContext())
	done := l.Done()
	ctx := context.WithoutCancel(c.UserContext())
	c.Context().SetBodyStreamWriter(fasthttp.StreamWriter(func(w *bufio.Writer) {
		defer cancel()
		keepalive := time.NewTicker(15 * time.Second)
		defer keepalive.Stop()
		sent := map[string]string{}
		for {
			select {
			case js := <-ch:
				fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", js)
				// With each snapshot, what changed of the rules' state.
				for _, ev := range s.streamEvents(ctx) {
					if sent[ev.name] != ev.data {
						sent[ev.name] = ev.data
						fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
					}
				}
			case <-keepalive.C:
				fmt.Fprint(w, ": keepalive\n\n")
			case <-done:
				return
			}
			if err := w.Flush(); err != nil {
				return // the browser went away
			}
		}
	}))
	return nil
}

type streamEvent struct{ name, data string }

// streamEvents are the rules' state for the stream, sent when it changes:
// demand (the stage and its figures), plans (the executor's open plans),
// alarms (the open alarms, as GET /api/v1/alarms lists them).
func (s *Server) streamEvents(ctx context.Context) []streamEvent {
	var out []streamEvent
	if s.cfg.Demand != nil {
		if v, ok := s.cfg.Demand.Status(); ok {
			js, _ := json.Marshal(map[string]any{"stage": v.Stage, "limit": v.Limit, "limit_kw": v.LimitKW,
				"predicted_kw": math.Round(v.PredictedKW*10) / 10, "request": v.Request, "block_start": v.BlockStart})
			out = append(out, streamEvent{"demand", string(js)})
		}
	}
	if s.cfg.Plans != nil {
		if ps, err := s.cfg.Plans.Plans(ctx, "", 20); err == nil {
			type brief struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			}
			open := []brief{}
			for _, p := range ps {
				if p.Status == "waiting" || p.Status == "running" {
					open = append(open, brief{p.ID, p.Status})
				}
			}
			js, _ := json.Marshal(map[string]any{"mode": s.cfg.Plans.Mode(), "open": open})
			out = append(out, streamEvent{"plans", string(js)})
		}
	}
	// The same list as GET /api/v1/alarms (alarms.go).
	js, _ := json.Marshal(map[string]any{"alarms": BuildAlarms(s.alarmInputs(ctx, false), s.alarmClock())})
	out = append(out, streamEvent{"alarms", string(js)})
	return out
}

// SiteView is the site's hierarchy as the collected tags describe it.
type SiteView struct {
	Site  string     `json:"site"`
	Rooms []RoomView `json:"rooms"`
	// Meters without a room, and the hosts with their newest values.
	Meters []MeterReading `json:"meters"`
	Hosts  []HostReading  `json:"hosts"`
}

// RoomView is a room with its racks and room-level meters (cooling).
type RoomView struct {
	Name   string         `json:"name"`
	Racks  []RackView     `json:"racks"`
	Meters []MeterReading `json:"meters"`
}

// RackView is a rack: its meters (PDUs), power and hottest inlet.
type RackView struct {
	Name    string         `json:"name"`
	KW      float64        `json:"kw"`
	InletC  *float64       `json:"inlet_c,omitempty"`
	Meters  []MeterReading `json:"meters"`
	Hosts   []string       `json:"hosts"`
	Stale   bool           `json:"stale"`
	Updated time.Time      `json:"updated"`
}

func (s *Server) sites(c *fiber.Ctx) error {
	l, err := s.liveHub()
	if err != nil {
		return err
	}
	// The tree is the same for every user who may read it (viewer and up;
	// a customer is refused by the route), so it is encoded once per
	// snapshot and the bytes shared, as /api/v1/live's are.
	js, err := l.View(c.UserContext(), "sites", func(snap Snapshot) any { return BuildSiteView(snap) })
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(js)
}

// BuildSiteView groups a snapshot's meters by their room and rack tags.
func BuildSiteView(snap Snapshot) SiteView {
	v := SiteView{Site: snap.Site, Rooms: []RoomView{}, Meters: []MeterReading{}, Hosts: snap.Hosts}
	rooms := map[string]*RoomView{}
	racks := map[string]*RackView{}
	for _, m := range snap.Meters {
		room := m.Location["room"]
		if room == "" {
			v.Meters = append(v.Meters, m)
			continue
		}
		r := rooms[room]
		if r == nil {
			r = &RoomView{Name: room, Racks: []RackView{}, Meters: []MeterReading{}}
			rooms[room] = r
		}
		rack := m.Location["rack"]
		if rack == "" {
			r.Meters = append(r.Meters, m)
			continue
		}
		key := room + "\x00" + rack
		rk := racks[key]
		if rk == nil {
			rk = &RackView{Name: rack, Meters: []MeterReading{}, Hosts: []string{}}
			racks[key] = rk
		}
		rk.Meters = append(rk.Meters, m)
		if !m.Stale {
			rk.KW += m.Fields["kw"]
		}
		rk.Stale = rk.Stale || m.Stale
		if m.Time.After(rk.Updated) {
			rk.Updated = m.Time
		}
		if t, ok := m.Fields["inlet_c"]; ok && (rk.InletC == nil || t > *rk.InletC) {
			rk.InletC = &t
		}
	}
	for _, h := range snap.Hosts {
		if h.Location["rack"] == "" {
			continue
		}
		if rk := racks[h.Location["room"]+"\x00"+h.Location["rack"]]; rk != nil {
			rk.Hosts = append(rk.Hosts, h.Host)
		}
	}
	for key, rk := range racks {
		room := key[:len(key)-len(rk.Name)-1]
		rooms[room].Racks = append(rooms[room].Racks, *rk)
	}
	for _, r := range rooms {
		sort.Slice(r.Racks, func(i, j int) bool { return r.Racks[i].Name < r.Racks[j].Name })
		v.Rooms = append(v.Rooms, *r)
	}
	sort.Slice(v.Rooms, func(i, j int) bool { return v.Rooms[i].Name < v.Rooms[j].Name })
	return v
}
