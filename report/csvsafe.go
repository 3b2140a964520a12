package report

import "strconv"

// csvSafe defuses spreadsheet formulas: a text cell starting with = + - @
// (or a tab or carriage return) is prefixed with ' so that Excel and
// LibreOffice show it as text instead of running it (OWASP "CSV
// injection"). Numbers, negative ones included, are left as they are.
func csvSafe(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = c
		if c == "" {
			continue
		}
		switch c[0] {
		case '=', '+', '-', '@', '\t', '\r':
			if _, err := strconv.ParseFloat(c, 64); err != nil {
				out[i] = "'" + c
			}
		}
	}
	return out
}
