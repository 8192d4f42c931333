package resnet50

import (
	"fmt"
	"strconv"
	"strings"
)

// ParamCounts returns the total and trainable number of parameters of the model described by
// opts. Keras' numbers for ResNet50 without the top: 23,587,712 total, 23,534,592 trainable
// (the 53,120 BatchNorm moving statistics never train); with the top: 25,636,712 total.
func ParamCounts(opts Options) (total, trainable int, err error) {
	layers, err := Layers(opts)
	if err != nil {
		return 0, 0, err
	}
	for i := range layers {
		t, tr := layers[i].NumParams()
		total += t
		trainable += tr
	}
	return
}

// Summary returns a Keras-like model.summary() table of ResNet50 as described by opts: one row
// per layer ("name (Type)", output shape with None for the batch, parameter count and, with
// connectedTo, the inbound layers in Keras' "name[0][0]" notation), then the totals.
func Summary(opts Options, connectedTo bool) (string, error) {
	layers, err := Layers(opts)
	if err != nil {
		return "", err
	}
	header := summaryRow{name: "Layer (type)", shape: "Output Shape", params: "Param #", inputs: []string{"Connected to"}}
	t := &summaryTable{connectedTo: connectedTo,
		w: [4]int{len(header.name), len(header.shape), len(header.params), len(header.inputs[0])}}
	rows := make([]summaryRow, len(layers))
	var total, trainable int
	for i := range layers {
		n, tr := layers[i].NumParams()
		total += n
		trainable += tr
		rows[i] = layerRow(&layers[i], n)
		t.fit(rows[i])
	}
	width := t.width()
	fmt.Fprintf(&t.sb, "Model: \"resnet50\"\n%s\n", strings.Repeat("_", width))
	t.line(header, header.inputs[0])
	t.sb.WriteString(strings.Repeat("=", width) + "\n")
	for i, r := range rows {
		t.row(r)
		if i < len(rows)-1 {
			t.sb.WriteString("\n")
		}
	}
	t.sb.WriteString(strings.Repeat("=", width) + "\n")
	fmt.Fprintf(&t.sb, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s\n",
		commas(total), commas(trainable), commas(total-trainable), strings.Repeat("_", width))
	return t.sb.String(), nil
}

// summaryRow is one layer of Summary, as Keras prints it.
type summaryRow struct {
	name, shape, params string
	inputs              []string // each quoted: "'conv1_bn[0][0]'"
}

// layerRow returns l's row of Summary; n is its number of parameters.
func layerRow(l *Layer, n int) summaryRow {
	dims := make([]string, 0, 4)
	dims = append(dims, "None")
	for _, d := range l.OutputShape {
		dims = append(dims, strconv.Itoa(d))
	}
	r := summaryRow{name: l.Name + " (" + l.Type + ")", shape: "(" + strings.Join(dims, ", ") + ")", params: strconv.Itoa(n)}
	if l.Type == "InputLayer" {
		r.shape = "[" + r.shape + "]"
	}
	for _, in := range l.Inputs {
		r.inputs = append(r.inputs, "'"+in+"[0][0]'")
	}
	return r
}

// summaryTable writes Summary's rows in columns as wide as their widest cell.
type summaryTable struct {
	sb          strings.Builder
	w           [4]int // name, shape, params, connected to
	connectedTo bool
}

// fit widens the columns to hold r.
func (t *summaryTable) fit(r summaryRow) {
	t.w[0] = max(t.w[0], len(r.name))
	t.w[1] = max(t.w[1], len(r.shape))
	t.w[2] = max(t.w[2], len(r.params))
	for _, in := range r.inputs {
		t.w[3] = max(t.w[3], len(in)+2)
	}
}

// width is the width of the table's rules.
func (t *summaryTable) width() int {
	width := t.w[0] + t.w[1] + t.w[2] + 3*3 + 1
	if t.connectedTo {
		width += t.w[3] + 3
	}
	return width
}

// line writes one line of the table: r's cells, then inputs in the last column.
func (t *summaryTable) line(r summaryRow, inputs string) {
	s := fmt.Sprintf(" %-*s   %-*s   %-*s", t.w[0], r.name, t.w[1], r.shape, t.w[2], r.params)
	if t.connectedTo {
		s += "   " + inputs
	}
	t.sb.WriteString(strings.TrimRight(s, " ") + "\n")
}

// row writes r: one line, or with connectedTo and several inputs, one line per inbound
// layer as Keras does.
func (t *summaryTable) row(r summaryRow) {
	if !t.connectedTo || len(r.inputs) <= 1 {
		t.line(r, "["+strings.Join(r.inputs, "")+"]")
		return
	}
	for j, in := range r.inputs {
		open, end := " ", ","
		if j == 0 {
			open = "["
		}
		if j == len(r.inputs)-1 {
			end = "]"
		}
		if j == 0 {
			t.line(r, open+in+end)
		} else {
			t.line(summaryRow{}, open+in+end)
		}
	}
}

// commas formats n with thousands separators, as Keras does (23,587,712).
func commas(n int) string {
	s := strconv.Itoa(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
