package charts

import (
	"strconv"
	"strings"
)

// TextTable formats header and rows as aligned plain text.
func TextTable(header []string, rows [][]string) string {
	var widths []int
	all := append([][]string{header}, rows...)
	for _, r := range all {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for k, r := range all {
		if k == 0 && len(header) == 0 {
			continue
		}
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if IsNumber(c) {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// IsNumber reports whether a table cell is a number, or a percentage ("3.5", "-7", "1e-3",
// "12%"): tables right-align those. A cell that only starts with one ("2nd", "3 photos") is text.
func IsNumber(s string) bool {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
