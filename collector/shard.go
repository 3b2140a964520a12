package collector

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard selects this process's part of a site's sources when one device
// list is split across collector processes on several machines (all
// writing to the same InfluxDB). Assignment hashes the source name, so it
// is stable when sources are added and needs no coordination.
type Shard struct {
	Index, Count int // 0 <= Index < Count
}

// ParseShard reads "i/n" (1-based, as operators count: "1/3", "2/3", "3/3").
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: expected i/n with 1 <= i <= n, e.g. 2/3", s)
	}
	return Shard{i - 1, n}, nil
}

// Owns reports whether this shard polls the named source.
func (s Shard) Owns(name string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32()%uint32(s.Count)) == s.Index
}
