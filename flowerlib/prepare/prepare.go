// Package prepare is the article's "prepare data" step: LabelEncoder (sorted class
// names → integer codes), to_categorical (one-hot), and
// train_test_split(test_size=0.2, random_state=42), with the class list travelling with
// the split so that training, evaluation and prediction agree on what code 3 means.
package prepare

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/pkg/errors"
)

// Encoder maps class names to codes 0..len(Classes)-1 in sorted (byte) order, like
// sklearn's LabelEncoder.
type Encoder struct {
	Classes []string
	index   map[string]int
}

// NewEncoder returns an encoder over the distinct names of classes, sorted.
func NewEncoder(classes []string) *Encoder {
	c := slices.Clone(classes)
	sort.Strings(c)
	c = slices.Compact(c)
	e := &Encoder{Classes: c, index: make(map[string]int, len(c))}
	for i, name := range c {
		e.index[name] = i
	}
	return e
}

// Encode returns the code of a class name; an unknown name is an error listing the classes.
func (e *Encoder) Encode(label string) (int, error) {
	code, ok := e.index[label]
	if !ok {
		return -1, errors.Errorf("unknown class %s: the classes are %s", labels.Quote(label), quoteAll(e.Classes))
	}
	return code, nil
}

// EncodeAll encodes every label.
func (e *Encoder) EncodeAll(names []string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		var err error
		if out[i], err = e.Encode(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Decode returns the class name of code (panics when out of range, like indexing).
func (e *Encoder) Decode(code int) string { return e.Classes[code] }

// OneHot returns codes as one-hot rows: float32 [len(codes), len(Classes)].
func (e *Encoder) OneHot(codes []int) []float32 { return OneHot(codes, len(e.Classes)) }

// Check returns an error naming the differences when classes (e.g. of a checkpoint or a
// prediction request) is not exactly this encoder's class list (docs/BAD_INPUTS.md row 23).
func (e *Encoder) Check(classes []string) error {
	return CompareClasses(e.Classes, classes)
}

// CompareClasses returns nil when want and got are the same list in the same order, and
// otherwise an error naming the missing, extra or reordered classes.
func CompareClasses(want, got []string) error {
	if slices.Equal(want, got) {
		return nil
	}
	in := func(list []string, s string) bool { return slices.Contains(list, s) }
	var missing, extra []string
	for _, c := range want {
		if !in(got, c) {
			missing = append(missing, c)
		}
	}
	for _, c := range got {
		if !in(want, c) {
			extra = append(extra, c)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+quoteAll(missing))
	}
	if len(extra) > 0 {
		parts = append(parts, "unexpected "+quoteAll(extra))
	}
	if len(parts) == 0 {
		parts = append(parts, "same classes in a different order")
	}
	return errors.Errorf("class list differs from the one the model was trained with (%s): %s; expected %s, got %s",
		strings.Join(parts, ", "), "use the same dataset classes or retrain", quoteAll(want), quoteAll(got))
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = labels.Quote(s)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// OneHot is Keras' to_categorical: float32 [len(codes), numClasses], row i has a 1 at
// codes[i]. A code out of range panics with the offending value.
func OneHot(codes []int, numClasses int) []float32 {
	out := make([]float32, len(codes)*numClasses)
	for i, c := range codes {
		if c < 0 || c >= numClasses {
			panic(fmt.Sprintf("prepare.OneHot: code %d at %d out of range [0, %d)", c, i, numClasses))
		}
		out[i*numClasses+c] = 1
	}
	return out
}

// Options configures Split. The zero value is the article's split: 20% validation,
// seed 42, not stratified.
type Options struct {
	ValidFraction float64 // fraction of rows for validation; 0 means 0.2
	Seed          int64   // 0 means labels.DefaultSeed (42)
	// Stratify keeps each class's share the same in both parts (sklearn's
	// train_test_split(..., stratify=y)).
	Stratify bool
}

// Data is a train/validation split; Classes (sorted) defines the codes.
type Data struct {
	Classes       []string
	Train, Valid  []labels.Row
	TrainCodes    []int // codes of Train rows
	ValidCodes    []int
	Seed          int64
	ValidFraction float64
	Stratified    bool
}

// Encoder returns the encoder of d.Classes.
func (d *Data) Encoder() *Encoder { return NewEncoder(d.Classes) }

// FromFolder scans a dataset folder (labels.Scan: one sub-folder per class, with its skip
// report) and splits it (Split): the article's generate_csv and train_test_split in one step.
func FromFolder(root string, opts Options) (*Data, *labels.Report, error) {
	table, report, err := labels.Scan(root, labels.Options{})
	if err != nil {
		return nil, report, err
	}
	d, err := Split(table, opts)
	return d, report, err
}

// Paths returns the file paths of rows.
func Paths(rows []labels.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Path
	}
	return out
}

// Split divides t's rows like sklearn's train_test_split(test_size=ValidFraction,
// random_state=Seed): ceil(ValidFraction·n) rows go to validation, the rest to training,
// chosen by a seeded permutation (labels.Permutation: the same on every machine; it is
// not numpy's MT19937, so the exact rows differ from sklearn's — the sizes and the
// procedure are the same). With Stratify, each class contributes its share of the
// validation rows (largest remainders), then both parts are shuffled.
func Split(t *labels.Table, opts Options) (*Data, error) {
	frac := opts.ValidFraction
	if frac == 0 {
		frac = 0.2
	}
	if frac <= 0 || frac >= 1 || math.IsNaN(frac) {
		return nil, errors.Errorf("prepare.Split: validation fraction %g must be in (0, 1)", frac)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = labels.DefaultSeed
	}
	n := len(t.Rows)
	nValid := int(math.Ceil(frac * float64(n)))
	if n < 2 || nValid >= n {
		return nil, errors.Errorf("prepare.Split: %d images cannot be split %g/%g: need at least one image on each side", n, 1-frac, frac)
	}
	classes := t.Classes
	if len(classes) == 0 {
		classes = labels.NewClassList(t.Rows)
	}
	enc := NewEncoder(classes)
	if len(enc.Classes) < 2 {
		return nil, errors.Errorf("prepare.Split: only one class (%s): a classifier needs at least 2 classes (one sub-folder of photos per class)",
			strings.Trim(quoteAll(enc.Classes), "[]"))
	}
	d := &Data{Classes: enc.Classes, Seed: seed, ValidFraction: frac, Stratified: opts.Stratify}
	var validIdx, trainIdx []int
	if !opts.Stratify {
		perm := labels.Permutation(n, seed)
		validIdx, trainIdx = perm[:nValid], perm[nValid:]
	} else {
		byClass := make(map[string][]int)
		for i, r := range t.Rows {
			byClass[r.Label] = append(byClass[r.Label], i)
		}
		alloc, err := allocate(byClass, enc.Classes, nValid, n)
		if err != nil {
			return nil, err
		}
		for k, c := range enc.Classes {
			idx := byClass[c]
			perm := labels.Permutation(len(idx), seed+int64(k)+1)
			for j, p := range perm {
				if j < alloc[c] {
					validIdx = append(validIdx, idx[p])
				} else {
					trainIdx = append(trainIdx, idx[p])
				}
			}
		}
		validIdx = permute(validIdx, seed)
		trainIdx = permute(trainIdx, seed+1)
	}
	for _, i := range trainIdx {
		d.Train = append(d.Train, t.Rows[i])
	}
	for _, i := range validIdx {
		d.Valid = append(d.Valid, t.Rows[i])
	}
	return d, d.encode()
}

func (d *Data) encode() error {
	enc := NewEncoder(d.Classes)
	var err error
	if d.TrainCodes, err = enc.EncodeAll(labelsOf(d.Train)); err != nil {
		return err
	}
	d.ValidCodes, err = enc.EncodeAll(labelsOf(d.Valid))
	return err
}

func labelsOf(rows []labels.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Label
	}
	return out
}

func permute(idx []int, seed int64) []int {
	out := make([]int, len(idx))
	for i, p := range labels.Permutation(len(idx), seed) {
		out[i] = idx[p]
	}
	return out
}

// allocate gives each class round(share·nValid) validation rows by largest remainders,
// keeping at least one training row per class.
func allocate(byClass map[string][]int, classes []string, nValid, n int) (map[string]int, error) {
	alloc := map[string]int{}
	type rem struct {
		c string
		r float64
	}
	var rems []rem
	total := 0
	for _, c := range classes {
		m := len(byClass[c])
		if m < 2 {
			return nil, errors.Errorf("prepare.Split: stratified split needs at least 2 images per class; class %s has %d", labels.Quote(c), m)
		}
		exact := float64(nValid) * float64(m) / float64(n)
		alloc[c] = int(exact)
		total += alloc[c]
		rems = append(rems, rem{c, exact - float64(alloc[c])})
	}
	if nValid > n-len(classes) {
		return nil, errors.Errorf("prepare.Split: %d validation images leave fewer than one training image per class", nValid)
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].r > rems[j].r })
	for k := 0; total < nValid; k = (k + 1) % len(rems) {
		if alloc[rems[k].c] < len(byClass[rems[k].c])-1 {
			alloc[rems[k].c]++
			total++
		}
	}
	return alloc, nil
}

// Warnings returns one line for each class missing from one side of the split (it had only a
// photo or two): a class without validation photos cannot be measured, one without training
// photos cannot be learnt. Nil when every class is on both sides.
func (d *Data) Warnings() []string {
	train, valid := make([]int, len(d.Classes)), make([]int, len(d.Classes))
	for _, c := range d.TrainCodes {
		train[c]++
	}
	for _, c := range d.ValidCodes {
		valid[c]++
	}
	var out []string
	for i, c := range d.Classes {
		all := count(train[i]+valid[i], "photo")
		switch {
		case valid[i] == 0:
			out = append(out, fmt.Sprintf("class %s has no validation photo (%s in all): its precision and recall cannot be measured and validation accuracy leaves it out; add photos, or use a stratified split",
				labels.Quote(c), all))
		case train[i] == 0:
			out = append(out, fmt.Sprintf("class %s has no training photo (%s in all, in validation): the model cannot learn it; add photos",
				labels.Quote(c), all))
		}
	}
	return out
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Summary returns a one-line description: sizes and per-class validation counts.
func (d *Data) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "split %d train / %d validation (%.0f%%, seed %d", len(d.Train), len(d.Valid), 100*d.ValidFraction, d.Seed)
	if d.Stratified {
		b.WriteString(", stratified")
	}
	b.WriteString("); validation per class:")
	counts := make([]int, len(d.Classes))
	for _, c := range d.ValidCodes {
		counts[c]++
	}
	for i, c := range d.Classes {
		fmt.Fprintf(&b, " %s %d", labels.Quote(c), counts[i])
	}
	return b.String()
}
