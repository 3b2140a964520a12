package collector

import (
	"slices"
	"strings"
)

func sortedTags(t map[string]string) string {
	var room [16]string // on the stack for ordinary tag sets
	keys := room[:0]
	n := 0
	for k, v := range t {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(n)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(t[k])
		b.WriteByte(',')
	}
	return b.String()
}
