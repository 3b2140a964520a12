package energy

import (
	"sort"
)

// DefaultLevels is the hierarchy of docs/schema.md's tags, above the meter.
func DefaultLevels() []string { return []string{"site", "room", "rack"} }

// Node is one level of an energy roll-up: a site, room, rack or meter.
type Node struct {
	// Level is the tag name ("site", "room", "rack") or "meter" for a leaf.
	Level string
	Name  string
	KWh   float64
	// Coverage is the lowest coverage of the meters below: the sum is only
	// as complete as its least complete part.
	Coverage float64
	// Meters is the number of meters below (1 for a leaf).
	Meters   int
	Children []*Node
}

// Rollup sums meters' energies up the tag hierarchy levels (outermost
// first; DefaultLevels if none). A meter without a tag for some level
// hangs directly under the deepest level it has, so a cooling unit tagged
// with a room but no rack sits beside the room's racks. The root is the
// first level's value when all meters share it, else a node named "" at
// level "all". Children are sorted by name.
//
// The roll-up assumes meters do not nest (no rack PDU also counted inside a
// room meter); a whole-facility meter belongs in PUE, not in this sum.
func Rollup(meters []MeterEnergy, levels ...string) *Node {
	if len(levels) == 0 {
		levels = DefaultLevels()
	}
	root := &Node{Level: "all", Coverage: 1}
	for _, m := range meters {
		n := root
		n.add(m)
		for _, lv := range levels {
			v, ok := m.Tags[lv]
			if !ok || v == "" {
				continue
			}
			n = n.child(lv, v)
			n.add(m)
		}
		leaf := n.child("meter", m.Meter)
		leaf.add(m)
	}
	root.sort()
	if len(root.Children) == 1 && root.Children[0].Level == levels[0] {
		return root.Children[0]
	}
	return root
}

func (n *Node) add(m MeterEnergy) {
	c := m.Coverage()
	if n.Meters == 0 || c < n.Coverage {
		n.Coverage = c
	}
	n.KWh += m.KWh
	n.Meters++
}

func (n *Node) child(level, name string) *Node {
	for _, c := range n.Children {
		if c.Level == level && c.Name == name {
			return c
		}
	}
	c := &Node{Level: level, Name: name}
	n.Children = append(n.Children, c)
	return c
}

func (n *Node) sort() {
	sort.Slice(n.Children, func(i, j int) bool {
		a, b := n.Children[i], n.Children[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Level < b.Level
	})
	for _, c := range n.Children {
		c.sort()
	}
}
