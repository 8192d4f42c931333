package labels

import (
	"bufio"
	"encoding/csv"
	"io"
	"os"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/pkg/errors"
)

// SaveCSV writes the table as CSV with the article's header "images,labels", one row per
// image, every field quoted (names are byte-exact, so commas, quotes, spaces and non-UTF-8
// bytes survive). The file (mode 0644) is replaced atomically: temporary file, fsync, rename.
func (t *Table) SaveCSV(path string) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if _, err := io.WriteString(w, "images,labels\n"); err != nil {
			return err
		}
		for _, r := range t.Rows {
			if _, err := io.WriteString(w, csvQuote(r.Path)+","+csvQuote(r.Label)+"\n"); err != nil {
				return err
			}
		}
		return nil
	})
}

func csvQuote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// LoadCSV reads a table written by SaveCSV (or pandas' to_csv with columns images and
// labels, in any order, extra columns ignored). Classes are the sorted labels.
func LoadCSV(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrapf(err, "reading the labels CSV %q", path)
	}
	defer f.Close()
	t, err := ReadCSV(bufio.NewReader(f))
	return t, errors.Wrapf(err, "reading the labels CSV %q", path)
}

// ReadCSV parses labels CSV data (see LoadCSV).
func ReadCSV(r io.Reader) (*Table, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, errors.Wrap(err, "no header line (want images,labels)")
	}
	ci, cl := -1, -1
	for i, h := range header {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) {
		case "images":
			ci = i
		case "labels":
			cl = i
		}
	}
	if ci < 0 || cl < 0 {
		return nil, errors.Errorf("header %q lacks the columns images and labels", strings.Join(header, ","))
	}
	t := &Table{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, errors.Wrapf(err, "line %d", line)
		}
		if len(rec) <= max(ci, cl) {
			return nil, errors.Errorf("line %d: %d fields, want at least %d", line, len(rec), max(ci, cl)+1)
		}
		if rec[ci] == "" || rec[cl] == "" {
			return nil, errors.Errorf("line %d: empty image path or label", line)
		}
		t.Rows = append(t.Rows, Row{Path: rec[ci], Label: rec[cl]})
	}
	t.Classes = classesOf(t.Rows)
	return t, nil
}
