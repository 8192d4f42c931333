package keras

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// summaryRow is one layer row of a Keras-style summary: "name (Type)", output shape, parameters.
type summaryRow struct{ Name, Type, Shape, Params string }

var (
	rowRE   = regexp.MustCompile(`^\s*(\S+) \((\w+)\)\s+(\[?\([^)]*\)\]?)\s+([\d,]+)`)
	totalRE = regexp.MustCompile(`(Total|Trainable|Non-trainable) params: ([\d,]+)`)
)

func parseRows(text string) []summaryRow {
	var rows []summaryRow
	for _, line := range strings.Split(text, "\n") {
		if m := rowRE.FindStringSubmatch(line); m != nil {
			rows = append(rows, summaryRow{m[1], m[2], m[3], strings.ReplaceAll(m[4], ",", "")})
		}
	}
	return rows
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	v, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSummary: tf-keras' model.summary() of the article's model (frozen ResNet50 + the head, Flatten
// as the seed, and the pooled variant) against `flowers summary -head KIND`: the same layers in the
// same order, with the same types, output shapes and parameter counts, and the same totals.
func TestSummary(t *testing.T) {
	o := runOracle(t)
	for _, kind := range []string{"flatten", "avg"} {
		t.Run(kind, func(t *testing.T) {
			b, err := os.ReadFile(o.file("summary_" + kind + ".txt"))
			if err != nil {
				t.Fatal(err)
			}
			keras := string(b)
			cmd := exec.Command("go", "run", "./cmd/flowers", "summary", "-head", kind)
			cmd.Dir = repoRoot()
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("flowers summary -head %s: %v\n%s", kind, err, out)
			}
			ours := string(out)
			want, got := parseRows(keras), parseRows(ours)
			if len(want) < 180 {
				t.Fatalf("parsed only %d rows of Keras' summary:\n%s", len(want), tail(keras, 2000))
			}
			if len(got) != len(want) {
				t.Errorf("flowers summary lists %d layers, Keras %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("layer %d: flowers %+v, Keras %+v", i, got[i], want[i])
				}
			}
			kt := map[string]int{}
			for _, m := range totalRE.FindAllStringSubmatch(keras, -1) {
				kt[m[1]] = atoi(t, m[2])
			}
			m := regexp.MustCompile(`summary: ResNet50 \+ \w+ head (\d+) layers, ([\d,]+) params \(([\d,]+) trainable, ([\d,]+) non-trainable\)`).FindStringSubmatch(ours)
			if m == nil {
				t.Fatalf("no totals line in flowers summary:\n%s", tail(ours, 1000))
			}
			if atoi(t, m[1]) != len(want) || atoi(t, m[2]) != kt["Total"] || atoi(t, m[3]) != kt["Trainable"] || atoi(t, m[4]) != kt["Non-trainable"] {
				t.Errorf("totals: flowers %q, Keras %v", m[0], kt)
			}
			t.Logf("%s: %d layers equal; totals %v", kind, len(want), kt)
		})
	}
}
