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
	type row struct {
		name, shape, params string
		inputs              []string
	}
	rows := make([]row, len(layers))
	header := row{name: "Layer (type)", shape: "Output Shape", params: "Param #", inputs: []string{"Connected to"}}
	w := [4]int{len(header.name), len(header.shape), len(header.params), len(header.inputs[0])}
	var total, trainable int
	for i := range layers {
		l := &layers[i]
		n, tr := l.NumParams()
		total += n
		trainable += tr
		dims := make([]string, 0, 4)
		dims = append(dims, "None")
		for _, d := range l.OutputShape {
			dims = append(dims, strconv.Itoa(d))
		}
		r := row{name: l.Name + " (" + l.Type + ")", shape: "(" + strings.Join(dims, ", ") + ")", params: strconv.Itoa(n)}
		if l.Type == "InputLayer" {
			r.shape = "[" + r.shape + "]"
		}
		for _, in := range l.Inputs {
			r.inputs = append(r.inputs, "'"+in+"[0][0]'")
		}
		rows[i] = r
		w[0] = max(w[0], len(r.name))
		w[1] = max(w[1], len(r.shape))
		w[2] = max(w[2], len(r.params))
		for _, in := range r.inputs {
			w[3] = max(w[3], len(in)+2)
		}
	}
	width := w[0] + w[1] + w[2] + 3*3 + 1
	if connectedTo {
		width += w[3] + 3
	}
	var sb strings.Builder
	line := func(r row, inputs string) {
		s := fmt.Sprintf(" %-*s   %-*s   %-*s", w[0], r.name, w[1], r.shape, w[2], r.params)
		if connectedTo {
			s += "   " + inputs
		}
		sb.WriteString(strings.TrimRight(s, " ") + "\n")
	}
	fmt.Fprintf(&sb, "Model: \"resnet50\"\n%s\n", strings.Repeat("_", width))
	line(header, header.inputs[0])
	sb.WriteString(strings.Repeat("=", width) + "\n")
	for i, r := range rows {
		switch {
		case !connectedTo || len(r.inputs) <= 1:
			line(r, "["+strings.Join(r.inputs, "")+"]")
		default: // Keras lists each inbound layer on its own line
			for j, in := range r.inputs {
				open, end := " ", ","
				if j == 0 {
					open = "["
				}
				if j == len(r.inputs)-1 {
					end = "]"
				}
				if j == 0 {
					line(r, open+in+end)
				} else {
					line(row{}, open+in+end)
				}
			}
		}
		if i < len(rows)-1 {
			sb.WriteString("\n")
		}
	}
	sb.WriteString(strings.Repeat("=", width) + "\n")
	fmt.Fprintf(&sb, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s\n",
		commas(total), commas(trainable), commas(total-trainable), strings.Repeat("_", width))
	return sb.String(), nil
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
