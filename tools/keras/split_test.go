package keras

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/prepare"
)

// TestSplitVsSklearn measures a documented difference: the article's split (pandas'
// sample(frac=1, random_state=42) of its labels table, then sklearn's
// train_test_split(test_size=0.2, random_state=42)) and flowerlib's (labels.Scan with seed 42,
// prepare.Split) have the same sizes, but not the same rows: numpy's MT19937 draws are not
// reproduced. It fails if they ever become the same, so that README.md gets updated.
func TestSplitVsSklearn(t *testing.T) {
	o := runOracle(t)
	b, err := os.ReadFile(o.file("split.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seed struct{ Train, Valid []string }
	if err := json.Unmarshal(b, &seed); err != nil {
		t.Fatal(err)
	}
	sample := requireSample(t)
	table, _, err := labels.Scan(sample, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := prepare.Split(table, prepare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inSeed := map[string]bool{}
	for _, p := range seed.Valid {
		inSeed[p] = true
	}
	common := 0
	for _, r := range d.Valid {
		rel, err := filepath.Rel(sample, r.Path)
		if err != nil {
			t.Fatal(err)
		}
		if inSeed[filepath.ToSlash(rel)] {
			common++
		}
	}
	if len(d.Valid) != len(seed.Valid) || len(d.Train) != len(seed.Train) {
		t.Errorf("sizes: flowerlib %d/%d, seed (sklearn) %d/%d", len(d.Train), len(d.Valid), len(seed.Train), len(seed.Valid))
	}
	t.Logf("validation rows: flowerlib %d, sklearn %d, in both %d (%.0f%%; a random 20%% split shares about 20%%)",
		len(d.Valid), len(seed.Valid), common, 100*float64(common)/float64(len(seed.Valid)))
	if common == len(seed.Valid) {
		t.Errorf("flowerlib's validation rows are now sklearn's: update README.md's differences")
	}
}
