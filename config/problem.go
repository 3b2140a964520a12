package config

import (
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File and Line locate the offending key or value; for a missing field,
	// the mapping that should hold it. Both are empty for a configuration
	// built in code.
	File string
	Line int
	// Path names the field, like "modbus.devices[1].unit_id"; it is empty
	// for a problem of the whole file.
	Path string
	// Msg says what is wrong and, in parentheses, what was expected.
	Msg string
}

// String renders "FILE:LINE: path: what is wrong (what was expected)",
// leaving out the parts that are empty.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
	}
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one configuration. As an error it is
// one problem per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortByLine orders problems by line, keeping the order in which they were
// found among problems of one line.
func (ps Problems) sortByLine() {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}
