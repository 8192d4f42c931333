package export_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/export"
	"github.com/flowerlib/flowers/flowerlib/export/exporttest"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

// TestValidate: a complete model passes; each way of being incomplete or unknown is refused
// with the layer named.
func TestValidate(t *testing.T) {
	good := exporttest.Model(1, 32, resnet50.PoolingAvg, 8)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(m *export.Model)
		want   string
	}{
		{"unknown layer", func(m *export.Model) { m.Head[1].Type = "Conv1D" },
			`export: head layer "dense" (Conv1D): unknown layer type: the exporters know Flatten, Dense, BatchNormalization, Dropout and Activation`},
		{"unknown activation", func(m *export.Model) { m.Head[1].Activation = "gelu" }, `head layer "dense" (Dense): unknown activation "gelu"`},
		{"kernel shape", func(m *export.Model) { m.Head[1].Weights[0].Dims = []int{2048, 9} }, `head layer "dense" (Dense): weight "kernel" is [2048 9]`},
		{"missing weight", func(m *export.Model) { m.Head[0].Weights = m.Head[0].Weights[:3] }, `head layer "batch_normalization" (BatchNormalization): has 3 weights, want 4`},
		{"base weight", func(m *export.Model) { delete(m.Base, "conv3_block2_2_bn/gamma") }, "the base has no weight conv3_block2_2_bn/gamma"},
		{"no softmax", func(m *export.Model) { m.Head[len(m.Head)-1].Activation = export.Linear }, "the head must end with a softmax over the 3 classes"},
		{"classes", func(m *export.Model) { m.Classes = m.Classes[:2] }, "the head must end with a softmax over the 2 classes"},
		{"dense on a map", func(m *export.Model) { m.Pooling = resnet50.PoolingNone }, `head layer "batch_normalization" (BatchNormalization): weight "gamma" is [2048], want [2048]`},
	}
	for _, c := range cases {
		m := clone(good)
		c.change(m)
		err := m.Validate()
		if c.name == "dense on a map" { // BN over the map's channels still fits: the Dense after it is refused
			if err == nil || !strings.Contains(err.Error(), `head layer "dense" (Dense): needs a flat input, got [1 1 2048] (put a Flatten before it)`) {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// clone copies m's description; the tensors' values are shared.
func clone(m *export.Model) *export.Model {
	c := *m
	c.Classes = slices.Clone(m.Classes)
	c.Base = map[string]export.Tensor{}
	for k, v := range m.Base {
		c.Base[k] = v
	}
	c.Head = slices.Clone(m.Head)
	for i := range c.Head {
		c.Head[i].Weights = slices.Clone(c.Head[i].Weights)
	}
	return &c
}

// TestExecutablePayload appends a model to an executable and reads it back; exporting again
// from that output replaces the model instead of stacking a second one; a plain file has none
// and a damaged trailer is an error.
func TestExecutablePayload(t *testing.T) {
	dir := t.TempDir()
	runner := filepath.Join(dir, "runner")
	body := []byte("#!/bin/sh\necho a runner that is not really one\n")
	os.WriteFile(runner, body, 0o755)
	if m, err := export.ReadExecutable(runner); m != nil || err != nil {
		t.Fatalf("plain file: %v, %v; want no model", m, err)
	}
	m := exporttest.Model(2, 32, resnet50.PoolingNone, 8)
	out := filepath.Join(dir, "model")
	if err := export.WriteExecutable(runner, out, m); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(out)
	if st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", st.Mode())
	}
	got, err := export.ReadExecutable(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Classes, m.Classes) || got.ImageSize != 32 || got.Pooling != resnet50.PoolingNone || len(got.Head) != len(m.Head) {
		t.Fatalf("read back %v %d %v %d layers", got.Classes, got.ImageSize, got.Pooling, len(got.Head))
	}
	for name, w := range m.Base {
		if !slices.Equal(got.Base[name].Data, w.Data) {
			t.Fatalf("base weight %s differs", name)
		}
	}
	for i, l := range m.Head {
		for j, w := range l.Weights {
			if !slices.Equal(got.Head[i].Weights[j].Data, w.Data) || !slices.Equal(got.Head[i].Weights[j].Dims, w.Dims) {
				t.Fatalf("head %s/%s differs", l.Name, w.Name)
			}
		}
	}
	again := filepath.Join(dir, "again")
	if err := export.WriteExecutable(out, again, m); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(again); st2.Size() != st.Size() {
		t.Errorf("re-exported from an exported file: %d bytes, want %d (the old model left out)", st2.Size(), st.Size())
	}
	b, _ := os.ReadFile(out)
	b[len(b)-20]++ // the container size in the trailer
	os.WriteFile(out, b, 0o755)
	if _, err := export.ReadExecutable(out); err == nil || !strings.Contains(err.Error(), "the model appended to it is damaged") {
		t.Errorf("damaged trailer: %v", err)
	}
}
