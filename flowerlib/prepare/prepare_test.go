package prepare

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/internal/testdata"
)

func table(counts map[string]int) *labels.Table {
	t := &labels.Table{}
	for c, n := range counts {
		for i := range n {
			t.Rows = append(t.Rows, labels.Row{Path: fmt.Sprintf("%s/%03d.jpg", c, i), Label: c})
		}
	}
	labels.Shuffle(t.Rows, 42)
	t.Classes = labels.NewClassList(t.Rows)
	return t
}

func TestEncoder(t *testing.T) {
	e := NewEncoder([]string{"tulips", "daisy", "roses", "daisy"})
	if !slices.Equal(e.Classes, []string{"daisy", "roses", "tulips"}) {
		t.Fatalf("classes %q", e.Classes)
	}
	codes, err := e.EncodeAll([]string{"roses", "tulips", "daisy"})
	if err != nil || !slices.Equal(codes, []int{1, 2, 0}) {
		t.Errorf("codes %v %v", codes, err)
	}
	if _, err := e.Encode("lily"); err == nil || err.Error() != "unknown class lily: the classes are [daisy roses tulips]" {
		t.Errorf("unknown class: %v", err)
	}
	if got := e.OneHot([]int{1, 2}); !slices.Equal(got, []float32{0, 1, 0, 0, 0, 1}) {
		t.Errorf("one-hot %v", got)
	}
	if e.Decode(2) != "tulips" {
		t.Errorf("decode")
	}
	// docs/BAD_INPUTS.md row 23: a different class list is an error naming the differences.
	cases := map[string][]string{
		"missing [tulips], unexpected [lily]": {"daisy", "lily", "roses"},
		"same classes in a different order":   {"roses", "daisy", "tulips"},
		"missing [roses]":                     {"daisy", "tulips"},
	}
	for want, got := range cases {
		if err := e.Check(got); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q): %v, want %q", got, err, want)
		}
	}
	if err := e.Check([]string{"daisy", "roses", "tulips"}); err != nil {
		t.Errorf("same classes: %v", err)
	}
}

func checkPartition(t *testing.T, tab *labels.Table, d *Data) {
	t.Helper()
	var all []string
	for _, r := range append(slices.Clone(d.Train), d.Valid...) {
		all = append(all, r.Path)
	}
	var want []string
	for _, r := range tab.Rows {
		want = append(want, r.Path)
	}
	sort.Strings(all)
	sort.Strings(want)
	if !slices.Equal(all, want) {
		t.Fatalf("train+valid is not a partition of the table")
	}
	for i, r := range d.Train {
		if d.Classes[d.TrainCodes[i]] != r.Label {
			t.Fatalf("train code %d does not match label %s", d.TrainCodes[i], r.Label)
		}
	}
	for i, r := range d.Valid {
		if d.Classes[d.ValidCodes[i]] != r.Label {
			t.Fatalf("valid code %d does not match label %s", d.ValidCodes[i], r.Label)
		}
	}
}

func TestSplitSizes(t *testing.T) {
	// sklearn: n_test = ceil(test_size * n).
	for n, wantValid := range map[int]int{3670: 734, 200: 40, 7: 2, 2: 1} {
		tab := table(map[string]int{"a": n - n/2, "b": n / 2})
		d, err := Split(tab, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Valid) != wantValid || len(d.Train) != n-wantValid {
			t.Errorf("n=%d: %d/%d, want %d/%d", n, len(d.Train), len(d.Valid), n-wantValid, wantValid)
		}
		checkPartition(t, tab, d)
		again, _ := Split(tab, Options{Seed: 42})
		if !slices.Equal(again.Valid, d.Valid) || !slices.Equal(again.Train, d.Train) {
			t.Errorf("n=%d: same seed, different split", n)
		}
		if n > 100 {
			other, _ := Split(tab, Options{Seed: 1})
			if slices.Equal(other.Valid, d.Valid) {
				t.Errorf("n=%d: seed 1 gave the same split as 42", n)
			}
		}
	}
	for _, bad := range []Options{{ValidFraction: 1}, {ValidFraction: -0.1}, {ValidFraction: 1.5}} {
		if _, err := Split(table(map[string]int{"a": 5, "b": 5}), bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := Split(table(map[string]int{"a": 1}), Options{}); err == nil {
		t.Errorf("one image accepted")
	}
}

func TestSplitStratified(t *testing.T) {
	tab := table(map[string]int{"a": 10, "b": 30, "c": 61})
	d, err := Split(tab, Options{Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, tab, d)
	counts := map[string]int{}
	for _, r := range d.Valid {
		counts[r.Label]++
	}
	// 21 validation rows: exact shares 2.08, 6.24, 12.68 → 2, 6, 13 (largest remainder).
	if len(d.Valid) != 21 || counts["a"] != 2 || counts["b"] != 6 || counts["c"] != 13 {
		t.Errorf("stratified valid counts %v (total %d)", counts, len(d.Valid))
	}
	if !strings.Contains(d.Summary(), "validation per class: a 2 b 6 c 13") {
		t.Errorf("summary %q", d.Summary())
	}
	// Validation rows are shuffled, not grouped by class.
	if d.Valid[0].Label == d.Valid[1].Label && d.Valid[1].Label == d.Valid[2].Label && d.Valid[2].Label == d.Valid[3].Label {
		t.Errorf("stratified validation rows look grouped by class: %v", d.Valid[:4])
	}
	if _, err := Split(table(map[string]int{"a": 1, "b": 30}), Options{Stratify: true}); err == nil || !strings.Contains(err.Error(), "class a has 1") {
		t.Errorf("1-image class: %v", err)
	}
}

func TestSplitSample(t *testing.T) {
	dir := testdata.RequireSample(t)
	tab, _, err := labels.Scan(dir, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Split(tab, Options{Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Train) != 160 || len(d.Valid) != 40 || !strings.HasSuffix(d.Summary(), "daisy 8 dandelion 8 roses 8 sunflowers 8 tulips 8") {
		t.Errorf("sample split: %s", d.Summary())
	}
	t.Log(d.Summary())
}

func TestSaveLoad(t *testing.T) {
	tab := table(map[string]int{"a": 5, "b\xff odd": 5})
	tab.Rows[0].Path = "dir/bad\xffname \"x\".jpg"
	d, err := Split(tab, Options{Stratify: true, ValidFraction: 0.3, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "split.json")
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Train, d.Train) || !slices.Equal(back.Valid, d.Valid) || !slices.Equal(back.Classes, d.Classes) ||
		!slices.Equal(back.TrainCodes, d.TrainCodes) || back.Seed != 9 || back.ValidFraction != 0.3 || !back.Stratified {
		t.Errorf("round trip changed the split")
	}
	if err := os.WriteFile(path, []byte(`{"format": "flowerlib.prepare.split/v1", "classes": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "corrupt JSON") {
		t.Errorf("corrupt split: %v", err)
	}
	bad := `{"format": "flowerlib.prepare.split/v1", "classes": [{"text":"a"}], "train": [{"path":{"text":"x.jpg"},"label":{"text":"z"}}]}`
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "unknown class z") {
		t.Errorf("label outside classes: %v", err)
	}
}

// TestOneClassRefused (BAD_INPUTS 30): a dataset with one class is refused by the split, before
// any feature is extracted, naming the class and what to do.
func TestOneClassRefused(t *testing.T) {
	_, err := Split(table(map[string]int{"daisy": 10}), Options{})
	want := `prepare.Split: only one class (daisy): a classifier needs at least 2 classes (one sub-folder of photos per class)`
	if err == nil || err.Error() != want {
		t.Errorf("one class: %v, want %q", err, want)
	}
}

// TestSplitWarnings (BAD_INPUTS 30): a class with 1–2 photos ends up missing from validation
// (or from training): the split says so, naming the class, for whichever side lacks it.
func TestSplitWarnings(t *testing.T) {
	seen := map[string]bool{}
	for seed := int64(1); seed <= 20; seed++ {
		d, err := Split(table(map[string]int{"daisy": 20, "roses": 20, "tulips": 1}), Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		side := "validation"
		if slices.ContainsFunc(d.Valid, func(r labels.Row) bool { return r.Label == "tulips" }) {
			side = "training"
		}
		want := "class tulips has no " + side + " photo (1 photo in all"
		if w := d.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], want) {
			t.Errorf("seed %d: warnings %q, want %q…", seed, w, want)
		}
		seen[side] = true
	}
	if !seen["training"] || !seen["validation"] {
		t.Errorf("20 seeds put the lone photo only in %v", seen)
	}
	if d, _ := Split(table(map[string]int{"daisy": 20, "roses": 20}), Options{}); len(d.Warnings()) != 0 {
		t.Errorf("warnings for a fine split: %q", d.Warnings())
	}
}
