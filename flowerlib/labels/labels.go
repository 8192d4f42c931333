// Package labels builds the article's labels table (generate_csv): one row per
// image, (path, class), from a dataset root whose sub-folders are the classes, shuffled
// with a seed so the same folder gives the same order on every machine.
//
// Scan handles the bad inputs of docs/BAD_INPUTS.md (rows 1–22): files that cannot
// be used are skipped and listed in the Report with a reason; a folder that cannot be used
// at all (no classes, an empty class, nested copies, unreadable files) is an error that says
// what to do.
package labels

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultSeed is the shuffle seed of the article (labels.sample(random_state=42)).
const DefaultSeed = 42

// Row is one image: Path is a usable file path (root joined with class and file name,
// byte-exact), Label its class (the folder name).
type Row struct {
	Path, Label string
}

// Table is the labels table. Classes is sorted (byte order) and lists every label in Rows.
type Table struct {
	Root    string // dataset root it was scanned from ("" when loaded from CSV)
	Rows    []Row
	Classes []string
	Seed    int64 // shuffle seed used by Scan (0 when loaded from CSV)
}

// ClassCount is the number of images of one class.
type ClassCount struct {
	Class string
	Count int
}

// Counts returns the number of rows per class, in Classes order.
func (t *Table) Counts() []ClassCount {
	n := make(map[string]int, len(t.Classes))
	for _, r := range t.Rows {
		n[r.Label]++
	}
	out := make([]ClassCount, len(t.Classes))
	for i, c := range t.Classes {
		out[i] = ClassCount{c, n[c]}
	}
	return out
}

// CountsString formats Counts as an aligned two-column table with a total line.
func (t *Table) CountsString() string {
	var b strings.Builder
	w := len("class")
	for _, c := range t.Classes {
		w = max(w, len(Quote(c)))
	}
	fmt.Fprintf(&b, "%-*s  %6s\n", w, "class", "images")
	for _, c := range t.Counts() {
		fmt.Fprintf(&b, "%-*s  %6d\n", w, Quote(c.Class), c.Count)
	}
	fmt.Fprintf(&b, "%-*s  %6d\n", w, "total", len(t.Rows))
	return b.String()
}

// Head returns the first n rows formatted like pandas' DataFrame.head(n): an index
// column, then right-aligned images and labels columns. Unusual names are quoted.
func (t *Table) Head(n int) string {
	n = min(n, len(t.Rows))
	idx := make([]string, n+1)
	img := make([]string, n+1)
	lab := make([]string, n+1)
	idx[0], img[0], lab[0] = "", "images", "labels"
	for i := range n {
		idx[i+1] = strconv.Itoa(i)
		img[i+1] = Quote(t.Rows[i].Path)
		lab[i+1] = Quote(t.Rows[i].Label)
	}
	wi, wm, wl := width(idx), width(img), width(lab)
	var b strings.Builder
	for i := range n + 1 {
		fmt.Fprintf(&b, "%-*s  %*s  %*s\n", wi, idx[i], wm, img[i], wl, lab[i])
	}
	return b.String()
}

func width(col []string) int {
	w := 0
	for _, s := range col {
		w = max(w, utf8.RuneCountInString(s))
	}
	return w
}

// Quote returns s unchanged when it is plain printable UTF-8 without spaces, and
// strconv.Quote(s) otherwise, so that messages show unusual names unambiguously
// (docs/BAD_INPUTS.md row 21: spaces, control characters, invalid UTF-8).
func Quote(s string) string {
	if s == "" || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// classesOf returns the sorted distinct labels of rows.
func classesOf(rows []Row) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Label] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// NewClassList returns the sorted distinct labels of rows.
func NewClassList(rows []Row) []string { return classesOf(rows) }
