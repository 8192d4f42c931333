package metrics

import (
	"math"
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	classes := []string{"daisy", "rose", "tulip"}
	labels := []int32{0, 0, 1, 1, 2, 2}
	probs := [][]float32{
		{0.8, 0.1, 0.1}, // daisy ok
		{0.2, 0.7, 0.1}, // daisy → rose
		{0.1, 0.8, 0.1}, // rose ok
		{0.1, 0.6, 0.3}, // rose ok
		{0.1, 0.2, 0.7}, // tulip ok
		{0.5, 0.4, 0.1}, // tulip → daisy
	}
	r, err := Evaluate(classes, labels, probs)
	if err != nil {
		t.Fatal(err)
	}
	if r.Accuracy != 4.0/6 {
		t.Errorf("accuracy %v", r.Accuracy)
	}
	want := [][]int{{1, 1, 0}, {0, 2, 0}, {1, 0, 1}}
	for i := range want {
		for j := range want[i] {
			if r.Confusion[i][j] != want[i][j] {
				t.Fatalf("confusion %v, want %v", r.Confusion, want)
			}
		}
	}
	// precision: daisy 1/2, rose 2/3, tulip 1/1; recall: daisy 1/2, rose 1, tulip 1/2.
	for c, p := range []float64{0.5, 2.0 / 3, 1} {
		if math.Abs(r.Precision[c]-p) > 1e-12 {
			t.Errorf("precision[%d] = %v, want %v", c, r.Precision[c], p)
		}
	}
	for c, p := range []float64{0.5, 1, 0.5} {
		if math.Abs(r.Recall[c]-p) > 1e-12 {
			t.Errorf("recall[%d] = %v, want %v", c, r.Recall[c], p)
		}
	}
	wantLoss := -(math.Log(0.8) + math.Log(0.2) + math.Log(0.8) + math.Log(0.6) + math.Log(0.7) + math.Log(0.1)) / 6
	if math.Abs(r.Loss-wantLoss) > 1e-6 {
		t.Errorf("loss %v, want %v", r.Loss, wantLoss)
	}
	s := r.String()
	if !strings.Contains(s, "true \\ predicted") || !strings.Contains(s, "tulip") {
		t.Errorf("report:\n%s", s)
	}
	top := TopK(classes, probs[5], 2)
	if top[0].Class != "daisy" || top[1].Class != "rose" || FormatTopK(top) != "daisy 0.500, rose 0.400" {
		t.Errorf("top-2 %v", top)
	}
	if _, err := Evaluate(classes, labels[:2], probs); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestMostConfusedAndTopLosses(t *testing.T) {
	r := &Report{Classes: []string{"a", "b", "c"}, Confusion: [][]int{{5, 2, 0}, {4, 3, 1}, {0, 2, 6}}}
	got := r.MostConfused(2)
	if len(got) != 2 || got[0] != (Confused{"b", "a", 4}) || got[1] != (Confused{"a", "b", 2}) {
		t.Fatalf("most confused: %+v", got)
	}
	if all := r.MostConfused(0); len(all) != 4 {
		t.Fatalf("all off-diagonal cells: %+v", all)
	}
	labels := []int32{0, 1, 2}
	probs := [][]float32{{0.9, 0.05, 0.05}, {0.7, 0.2, 0.1}, {0, 0.5, 0.5}}
	top := TopLosses(labels, probs, 2)
	if len(top) != 2 || top[0].Index != 1 || top[0].Predicted != 0 || math.Abs(top[0].Loss+math.Log(0.2)) > 1e-6 ||
		top[1].Index != 2 || math.Abs(top[1].Loss+math.Log(0.5)) > 1e-6 {
		t.Fatalf("top losses: %+v", top)
	}
	if z := TopLosses([]int32{0}, [][]float32{{0, 1}}, 1); math.Abs(z[0].Loss+math.Log(1e-7)) > 1e-9 {
		t.Fatalf("zero probability clipped at 1e-7: %+v", z)
	}
}
