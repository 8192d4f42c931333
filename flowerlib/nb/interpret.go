package nb

import (
	"fmt"

	"github.com/flowerlib/flowers/flowerlib/metrics"
)

// MostConfusedTable lists the most frequent mistakes (true class, predicted class, photos),
// as fastai's interp.most_confused().
func MostConfusedTable(pairs []metrics.Confused) string {
	var rows [][]string
	for _, p := range pairs {
		rows = append(rows, []string{p.True, p.Predicted, fmt.Sprint(p.Count)})
	}
	if len(rows) == 0 {
		rows = append(rows, []string{"(no mistakes)", "", ""})
	}
	return Table([]string{"true class", "predicted as", "photos"}, rows)
}
