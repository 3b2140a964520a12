package collector

import (
	"sort"
	"strings"
)

func sortedTags(t map[string]string) string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(t[k])
		b.WriteByte(',')
	}
	return b.String()
}
