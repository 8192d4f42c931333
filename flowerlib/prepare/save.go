package prepare

import (
	"encoding/json"
	"os"
	"unicode/utf8"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/pkg/errors"
)

// splitFile is the JSON layout of a saved split. Strings that are not valid UTF-8 (JSON
// would replace their bytes) are stored base64 in the *_bytes fields instead.
type splitFile struct {
	Format        string     `json:"format"`
	Classes       []jsonText `json:"classes"`
	Seed          int64      `json:"seed"`
	ValidFraction float64    `json:"valid_fraction"`
	Stratified    bool       `json:"stratified"`
	Train         []jsonRow  `json:"train"`
	Valid         []jsonRow  `json:"valid"`
}

type jsonText struct {
	Text  string `json:"text,omitempty"`
	Bytes []byte `json:"bytes,omitempty"`
}

type jsonRow struct {
	Path  jsonText `json:"path"`
	Label jsonText `json:"label"`
}

const splitFormat = "flowerlib.prepare.split/v1"

func toJSONText(s string) jsonText {
	if utf8.ValidString(s) {
		return jsonText{Text: s}
	}
	return jsonText{Bytes: []byte(s)}
}

func (j jsonText) String() string {
	if j.Bytes != nil {
		return string(j.Bytes)
	}
	return j.Text
}

// Save writes the split (classes, rows, seed) as JSON (mode 0644), atomically (temporary file,
// fsync, rename), so later steps and notebook cells reuse exactly the same split.
func (d *Data) Save(path string) error {
	f := splitFile{Format: splitFormat, Seed: d.Seed, ValidFraction: d.ValidFraction, Stratified: d.Stratified}
	for _, c := range d.Classes {
		f.Classes = append(f.Classes, toJSONText(c))
	}
	rows := func(rs []labels.Row) []jsonRow {
		out := make([]jsonRow, len(rs))
		for i, r := range rs {
			out[i] = jsonRow{toJSONText(r.Path), toJSONText(r.Label)}
		}
		return out
	}
	f.Train, f.Valid = rows(d.Train), rows(d.Valid)
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return errors.Wrapf(err, "encoding the split for %q", path)
	}
	return errors.WithMessage(atomicfile.WriteFile(path, append(data, '\n'), 0o644), "saving the split")
}

// Load reads a split written by Save and checks it: known format, sorted distinct
// classes, every label among them.
func Load(path string) (*Data, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Wrapf(err, "reading the split %q", path)
	}
	var f splitFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, errors.Wrapf(err, "reading the split %q (corrupt JSON: run the split again)", path)
	}
	if f.Format != splitFormat {
		return nil, errors.Errorf("reading the split %q: format %q, want %q", path, f.Format, splitFormat)
	}
	d := &Data{Seed: f.Seed, ValidFraction: f.ValidFraction, Stratified: f.Stratified}
	for _, c := range f.Classes {
		d.Classes = append(d.Classes, c.String())
	}
	if err := CompareClasses(NewEncoder(d.Classes).Classes, d.Classes); err != nil {
		return nil, errors.Errorf("reading the split %q: classes are not sorted and distinct: %v", path, d.Classes)
	}
	rows := func(js []jsonRow) []labels.Row {
		out := make([]labels.Row, len(js))
		for i, r := range js {
			out[i] = labels.Row{Path: r.Path.String(), Label: r.Label.String()}
		}
		return out
	}
	d.Train, d.Valid = rows(f.Train), rows(f.Valid)
	if err := d.encode(); err != nil {
		return nil, errors.Wrapf(err, "reading the split %q", path)
	}
	return d, nil
}
